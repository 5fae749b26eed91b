"""Shared fixtures: a private QSettings store per test, no thread left running."""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")


@pytest.fixture
def qsettings(tmp_path):
    """An INI-backed QSettings in tmp_path, so tests never touch the person's settings."""
    from PySide6.QtCore import QSettings

    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    yield s
    s.sync()


@pytest.fixture
def app_paths(tmp_path, monkeypatch):
    """Point QStandardPaths (autosave, logs) into tmp_path."""
    from PySide6.QtCore import QStandardPaths

    QStandardPaths.setTestModeEnabled(True)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    yield tmp_path
    QStandardPaths.setTestModeEnabled(False)


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(size, read_only=False)`` mounts a fresh tmpfs under tmp_path and returns its folder
    (a small or read-only disk for the run-folder tests); skipped where mounting is not allowed."""
    import shutil
    import subprocess

    mounted = []

    def mount(size: str = "320k", read_only: bool = False):
        if os.geteuid() != 0 or not shutil.which("mount"):
            pytest.skip("mounting a tmpfs needs root")
        mnt = tmp_path / f"tmpfs{len(mounted)}"
        mnt.mkdir()
        opts = f"size={size}" + (",ro" if read_only else "")
        if subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(mnt)], capture_output=True).returncode:
            pytest.skip("cannot mount a tmpfs here")
        mounted.append(mnt)
        return mnt

    yield mount
    for mnt in mounted:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)

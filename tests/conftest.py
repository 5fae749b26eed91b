"""Shared fixtures: a private QSettings store per test, no thread left running."""

import gc
import os
import sys

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


@pytest.fixture(autouse=True)
def _dangling_qthreads(monkeypatch, request):
    """Fail any test that leaves a QThread running (napari's fixture of the same name): every
    QThread started during the test must have finished when the test and its fixtures end."""
    import weakref

    if "PySide6.QtCore" not in sys.modules and "qtbot" not in request.fixturenames:
        yield                                      # a test that never touches Qt
        return
    from PySide6.QtCore import QThread

    started = weakref.WeakKeyDictionary()
    base_start = QThread.start

    def start_and_remember(self, *args, **kwargs):
        started[self] = request.node.nodeid
        return base_start(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", start_and_remember)
    yield
    running = []
    for thread in list(started.keys()):
        try:
            if thread.isRunning():
                running.append(thread)
        except RuntimeError:                       # its C++ object is gone: it is not running
            pass
    if running:
        for thread in running:
            thread.wait(5000)                      # do not take the next test down with it
        pytest.fail(f"{len(running)} QThread(s) still running at the end of the test")


@pytest.fixture(autouse=True)
def _collect_on_main_thread(request):
    """As the app does (:mod:`explorer.gui.main_gc`): while a Qt test runs, Python's cyclic
    collector never runs in a worker thread (it would destroy Qt objects there and can deadlock
    with the GUI thread); what the test left is collected here, on the main thread."""
    if "PySide6.QtCore" not in sys.modules and "qtbot" not in request.fixturenames:
        yield
        return
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()                              # what a window froze (main_gc.settle_now) is
        gc.collect()                               # this test's, and freed with it
        if was:
            gc.enable()


@pytest.fixture(autouse=True)
def _no_modal_dialogs(monkeypatch, request):
    """A modal message box or file dialog that a test did not answer fails the test instead of
    waiting for a person forever (a test that expects one patches it with its own answer)."""
    import sys

    if "PySide6.QtWidgets" not in sys.modules and "qtbot" not in request.fixturenames:
        yield
        return
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    def refuse(kind):
        def modal(*args, **kwargs):
            text = " ".join(str(a) for a in args[1:3] if isinstance(a, str))
            raise RuntimeError(f"an unanswered modal {kind} opened in a test: {text[:300]}")
        return modal

    for name in ("question", "warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, name, refuse(f"QMessageBox.{name}"))
    for name in ("getOpenFileName", "getSaveFileName", "getExistingDirectory"):
        monkeypatch.setattr(QFileDialog, name, refuse(f"QFileDialog.{name}"))
    yield


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

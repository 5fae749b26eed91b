"""The standalone app: build it with packaging/build.sh, start it offscreen until it has painted.
The build venv installs the project with a plain `pip install .`, which is checked too."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "packaging" / "dist" / "lstm-explorer"


@pytest.fixture(scope="module")
def built():
    if os.environ.get("LSTM_EXPLORER_SKIP_BUILD") == "1":
        pytest.skip("LSTM_EXPLORER_SKIP_BUILD=1")
    res = subprocess.run(["bash", str(ROOT / "packaging" / "build.sh")], capture_output=True, text=True,
                         timeout=1800)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return DIST / "lstm-explorer"


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["HOME"] = str(ROOT / "packaging" / "build" / "home")
    return env


@pytest.mark.slow
def test_frozen_app_starts_paints_and_quits(built):
    assert built.is_file() and os.access(built, os.X_OK)
    res = subprocess.run([str(built), "--quit-after-paint"], capture_output=True, text=True, timeout=120,
                         env=_env())
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_frozen_app_finds_its_resources(built, tmp_path):
    res = subprocess.run([str(built), "train", "--example", "text", "--epochs", "1", "--units", "4",
                          "--out", str(tmp_path / "run"), "--no-plots", "--quiet"],
                         capture_output=True, text=True, timeout=300, env=_env())
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "run" / "model.npz").is_file()


@pytest.mark.slow
def test_pip_install_dot_gives_a_working_command(built, tmp_path):
    exe = ROOT / "packaging" / ".build-venv" / "bin" / "lstm-explorer"
    res = subprocess.run([str(exe), "train", "--example", "text", "--epochs", "1", "--units", "4",
                          "--out", str(tmp_path / "run"), "--quiet"], capture_output=True, text=True,
                         timeout=300, env=_env())
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "run" / "loss.svg").is_file()
    # the installed package is not the source tree: resources came with the wheel
    probe = subprocess.run([str(exe.parent / "python"), "-c",
                            "import explorer.util.assets as a; print(a.resource_path('examples', 'text.txt'))"],
                           capture_output=True, text=True, env=_env(), cwd=str(tmp_path))
    assert "site-packages" in probe.stdout and Path(probe.stdout.strip()).is_file()


@pytest.mark.slow
def test_frozen_app_fine_tunes_a_safetensors_model(built, tmp_path):
    from explorer.engine import make_model
    from explorer.interop import save_model

    save_model(make_model("gru", 1, 3, 1, seed=1), tmp_path / "w.safetensors")
    res = subprocess.run([str(built), "train", "--example", "sine", "--init", str(tmp_path / "w.safetensors"),
                          "--epochs", "1", "--out", str(tmp_path / "run"), "--no-plots"],
                         capture_output=True, text=True, timeout=300, env=_env())
    assert res.returncode == 0, res.stderr
    assert "w.safetensors: a GRU of 3 units over 1 input" in res.stderr

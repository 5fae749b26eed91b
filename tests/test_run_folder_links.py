"""A run folder's links and files that are not what they claim: a FIFO, a device or a folder in place
of a file is refused at once (never read: a FIFO would wait forever), and .current or a version that
leads out of the folder (another run's version) is refused, never followed."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from explorer.data.examples import load_example
from explorer.runs.folder import CURRENT, VERSIONS, current_version
from explorer.runs.store import ModelSettings, Run, RunFileError

ROOT = Path(__file__).resolve().parents[1]


def saved(folder: Path, steps: int = 3) -> Path:
    run = Run(load_example("sine"), ModelSettings(units=2, epochs=1, batch=64))
    list(run.trainer.steps(max_steps=steps))
    run.save(folder)
    return folder


def load_within(folder, seconds: float = 10.0):
    """Run.load in a thread: a hang fails the test instead of blocking the suite."""
    out: dict = {}

    def go():
        try:
            out["run"] = Run.load(folder)
        except Exception as exc:  # noqa: BLE001 - the test reads it
            out["error"] = exc

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"Run.load({folder}) still reading after {seconds} s"
    return out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("name", ["history.csv", "model.npz", "state.json"])
def test_a_fifo_in_place_of_a_run_file_is_refused_at_once(tmp_path, name):
    folder = saved(tmp_path / "run")
    version = folder / VERSIONS / current_version(folder)
    (version / name).unlink()
    os.mkfifo(version / name)
    out = load_within(folder)
    assert isinstance(out.get("error"), RunFileError)
    assert str(out["error"]) == (f"{folder / name} is not a regular file (a pipe, device or socket); the run "
                                 "folder is damaged (restore it from a copy or train again).")
    p = subprocess.run([sys.executable, "-m", "explorer.cli", "train", "--resume", str(folder), "--epochs", "2"],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 2 and "is not a regular file" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_current_pointing_at_another_runs_version_is_refused(tmp_path, how):
    a, b = saved(tmp_path / "A", steps=3), saved(tmp_path / "B", steps=5)
    b_version = b / VERSIONS / current_version(b)
    own = a / VERSIONS / current_version(a)
    target = str(b_version) if how == "absolute" else os.path.relpath(b_version, a)
    (a / CURRENT).unlink()
    os.symlink(target, a / CURRENT)
    out = load_within(a)
    assert isinstance(out.get("error"), RunFileError)
    msg = str(out["error"])
    assert msg.startswith(f"{a / CURRENT} points at ") and "the run folder is damaged" in msg
    assert "not at a version of this folder" in msg or "not at one of the folder's own versions" in msg
    p = subprocess.run([sys.executable, "-m", "explorer.cli", "train", "--resume", str(a), "--epochs", "2"],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 2 and f"{a / CURRENT} points at " in p.stderr and "damaged" in p.stderr
    assert own.is_dir() and Run.load(b).trainer.step == 5          # A's own version and run B untouched


def test_a_version_that_is_a_link_to_another_runs_version_is_refused(tmp_path):
    a, b = saved(tmp_path / "A", steps=3), saved(tmp_path / "B", steps=5)
    vid = current_version(a)
    own = a / VERSIONS / vid
    own.rename(a / VERSIONS / "kept-aside")
    os.symlink(b / VERSIONS / current_version(b), own)
    out = load_within(a)
    assert isinstance(out.get("error"), RunFileError)
    msg = str(out["error"])                       # Run.load's own check or the reader's: either names it
    assert msg.startswith((f"{own} is a link, not one of the folder's own versions", f"{a / CURRENT} points at "))
    assert "the run folder is damaged" in msg
    assert Run.load(b).trainer.step == 5


def test_a_failed_save_says_whether_a_run_was_there_before(tmp_path, monkeypatch):
    import errno

    import explorer.runs.folder as runfolder

    real = runfolder.write_file

    def full_disk(path, data):
        if Path(path).name == "history.csv":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    run = Run(load_example("sine"), ModelSettings(units=2, epochs=1, batch=64))
    monkeypatch.setattr("explorer.runs.store.write_file", full_disk)
    with pytest.raises(RunFileError) as first:
        run.save(tmp_path / "new")                       # the first save: there was never a run
    assert str(first.value) == (f"Could not write {tmp_path / 'new' / 'history.csv'}: No space left on device; "
                                f"no run was saved in {tmp_path / 'new'} (free some space or choose another folder).")
    monkeypatch.setattr("explorer.runs.store.write_file", real)
    run.save(tmp_path / "old")
    monkeypatch.setattr("explorer.runs.store.write_file", full_disk)
    with pytest.raises(RunFileError) as later:
        run.save(tmp_path / "old")                       # a later save: the saved run stays as it was
    assert str(later.value).endswith(f"; the run in {tmp_path / 'old'} is unchanged (free some space or choose "
                                     "another folder).")

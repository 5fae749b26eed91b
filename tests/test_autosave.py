"""Autosave: one subfolder per app instance (a run folder saved by versions and one atomic switch);
an instance never touches another's; a failed autosave leaves no partial folder; a kill at any
moment leaves the last complete autosave; two processes autosave side by side."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import explorer.runs.folder as runfolder
from explorer.data.examples import load_example
from explorer.runs.store import (ModelSettings, Run, RunFileError, instance_id, latest_autosave, prune_autosaves,
                           write_autosave)

ROOT = Path(__file__).resolve().parents[1]


def small_run():
    return Run(load_example("sine"), ModelSettings(units=3, epochs=2, batch=32))


def test_each_instance_writes_only_its_own_subfolder(tmp_path):
    run = small_run()
    list(run.trainer.steps(max_steps=5))
    first = write_autosave(run, tmp_path)
    assert first == tmp_path / instance_id() and first.name.startswith(f"{os.getpid()}-")
    assert latest_autosave(tmp_path) == first and Run.load(first).trainer.step == 5
    # another instance's autosave (written earlier, by another process) is never removed
    other = tmp_path / "99999-deadbeef"
    run.save(other)
    list(run.trainer.steps(max_steps=5))
    again = write_autosave(run, tmp_path)
    assert again == first and Run.load(again).trainer.step == 10
    assert Run.load(other).trainer.step == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, other.name])
    assert len(list((first / ".versions").iterdir())) == 1          # old versions collected


def _dead_pid() -> int:
    """A process id that ran and has ended."""
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(p.stdout)


def test_prune_keeps_the_offered_and_the_running_instances_only(tmp_path):
    run = small_run()
    list(run.trainer.steps(max_steps=3))
    dead = _dead_pid()
    ended = [tmp_path / f"{dead}-{k:08x}" for k in (1, 2, 3)]         # three sessions that ended
    for f in ended:
        run.save(f)
    mine = write_autosave(run, tmp_path)                              # this (running) instance's own
    (tmp_path / "notes").mkdir()                                       # not an instance folder: left alone
    (tmp_path / "LATEST").write_text("x")
    removed = prune_autosaves(tmp_path, keep=ended[1])
    assert sorted(removed) == sorted([ended[0], ended[2]])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["LATEST", "notes", ended[1].name, mine.name])
    assert Run.load(ended[1]).trainer.step == 3                        # the offered run is whole
    assert prune_autosaves(tmp_path, keep=None) == [ended[1]]          # discarded: it goes too
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["LATEST", "notes", mine.name])
    assert prune_autosaves(tmp_path / "missing") == [] and prune_autosaves(None) == []


def test_latest_is_the_newest_complete_run_among_instances(tmp_path):
    run = small_run()
    list(run.trainer.steps(max_steps=3))
    run.save(tmp_path / "111-aaaa")
    list(run.trainer.steps(max_steps=4))
    newest = write_autosave(run, tmp_path)
    (tmp_path / "222-bbbb" / ".versions").mkdir(parents=True)     # an instance that never finished a save
    (tmp_path / "stray-file").write_text("x")
    assert latest_autosave(tmp_path) == newest
    assert Run.load(latest_autosave(tmp_path)).trainer.step == 7
    assert latest_autosave(tmp_path / "missing") is None and latest_autosave(None) is None


def test_failed_first_autosave_leaves_no_folder(tmp_path, monkeypatch):
    run = small_run()
    real = runfolder.write_file

    def full_disk(path, data):
        if Path(path).name == "history.csv":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr("explorer.runs.store.write_file", full_disk)
    root = tmp_path / "autosave"
    with pytest.raises(RunFileError, match="No space left on device") as info:
        write_autosave(run, root)
    assert "\n" not in str(info.value) and str(info.value).count(". ") == 0
    assert not root.exists()                 # nothing partial: not even the autosave folder
    # with an earlier autosave the failure keeps it whole and leaves no partial version
    monkeypatch.setattr("explorer.runs.store.write_file", real)
    list(run.trainer.steps(max_steps=5))
    folder = write_autosave(run, root)
    list(run.trainer.steps(max_steps=5))
    monkeypatch.setattr("explorer.runs.store.write_file", full_disk)
    with pytest.raises(RunFileError):
        write_autosave(run, root)
    assert Run.load(latest_autosave(root)).trainer.step == 5
    assert len(list((folder / ".versions").iterdir())) == 1


KILLER = r"""
import sys
from explorer.runs.store import ModelSettings, Run, write_autosave
from explorer.data.examples import load_example
run = Run(load_example("sine"), ModelSettings(units=8, epochs=10000, batch=8))
root = sys.argv[1]
print("ready", flush=True)
for snap in run.trainer.steps():
    write_autosave(run, root)
"""


def test_sigkill_mid_autosave_leaves_a_complete_run(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for delay in (0.3, 0.55, 0.8):
        root = tmp_path / f"kill{delay}"
        proc = subprocess.Popen([sys.executable, "-c", KILLER, str(root)], env=env, stdout=subprocess.PIPE)
        proc.stdout.readline()
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        folder = latest_autosave(root)
        assert folder is not None
        run = Run.load(folder)                     # every file complete and consistent
        assert run.trainer.step == len(run.trainer.log.loss) > 0


TWO = r"""
import json, sys, time
from explorer.runs.store import ModelSettings, Run, RunFileError, write_autosave
from explorer.data.examples import load_example
root, seconds, units = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
run = Run(load_example("sine"), ModelSettings(units=units, epochs=10000, batch=16))
saves = failures = 0
end = time.monotonic() + seconds
for snap in run.trainer.steps():
    try:
        folder = write_autosave(run, root)
        saves += 1
    except RunFileError as exc:
        failures += 1
    if time.monotonic() > end:
        break
print(json.dumps({"folder": str(folder), "saves": saves, "failures": failures, "step": run.trainer.step}))
"""


def test_two_instances_autosave_side_by_side(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    root = tmp_path / "autosave"
    procs = [subprocess.Popen([sys.executable, "-c", TWO, str(root), "2.5", str(units)], env=env,
                              stdout=subprocess.PIPE, text=True) for units in (3, 4)]
    loads = 0
    while any(p.poll() is None for p in procs):
        folder = latest_autosave(root)             # the window's view while both are writing
        if folder is not None:
            run = Run.load(folder)
            assert run.trainer.step == len(run.trainer.log.loss)
            loads += 1
    results = [json.loads(p.communicate()[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert [r["failures"] for r in results] == [0, 0] and min(r["saves"] for r in results) > 10
    folders = sorted(Path(r["folder"]) for r in results)
    assert sorted(root.iterdir()) == folders and folders[0] != folders[1]
    for r in results:                              # each instance's last save is whole and its own
        run = Run.load(r["folder"])
        assert run.trainer.step == r["step"] and run.settings.units in (3, 4)
    assert loads > 0

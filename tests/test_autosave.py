"""Autosave: a new complete folder, then an atomic pointer; a kill at any moment leaves the last
complete autosave, never a torn one."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from explorer.runs import ModelSettings, Run, latest_autosave, write_autosave
from explorer.data.examples import load_example as example_dataset

ROOT = Path(__file__).resolve().parents[1]


def test_pointer_moves_only_after_a_complete_folder(tmp_path, monkeypatch):
    run = Run(example_dataset("sine"), ModelSettings(units=3, epochs=2, batch=32))
    list(run.trainer.steps(max_steps=5))
    first = write_autosave(run, tmp_path)
    assert latest_autosave(tmp_path) == first
    list(run.trainer.steps(max_steps=5))
    # a save that dies half-way (here: the history file cannot be written) keeps the old pointer
    import explorer.runs as runs
    real = runs.atomic_write_text

    def failing(path, text):
        if Path(path).name == "history.csv":
            raise runs.RunFileError("disk full")
        return real(path, text)

    monkeypatch.setattr(runs, "atomic_write_text", failing)
    try:
        write_autosave(run, tmp_path)
    except runs.RunFileError:
        pass
    assert latest_autosave(tmp_path) == first
    assert Run.load(first).trainer.step == 5
    monkeypatch.setattr(runs, "atomic_write_text", real)
    second = write_autosave(run, tmp_path)
    assert latest_autosave(tmp_path) == second and not first.exists()


KILLER = r"""
import sys
from explorer.runs import ModelSettings, Run, write_autosave
from explorer.data.examples import load_example as example_dataset
run = Run(example_dataset("sine"), ModelSettings(units=8, epochs=10000, batch=8))
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

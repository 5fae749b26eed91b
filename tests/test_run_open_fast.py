"""A format-3 run's per-step history (steps.csv, gate_norms.csv) opens column by column when its
files are as format 3's save wrote them (no row dictionaries), with exactly the numbers the
row-by-row reader gives; anything else goes to that reader, which names what is wrong in the same
sentence as before."""

from pathlib import Path

import pytest

import explorer.runs.store as store
from explorer.data.examples import load_example
from explorer.runs.folder import RunFileError
from explorer.runs.store import ModelSettings, Run
from run_edits import as_format3


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    run = Run(load_example("sine", n_points=400), ModelSettings(units=3, epochs=2, batch=8, seed=1))
    for _ in run.trainer.steps(max_steps=run.trainer.steps_per_epoch + 5):   # an epoch and 5 steps
        pass
    folder = tmp_path_factory.mktemp("r") / "run"
    run.save(folder)
    as_format3(folder)
    raw = {name: (folder / name).read_bytes() for name in ("steps.csv", "gate_norms.csv")}
    state = {"step": run.trainer.step, "epoch": run.trainer.epoch, "epoch_step": run.trainer.epoch_step}
    return run, folder, raw, state


def both(run, raw, state, monkeypatch):
    fast = store._fast_steps(store._Reader(Path("run"), raw), run, state)
    with monkeypatch.context() as m:
        m.setattr(store, "_fast_steps", lambda *a: None)
        slow = store._load_steps(store._Reader(Path("run"), raw), run, state)
    return fast, slow


def test_a_saved_run_opens_column_by_column_with_the_same_numbers(saved, monkeypatch):
    run, folder, raw, state = saved
    assert state["epoch_step"] > 0                  # an epoch under way: its rows are counted too
    fast, slow = both(run, raw, state, monkeypatch)
    assert fast is not None and fast == slow
    assert fast["loss"] == run.trainer.log.loss and fast["clipped"] == run.trainer.log.clipped
    assert fast["norm_f"] == run.trainer.log.gates["f"]
    again = Run.load(folder)
    assert again.trainer.log.loss == run.trainer.log.loss and again.trainer.step == run.trainer.step


def set_field(text: str, line: int, col: int, value: str) -> str:
    lines = text.split("\n")
    fields = lines[line - 1].split(",")
    fields[col] = value
    lines[line - 1] = ",".join(fields)
    return "\n".join(lines)


@pytest.mark.parametrize("line, col, value, words", [
    (3, 2, "-0.5", "holds '-0.5' in column loss on line 3, not a finite number of at least 0"),
    (4, 1, "3", "holds '3' in column epoch on line 4, not 1 or 2"),
    (2, 0, "3", "holds '3' in column step on line 2, not 1 (the steps are numbered 1, 2, … in order)"),
    (6, 4, "2", "holds '2' in column clipped on line 6, not 0 or 1"),
])
def test_anything_else_is_named_as_the_row_reader_names_it(saved, line, col, value, words):
    run, _, raw, state = saved
    bad = dict(raw, **{"steps.csv": set_field(raw["steps.csv"].decode(), line, col, value).encode()})
    assert store._fast_steps(store._Reader(Path("run"), bad), run, state) is None
    with pytest.raises(RunFileError) as ei:
        store._load_steps(store._Reader(Path("run"), bad), run, state)
    assert str(ei.value).startswith(f"run/steps.csv {words}")


def test_a_file_the_save_did_not_write_goes_to_the_row_reader(saved, monkeypatch):
    run, _, raw, state = saved
    text = raw["steps.csv"].decode()
    loss = text.split("\n")[4].split(",")[2]
    quoted = dict(raw, **{"steps.csv": set_field(text, 5, 2, f'"{loss}"').replace("\n", "\r\n").encode()})
    assert store._fast_steps(store._Reader(Path("run"), quoted), run, state) is None
    fast, slow = both(run, raw, state, monkeypatch)
    assert store._load_steps(store._Reader(Path("run"), quoted), run, state) == slow == fast

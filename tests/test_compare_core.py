"""The comparison core shared by `lstm-explorer compare` and the comparison view (explorer.app.compare):
round-robin training gives each cell exactly the numbers it gets alone; the task protocol (partial
results, progress, pause, interruption, traces); the table; the command's files written as one whole."""

import csv
import math
import os
import threading
from dataclasses import replace

import numpy as np
import pytest

from explorer.app.compare import (CellResult, Comparison, ComparisonResult, comparison_task, compare_cells,
                                  format_table)
from explorer.data.examples import load_example
from explorer.runs.store import Run, settings_for_example

CELLS = ["rnn", "gru", "lstm"]


class RecordingState:
    """Orange3's TaskState protocol as the window's adapter offers it, recording what the task sends."""

    def __init__(self, interrupt_after=None, sample=None, trace_interval=0.0):
        self.partials, self.progress = [], []
        self.interrupt_after = interrupt_after
        self.sample, self.trace_interval = sample, trace_interval
        self._stop = threading.Event()

    def is_interruption_requested(self):
        return self._stop.is_set()

    def set_partial_result(self, value):
        self.partials.append(value)
        if self.interrupt_after is not None and value.steps_done >= self.interrupt_after:
            self._stop.set()

    def set_progress(self, fraction):
        self.progress.append(fraction)


@pytest.fixture(scope="module")
def sine():
    return load_example("sine"), settings_for_example("sine", units=4)


def lone_curve(ds, settings, steps, eval_every):
    """The validation curve of one run trained alone, evaluated every ``eval_every`` steps."""
    run = Run(ds, settings)
    tr = run.trainer
    tr.epochs = math.ceil(steps / tr.steps_per_epoch)
    curve = [tr.val_loss()]
    first = None
    for snap in tr.steps(max_steps=steps):
        first = first or snap
        if snap.step % eval_every == 0 or snap.step == steps:
            curve.append(tr.val_loss())
    return np.array(curve), first, snap


def test_round_robin_gives_each_cell_its_numbers_alone(sine):
    ds, st = sine
    comp = Comparison(ds, st, CELLS, max_steps=50, target_loss=0.02, eval_every=20)
    assert comp.runs == []                                   # nothing built until started
    turns = 0
    while not comp.done:
        taken = comp.advance(7)
        turns += 1
        assert taken <= 7 * len(CELLS)
    # chunks of 7 never step over an evaluation: 7, 14, 20 | 27, 34, 40 | 47, 50
    assert turns == 8
    res = comp.snapshot()
    assert res.reason == "done" and res.fraction == 1.0 and res.steps_done == 150
    for r in res.results:
        alone, first, last = lone_curve(ds, replace(st, cell=r.cell), 50, 20)
        assert list(r.eval_steps) == [0, 20, 40, 50]
        np.testing.assert_array_equal(r.eval_losses, alone)   # bit for bit
        np.testing.assert_array_equal(r.norms_dh, first.norms_dh)
        np.testing.assert_array_equal(r.norms_dh_last, last.norms_dh)
        assert r.norms_step == 50 and r.step == 50 and len(r.step_losses) == 50
        below = [s for s, v in zip(r.eval_steps[1:], alone[1:]) if v < 0.02]
        assert r.steps_to_target == (below[0] if below else None)
        assert (r.seconds_to_target is None) == (r.steps_to_target is None)
        assert r.final_val_loss == alone[-1]


def test_norms_through_time_first_and_latest(sine):
    ds, st = sine
    res = comparison_task(RecordingState(), Comparison(ds, st, ["rnn", "gru", "lstm", "peephole"], max_steps=30,
                                                       eval_every=10), traces=False)
    T = ds.x_train.shape[1]
    for r in res.results:
        assert r.norms_dh.shape == (T,) and r.norms_dh_last.shape == (T,)
        has_belt = r.cell in ("lstm", "peephole")
        assert (r.norms_dc is not None) == has_belt and (r.norms_dc_last is not None) == has_belt
        if has_belt:
            assert r.norms_dc.shape == (T,) and np.all(r.norms_dc > 0)
        assert not np.array_equal(r.norms_dh, r.norms_dh_last)   # the weights moved in between
        assert np.all(np.isfinite(r.norms_dh)) and np.all(r.norms_dh > 0)


def test_table_rows_and_printed_table(sine):
    ds, st = sine
    res = compare_cells(ds, st, ["rnn", "lstm"], seeds=2, max_steps=40, target_loss=0.05, eval_every=10)
    assert [(r.cell, r.seed) for r in res.results] == [("rnn", 0), ("rnn", 1), ("lstm", 0), ("lstm", 1)]
    rows = {r.cell: r for r in res.rows()}
    # parameters of the layer: rnn n(m+n+1) = 4·6, lstm 4n(m+n+1) = 16·6; the head is not counted
    assert rows["rnn"].parameters == 24 and rows["lstm"].parameters == 96
    assert res.results[0].total_parameters == 24 + 5
    for cell, row in rows.items():
        seeds = res.of(cell)
        hit = [r.steps_to_target for r in seeds if r.steps_to_target is not None]
        assert row.reached == len(hit) and row.seeds == 2 and row.reached_text == f"{len(hit)}/2"
        assert row.steps_to_target == (int(np.median(hit)) if hit else None)
        assert row.final_val_loss == pytest.approx(np.mean([r.final_val_loss for r in seeds]))
    # the table prints the layers, the head and the total, as `train` does
    assert rows["rnn"].parameters_text == "24 + 5 = 29" and rows["lstm"].parameters_text == "96 + 5 = 101"
    lines = format_table(res).splitlines()
    assert lines[0] == ("cell         parameters     steps to 0.05  reached  seconds  final val loss")
    assert set(lines[1]) == {"-"} and len(lines[1]) == len(lines[0])
    steps = lambda r: str(r.steps_to_target) if r.steps_to_target is not None else "not within 40"  # noqa: E731
    assert lines[2] == (f"rnn        {'24 + 5 = 29':>12s}  {steps(rows['rnn']):>16s} {rows['rnn'].reached_text:>8s} "
                        f"{rows['rnn'].seconds:>8.1f}  {rows['rnn'].final_val_loss:>14.4g}")
    assert lines[-1] == ("(parameters: layers + head = total; median over the seeds that reached it; validation "
                         "MSE in the units of value, squared, 2 seeds, 40 steps each)")


def test_seeds_start_at_the_settings_seed(sine):
    ds, st = sine
    res = compare_cells(ds, replace(st, seed=5), ["gru"], seeds=2, max_steps=10, eval_every=10)
    assert [r.seed for r in res.results] == [5, 6]
    alone, _, _ = lone_curve(ds, replace(st, cell="gru", seed=6), 10, 10)
    np.testing.assert_array_equal(res.results[1].eval_losses, alone)


def test_task_sends_copies_with_progress_and_returns_done(sine):
    ds, st = sine
    state = RecordingState()
    res = comparison_task(state, Comparison(ds, st, ["rnn", "lstm"], max_steps=60, eval_every=20),
                          emit_interval=0.0, traces=False)
    assert res.reason == "done" and state.partials[-1] is res
    assert all(isinstance(p, ComparisonResult) for p in state.partials)
    done = [p.steps_done for p in state.partials]
    assert done[0] == 0 and done[-1] == 120 and done == sorted(done)
    assert state.progress[0] == 0.0 and state.progress[-1] == 1.0 and state.progress == sorted(state.progress)
    # an early snapshot is not changed by later training (copies, not views)
    early = state.partials[1]
    assert early.results[0].step == 10 and list(early.results[0].eval_steps) == [0]
    assert len(early.results[0].step_losses) == 10
    assert [p.reason for p in state.partials[:-1]] == ["running"] * (len(state.partials) - 1)


def test_task_stops_when_asked_and_keeps_what_it_did(sine):
    ds, st = sine
    state = RecordingState(interrupt_after=40)
    comp = Comparison(ds, st, ["rnn", "lstm"], max_steps=1000, eval_every=20)
    res = comparison_task(state, comp, emit_interval=0.0, traces=False)
    assert res.reason == "stopped" and state.partials[-1] is res
    assert 40 <= res.steps_done <= 60 and not comp.done
    assert all(r.step == res.results[0].step for r in res.results)      # lockstep: the same steps each
    comp.extend(100 - 1000)                                              # a budget of 100 from here
    again = comparison_task(RecordingState(), comp, traces=False)        # continues where it stopped
    assert again.reason == "done" and again.steps_done == 200
    alone, _, _ = lone_curve(ds, replace(st, cell="lstm"), 100, 20)
    np.testing.assert_array_equal(again.of("lstm")[0].eval_losses, alone)
    comp.extend(50)                                                      # and 50 more after the end
    more = comparison_task(RecordingState(), comp, traces=False)
    assert more.reason == "done" and more.steps_done == 300 and more.max_steps == 150
    alone, _, _ = lone_curve(ds, replace(st, cell="lstm"), 150, 20)
    np.testing.assert_array_equal(more.of("lstm")[0].eval_losses, alone)


def test_interruption_inside_a_step_leaves_the_run_as_before_that_step(sine):
    ds, st = sine
    comp = Comparison(ds, st, ["lstm"], max_steps=100, eval_every=50)
    comp.advance(5)
    before = comp.runs[0].run.model.state_dict()
    from explorer.engine import Interrupted
    with pytest.raises(Interrupted):
        comp.advance(5, interrupt=lambda: True)
    assert comp.runs[0].step == 5
    after = comp.runs[0].run.model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_paused_task_sends_a_trace_and_trains_nothing_while_paused(sine):
    ds, st = sine

    class PausingState(RecordingState):
        def __init__(self):
            super().__init__(sample=3)
            self.paused = False
            self.paused_at = None

        def set_partial_result(self, value):
            super().set_partial_result(value)
            if value.steps_done >= 20 and self.paused_at is None:
                self.paused = True

        def wait_while_paused(self, timeout=None):
            self.paused_at = len(self.partials) - 1
            self.paused = False
            return True

    state = PausingState()
    res = comparison_task(state, Comparison(ds, st, ["gru", "lstm"], max_steps=40, eval_every=20),
                          emit_interval=0.0)
    assert res.reason == "done" and state.paused_at is not None
    snap = state.partials[state.paused_at]
    assert snap.steps_done == state.partials[state.paused_at - 1].steps_done >= 20
    for r in snap.results:                      # the weights on screen while paused, of sample 3
        assert r.trace is not None and r.trace.kind == r.cell and r.sample == 3
        np.testing.assert_array_equal(r.trace.x, ds.x_val[3:4])
        assert {"weight_ih_l0", "head.weight"} <= set(r.weights)
        fields = ("r", "z", "g", "h") if r.cell == "gru" else ("i", "f", "g", "o", "c", "h")
        assert all(getattr(r.trace, f).shape == (1, ds.x_val.shape[1], 4) for f in fields)


def test_traces_only_when_asked(sine):
    ds, st = sine
    res = comparison_task(RecordingState(), Comparison(ds, st, ["rnn"], max_steps=10, eval_every=10), traces=False)
    assert res.results[0].trace is None and res.results[0].weights is None
    res = comparison_task(RecordingState(), Comparison(ds, st, ["rnn"], max_steps=10, eval_every=10))
    assert res.results[0].trace.h.shape[0] == 1 and res.results[0].weights is not None


def test_a_dataset_without_validation_is_evaluated_on_its_training_part():
    ds = load_example("sine", val_fraction=0.0)
    assert ds.x_val is None or len(ds.x_val) == 0
    st = settings_for_example("sine", units=3)
    res = compare_cells(ds, st, ["rnn"], seeds=1, max_steps=10, eval_every=5)
    assert res.evaluated_on == "training"
    run = Run(ds, replace(st, cell="rnn"))
    expected = run.model.evaluate(ds.x_train, ds.y_train, ds.loss) * run.trainer.data.loss_scale
    assert res.results[0].eval_losses[0] == pytest.approx(expected, rel=1e-12)
    assert "; median over the seeds that reached it; training MSE" in format_table(res)


def test_bad_cells_are_one_sentence(sine):
    ds, st = sine
    with pytest.raises(ValueError, match=r"^unknown cell xyz; choose from "):
        Comparison(ds, st, ["lstm", "xyz"])
    with pytest.raises(ValueError, match="named twice"):
        Comparison(ds, st, ["lstm", "lstm"])


def test_a_diverging_cell_ends_and_the_others_go_on(sine):
    ds, st = sine
    comp = Comparison(ds, replace(st, lr=10.0, clip=None, optimizer="sgd"), ["rnn", "lstm"], max_steps=200,
                      eval_every=50)
    res = comparison_task(RecordingState(), comp, traces=False)
    assert res.reason == "done"
    for r in res.results:
        assert r.done
        if r.message:
            assert "diverged" in r.message and r.step < 200
        else:
            assert r.step == 200


# -- the command's files -----------------------------------------------------------------------------
def test_compare_writes_its_folder_as_one_version(tmp_path, capsys):
    from explorer.cli import main

    out = tmp_path / "cmp"
    assert main(["compare", "--example", "sine", "--cells", "rnn,lstm", "--seeds", "1", "--max-steps", "20",
                 "--eval-every", "10", "--units", "3", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert os.path.islink(out / ".current")
    version = out / os.readlink(out / ".current")
    names = sorted(p.name for p in version.iterdir())
    assert names == sorted(["comparison.csv", "comparison_seeds.csv"] + [
        f"{s}.{e}" for s in ("loss_curves", "grad_through_time") for e in ("png", "svg", "csv")])
    for n in names:
        assert os.readlink(out / n) == f".current/{n}"
    with open(out / "comparison.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["cell"] for r in rows] == ["rnn", "lstm"]
    table = printed.splitlines()
    for r, line in zip(rows, table[2:4]):
        assert line.split()[:6] == [r["cell"], r["parameters"], "+", r["head_parameters"], "=",
                                    r["total_parameters"]]
        assert int(r["parameters"]) + int(r["head_parameters"]) == int(r["total_parameters"])
        assert line.split()[-1] == format(float(r["final_val_loss"]), ".4g")


def test_compare_failing_midway_leaves_nothing_or_the_old_folder(tmp_path, capsys, monkeypatch):
    from explorer.cli import main
    import explorer.figures.report as report

    args = ["compare", "--example", "sine", "--cells", "rnn", "--seeds", "1", "--max-steps", "10",
            "--eval-every", "10", "--units", "2", "--quiet"]

    def broken(comp, out_dir):
        (out_dir / "loss_curves.png").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "export_comparison_plots", broken)
    out = tmp_path / "fresh"
    assert main(args + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and err.count("\n") == 1
    assert not out.exists()
    monkeypatch.undo()
    old = tmp_path / "old"
    assert main(args + ["--out", str(old)]) == 0
    before = {p.name: p.read_bytes() for p in old.iterdir() if p.is_file() and not p.name.startswith(".")}
    monkeypatch.setattr(report, "export_comparison_plots", broken)
    assert main(args + ["--units", "3", "--out", str(old), "--force"]) == 2
    after = {p.name: p.read_bytes() for p in old.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert after == before and len(before) == 8
    assert len(list((old / ".versions").iterdir())) == 1


def test_compare_refuses_a_cell_named_twice(tmp_path, capsys):
    from explorer.cli import main

    assert main(["compare", "--example", "sine", "--cells", "rnn,lstm,rnn", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == "lstm-explorer: --cells names rnn twice; name each cell once."
    assert not (tmp_path / "o").exists()


def test_cell_result_fields_the_figures_read():
    # explorer.figures.report reads these names (a contract with the figures helper)
    names = set(CellResult.__dataclass_fields__)
    assert {"cell", "seed", "eval_steps", "eval_losses", "norms_dh", "norms_dc"} <= names


def test_readme_comparison_example_runs_as_written(capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "Comparison(" in b)
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "[  0  50 100] (50,) (50,)"
    rows = eval(out[1])                                    # noqa: S307 - our own printed list
    assert [r[:2] for r in rows] == [("rnn", 8 * 11), ("lstm", 32 * 11)]
    assert out[2].split()[:4] == ["cell", "parameters", "steps", "to"]


def test_snapshots_share_no_changing_memory_and_grow_past_their_buffers(sine):
    ds, st = sine
    comp = Comparison(ds, st, ["rnn"], max_steps=600, eval_every=1)
    while not comp.runs or comp.runs[0].step < 100:
        assert comp.advance(100) == 1                     # never past an evaluation: one step at a time
    early = comp.snapshot().results[0]
    while not comp.done:
        comp.advance(100)
    late = comp.snapshot().results[0]
    assert len(early.step_losses) == 100 and len(early.eval_steps) == 101
    assert len(late.step_losses) == 600 and list(late.eval_steps) == list(range(601))
    np.testing.assert_array_equal(late.step_losses[:100], early.step_losses)     # unchanged by later steps
    np.testing.assert_array_equal(late.step_losses, comp.runs[0].run.trainer.log.loss)
    assert not early.step_losses.flags.writeable and not late.eval_losses.flags.writeable


def test_cells_that_fit_alone_but_not_together_are_refused_before_anything_is_built(sine, monkeypatch):
    from explorer.util.ram import MemoryBudgetError
    from explorer.runs.store import estimate_run_bytes

    ds, st = sine
    cells = ["gru", "lstm", "peephole"]
    sizes = [estimate_run_bytes(c, 1, st.units, 1, ds.x_train.shape[1], st.batch) for c in cells]
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", str(max(sizes) + 1))      # each fits, three do not
    comp = Comparison(ds, st, cells, max_steps=10)
    with pytest.raises(MemoryBudgetError, match=r"^Training gru, lstm, peephole side by side with 4 units on "
                                                 r"sequences of \d+ steps needs about .*; compare fewer cells"):
        comp.start()
    assert comp.runs == []
    res = comparison_task(RecordingState(), Comparison(ds, st, ["lstm"], max_steps=10), traces=False)
    assert res.reason == "done"


def test_compare_command_refuses_cells_that_do_not_fit_together(tmp_path, capsys, monkeypatch, sine):
    from explorer.cli import main
    from explorer.runs.store import estimate_run_bytes

    ds, st = sine
    one = estimate_run_bytes("lstm", 1, 4, 1, ds.x_train.shape[1], 16)
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", str(one + 1))
    out = tmp_path / "o"
    assert main(["compare", "--example", "sine", "--cells", "rnn,lstm", "--units", "4", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lstm-explorer: Training rnn, lstm side by side with 4 units")
    assert not out.exists()


def test_an_evaluation_interrupted_is_made_up_before_training_on(sine):
    from explorer.engine import Interrupted

    ds, st = sine
    comp = Comparison(ds, st, ["rnn", "lstm"], max_steps=40, eval_every=20)
    with pytest.raises(Interrupted):                 # stopped while evaluating at step 0
        comp.start(interrupt=lambda: True)
    assert len(comp.runs) == 2 and all(len(r.eval_steps) == 0 for r in comp.runs)
    comp.advance(10)                                 # makes up the evaluations at step 0 first
    assert [list(r.eval_steps.view()) for r in comp.runs] == [[0], [0]]
    with pytest.raises(Interrupted):                 # the lstm's evaluation at step 20 is interrupted
        comp.advance(10, interrupt=lambda: comp.runs[1].step == 20)
    assert list(comp.runs[0].eval_steps.view()) == [0, 20]
    lstm = comp.runs[1]
    assert lstm.step == 20 and list(lstm.eval_steps.view()) == [0] and lstm.evaluation_due and not lstm.done
    while not comp.done:
        comp.advance(10)
    res = comp.snapshot()
    for r in res.results:
        alone, _, _ = lone_curve(ds, replace(st, cell=r.cell), 40, 20)
        assert list(r.eval_steps) == [0, 20, 40]
        np.testing.assert_array_equal(r.eval_losses, alone)

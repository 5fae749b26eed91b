"""One training driver (issue 18 §2): the window's task, the command line and the cell comparison
train through :func:`explorer.app.tasks.train_task`, so "diverged" means one thing everywhere."""

import numpy as np
import pytest

from explorer.app.compare import CellRun
from explorer.app.tasks import BLOWUP_FACTOR, TaskState, train_task
from explorer.cli.command import EXIT_DIVERGED, main
from explorer.data.examples import load_example
from explorer.runs.store import Run, settings_for_example

SETTINGS = dict(units=8, optimizer="sgd", lr=10.0, clip=None, epochs=5, seed=0)


def _run():
    return Run(load_example("sine"), settings_for_example("sine", **SETTINGS))


def test_the_command_line_and_the_window_task_diverge_at_the_same_step_with_the_same_message(tmp_path, capsys):
    run = _run()
    result = train_task(TaskState(), run.trainer)
    assert result.reason == "diverged"
    assert f"over {BLOWUP_FACTOR:,.0f} times the loss of predicting zero" in result.message   # finite: a blow-up
    step = int(result.message.split("at step ")[1].split(":")[0])
    assert 0 < step < run.trainer.total_steps
    out = tmp_path / "cli-run"
    status = main(["train", "--example", "sine", "--units", "8", "--optimizer", "sgd", "--lr", "10", "--clip", "0",
                   "--epochs", "5", "--seed", "0", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert status == EXIT_DIVERGED
    assert f"lstm-explorer: {result.message}" in err.splitlines()
    saved = Run.load(out)                                   # the kept weights are those the task kept
    np.testing.assert_array_equal(saved.model.params, run.model.params)
    assert saved.trainer.val_loss() < BLOWUP_FACTOR * float(np.mean(run.dataset.y_train ** 2))


def test_the_cell_comparison_stops_a_run_that_diverges_with_the_same_sentence():
    ds = load_example("sine")
    st = settings_for_example("sine", **{**SETTINGS, "cell": "lstm"})
    cell = CellRun(ds, st, max_steps=200, target_loss=1e-9, eval_every=20)
    while not cell.done:
        cell.advance(10)
    result = train_task(TaskState(), _run().trainer)
    assert cell.stopped and cell.message == result.message
    assert cell.step < 200


def test_one_redraw_pacer_keeps_the_guis_share_near_three_percent():
    from explorer.app.pacing import FLOOR, RedrawPacer

    now = [0.0]
    cpu = [0.0]
    pacer = RedrawPacer(clock=lambda: now[0], cpu_clock=lambda: cpu[0])
    assert pacer.interval == FLOOR and pacer.wait() == FLOOR
    for _ in range(3):                            # redraws of 10 ms of the GUI thread's time each
        mark = pacer.begin()
        now[0] += 0.010
        cpu[0] += 0.010
        pacer.end(mark)
        assert pacer.interval == pytest.approx(0.3) and pacer.trace_interval == pytest.approx(0.24)
        assert pacer.wait() == pytest.approx(0.3)
        now[0] += 0.3
    mark = pacer.begin()                          # a one-off cost rises slowly ...
    now[0] += 0.5
    cpu[0] += 0.5
    pacer.end(mark)
    assert pacer.cost == pytest.approx(0.8 * 0.010 + 0.2 * 0.5) and pacer.interval == 2.0   # (capped)
    for _ in range(2):                            # ... and falls at once once a cheap cycle is measured
        now[0] += 1.0                             # (a cycle: from one redraw's start to the next's)
        mark = pacer.begin()
        now[0] += 0.001
        cpu[0] += 0.001
        pacer.end(mark)
    assert pacer.cost == pytest.approx(0.001) and pacer.interval == FLOOR

"""The training and display tasks, run without a thread: throttling, merged records, traces only
as often as the window redraws, pause, stop, autosave, divergence, predictions."""

import numpy as np
import pytest

from explorer.app import CheckpointPolicy, Session
from explorer.app.tasks import (BLOWUP_FACTOR, SANE_FACTOR, Display, Interrupted, TaskState,
                                TrainingUpdate, clone_model, display_task, sample_of, train_task)
from explorer.data.examples import load_example
from explorer.runs.store import Run, settings_for_example


def _run(name="sine", **kw):
    return Run(load_example(name), settings_for_example(name, **{"units": 4, **kw}))


def _collect(**state_kw):
    got = []
    state = TaskState(on_partial=got.append, **state_kw)
    return state, got


def _updates(got):
    return [u for u in got if isinstance(u, TrainingUpdate)]


def test_every_step_arrives_once_merged_about_30_times_a_second():
    run = _run(epochs=2)
    tr = run.trainer
    state, got = _collect()
    clock = lambda: tr.step * 0.01               # noqa: E731 - a simulated 100 steps per second
    result = train_task(state, tr, clock=clock)
    assert result.reason == "done"
    ups = _updates(got)
    steps = np.concatenate([u.step for u in ups])
    np.testing.assert_array_equal(steps, np.arange(1, tr.total_steps + 1))
    np.testing.assert_array_equal(np.concatenate([u.loss for u in ups]), tr.log.loss)
    # the first step at once, then one emission per 1/30 s of the simulated clock: 4 steps (0.04 s)
    # each, the last one shorter
    assert [len(u) for u in ups[:-1]] == [1] + [4] * (len(ups) - 2)
    assert len(ups) == 1 + -(-(tr.total_steps - 1) // 4)
    assert [h["epoch"] for u in ups for h in u.history] == [1, 2]
    assert ups[-1].progress.step == tr.total_steps and ups[-1].progress.epoch == 2
    np.testing.assert_array_equal(ups[-1].norms_dh.shape, (run.dataset.seq_len,))


def test_traces_only_as_often_as_the_window_redraws_and_of_the_weights_then():
    run = _run(epochs=2)
    tr = run.trainer
    state, got = _collect()
    state.trace_interval = 0.1                     # the window redraws every 100 ms
    state.sample = 3
    train_task(state, tr, clock=lambda: tr.step * 0.01)
    with_trace = [u for u in _updates(got) if u.trace is not None]
    last = [u.step[-1] for u in with_trace]
    assert len(with_trace) >= 3
    assert all(b - a >= 10 for a, b in zip(last, last[1:]))     # ≥ 0.1 s of simulated time apart
    u = with_trace[1]
    assert u.sample == 3
    x, _ = sample_of(run.dataset, 3)
    np.testing.assert_array_equal(u.trace.h, clone_model(tr.model, u.weights).forward(x).h)


def test_pause_sends_the_current_weights_trace_then_resumes():
    run = _run(epochs=1)
    tr = run.trainer
    seen = []

    def on_partial(u):
        seen.append(u)
        n = len(_updates(seen))
        if n == 3:
            state.pause()                  # the person presses Pause
        elif state.paused:
            # the task flushed before waiting: a trace of the weights it stopped at
            assert u.trace is not None
            np.testing.assert_array_equal(u.weights["weight_hh_l0"], tr.model.state_dict()["weight_hh_l0"])
            seen.append(("paused at", tr.step))
            state.resume()                 # (in the window: Resume, from the GUI thread)

    state = TaskState(on_partial=on_partial)
    assert train_task(state, tr, clock=lambda: tr.step * 0.01).reason == "done"
    assert any(isinstance(s, tuple) and s[0] == "paused at" for s in seen)
    assert tr.epoch == 1


def test_stop_ends_between_steps_and_every_step_done_was_sent():
    run = _run(epochs=50)
    tr = run.trainer

    def on_partial(u):
        got.append(u)
        if len(_updates(got)) == 5:
            state.request_interruption()

    got = []
    state = TaskState(on_partial=on_partial)
    result = train_task(state, tr, clock=lambda: tr.step * 0.01)
    assert result.reason == "stopped" and result.trace is None
    steps = np.concatenate([u.step for u in _updates(got)])
    assert steps[-1] == tr.step < tr.total_steps


def test_autosave_follows_the_checkpoint_policy_and_a_failure_does_not_stop_training():
    run = _run(epochs=3)
    tr = run.trainer
    clock = lambda: tr.step * 1.0          # noqa: E731 - one simulated second per step
    saves = []

    def checkpoint():
        saves.append(tr.step)
        if len(saves) == 1:
            raise OSError("disk full")

    state, got = _collect()
    policy = CheckpointPolicy(interval=30, epoch_min=5, clock=clock)
    assert train_task(state, tr, checkpoint=checkpoint, policy=policy, clock=clock).reason == "done"
    spe = tr.steps_per_epoch                # 49 steps an epoch: epoch ends at 49, 98, 147
    assert saves == [30, 49, 79, 98, 128, 147]
    assert ("message", "Autosave failed: disk full") in got
    assert spe == 49


def test_divergence_keeps_the_weights_of_the_last_sane_step():
    run = _run(units=8, optimizer="sgd", lr=10.0, clip=None, epochs=5)
    tr = run.trainer
    state, got = _collect()
    result = train_task(state, tr)              # warnings are errors here: none may escape
    assert result.reason == "diverged"
    losses = np.concatenate([u.loss for u in _updates(got)])
    base = float(np.mean(run.dataset.y_train ** 2)) * run.train_data().loss_scale
    assert losses[-1] > BLOWUP_FACTOR * base and np.all(losses[:-1] <= BLOWUP_FACTOR * base)
    k = result.kept_step
    assert k is not None and losses[k] <= SANE_FACTOR * base    # step k + 1's loss: of the kept weights
    assert "Back to the weights" in result.message and "learning rate" in result.message
    assert "times the loss of predicting zero" in result.message
    twin = _run(units=8, optimizer="sgd", lr=10.0, clip=None, epochs=5).trainer
    list(twin.steps(max_steps=k))
    np.testing.assert_array_equal(tr.model.params, twin.model.params)
    # the kept weights give a sane loss, nothing like the 3.6e304 of the last finite weights
    assert tr.val_loss() < SANE_FACTOR * base


def test_display_task_gives_the_trace_norms_and_the_runs_own_predictions():
    run = _run(epochs=1)
    list(run.trainer.steps(max_steps=20))
    progress = []
    state = TaskState(on_progress=progress.append)
    d = display_task(state, run, None, 2, norms=True)
    assert isinstance(d, Display) and d.sample == 2
    x, y = sample_of(run.dataset, 2)
    np.testing.assert_array_equal(d.trace.h, run.model.forward(x).h)
    expect = run.predictions(forecast=min(100, run.dataset.n_val))
    for key in ("t", "target", "prediction", "t_forecast", "forecast"):
        np.testing.assert_allclose(d.predictions[key], expect[key], rtol=0, atol=1e-12)
    _, norms, _ = run.model.compute_grads(x, y, run.dataset.loss)
    np.testing.assert_allclose(d.norms_dh, norms.dh)
    fractions = [p for p, _ in progress]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)


def test_display_task_uses_the_given_weights_and_is_interruptible():
    run = _run(epochs=1)
    before = run.model.state_dict()
    list(run.trainer.steps(max_steps=20))
    x, _ = sample_of(run.dataset, 0)
    d = display_task(TaskState(), run, before, 0, predictions=False)
    assert d.predictions is None
    np.testing.assert_array_equal(d.trace.h, clone_model(run.model, before).forward(x).h)

    def stop_at_predictions(p):
        if p[0] > 0.1:
            state.request_interruption()

    state = TaskState(on_progress=stop_at_predictions)
    big = _run("adding", units=8)
    with pytest.raises(Interrupted):
        display_task(state, big, None, 0)


def test_session_keeps_what_training_sent():
    run = _run(epochs=1)
    s = Session()
    s.set_run(run)
    got = []
    state = TaskState(on_partial=got.append)
    state.trace_interval = 0.0
    train_task(state, run.trainer, clock=lambda: run.trainer.step * 0.01)
    for u in _updates(got):
        s.apply_update(u)
    np.testing.assert_array_equal(s.steps.table()["loss"], run.trainer.log.loss)
    np.testing.assert_array_equal(s.steps.table()["norm_f"], run.trainer.step_table()["norm_f"])
    assert s.history == run.trainer.history
    assert s.progress.step == run.trainer.step and s.trace is not None

"""What is drawn is what its label says (issue 18 §1, §6): the session holds the source of the
trace (sample, weights, interventions), one display request computes it, and no view draws old
numbers under a new label — with a large model whose traces are computed on a worker."""

import numpy as np

from explorer.app import Session
from explorer.app.display import DisplayCache, display_request, shown_display
from explorer.app.source import Source
from explorer.app.tasks import TaskState
from explorer.app.teaching import is_small, shown_trace
from explorer.data.examples import load_example
from explorer.engine import Clamp
from explorer.runs.store import Run, settings_for_example

from explorer.gui.main_window import MainWindow
from tests.test_gui_behaviour import close_and_wait, make_window


def large_run(epochs=1):
    ds = load_example("adding", seq_len=500, n_train=64, n_val=8)
    return Run(ds, settings_for_example("adding", units=256, epochs=epochs, batch=32))


def large_window(qtbot, qsettings):
    """A window on :func:`large_run` (its first display takes seconds on a worker, more on a busy machine)."""
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=close_and_wait)
    win.resize(1500, 950)
    win.set_run(large_run())
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.trace is not None and not win.display.busy, timeout=180000)
    return win


def small_run():
    return Run(load_example("sine"), settings_for_example("sine", units=4, epochs=1))


# -- Qt-free ------------------------------------------------------------------------------------------
def test_the_session_is_waiting_until_the_trace_of_its_source_arrives():
    run = small_run()
    s = Session()
    s.set_run(run)
    assert s.waiting and s.waiting_text() == "computing sample 0\u2026"
    s.set_trace(shown_trace(run, run.model.state_dict(), 0), run.model.state_dict(), Source(0))
    assert not s.waiting and s.waiting_text() == ""
    seen = []
    s.events.sample.connect(seen.append)
    s.set_position(sample=2)
    s.set_position(t=3)                         # not a new sample: no sample event
    assert seen == [2] and s.waiting
    s.set_interventions([Clamp("f", 1.0, units=[0])])
    assert s.source() == Source(2, "latest", None, (Clamp("f", 1.0, units=[0]),))
    assert s.shown_interventions() == ()        # the trace drawn holds nothing yet
    s.set_replay_epoch(0)
    assert s.waiting_text() == "computing sample 2 \u00b7 before training \u00b7 1 intervention held\u2026"


def test_one_request_gives_the_clamped_trace_its_norms_and_its_effect_and_caches_them():
    run = small_run()
    w = run.model.state_dict()
    ivs = (Clamp("f", 1.0, units=[1]),)
    cache = DisplayCache()
    partial = []
    d = display_request(TaskState(on_partial=partial.append), run, w, Source(3, interventions=ivs), cache=cache,
                        weights_key=("latest", 0))
    assert partial == [d]                       # the trace is sent before the effect is computed
    assert np.all(d.trace.f[0, :, 1] == 1.0)
    assert np.array_equal(d.trace.h, shown_trace(run, w, 3, ivs).h)
    ref = run.model.forward(run.sample_pair(3)[0], interventions=list(ivs))
    assert np.array_equal(d.trace.y, ref.y)
    _, gn, _ = run.model.compute_grads(*run.sample_pair(3), run.dataset.loss, interventions=list(ivs))
    assert np.array_equal(d.norms_dh, gn.dh) and np.array_equal(d.norms_dc, gn.dc)
    c = d.comparison
    assert c.interventions == ivs and c.sample == 3
    ds = run.dataset
    assert np.array_equal(c.sample_with, ds.normalizer.inverse(ref.y[0, :, 0], column=ds.target_index))
    assert c.loss_with != c.loss_without
    again = shown_display(TaskState(), run, w, Source(3, interventions=ivs), cache=cache, weights_key=("latest", 0))
    assert again is d
    assert cache.get(("epoch", 0), Source(3, interventions=ivs)) is None


# -- the window, large model ----------------------------------------------------------------------------
def _record(win, frames):
    """Record what the diagram and the equations show at every session event and every paint."""
    paint = win.diagram._frame

    def drawn():
        frame = paint()
        frames.append({"header": frame.header, "held": dict(frame.held), "t": win.session.position.t,
                       "unit": win.session.position.unit, "replay": win.replay_bar.label.text(),
                       "values": None if frame.values is None else {k: frame.values.get(k) for k in ("f", "h")},
                       "equations": win.equations.toPlainText()})
        return frame

    ev = win.session.events
    for signal in (ev.trace, ev.position, ev.interventions, ev.replay_epoch, ev.sample):
        signal.connect(lambda *_: drawn())
    win.diagram._frame = drawn


def _sample_of(header):
    return int(header.split("sample ")[1].split()[0])


def test_a_held_gate_is_never_drawn_unclamped_while_a_large_model_changes_sample(qtbot, qsettings, app_paths):
    win = large_window(qtbot, qsettings)
    run, s = win.run, win.session
    assert not is_small(run)                    # traces come from a worker
    s.set_position(unit=5, t=100)
    frames = []
    _record(win, frames)
    with qtbot.waitSignal(win.interventions.sigCompared, timeout=120000):
        win.interventions.hold("f", 1.0)        # f of unit 5 at 1, every step
    assert np.all(s.trace.f[0, :, 5] == 1.0) and not s.waiting
    for sample in (1, 4, 2, 6, 3):              # quickly: each request supersedes the one before
        s.set_position(sample=sample)
        qtbot.wait(1)
    qtbot.waitUntil(lambda: not s.waiting and not win.display.busy, timeout=120000)
    assert s.trace_source == Source(3, interventions=(Clamp("f", 1.0, units=[5], layer=0, direction=0),))
    w = run.model.state_dict()
    refs = {k: shown_trace(run, w, k, s.interventions) for k in (0, 1, 2, 3, 4, 6)}
    held = [f for f in frames if f["values"] is not None and "f" in f["held"]]
    assert len(held) >= 4
    samples_drawn = set()
    for f in held:
        assert f["values"]["f"] == 1.0, f["header"]                 # "held at 1" is never drawn unclamped
        assert "held at" in f["equations"]
        k = _sample_of(f["header"])
        samples_drawn.add(k)
        assert f["values"]["h"] == refs[k].h[0, f["t"], f["unit"]]   # the sample named is the sample drawn
    assert 3 in samples_drawn
    waiting = [f for f in frames if "computing sample" in f["header"]]
    assert waiting                               # while a sample is computed the diagram says so
    unheld = [f for f in frames if f["values"] is not None and "f" not in f["held"]]
    for f in unheld:                             # before the clamp arrived: the free cell, and it says so if asked
        assert f["values"]["f"] != 1.0 or "computing" in f["header"]


def test_a_replayed_epoch_is_never_drawn_with_the_latest_weights(qtbot, qsettings, app_paths):
    win = large_window(qtbot, qsettings)
    with qtbot.waitSignal(win.sigTrainingFinished, timeout=180000):
        win.start_training(epochs=1)
    qtbot.waitUntil(lambda: not win.display.busy and not win.session.waiting, timeout=120000)
    run, s = win.run, win.session
    assert win.replay_bar.epochs == [0, 1]
    s.set_position(unit=7, t=250)
    frames = []
    _record(win, frames)
    win.replay_bar.set_epoch(0)
    assert win.replay_bar.label.text().startswith("computing epoch 0")    # not yet drawn: it says so
    for sample in (2, 5, 1):
        s.set_position(sample=sample)
        qtbot.wait(1)
    qtbot.waitUntil(lambda: not s.waiting and not win.display.busy, timeout=120000)
    assert s.trace_source == Source(1, "epoch", 0) and "epoch 0" in win.replay_bar.label.text()
    latest, epoch0 = run.model.state_dict(), run.epoch_state(0)
    labelled = [f for f in frames if f["values"] is not None and f["replay"].startswith("epoch 0")
                and "computing" not in f["header"]]
    assert labelled
    for f in labelled:
        k = _sample_of(f["header"])
        ref = shown_trace(run, epoch0, k)
        assert f["values"]["h"] == ref.h[0, f["t"], f["unit"]]
        assert f["values"]["h"] != shown_trace(run, latest, k).h[0, f["t"], f["unit"]]
    latest_labelled = [f for f in frames if f["values"] is not None and f["replay"] == "latest"
                       and "computing" not in f["header"]]
    for f in latest_labelled:
        k = _sample_of(f["header"])
        assert f["values"]["h"] == shown_trace(run, latest, k).h[0, f["t"], f["unit"]]


def test_a_small_models_replay_is_drawn_at_once(qtbot, qsettings, app_paths):
    epoch = 0
    win = make_window(qtbot, qsettings)
    with qtbot.waitSignal(win.sigTrainingFinished, timeout=60000):
        win.start_training(epochs=1)
    qtbot.waitUntil(lambda: not win.display.busy and not win.session.waiting, timeout=20000)
    win.replay_bar.set_epoch(epoch)
    assert not win.session.waiting and win.session.trace_source == Source(0, "epoch", epoch)
    assert np.array_equal(win.trace.h, win.run.replay_trace(epoch, 0).h)


def test_the_through_time_plot_says_which_pass_it_draws(qtbot, qsettings, app_paths):
    win = make_window(qtbot, qsettings)
    win.plot_docks["grad_through_time"].raise_()
    plot = win.through_time_plot
    titles = []
    win.sigRedrawn.connect(lambda: titles.append(plot.title_text()))
    with qtbot.waitSignal(win.sigTrainingFinished, timeout=60000):
        win.start_training(epochs=1)
    qtbot.waitUntil(lambda: not win.display.busy and not win.session.waiting, timeout=20000)
    run = win.run
    assert any("the latest training step (its batch)" in t for t in titles), titles     # while training
    steps = run.trainer.step
    qtbot.waitUntil(lambda: f"sample 0, weights after step {steps}" in plot.title_text(), timeout=5000)
    qtbot.waitUntil(lambda: win.turns.pending == 0, timeout=5000)    # its curves drawn in its own turn
    _, gn, _ = run.model.compute_grads(*run.sample_pair(0), run.dataset.loss)
    np.testing.assert_array_equal(plot.dh_curve.yData, gn.dh)                    # what the title says
    win.interventions.hold("f", 1.0)
    qtbot.waitUntil(lambda: "1 intervention held" in plot.title_text(), timeout=5000)
    assert f"sample 0, weights after step {steps}, 1 intervention held" in plot.title_text()


def test_the_command_lines_through_time_plot_names_its_sample_and_weights(qtbot):
    from explorer.figures.report import fill_run_plots

    run = small_run()
    list(run.trainer.steps(max_steps=7))
    through = fill_run_plots(run, forecast=0)["grad_through_time"]
    assert through.title_text() == "Gradient norm through time \u2014 validation sample 0, weights after step 7"
    _, gn, _ = run.model.compute_grads(*run.sample_pair(0), run.dataset.loss)
    _, rows = through.csv_rows()
    np.testing.assert_allclose([dh for _, dh, _ in rows], gn.dh, rtol=1e-12)


def test_the_samples_clamped_pass_runs_once_per_request(monkeypatch):
    from explorer.engine import RecurrentModel

    run = small_run()
    x, _ = run.sample_pair(2)
    passes = []
    real = RecurrentModel.forward

    def counting(self, xs, *args, interventions=None, **kw):
        if interventions and np.shape(xs) == np.shape(x) and np.array_equal(xs, x):
            passes.append(1)
        return real(self, xs, *args, interventions=interventions, **kw)

    monkeypatch.setattr(RecurrentModel, "forward", counting)
    d = display_request(TaskState(), run, run.model.state_dict(), Source(2, interventions=(Clamp("o", 0.0),)),
                        norms=False)
    assert len(passes) == 1                      # the trace's pass; the effect reuses its outputs
    ds = run.dataset
    assert np.array_equal(d.comparison.sample_with, ds.normalizer.inverse(d.trace.y[0, :, 0], column=ds.target_index))
    assert "validation loss" in d.comparison.loss_text()

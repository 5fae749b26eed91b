"""A live plot's redraw costs the same after 200,000 steps as after a few thousand: the points
handed to the plot items per redraw are bounded (counted), every value is read once as it arrives
(counted), and every extreme stays drawn."""

import numpy as np
import pytest

from explorer.figures.extremes import PeakIndex, ValueScan


class Counting:
    """Wraps ``np.isfinite`` in the plots and extremes modules: how many values a redraw reads."""

    def __init__(self, monkeypatch):
        import explorer.figures.extremes as ex
        import explorer.figures.plots as pl

        self.n = 0
        real = np.isfinite

        def isfinite(a, *args, **kw):
            self.n += np.size(a)
            return real(a, *args, **kw)

        fake = type("np", (), {"__getattr__": lambda _self, name: getattr(np, name)})()
        fake.isfinite = isfinite
        monkeypatch.setattr(ex, "np", fake)
        monkeypatch.setattr(pl, "np", fake)


def handed(widget) -> int:
    """Points the plot's items hold (what the last redraw handed them)."""
    items = [widget.global_curve, widget.clip_scatter, widget.epoch_item, *widget.gate_curves.values()]
    return sum(len(i.xData) for i in items if i.xData is not None)


def most(per_step: dict, lo: int) -> int:
    """The most of a redraw's count over one doubling of the steps from ``lo`` (the buckets go
    through one merge in it)."""
    return max(v for n, v in per_step.items() if lo < n <= 2 * lo)


def test_value_scan_says_what_a_plot_with_nothing_to_draw_says():
    scan = ValueScan()
    assert scan.reason() == ""
    scan.update([0.0, 0.0])
    assert scan.reason() == "every value is 0"
    scan.update(np.array([np.inf]))
    assert scan.reason() == ""                       # a 0 and an infinity: the 0s are drawn
    other = ValueScan()
    other.update([np.nan, np.inf])
    assert other.reason() == "every value is infinite or not a number"
    other.update([0.5])
    assert other.reason() == "" and other.n == 3 and other.finite == 1


def test_a_long_partial_bucket_is_drawn_as_its_extremes():
    rng = np.random.default_rng(5)
    values = rng.standard_normal(100_000)
    peaks = PeakIndex(most=64)
    peaks.update(values)
    tail = len(values) - peaks.done
    assert tail > PeakIndex.TAIL                      # (64 buckets of 1,024 and 34,464 left)
    idx = peaks.indices(len(values), values)
    assert len(idx) <= 1 + 2 * 64 + 2 * PeakIndex.TAIL + tail // PeakIndex.TAIL + 1
    assert np.all(np.diff(idx) > 0)
    rest = values[peaks.done:]
    assert peaks.done + int(np.argmax(rest)) in idx and peaks.done + int(np.argmin(rest)) in idx
    assert int(np.argmax(values)) in idx and int(np.argmin(values)) in idx
    assert len(peaks.indices(len(values))) == len(np.unique(np.concatenate([[0], peaks.lo, peaks.hi]))) + tail


@pytest.mark.parametrize("clipped_share", [0.0, 0.3])
def test_grad_norm_redraw_work_does_not_grow_with_the_steps(qapp, monkeypatch, clipped_share):
    from explorer.figures.plots import GradNormPlotWidget

    rng = np.random.default_rng(2)
    w = GradNormPlotWidget()
    w.append_steps([], [], {}, [], [], 1.0)
    count = Counting(monkeypatch)
    points, reads = {}, {}
    total, k = 0, 1000
    while total < 200_000:
        steps = np.arange(total + 1, total + k + 1)
        g = rng.lognormal(size=k)
        gates = {x: rng.lognormal(size=k) for x in "ifgo"}
        w.append_steps(steps, g, gates, rng.random(k) < clipped_share, steps[:1] if total % 2500 == 0 else [])
        total += k
        count.n = 0
        w._draw()
        w._update_empty()
        points[total], reads[total] = handed(w), count.n
    late = [points[n] for n in points if n >= 20_000]
    assert max(late) <= 5 * (2 * 2048 + 2 * PeakIndex.TAIL + 2) + 2 * 1500 + 2 * 120 + 8
    assert most(points, 100_000) <= 1.1 * most(points, 20_000)      # the same work after 5–10× the steps
    assert most(reads, 100_000) <= 1.1 * most(reads, 20_000)
    assert w.nothing_to_draw() == ""
    full = w.global_norm.view
    y = w.global_curve.yData
    assert y.max() == full.max() and y.min() == full.min()          # every extreme stays drawn
    if clipped_share:
        cx, cy = w.clip_scatter.xData, w.clip_scatter.yData
        assert 0 < len(cx) <= 1500 and cy.max() == full[w.clipped.view].max()


def test_loss_of_every_step_redraw_work_does_not_grow_with_the_steps(qapp, monkeypatch):
    from explorer.figures.panel import PlotPanelWidget
    from explorer.figures.plots import LossPlotWidget

    rng = np.random.default_rng(4)
    n_all = 200_000
    steps = np.arange(1, n_all + 1)
    loss = np.exp(-steps / 50_000) * rng.lognormal(size=n_all)
    w = LossPlotWidget()
    count = Counting(monkeypatch)
    points, reads = {}, {}
    for n in range(1000, n_all + 1, 1000):              # no epoch has ended: the loss of every step
        count.n = 0
        w.set_step_losses(steps[:n], loss[:n])
        w._draw()
        w._update_empty()
        points[n], reads[n] = len(w.train_curve.xData), count.n
    assert max(points[n] for n in points if n >= 20_000) <= 2 * 2048 + 2 * PeakIndex.TAIL + 2
    assert most(points, 100_000) <= 1.1 * most(points, 20_000)
    assert most(reads, 100_000) <= 1.1 * most(reads, 20_000)
    y = w.train_curve.yData
    assert y.max() == loss.max() and y.min() == loss.min()
    assert w.nothing_to_draw() == "" and len(w.val) == n_all and np.isnan(w.val).all()
    for first, other, said in [(7, np.full(10_000, np.nan), "every value is infinite or not a number"),
                               (9, np.zeros(10_000), "")]:     # other runs (0s beside no validation loss: drawn)
        w.set_step_losses(steps[:10_000] + first, other)
        assert w.nothing_to_draw() == said == PlotPanelWidget.nothing_to_draw(w)   # = reading every value


def test_a_plot_behind_another_dock_tab_is_drawn_when_its_tab_is_raised(qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QDockWidget, QMainWindow

    from explorer.figures.plots import GradNormPlotWidget, LossPlotWidget

    win = QMainWindow()
    qtbot.addWidget(win)
    loss, grad = LossPlotWidget(), GradNormPlotWidget()
    docks = []
    for title, w in (("Loss", loss), ("Gradient norm", grad)):
        dock = QDockWidget(title, win)
        dock.setWidget(w)
        win.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        docks.append(dock)
    win.tabifyDockWidget(*docks)
    docks[0].raise_()
    win.resize(900, 600)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: not loss.visibleRegion().isEmpty())
    assert grad.isVisible() and grad.visibleRegion().isEmpty()        # Qt's hidden tab page: "visible", off screen
    draws = []
    real = grad._draw
    grad._draw = lambda: (draws.append(grad.steps.n), real())
    for k in range(5):                                                 # five redraws while behind the Loss tab
        steps = np.arange(100 * k + 1, 100 * k + 101)
        grad.append_steps(steps, np.full(100, 0.5), {"f": np.full(100, 0.25)}, np.zeros(100, bool), [])
        loss.set_step_losses(np.arange(1, 100 * k + 101), np.full(100 * k + 100, 0.1))
    assert draws == [] and len(loss.train_curve.xData) == 500          # the one on screen follows
    docks[1].raise_()
    qtbot.waitUntil(lambda: draws == [500])                            # drawn once, with every step
    assert len(grad.global_curve.xData) == 500 and grad.gate_curves["f"].yData[-1] == 0.25


def test_work_pacer_keeps_optional_work_to_a_share_of_the_time():
    from explorer.app.pacing import SHARE_FACTOR, WorkPacer

    now = [10.0]
    pacer = WorkPacer(cap=30.0, clock=lambda: now[0])
    runs = []
    while now[0] < 110.0:                     # asked at every redraw (every 0.5 s) for 100 s
        if pacer.due():
            pacer.begin()
            runs.append(now[0])
            now[0] += 0.2                     # each run takes 0.2 s
            pacer.end()
        now[0] += 0.5
    gaps = np.diff(runs)
    assert pacer.cost == pytest.approx(0.2) and len(runs) >= 10
    assert np.all(gaps >= SHARE_FACTOR * 0.2 - 1e-9) and np.all(gaps <= SHARE_FACTOR * 0.2 + 0.5 + 1e-9)
    assert 0.2 * len(runs) / 100.0 <= 1.0 / SHARE_FACTOR + 0.01          # about 3 % of the time
    pacer.begin()                             # a run that never reports its end
    now[0] += 29.0
    assert not pacer.due()
    now[0] += 1.0
    assert pacer.due()


def test_the_comparison_computes_connectivity_off_the_gui_thread_while_training(qtbot):
    from explorer.data.examples import load_example
    from explorer.gui.comparison import ComparisonWindow
    from explorer.runs.store import settings_for_example

    cw = ComparisonWindow(load_example("adding"), settings_for_example("adding", units=4), ["rnn", "lstm"],
                          max_steps=200, eval_every=20)

    def close():
        cw.close()
        cw.after_close()

    qtbot.addWidget(cw, before_close_func=lambda _w: close())
    cw.show()
    qtbot.waitExposed(cw)
    asked = []
    start = cw.conn_task.start
    cw.conn_task.start = lambda fn, tag=None, direct=False: (asked.append((cw.training, direct)),
                                                             start(fn, tag=tag, direct=direct))
    drawn = []
    cw.sigResult.connect(lambda _r: drawn.append(cw.training))
    with qtbot.waitSignal(cw.sigFinished, timeout=180000):
        assert cw.start()
    assert drawn.count(True) >= 1 and drawn[-1] is False
    assert all(not direct for training, direct in asked if training)            # never on the GUI thread
    assert asked[-1] == (False, True)                                            # the final weights': at once
    qtbot.waitUntil(lambda: cw.conn_pacer.began is None, timeout=30000)
    final = {c: cw.result.of(c)[0].step for c in ("rnn", "lstm")}
    assert final == {"rnn": 200, "lstm": 200} and len(cw.connectivity) == 2


def test_a_task_sends_updates_as_often_as_the_window_draws_them_and_every_step_once():
    from explorer.app.pacing import RedrawPacer
    from explorer.app.tasks import TaskState, TrainingUpdate, train_task
    from explorer.data.examples import load_example
    from explorer.runs.store import Run, settings_for_example

    now, cpu = [0.0], [0.0]
    pacer = RedrawPacer(clock=lambda: now[0], cpu_clock=lambda: cpu[0])
    mark = pacer.begin()
    now[0] += 0.02
    cpu[0] += 0.02
    pacer.end(mark)                                    # a 20 ms redraw: one every 0.6 s
    got = []
    state = TaskState(on_partial=got.append)
    pacer.tell(state)
    assert (pacer.interval, state.update_interval, state.trace_interval) == pytest.approx((0.6, 0.3, 0.48))
    run = Run(load_example("sine"), settings_for_example("sine", units=4, epochs=2))
    tr = run.trainer
    train_task(state, tr, clock=lambda: tr.step * 0.01)       # a simulated 100 steps a second
    ups = [u for u in got if isinstance(u, TrainingUpdate)]
    np.testing.assert_array_equal(np.concatenate([u.step for u in ups]), np.arange(1, tr.total_steps + 1))
    assert [len(u) for u in ups[1:-1]] == [30] * (len(ups) - 2)     # 0.3 s of steps each, not 1/30 s
    assert len(ups) == 1 + -(-(tr.total_steps - 1) // 30)


def test_every_comparison_snapshot_a_view_is_sent_carries_the_traces():
    from explorer.app.compare import Comparison, comparison_task
    from explorer.app.tasks import TaskState
    from explorer.data.examples import load_example
    from explorer.runs.store import settings_for_example

    ds = load_example("sine")
    comp = Comparison(ds, settings_for_example("sine", units=3), ["rnn", "lstm"], max_steps=300, eval_every=50)
    got = []
    state = TaskState(on_partial=got.append)
    state.sample, state.trace_interval, state.update_interval = 2, 0.5, 0.3
    done = lambda: sum(r.step for r in comp.runs)            # noqa: E731 - a simulated 100 steps a second
    comparison_task(state, comp, chunk=5, clock=lambda: done() * 0.01)
    steps = [s.steps_done for s in got]
    assert len(got) >= 8 and steps == sorted(steps) and steps[-1] == 600
    assert all(r.trace is not None and r.sample == 2 for s in got for r in s.results)
    assert all(b - a >= 50 for a, b in zip(steps[1:-1], steps[2:-1]))   # ≥ 0.5 s of simulated time apart

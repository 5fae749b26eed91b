"""A redraw's pieces come in event-loop turns of their own (explorer.gui.turns), in the main window
and in the comparison view, while training, opening a run and exporting: in no turn of the GUI
thread's event loop are two heavy widgets painted, or two pieces of queued work run.

That is what these tests assert: the structure, on any machine. How long a turn takes is measured
by ``benchmarks/gui_bench.py`` (its ``max_turn``), not asserted here: the same turn costs two to
four times more CPU on a slower or shared machine. The tests print the longest turn they saw."""

import gc
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QEvent, QObject, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication, QHBoxLayout, QWidget  # noqa: E402

from explorer.data.examples import load_example  # noqa: E402
from explorer.gui.turns import TurnQueue, on_screen  # noqa: E402
from explorer.runs.store import Run, settings_for_example  # noqa: E402

SIZES = [(1024, 700), (1600, 1000)]


@pytest.fixture(autouse=True)
def _settled():
    """As a built window does (``main_gc.settle_now``): what exists is collected and frozen, so a
    full collection during the test scans what the test makes, not the whole test session's heap
    (the conftest unfreezes afterwards)."""
    gc.collect()
    gc.freeze()
    yield
    for log in _LOGS:                         # a test that failed before its check: no timer left ticking
        log.timer.stop()
    _LOGS.clear()


_LOGS: list = []


class TurnProbe:
    """A precise timer (1 ms; 0: every turn of the event loop): ``marks`` notes, per tick, what
    ``mark()`` was told since the last tick (which paints a turn did)."""

    def __init__(self, interval_ms: int = 1):
        self.interval = interval_ms
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.marks: list[list] = []
        self._now: list = []

    def start(self):
        self.marks, self._now = [], []
        self.timer.start(self.interval)

    def mark(self, what) -> None:
        self._now.append(what)

    def _tick(self):
        self.marks.append(self._now)
        self._now = []

    def stop(self) -> list[list]:
        """Stop; the marks of every turn (the last one's too)."""
        self.timer.stop()
        self._tick()
        return self.marks


class PaintCounter(QWidget):
    """A widget that notes each of its paints on ``probe``."""

    def __init__(self, name, probe):
        super().__init__()
        self.name, self.probe, self.paints = name, probe, 0
        self.setMinimumSize(60, 40)

    def paintEvent(self, e):  # noqa: N802
        self.paints += 1
        self.probe.mark(self.name)
        QPainter(self).fillRect(self.rect(), Qt.GlobalColor.white)


def _drained(turns):
    return turns.pending == 0 and not turns.timer.isActive()


class TurnLog(QObject):
    """Per pass of the GUI thread's event loop (a 0-ms timer ticks once in each pass): which paint
    units of ``turns`` had a picture painted and how many of its pieces (a held unit's repaint or a
    job) ran. A picture is what costs a paint: a plot's, a heatmap's, the equations' or the
    table's viewport, a diagram's canvas (a header line or a check box beside it costs little).
    The GUI thread's CPU time per pass is kept too, to be printed, not asserted."""

    def __init__(self, turns: TurnQueue):
        super().__init__()
        self.turns = turns
        self.owner: dict[QWidget, str] = {}
        self.pictures: set = set()
        self.tops: set = set()
        self._laid_out = False
        self._at: dict = {}
        self.passes: list[tuple[set, int, bool]] = []
        self.cpu: list[float] = []
        self._units: set[str] = set()
        self._pieces = 0
        self._t0 = 0.0
        self.timer = QTimer()
        self.timer.setInterval(0)
        self.timer.timeout.connect(self._tick)
        turns.timer.installEventFilter(self)
        _LOGS.append(self)

    def watch(self) -> None:
        """Watch the units' widgets and their children (a panel built into a slot later too)."""
        for name, unit in self.turns.units().items():
            for w in unit:
                self.tops.add(w)
                self._own(w, name)

    def _own(self, w: QWidget, name: str) -> None:
        from PySide6.QtWidgets import QAbstractScrollArea

        from explorer.figures.cell_canvas import CellCanvas

        for x in (w, *w.findChildren(QWidget)):
            if x not in self.owner:
                self.owner[x] = name
                area = x.parent()
                if isinstance(x, CellCanvas) or (isinstance(area, QAbstractScrollArea) and area.viewport() is x):
                    self.pictures.add(x)
                x.installEventFilter(self)

    def start(self) -> "TurnLog":
        self.watch()
        self.passes, self.cpu, self._units, self._pieces, self._laid_out = [], [], set(), 0, False
        self._t0 = time.thread_time()
        self.timer.start()
        return self

    def stop(self) -> None:
        self._tick()
        self.timer.stop()

    def eventFilter(self, obj, e):  # noqa: N802
        if e.type() == QEvent.Type.Paint and obj in self.pictures:
            self._units.add(self.owner[obj])
        elif e.type() == QEvent.Type.ChildPolished and obj in self.owner and e.child().isWidgetType():
            self._own(e.child(), self.owner[obj])        # (a panel built into its slot, shown)
        elif e.type() == QEvent.Type.Timer and obj is self.turns.timer:
            self._pieces += 1
        elif obj in self.owner and (e.type() == QEvent.Type.Show
                                    or (e.type() == QEvent.Type.Resize and e.size() != e.oldSize())
                                    or (e.type() == QEvent.Type.Move and e.pos() != e.oldPos())):
            self._laid_out = True                 # (a unit's widget, or one in it: a heatmap's grid shown)
        return False

    def _tick(self):
        now = time.thread_time()
        if self._units:                           # a unit painted where it was not: moved with what it is in
            units = self.turns.units()
            for name in self._units:
                w = units[name][0]
                at = w.mapTo(w.window(), w.rect().topLeft()).toTuple()
                if self._at.get(name, at) != at:
                    self._laid_out = True
                self._at[name] = at
        self.passes.append((self._units, self._pieces, self._laid_out))
        self.cpu.append(now - self._t0)
        self._units, self._pieces, self._laid_out, self._t0 = set(), 0, False, now

    def check(self, label: str = "", first_frame: bool = False) -> list[set]:
        """Assert one piece and at most one unit's paint per pass; print the longest pass's CPU.
        Returns the units painted, pass by pass (the passes that painted one). Not checked: a pass
        in which a unit's widget or one in it was shown, moved or resized (or a unit painted at
        another place in its window than at its last paint: what it is in moved), and the next (a layout change: Qt
        repaints what it moved at its next paint, as it must: held, the widget would show nothing
        of its new place), and with
        ``first_frame`` (the log began before the window was shown) the passes up to its first
        frame, which paints every widget shown at once."""
        self.stop()
        passes = self.passes
        if first_frame:
            first = next((k for k, (u, _n, _m) in enumerate(passes) if u), len(passes))
            passes = passes[first + 1:]
        after = [False] + [m for _u, _n, m in passes[:-1]]       # (what it moved is painted by the next)
        crowded = [(sorted(u), n) for (u, n, moved), before in zip(passes, after)
                   if n > 1 or (len(u) > 1 and not (moved or before))]
        assert not crowded, f"passes of the event loop that painted several units or ran several pieces: {crowded}"
        painted = [u for u, _n, _m in self.passes if u]
        laid_out = sum(m for _u, _n, m in passes)
        steady = [c for c, (_u, _n, m), b in zip(self.cpu, self.passes, [False] + [m for *_x, m in self.passes])
                  if not (m or b)]
        print(f"\n{label}: {len(self.passes)} passes, {sum(n for _u, n, _m in self.passes)} pieces, "
              f"{len(painted)} unit paints, {laid_out} layout changes; the longest pass "
              f"{max(self.cpu) * 1000:.0f} ms of GUI-thread CPU, {max(steady, default=0) * 1000:.0f} ms "
              f"without a layout change")
        return painted


# -- the queue itself -------------------------------------------------------------------------------------------
@pytest.fixture
def three(qtbot):
    probe = TurnProbe(0)
    top = QWidget()
    lay = QHBoxLayout(top)
    widgets = {k: PaintCounter(k, probe) for k in ("a", "b", "c")}
    for w in widgets.values():
        lay.addWidget(w)
    qtbot.addWidget(top)
    turns = TurnQueue(lambda: {"a": (widgets["a"],), "bc": (widgets["b"], widgets["c"])}, top)
    turns.watch()                             # as a window does once built, before it is shown
    top.show()
    qtbot.waitExposed(top)
    qtbot.waitUntil(lambda: all(w.paints for w in widgets.values()))
    yield probe, widgets, turns
    top.close()


def test_held_units_are_painted_one_per_turn_and_not_before(qtbot, three):
    probe, w, turns = three
    probe.start()
    before = {k: x.paints for k, x in w.items()}
    turns.hold()
    for x in w.values():                      # what a redraw does: every widget changed at once
        x.update()
    assert not w["a"].updatesEnabled() and not w["b"].updatesEnabled() and turns.pending == 2
    with qtbot.waitSignal(turns.sigDrained, timeout=5000):
        pass
    assert {k: x.paints - before[k] for k, x in w.items()} == {"a": 1, "b": 1, "c": 1}
    painted = [m for m in probe.stop() if m]
    assert painted == [["a"], ["b", "c"]]     # a unit per turn; a unit's widgets in the same turn
    assert all(x.updatesEnabled() for x in w.values())


def test_a_newer_job_replaces_an_older_one_not_yet_run_and_keeps_its_place(qtbot, three):
    probe, w, turns = three
    ran = []
    turns.defer("first", lambda: ran.append("first 1"))
    turns.defer("second", lambda: ran.append("second"), holds=("a",))
    turns.defer("first", lambda: ran.append("first 2"))
    with qtbot.waitSignal(turns.sigDrained, timeout=5000):
        pass
    assert ran == ["first 2", "second"]


def test_a_job_deferred_to_the_end_replaces_an_older_one_behind_what_is_queued(qtbot, three):
    probe, w, turns = three
    ran = []
    turns.defer("column", lambda: ran.append("column 1"), to_end=True)
    turns.defer("memory", lambda: ran.append("memory 1"), to_end=True)
    turns.defer("column", lambda: ran.append("column 2"), to_end=True)   # the next snapshot's pieces
    turns.defer("memory", lambda: ran.append("memory 2"), to_end=True)
    with qtbot.waitSignal(turns.sigDrained, timeout=5000):
        pass
    assert ran == ["column 2", "memory 2"]                               # in its own order


def test_a_unit_off_screen_is_not_held(qtbot, three):
    probe, w, turns = three
    w["a"].hide()
    turns.hold()
    assert w["a"].updatesEnabled() and not w["b"].updatesEnabled() and turns.pending == 1
    with qtbot.waitSignal(turns.sigDrained, timeout=5000):
        pass
    assert turns.pending == 0 and w["b"].updatesEnabled()


# -- the main window ------------------------------------------------------------------------------------------
def _main_window(qtbot, qsettings, size, run):
    from explorer.gui.main_window import MainWindow

    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    win.set_run(run)
    qtbot.waitUntil(lambda: win.trace is not None and _drained(win.turns), timeout=30000)
    return win


@pytest.mark.parametrize("size, tab", [((1024, 700), "loss"), ((1600, 1000), "gates")],
                         ids=["1024x700-loss", "1600x1000-gates"])
def test_training_in_the_window_never_blocks_the_gui_thread(qtbot, qsettings, app_paths, size, tab):
    """Training while the person plays the timesteps (a step every 60 ms), the loss or the gates'
    heatmaps shown."""
    run = Run(load_example("adding"), settings_for_example("adding", units=32, epochs=2))
    win = _main_window(qtbot, qsettings, size, run)
    win.plot_docks[tab].raise_()
    qtbot.waitUntil(lambda: not win.plot_widgets[tab].visibleRegion().isEmpty() and _drained(win.turns))
    player = QTimer()
    player.timeout.connect(lambda: win.session.set_position(t=(win.session.position.t + 1) % run.dataset.seq_len))
    redraws, held, traced = [], [], []
    win.session.events.trace.connect(lambda _tr: traced.append(True))

    def redrawn():
        redraws.append(win.session.progress.step)
        if traced:                            # a redraw with a new trace: the diagram is held
            held.append(not win.diagram.updatesEnabled())
            traced.clear()

    win.sigRedrawn.connect(redrawn)
    log = TurnLog(win.turns).start()
    player.start(60)
    with qtbot.waitSignal(win.sigTrainingFinished, timeout=300000) as fin:
        win.start_training(epochs=2)
    player.stop()
    qtbot.waitUntil(lambda: _drained(win.turns), timeout=30000)
    painted = log.check(f"training, {tab}")
    assert fin.args == ["done"] and len(redraws) >= 2 and held
    assert all(held)                          # every live redraw left the diagram's paint to a later turn
    assert win.diagram.updatesEnabled() and win.equations.updatesEnabled()
    assert {"diagram", "equations", tab} <= set().union(*painted)      # each painted, in turns of their own
    # drawn, the diagram and the equations show the last step's trace
    tr = win.session.view_trace()
    t, u = win.session.position.t, win.session.position.unit
    assert win.equations.equation_values()["h"]["value"] == pytest.approx(float(tr.h[0, t, u]), abs=5e-4)


def test_a_new_timestep_is_painted_in_turns_and_every_view_shows_it(qtbot, qsettings, app_paths):
    run = Run(load_example("adding"), settings_for_example("adding", units=8, epochs=1))
    win = _main_window(qtbot, qsettings, (1600, 1000), run)
    tr = win.session.view_trace()
    t = win.session.position.t + 7
    with qtbot.waitSignal(win.turns.sigDrained, timeout=10000):
        win.session.set_position(t=t)
        assert not win.diagram.updatesEnabled() and not win.equations.updatesEnabled()   # painted in turns
    u = win.session.position.unit
    assert win.diagram.t == win.equations.t == t
    assert win.equations.equation_values()["h"]["value"] == pytest.approx(float(tr.h[0, t, u]), abs=5e-4)
    assert win.diagram.updatesEnabled() and win.equations.updatesEnabled()


def test_opening_a_run_never_blocks_the_gui_thread(qtbot, qsettings, app_paths, tmp_path):
    run = Run(load_example("adding"), settings_for_example("adding", units=64, epochs=2))
    for _ in run.trainer.steps():
        pass
    run.save(tmp_path / "run")
    steps = run.trainer.step
    start = Run(load_example("adding"), settings_for_example("adding", units=8, epochs=1))
    win = _main_window(qtbot, qsettings, (1600, 1000), start)
    log = TurnLog(win.turns).start()
    with qtbot.waitSignal(win.sigRunOpened, timeout=60000):
        assert win.open_run(tmp_path / "run")
    qtbot.waitUntil(lambda: _drained(win.turns) and not win.display.busy, timeout=60000)
    painted = log.check("opening a run")
    assert win.session.progress.step == steps and len(win.grad_plot.gates) == 5     # i, f, g, o and the head
    assert {"diagram", "equations", "loss"} <= set().union(*painted)


def test_export_all_never_blocks_the_gui_thread(qtbot, qsettings, app_paths, tmp_path):
    run = Run(load_example("adding"), settings_for_example("adding", units=32, epochs=1))
    for _ in run.trainer.steps(max_steps=200):
        pass
    win = _main_window(qtbot, qsettings, (1600, 1000), run)
    log = TurnLog(win.turns).start()
    task = win.exporter.start_export_all(tmp_path / "export")
    with qtbot.waitSignal(task.finished, timeout=120000) as done:
        pass
    log.check("Export all")
    assert len(done.args[0]) == task.total == 26


def test_a_plot_tab_raised_after_training_shows_every_step_of_the_run(qtbot, qsettings, app_paths):
    """A plot behind another tab is not drawn while training; raised, it draws the steps as they
    are now, not as they were when it was hidden."""
    run = Run(load_example("adding"), settings_for_example("adding", units=8, epochs=1))
    win = _main_window(qtbot, qsettings, (1600, 1000), run)
    win.plot_docks["loss"].raise_()
    qtbot.waitUntil(lambda: win.grad_plot.visibleRegion().isEmpty())
    with qtbot.waitSignal(win.sigTrainingFinished, timeout=300000):
        win.start_training(epochs=1)
    n = win.session.progress.step

    def drawn() -> int:
        x = win.grad_plot.global_curve.xData
        return 0 if x is None else len(x)

    assert drawn() < n and win.grad_plot.steps.n == n          # every step held, none drawn since hidden
    win.plot_docks["grad_norms"].raise_()
    qtbot.waitUntil(lambda: drawn() == n, timeout=10000)
    table = run.trainer.step_table()
    np.testing.assert_array_equal(win.grad_plot.global_curve.xData, table["step"])
    np.testing.assert_allclose(win.grad_plot.global_curve.yData, table["grad_norm"])


# -- the comparison view --------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES, ids=["1024x700", "1600x1000"])
def test_the_comparison_view_never_blocks_the_gui_thread(qtbot, size):
    from explorer.gui.comparison import ComparisonWindow

    cw = ComparisonWindow(load_example("adding"), settings_for_example("adding"), ["rnn", "gru", "lstm"],
                          max_steps=300)

    def close():
        cw.close()
        cw.after_close()

    qtbot.addWidget(cw, before_close_func=lambda _w: close())
    cw.resize(*size)
    cw.show()
    qtbot.waitExposed(cw)
    shown = []
    cw.sigResult.connect(lambda r: shown.append((r.steps_done, cw.table_texts()[2][5])))
    qtbot.waitUntil(lambda: _drained(cw.turns), timeout=30000)          # opened: every panel built
    log = TurnLog(cw.turns).start()           # from the first snapshot on: its diagrams, curves and table
    with qtbot.waitSignal(cw.sigFinished, timeout=300000) as fin:
        assert cw.start()
    qtbot.waitUntil(lambda: _drained(cw.turns), timeout=30000)
    painted = log.check(f"the comparison view at {size}")
    assert fin.args == ["done"] and len(shown) >= 2
    # sigResult comes once a snapshot is drawn: the table says the snapshot's step
    assert all(text == f"{steps // 3} / 300" for steps, text in shown)
    col = cw.columns["lstm"]
    assert col.session.trace is cw.result.of("lstm")[0].trace and "step 300 / 300" in col.header.text()
    assert col.header.updatesEnabled() and col.diagram.updatesEnabled()
    assert set(cw.paint_units()) <= set().union(*painted)             # each painted, in turns of their own


def test_a_comparison_column_header_and_diagram_are_painted_in_the_same_turn(qtbot):
    """They name the same step: one is never painted with a newer snapshot than the other."""
    from explorer.gui.comparison import ComparisonWindow

    cw = ComparisonWindow(load_example("adding"), settings_for_example("adding", units=4), ["rnn", "lstm"],
                          max_steps=60, eval_every=20)
    qtbot.addWidget(cw, before_close_func=lambda _w: (cw.close(), cw.after_close()))
    cw.show()
    qtbot.waitExposed(cw)
    qtbot.waitUntil(lambda: _drained(cw.turns), timeout=30000)       # opened: every panel built and painted
    probe = TurnProbe()
    col = cw.columns["lstm"]
    from PySide6.QtCore import QEvent, QObject

    class Watch(QObject):
        def eventFilter(self, obj, e):  # noqa: N802
            if e.type() == QEvent.Type.Paint:
                probe.mark(obj.objectName() or "header")
            return False

    watch = Watch()
    col.header.installEventFilter(watch)
    col.diagram.installEventFilter(watch)
    probe.start()
    with qtbot.waitSignal(cw.sigFinished, timeout=180000):
        assert cw.start()
    qtbot.waitUntil(lambda: _drained(cw.turns), timeout=30000)
    together = [m for m in probe.stop() if m]
    assert together and all(sorted(set(m)) == ["diagram_lstm", "header"] for m in together)


def _first_snapshot_is_drawn_whole(cw, res) -> None:
    """Every panel exists and shows the snapshot ``res``: the table's step and loss, each header,
    each loss curve, each diagram's h at the shared position."""
    from explorer.engine.describe import describe

    assert all(slot.panel is not None for slot in cw.slots.values())
    assert set(cw.widgets) == {"loss_curves", "grad_through_time", "connectivity", "diagram_rnn", "diagram_gru",
                               "diagram_lstm", "memory_gru", "memory_lstm"}
    rows = cw.table_texts()
    for k, cell in enumerate(cw.cells):
        r = res.of(cell)[0]
        assert rows[k][0] == describe(cell).title
        assert rows[k][5] == f"{r.step} / {r.max_steps}" and rows[k][4] == f"{r.final_val_loss:.4g}"
        col = cw.columns[cell]
        assert f"step {r.step} / {r.max_steps}" in col.header.text()
        x, y = cw.loss_plot.curve(describe(cell).title)
        np.testing.assert_array_equal(x, r.eval_steps)
        np.testing.assert_array_equal(y, r.eval_losses)
        pos = col.session.position
        assert col.session.trace is r.trace and r.trace is not None
        assert col.diagram.displayed_values()["h"] == r.trace.h[0, pos.t, pos.unit]


@pytest.mark.parametrize("size", SIZES, ids=["1024x700", "1600x1000"])
def test_opening_the_comparison_view_never_blocks_the_gui_thread(qtbot, size):
    """Its frame opens at once; each plot, diagram and memory heatmap is built in a turn of its own.
    Training started before they exist draws its first snapshot into every one of them."""
    from explorer.gui.comparison import ComparisonWindow

    ds, settings = load_example("adding"), settings_for_example("adding")
    cw = ComparisonWindow(ds, settings, ["rnn", "gru", "lstm"], max_steps=300)
    log = TurnLog(cw.turns).start()
    qtbot.addWidget(cw, before_close_func=lambda _w: (cw.close(), cw.after_close()))
    cw.resize(*size)
    cw.show()
    assert all(slot.panel is None for slot in cw.slots.values())        # placeholders until their turns
    with qtbot.waitSignal(cw.sigResult, timeout=120000) as first:
        assert cw.start()
    painted = log.check(f"opening the comparison view at {size}", first_frame=True)
    cw.stop()
    _first_snapshot_is_drawn_whole(cw, first.args[0])
    assert set(cw.paint_units()) <= set().union(*painted)


def test_opening_the_comparison_view_from_the_menu_never_blocks_the_gui_thread(qtbot, qsettings, app_paths,
                                                                              monkeypatch):
    """Training › Compare Cells…, the dialog accepted: the view opens and starts training."""
    from PySide6.QtWidgets import QApplication

    from explorer.gui.comparison import ComparisonWindow

    run = Run(load_example("adding"), settings_for_example("adding", units=32, epochs=1))
    win = _main_window(qtbot, qsettings, (1024, 700), run)
    logs, made = [], ComparisonWindow.__init__

    def logged(self, *a, **kw):                 # logged from its first turn on
        made(self, *a, **kw)
        logs.append(TurnLog(self.turns).start())
    monkeypatch.setattr(ComparisonWindow, "__init__", logged)
    QTimer.singleShot(0, lambda: QApplication.activeModalWidget().accept())
    win.compare_action.trigger()
    cw = win.comparison_windows[-1]
    assert cw.training and sorted(cw.cells) == ["gru", "lstm", "rnn"]
    with qtbot.waitSignal(cw.sigResult, timeout=120000) as first:
        pass
    painted = logs[0].check("opening the comparison view from the menu", first_frame=True)
    cw.stop()
    _first_snapshot_is_drawn_whole(cw, first.args[0])
    assert set(cw.paint_units()) <= set().union(*painted)


def test_a_comparison_panel_used_before_its_turn_is_built_then_and_only_once(qtbot):
    from explorer.gui.comparison import ComparisonWindow

    cw = ComparisonWindow(load_example("adding"), settings_for_example("adding", units=4), ["rnn", "lstm"])
    qtbot.addWidget(cw, before_close_func=lambda _w: (cw.close(), cw.after_close()))
    cw.show()
    slot = cw.columns["lstm"].memory_slot
    assert slot.panel is None and cw.turns.pending == 6       # 2 diagrams, 1 heatmap, 3 plots
    memory, plot = cw.columns["lstm"].memory, cw.through_time_plot           # wanted now: built now
    assert slot.panel is memory and cw.through_time_slot.panel is plot
    assert cw.columns["rnn"].memory is None and cw.columns["rnn"].memory_slot is None
    qtbot.waitUntil(lambda: _drained(cw.turns), timeout=30000)
    assert cw.columns["lstm"].memory is memory and cw.through_time_plot is plot
    for s in cw.slots.values():                               # each holds its one panel, shown and painted
        assert s.layout().count() == 1 and s.panel.isVisible() and s.updatesEnabled() and s.panel.updatesEnabled()


@pytest.mark.parametrize("arrives_after", ["lstm column", "first curve"])
def test_a_snapshot_arriving_mid_draw_is_drawn_whole_and_each_plot_with_one_snapshot(qtbot, arrives_after):
    """The comparison view: a newer snapshot arriving while an older one is drawn replaces the
    older one's remaining pieces in order; each plot is painted with the curves and the title of
    one snapshot, and every column's memory heatmap ends on the newest trace."""
    from explorer.gui.comparison import ComparisonWindow
    cw = ComparisonWindow(load_example("adding"), settings_for_example("adding", units=4), ["rnn", "lstm"],
                          max_steps=400, eval_every=20)
    qtbot.addWidget(cw, before_close_func=lambda _w: (cw.close(), cw.after_close()))
    cw.show()
    qtbot.waitExposed(cw)
    results = []
    cw.sigResult.connect(results.append)
    with qtbot.waitSignal(cw.sigFinished, timeout=180000):
        assert cw.start()
    qtbot.waitUntil(lambda: cw.turns.pending == 0, timeout=30000)
    normed = [r for r in results if all(x.norms_dh_last is not None and x.trace is not None for x in r.results)]
    old, new = normed[-2], normed[-1]
    assert old.results[0].norms_step != new.results[0].norms_step
    log, memories = [], []
    curve, title, release = cw._show_through_time_curve, cw._through_time_title, cw.turns._release

    def first_curve_then_the_next_snapshot(cell, r):
        log.append((cell, r.norms_step))
        curve(cell, r)
        if len(log) == 1 and arrives_after == "first curve":
            cw.show_result(new)
    cw._show_through_time_curve = first_curve_then_the_next_snapshot
    column = cw.columns["lstm"]
    column.show_result = lambda r, _f=column.show_result: (_f(r), cw.show_result(new) if (
        r is old.of("lstm")[0] and arrives_after == "lstm column") else None)
    cw._through_time_title = lambda res: (log.append(("title", res.results[0].norms_step)), title(res))
    cw.turns._release = lambda name, unit: (log.append(("paint", name)) if name == "grad_through_time" else None,
                                            release(name, unit))
    lstm_memory = cw.columns["lstm"].memory                            # (the rnn keeps no cell state)
    assert cw.columns["rnn"].memory is None
    lstm_memory.set_memory = lambda m, _f=lstm_memory.set_memory, **kw: (memories.append(m), _f(m, **kw))
    cw.show_result(old)
    qtbot.waitUntil(lambda: cw.turns.pending == 0, timeout=10000)
    painted, state = [], {}
    for entry in log:
        if entry == ("paint", "grad_through_time"):
            painted.append(dict(state))
        else:
            state[entry[0]] = entry[1]
    assert painted and all(len(set(p.values())) == 1 for p in painted), painted
    assert set(painted[-1].values()) == {new.results[0].norms_step}
    for cell, col in cw.columns.items():                                 # every column on the newest
        assert col.session.trace is new.of(cell)[0].trace
    from explorer.gui.comparison import memory_to_end
    # the older memory drawn only when the newer snapshot came after it
    assert len(memories) == (1 if arrives_after == "lstm column" else 2)
    np.testing.assert_array_equal(memories[-1], memory_to_end(new.of("lstm")[0].trace))


def test_continue_right_after_the_end_is_not_undone_by_that_end_drawn_later(qtbot):
    """The comparison view says how training ended once the last snapshot is drawn, turns later:
    when the person pressed Continue meanwhile, that old end changes neither the button nor
    :attr:`sigFinished`."""
    from explorer.gui.comparison import ComparisonWindow
    cw = ComparisonWindow(load_example("adding"), settings_for_example("adding", units=4), ["rnn", "lstm"],
                          max_steps=60, eval_every=20)
    qtbot.addWidget(cw, before_close_func=lambda _w: (cw.close(), cw.after_close()))
    cw.show()
    qtbot.waitExposed(cw)
    finished, ends, restarted = [], [], []
    cw.sigFinished.connect(finished.append)
    told = cw._finished

    def end(reason):
        told(reason)
        ends.append((cw.training, cw.train_action.text(), list(finished)))
    cw._finished = end
    cw.runner.sigDone.connect(lambda _w: restarted or QTimer.singleShot(0, lambda: restarted.append(cw.start())))
    assert cw.start()
    qtbot.waitUntil(lambda: len(ends) == 2, timeout=120000)
    assert restarted == [True]
    assert ends[0][0] is True and ends[0][1] != "&Continue" and ends[0][2] == []   # Continue came first
    assert ends[1] == (False, "&Continue", ["done"])                              # its own end, told


def _black_share(img, win, widget) -> float:
    """The share of pure black pixels where ``widget`` is, in a picture ``img`` of the window."""
    from PySide6.QtCore import QRect

    top_left = widget.mapTo(win, widget.rect().topLeft())
    d = img.devicePixelRatio()                    # (the picture's pixels per logical pixel)
    r = QRect(int(top_left.x() * d), int(top_left.y() * d), int(widget.width() * d),
              int(widget.height() * d)).intersected(img.rect())
    img = img.copy(r).convertToFormat(img.Format.Format_RGB32)
    a = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)[:, :img.width(), :3]
    return float(np.mean(np.all(a == 0, axis=2)))


@pytest.mark.parametrize("size", SIZES, ids=["1024x700", "1600x1000"])
def test_no_view_is_black_on_screen_or_in_a_grab_from_the_moment_data_loads(qtbot, qsettings, app_paths, size):
    """A unit not painted since it was shown, moved or resized is not held (held, it would keep a
    paint of its place it never had: black); a grab of the window lets the held units paint first
    (a grab renders every widget afresh: one with its updates off comes out black). Looked at on
    the screen (the window's backing store) and in ``grab()``, at the data's arrival and after every
    turn until the queue drains, from a window shown a single event-loop pass before."""
    from explorer.gui.main_window import MainWindow
    from explorer.gui.turns import on_screen

    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.resize(*size)
    win.show()
    QApplication.processEvents()
    seen = []

    def look(grab: bool = False):
        views = {"diagram": win.diagram, "equations": win.equations,
                 **{k: w for k, w in win.plot_widgets.items() if on_screen(w)}}
        screen = win.screen().grabWindow(win.winId()).toImage()
        seen.append({k: _black_share(screen, win, w) for k, w in views.items()})
        if grab:                                  # (it runs what is queued: the turns end here)
            grabbed = win.grab().toImage()
            seen.append({k: _black_share(grabbed, win, w) for k, w in views.items()})

    with qtbot.waitSignal(win.sigDataLoaded, timeout=60000):
        win.open_example("sine")
    look(grab=True)                               # right after the data arrived: the screen, then a grab
    win.turns.timer.timeout.connect(look)         # and after each of the turns that follow
    win.start_training(epochs=1)
    qtbot.waitUntil(lambda: not win.training and _drained(win.turns), timeout=120000)
    win.turns.timer.timeout.disconnect(look)
    win.plot_docks["gates"].raise_()
    look(grab=True)                               # a tab just raised: its heatmaps drawn whole in a grab
    assert win.heatmap_plot.plots and not win.heatmap_plot.building
    assert len(seen) > 4 and {"diagram", "equations", "loss"} <= set(seen[0])
    worst = {k: max(s.get(k, 0.0) for s in seen) for k in seen[0]}
    assert all(v < 0.3 for v in worst.values()), worst      # (held and never painted: 84–100 % black)


def test_a_plot_raised_from_behind_a_tab_is_not_held_until_it_has_painted_there(qtbot, qsettings, app_paths):
    """A dock raised from behind a tab shows its plot again: it has no paint of its place in the
    window's picture (the other tab's pixels are there), so a redraw in that turn does not hold it
    (held, it would show them until its turn); once painted there, it is held again."""
    run = Run(load_example("adding"), settings_for_example("adding", units=8, epochs=1))
    win = _main_window(qtbot, qsettings, (1600, 1000), run)
    plot = win.plot_widgets["grad_norms"]
    win.plot_docks["grad_norms"].raise_()
    qtbot.waitUntil(lambda: on_screen(plot) and _drained(win.turns) and win.turns._paints.painted(plot),
                    timeout=10000)
    win.turns.hold(["grad_norms"])                 # painted where it is: held
    assert not plot.updatesEnabled()
    qtbot.waitUntil(lambda: _drained(win.turns), timeout=10000)
    win.plot_docks["loss"].raise_()
    qtbot.waitUntil(lambda: not on_screen(plot) and _drained(win.turns), timeout=10000)
    win.plot_docks["grad_norms"].raise_()
    QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest.value)   # laid out, not painted yet
    assert on_screen(plot)
    win.turns.hold(["grad_norms"])
    assert plot.updatesEnabled() and win.turns.pending == 0
    qtbot.waitUntil(lambda: win.turns._paints.painted(plot), timeout=10000)
    win.turns.hold(["grad_norms"])                 # painted there since: held again
    assert not plot.updatesEnabled()
    qtbot.waitUntil(lambda: _drained(win.turns) and plot.updatesEnabled(), timeout=10000)

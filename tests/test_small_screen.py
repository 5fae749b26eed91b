"""The window at 1024 × 700 (a laptop on a projector): the settings join the plots' tabs, the
diagram's texts are at least 9 px, the heatmaps stay in a grid, and a wide window gets the
settings column back."""

import numpy as np
import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFontInfo

from example_window import shown_example_window
from explorer.data.examples import load_example
from explorer.figures.axes import log_tick_levels, log_tick_strings
from explorer.gui.main_window import MainWindow
from explorer.runs.store import Run, settings_for_example


def clashes(texts):
    """Pairs of painted texts drawn over each other."""
    return [(a[2], b[2]) for k, a in enumerate(texts) for b in texts[k + 1:]
            if a[0].adjusted(1, 1, -1, -1).intersects(b[0].adjusted(1, 1, -1, -1))]


@pytest.fixture
def small(qtbot, qsettings, app_paths):
    return shown_example_window(qtbot, qsettings, "sine", 8, (1024, 700))


def test_at_1024_by_700_every_diagram_text_is_legible(small, qtbot):
    win = small
    assert (win.width(), win.height()) == (1024, 700)
    assert win.dockWidgetArea(win.settings_dock) == Qt.DockWidgetArea.BottomDockWidgetArea
    assert win.settings_dock in win.tabifiedDockWidgets(win.plot_docks["loss"])
    d = win.diagram
    assert d.width() > 700                                   # the settings no longer take its width
    d.record_texts = True
    d.grab()
    sizes = [px for _, px, _ in d.painted_texts]
    assert sizes and min(sizes) >= d.MIN_SCREEN_PX - 0.05
    assert any(t == "ct" for _, _, t in d.painted_texts) and any(t == "ht" for _, _, t in d.painted_texts)
    # an export keeps its own size and fonts, whatever the window
    w, h = d.export_size()
    assert d.render_image(1).width() == w
    win.resize(1600, 1000)
    qtbot.waitUntil(lambda: win.dockWidgetArea(win.settings_dock) == Qt.DockWidgetArea.LeftDockWidgetArea,
                    timeout=5000)


def test_at_1024_the_heatmaps_stay_in_a_grid(small, qtbot):
    win = small
    win.plot_docks["gates"].raise_()
    heat = win.heatmap_plot
    qtbot.waitUntil(lambda: heat.has_data() and heat.isVisible(), timeout=10000)
    qtbot.waitUntil(lambda: not heat.building and heat.view.isVisible(), timeout=20000)
    rows, cols = heat._shape
    assert heat.width() / cols >= heat.MIN_PANEL_WIDTH or rows > 1
    # rows too low for the axes' names and the units both: the units keep the room (10 px with the names)
    assert rows == 2 and heat.height() / rows < heat.MIN_ROW_HEIGHT
    qtbot.waitUntil(lambda: len(heat.plots) == 6 and min(p.vb.height() for p in heat.plots.values()) >= 25,
                    timeout=5000)
    assert not any(p.getAxis("bottom").label.isVisible() for p in heat.plots.values())
    inside = QRectF(heat.view.viewport().rect())
    assert all(inside.contains(heat.view.mapFromScene(p.sceneBoundingRect()).boundingRect().toRectF())
               for p in heat.plots.values())
    small.resize(1600, 1000)                                   # a taller dock: the names come back
    qtbot.waitUntil(lambda: heat.height() / heat._shape[0] >= heat.MIN_ROW_HEIGHT
                    or heat._shape[0] == 1, timeout=5000)
    assert all(p.getAxis("bottom").label.isVisible() for p in heat.plots.values())


def test_a_long_status_ends_in_an_ellipsis_before_the_progress_box(small, qtbot):
    sb = small.statusBar()
    text = "sine: 780 training and 200 validation windows of 20 steps × 1 input(s) (value), " * 3
    sb.showMessage(text, 5000)
    shown = sb.currentMessage()
    assert shown.endswith("\u2026") and text.startswith(shown[:-1])
    assert sb.fontMetrics().horizontalAdvance(shown) <= sb.width() - small.progress.width()
    assert "780 training" in sb.toolTip()
    sb.showMessage("Training finished.")
    assert sb.currentMessage() == "Training finished." and sb.toolTip() == ""


def test_presenter_at_1024_by_700_shows_the_whole_cell_and_every_row(small, qtbot):
    win = small
    win.presenter.set_enabled(True, fullscreen=False)
    win.resize(1024, 700)
    eq = win.equations
    qtbot.waitUntil(lambda: eq._fit_short and eq.document().size().height() <= eq.viewport().height(),
                    timeout=5000)
    text = eq.text().replace("\u00a0", " ")
    for lhs in ("it =", "ft =", "gt =", "ot =", "ct =", "ht ="):      # all six rows, one line each
        assert lhs in text, lhs
    d = win.diagram
    d.record_texts = True
    d.grab()
    drawn = [t for _, _, t in d.painted_texts]
    assert "ct" in drawn and "ht" in drawn and not win.banner.isVisible()
    inside = QRectF(d.rect())
    assert all(inside.contains(r) for r, _, _ in d.painted_texts)         # the whole cell, nothing cut
    assert not clashes(d.painted_texts)
    assert min(px for _, px, _ in d.painted_texts) >= 15                  # names larger than the window's 9
    numbers = [(px, t) for _, px, t in d.painted_texts if any(ch.isdigit() for ch in t)]
    assert len(numbers) >= 10 and min(numbers)[0] >= 20 - 0.05, min(numbers)   # every value from the back
    assert QFontInfo(eq.font()).pixelSize() >= 20
    win.backward.action.trigger()                                          # B: the backward rows, one line each
    qtbot.waitUntil(lambda: eq.backward and eq._fit_short
                    and eq.document().size().height() <= eq.viewport().height(), timeout=5000)
    assert "\u2202L/\u2202ct" in eq.text() and "\u2202L/\u2202zo" in eq.text()
    assert eq.horizontalScrollBar().maximum() == 0 and eq.verticalScrollBar().maximum() == 0
    d.grab()
    numbers = [(px, t) for _, px, t in d.painted_texts if any(ch.isdigit() for ch in t)]
    assert min(numbers)[0] >= 20 - 0.05 and all(inside.contains(r) for r, _, _ in d.painted_texts)
    assert not clashes(d.painted_texts)
    win.backward.action.trigger()
    win.presenter.set_enabled(False)
    assert win.diagram.strip_layout() != "none"                           # the unit strip is back


def test_at_1024_the_gradient_plot_keeps_its_bottom_axis_when_its_tab_is_raised(small, qtbot):
    """Its legend was laid out one entry a row while the tab was hidden (96 px wide): raised, the
    plot gives the legend one row and the step axis lies inside the dock again."""
    win = small
    g = win.grad_plot
    assert not g.visibleRegion().boundingRect().height()          # behind the Loss tab
    n = 98
    steps = np.arange(1, n + 1)
    g.set_steps(steps, 1.0 + 0.01 * steps, {k: 0.5 + 0.001 * steps for k in ("i", "f", "g", "o", "head")},
                steps % 7 == 0, [1, 50], 1.0)
    win.plot_docks["grad_norms"].raise_()
    view = g.view

    def bottom_inside():
        axis = g.plot.getAxis("bottom").mapRectToScene(g.plot.getAxis("bottom").boundingRect())
        shown = QRectF(view.mapToScene(view.viewport().rect()).boundingRect())
        return (g.visibleRegion().boundingRect().height() > 100 and axis.height() > 20
                and shown.contains(axis))

    qtbot.waitUntil(bottom_inside, timeout=5000)
    assert g.plot.sceneBoundingRect().height() <= view.viewport().height() + 0.5
    assert g.legend.columnCount == 8                                # the eight entries in one row


def test_a_short_log_axis_within_a_decade_keeps_two_labels():
    """The through-time plot in a 1024×700 dock: 62 px of a log axis from 0.0078 to 0.0895 (1, 2 and
    5 × 10⁻² in view, room for two labels) is labelled at 10⁻² and 5×10⁻², not at 5×10⁻² alone."""
    (spacing, labelled), (_, minor) = log_tick_levels(-2.1074, -1.0481, 62.4, 24.0)
    assert [round(10 ** v, 6) for v in labelled] == [0.01, 0.05]
    assert [round(10 ** v, 6) for v in minor] == [0.02]
    assert log_tick_strings(labelled) == ["10\u207b\u00b2", "5\u00d710\u207b\u00b2"]
    # with room for three, all three
    (_, labelled), _ = log_tick_levels(-2.1074, -1.0481, 80.0, 24.0)
    assert [round(10 ** v, 6) for v in labelled] == [0.01, 0.02, 0.05]


@pytest.mark.parametrize("cell", ["gru", "rnn", "peephole"])
def test_presenter_at_1024_by_700_every_cell_keeps_its_numbers_large_and_apart(cell, qtbot, qsettings, app_paths):
    win = MainWindow(settings=qsettings)
    win.set_run(Run(load_example("sine"), settings_for_example("sine", units=8, epochs=1, cell=cell)))
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.resize(1024, 700)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.trace is not None, timeout=10000)
    win.presenter.set_enabled(True, fullscreen=False)
    win.resize(1024, 700)
    d, eq = win.diagram, win.equations
    for backward in (False, True):
        if backward:
            win.backward.action.trigger()
        win.session.set_position(t=9)
        qtbot.waitUntil(lambda: eq.backward == backward and eq.font().pixelSize() == 20
                        and eq.document().size().height() <= eq.viewport().height(), timeout=5000)
        assert eq.verticalScrollBar().maximum() == 0 and eq.horizontalScrollBar().maximum() == 0
        d.record_texts = True

        def whole():                    # once the splitter has given the diagram its height
            d.grab()
            return all(QRectF(d.rect()).contains(r) for r, _, _ in d.painted_texts)

        qtbot.waitUntil(whole, timeout=5000)
        texts = d.painted_texts
        assert clashes(texts) == []
        numbers = [(round(px, 1), t) for _, px, t in texts
                   if any(ch.isdigit() for ch in t) and t not in ("1\u2212", "from t+1") and "h = z" not in t]
        assert numbers and min(numbers)[0] >= 20 - 0.05, min(numbers)
    win.presenter.set_enabled(False)


def test_a_heatmap_tab_raised_while_its_panels_are_built_says_so(small, qtbot):
    win = small
    heat = win.heatmap_plot
    win.plot_docks["gates"].raise_()
    qtbot.waitUntil(lambda: heat.building, timeout=10000)   # its panels a turn at a time (13 turns)
    note = heat.building_note                            # meanwhile a note stands where the grid will be
    assert (note.isVisible(), heat.view.isVisible()) == (True, False)
    assert note.text() == "Drawing the cell's quantities over time\u2026"
    assert note.textFormat() == Qt.TextFormat.PlainText
    qtbot.waitUntil(lambda: not heat.building and heat.view.isVisible(), timeout=20000)
    assert note.isHidden() and len(heat.plots) == 6
    win.session.set_position(t=3)                        # another step redraws the grid, no rebuild
    qtbot.waitUntil(lambda: heat.markers["c"].value() == 4.0, timeout=5000)
    assert not heat.building and heat.view.isVisible() and note.isHidden()

"""What is drawn is what the numbers say, read back from the pixels: for every cell kind the fill
of each gate box is the colour of the gate's value on the diverging scale, the belt's stroke is as
wide as its scale says for the value, and the memory heatmap's image holds the trace's values."""

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage, QPainter

from explorer.data import load_example
from explorer.figures.cell_canvas import Style
from explorer.gui.main_window import MainWindow
from explorer.runs.store import Run, settings_for_example


@pytest.fixture
def window(qtbot, qsettings, app_paths):
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.resize(1600, 1000)
    win.show()
    qtbot.waitExposed(win)
    return win


def _render(view) -> QImage:
    """The diagram painted into an image of the widget's own size (what the screen shows)."""
    img = QImage(view.width(), view.height(), QImage.Format.Format_RGB32)
    p = QPainter(img)
    view.paint(p, view.width(), view.height())
    p.end()
    return img


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm", "peephole"])
def test_gate_fill_is_the_colour_of_its_value(qtbot, window, cell):
    run = Run(load_example("sine"), settings_for_example("sine", cell=cell, units=4))
    rng = np.random.default_rng(1)
    run.model.params[...] += rng.standard_normal(run.model.params.size)   # gates away from 0.5
    window.set_run(run)
    qtbot.waitUntil(lambda: window.trace is not None, timeout=20000)
    window.session.set_position(t=7, unit=2)
    view = window.diagram
    frame = view._frame()
    gates = [g for g in ("i", "f", "g", "o", "r", "z") if frame.values is not None and g in frame.values]
    if cell == "rnn":
        assert gates == []                             # the plain RNN has no gate boxes
        return
    assert gates
    img = _render(view)
    style = Style.from_palette(view.palette(), None)
    tr = window.session.view_trace()
    checked = 0
    for g in gates:
        r = view.gate_rect(g)
        assert not r.isEmpty(), g
        value = float(frame.values[g])
        assert value == float(getattr(tr, g)[0, 7, 2])    # the frame holds the trace's number
        want = style.value_color(value, 1.0)
        # the box's fill: the commonest colour of a grid of points inside the outline (its centred
        # texts cover some of them)
        from collections import Counter

        pts = [QPointF(r.left() + fx * r.width(), r.top() + fy * r.height())
               for fx in (0.08, 0.12, 0.88, 0.92) for fy in (0.3, 0.4, 0.5, 0.6, 0.7)]
        got = Counter(img.pixelColor(p.toPoint()).name() for p in pts).most_common(1)[0][0]
        from PySide6.QtGui import QColor

        got = QColor(got)
        assert max(abs(got.red() - want.red()), abs(got.green() - want.green()),
                   abs(got.blue() - want.blue())) <= 2, (g, value, got.name(), want.name())
        checked += 1
    assert checked == len(gates)


def test_gate_heatmap_images_hold_the_trace(qtbot, window):
    run = Run(load_example("sine"), settings_for_example("sine", cell="lstm", units=5))
    window.set_run(run)
    qtbot.waitUntil(lambda: window.trace is not None, timeout=20000)
    window.session.set_position(sample=3)
    qtbot.waitUntil(lambda: window.session.trace_source is not None and window.session.trace_source.sample == 3,
                    timeout=20000)
    window.plot_docks["gates"].show()
    window.plot_docks["gates"].raise_()
    heat = window.heatmap_plot
    tr = window.session.view_trace()

    def drawn():                        # the panels are built one per turn of the event loop
        im = heat.images.get("c")
        return not heat.building and im is not None and im.image is not None and im.image.shape == tr.c[0].T.shape \
            and np.array_equal(im.image, tr.c[0].T)
    qtbot.waitUntil(drawn, timeout=10000)
    for name in ("i", "f", "g", "o", "c", "h"):
        np.testing.assert_array_equal(heat.images[name].image, getattr(tr, name)[0].T)   # rows units, columns t


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_belt_stroke_width_is_the_scales_width_of_its_value(qtbot, window, cell):
    """Each piece of the belt (the old state, the kept part, the new state) is drawn as wide as the
    belt's scale says for its value: measured across the stroke, in the value's own colour."""
    from explorer.figures.cell_scenes import BELT_Y, R, X0, X1
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QColor

    run = Run(load_example("sine"), settings_for_example("sine", cell=cell, units=4))
    rng = np.random.default_rng(3)
    run.model.params[...] += 1.5 * rng.standard_normal(run.model.params.size)   # a belt far from 0
    window.set_run(run)
    qtbot.waitUntil(lambda: window.trace is not None, timeout=20000)
    window.session.set_position(t=9, unit=1)
    view = window.diagram
    frame = view._frame()
    v, scale, name = frame.values, frame.belt_scale, frame.desc.belt_name
    tr = window.session.view_trace()
    assert v[name] == float(getattr(tr, name)[0, 9, 1])              # the frame holds the trace's number
    scene = view._scene_for(frame)
    img = _render(view)
    style = Style.from_palette(view.palette(), None)
    px = view._to_widget_rect(QRectF(0, 0, 1, 1)).width()             # widget pixels per logical unit
    kn, an = scene.keep_node.x(), scene.add_node.x()
    widths = {}
    for key, a, b in ((name + "_prev", X0, kn - R), ("kept", kn + R, an - R), (name, an + R, X1 - 4)):
        want = style.value_color(v[key], scale.vmax)
        runs = []
        for f in (0.3, 0.5, 0.7):
            top = view._to_widget_rect(QRectF(a + f * (b - a), BELT_Y - 30, 0, 60))
            x = round(top.x())
            col = [QColor(img.pixelColor(x, y)) for y in range(int(top.top()), int(top.bottom()) + 1)]
            near = [max(abs(c.red() - want.red()), abs(c.green() - want.green()), abs(c.blue() - want.blue())) <= 3
                    for c in col]
            runs.append(sum(near))
        expected = scale.width(v[key]) * px
        got = float(np.median(runs))
        widths[key] = (got, expected)
        # the interior pixels of an antialiased stroke: its width less up to one edge pixel each side
        assert -1.8 <= got - expected <= 0.5, (key, v[key], got, expected)
    # three values, three widths: the picture follows the numbers, not one fixed stroke
    assert len({round(e, 1) for _, e in widths.values()}) >= 2, widths

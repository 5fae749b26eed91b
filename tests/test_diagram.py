"""Every cell's diagram and equations show exactly the trace's numbers; parts, strip, belt scale, exports."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QWheelEvent  # noqa: E402

from explorer.app import Session  # noqa: E402
from explorer.engine import LSTM_GATES, make_model  # noqa: E402
from explorer.app.cell_view import cell_view, fmt  # noqa: E402
from explorer.engine.describe import KINDS  # noqa: E402
from explorer.figures.colors import GATE_COLORS, diverging_color  # noqa: E402
from explorer.app.cell_frame import ValueScale  # noqa: E402
from explorer.figures.cell_canvas import STRIP_PAGE  # noqa: E402
from explorer.gui.diagram import CellDiagramView  # noqa: E402
from explorer.gui.equations import EquationsView  # noqa: E402

N, M, T = 3, 2, 5


def make_trace(kind="lstm", seed=1, n=N, m=M, steps=T, onehot=False, scale=1.0):
    """A real engine trace (batch 1, the window's shape) with every bias and peephole non-zero."""
    model = make_model(kind, n_inputs=m, n_units=n, n_outputs=1, seed=seed)
    rng = np.random.default_rng(seed)
    sd = {k: (rng.normal(0, 0.5, v.shape) if k.startswith(("bias", "peephole")) else v * scale)
          for k, v in model.state_dict().items()}
    model.load_state_dict(sd)
    if onehot:
        x = np.zeros((1, steps, m))
        x[0, np.arange(steps), rng.integers(0, m, steps)] = 1.0
    else:
        x = rng.normal(0, 1, (1, steps, m))
    c0 = rng.normal(0, 0.6, (1, n))
    h0 = rng.normal(0, 0.4, (1, n))
    return model.forward(x, h0=h0, c0=c0), model.state_dict()


def session_with(kind="lstm", **kw):
    trace, weights = make_trace(kind, **kw)
    s = Session()
    s.set_trace(trace, weights)
    return s, trace, weights


POSITIONS = [(0, 0), (0, 2), (3, 1), (4, 2)]


def _prev(trace, t, j):
    h = trace.h0[0, j] if t == 0 else trace.h[0, t - 1, j]
    c = None if not hasattr(trace, "c0") else (trace.c0[0, j] if t == 0 else trace.c[0, t - 1, j])
    return h, c


# ----------------------------------------------------------------- diagram


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("t,j", POSITIONS)
def test_diagram_shows_each_cells_trace_values(qtbot, kind, t, j):
    s, trace, _ = session_with(kind)
    view = CellDiagramView(s)
    qtbot.addWidget(view)
    s.set_position(t=t, unit=j)
    d = view.displayed_values()
    desc = cell_view(kind)
    np.testing.assert_array_equal(d["x"], trace.x[0, t])
    for g in desc.gate_names:
        assert d[g] == getattr(trace, g)[0, t, j], g
    assert d["h"] == trace.h[0, t, j]
    h_prev, c_prev = _prev(trace, t, j)
    assert d["h_prev"] == h_prev
    if kind in ("lstm", "peephole"):
        assert d["c"] == trace.c[0, t, j] and d["c_prev"] == c_prev
        assert d["kept"] == trace.f[0, t, j] * c_prev and d["written"] == trace.i[0, t, j] * trace.g[0, t, j]
    elif kind == "gru":
        assert set(d) == {"x", "h_prev", "r", "z", "g", "h", "kept", "written"}
        assert d["kept"] == trace.z[0, t, j] * h_prev and d["written"] == (1 - trace.z[0, t, j]) * trace.g[0, t, j]
        assert d["kept"] + d["written"] == pytest.approx(d["h"], abs=1e-14)
    else:
        assert set(d) == {"x", "h_prev", "h"}


def test_views_read_the_session_and_keep_no_position(qtbot):
    s, trace, weights = session_with("gru")
    view, eq = CellDiagramView(s), EquationsView(s)
    qtbot.addWidget(view)
    qtbot.addWidget(eq)
    for t, j in ((3, 2), (1, 0), (4, 1)):
        s.set_position(t=t, unit=j)
        assert view.displayed_values()["z"] == trace.z[0, t, j]
        assert eq.equation_values()["h"]["value"] == trace.h[0, t, j]
        assert (view.t, view.unit, eq.t, eq.unit) == (t, j, t, j)
    assert not any(k in vars(view) for k in ("_t", "_unit", "_sample", "_position"))
    # a new trace of another cell: both views follow it
    other, w2 = make_trace("rnn", seed=9)
    s.set_trace(other, w2)
    assert set(view.displayed_values()) == {"x", "h_prev", "h"}
    assert view.displayed_values()["h"] == other.h[0, 4, 1]
    assert list(eq.equation_values()) == ["h", "h_prev"]


@pytest.mark.parametrize("kind", ["peephole", "gru"])
def test_views_follow_the_selected_layer_and_direction(qtbot, kind):
    model = make_model(kind, n_inputs=M, n_units=N, n_outputs=1, num_layers=2, bidirectional=True, seed=4)
    trace = model.forward(np.random.default_rng(4).normal(0, 1, (1, T, M)))
    s = Session()
    s.set_trace(trace, model.state_dict())
    view, eq = CellDiagramView(s), EquationsView(s)
    qtbot.addWidget(view)
    qtbot.addWidget(eq)
    s.set_position(layer=1, direction=1, t=2, unit=1)
    sub = trace.layer(1, 1)
    shown = view.displayed_values()
    for g in cell_view(kind).gate_names:
        assert shown[g] == getattr(sub, g)[0, 2, 1]
    assert shown["h_prev"] == sub.h[0, 3, 1]                  # reverse: the previous state is t + 1's
    assert shown["h"] == sub.h[0, 2, 1] != trace.h[0, 2, 1]
    assert view._frame().header.endswith("unit 1 of 3  \u00b7  layer 2 of 2 \u00b7 reverse")   # layers read 1..L
    assert eq.equation_values()["h"]["value"] == sub.h[0, 2, 1]
    first = cell_view(kind).gate_names[0]
    assert eq.equation_values()[first]["wx"] == pytest.approx(
        model.state_dict()["weight_ih_l1_reverse"][1] @ sub.x[0, 2], abs=1e-15)
    assert view.belt_scale().vmax >= np.abs(getattr(sub, cell_view(kind).belt_name)).max()


def test_a_deleted_view_leaves_the_session(qtbot):
    import shiboken6

    s, trace, _ = session_with("lstm")
    view, eq = CellDiagramView(s), EquationsView(s)
    keep = CellDiagramView(s)
    qtbot.addWidget(keep)
    shiboken6.delete(view)
    shiboken6.delete(eq)
    s.set_position(t=3)                            # no call into the deleted widgets
    s.set_trace(trace, None)
    assert keep.displayed_values()["h"] == trace.h[0, 3, 0]
    assert len(s.events.position) == 1


def test_round1_shims_drive_a_private_session(qtbot):
    trace, weights = make_trace("lstm")
    view = CellDiagramView()
    qtbot.addWidget(view)
    view.set_trace(trace, weights)
    view.set_position(t=2)
    view.set_position(unit=1)
    assert (view.sample, view.t, view.unit) == (0, 2, 1)
    assert view.session.position.t == 2 and view.trace is trace
    view.set_position(t=99, unit=-4)                 # clamped into range
    assert (view.t, view.unit) == (T - 1, 0)
    assert view.displayed_values()["h"] == trace.h[0, T - 1, 0]


def test_hit_testing_finds_every_part_of_every_cell(qtbot):
    for kind in KINDS:
        s, _, _ = session_with(kind, n=4)
        view = CellDiagramView(s)
        qtbot.addWidget(view)
        view.resize(1200, 750)
        desc = cell_view(kind)
        for g in desc.gate_names:
            r = view.gate_rect(g)
            assert r.width() > 80 and r.height() > 50, (kind, g)
            for pt in (r.center(), QPointF(r.left() + 3, r.bottom() - 3), QPointF(r.right() - 3, r.top() + 3)):
                assert view.part_at(pt) == g, (kind, g)
            assert view.tooltip_at(r.center()) == desc.tooltips[g]
        # sweep the picture: every part the scene registers is found somewhere, each with its sentence
        found = set()
        for x in range(2, 1200, 6):
            for y in range(2, 750, 6):
                key = view.part_at(QPointF(x, y))
                if key is not None:
                    found.add(key)
        scene = view._scene_for(view._frame())
        assert set(scene.part_names) <= found, (kind, set(scene.part_names) - found)
        assert {f"unit:{j}" for j in range(4)} <= found
        for key in scene.part_names:
            assert desc.tooltips[key], (kind, key)
        assert view.tooltip_at(QPointF(1, 1)) == ""
        assert view.tooltip_at(view.unit_rect(2).center()).startswith("Unit 2:")
    expected = {"lstm": {"f", "i", "g", "o", "tanh", "kept", "written", "belt", "h", "input"},
                "gru": {"r", "z", "g", "one_minus", "reset", "kept", "written", "belt", "h", "input"},
                "rnn": {"squash", "h", "input"}}
    expected["peephole"] = expected["lstm"] | {"peephole"}
    for kind, parts in expected.items():
        v = CellDiagramView(session_with(kind)[0])
        qtbot.addWidget(v)
        assert set(v._scene_for(v._frame()).part_names) == parts, kind


def test_peephole_wires_are_found_and_explained(qtbot):
    s, _, _ = session_with("peephole")
    view = CellDiagramView(s)
    qtbot.addWidget(view)
    view.resize(1200, 750)
    r = view.part_rect("peephole")
    assert not r.isEmpty()
    # the wire drops into the forget gate's top: just above the box, the peephole is found
    f = view.gate_rect("f")
    hits = {view.part_at(QPointF(x, f.top() - 4)) for x in np.arange(f.left(), f.right(), 2.0)}
    assert "peephole" in hits
    assert "c_{t\u22121}" in view.tooltip_at(r.center()) or any(
        "c_{t\u22121}" in view.tooltip_at(QPointF(x, f.top() - 4)) for x in np.arange(f.left(), f.right(), 2.0))


def test_click_unit_in_strip_moves_the_session(qtbot):
    s, trace, _ = session_with("lstm")
    view = CellDiagramView(s)
    qtbot.addWidget(view)
    view.resize(1200, 750)
    view.show()
    qtbot.waitExposed(view)
    for j in (2, 0, 1):
        r = view.unit_rect(j)
        assert not r.isEmpty()
        with qtbot.waitSignal(view.sigUnitClicked, timeout=1000) as blocker:
            qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=r.center().toPoint())
        assert blocker.args == [j]
        assert s.position.unit == j
        assert view.displayed_values()["c"] == trace.c[0, 0, j]


def test_no_strip_for_a_single_unit(qtbot):
    s, _, _ = session_with("gru", n=1)
    view = CellDiagramView(s)
    qtbot.addWidget(view)
    assert view.unit_rect(0).isEmpty()
    assert view.logical_size() == (1200.0, 600.0)


def test_strip_pages_at_128_units(qtbot):
    n = 128
    s, trace, _ = session_with("gru", n=n)
    view = CellDiagramView(s)
    qtbot.addWidget(view)
    view.resize(1200, 750)
    view.show()
    qtbot.waitExposed(view)
    assert view.strip_pages() == n // STRIP_PAGE == 4
    # the page holds 32 readable tiles (> 30 px wide at this size), the others are on other pages
    tiles = [view.unit_rect(j) for j in range(STRIP_PAGE)]
    assert all(r.width() > 30 for r in tiles) and view.unit_rect(STRIP_PAGE).isEmpty()
    assert tiles[1].left() > tiles[0].right()
    # selecting unit 70 shows its page (64..95)
    s.set_position(unit=70)
    assert view.strip_page() == 2 and not view.unit_rect(70).isEmpty() and view.unit_rect(63).isEmpty()
    # the ▶ button pages on without moving the selection; clicking a unit there selects it
    nxt = view.part_rect("page:next")
    assert view.part_at(nxt.center()) == "page:next"
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=nxt.center().toPoint())
    assert view.strip_page() == 3 and s.position.unit == 70
    with qtbot.waitSignal(view.sigUnitClicked, timeout=1000):
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.unit_rect(100).center().toPoint())
    assert s.position.unit == 100 and view.displayed_values()["h"] == trace.h[0, 0, 100]
    # the wheel over the strip pages back
    pos = view.unit_rect(100).center()
    ev = QWheelEvent(pos, view.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                     Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    view.wheelEvent(ev)
    assert view.strip_page() == 2
    assert view.tooltip_at(view.unit_rect(70).center()).startswith("Unit 70: h_t = ")
    # the page indicator is drawn (in the SVG's text)
    svg = view.grab()  # paints without error at this size
    assert not svg.isNull()


def test_a_wide_short_diagram_puts_the_strip_beside_the_picture(qtbot, tmp_path):
    s, trace, _ = session_with("lstm", n=128)
    s.set_position(unit=70)
    view = CellDiagramView(s)
    qtbot.addWidget(view)
    view.resize(750, 243)                          # the diagram's space in a 1024×700 window
    assert view.strip_layout() == "side"
    scale = view._xform(750, 243)[0]
    assert scale > 1.2 * min(750 / 1200, 243 / 750)          # larger than with the strip below
    assert view.logical_size() == (1530.0, 600.0)
    tiles = [view.unit_rect(j) for j in range(64, 96)]
    assert all(not r.isEmpty() and r.width() > 18 and r.height() > 25 for r in tiles)
    assert len({round(r.top()) for r in tiles}) == 6 and len({round(r.left()) for r in tiles}) == 6   # a grid
    assert tiles[6].top() > tiles[0].bottom() and view.part_at(tiles[6].center()) == "unit:70"
    with qtbot.waitSignal(view.sigUnitClicked, timeout=1000) as blocker:
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=tiles[5].center().toPoint())
    assert blocker.args == [69] and s.position.unit == 69
    assert view.part_at(view.part_rect("page:next").center()) == "page:next"
    # what is exported keeps its own size with the strip below
    png = tmp_path / "side.png"
    view.export_png(str(png), scale=1)
    assert (QImage(str(png)).width(), QImage(str(png)).height()) == (1200, 750)
    assert view.strip_layout() == "side"
    view.resize(1200, 750)
    assert view.strip_layout() == "below"


def test_belt_scale_follows_the_runs_range_of_c(qtbot, tmp_path):
    maxima = []
    for scale in (1.0, 6.0):
        s, trace, _ = session_with("lstm", scale=scale, steps=30)
        s.set_trace(trace, None)
        view = CellDiagramView(s)
        qtbot.addWidget(view)
        cmax = max(np.abs(trace.c).max(), np.abs(trace.c0).max())
        vmax = view.belt_scale().vmax
        assert cmax <= vmax < cmax * 1.1 + 1e-12          # the range, rounded up to two digits
        # the largest |c| of the run gets the full width, half of it half the extra width
        assert view.belt_scale().width(cmax) == pytest.approx(4 + 14 * cmax / vmax)
        assert view.belt_scale().width(vmax / 2) == pytest.approx(11.0)
        svg = tmp_path / f"belt{scale}.svg"
        view.export_svg(str(svg))
        assert ValueScale(vmax).label() in svg.read_text(encoding="utf-8")     # the scale in the legend
        maxima.append(vmax)
    assert maxima[1] > 2 * maxima[0]
    # c = 2.4, 3.4 and 30.9 no longer look the same
    a, b, c = ValueScale.of([2.4]), ValueScale.of([3.4]), ValueScale.of([30.9])
    assert (a.vmax, b.vmax, c.vmax) == (2.4, 3.4, 31.0)
    assert a.label() == "2.4" and c.label() == "31"
    assert ValueScale.of([0.0]).vmax == 1.0 and ValueScale.of([np.nan, 0.5]).vmax == 0.5


@pytest.mark.parametrize("size", [(400, 260), (560, 380), (1024, 700), (1200, 750)])
def test_the_diagram_scales_instead_of_clipping(qtbot, size):
    s, _, _ = session_with("peephole", n=64)
    view = CellDiagramView(s)
    qtbot.addWidget(view)
    view.resize(*size)
    w, h = view.logical_size()
    sc, ox, oy = view._xform(view.width(), view.height())
    assert ox >= -1e-9 and oy >= -1e-9
    assert ox + w * sc <= view.width() + 1e-6 and oy + h * sc <= view.height() + 1e-6
    assert view.minimumWidth() <= 240 and view.minimumHeight() <= 150


def test_export_png_at_its_own_size_and_svg_matches_it(qtbot, tmp_path):
    for kind in KINDS:
        s, trace, _ = session_with(kind)
        s.set_position(t=2, unit=1)
        view = CellDiagramView(s)
        qtbot.addWidget(view)
        view.resize(300, 180)                     # whatever is on screen, the export has its own size
        png = tmp_path / f"{kind}.png"
        assert view.export_png(str(png), scale=2)
        img = QImage(str(png))
        assert (img.width(), img.height()) == (2400, 1500)
        svg = tmp_path / f"{kind}.svg"
        view.export_svg(str(svg))
        text = svg.read_text(encoding="utf-8")
        root = ET.fromstring(text)
        assert root.attrib["viewBox"].split() == ["0", "0", "1200", "750"]
        desc = cell_view(kind)
        for g in desc.gates:
            assert g.label in text
        assert fmt(trace.h[0, 2, 1]) in text and f"{desc.title} cell" in text
        # the SVG, rendered by Qt, shows the PNG's picture (no 0.75 scale on any part)
        one = tmp_path / f"{kind}-1x.png"
        view.export_png(str(one), scale=1)
        assert svg_differs_from_png(svg, one, view.palette().color(QPalette.ColorRole.Window)) < 2.0, kind


def svg_differs_from_png(svg, png, bg: QColor) -> float:
    """Mean lightness difference (0..255) between a 1× PNG and its SVG rendered by Qt at the PNG's
    size, both shrunk to 240×150 (the diagram drawn 2 % larger or smaller differs by 7.5)."""
    from PySide6.QtSvg import QSvgRenderer

    ref = QImage(str(png)).convertToFormat(QImage.Format.Format_RGB32)
    out = QImage(ref.size(), QImage.Format.Format_RGB32)
    out.fill(bg)
    p = QPainter(out)
    QSvgRenderer(str(svg)).render(p, QRectF(0, 0, ref.width(), ref.height()))
    p.end()
    a, b = (_gray(im.scaled(240, 150, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation))
            for im in (ref, out))
    assert a.std() > 10                           # not blank
    return float(np.abs(a - b).mean())


def _gray(img: QImage) -> np.ndarray:
    return np.array([[QColor(img.pixel(x, y)).lightness() for x in range(img.width())] for y in range(img.height())],
                    dtype=float)


@pytest.mark.parametrize("kind", KINDS)
def test_export_csv_has_the_cells_own_quantities(qtbot, tmp_path, kind):
    s, trace, _ = session_with(kind)
    s.set_position(unit=2, t=3)
    view = CellDiagramView(s)
    qtbot.addWidget(view)
    path = tmp_path / "diagram.csv"
    assert view.export_csv(path)
    with open(path) as fh:
        rows = list(csv.reader(fh))
    header = {"lstm": "t,unit,h_prev,c_prev,i,f,g,o,c,h,x0,x1", "peephole": "t,unit,h_prev,c_prev,i,f,g,o,c,h,x0,x1",
              "gru": "t,unit,h_prev,r,z,g,h,x0,x1", "rnn": "t,unit,h_prev,h,x0,x1"}[kind]
    assert ",".join(rows[0]) == header
    assert [r[0] for r in rows[1:]] == [str(t) for t in range(1, T + 1)]       # timesteps 1..T
    cols = rows[0]
    for t in range(T):
        row = dict(zip(cols, rows[t + 1]))
        assert row["unit"] == "2"
        assert float(row["h"]) == trace.h[0, t, 2]
        assert float(row["h_prev"]) == (trace.h0[0, 2] if t == 0 else trace.h[0, t - 1, 2])
        for g in cell_view(kind).gate_names:
            assert float(row[g]) == getattr(trace, g)[0, t, 2]
        assert float(row["x1"]) == trace.x[0, t, 1]


def test_diagram_follows_dark_palette(qtbot, tmp_path):
    s, _, _ = session_with("gru")
    view = CellDiagramView(s)
    qtbot.addWidget(view)
    pal = view.palette()
    pal.setColor(QPalette.ColorRole.Window, QColor("#202124"))
    pal.setColor(QPalette.ColorRole.WindowText, QColor("#eeeeee"))
    view.setPalette(pal)
    path = tmp_path / "dark.png"
    view.export_png(str(path), scale=1)
    img = QImage(str(path))
    assert QColor(img.pixel(2, 2)) == QColor("#202124")


def test_diagram_paint_time(qtbot):
    s, _, _ = session_with("lstm", n=64)
    view = CellDiagramView(s)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    qtbot.waitExposed(view)
    times = []
    for t in range(T):
        s.set_position(t=t)
        view.grab()  # renders through paintEvent
        times.append(view.paint_ms())
    assert view.paint_ms() > 0
    print(f"\ndiagram paint at 1200x700, 64 units: median {np.median(times):.2f} ms, max {max(times):.2f} ms")


def test_colour_scale():
    assert diverging_color(0.0).name() == diverging_color(1e-9).name()
    neg, zero, pos = diverging_color(-1.0), diverging_color(0.0), diverging_color(1.0)
    assert neg.blue() > neg.red() and pos.red() > pos.blue()
    assert zero.saturation() < 30
    assert diverging_color(5.0) == pos and diverging_color(-0.5, vmax=0.5) == neg
    for g in cell_view("lstm").gates:
        assert GATE_COLORS[g.name].name().lower() == g.color_hex.lower()


# --------------------------------------------------------------- equations


@pytest.mark.parametrize("width", [420, 1200])  # stacked (side panel) and wide layouts
@pytest.mark.parametrize("t,j", POSITIONS)
def test_lstm_equations_show_trace_values_and_breakdown(qtbot, t, j, width):
    s, trace, weights = session_with("lstm")
    eq = EquationsView(s)
    qtbot.addWidget(eq)
    eq.resize(width, 400)
    s.set_position(t=t, unit=j)
    vals = eq.equation_values()
    text = eq.toPlainText()
    assert eq.text() == text
    for k, gate in enumerate(LSTM_GATES):
        d = vals[gate]
        assert d["z"] == d["preact"] == trace.z[0, t, k * N + j]
        assert d["value"] == getattr(trace, gate)[0, t, j]
        assert d["wx"] + d["uh"] + d["b"] == pytest.approx(d["z"], abs=1e-9)
        for key in ("z", "value", "wx", "uh", "b"):                 # with the digits that make the sum check out
            assert any(fmt(d[key], nd) in text for nd in (3, 4, 5)), (gate, key)
    h_prev, c_prev = _prev(trace, t, j)
    assert vals["h_prev"] == h_prev and vals["c_prev"] == c_prev
    assert vals["c"]["value"] == trace.c[0, t, j] and vals["h"]["value"] == trace.h[0, t, j]
    for v in (vals["c"]["value"], vals["h"]["value"], h_prev, c_prev):
        assert any(fmt(v, nd) in text for nd in (3, 4, 5))
    assert f"Unit {j} of {N}" in text
    if t == 0:
        assert "h0" in text and "c0" in text and "initial" in text
    else:
        assert "h0" not in text


@pytest.mark.parametrize("kind", ["peephole", "gru", "rnn"])
def test_equations_of_the_other_cells(qtbot, kind):
    s, trace, weights = session_with(kind)
    eq = EquationsView(s)
    qtbot.addWidget(eq)
    eq.resize(1200, 400)
    t, j = 3, 2
    s.set_position(t=t, unit=j)
    vals, text = eq.equation_values(), eq.toPlainText()
    assert vals["h"]["value"] == trace.h[0, t, j] and fmt(trace.h[0, t, j]) in text
    assert cell_view(kind).title in text
    if kind == "peephole":
        assert "p" in text and "\u2299 c" in text
        assert vals["i"]["pc"] == weights["peephole_i_l0"][j] * trace.c[0, t - 1, j]
        assert fmt(vals["i"]["pc"]) in text and fmt(vals["o"]["pc"]) in text
    elif kind == "gru":
        assert list(vals) == ["r", "z", "g", "h", "h_prev"]
        g = vals["g"]
        assert g["b_in"] == weights["bias_ih_l0"][2 * N + j] and g["b_hn"] == weights["bias_hh_l0"][2 * N + j]
        for key in ("wx", "b_in", "r", "uh", "b_hn"):
            assert fmt(g[key]) in text, key
        assert "bhn" in text and "bin" in text and "kept apart" in text
        assert (1 - vals["h"]["z"]) * vals["h"]["g"] + vals["h"]["z"] * vals["h"]["h_prev"] == pytest.approx(
            trace.h[0, t, j], abs=1e-14)
        assert "c0" not in text and "ct" not in text
    else:
        assert list(vals) == ["h", "h_prev"]
        assert vals["h"]["preact"] == trace.z[0, t, j] and fmt(trace.z[0, t, j]) in text


def test_equations_without_weights(qtbot):
    trace, _ = make_trace("lstm")
    eq = EquationsView()
    qtbot.addWidget(eq)
    eq.set_trace(trace, None)
    eq.set_position(t=1, unit=2)
    vals = eq.equation_values()
    assert vals["g"]["z"] == trace.z[0, 1, 2 * N + 2]
    assert "wx" not in vals["g"]
    assert fmt(vals["g"]["z"]) in eq.toPlainText()


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_equations_one_hot(qtbot, kind):
    vocab = ["a", "b", "c", "d"]
    s, trace, weights = session_with(kind, m=len(vocab), onehot=True, seed=3)
    eq = EquationsView(s)
    qtbot.addWidget(eq)
    eq.vocab = vocab
    s.set_position(t=3, unit=2)
    k = int(np.argmax(trace.x[0, 3]))
    text = eq.toPlainText()
    assert f"one-hot('{vocab[k]}')" in text
    first = cell_view(kind).gate_names[0]
    assert f"W_{first}[:, {k}]" in text
    vals = eq.equation_values()
    assert vals["onehot_col"] == k
    assert vals[first]["wx"] == weights["weight_ih_l0"][0 * N + 2, k]
    assert f"W_{first}[:, {k}] \u2192 {fmt(vals[first]['wx'])}" in text
    view = CellDiagramView(s)
    qtbot.addWidget(view)
    view.vocab = vocab
    assert view._frame().values["x_text"] == f"= one-hot('{vocab[k]}')"


def test_equations_export(qtbot, tmp_path):
    s, _, _ = session_with("gru")
    eq = EquationsView(s)
    qtbot.addWidget(eq)
    s.set_position(t=2, unit=1)
    png = tmp_path / "eq.png"
    assert eq.export_png(str(png), scale=2)
    img = QImage(str(png))
    assert img.width() >= 400 and img.height() > 100
    svg = tmp_path / "eq.svg"
    eq.export_svg(str(svg))
    text = svg.read_text(encoding="utf-8")
    ET.fromstring(text)
    assert "<svg" in text and "GRU equations" in text
    one = tmp_path / "eq-1x.png"
    eq.export_png(str(one), scale=1)
    assert (QImage(str(one)).width(), QImage(str(one)).height()) == (img.width() // 2, img.height() // 2)
    assert svg_differs_from_png(svg, one, eq.palette().color(QPalette.ColorRole.Base)) < 2.0


def test_the_equations_export_is_laid_out_at_its_own_size(qtbot, tmp_path):
    s, _, _ = session_with("lstm")
    eq = EquationsView(s)
    qtbot.addWidget(eq)
    s.set_position(t=2, unit=1)
    sizes = {}
    for width in (300, 700, 1600, 2200):           # a side panel, a laptop, a wide window
        eq.resize(width, 500)
        out = tmp_path / f"eq{width}.png"
        assert eq.export_png(str(out), scale=1)
        sizes[width] = (QImage(str(out)).width(), QImage(str(out)).height())
    assert len(set(sizes.values())) == 1, sizes
    w, h = sizes[300]
    assert EquationsView.EXPORT_WIDTH <= w < 1.3 * EquationsView.EXPORT_WIDTH and h < 700   # one row an equation
    eq.show()
    eq.resize(300, 500)
    qtbot.waitUntil(lambda: eq._compact)           # the window keeps its stacked layout

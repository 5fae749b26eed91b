"""The cell diagram and the equations show exactly the trace's numbers; exports, clicks, tooltips."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QImage  # noqa: E402

from explorer.figures.colors import GATE_COLORS, diverging_color  # noqa: E402
from explorer.gui.diagram import TOOLTIPS, CellDiagramView, fmt  # noqa: E402
from explorer.gui.equations import EquationsView  # noqa: E402

N, M, T, B = 3, 2, 5, 2


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def lstm_forward(x, h0, c0, W, U, b_ih, b_hh):
    """A tiny LSTM forward pass in NumPy, gate order i, f, g, o (PyTorch's)."""
    batch, steps, _ = x.shape
    n = h0.shape[1]
    z = np.zeros((batch, steps, 4 * n))
    out = {k: np.zeros((batch, steps, n)) for k in ("i", "f", "g", "o", "c", "h")}
    h, c = h0, c0
    for t in range(steps):
        zt = x[:, t] @ W.T + h @ U.T + b_ih + b_hh
        i = _sigmoid(zt[:, :n])
        f = _sigmoid(zt[:, n:2 * n])
        g = np.tanh(zt[:, 2 * n:3 * n])
        o = _sigmoid(zt[:, 3 * n:])
        c = f * c + i * g
        h = o * np.tanh(c)
        z[:, t] = zt
        for k, a in zip(("i", "f", "g", "o", "c", "h"), (i, f, g, o, c, h)):
            out[k][:, t] = a
    return SimpleNamespace(x=x, h0=h0, c0=c0, z=z, **out)


def make_lstm(seed=1, n=N, m=M, steps=T, batch=B, onehot=False):
    rng = np.random.default_rng(seed)
    W = rng.normal(0, 0.9, (4 * n, m))
    U = rng.normal(0, 0.7, (4 * n, n))
    b_ih = rng.normal(0, 0.3, 4 * n)
    b_hh = rng.normal(0, 0.3, 4 * n)
    if onehot:
        x = np.zeros((batch, steps, m))
        idx = rng.integers(0, m, (batch, steps))
        for bi in range(batch):
            x[bi, np.arange(steps), idx[bi]] = 1.0
    else:
        x = rng.normal(0, 1, (batch, steps, m))
    h0 = rng.normal(0, 0.4, (batch, n))
    c0 = rng.normal(0, 0.6, (batch, n))
    assert np.all(h0 != 0) and np.all(c0 != 0)
    trace = lstm_forward(x, h0, c0, W, U, b_ih, b_hh)
    weights = {"weight_ih_l0": W, "weight_hh_l0": U, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}
    return trace, weights


@pytest.fixture
def lstm():
    return make_lstm()


POSITIONS = [(0, 0, 0), (1, 0, 2), (0, 3, 1), (1, 4, 2), (1, 2, 0)]


def _prev(trace, s, t, j):
    if t == 0:
        return trace.h0[s, j], trace.c0[s, j]
    return trace.h[s, t - 1, j], trace.c[s, t - 1, j]


# ----------------------------------------------------------------- diagram


@pytest.mark.parametrize("s,t,j", POSITIONS)
def test_diagram_displays_exact_trace_values(qtbot, lstm, s, t, j):
    trace, weights = lstm
    view = CellDiagramView()
    qtbot.addWidget(view)
    view.set_trace(trace, weights)
    view.set_position(sample=s, t=t, unit=j)
    assert (view.sample, view.t, view.unit) == (s, t, j)
    d = view.displayed_values()
    np.testing.assert_array_equal(d["x"], trace.x[s, t])
    for k in ("i", "f", "g", "o", "c", "h"):
        assert d[k] == getattr(trace, k)[s, t, j], k
    h_prev, c_prev = _prev(trace, s, t, j)
    assert d["h_prev"] == h_prev
    assert d["c_prev"] == c_prev
    assert d["kept"] == trace.f[s, t, j] * c_prev
    assert d["written"] == trace.i[s, t, j] * trace.g[s, t, j]
    # the LSTM identity holds for what is shown (it is the trace's own arithmetic)
    assert d["c"] == pytest.approx(d["kept"] + d["written"], abs=1e-12)


def test_diagram_partial_position_and_batch1_trace(qtbot, lstm):
    trace, _ = lstm
    view = CellDiagramView()
    qtbot.addWidget(view)
    view.set_trace(trace)
    view.set_position(t=2)
    view.set_position(unit=1)
    assert (view.sample, view.t, view.unit) == (0, 2, 1)
    # the trainer sends the trace of one chosen sample: batch axis of size 1
    one = SimpleNamespace(**{k: v[1:2] for k, v in vars(trace).items()})
    view.set_trace(one)
    view.set_position(sample=0, t=4, unit=2)
    assert view.displayed_values()["h"] == trace.h[1, 4, 2]
    view.set_position(sample=5, t=99)  # clamped into range
    assert (view.sample, view.t) == (0, 4)


def test_diagram_export_png_and_svg(qtbot, lstm, tmp_path):
    trace, weights = lstm
    view = CellDiagramView()
    qtbot.addWidget(view)
    view.resize(600, 365)
    view.set_trace(trace, weights)
    view.set_position(sample=1, t=2, unit=1)
    png = tmp_path / "cell.png"
    assert view.export_png(str(png), scale=2)
    img = QImage(str(png))
    assert (img.width(), img.height()) == (1200, 730)
    small = img.scaled(120, 73)
    colours = {small.pixel(x, y) for x in range(small.width()) for y in range(small.height())}
    assert len(colours) > 20, "exported image looks blank"

    svg = tmp_path / "cell.svg"
    view.export_svg(str(svg))
    text = svg.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    assert root.tag.endswith("svg")
    for label in ("forget f", "input i", "candidate g", "output o", "tanh", fmt(trace.f[1, 2, 1])):
        assert label in text, label
    assert "<path" in text or "<rect" in text


def test_diagram_paint_time(qtbot, lstm):
    trace, weights = lstm
    view = CellDiagramView()
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.set_trace(trace, weights)
    view.show()
    qtbot.waitExposed(view)
    times = []
    for t in range(T):
        view.set_position(t=t)
        view.grab()  # renders through paintEvent (repaint() may be skipped offscreen)
        times.append(view.paint_ms())
    assert view.paint_ms() > 0
    print(f"\ndiagram paint at 1200x700: median {np.median(times):.2f} ms, max {max(times):.2f} ms")


def test_click_unit_in_strip_emits_signal(qtbot, lstm):
    trace, weights = lstm
    view = CellDiagramView()
    qtbot.addWidget(view)
    view.resize(1200, 730)
    view.set_trace(trace, weights)
    view.show()
    qtbot.waitExposed(view)
    for j in (2, 0, 1):
        r = view.unit_rect(j)
        assert not r.isEmpty()
        with qtbot.waitSignal(view.sigUnitClicked, timeout=1000) as blocker:
            qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=r.center().toPoint())
        assert blocker.args == [j]
        assert view.unit == j
        assert view.displayed_values()["c"] == trace.c[0, 0, j]


def test_no_strip_for_a_single_unit(qtbot):
    trace, _ = make_lstm(n=1)
    view = CellDiagramView()
    qtbot.addWidget(view)
    view.set_trace(trace)
    assert view.unit_rect(0).isEmpty()


def test_tooltips_on_gates(qtbot, lstm):
    trace, weights = lstm
    view = CellDiagramView()
    qtbot.addWidget(view)
    view.resize(900, 550)
    view.set_trace(trace, weights)
    for k in ("f", "i", "g", "o"):
        r = view.gate_rect(k)
        assert view.tooltip_at(r.center()) == TOOLTIPS[k]
        assert view.tooltip_at(QPointF(r.left() + 3, r.bottom() - 3)) == TOOLTIPS[k]
    assert "forget gate" in TOOLTIPS["f"] and "keep" in TOOLTIPS["f"]
    assert view.tooltip_at(QPointF(0, 0)) == ""
    assert view.tooltip_at(view.unit_rect(1).center()).startswith("Unit 1:")


def test_diagram_follows_dark_palette(qtbot, lstm, tmp_path):
    from PySide6.QtGui import QPalette

    trace, _ = lstm
    view = CellDiagramView()
    qtbot.addWidget(view)
    pal = view.palette()
    pal.setColor(QPalette.ColorRole.Window, QColor("#202124"))
    pal.setColor(QPalette.ColorRole.WindowText, QColor("#eeeeee"))
    view.setPalette(pal)
    view.set_trace(trace)
    view.resize(600, 365)
    path = tmp_path / "dark.png"
    view.export_png(str(path), scale=1)
    img = QImage(str(path))
    assert QColor(img.pixel(2, 2)) == QColor("#202124")


def test_colour_scale():
    assert diverging_color(0.0).name() == diverging_color(1e-9).name()
    neg, zero, pos = diverging_color(-1.0), diverging_color(0.0), diverging_color(1.0)
    assert neg.blue() > neg.red() and pos.red() > pos.blue()
    assert zero.saturation() < 30
    assert diverging_color(5.0) == pos and diverging_color(-0.5, vmax=0.5) == neg
    assert set("ifgoch") <= set(GATE_COLORS)


# --------------------------------------------------------------- equations


@pytest.mark.parametrize("width", [420, 1200])  # stacked (side panel) and wide layouts
@pytest.mark.parametrize("s,t,j", POSITIONS)
def test_equations_show_trace_values_and_breakdown(qtbot, lstm, s, t, j, width):
    trace, weights = lstm
    eq = EquationsView()
    qtbot.addWidget(eq)
    eq.resize(width, 400)
    eq.set_trace(trace, weights)
    eq.set_position(sample=s, t=t, unit=j)
    vals = eq.equation_values()
    text = eq.toPlainText()
    assert eq.text() == text
    for k, gate in enumerate(("i", "f", "g", "o")):
        d = vals[gate]
        assert d["z"] == trace.z[s, t, k * N + j]
        assert d["value"] == getattr(trace, gate)[s, t, j]
        assert d["wx"] + d["uh"] + d["b"] == pytest.approx(d["z"], abs=1e-9)
        assert d["wx"] == pytest.approx(weights["weight_ih_l0"][k * N + j] @ trace.x[s, t], abs=0)
        for key in ("z", "value", "wx", "uh", "b"):
            assert fmt(d[key]) in text, (gate, key)
    h_prev, c_prev = _prev(trace, s, t, j)
    assert vals["h_prev"] == h_prev and vals["c_prev"] == c_prev
    assert vals["c"] == trace.c[s, t, j] and vals["h"] == trace.h[s, t, j]
    for key in ("c", "h", "h_prev", "c_prev"):
        assert fmt(vals[key]) in text, key
    assert f"Unit {j} of {N}" in text
    if t == 0:
        assert "h0" in text and "c0" in text and "initial" in text
    else:
        assert "h0" not in text


def test_equations_without_weights(qtbot, lstm):
    trace, _ = lstm
    eq = EquationsView()
    qtbot.addWidget(eq)
    eq.set_trace(trace, None)
    eq.set_position(t=1, unit=2)
    vals = eq.equation_values()
    assert vals["g"]["z"] == trace.z[0, 1, 2 * N + 2]
    assert "wx" not in vals["g"]
    assert fmt(vals["g"]["z"]) in eq.toPlainText()


def test_equations_one_hot(qtbot):
    vocab = ["a", "b", "c", "d"]
    trace, weights = make_lstm(m=len(vocab), onehot=True, seed=3)
    eq = EquationsView()
    qtbot.addWidget(eq)
    eq.vocab = vocab
    eq.set_trace(trace, weights)
    eq.set_position(sample=1, t=3, unit=2)
    k = int(np.argmax(trace.x[1, 3]))
    text = eq.toPlainText()
    assert f"one-hot('{vocab[k]}')" in text
    assert f"W_i[:, {k}]" in text
    vals = eq.equation_values()
    assert vals["onehot_col"] == k
    assert vals["i"]["wx"] == weights["weight_ih_l0"][0 * N + 2, k]
    assert f"W_i[:, {k}] \u2192 {fmt(vals['i']['wx'])}" in text
    # the diagram names the token too
    view = CellDiagramView()
    qtbot.addWidget(view)
    view.set_trace(trace, weights)
    view.vocab = vocab
    view.set_position(sample=1, t=3, unit=2)
    assert f"one-hot('{vocab[k]}')" in view._vals["_x_text"]


def test_equations_export(qtbot, lstm, tmp_path):
    trace, weights = lstm
    eq = EquationsView()
    qtbot.addWidget(eq)
    eq.set_trace(trace, weights)
    eq.set_position(sample=0, t=2, unit=1)
    png = tmp_path / "eq.png"
    assert eq.export_png(str(png), scale=2)
    img = QImage(str(png))
    assert img.width() >= 400 and img.height() > 100
    svg = tmp_path / "eq.svg"
    eq.export_svg(str(svg))
    text = svg.read_text(encoding="utf-8")
    ET.fromstring(text)
    assert "<svg" in text

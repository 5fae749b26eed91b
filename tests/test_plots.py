"""explorer.figures.plots, offscreen: every widget filled with known data and exported to PNG, SVG and
CSV; the PNG is about twice the widget's size and not blank, the SVG is valid XML holding the curve
as a vector path, the CSV gives back exactly the data that went in."""

from __future__ import annotations

import csv
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtGui import QColor, QImage  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from explorer.figures import plots  # noqa: E402
from explorer.figures.plots import (  # noqa: E402
    GateHeatmapWidget,
    GradNormPlotWidget,
    GradThroughTimePlotWidget,
    LossPlotWidget,
    ParamCountPlotWidget,
    PlotPanelWidget,
    PredictionPlotWidget,
    ensure_app,
    export_plot,
)

SVG_NS = "{http://www.w3.org/2000/svg}"
_NUM = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


# -- helpers -------------------------------------------------------------------------------------

def _make(qtbot, cls, *args, **kwargs):
    w = cls(*args, **kwargs)
    qtbot.addWidget(w)
    return w


def _check_png(path, widget: PlotPanelWidget, scale: float = 2):
    img = QImage(str(path))
    assert not img.isNull(), "PNG does not load"
    view = widget.view.size()
    assert abs(img.width() - scale * view.width()) <= 2
    assert abs(img.height() - scale * view.height()) <= 2
    assert img.width() >= 2 * 300 and img.height() >= 2 * 150, "exported at a too small size"
    # not blank: a fair share of pixels differ from the background (top-left corner)
    small = img.scaled(img.width() // 4, img.height() // 4)
    bg = small.pixelColor(0, 0)
    differing = sum(
        1
        for y in range(small.height())
        for x in range(small.width())
        if small.pixelColor(x, y) != bg
    )
    assert differing > 0.002 * small.width() * small.height(), "PNG is blank"
    return img


def _svg_elements(path):
    tree = ET.parse(str(path))  # raises on invalid XML
    root = tree.getroot()
    assert root.tag == SVG_NS + "svg"
    return root


def _max_points(root) -> int:
    """The most points any single <path> or <polyline> has: a drawn curve of N points has >= N."""
    best = 0
    for el in root.iter():
        if el.tag == SVG_NS + "path":
            text = el.get("d", "")
        elif el.tag in (SVG_NS + "polyline", SVG_NS + "polygon"):
            text = el.get("points", "")
        else:
            continue
        best = max(best, len(_NUM.findall(text)) // 2)
    return best


def _curve_extent(root, min_points: int) -> float:
    """Horizontal extent (in path coordinates) of the longest paths with at least min_points."""
    extent = 0.0
    for el in root.iter(SVG_NS + "path"):
        nums = [float(v) for v in _NUM.findall(el.get("d", ""))]
        if len(nums) // 2 >= min_points:
            xs = nums[0::2]
            extent = max(extent, max(xs) - min(xs))
    return extent


def _check_svg(path, min_points: int):
    root = _svg_elements(path)
    assert root.get("viewBox"), "SVG has no viewBox"
    n = _max_points(root)
    assert n >= min_points, f"no vector curve of {min_points} points in the SVG (longest: {n})"
    return root


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _num(field: str) -> float:
    return math.nan if field == "" else float(field)


def _same(a, b) -> bool:
    """Exactly equal, NaN == NaN."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


# -- module level --------------------------------------------------------------------------------

def test_ensure_app_returns_the_running_application(qapp):
    assert ensure_app() is QApplication.instance()


def test_gate_colours_and_diverging_scale():
    from explorer.figures.colors import GATE_COLORS, diverging_color

    assert set("ifgoch") <= set(GATE_COLORS)
    assert len({QColor(GATE_COLORS[k]).name() for k in "ifgoch"}) == 6
    assert plots.GATE_COLORS is GATE_COLORS  # one set of colours for the plots and the diagram
    neg, zero, pos = diverging_color(-1.0, 1.0), diverging_color(0.0, 1.0), diverging_color(1.0, 1.0)
    assert neg.blue() > neg.red()                     # blue for negative
    assert pos.red() > pos.blue()                     # orange/red for positive
    assert min(zero.red(), zero.green(), zero.blue()) > 200  # near white at 0
    assert diverging_color(5.0, 1.0) == pos           # saturates


# -- 1. loss ---------------------------------------------------------------------------------------

def _loss_data():
    epochs = np.arange(1, 121)
    train = 1.0 / epochs + 0.01 * np.sin(epochs)
    val = 1.2 / epochs
    val[::3] = np.nan  # validation absent on some epochs
    return epochs, train, val


def test_loss_exports(qtbot, tmp_path):
    w = _make(qtbot, LossPlotWidget)
    epochs, train, val = _loss_data()
    w.set_history(epochs, train, val)
    paths = export_plot(w, tmp_path, "loss")
    assert [p.name for p in paths] == ["loss.png", "loss.svg", "loss.csv"]
    _check_png(tmp_path / "loss.png", w)
    root = _check_svg(tmp_path / "loss.svg", len(epochs))
    assert _curve_extent(root, len(epochs)) > 0
    header, rows = _read_csv(tmp_path / "loss.csv")
    assert header == ["epoch", "train_loss", "val_loss"]
    assert [int(r[0]) for r in rows] == list(epochs)
    assert _same([_num(r[1]) for r in rows], train)
    assert _same([_num(r[2]) for r in rows], val)
    assert all(r[2] == "" for r in rows[::3])  # absent validation is an empty field


def test_loss_log_scale_toggle(qtbot):
    w = _make(qtbot, LossPlotWidget)
    w.set_history(*_loss_data())
    w.set_log_scale(True)
    assert w.log_box.isChecked()
    assert w.plot.getAxis("left").logMode
    w.log_box.setChecked(False)  # the checkbox drives the axis too
    assert not w.plot.getAxis("left").logMode
    w.set_log_scale(True)
    assert w.plot.getAxis("left").logMode
    w.clear()
    header, rows = w.csv_rows()
    assert list(rows) == []


# -- 2. gradient norms per step ----------------------------------------------------------------------

GATES = ("i", "f", "g", "o", "head")


def _grad_data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    steps = np.arange(1, n + 1)
    gates = {g: np.exp(rng.normal(-1 - k * 0.3, 0.5, n)) for k, g in enumerate(GATES)}
    glob = np.sqrt(sum(v**2 for v in gates.values()))
    clipped = glob > 1.0
    epoch_starts = steps[::100]
    return steps, glob, gates, clipped, epoch_starts


def test_grad_norm_exports(qtbot, tmp_path):
    w = _make(qtbot, GradNormPlotWidget)
    steps, glob, gates, clipped, starts = _grad_data(300)
    w.set_steps(steps, glob, gates, clipped, starts, clip_threshold=1.0)
    export_plot(w, tmp_path, "grad_norms")
    _check_png(tmp_path / "grad_norms.png", w)
    _check_svg(tmp_path / "grad_norms.svg", len(steps))
    header, rows = _read_csv(tmp_path / "grad_norms.csv")
    assert header == ["step", "global", "i", "f", "g", "o", "head", "clipped"]
    cols = list(zip(*rows))
    assert [int(s) for s in cols[0]] == list(steps)
    assert _same([_num(v) for v in cols[1]], glob)
    for k, g in enumerate(GATES):
        assert _same([_num(v) for v in cols[2 + k]], gates[g])
    assert [v == "1" for v in cols[7]] == list(clipped)
    # the drawn items: clipped markers, dashed threshold at 1.0 on the log axis, epoch boundaries
    assert len(w.clip_scatter.getData()[0]) == int(clipped.sum())
    assert w.threshold.isVisible() and w.threshold.value() == pytest.approx(0.0)
    assert len(w.epoch_item.getData()[0]) == 2 * int(np.sum(starts > 1))


def test_grad_norm_append_equals_set(qtbot, tmp_path):
    steps, glob, gates, clipped, starts = _grad_data(600)
    a = _make(qtbot, GradNormPlotWidget)
    a.set_steps(steps, glob, gates, clipped, starts, clip_threshold=2.0)
    b = _make(qtbot, GradNormPlotWidget)
    b.set_steps([], [], {}, [], [], None)
    for lo in range(0, len(steps), 37):  # grows past the initial buffer several times
        sl = slice(lo, lo + 37)
        chunk_starts = starts[(starts >= steps[sl][0]) & (starts <= steps[sl][-1])]
        b.append_steps(steps[sl], glob[sl], {g: v[sl] for g, v in gates.items()}, clipped[sl],
                       chunk_starts, clip_threshold=2.0)
    a.export_csv(tmp_path / "a.csv")
    b.export_csv(tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    for ca, cb in [(a.global_curve, b.global_curve), (a.clip_scatter, b.clip_scatter),
                   (a.epoch_item, b.epoch_item)] + [(a.gate_curves[g], b.gate_curves[g]) for g in GATES]:
        xa, ya = ca.getData()
        xb, yb = cb.getData()
        assert _same(xa, xb) and _same(ya, yb)
    assert b.threshold.value() == pytest.approx(math.log10(2.0))


def test_grad_norm_log_scale_and_clear(qtbot):
    w = _make(qtbot, GradNormPlotWidget)
    assert w.plot.getAxis("left").logMode  # log y by default
    w.plot.setLogMode(y=False)
    assert not w.plot.getAxis("left").logMode
    w.plot.setLogMode(y=True)
    w.set_steps(*_grad_data(50)[:5], clip_threshold=None)
    w.clear()
    header, rows = w.csv_rows()
    assert list(rows) == []


# -- 3. gradient norm through time -----------------------------------------------------------------

def test_grad_through_time_exports(qtbot, tmp_path):
    w = _make(qtbot, GradThroughTimePlotWidget)
    T = 150
    dh = np.exp(-0.05 * np.arange(T))[::-1].copy()
    dh[0] = 0.0  # a zero must not break the log axis
    dc = 0.5 * dh
    w.set_norms(dh, dc)
    assert "Gradient norm through time" in w.title
    assert w.plot.getAxis("left").logMode  # log y by default
    w.set_time_marker(40)
    assert w.marker.isVisible() and w.marker.value() == 40
    export_plot(w, tmp_path, "grad_through_time")
    _check_png(tmp_path / "grad_through_time.png", w)
    _check_svg(tmp_path / "grad_through_time.svg", T - 1)
    header, rows = _read_csv(tmp_path / "grad_through_time.csv")
    assert header == ["t", "dh", "dc"]
    assert [int(r[0]) for r in rows] == list(range(T))
    assert _same([_num(r[1]) for r in rows], dh)
    assert _same([_num(r[2]) for r in rows], dc)
    w.set_time_marker(None)
    assert not w.marker.isVisible()


def test_grad_through_time_without_dc(qtbot, tmp_path):
    w = _make(qtbot, GradThroughTimePlotWidget)
    w.set_norms([3.0, 2.0, 1.0])
    w.export_csv(tmp_path / "g.csv")
    header, rows = _read_csv(tmp_path / "g.csv")
    assert rows == [["0", "3.0", ""], ["1", "2.0", ""], ["2", "1.0", ""]]


# -- 4. gate heatmaps ------------------------------------------------------------------------------

def _trace(T=30, n=6, seed=1):
    rng = np.random.default_rng(seed)
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    values = {k: sig(rng.normal(size=(T, n))) for k in ("i", "f", "o")}
    values["g"] = np.tanh(rng.normal(size=(T, n)))
    values["c"] = 3.0 * rng.normal(size=(T, n))
    values["h"] = values["o"] * np.tanh(values["c"])
    return values


def test_gate_heatmap_exports(qtbot, tmp_path):
    w = _make(qtbot, GateHeatmapWidget)
    values = _trace()
    w.set_trace(values)
    w.set_time_marker(7)
    export_plot(w, tmp_path, "gates")
    assert all(m.isVisible() and m.value() == 7 for m in w.markers.values())
    _check_png(tmp_path / "gates.png", w)
    root = _svg_elements(tmp_path / "gates.svg")
    assert len(list(root.iter(SVG_NS + "image"))) >= 6  # six heatmaps (plus colour bars)
    texts = "".join("".join(t.itertext()) for t in root.iter(SVG_NS + "text"))
    for name in "ifgoch":
        assert name in texts
    # colour scales: sigmoid gates on [0, 1], g/h on [-1, 1], c symmetric on its max |value|
    for k in ("i", "f", "o"):
        assert tuple(w.bars[k].levels()) == (0, 1)
    for k in ("g", "h"):
        assert tuple(w.bars[k].levels()) == (-1, 1)
    cmax = float(np.abs(values["c"]).max())
    assert tuple(w.bars["c"].levels()) == pytest.approx((-cmax, cmax))
    header, rows = _read_csv(tmp_path / "gates.csv")
    assert header == ["quantity", "t", "unit", "value"]
    got = {}
    for q, t, u, v in rows:
        got[(q, int(t), int(u))] = float(v)
    T, n = values["i"].shape
    assert len(rows) == 6 * T * n
    for k, arr in values.items():
        for t in range(T):
            for u in range(n):
                assert got[(k, t, u)] == arr[t, u]
    w.set_time_marker(None)
    assert not any(m.isVisible() for m in w.markers.values())


# -- 5. parameter count ----------------------------------------------------------------------------

def test_param_count_marker_and_label(qtbot, tmp_path):
    w = _make(qtbot, ParamCountPlotWidget)
    w.set_config(1, 1, n_range=(1, 512), n_current=8)
    assert w.label_text() == "n = 8: layer 320 (= 12n + 4n(n−1) for m = 1) + head 9 = total 329"
    x, y = w.point.getData()
    assert (float(x[0]), float(y[0])) == (8.0, 320.0)
    for n in (1, 20, 512):
        w.set_units(n)
        x, y = w.point.getData()
        assert (float(x[0]), float(y[0])) == (n, 4 * n * (1 + n + 1))
        assert w.marker_position() == (n, 4 * n * (1 + n + 1))
    assert w.label_text() == (
        "n = 512: layer 1,052,672 (= 12n + 4n(n−1) for m = 1) + head 513 = total 1,053,185"
    )
    w.set_config(3, 2, n_range=(1, 64), n_current=10)
    assert w.marker_position() == (10, 4 * 10 * (3 + 10 + 1))
    assert w.label_text().startswith("n = 10: layer 560")
    assert w.label_text().endswith("+ head 22 = total 582")


def test_param_count_other_cell_and_exports(qtbot, tmp_path):
    w = _make(qtbot, ParamCountPlotWidget)
    w.set_config(2, 1, n_range=(1, 300), n_current=16, layer_count_fn=lambda n, m: n * (m + n + 1), kind="rnn")
    assert w.marker_position() == (16, 16 * (2 + 16 + 1))
    export_plot(w, tmp_path, "param_count")
    _check_png(tmp_path / "param_count.png", w)
    _check_svg(tmp_path / "param_count.svg", 300)
    header, rows = _read_csv(tmp_path / "param_count.csv")
    assert header == ["n", "layer_params"]
    assert [int(r[0]) for r in rows] == list(range(1, 301))
    assert [int(r[1]) for r in rows] == [n * (2 + n + 1) for n in range(1, 301)]


def test_param_count_log_toggle(qtbot):
    w = _make(qtbot, ParamCountPlotWidget)
    w.set_config(1, 1, n_current=8)
    assert w.log_box.isChecked()  # log-log by default
    assert w.plot.getAxis("left").logMode and w.plot.getAxis("bottom").logMode
    w.log_box.setChecked(False)
    assert not w.plot.getAxis("left").logMode and not w.plot.getAxis("bottom").logMode
    assert w.marker_position() == (8, 320)  # the marker stays on the curve
    w.log_box.setChecked(True)
    assert w.plot.getAxis("left").logMode


# -- 6. predictions ----------------------------------------------------------------------------------

def test_prediction_series_exports(qtbot, tmp_path):
    w = _make(qtbot, PredictionPlotWidget)
    t = np.arange(200)
    target = np.sin(t / 8.0)
    t_pred = np.arange(150, 200)
    pred = target[150:] + 0.05
    t_fc = np.arange(200, 240)
    fc = np.sin(t_fc / 8.0) * 0.9
    w.set_series(t, target, t_pred, pred, t_fc, fc, split_t=150)
    assert w.split_line.isVisible() and w.split_line.value() == 150
    export_plot(w, tmp_path, "predictions")
    _check_png(tmp_path / "predictions.png", w)
    _check_svg(tmp_path / "predictions.svg", 200)
    header, rows = _read_csv(tmp_path / "predictions.csv")
    assert header == ["t", "target", "prediction", "forecast"]
    assert [int(r[0]) for r in rows] == list(range(240))
    col = lambda j: np.array([_num(r[j]) for r in rows])  # noqa: E731
    assert _same(col(1)[:200], target) and all(r[1] == "" for r in rows[200:])
    assert all(r[2] == "" for r in rows[:150]) and _same(col(2)[150:200], pred)
    assert all(r[3] == "" for r in rows[:200]) and _same(col(3)[200:], fc)


def test_prediction_text_mode(qtbot, tmp_path):
    w = _make(qtbot, PredictionPlotWidget)
    chars = [" ", "e", "\n", "t", "a"]
    probs = [0.4, 0.25, 0.15, 0.1, 0.05]
    w.set_top_k(chars, probs)
    labels = [lab for _, lab in w.plot.getAxis("left")._tickLevels[0]]
    assert "␣" in labels and "⏎" in labels and "e" in labels
    assert list(w.bars.opts["width"]) == probs
    export_plot(w, tmp_path, "top_k")
    _check_png(tmp_path / "top_k.png", w)
    _svg_elements(tmp_path / "top_k.svg")
    with open(tmp_path / "top_k.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["token", "probability"]
    assert [r[0] for r in rows[1:]] == chars
    assert [float(r[1]) for r in rows[1:]] == probs
    # back to series mode: the bars go away
    w.set_series([0, 1, 2], [0.0, 1.0, 0.0], [1, 2], [0.9, 0.1])
    assert w.mode == "series"
    header, rows = w.csv_rows()
    assert tuple(header) == ("t", "target", "prediction", "forecast")


# -- export details ------------------------------------------------------------------------------------

def test_png_scale_follows_argument(qtbot, tmp_path):
    w = _make(qtbot, LossPlotWidget)
    w.set_history(*_loss_data())
    w.export_png(tmp_path / "x1.png", scale=1)
    w.export_png(tmp_path / "x2.png", scale=2)
    a, b = QImage(str(tmp_path / "x1.png")), QImage(str(tmp_path / "x2.png"))
    assert abs(b.width() - 2 * a.width()) <= 2 and abs(b.height() - 2 * a.height()) <= 2
    _check_png(tmp_path / "x1.png", w, scale=1)


def test_shown_widget_exports_at_its_own_size(qtbot, tmp_path):
    w = _make(qtbot, GradThroughTimePlotWidget)
    w.set_norms(np.linspace(1, 2, 50), np.linspace(2, 1, 50))
    w.resize(640, 360)
    w.show()
    qtbot.waitExposed(w)
    w.export_png(tmp_path / "shown.png")
    img = _check_png(tmp_path / "shown.png", w)
    assert img.width() <= 2 * 640


def test_every_widget_clears(qtbot):
    filled = {
        LossPlotWidget: lambda w: w.set_history(*_loss_data()),
        GradNormPlotWidget: lambda w: w.set_steps(*_grad_data(40), clip_threshold=1.0),
        GradThroughTimePlotWidget: lambda w: w.set_norms([1.0, 2.0], [2.0, 1.0]),
        GateHeatmapWidget: lambda w: w.set_trace(_trace(5, 2)),
        ParamCountPlotWidget: lambda w: w.set_config(1, 1, n_current=8),
        PredictionPlotWidget: lambda w: w.set_series([0, 1], [0.0, 1.0], [1], [0.5]),
    }
    for cls, fill in filled.items():
        w = _make(qtbot, cls)
        fill(w)
        w.clear()
        header, rows = w.csv_rows()
        assert list(rows) == [], cls.__name__


def test_diverging_color_is_importable_from_plots():
    from explorer.figures.colors import diverging_color

    assert plots.diverging_color is diverging_color

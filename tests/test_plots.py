"""explorer.figures.plots, offscreen: every widget filled with known data; what it draws (view ranges,
axes, legends, markers at timesteps 1..T) and what its CSV holds (exactly the data that went in).
The exports' pictures are checked in tests/test_figures_export.py."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtGui import QColor, QPalette  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from explorer.engine import PARAM_COUNTS  # noqa: E402
from explorer.figures import plots  # noqa: E402
from explorer.figures.axes import (PlotAxisItem, format_log_value, format_number,  # noqa: E402
                                   log_tick_levels, loss_log_default)
from explorer.figures.plots import (CurvesPlotWidget, GateHeatmapWidget, GradNormPlotWidget,  # noqa: E402
                                    GradThroughTimePlotWidget, LossCurvesPlotWidget, LossPlotWidget, MemoryHeatmapWidget,
                                    ParamCountPlotWidget, PredictionPlotWidget, ensure_app, export_plot)


def _make(qtbot, cls, *args, **kwargs):
    w = cls(*args, **kwargs)
    qtbot.addWidget(w)
    return w


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


def _labels(axis: PlotAxisItem, size: float = 400.0) -> list[str]:
    """The labelled ticks the axis would draw over ``size`` pixels of its current range."""
    lo, hi = axis.range
    levels = axis.tickValues(lo, hi, size)
    spacing, values = levels[0]
    return [s for s in axis.tickStrings(values, 1.0, spacing) if s]


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
    assert plots.diverging_color is diverging_color


# -- axes ------------------------------------------------------------------------------------------

def test_log_values_have_one_format():
    assert format_log_value(1e-3) == "10⁻³"
    assert format_log_value(1.0) == "10⁰"
    assert format_log_value(1e5) == "10⁵"
    assert format_log_value(2e-3) == "2×10⁻³"
    assert format_log_value(5e2) == "5×10²"
    assert format_log_value(0.0) == "" and format_log_value(float("nan")) == ""
    assert format_number(200000.0, 50000.0) == "200,000"
    assert format_number(0.25, 0.05) == "0.25"
    assert format_number(-0.5, 0.5) == "−0.5"


@pytest.mark.parametrize("lo,hi,size", [(-50, 250, 300), (-12, 3, 120), (-3, 1, 400), (-6.2, -5.1, 300),
                                        (-0.6, -0.3, 300), (0.301, 0.35, 200), (1.5, 4.2, 800)])
def test_log_ticks_never_pile_up(lo, hi, size):
    levels = log_tick_levels(lo, hi, size, min_px=24)
    major = levels[0][1]
    assert 2 <= len(major) <= size // 24, (lo, hi, major)
    assert all(lo - 1e-9 <= v <= hi + 1e-9 for v in major)
    gaps = np.diff(sorted(major)) / (hi - lo) * size
    assert gaps.min() >= 24 * 0.99                      # at least min_px apart on screen
    labels = [format_log_value(10 ** v) for v in major]
    assert all(s and ("10" in s) for s in labels)       # every label 10ᵉ or m×10ᵉ, no "0.001" or "1e-05"


def test_whole_numbers_on_integer_axes(qtbot):
    axis = PlotAxisItem("bottom", integer=True)
    for lo, hi, size in ((0.6, 3.4, 600), (0, 7, 900), (-0.5, 2.5, 1200), (1, 120, 300), (0, 1e6, 800)):
        for spacing, values in axis.tickValues(lo, hi, size):
            assert all(float(v).is_integer() for v in values), (lo, hi, values)
        labels = axis.tickStrings(axis.tickValues(lo, hi, size)[0][1], 1.0, 1.0)
        assert all("." not in s for s in labels)
    # the characters of a text sample, as many as fit (one per 11 px or more)
    axis.set_labels(list("hello world"))
    values = axis.tickValues(0.5, 11.5, 200)[0][1]
    assert [int(v) for v in values] == list(range(1, 12))
    assert axis.tickStrings(values, 1.0, 1.0) == list("hello␣world")
    sparse = axis.tickValues(0.5, 11.5, 60)[0]
    assert sparse[0] >= 2 and len(sparse[1]) <= 60 // 11 + 1


def test_loss_log_default_rule():
    assert loss_log_default([1.0, 0.5, 0.2], [0.9]) is False       # within one decade: linear
    assert loss_log_default([1.0, 0.05]) is True                   # more than a decade: log
    assert loss_log_default([np.nan, 0.0, -1.0, 3.0]) is False     # one usable value
    assert loss_log_default([]) is False


# -- 1. loss ---------------------------------------------------------------------------------------

def _loss_data():
    epochs = np.arange(1, 121)
    train = 1.0 / epochs + 0.01 * np.sin(epochs)
    val = 1.2 / epochs
    val[::3] = np.nan  # validation absent on some epochs
    return epochs, train, val


def test_loss_csv_keeps_every_value(qtbot, tmp_path):
    w = _make(qtbot, LossPlotWidget)
    epochs, train, val = _loss_data()
    w.set_history(epochs, train, val)
    w.export_csv(tmp_path / "loss.csv")
    header, rows = _read_csv(tmp_path / "loss.csv")
    assert header == ["epoch", "train_loss", "val_loss"]
    assert [int(r[0]) for r in rows] == list(epochs)
    assert _same([_num(r[1]) for r in rows], train)
    assert _same([_num(r[2]) for r in rows], val)
    assert all(r[2] == "" for r in rows[::3])  # absent validation is an empty field


def test_loss_scale_follows_the_shared_rule_until_the_person_chooses(qtbot):
    w = _make(qtbot, LossPlotWidget)
    w.set_history([1, 2, 3], [0.9, 0.6, 0.5], [1.0, 0.8, 0.7])       # < 1 decade
    assert not w.log_box.isChecked() and not w.plot.getAxis("left").logMode
    w.set_history(*_loss_data())                                     # 1.0 … 0.008: > 1 decade
    assert w.log_box.isChecked() and w.plot.getAxis("left").logMode
    w.log_box.click()                                                # the person wants linear
    assert not w.plot.getAxis("left").logMode and w.log_chosen is False
    w.set_history(*_loss_data())
    assert not w.plot.getAxis("left").logMode                        # and it stays so
    w.set_log_scale(True)
    assert w.log_box.isChecked() and w.plot.getAxis("left").logMode
    w.clear()
    header, rows = w.csv_rows()
    assert list(rows) == []


def test_loss_axes_whole_epochs(qtbot):
    w = _make(qtbot, LossPlotWidget)
    w.set_history([1, 2, 3], [0.9, 0.6, 0.5], [1.0, 0.8, 0.7])
    w.show()
    qtbot.waitExposed(w)
    w.plot.vb.autoRange(padding=0.05)
    axis = w.plot.getAxis("bottom")
    assert axis.integer
    labels = _labels(axis, 600)
    assert set(labels) <= {"0", "1", "2", "3", "4"} and {"1", "2", "3"} <= set(labels)


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


def test_grad_norm_csv_markers_threshold_in_legend(qtbot, tmp_path):
    w = _make(qtbot, GradNormPlotWidget)
    steps, glob, gates, clipped, starts = _grad_data(300)
    w.set_steps(steps, glob, gates, clipped, starts, clip_threshold=1.0)
    w.export_csv(tmp_path / "grad_norms.csv")
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
    entries = w.legend.entries()
    assert entries[0] == "global" and entries[-2:] == ["clipped step", "clipping threshold 1"]
    assert set(GATES) <= set(entries)
    w.set_steps(steps, glob, gates, clipped, starts, clip_threshold=None)      # clipping off: neither entry
    assert not any(e.startswith(("clipping threshold", "clipped step")) for e in w.legend.entries())
    assert w.plot.getAxis("left").labelText == "gradient norm ‖∇L‖"


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
    a._flush()
    b._flush()
    for ca, cb in [(a.global_curve, b.global_curve), (a.clip_scatter, b.clip_scatter),
                   (a.epoch_item, b.epoch_item)] + [(a.gate_curves[g], b.gate_curves[g]) for g in GATES]:
        xa, ya = ca.getData()
        xb, yb = cb.getData()
        assert _same(xa, xb) and _same(ya, yb)
    assert b.threshold.value() == pytest.approx(math.log10(2.0))
    assert a.legend.entries() == b.legend.entries()


def test_grad_norm_log_axis_labels(qtbot):
    w = _make(qtbot, GradNormPlotWidget)
    assert w.plot.getAxis("left").logMode  # log y by default
    w.set_steps(*_grad_data(500)[:5], clip_threshold=None)
    w.show()
    qtbot.waitExposed(w)
    w.plot.vb.autoRange(padding=0)
    labels = _labels(w.plot.getAxis("left"), 300)
    assert labels and all("10" in s for s in labels)     # 10⁻² or 2×10⁻² — never 0.002 beside 1e-05
    w.clear()
    header, rows = w.csv_rows()
    assert list(rows) == []


def test_many_clipped_steps_and_epochs_are_thinned_for_drawing_only(qtbot, tmp_path):
    n = 200_000
    w = _make(qtbot, GradNormPlotWidget)
    steps = np.arange(1, n + 1)
    glob = 1.0 + 0.5 * np.sin(steps / 50.0)
    w.set_steps(steps, glob, {}, glob > 1.2, steps[::20], clip_threshold=1.2)
    w._flush()
    drawn = len(w.clip_scatter.getData()[0])
    assert 0 < drawn <= 1500                         # one mark per 1/1500 of the steps at most
    assert len(w.epoch_item.getData()[0]) <= 2 * 120
    w.export_csv(tmp_path / "g.csv")
    with open(tmp_path / "g.csv") as fh:
        assert sum(1 for _ in fh) == n + 1           # every step in the file


# -- 3. gradient norm through time -----------------------------------------------------------------

def test_grad_through_time_timesteps_from_one(qtbot, tmp_path):
    w = _make(qtbot, GradThroughTimePlotWidget)
    T = 150
    dh = np.exp(-0.05 * np.arange(T))[::-1].copy()
    dh[0] = 0.0  # a zero must not break the log axis
    dc = 0.5 * dh
    w.set_norms(dh, dc)
    w._flush()
    assert "Gradient norm through time" in w.title
    assert w.plot.getAxis("left").logMode  # log y by default
    x, _ = w.dh_curve.getData()
    assert x[0] == 1 and x[-1] == T                       # timesteps 1..T
    w.set_time_marker(40)                                  # index 40 is timestep 41
    assert w.marker.isVisible() and w.marker.value() == 41
    w.export_csv(tmp_path / "g.csv")
    header, rows = _read_csv(tmp_path / "g.csv")
    assert header == ["t", "dh", "dc"]
    assert [int(r[0]) for r in rows] == list(range(1, T + 1))
    assert _same([_num(r[1]) for r in rows], dh)
    assert _same([_num(r[2]) for r in rows], dc)
    assert w.legend.entries() == ["‖∂L/∂hₜ‖ of the hidden state hₜ", "‖∂L/∂cₜ‖ of the cell state cₜ"]
    assert w.plot.getAxis("left").labelText == "gradient norm ‖∂L/∂hₜ‖, ‖∂L/∂cₜ‖"
    w.set_time_marker(None)
    assert not w.marker.isVisible()


def test_grad_through_time_without_dc(qtbot, tmp_path):
    w = _make(qtbot, GradThroughTimePlotWidget)
    w.set_norms([3.0, 2.0, 1.0])
    w.export_csv(tmp_path / "g.csv")
    header, rows = _read_csv(tmp_path / "g.csv")
    assert rows == [["1", "3.0", ""], ["2", "2.0", ""], ["3", "1.0", ""]]
    assert w.legend.entries() == ["‖∂L/∂hₜ‖ of the hidden state hₜ"]     # no cell state: no c entry
    assert w.plot.getAxis("left").labelText == "gradient norm ‖∂L/∂hₜ‖"


# -- 4. heatmaps -----------------------------------------------------------------------------------

def _trace(T=30, n=6, seed=1, names="ifgoch"):
    rng = np.random.default_rng(seed)
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    values = {k: sig(rng.normal(size=(T, n))) for k in ("i", "f", "o", "r", "z")}
    values["g"] = np.tanh(rng.normal(size=(T, n)))
    values["c"] = 3.0 * rng.normal(size=(T, n))
    values["h"] = values["o"] * np.tanh(values["c"])
    return {k: values[k] for k in names}


def test_gate_heatmap_scales_marker_and_csv(qtbot, tmp_path):
    w = _make(qtbot, GateHeatmapWidget)
    values = _trace()
    w.set_trace(values)
    w.set_time_marker(7)
    assert all(m.isVisible() and m.value() == 8 for m in w.markers.values())   # index 7 = timestep 8
    w._flush()
    for k in ("i", "f", "o"):
        assert tuple(w.bars[k].levels()) == (0, 1)
    for k in ("g", "h"):
        assert tuple(w.bars[k].levels()) == (-1, 1)
    cmax = float(np.abs(values["c"]).max())
    assert tuple(w.bars["c"].levels()) == pytest.approx((-cmax, cmax))       # c: its own range, symmetric
    T, n = values["i"].shape
    rect = w.images["i"].mapRectToParent(w.images["i"].boundingRect())
    assert (rect.left(), rect.right()) == pytest.approx((0.5, T + 0.5))        # timestep t centred on x = t
    w.export_csv(tmp_path / "gates.csv")
    header, rows = _read_csv(tmp_path / "gates.csv")
    assert header == ["quantity", "t", "unit", "value"]
    assert len(rows) == 6 * T * n
    got = {(q, int(t), int(u)): float(v) for q, t, u, v in rows}
    assert min(t for _, t, _ in got) == 1 and max(t for _, t, _ in got) == T
    for k, arr in values.items():
        for t in range(T):
            for u in range(n):
                assert got[(k, t + 1, u)] == arr[t, u]
    w.set_time_marker(None)
    assert not any(m.isVisible() for m in w.markers.values())


@pytest.mark.parametrize("names", ["rzgh", "h", "ifgoch"])
def test_gate_heatmap_shows_the_cells_own_quantities(qtbot, names):
    w = _make(qtbot, GateHeatmapWidget)
    w.set_trace(_trace(names=names))
    assert list(w.plots) == list(names)
    titles = [w.plots[k].titleLabel.text for k in names]
    assert titles[0].endswith(names[0])                  # "reset gate r", "hidden state h", "input gate i"
    if "z" in names:
        assert tuple(w.bars["z"].levels()) == (0, 1)


def test_heatmap_units_axis_readable_at_256_units_and_text_labels(qtbot):
    w = _make(qtbot, GateHeatmapWidget)
    vals = _trace(T=12, n=256, names="ch")
    w.set_trace(vals, time_labels=list("hello world!"))
    w.resize(1000, 700)
    w.show()
    qtbot.waitExposed(w)
    left = w.plots["c"].getAxis("left")
    height = w.plots["c"].vb.height()
    labels = _labels(left, height)
    assert 3 <= len(labels) <= height // 20                  # a readable handful, whole units
    assert all(s.isdigit() for s in labels)
    bottom = w.plots["c"].getAxis("bottom")
    assert bottom.labels == list("hello world!")
    assert w.plots["c"].getAxis("bottom").labelText == "input character"


def test_memory_heatmap(qtbot, tmp_path):
    w = _make(qtbot, MemoryHeatmapWidget)
    rng = np.random.default_rng(3)
    mem = np.cumprod(rng.uniform(0.7, 1.0, size=(20, 5)), axis=0)
    w.set_memory(mem, "∏f: how long each unit keeps what it wrote")
    w._flush()
    assert list(w.plots) == ["memory"]
    assert w.plots["memory"].titleLabel.text == "∏f: how long each unit keeps what it wrote"
    assert tuple(w.bars["memory"].levels()) == (0, 1)
    w.export_csv(tmp_path / "m.csv")
    header, rows = _read_csv(tmp_path / "m.csv")
    assert header == ["t", "unit", "value"] and len(rows) == 100
    assert rows[0] == ["1", "0", repr(float(mem[0, 0]))] and rows[-1] == ["20", "4", repr(float(mem[19, 4]))]


# -- 5. parameter count ----------------------------------------------------------------------------

def test_param_count_marker_and_label(qtbot):
    w = _make(qtbot, ParamCountPlotWidget)
    w.set_config(1, 1, n_range=(1, 512), n_current=8)
    assert w.label_text() == "n = 8: layer 320 (= 12n + 4n(n−1) for m = 1) + head 9 = total 329"
    x, y = w.point.getData()                      # drawn in log–log coordinates by default
    assert (10 ** float(x[0]), 10 ** float(y[0])) == pytest.approx((8.0, 320.0))
    w.log_box.setChecked(False)
    x, y = w.point.getData()
    assert (float(x[0]), float(y[0])) == (8.0, 320.0)
    for n in (1, 20, 512):
        w.set_units(n)
        assert w.marker_position() == (n, 4 * n * (1 + n + 1))
    assert w.label_text() == (
        "n = 512: layer 1,052,672 (= 12n + 4n(n−1) for m = 1) + head 513 = total 1,053,185"
    )
    w.set_config(3, 2, n_range=(1, 64), n_current=10)
    assert w.marker_position() == (10, 4 * 10 * (3 + 10 + 1))
    assert w.label_text().startswith("n = 10: layer 560")
    assert w.label_text().endswith("+ head 22 = total 582")


def _assert_frames(w):
    """The view holds the whole curve and the marker, with a margin of at most ~10 %, in either mode."""
    (x0, x1), (y0, y1) = w.plot.viewRange()
    xs, ys = w.ns.astype(float), w.counts
    n, c = w.marker_position()
    if w.log_box.isChecked():
        xs, ys, n, c = np.log10(xs), np.log10(ys), math.log10(n), math.log10(c)
        assert w.plot.getAxis("left").logMode and w.plot.getAxis("bottom").logMode
    for lo, hi, data, mark in ((x0, x1, xs, n), (y0, y1, ys, c)):
        assert lo <= data.min() and data.max() <= hi and lo <= mark <= hi
        assert (hi - lo) <= 1.2 * (data.max() - (0 if not w.log_box.isChecked() and data is ys else data.min()))
    return (x0, x1), (y0, y1)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm", "peephole"])
@pytest.mark.parametrize("layers,bidir", [(1, False), (3, True)])
def test_param_count_view_frames_curve_and_marker(qtbot, kind, layers, bidir):
    w = _make(qtbot, ParamCountPlotWidget)
    w.set_config(2, 1, n_range=(1, 512), n_current=24, kind=kind, layers=layers, bidirectional=bidir)
    fn = PARAM_COUNTS[kind]
    D = 2 if bidir else 1
    expect = D * (fn(24, 2) + (layers - 1) * fn(24, D * 24))   # deeper layers take D·n inputs
    assert w.marker_position() == (24, expect)
    assert w.counts[0] == D * (fn(1, 2) + (layers - 1) * fn(1, D))
    (x0, x1), (y0, y1) = _assert_frames(w)                    # log–log by default
    assert x0 == pytest.approx(-0.03 * math.log10(512), abs=1e-9) and x1 < 2.8   # not 10^-50 … 10^250
    assert y0 > 0 and y1 < 8
    w.log_box.setChecked(False)
    (x0, x1), (y0, y1) = _assert_frames(w)
    assert x1 == pytest.approx(512 + 0.03 * 511) and y0 < 0 < y1
    w.log_box.setChecked(True)                                # toggling back frames the same way again
    assert w.plot.viewRange()[0][1] < 2.8
    w.set_units(300)
    _assert_frames(w)


def test_param_count_formula_for_the_chosen_depth(qtbot):
    w = _make(qtbot, ParamCountPlotWidget)
    w.set_config(1, 1, kind="lstm")
    assert "4n(m+n+1), m = 1" in w.plot.titleLabel.text
    w.set_config(3, 1, kind="gru", layers=2, bidirectional=True, n_current=10)
    title = w.plot.titleLabel.text
    assert "2·[3n(m+n+2) + 3n(2n+n+2)], m = 3, 2 layers, bidirectional" in title
    assert w.label_text() == f"n = 10: recurrent layers {2 * (3 * 10 * 15 + 3 * 10 * 32):,} + head 21 = total " \
                             f"{2 * (3 * 10 * 15 + 3 * 10 * 32) + 21:,}"
    w.set_config(1, 1, kind="rnn", layers=3)
    assert "n(m+n+1) + 2·n(n+n+1)" in w.plot.titleLabel.text


def test_param_count_csv(qtbot, tmp_path):
    w = _make(qtbot, ParamCountPlotWidget)
    w.set_config(2, 1, n_range=(1, 300), n_current=16, kind="rnn")
    w.export_csv(tmp_path / "p.csv")
    header, rows = _read_csv(tmp_path / "p.csv")
    assert header == ["n", "layer_params"]
    assert [int(r[0]) for r in rows] == list(range(1, 301))
    assert [int(r[1]) for r in rows] == [n * (2 + n + 1) for n in range(1, 301)]


# -- 6. predictions ----------------------------------------------------------------------------------

def test_prediction_series_rows_from_one(qtbot, tmp_path):
    w = _make(qtbot, PredictionPlotWidget)
    t = np.arange(200)
    target = np.sin(t / 8.0)
    t_pred = np.arange(150, 200)
    pred = target[150:] + 0.05
    t_fc = np.arange(200, 240)
    fc = np.sin(t_fc / 8.0) * 0.9
    w.set_series(t, target, t_pred, pred, t_fc, fc, split_t=150)
    assert w.split_line.isVisible() and w.split_line.value() == 151
    x, _ = w.target_curve.getData()
    assert x[0] == 1 and x[-1] == 200
    assert w.plot.getAxis("left").labelText == "value"
    w.export_csv(tmp_path / "p.csv")
    header, rows = _read_csv(tmp_path / "p.csv")
    assert header == ["t", "target", "prediction", "forecast"]
    assert [int(r[0]) for r in rows] == list(range(1, 241))
    col = lambda j: np.array([_num(r[j]) for r in rows])  # noqa: E731
    assert _same(col(1)[:200], target) and all(r[1] == "" for r in rows[200:])
    assert all(r[2] == "" for r in rows[:150]) and _same(col(2)[150:200], pred)
    assert all(r[3] == "" for r in rows[:200]) and _same(col(3)[200:], fc)


def test_prediction_on_the_datas_years_with_gaps(qtbot, tmp_path):
    w = _make(qtbot, PredictionPlotWidget)
    years = np.arange(1871, 1971)
    flow = np.linspace(1000, 800, 100)
    w.set_series(np.arange(100), flow, np.arange(80, 100), flow[80:] + 1, np.arange(80, 110), np.full(30, 900.0),
                 split_t=80, x_values=years, x_label="year", y_label="Flow", gaps=[12, 13, 85])
    o = w.x_origin                                             # drawn from the first year (the SVG's precision)
    x, _ = w.target_curve.getData()
    assert o == 1871 and x[0] + o == 1871 and x[-1] + o == 1970
    xf, _ = w.forecast_curve.getData()
    assert xf[0] + o == 1951 and xf[-1] + o == 1980            # continued past the file's last year
    assert w.split_line.value() + o == 1951
    assert w.plot.getAxis("bottom").labelText == "year" and w.plot.getAxis("left").labelText == "Flow"
    gx, gy = w.gap_scatter.getData()
    assert list(gx + o) == [1883, 1884, 1956] and list(gy) == [flow[12], flow[13], flow[85]]
    assert "interpolated (3 rows in the file)" in w.legend.entries()
    w.export_csv(tmp_path / "p.csv")
    header, rows = _read_csv(tmp_path / "p.csv")
    assert header == ["t", "year", "target", "prediction", "forecast", "interpolated"]
    assert rows[0][:2] == ["1", "1871"] and rows[12][5] == "1" and rows[11][5] == "0"
    assert rows[-1][0] == "110" and rows[-1][1] == ""          # forecast rows past the file


def test_prediction_on_dates(qtbot):
    w = _make(qtbot, PredictionPlotWidget)
    dates = np.arange("1949-01", "1961-01", dtype="datetime64[M]")
    w.set_series(np.arange(len(dates)), np.arange(len(dates), dtype=float), [], [],
                 x_values=dates, x_label="month")
    x, _ = w.target_curve.getData()
    x = x + w.x_origin
    assert x[0] == pytest.approx(1949.0) and x[12] == pytest.approx(1950.0)
    assert x[6] == pytest.approx(1949 + 181 / 365)             # July 1st
    assert not w.plot.getAxis("bottom").integer


def test_prediction_text_mode(qtbot, tmp_path):
    w = _make(qtbot, PredictionPlotWidget)
    chars = [" ", "e", "\n", "t", "a"]
    probs = [0.4, 0.25, 0.15, 0.1, 0.05]
    w.set_top_k(chars, probs)
    labels = [lab for _, lab in w.plot.getAxis("left")._tickLevels[0]]
    assert "␣" in labels and "⏎" in labels and "e" in labels
    assert list(w.bars.opts["width"]) == probs
    assert not w.legend.isVisible()
    assert [lab for _, lab in w.plot.getAxis("bottom")._tickLevels[0]] == ["0%", "20%", "40%", "60%", "80%", "100%"]
    w.export_csv(tmp_path / "top_k.csv")
    with open(tmp_path / "top_k.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["token", "probability"]
    assert [r[0] for r in rows[1:]] == chars
    assert [float(r[1]) for r in rows[1:]] == probs
    # back to series mode: the bars go away
    w.set_series([0, 1, 2], [0.0, 1.0, 0.0], [1, 2], [0.9, 0.1])
    assert w.mode == "series" and w.plot.getAxis("left")._tickLevels is None
    assert w.plot.getAxis("bottom")._tickLevels is None
    header, rows = w.csv_rows()
    assert tuple(header) == ("t", "target", "prediction", "forecast")


# -- the comparison's overlaid curves -------------------------------------------------------------

def test_curves_overlaid_with_level_in_legend(qtbot, tmp_path):
    w = _make(qtbot, CurvesPlotWidget, "Validation loss", "step", "validation loss", log_y=True)
    w.add_curve("rnn", [0, 50, 100], [0.2, 0.18, 0.17], "#7F7F7F")
    w.add_curve("lstm, seed 0", [0, 50, 100], [0.2, 0.01, 0.001], "#0072B2")
    w.add_level(0.01, "target 0.01")
    assert w.legend.entries() == ["rnn", "lstm, seed 0", "target 0.01"]
    w.export_csv(tmp_path / "c.csv")
    text = (tmp_path / "c.csv").read_text().splitlines()
    assert text[0] == "series,x,y" and text[1] == "rnn,0,0.2" and text[4] == '"lstm, seed 0",0,0.2'
    assert len(text) == 7


# -- the empty state and the palette ---------------------------------------------------------------

EMPTY = [LossPlotWidget, GradNormPlotWidget, GradThroughTimePlotWidget, GateHeatmapWidget, PredictionPlotWidget,
         MemoryHeatmapWidget, LossCurvesPlotWidget]


@pytest.mark.parametrize("cls", EMPTY, ids=lambda c: c.__name__)
def test_empty_plot_is_calm(qtbot, cls):
    w = _make(qtbot, cls)
    w.resize(700, 400)
    w.show()
    qtbot.waitExposed(w)
    for plot, label in w._empty_items:
        assert label.isVisible() and label.textItem.toPlainText() == "no data yet"
        for name in ("left", "bottom"):
            assert plot.getAxis(name)._tickLevels == [[]]       # no numbers, no junk 0.1…0.9
    if w.legend is not None:
        assert not w.legend.isVisible()


def test_data_arriving_brings_the_axes_back(qtbot):
    w = _make(qtbot, GradThroughTimePlotWidget)
    w.show()
    qtbot.waitExposed(w)
    w.set_norms(np.linspace(1.0, 0.01, 20))
    (_, label), = w._empty_items
    assert not label.isVisible() and w.legend.isVisible()
    assert w.plot.getAxis("bottom")._tickLevels is None
    w.plot.vb.autoRange(padding=0)
    (x0, x1), (y0, y1) = w.plot.viewRange()
    # the data's range (plus the symbols' few pixels), no longer the empty state's 0..1
    assert (x0, x1) == pytest.approx((1, 20), abs=0.2) and (y0, y1) == pytest.approx((-2, 0), abs=0.1)
    w.clear()
    assert label.isVisible()


def test_legend_follows_a_dark_palette(qtbot):
    w = _make(qtbot, LossPlotWidget)
    w.set_history([1, 2], [1.0, 0.5], [1.1, 0.6])
    pal = QPalette(w.palette())
    pal.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    pal.setColor(QPalette.ColorRole.Text, QColor("#e8e8e8"))
    w.setPalette(pal)
    assert w.dark
    for _, label in w.legend.items:
        assert QColor(label.opts["color"]).name() == "#e8e8e8"
    assert w.plot.getAxis("left").textPen().color().name() == "#e8e8e8"
    g = _make(qtbot, GradNormPlotWidget)
    g.setPalette(pal)
    assert g.global_curve.opts["pen"].color().name() == "#e8e8e8"      # the global norm stays visible


def test_every_widget_clears(qtbot):
    filled = {
        LossPlotWidget: lambda w: w.set_history(*_loss_data()),
        GradNormPlotWidget: lambda w: w.set_steps(*_grad_data(40), clip_threshold=1.0),
        GradThroughTimePlotWidget: lambda w: w.set_norms([1.0, 2.0], [2.0, 1.0]),
        GateHeatmapWidget: lambda w: w.set_trace(_trace(5, 2)),
        MemoryHeatmapWidget: lambda w: w.set_memory(np.ones((4, 2))),
        ParamCountPlotWidget: lambda w: w.set_config(1, 1, n_current=8),
        PredictionPlotWidget: lambda w: w.set_series([0, 1], [0.0, 1.0], [1], [0.5]),
    }
    for cls, fill in filled.items():
        w = _make(qtbot, cls)
        fill(w)
        assert w.has_data(), cls.__name__
        w.clear()
        assert not w.has_data(), cls.__name__
        header, rows = w.csv_rows()
        assert list(rows) == [], cls.__name__


def test_export_plot_writes_three_files(qtbot, tmp_path):
    w = _make(qtbot, LossPlotWidget)
    w.set_history(*_loss_data())
    paths = export_plot(w, tmp_path / "out", "loss")
    assert [p.name for p in paths] == ["loss.png", "loss.svg", "loss.csv"]
    assert all(p.stat().st_size > 0 for p in paths)


def test_y_label_is_never_cut_off(qtbot, tmp_path):
    import xml.etree.ElementTree as ET

    from PySide6.QtGui import QFontMetricsF

    w = _make(qtbot, GradNormPlotWidget)
    w.set_steps(*_grad_data(50)[:5], clip_threshold=1.0)
    w.resize(500, 170)                                       # a short dock
    w.show()
    qtbot.waitExposed(w)
    axis = w.plot.getAxis("left")
    qtbot.waitUntil(lambda: axis.labelText == "‖∇L‖")         # the short form fits, the long one does not
    assert QFontMetricsF(axis.label.font()).horizontalAdvance(axis.labelText) <= axis.size().height()
    w.export_svg(tmp_path / "g.svg")                          # the export has room for the whole title
    texts = ["".join(t.itertext()).strip() for t in ET.parse(str(tmp_path / "g.svg")).getroot().iter()
             if t.tag.endswith("text")]
    assert "gradient norm ‖∇L‖" in texts, texts
    assert axis.labelText == "‖∇L‖"                          # and the screen keeps its own


def test_title_in_exports_not_on_screen(qtbot, tmp_path):
    import xml.etree.ElementTree as ET

    w = _make(qtbot, LossPlotWidget)
    w.set_history([1, 2], [1.0, 0.5], [1.1, 0.6])
    w.show()
    qtbot.waitExposed(w)
    assert not w.plot.titleLabel.isVisible()            # the dock's tab names it; the data get the room
    w.export_svg(tmp_path / "l.svg")
    texts = ["".join(t.itertext()).strip() for t in ET.parse(str(tmp_path / "l.svg")).getroot().iter()
             if t.tag.endswith("text")]
    assert texts[0] == "Loss per epoch"
    assert not w.plot.titleLabel.isVisible()
    p = _make(qtbot, ParamCountPlotWidget)               # the formula is what this plot is for
    p.show()
    qtbot.waitExposed(p)
    assert p.plot.titleLabel.isVisible()


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm", "peephole"])
@pytest.mark.parametrize("layers,bidir", [(1, False), (2, False), (3, True)])
def test_param_count_agrees_with_the_models_own_count(qtbot, kind, layers, bidir):
    from explorer.engine import make_model

    w = _make(qtbot, ParamCountPlotWidget)
    w.set_config(3, 2, n_range=(1, 64), n_current=7, kind=kind, layers=layers, bidirectional=bidir)
    pc = make_model(kind, 3, 7, 2, num_layers=layers, bidirectional=bidir).param_count
    assert w.marker_position() == (7, pc.layer)
    assert w.label_text().endswith(f"+ head {pc.head:,} = total {pc.total:,}")


def test_heatmap_relabels_without_rebuilding(qtbot):
    w = _make(qtbot, GateHeatmapWidget)
    vals = _trace(T=5, n=3, names="ifgoch")
    w.set_trace(vals, time_labels=list("hello"))
    panel = w.plots["f"]
    w.set_trace(vals, time_labels=list("world"))
    assert w.plots["f"] is panel and panel.getAxis("bottom").labels == list("world")
    w.set_trace(vals)
    assert panel.getAxis("bottom").labels is None and panel.getAxis("bottom").labelText == "timestep t"
    w.set_trace(_trace(T=5, n=3, names="rzgh"))                 # another cell: its own panels
    assert list(w.plots) == ["r", "z", "g", "h"]


def test_prediction_legend_names_the_forecast_only_when_there_is_one(qtbot):
    w = _make(qtbot, plots.PredictionPlotWidget)
    t = np.arange(50)
    y = np.sin(t / 5.0)

    def names():
        return [label.text for _, label in w.legend.items]

    w.set_series(t, y, t, y, split_t=0)                                # several inputs: no forecast
    assert names() == ["target", "one step ahead"]
    w.set_series(t, y, t, y, t_forecast=np.arange(10), forecast=y[:10], split_t=0)
    assert names() == ["target", "one step ahead", "free-running forecast"]
    x, f = w.forecast_curve.getData()
    np.testing.assert_allclose(f, y[:10])
    w.set_series(t, y, t, y, split_t=0)
    x, _ = w.forecast_curve.getData()
    assert names() == ["target", "one step ahead"] and (x is None or len(x) == 0)


def test_several_series_are_named_at_the_ends_of_their_validation_parts(qtbot):
    """A long table's validation parts (rows not following one another) are drawn as separate
    pieces; each piece is named by its key, as plain text, at its last target point."""
    w = plots.PredictionPlotWidget()
    qtbot.addWidget(w)
    t = np.r_[np.arange(10, 15), np.arange(40, 45), np.arange(70, 75)]
    y = np.r_[np.full(5, 1.0), np.full(5, 5.0), np.linspace(8, 9, 5)]
    keys = ["AAA", "<b>B</b>", "CCC"]
    name = lambda rows: [keys[int(r) // 30] for r in rows]  # noqa: E731
    w.set_series(t, y, t, y + 0.1, series_of=("symbol", name))
    got = [(lab.textItem.toPlainText(), lab.pos().x(), lab.pos().y() + w.y_origin) for lab in w.series_labels]
    assert got == [("AAA", 15.0, 1.0), ("<b>B</b>", 45.0, 5.0), ("CCC", 75.0, 9.0)]
    assert all(lab.textItem.toHtml().count("<b>") == 0 for lab in w.series_labels)   # written, not rendered
    w.set_series(t, y, t, y)                       # one series again: no names
    assert w.series_labels == []
    w.set_series(t, y, t, y, series_of=("symbol", name))
    w.set_top_k(list("abc"), [0.5, 0.3, 0.2])      # text mode: the names go
    assert w.series_labels == [] and all(lab.scene() is None for lab in w.series_labels)


def test_gradient_norm_legend_reads_the_same_after_another_run(qtbot):
    lstm = {g: [1.0, 1.5] for g in ("i", "f", "g", "o", "head")}
    fresh = _make(qtbot, GradNormPlotWidget)
    fresh.set_steps([1, 2], [1.0, 2.0], lstm, [False, True], [1], 1.0)
    reused = _make(qtbot, GradNormPlotWidget)
    reused.set_steps([1, 2], [1.0, 2.0], {"h": [1.0, 1.0], "head": [2.0, 2.0]}, [False, False], [1], 1.0)
    kept = reused.gate_curves["head"]
    reused.set_steps([1, 2], [1.0, 2.0], lstm, [False, True], [1], 1.0)
    want = ["global", "i", "f", "g", "o", "head", "clipped step", "clipping threshold 1"]
    assert [label.text for _, label in fresh.legend.items] == want
    assert [label.text for _, label in reused.legend.items] == want
    assert reused.gate_curves["head"] is not kept                    # out of order: rebuilt
    again = reused.gate_curves["i"]
    reused.set_steps([1, 2, 3], [1.0, 2.0, 3.0], {g: [1.0, 1.5, 2.0] for g in lstm}, [False, True, False], [1], 1.0)
    assert reused.gate_curves["i"] is again                          # the same gates: kept, refilled
    assert list(reused.gates["i"].view) == [1.0, 1.5, 2.0]

"""Exports as their reader sees them: every plot renders at its own export size from a hidden tab
without touching the widget on screen; every SVG, rendered by Qt's own renderer, shows the PNG's
picture (axes and data at the same scale, symbols as vector shapes); a million-point curve exports
a small picture and a complete CSV; the command line exports without the window package."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QRectF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QTabWidget  # noqa: E402

from explorer.figures import plots  # noqa: E402
from explorer.figures.panel import EXPORT_SIZE, PNG_SCALE  # noqa: E402

SVG_NS = "{http://www.w3.org/2000/svg}"


# -- every widget, filled ------------------------------------------------------------------------

def _filled():
    rng = np.random.default_rng(0)
    n = 400
    steps = np.arange(1, n + 1)
    gates = {g: np.exp(rng.normal(-1 - k * 0.3, 0.5, n)) for k, g in enumerate("ifgo")}
    glob = np.sqrt(sum(v ** 2 for v in gates.values()))
    T, units = 40, 12
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    trace = {k: sig(rng.normal(size=(T, units))) for k in "ifo"}
    trace["g"] = np.tanh(rng.normal(size=(T, units)))
    trace["c"] = np.cumsum(trace["i"] * trace["g"], axis=0)
    trace["h"] = trace["o"] * np.tanh(trace["c"])
    t = np.arange(300)
    years = np.arange(1700, 2000)

    def loss(w):
        e = np.arange(1, 31)
        w.set_history(e, 1 / e, 1.2 / e)

    def grad(w):
        w.set_steps(steps, glob, gates, glob > 1, steps[::100], 1.0)

    def through(w):
        w.set_norms(np.exp(-np.arange(50) / 8.0)[::-1], np.full(50, 0.3))
        w.set_time_marker(20)

    def heat(w):
        w.set_trace(trace)
        w.set_time_marker(5)

    def gru_heat(w):
        w.set_trace({k: trace[k] for k in ("i", "f", "g", "h")})   # four panels, 2 × 2

    def memory(w):
        w.set_memory(np.cumprod(trace["f"], axis=0), "∏f per unit")

    def params(w):
        w.set_config(1, 1, n_range=(1, 512), n_current=32, kind="gru", layers=2)

    def params_linear(w):
        w.set_config(3, 1, n_range=(1, 256), n_current=100, kind="peephole")
        w.log_box.setChecked(False)

    def pred(w):
        y = np.sin(t / 9.0)
        w.set_series(t, y, t[240:], y[240:] + 0.05, t[240:] + 60, np.sin((t[240:] + 60) / 9.0), split_t=240,
                     x_values=years, x_label="year", y_label="sunspots", gaps=[10, 250])

    def top_k(w):
        w.set_top_k([" ", "e", "t", "a", "\n"], [0.4, 0.2, 0.1, 0.05, 0.02])

    def curves(w):
        w.add_curve("rnn", np.arange(0, 3001, 50), 0.17 + 0.01 * rng.random(61), "#7F7F7F")
        w.add_curve("lstm", np.arange(0, 3001, 50), np.geomspace(0.2, 1e-4, 61), "#0072B2")
        w.add_level(0.01, "target 0.01")

    return {
        "loss": (plots.LossPlotWidget, loss), "grad_norms": (plots.GradNormPlotWidget, grad),
        "grad_through_time": (plots.GradThroughTimePlotWidget, through), "gates": (plots.GateHeatmapWidget, heat),
        "gru_gates": (plots.GateHeatmapWidget, gru_heat), "memory": (plots.MemoryHeatmapWidget, memory),
        "param_count": (plots.ParamCountPlotWidget, params),
        "param_count_linear": (plots.ParamCountPlotWidget, params_linear),
        "predictions": (plots.PredictionPlotWidget, pred), "top_k": (plots.PredictionPlotWidget, top_k),
        "loss_curves": (plots.LossCurvesPlotWidget, curves),
        "empty_loss": (plots.LossPlotWidget, lambda w: None),
        "one_epoch": (plots.LossPlotWidget, lambda w: w.set_history([1], [0.5], [0.6])),   # one-point curves
    }


FILLED = _filled()
HEATMAPS = {"gates", "gru_gates", "memory"}


def _make(qtbot, name):
    cls, fill = FILLED[name]
    w = cls()
    qtbot.addWidget(w)
    fill(w)
    return w


# -- pixels ------------------------------------------------------------------------------------------

def _gray(img: QImage) -> np.ndarray:
    g = img.convertToFormat(QImage.Format.Format_Grayscale8)
    arr = np.frombuffer(g.constBits(), dtype=np.uint8).reshape(g.height(), g.bytesPerLine())
    return arr[:, :g.width()].astype(float)


def _blocks(a: np.ndarray, k: int = 8) -> np.ndarray:
    h, w = (a.shape[0] // k) * k, (a.shape[1] // k) * k
    return a[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))


def _axis_lines(gray: np.ndarray) -> tuple[float, float]:
    """(x of the leftmost long dark vertical line, y of the lowest long dark horizontal line): the
    left and bottom axes of the first plot, to a fraction of a pixel (an antialiased line may
    straddle two pixel rows)."""
    ink = (255.0 - gray) / 255.0
    found = []
    for axis, first in ((0, True), (1, False)):          # columns (x) first, then rows (y)
        d = ink.sum(axis=axis)
        pair = d[:-1] + d[1:]
        long_enough = np.flatnonzero(pair > 0.3 * ink.shape[axis])
        k = int(long_enough[0] if first else long_enough[-1])
        found.append((k * d[k] + (k + 1) * d[k + 1]) / (d[k] + d[k + 1]))
    return found[0], found[1]


def _svg_as_png(svg_path, width, height) -> QImage:
    r = QSvgRenderer(str(svg_path))
    assert r.isValid(), "Qt cannot read the SVG"
    img = QImage(width, height, QImage.Format.Format_ARGB32)
    img.fill(QColor("white"))
    p = QPainter(img)
    r.render(p, QRectF(0, 0, width, height))
    p.end()
    return img


# -- 1. the same picture in PNG and SVG --------------------------------------------------------------

@pytest.mark.parametrize("name", list(FILLED))
def test_svg_shows_the_pngs_picture(qtbot, tmp_path, name):
    w = _make(qtbot, name)
    w.export_png(tmp_path / "p.png")
    w.export_svg(tmp_path / "p.svg")
    png = QImage(str(tmp_path / "p.png"))
    size = w._export_size()
    assert (png.width(), png.height()) == (PNG_SCALE * size.width(), PNG_SCALE * size.height())
    assert png.width() >= 1600
    svg = _svg_as_png(tmp_path / "p.svg", png.width(), png.height())
    a, b = _gray(png), _gray(svg)
    diff = np.abs(_blocks(a) - _blocks(b))
    assert diff.mean() < 3.0, f"{name}: SVG differs from the PNG by {diff.mean():.2f} grey levels on average"
    assert np.percentile(diff, 99) < 40, f"{name}: parts of the SVG are not where the PNG has them"
    if name not in ("empty_loss",):
        (xa, ya), (xb, yb) = _axis_lines(a), _axis_lines(b)
        assert abs(xa - xb) <= 2 and abs(ya - yb) <= 2, f"{name}: axes at {(xa, ya)} in the PNG, {(xb, yb)} in the SVG"
    root = ET.parse(str(tmp_path / "p.svg")).getroot()
    assert root.get("viewBox") == f"0 0 {size.width()} {size.height()}"
    images = list(root.iter(SVG_NS + "image"))
    if name in HEATMAPS:
        assert len(images) == 2 * len(w.plots)            # each heatmap and its colour bar
    else:
        assert images == [], f"{name}: bitmaps in the SVG (symbols must be vector shapes)"


def test_scatter_symbols_are_vector_shapes(qtbot, tmp_path):
    w = _make(qtbot, "grad_norms")                          # clipped-step triangles
    w._flush()
    n_clipped = len(w.clip_scatter.getData()[0])
    w.export_svg(tmp_path / "g.svg")
    root = ET.parse(str(tmp_path / "g.svg")).getroot()
    red = [g for g in root.iter(SVG_NS + "g")
           if g.get("fill", "").lower() == "#c0392b" and g.find(SVG_NS + "path") is not None]
    assert len(red) >= n_clipped > 0                        # one filled triangle path per clipped step
    assert list(root.iter(SVG_NS + "image")) == []


# -- 2. their own size, whichever tab is showing -------------------------------------------------------

def _assert_export_size(w, tmp_path):
    on_screen = w.size()
    central = w.view.centralWidget.geometry()
    w.export_png(tmp_path / "x.png")
    img = QImage(str(tmp_path / "x.png"))
    assert (img.width(), img.height()) == (PNG_SCALE * EXPORT_SIZE.width(), PNG_SCALE * EXPORT_SIZE.height())
    assert img.width() >= 1600
    assert w.size() == on_screen and w.view.centralWidget.geometry() == central   # the screen is untouched
    return img


def test_export_from_a_hidden_tab(qtbot, tmp_path):
    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    tabs.addTab(QLabel("first"), "first")
    w = plots.GradThroughTimePlotWidget()
    w.set_norms(np.linspace(1, 0.01, 30), np.linspace(0.5, 0.4, 30))
    tabs.addTab(w, "second")
    tabs.resize(400, 300)
    tabs.show()
    qtbot.waitExposed(tabs)
    assert not w.isVisible()
    img = _assert_export_size(w, tmp_path)
    tabs.setCurrentIndex(1)                                  # the same picture once it is showing
    qtbot.waitUntil(w.isVisible)
    w.resize(300, 200)
    w.export_png(tmp_path / "y.png")
    assert QImage(str(tmp_path / "y.png")) == img


def test_export_from_a_tabified_dock(qtbot, tmp_path):
    win = QMainWindow()
    qtbot.addWidget(win)
    win.setCentralWidget(QLabel("centre"))
    win.resize(1024, 700)
    widgets = [plots.LossPlotWidget(), plots.GateHeatmapWidget(), plots.ParamCountPlotWidget()]
    widgets[0].set_history([1, 2, 3], [1.0, 0.5, 0.3], [1.1, 0.6, 0.4])
    widgets[1].set_trace({"h": np.tanh(np.random.default_rng(0).normal(size=(20, 8)))})
    widgets[2].set_config(1, 1)
    docks = []
    for k, w in enumerate(widgets):
        d = QDockWidget(f"d{k}")
        d.setWidget(w)
        win.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, d)
        if docks:
            win.tabifyDockWidget(docks[0], d)
        docks.append(d)
    win.show()
    qtbot.waitExposed(win)
    docks[0].raise_()
    # whatever size the tabs have on screen (a raised dock squeezed by the centre, the others never
    # laid out), the exports have their own
    assert all(w.size() != EXPORT_SIZE for w in widgets)
    for w in (widgets[0], widgets[2]):
        _assert_export_size(w, tmp_path)
    heat = widgets[1]
    heat.export_png(tmp_path / "h.png")
    img = QImage(str(tmp_path / "h.png"))
    assert (img.width(), img.height()) == (PNG_SCALE * EXPORT_SIZE.width(), PNG_SCALE * EXPORT_SIZE.height())


def test_export_twice_gives_the_same_picture(qtbot, tmp_path):
    w = _make(qtbot, "param_count_linear")
    w.export_png(tmp_path / "a.png")
    w.export_png(tmp_path / "b.png")
    assert QImage(str(tmp_path / "a.png")) == QImage(str(tmp_path / "b.png"))


# -- 3. a million points ---------------------------------------------------------------------------------

def _longest_path(root) -> int:
    import re
    num = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
    return max((len(num.findall(el.get("d", ""))) // 2 for el in root.iter(SVG_NS + "path")), default=0)


def test_million_steps_small_picture_complete_csv(qtbot, tmp_path):
    n = 1_000_000
    rng = np.random.default_rng(1)
    w = plots.GradNormPlotWidget()
    qtbot.addWidget(w)
    glob = np.exp(rng.normal(-1, 0.4, n))
    w.set_steps(np.arange(1, n + 1), glob, {"i": glob / 2, "f": glob / 3}, glob > 1.2, np.arange(1, n + 1, 10_000),
                1.2)
    paths = plots.export_plot(w, tmp_path, "g")
    svg_size = paths[1].stat().st_size
    assert svg_size < 2_000_000, f"SVG of {svg_size:,} bytes"
    root = ET.parse(str(paths[1])).getroot()
    assert 1000 <= _longest_path(root) <= 4 * EXPORT_SIZE.width()   # min and max per pixel column, not 10^6
    assert paths[0].stat().st_size < 3_000_000
    with open(paths[2]) as fh:
        header = fh.readline().strip()
        rows = sum(1 for _ in fh)
    assert header == "step,global,i,f,clipped" and rows == n
    # the widget keeps every point; only the drawing is thinned
    assert len(w.global_norm.view) == n


def test_million_point_curve_overlay(qtbot, tmp_path):
    n = 1_000_000
    w = plots.CurvesPlotWidget("Validation loss", "step", "loss")
    qtbot.addWidget(w)
    x = np.arange(n)
    w.add_curve("lstm", x, np.geomspace(1, 1e-3, n) * (1 + 0.1 * np.sin(x / 7.0)), "#0072B2")
    paths = plots.export_plot(w, tmp_path, "c")
    assert paths[1].stat().st_size < 1_000_000
    with open(paths[2]) as fh:
        assert sum(1 for _ in fh) == n + 1


# -- 4. the command line ------------------------------------------------------------------------------

def test_cli_exports_without_the_window_package(tmp_path):
    out = tmp_path / "run"
    code = (
        "import sys\n"
        "from explorer.cli import main\n"
        f"rc = main(['train', '--example', 'sine', '--epochs', '2', '--units', '4', '--out', {str(out)!r}, '--quiet'])\n"
        "gui = sorted(m for m in sys.modules if m == 'explorer.gui' or m.startswith('explorer.gui.'))\n"
        "print('GUI', gui)\n"
        "sys.exit(rc or (3 if gui else 0))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "GUI []" in res.stdout
    for stem in ("loss", "grad_norms", "grad_through_time", "param_count", "predictions"):
        img = QImage(str(out / f"{stem}.png"))
        assert (img.width(), img.height()) == (PNG_SCALE * EXPORT_SIZE.width(), PNG_SCALE * EXPORT_SIZE.height())
    # the loss plot's scale is the window's rule applied to the run's history
    import csv

    from explorer.figures.axes import loss_log_default
    with open(out / "history.csv") as fh:
        hist = list(csv.DictReader(fh))
    log = loss_log_default([float(r["train_loss"]) for r in hist],
                           [float(r["val_loss"]) for r in hist if r["val_loss"]])
    texts = "".join("".join(t.itertext()) for t in ET.parse(str(out / "loss.svg")).getroot().iter(SVG_NS + "text"))
    assert ("10⁻" in texts or "10⁰" in texts) == log
    # through time in the CSV: timesteps from 1
    with open(out / "grad_through_time.csv") as fh:
        lines = fh.read().splitlines()
    assert lines[1].startswith("1,")


def test_comparison_plots(qtbot, tmp_path):
    from explorer.data.examples import load_example
    from explorer.app.compare import compare_cells
    from explorer.figures.report import comparison_plots
    from explorer.runs.store import settings_for_example

    comp = compare_cells(load_example("sine"), settings_for_example("sine", units=4), ["rnn", "lstm"], seeds=2,
                         max_steps=20, eval_every=10)
    figs = comparison_plots(comp)
    curves, through = figs["loss_curves"], figs["grad_through_time"]
    for w in figs.values():
        qtbot.addWidget(w)
    assert curves.legend.entries() == ["rnn", "lstm", "target 0.01"]   # one entry per cell, seeds share it
    assert len(curves.series) == 4 and curves.plot.getAxis("left").logMode
    assert through.plot.getAxis("left").logMode
    assert through.legend.entries() == ["rnn ‖∂L/∂hₜ‖", "lstm ‖∂L/∂hₜ‖", "lstm ‖∂L/∂cₜ‖"]
    name, x, y = through.series[0]
    T = len(comp.of("rnn")[0].norms_dh)
    assert list(x) == list(range(1, T + 1)) and np.array_equal(y, comp.of("rnn")[0].norms_dh)
    paths = plots.export_plot(through, tmp_path, "t")
    with open(paths[2]) as fh:
        assert fh.readline().strip() == "series,x,y" and fh.readline().startswith("rnn ‖∂L/∂hₜ‖,1,")


# -- 5. the window's Export all ---------------------------------------------------------------------

def test_window_export_all_writes_full_size_plots_from_any_tab(qtbot, qsettings, app_paths, tmp_path):
    from explorer.gui.main_window import MainWindow

    win = MainWindow(qsettings)
    qtbot.addWidget(win)
    win.resize(1024, 700)
    win.show()
    qtbot.waitExposed(win)
    with qtbot.waitSignal(win.sigDataLoaded, timeout=60000):
        win.open_example("sine")
    with qtbot.waitSignal(win.sigTrainingFinished, timeout=120000):
        win.start_training(1)
    files = {p.name: p for p in win.export_all(tmp_path / "export")}
    expected = {"gates": (2400, 1280)}
    for key in ("loss", "grad_norms", "grad_through_time", "gates", "param_count", "predictions"):
        png = QImage(str(files[f"{key}.png"]))
        assert (png.width(), png.height()) == expected.get(key, (1800, 1040)), key
        svg = _svg_as_png(files[f"{key}.svg"], png.width(), png.height())
        diff = np.abs(_blocks(_gray(png)) - _blocks(_gray(svg)))
        assert diff.mean() < 3.0, f"{key}: the SVG is not the PNG's picture"
    (x0, x1), (y0, y1) = win.param_plot.plot.viewRange()      # no runaway axis (was 10^-50 … 10^250)
    assert -0.2 < x0 < x1 < 3.0 and 0.5 < y0 < y1 < 7.0


def test_a_failed_write_raises_instead_of_leaving_a_broken_file(qtbot, tmp_path):
    w = _make(qtbot, "loss")
    for method in (w.export_png, w.export_svg, w.export_csv):
        with pytest.raises(OSError):
            method(tmp_path / "missing folder" / "x")
    assert not (tmp_path / "missing folder").exists()


def test_series_axes_from_the_datasets_time_and_names(qtbot):
    from types import SimpleNamespace

    from explorer.figures.report import series_axes

    years = np.arange(1871, 1971)
    ds = SimpleNamespace(kind="series", time_values=years, time_label="year", target_name="Flow", gap_rows=[3, 4])
    axes = series_axes(ds)
    assert axes["x_label"] == "year" and axes["y_label"] == "Flow" and list(axes["gaps"]) == [3, 4]
    w = plots.PredictionPlotWidget()
    qtbot.addWidget(w)
    w.set_series(np.arange(100), np.ones(100), np.arange(80, 100), np.ones(20), split_t=80, **axes)
    assert w.plot.getAxis("bottom").labelText == "year" and w.split_line.value() + w.x_origin == 1951
    # a dataset without them (today's loader, text): today's axes
    assert series_axes(SimpleNamespace(kind="series")) == {}
    assert series_axes(SimpleNamespace(kind="text", time_values=years)) == {}
    # whole sequences are numbered as validation sequences, in files as in the window
    assert series_axes(SimpleNamespace(kind="regression")) == {"x_label": "validation sequence", "y_label": "target"}
    w.set_series(np.arange(5), np.ones(5), np.arange(5), np.ones(5), **series_axes(SimpleNamespace(kind="regression")))
    assert w.plot.getAxis("bottom").labelText == "validation sequence" and w.plot.getAxis("left").labelText == "target"
    # POSIX seconds of a dated file reach the plot (and the command line's exports) as dates
    secs = np.datetime64("2014-03-01T00:00:00", "s").astype(np.int64) + 3600.0 * np.arange(100)
    dated = series_axes(SimpleNamespace(kind="series", time_values=secs, time_label="date", target_name="pm2.5"))
    assert dated["x_label"] == "date" and str(dated["x_values"][25]) == "2014-03-02T01:00:00"
    w.set_series(np.arange(100), np.ones(100), np.arange(100), np.ones(100), **dated)
    assert w.plot.getAxis("bottom").dates and w.plot.getAxis("bottom").labelText == "date"

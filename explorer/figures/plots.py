"""Every plot of LSTM Explorer, built once: the window shows them live and the command line exports
them offscreen, so both produce the same pictures.

Each plot is a :class:`PlotPanelWidget` with ``export_png`` (twice the screen resolution),
``export_svg`` and ``export_csv`` (the plotted data). pyqtgraph's own SVG exporter fails on
current Qt 6 (pyqtgraph issue #3485), so SVG is drawn by the view itself into a
``QSvgGenerator`` through a ``QPainter``: curves stay vector paths.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np  # noqa: E402
from PySide6.QtCore import QRect, QRectF, QSize, Qt  # noqa: E402
from PySide6.QtGui import QColor, QImage, QPainter, QPalette  # noqa: E402
from PySide6.QtSvg import QSvgGenerator  # noqa: E402
from PySide6.QtWidgets import QApplication, QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget  # noqa: E402

import pyqtgraph as pg  # noqa: E402

from explorer.figures.colors import GATE_COLORS, diverging_color, diverging_rgb  # noqa: E402, F401 (re-exported)
from explorer.runs import csv_value  # noqa: E402

pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")

EXPORT_SIZE = QSize(900, 500)
GRAD_COLORS = {**GATE_COLORS, "head": QColor("#7F7F7F"), "h": QColor("#D55E00"), "r": QColor("#009E73"),
               "z": QColor("#CC79A7"), "n": QColor("#E69F00")}
TRAIN_COLOR = QColor("#0072B2")
VAL_COLOR = QColor("#D55E00")
TARGET_COLOR = QColor("#444444")
MARKER_COLOR = QColor("#C0392B")


def ensure_app() -> QApplication:
    """The running QApplication, or a new one (offscreen works for headless export)."""
    app = QApplication.instance()
    if app is None:
        app = QApplication([])
    return app


def write_csv(path, header, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([csv_value(v) for v in row])


class _Growing:
    """A numpy buffer that grows by doubling; ``view`` is the filled part."""

    def __init__(self, dtype=float):
        self.a = np.zeros(256, dtype=dtype)
        self.n = 0

    def extend(self, values):
        values = np.asarray(values)
        need = self.n + len(values)
        if need > len(self.a):
            b = np.zeros(max(need, 2 * len(self.a)), dtype=self.a.dtype)
            b[:self.n] = self.a[:self.n]
            self.a = b
        self.a[self.n:need] = values
        self.n = need

    def clear(self):
        self.n = 0

    @property
    def view(self):
        return self.a[:self.n]


class PlotPanelWidget(QWidget):
    """Base: holds a pyqtgraph view (``self.view``), colours from the palette, and the exporters."""

    title = ""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(2, 2, 2, 2)
        self.view = self._make_view()
        self._lay.addWidget(self.view, 1)
        self._apply_palette()

    # -- subclass hooks ------------------------------------------------------------------------
    def _make_view(self):
        w = pg.PlotWidget()
        self.plot = w.getPlotItem()
        self.plot.setTitle(self.title)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        for name in ("left", "bottom"):
            self.plot.getAxis(name).enableAutoSIPrefix(False)
        return w

    def csv_rows(self):
        """(header, rows) of the plotted data."""
        raise NotImplementedError

    # -- drawing only what is seen ---------------------------------------------------------------
    _stale = False

    def _draw(self):
        pass

    def _request_draw(self):
        """Draw now if the plot is on screen; otherwise when it is shown or exported (a plot in a
        tab behind others costs nothing while training)."""
        if self.isVisible():
            self._draw()
            self._stale = False
        else:
            self._stale = True

    def _flush(self):
        if self._stale:
            self._draw()
            self._stale = False

    def showEvent(self, e):  # noqa: N802
        self._flush()
        super().showEvent(e)

    def clear(self):
        pass

    def set_time_marker(self, t):
        pass

    # -- palette -------------------------------------------------------------------------------
    def _apply_palette(self):
        pal = self.palette()
        bg = pal.color(QPalette.ColorRole.Base)
        fg = pal.color(QPalette.ColorRole.Text)
        self.dark = bg.lightness() < 128
        self.view.setBackground(bg)
        for item in self._plot_items():
            for name in ("left", "bottom", "right", "top"):
                ax = item.getAxis(name)
                ax.setPen(fg)
                ax.setTextPen(fg)
            item.titleLabel.setText(item.titleLabel.text, color=fg.name())

    def _plot_items(self):
        return [self.plot] if hasattr(self, "plot") else []

    def changeEvent(self, e):  # noqa: N802
        if e.type() == e.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(e)

    # -- export --------------------------------------------------------------------------------
    def _export_size(self) -> QSize:
        self._flush()
        if not self.isVisible():
            # never shown (command line): lay it out at the export size without a window on screen
            self.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
            self.resize(EXPORT_SIZE)
            self.show()
            self._settle()
        return self.view.size()

    def _settle(self):
        lay = self.layout()
        if lay is not None:
            lay.activate()
        QApplication.processEvents()

    def _render(self, painter: QPainter, size: QSize):
        # QGraphicsView.render draws the scene's visible part through the painter: vector in SVG
        self.view.render(painter, QRectF(0, 0, size.width(), size.height()), self.view.viewport().rect())

    def export_png(self, path, scale: float = 2) -> bool:
        """The plot at ``scale`` × its screen size (2 by default)."""
        size = self._export_size()
        img = QImage(int(size.width() * scale), int(size.height() * scale), QImage.Format.Format_ARGB32)
        img.setDevicePixelRatio(scale)
        img.fill(self.palette().color(QPalette.ColorRole.Base))
        p = QPainter(img)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._render(p, size)
        p.end()
        return img.save(str(path))

    def export_svg(self, path) -> None:
        """A valid SVG with the curves as vector paths."""
        size = self._export_size()
        gen = QSvgGenerator()
        gen.setFileName(str(path))
        gen.setSize(size)
        gen.setViewBox(QRect(0, 0, size.width(), size.height()))
        gen.setTitle(self.title or type(self).__name__)
        gen.setDescription("LSTM Explorer plot")
        p = QPainter(gen)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._render(p, size)
        p.end()

    def export_csv(self, path) -> None:
        self._flush()
        header, rows = self.csv_rows()
        write_csv(path, header, rows)


def _marker_line(color=MARKER_COLOR):
    line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine))
    line.setZValue(20)
    line.hide()
    return line


class LossPlotWidget(PlotPanelWidget):
    """Training and validation loss per epoch, with a log-scale option."""

    title = "Loss per epoch"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot.setLabel("bottom", "epoch")
        self.plot.setLabel("left", "loss")
        self.plot.addLegend(offset=(-10, 10))
        self.train_curve = self.plot.plot([], [], pen=pg.mkPen(TRAIN_COLOR, width=2), symbol="o",
                                          symbolSize=5, symbolBrush=TRAIN_COLOR, name="training")
        self.val_curve = self.plot.plot([], [], pen=pg.mkPen(VAL_COLOR, width=2), symbol="s",
                                        symbolSize=5, symbolBrush=VAL_COLOR, name="validation")
        self.log_box = QCheckBox("log scale")
        self.log_box.toggled.connect(self.set_log_scale)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.log_box)
        self._lay.addLayout(row)
        self.epochs = self.train = self.val = np.zeros(0)

    def set_history(self, epochs, train_loss, val_loss):
        self.epochs = np.asarray(epochs, dtype=float)
        self.train = np.asarray(train_loss, dtype=float)
        self.val = np.asarray(val_loss, dtype=float)
        self._request_draw()

    def _draw(self):
        log = self.log_box.isChecked()

        def safe(y):
            return np.where(y > 0, y, np.nan) if log else y

        few = len(self.epochs) <= 60                    # markers while they can be told apart
        self.train_curve.setSymbol("o" if few else None)
        self.val_curve.setSymbol("s" if few else None)
        self.train_curve.setData(self.epochs, safe(self.train), connect="finite")
        ok = np.isfinite(self.val)
        self.val_curve.setData(self.epochs[ok], safe(self.val[ok]))

    def set_history_rows(self, history) -> None:
        """From the trainer's (or history.csv's) rows: dicts with epoch, train_loss, val_loss."""
        rows = list(history)
        self.set_history([r["epoch"] for r in rows], [r["train_loss"] for r in rows],
                         [r["val_loss"] for r in rows])

    def set_log_scale(self, on: bool):
        if self.log_box.isChecked() != bool(on):
            self.log_box.setChecked(bool(on))
            return
        self.plot.setLogMode(y=bool(on))
        self._draw()

    def clear(self):
        self.set_history([], [], [])

    def csv_rows(self):
        return ("epoch", "train_loss", "val_loss"), zip(self.epochs.astype(int), self.train, self.val)


class GradNormPlotWidget(PlotPanelWidget):
    """Gradient norms per step: the global norm and one per gate (and the head), the clipping
    threshold, clipped steps marked, epoch boundaries as faint lines."""

    title = "Gradient norm per step (before clipping)"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "‖∇‖")
        self.plot.setLogMode(y=True)
        self.plot.showGrid(x=False, y=True, alpha=0.12)     # the live plot: no vertical grid to repaint
        self.plot.getAxis("left").setStyle(maxTickLevel=1)   # decades and their halves, not every minor line
        self.plot.addLegend(offset=(-10, 10), colCount=3)
        # thousands of steps: draw only what fits in the pixels, without antialiasing
        self.plot.setDownsampling(auto=True, mode="peak")
        self.plot.setClipToView(True)
        self.global_curve = self.plot.plot([], [], pen=pg.mkPen(QColor("#222222"), width=1.6), name="global",
                                           antialias=False)
        # epoch boundaries: one item of vertical segments (not one line item per epoch)
        self.epoch_item = pg.PlotDataItem([], [], connect="pairs", antialias=False,
                                          pen=pg.mkPen(QColor(128, 128, 128, 70), width=1))
        self.plot.addItem(self.epoch_item, ignoreBounds=True)
        self.gate_curves: dict = {}
        self.clip_scatter = self.plot.plot([], [], pen=None, symbol="t", symbolSize=7, symbolPen=None,
                                           symbolBrush=pg.mkBrush(MARKER_COLOR), name="clipped")
        self.threshold = pg.InfiniteLine(angle=0, movable=False,
                                         pen=pg.mkPen(MARKER_COLOR, width=1, style=Qt.PenStyle.DashLine))
        self.threshold.hide()
        self.plot.addItem(self.threshold)
        self._reset_buffers()
        self.clip_value = None

    def _reset_buffers(self):
        self.steps = _Growing(np.int64)
        self.global_norm = _Growing()
        self.clipped = _Growing(bool)
        self.gates: dict = {}
        self.epoch_starts = _Growing(np.int64)

    def _curve(self, gate):
        if gate not in self.gate_curves:
            color = GRAD_COLORS.get(gate, QColor("#999999"))
            self.gate_curves[gate] = self.plot.plot([], [], pen=pg.mkPen(color, width=1), name=gate,
                                                    antialias=False)
            self.gates[gate] = _Growing()
        return self.gate_curves[gate]

    def set_steps(self, steps, global_norm, gate_norms, clipped, epoch_starts, clip_threshold=None):
        for c in self.gate_curves.values():
            self.plot.removeItem(c)
            self.plot.legend.removeItem(c)
        self.gate_curves = {}
        self._reset_buffers()
        self.append_steps(steps, global_norm, gate_norms, clipped, epoch_starts, clip_threshold)

    def set_step_table(self, table: dict, gates, clip_threshold=None) -> None:
        """From ``Trainer.step_table()``: step, epoch, grad_norm, clipped and ``norm_<gate>``."""
        self.set_steps(table["step"], table["grad_norm"], {g: table[f"norm_{g}"] for g in gates},
                       table["clipped"], epoch_starts(table["step"], table["epoch"]), clip_threshold)

    def append_steps(self, steps, global_norm, gate_norms, clipped, epoch_starts, clip_threshold=None):
        self.steps.extend(steps)
        self.global_norm.extend(global_norm)
        self.clipped.extend(np.asarray(clipped, dtype=bool))
        for g, vals in gate_norms.items():
            self._curve(g)
            self.gates[g].extend(vals)
        self.epoch_starts.extend(epoch_starts)
        self.clip_value = clip_threshold
        self._request_draw()

    def _draw(self):
        x = self.steps.view.astype(float)
        self.global_curve.setData(x, _positive(self.global_norm.view))
        for g, c in self.gate_curves.items():
            c.setData(x, _positive(self.gates[g].view))
        cl = self.clipped.view
        self.clip_scatter.setData(x[cl], _positive(self.global_norm.view[cl]))
        starts = self.epoch_starts.view
        starts = starts[starts > 1].astype(float) - 0.5
        g = _positive(self.global_norm.view)
        lo, hi = (np.nanmin(g) / 10, np.nanmax(g) * 10) if np.isfinite(g).any() else (1e-3, 1e3)
        self.epoch_item.setData(np.repeat(starts, 2), np.tile([lo, hi], len(starts)))
        if self.clip_value:
            self.threshold.setValue(math.log10(self.clip_value))
            self.threshold.show()
        else:
            self.threshold.hide()

    def clear(self):
        self.set_steps([], [], {}, [], [], None)

    def csv_rows(self):
        gates = list(self.gates)
        cols = [self.steps.view, self.global_norm.view] + [self.gates[g].view for g in gates] + [self.clipped.view]
        return ("step", "global", *gates, "clipped"), zip(*cols)


def epoch_starts(steps, epochs) -> np.ndarray:
    """The steps at which a new epoch begins, within these arrays (step 1 included)."""
    steps, epochs = np.asarray(steps, dtype=np.int64), np.asarray(epochs)
    if len(steps) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = steps[np.flatnonzero(np.diff(epochs) != 0) + 1]
    if steps[0] == 1:
        starts = np.concatenate([[1], starts])
    return starts.astype(np.int64)


def _positive(y):
    y = np.asarray(y, dtype=float)
    return np.where(y > 0, y, np.nan)


class GradThroughTimePlotWidget(PlotPanelWidget):
    """||dL/dh_t|| and ||dL/dc_t|| against t for the latest step: does the signal vanish or explode
    as it travels back?"""

    title = "Gradient norm through time (latest step)"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot.setLabel("bottom", "timestep t")
        self.plot.setLabel("left", "‖∂L/∂·ₜ‖")
        self.plot.setLogMode(y=True)
        self.plot.addLegend(offset=(-10, 10))
        self.dh_curve = self.plot.plot([], [], pen=pg.mkPen(GATE_COLORS["h"], width=2), symbol="o",
                                       symbolSize=4, symbolBrush=GATE_COLORS["h"], name="‖∂L/∂hₜ‖")
        self.dc_curve = self.plot.plot([], [], pen=pg.mkPen(GATE_COLORS["c"], width=2), symbol="s",
                                       symbolSize=4, symbolBrush=GATE_COLORS["c"], name="‖∂L/∂cₜ‖")
        self.marker = _marker_line()
        self.plot.addItem(self.marker)
        self.dh = np.zeros(0)
        self.dc = None

    def set_norms(self, dh, dc=None):
        self.dh = np.asarray(dh, dtype=float)
        self.dc = None if dc is None else np.asarray(dc, dtype=float)
        self._request_draw()

    def _draw(self):
        t = np.arange(len(self.dh), dtype=float)
        self.dh_curve.setData(t, _positive(self.dh))
        if self.dc is None:
            self.dc_curve.setData([], [])
        else:
            self.dc_curve.setData(t, _positive(self.dc))

    def set_time_marker(self, t):
        if t is None:
            self.marker.hide()
        else:
            self.marker.setValue(float(t))
            self.marker.show()

    def clear(self):
        self.set_norms([], None)

    def csv_rows(self):
        dc = self.dc if self.dc is not None else [None] * len(self.dh)
        return ("t", "dh", "dc"), zip(range(len(self.dh)), self.dh, dc)


def _colormap(sym: bool):
    if sym:
        pos = np.linspace(-1, 1, 9)
    else:
        pos = np.linspace(0, 1, 9)
    colors = [diverging_rgb(v) for v in pos]
    return pg.ColorMap((pos - pos[0]) / (pos[-1] - pos[0]), colors)


class GateHeatmapWidget(PlotPanelWidget):
    """Heatmaps (time × unit) of i, f, g, o, c and h for the selected sample."""

    title = "Gate activations over time"
    NAMES = ("i", "f", "g", "o", "c", "h")

    def _make_view(self):
        w = pg.GraphicsLayoutWidget()
        self.plots, self.images, self.markers, self.bars = {}, {}, {}, {}
        for k, name in enumerate(self.NAMES):
            p = w.addPlot(row=k // 3, col=k % 3)
            p.setTitle(name)
            p.setLabel("bottom", "t")
            p.setLabel("left", "unit")
            img = pg.ImageItem()
            p.addItem(img)
            sym = name in ("g", "c", "h")
            bar = pg.ColorBarItem(values=(-1, 1) if sym else (0, 1), colorMap=_colormap(sym),
                                  interactive=False, width=10)
            bar.setImageItem(img, insert_in=p)
            marker = _marker_line()
            p.addItem(marker)
            self.plots[name], self.images[name], self.markers[name], self.bars[name] = p, img, marker, bar
        self.values: dict = {}
        return w

    def _plot_items(self):
        return list(getattr(self, "plots", {}).values())

    def set_trace(self, values: dict):
        """``values[name]`` is a (T, n) array for each of i, f, g, o, c, h."""
        self.values = {k: np.asarray(v, dtype=float) for k, v in values.items() if k in self.NAMES}
        self._request_draw()

    def _draw(self):
        for name, arr in self.values.items():
            img = self.images[name]
            img.setImage(arr.T, autoLevels=False)        # rows = units, columns = time
            img.setRect(QRectF(-0.5, -0.5, arr.shape[0], arr.shape[1]))
            if name == "c":
                vmax = float(np.max(np.abs(arr))) if arr.size else 1.0
                vmax = vmax if vmax > 0 else 1.0
                self.bars[name].setLevels((-vmax, vmax))
            elif name in ("g", "h"):
                self.bars[name].setLevels((-1, 1))
            else:
                self.bars[name].setLevels((0, 1))

    def set_time_marker(self, t):
        for m in self.markers.values():
            if t is None:
                m.hide()
            else:
                m.setValue(float(t))
                m.show()

    def clear(self):
        for img in self.images.values():
            img.clear()
        self.values = {}

    def csv_rows(self):
        def rows():
            for name, arr in self.values.items():
                for t in range(arr.shape[0]):
                    for u in range(arr.shape[1]):
                        yield name, t, u, arr[t, u]
        return ("quantity", "t", "unit", "value"), rows()


def lstm_layer_count(n, m):
    return 4 * n * (m + n + 1)


class ParamCountPlotWidget(PlotPanelWidget):
    """The layer's parameter count against units n over the whole range, the current n marked."""

    title = "Parameters of the layer against units n"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot.setLabel("bottom", "units n")
        self.plot.setLabel("left", "parameters")
        self.curve = self.plot.plot([], [], pen=pg.mkPen(GATE_COLORS["c"], width=2))
        self.point = pg.ScatterPlotItem(size=11, pen=pg.mkPen("w", width=1.5), brush=pg.mkBrush(MARKER_COLOR))
        self.point.setZValue(10)
        self.plot.addItem(self.point)
        self.info = QLabel()
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log_box = QCheckBox("log–log")
        self.log_box.toggled.connect(self._on_log_toggled)
        row = QHBoxLayout()
        row.addWidget(self.info, 1)
        row.addWidget(self.log_box)
        self._lay.addLayout(row)
        self.m, self.k, self.n_range, self.n = 1, 1, (1, 512), 8
        self.fn = lstm_layer_count
        self.kind = "lstm"
        self._label = ""
        self._formula = ""
        self.set_config(1, 1)
        self.log_box.setChecked(True)

    def set_config(self, n_inputs, n_outputs, n_range=(1, 512), n_current=8, layer_count_fn=None, kind="lstm"):
        self.m, self.k, self.n_range = int(n_inputs), int(n_outputs), (int(n_range[0]), int(n_range[1]))
        self.fn = layer_count_fn or lstm_layer_count
        self.kind = kind
        self.ns = np.arange(self.n_range[0], self.n_range[1] + 1)
        self.counts = np.array([self.fn(int(n), self.m) for n in self.ns], dtype=float)
        self.curve.setData(self.ns.astype(float), self.counts)
        formula = {"lstm": "4n(m+n+1)", "peephole": "4n(m+n+1)+3n", "rnn": "n(m+n+1)",
                   "gru": "3n(m+n+2)"}.get(kind, "")
        self._formula = f"Parameters of the layer against units n: {formula}, m = {self.m}"
        self.set_units(n_current)

    def set_units(self, n):
        self.n = int(n)
        layer = self.fn(self.n, self.m)
        head = self.k * (self.n + 1)
        self.point.setData([float(self.n)], [float(layer)])
        extra = " (= 12n + 4n(n−1) for m = 1)" if self.kind == "lstm" and self.m == 1 else ""
        self._label = f"n = {self.n}: layer {layer:,}{extra} + head {head:,} = total {layer + head:,}"
        self.info.setText(self._label)
        self.plot.setTitle(f"{self._formula}<br><span style='font-size:9pt'>{self._label}</span>")

    def marker_position(self):
        return self.n, self.fn(self.n, self.m)

    def label_text(self) -> str:
        return self._label

    def _on_log_toggled(self, on):
        self.plot.setLogMode(x=on, y=on)
        self.set_units(self.n)

    def clear(self):
        self.ns = np.zeros(0, dtype=np.int64)
        self.counts = np.zeros(0)
        self.curve.setData([], [])
        self.point.setData([], [])
        self._label = ""
        self.info.setText("")
        self.plot.setTitle(self.title)

    def csv_rows(self):
        return ("n", "layer_params"), zip(self.ns, self.counts.astype(np.int64))


class PredictionPlotWidget(PlotPanelWidget):
    """Predictions against the target on the validation part and a free-running forecast; in text
    mode the top five next characters with their probabilities."""

    title = "Predictions on the validation part"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot.addLegend(offset=(-10, 10))
        self.target_curve = self.plot.plot([], [], pen=pg.mkPen(TARGET_COLOR, width=1.5), name="target")
        self.pred_curve = self.plot.plot([], [], pen=pg.mkPen(TRAIN_COLOR, width=2), name="one step ahead")
        self.forecast_curve = self.plot.plot([], [], pen=pg.mkPen(VAL_COLOR, width=2, style=Qt.PenStyle.DashLine),
                                             name="free-running forecast")
        self.split_line = _marker_line(QColor(128, 128, 128))
        self.plot.addItem(self.split_line)
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.6, width=[], brush=pg.mkBrush(TRAIN_COLOR))
        self.bar_labels: list = []
        self.mode = "series"
        self.data: dict = {}
        self.top_k = ([], [])

    def _series_mode(self):
        if self.mode != "series":
            self.plot.removeItem(self.bars)
            for lab in self.bar_labels:
                self.plot.removeItem(lab)
            self.bar_labels = []
            self.plot.getAxis("left").setTicks(None)
            self.mode = "series"
            self.plot.legend.show()

    def set_series(self, t_target, target, t_pred, pred, t_forecast=None, forecast=None, split_t=None):
        self._series_mode()
        self.plot.setTitle(self.title)
        self.plot.setLabel("bottom", "t")
        self.plot.setLabel("left", "value")
        self.data = {"t_target": np.asarray(t_target, float), "target": np.asarray(target, float),
                     "t_pred": np.asarray(t_pred, float), "pred": np.asarray(pred, float),
                     "t_forecast": None if t_forecast is None else np.asarray(t_forecast, float),
                     "forecast": None if forecast is None else np.asarray(forecast, float)}
        self.target_curve.setData(self.data["t_target"], self.data["target"])
        self.pred_curve.setData(self.data["t_pred"], self.data["pred"])
        if forecast is not None:
            self.forecast_curve.setData(self.data["t_forecast"], self.data["forecast"])
        else:
            self.forecast_curve.setData([], [])
        if split_t is not None:
            self.split_line.setValue(float(split_t))
            self.split_line.show()
        else:
            self.split_line.hide()

    def set_top_k(self, chars, probs):
        """Text mode: a horizontal bar chart of the top next tokens and their probabilities."""
        if self.mode != "text":
            self.target_curve.setData([], [])
            self.pred_curve.setData([], [])
            self.forecast_curve.setData([], [])
            self.split_line.hide()
            self.plot.addItem(self.bars)
            self.plot.legend.hide()
            self.mode = "text"
        self.data = {}
        self.top_k = (list(chars), [float(p) for p in probs])
        k = len(chars)
        y = np.arange(k)[::-1].astype(float)
        self.bars.setOpts(x0=np.zeros(k), y=y, width=np.asarray(probs, float), height=0.6)
        for lab in self.bar_labels:
            self.plot.removeItem(lab)
        self.bar_labels = []
        for yy, c, p in zip(y, chars, probs):
            lab = pg.TextItem(f"{p:.1%}", anchor=(0, 0.5), color=self.palette().color(QPalette.ColorRole.Text))
            lab.setPos(float(p) + 0.01, yy)
            self.plot.addItem(lab)
            self.bar_labels.append(lab)
        self.plot.getAxis("left").setTicks([[(yy, _visible(c)) for yy, c in zip(y, chars)]])
        self.plot.setLabel("bottom", "probability")
        self.plot.setLabel("left", "next character")
        self.plot.setTitle("Top five next characters at the selected timestep")
        self.plot.setXRange(0, 1.15, padding=0)
        self.plot.setYRange(-0.7, k - 0.3, padding=0)

    def clear(self):
        self.set_series([], [], [], [])

    def csv_rows(self):
        if self.mode == "text":
            return ("token", "probability"), zip(*self.top_k) if self.top_k[0] else iter(())
        d = self.data
        if not d:
            return ("t", "target", "prediction", "forecast"), iter(())
        rows: dict = {}
        for t, v in zip(d["t_target"], d["target"]):
            rows.setdefault(t, [None, None, None])[0] = v
        for t, v in zip(d["t_pred"], d["pred"]):
            rows.setdefault(t, [None, None, None])[1] = v
        if d["forecast"] is not None:
            for t, v in zip(d["t_forecast"], d["forecast"]):
                rows.setdefault(t, [None, None, None])[2] = v
        return ("t", "target", "prediction", "forecast"), ([_int_if_whole(t), *v] for t, v in sorted(rows.items()))


def _int_if_whole(t):
    return int(t) if float(t).is_integer() else t


def _visible(c: str) -> str:
    return {" ": "␣", "\n": "⏎", "\t": "⇥"}.get(c, c)


class LossCurvesPlotWidget(PlotPanelWidget):
    """Several validation-loss curves overlaid (the cell comparison)."""

    title = "Validation loss of each cell"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "validation loss")
        self.plot.setLogMode(y=True)
        self.plot.addLegend(offset=(-10, 10))
        self.series: list = []

    def add_curve(self, name, x, y, color, style=Qt.PenStyle.SolidLine):
        self.series.append((name, np.asarray(x, float), np.asarray(y, float)))
        self.plot.plot(np.asarray(x, float), _positive(y), pen=pg.mkPen(color, width=1.8, style=style), name=name)

    def add_level(self, y, label):
        line = pg.InfiniteLine(pos=math.log10(y), angle=0, movable=False, label=label,
                               pen=pg.mkPen(MARKER_COLOR, width=1, style=Qt.PenStyle.DashLine),
                               labelOpts={"position": 0.95, "color": MARKER_COLOR})
        self.plot.addItem(line)

    def csv_rows(self):
        def rows():
            for name, x, y in self.series:
                for a, b in zip(x, y):
                    yield name, _int_if_whole(a), b
        return ("series", "x", "y"), rows()


def export_plot(widget: PlotPanelWidget, out_dir, stem: str) -> list[Path]:
    """Write ``stem.png``, ``stem.svg`` and ``stem.csv`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.svg", out / f"{stem}.csv"]
    widget.export_png(paths[0])
    widget.export_svg(paths[1])
    widget.export_csv(paths[2])
    return paths

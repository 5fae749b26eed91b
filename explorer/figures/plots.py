"""Every plot of LSTM Explorer, built once: the window shows them live and the command line exports
them offscreen, so both produce the same pictures.

Each plot is a :class:`~explorer.figures.panel.PlotPanelWidget` with ``export_png`` (twice its
export size, whichever tab shows it), ``export_svg`` (vector; drawn by the scene into a
``QSvgGenerator`` — pyqtgraph's own SVG exporter fails on current Qt 6, pyqtgraph issue #3485)
and ``export_csv`` (every plotted point). Timesteps are shown 1..T.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QColor, QPalette  # noqa: E402
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel  # noqa: E402

import pyqtgraph as pg  # noqa: E402

from explorer.engine import param_formula, recurrent_param_count  # noqa: E402
from explorer.figures.axes import _visible, decimal_years, loss_log_default  # noqa: E402
from explorer.figures.colors import GATE_COLORS, diverging_color, diverging_rgb  # noqa: E402, F401 (re-exported)
from explorer.figures.extremes import PeakIndex, ValueScan  # noqa: E402
from explorer.figures.panel import (EXPORT_SIZE, PlotPanelWidget, ensure_app, long_curve,  # noqa: E402, F401
                                    marker_line, positive, write_csv)

GRAD_COLORS = {**GATE_COLORS, "head": QColor("#7F7F7F"), "h": QColor("#D55E00"), "r": QColor("#009E73"),
               "z": QColor("#CC79A7"), "n": QColor("#E69F00")}
TRAIN_COLOR = QColor("#0072B2")
VAL_COLOR = QColor("#D55E00")
TARGET_COLOR = QColor("#444444")
MARKER_COLOR = QColor("#C0392B")
GAP_COLOR = QColor("#E69F00")


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


def _symbol_pen(widget):
    """Symbols get an outline in the background colour so that overlapping ones stay apart."""
    return pg.mkPen(widget.palette().color(QPalette.ColorRole.Base), width=0.8)


# -- loss --------------------------------------------------------------------------------------------

class LossPlotWidget(PlotPanelWidget):
    """Training and validation loss per epoch. Log scale when the loss spans more than a decade
    (:func:`~explorer.figures.axes.loss_log_default`, the same rule on the command line) until the
    person chooses with the checkbox."""

    title = "Loss per epoch"
    x_integer = True

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot.setLabel("bottom", "epoch")
        self.plot.setLabel("left", "loss")
        self.add_legend()
        self.train_curve = long_curve(self.plot.plot([], [], pen=pg.mkPen(TRAIN_COLOR, width=2), symbol="o",
                                                     symbolSize=6, symbolBrush=TRAIN_COLOR,
                                                     symbolPen=_symbol_pen(self), name="training"))
        self.val_curve = long_curve(self.plot.plot([], [], pen=pg.mkPen(VAL_COLOR, width=2), symbol="s",
                                                   symbolSize=6, symbolBrush=VAL_COLOR,
                                                   symbolPen=_symbol_pen(self), name="validation"))
        self.log_box = QCheckBox("log scale")
        self.log_box.setToolTip("Loss on a logarithmic axis (chosen automatically when it spans more than "
                                "a factor of ten, until you choose)")
        self.log_box.toggled.connect(self._on_log_box_toggled)
        self.log_box.clicked.connect(self._on_log_box_clicked)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.log_box)
        self._lay.addLayout(row)
        self.epochs = self.train = self.val = np.zeros(0)
        self.log_chosen: bool | None = None      # the person's choice; None: the automatic rule

    def set_history(self, epochs, train_loss, val_loss):
        self._peaks = self._drawn = None
        self.epochs = np.asarray(epochs, dtype=float)
        self.train = np.asarray(train_loss, dtype=float)
        self.val = np.asarray(val_loss, dtype=float)
        if self.log_chosen is None:
            self._set_log(loss_log_default(self.train, self.val))
        self._request_draw()

    #: Past this many steps the loss of every step is drawn as each bucket's extremes.
    PEAK_FROM = 8192
    _peaks = _drawn = None
    _nan = np.zeros(0)

    def set_step_losses(self, steps, losses) -> None:
        """The loss of every step (before an epoch has finished), growing as training sends it;
        past :attr:`PEAK_FROM` steps drawn as each bucket's smallest and largest
        (:class:`explorer.figures.extremes.PeakIndex`), so a redraw's cost stops growing with the
        steps. The CSV keeps every step."""
        steps, losses = np.asarray(steps), np.asarray(losses, dtype=float)
        n = len(losses)
        if n <= self.PEAK_FROM:
            self.set_history(steps, losses, np.full(n, np.nan))
            return
        p = self._peaks
        if p is None or p[1] > n or steps[0] != p[2] or steps[p[1] - 1] != p[3]:   # not the same steps grown
            p = self._peaks = [PeakIndex(of=positive), 0, steps[0], None]
            self._scan = ValueScan()
        if len(self._nan) < n:
            self._nan = np.full(2 * n, np.nan)
        nan = self._nan[:n]                         # no validation loss per step (one buffer, not one per redraw)
        self._scan.update(losses[p[1]:n])           # each value read once
        self._scan.update(nan[p[1]:n])
        p[0].update(losses)
        p[1], p[3] = n, steps[n - 1]
        self._drawn = p[0].indices(n, losses)
        self.epochs, self.train, self.val = steps, losses, nan
        if self.log_chosen is None:
            self._set_log(loss_log_default(losses[self._drawn]))
        self._request_draw()

    def has_data(self) -> bool:
        return bool(len(self.train) or len(self.val))

    def shown_values(self) -> list:
        return [self.train, self.val]

    def nothing_to_draw(self) -> str:
        return super().nothing_to_draw() if self._drawn is None else self._scan.reason()

    def _draw(self):
        log = self.log_box.isChecked()

        def safe(y):
            return np.where(y > 0, y, np.nan) if log else y

        few = len(self.epochs) <= 60                    # markers while they can be told apart
        self.train_curve.setSymbol("o" if few else None)
        self.val_curve.setSymbol("s" if few else None)
        epochs, train, val = self.epochs, self.train, self.val
        if self._drawn is not None:
            epochs, train, val = epochs[self._drawn], train[self._drawn], val[self._drawn]
        self.train_curve.setData(epochs, safe(train), connect="finite")
        ok = np.isfinite(val)
        self.val_curve.setData(epochs[ok], safe(val[ok]))

    def set_history_rows(self, history) -> None:
        """From the trainer's (or history.csv's) rows: dicts with epoch, train_loss, val_loss."""
        rows = list(history)
        self.set_history([r["epoch"] for r in rows], [r["train_loss"] for r in rows],
                         [r["val_loss"] for r in rows])

    def set_log_scale(self, on: bool):
        """Log (True) or linear loss axis, as the person chose (the automatic rule stops)."""
        self.log_chosen = bool(on)
        self._set_log(on)

    def _on_log_box_clicked(self, on):
        self.log_chosen = bool(on)

    def _set_log(self, on: bool):
        if self.log_box.isChecked() != bool(on):
            self.log_box.setChecked(bool(on))     # → _on_log_box_toggled
        elif self.plot.getAxis("left").logMode != bool(on):
            self._on_log_box_toggled(bool(on))

    def _on_log_box_toggled(self, on):
        self.plot.setLogMode(y=bool(on))
        self._draw()
        self._update_empty()

    def clear(self):
        self.set_history([], [], [])

    def csv_rows(self):
        return ("epoch", "train_loss", "val_loss"), zip(self.epochs.astype(int), self.train, self.val)


# -- gradient norms per step ------------------------------------------------------------------------

def _thin_marks(x, y, bins: int = 1500):
    """At most one mark per ``bins``-th of the x range (the largest y of each), for drawing only."""
    if len(x) <= bins:
        return x, y
    span = float(x.max() - x.min()) or 1.0
    b = ((x - x.min()) / span * (bins - 1)).astype(np.int64)
    order = np.lexsort((-np.nan_to_num(y, nan=-np.inf), b))
    _, first = np.unique(b[order], return_index=True)
    keep = np.sort(order[first])
    return x[keep], y[keep]


def _thin_boundaries(starts, most: int = 120):
    """Every k-th epoch boundary (k = 1, 2, 5, 10, …) so that at most ``most`` lines are drawn."""
    k, mags = 1, (1, 2, 5)
    while len(starts) / k > most:
        k = next(m * 10 ** e for e in range(12) for m in mags if m * 10 ** e > k)
    return starts[::k]


class GradNormPlotWidget(PlotPanelWidget):
    """Gradient norms per step: the global norm and one per gate (and the head), the clipping
    threshold (in the legend), clipped steps marked, epoch boundaries as faint lines."""

    title = "Gradient norm per step (before clipping)"
    x_integer = True

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot.setLabel("bottom", "step")
        self.plot.getAxis("left").set_label_forms("gradient norm ‖∇L‖", "‖∇L‖")
        self.plot.setLogMode(y=True)
        self.set_grid(x=0, y=0.12)                          # the live plot: no vertical grid to repaint
        self.add_legend()
        self.global_curve = long_curve(self.plot.plot([], [], pen=pg.mkPen(self._fg(), width=1.6),
                                                      name="global", antialias=False))
        # epoch boundaries: one item of vertical segments (not one line item per epoch)
        self.epoch_item = pg.PlotDataItem([], [], connect="pairs", antialias=False,
                                          pen=pg.mkPen(QColor(128, 128, 128, 70), width=1))
        self.plot.addItem(self.epoch_item, ignoreBounds=True)
        self.gate_curves: dict = {}
        self.clip_scatter = self.plot.plot([], [], pen=None, symbol="t", symbolSize=7, symbolPen=None,
                                           symbolBrush=pg.mkBrush(MARKER_COLOR))
        self.threshold = pg.InfiniteLine(angle=0, movable=False,
                                         pen=pg.mkPen(MARKER_COLOR, width=1, style=Qt.PenStyle.DashLine))
        self.threshold.hide()
        self.plot.addItem(self.threshold)
        # the threshold's legend entry: a curve without data drawn with the threshold's pen
        self._threshold_sample = pg.PlotDataItem([], [], pen=self.threshold.pen)
        self._threshold_label = None
        self._reset_buffers()
        self.clip_value = None

    def _apply_palette(self):
        super()._apply_palette()
        if hasattr(self, "global_curve"):          # the global norm in the text colour: black or white
            self.global_curve.setPen(pg.mkPen(self._fg(), width=1.6))

    def _reset_buffers(self):
        self._peaks: dict = {}
        self._scan = ValueScan()
        self.steps = _Growing(np.int64)
        self.global_norm = _Growing()
        self.clipped = _Growing(bool)
        self.clip_steps = _Growing(np.int64)        # the clipped steps and their global norms
        self.clip_norm = _Growing()
        self.gates: dict = {}
        self.epoch_starts = _Growing(np.int64)

    _legend_stale = False

    def _curve(self, gate):
        if gate not in self.gate_curves:
            color = GRAD_COLORS.get(gate, QColor("#999999"))
            self.gate_curves[gate] = long_curve(self.plot.plot([], [], pen=pg.mkPen(color, width=1), name=gate,
                                                               antialias=False))
            self._legend_stale = True              # the threshold goes last in the legend again
        if gate not in self.gates:
            self.gates[gate] = _Growing()
        return self.gate_curves[gate]

    def set_steps(self, steps, global_norm, gate_norms, clipped, epoch_starts, clip_threshold=None):
        """Replace every step (another run): the curves of gates it has too are kept, emptied, when
        they come first in its order (the legend reads the same as a fresh plot's)."""
        keep = [g for g in self.gate_curves if g in gate_norms]
        if keep != list(gate_norms)[:len(keep)]:
            keep = []
        for gate in [g for g in self.gate_curves if g not in keep]:
            self.plot.removeItem(self.gate_curves.pop(gate))
        for c in self.gate_curves.values():
            c.setData([], [])
        self._reset_buffers()
        self.append_steps(steps, global_norm, gate_norms, clipped, epoch_starts, clip_threshold)

    def set_step_table(self, table: dict, gates, clip_threshold=None) -> None:
        """From ``Trainer.step_table()``: step, epoch, grad_norm, clipped and ``norm_<gate>``."""
        self.set_steps(table["step"], table["grad_norm"], {g: table[f"norm_{g}"] for g in gates},
                       table["clipped"], epoch_starts(table["step"], table["epoch"]), clip_threshold)

    def append_steps(self, steps, global_norm, gate_norms, clipped, epoch_starts, clip_threshold=None):
        """Add steps; each value is read once here, so a redraw's cost does not grow with the steps."""
        steps, global_norm = np.asarray(steps, dtype=np.int64), np.asarray(global_norm, dtype=float)
        clipped = np.asarray(clipped, dtype=bool)
        self.steps.extend(steps)
        self.global_norm.extend(global_norm)
        self.clipped.extend(clipped)
        self.clip_steps.extend(steps[clipped])
        self.clip_norm.extend(global_norm[clipped])
        self._scan.update(global_norm)
        for g, vals in gate_norms.items():
            self._curve(g)
            self.gates[g].extend(vals)
            self._scan.update(vals)
        self.epoch_starts.extend(epoch_starts)
        if clip_threshold != self.clip_value or self._legend_stale:
            self.clip_value = clip_threshold
            self._legend_stale = False
            self._threshold_legend(force=True)
        self._request_draw()

    def _threshold_legend(self, force=False):
        legend = self.legend
        if self._threshold_label is not None:
            legend.removeItem(self._threshold_sample)
            legend.removeItem(self.clip_scatter)
            self._threshold_label = None
        if self.clip_value:                  # the clipped steps and the threshold: only when clipping is on
            self._threshold_label = f"clipping threshold {self.clip_value:g}"
            legend.addItem(self.clip_scatter, "clipped step")
            legend.addItem(self._threshold_sample, self._threshold_label)
        self._on_view_resized()

    def has_data(self) -> bool:
        return self.steps.n > 0

    #: Over more than this many steps the curves draw each series' extremes per bucket
    #: (:class:`explorer.figures.extremes.PeakIndex`): a redraw's cost stops growing with the steps.
    PEAK_FROM = 8192

    #: Clipped steps are marked one per 1/1500 of the steps at most (the largest norm of each).
    MARK_BINS = 1500

    def _series(self, key, values: np.ndarray, steps=None, most: int = 2048, start: int | None = None):
        """(x, y) to draw of one series (at ``steps``, default every step kept): every point, or past
        :attr:`PEAK_FROM` steps (or past ``start`` points) each bucket's extremes, in buckets of
        steps (at most ``most``): a run's thinned history draws as its every step would."""
        steps = self.steps.view if steps is None else steps
        if len(values) == 0 or (len(values) <= start if start is not None
                                else steps[-1] - steps[0] < self.PEAK_FROM):
            return steps.astype(float), positive(values)
        peaks = self._peaks.get(key)
        if peaks is None:
            peaks = self._peaks[key] = PeakIndex(most, of=positive)
        peaks.update(values, steps)
        idx = peaks.indices(len(values), values)
        return steps[idx].astype(float), positive(values[idx])

    def nothing_to_draw(self) -> str:
        return self._scan.reason()

    def _draw(self):
        x, g = self._series("global", self.global_norm.view)
        self.global_curve.setData(x, g)
        for name, c in self.gate_curves.items():
            c.setData(*self._series(name, self.gates[name].view))
        bins = self.MARK_BINS
        marks = self._series("clipped", self.clip_norm.view, self.clip_steps.view, most=bins, start=2 * bins)
        self.clip_scatter.setData(*(_thin_marks(*marks, bins) if len(self.clip_norm.view) > 2 * bins else marks))
        starts = self.epoch_starts.view
        starts = _thin_boundaries(starts[starts > 1].astype(float) - 0.5)
        lo, hi = (np.nanmin(g) / 10, np.nanmax(g) * 10) if np.isfinite(g).any() else (1e-3, 1e3)
        self.epoch_item.setData(np.repeat(starts, 2), np.tile([lo, hi], len(starts)))
        if self.clip_value:
            self.threshold.setValue(math.log10(self.clip_value))
            self.threshold.show()
        else:
            self.threshold.hide()

    def clear(self):
        self.set_steps([], [], {}, [], [], None)

    def csv_columns(self):
        gates = list(self.gates)
        cols = [self.steps.view, self.global_norm.view] + [self.gates[g].view for g in gates] + [self.clipped.view]
        return ("step", "global", *gates, "clipped"), cols


def epoch_starts(steps, epochs) -> np.ndarray:
    """The steps at which a new epoch begins, within these arrays (step 1 included)."""
    steps, epochs = np.asarray(steps, dtype=np.int64), np.asarray(epochs)
    if len(steps) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = steps[np.flatnonzero(np.diff(epochs) != 0) + 1]
    if steps[0] == 1:
        starts = np.concatenate([[1], starts])
    return starts.astype(np.int64)


# -- gradient norm through time ---------------------------------------------------------------------

class GradThroughTimePlotWidget(PlotPanelWidget):
    """‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ against t = 1..T of one backward pass: does the signal vanish or explode
    as it travels back? :meth:`set_of` names the pass in the title (a training step's batch, or one
    sample with some weights)."""

    title = "Gradient norm through time"
    title_on_screen = True          # which pass the norms are of is what makes them readable
    LATEST_BATCH = "the latest training step (its batch)"

    def set_of(self, what: str, extra: str = "") -> None:
        """Title: the norms are of ``what`` (:data:`LATEST_BATCH` or ``Source.norms_text``)."""
        self.set_title(f"{self.title} — {what}{extra}")
    x_integer = True

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot.setLabel("bottom", "timestep t")
        self.plot.setLabel("left", "gradient norm")
        self.plot.setLogMode(y=True)
        self.add_legend()
        self.dh_curve = long_curve(self.plot.plot([], [], pen=pg.mkPen(GATE_COLORS["h"], width=2), symbol="o",
                                                  symbolSize=5, symbolBrush=GATE_COLORS["h"],
                                                  symbolPen=_symbol_pen(self),
                                                  name="‖∂L/∂hₜ‖ of the hidden state hₜ"))
        self.dc_curve = long_curve(self.plot.plot([], [], pen=pg.mkPen(GATE_COLORS["c"], width=2), symbol="s",
                                                  symbolSize=5, symbolBrush=GATE_COLORS["c"],
                                                  symbolPen=_symbol_pen(self),
                                                  name="‖∂L/∂cₜ‖ of the cell state cₜ"))
        self.marker = marker_line(MARKER_COLOR)
        self.plot.addItem(self.marker, ignoreBounds=True)
        self.dh = np.zeros(0)
        self.dc = None

    def set_norms(self, dh, dc=None):
        """``dh[t]`` = ‖∂L/∂h_t‖ for t = 0..T−1 (drawn at 1..T); ``dc`` likewise or None (no cell state)."""
        self.dh = np.asarray(dh, dtype=float)
        self.dc = None if dc is None else np.asarray(dc, dtype=float)
        self._request_draw()

    def has_data(self) -> bool:
        return len(self.dh) > 0

    def shown_values(self) -> list:
        return [self.dh, self.dc]

    def _draw(self):
        t = np.arange(1, len(self.dh) + 1, dtype=float)
        few = len(t) <= 80
        for c, s in ((self.dh_curve, "o"), (self.dc_curve, "s")):
            c.setSymbol(s if few else None)
        has_c = self.dc is not None
        for curve, norms in ((self.dh_curve, self.dh), (self.dc_curve, self.dc if has_c else None)):
            y = positive(norms) if norms is not None else np.zeros(0)
            # no norm above zero (a log axis has nothing to draw): no points, not all-NaN symbols
            curve.setData(t, y) if np.any(y > 0) else curve.setData([], [])
        legend = self.legend
        if has_c and legend.getLabel(self.dc_curve) is None:
            legend.addItem(self.dc_curve, "‖∂L/∂cₜ‖ of the cell state cₜ")
        elif not has_c and legend.getLabel(self.dc_curve) is not None:
            legend.removeItem(self.dc_curve)
        left = self.plot.getAxis("left")
        if has_c:
            left.set_label_forms("gradient norm ‖∂L/∂hₜ‖, ‖∂L/∂cₜ‖", "‖∂L/∂hₜ‖, ‖∂L/∂cₜ‖", "‖∂L/∂·ₜ‖")
        else:
            left.set_label_forms("gradient norm ‖∂L/∂hₜ‖", "‖∂L/∂hₜ‖")
        self._on_view_resized()

    def set_time_marker(self, t):
        """Mark timestep index ``t`` (0-based; drawn at t + 1), or hide the mark (None)."""
        if t is None:
            self.marker.hide()
        else:
            self.marker.setValue(float(t) + 1)
            self.marker.show()

    def clear(self):
        self.set_norms([], None)

    def csv_rows(self):
        dc = self.dc if self.dc is not None else [None] * len(self.dh)
        return ("t", "dh", "dc"), zip(range(1, len(self.dh) + 1), self.dh, dc)


# -- parameter count --------------------------------------------------------------------------------

class ParamCountPlotWidget(PlotPanelWidget):
    """The recurrent layers' parameter count against units n over the whole range, the current n
    marked; the view frames the curve and the marker in linear and log–log mode."""

    title = "Parameters of the recurrent layers against units n"
    title_on_screen = True          # the formula and the count are what this plot is for
    x_integer = True

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot.setLabel("bottom", "units n")
        self.plot.setLabel("left", "parameters")
        self.plot.setMouseEnabled(x=False, y=False)
        self.curve = self.plot.plot([], [], pen=pg.mkPen(GATE_COLORS["c"], width=2))
        # a PlotDataItem (not a bare ScatterPlotItem) so that the log–log mode maps it like the curve
        self.point = self.plot.plot([], [], pen=None, symbol="o", symbolSize=11,
                                    symbolPen=pg.mkPen(self._bg(), width=1.5), symbolBrush=pg.mkBrush(MARKER_COLOR))
        self.point.setZValue(10)
        self.info = QLabel()                  # the count as selectable text (the title shows it too)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info.hide()
        self.log_box = QCheckBox("log–log")
        self.log_box.toggled.connect(self._on_log_toggled)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.log_box)
        self._lay.addLayout(row)
        self.m, self.k, self.n_range, self.n = 1, 1, (1, 512), 8
        self.layers, self.directions = 1, 1
        self.kind = "lstm"
        self.ns = np.zeros(0, dtype=np.int64)
        self.counts = np.zeros(0)
        self._label = ""
        self._formula = ""
        self.log_box.setChecked(True)
        self.set_config(1, 1)

    def set_config(self, n_inputs, n_outputs, n_range=(1, 512), n_current=8, kind="lstm",
                   layers: int = 1, bidirectional: bool = False):
        """The curve for a model of ``kind`` over m = ``n_inputs`` with ``layers`` layers (deeper ones
        take D·n inputs), one or two directions, and a head to k = ``n_outputs``."""
        self.m, self.k = int(n_inputs), int(n_outputs)
        self.n_range = (max(1, int(n_range[0])), max(1, int(n_range[1])))
        self.kind = kind
        self.layers, self.directions = max(1, int(layers)), 2 if bidirectional else 1
        self.ns = np.arange(self.n_range[0], self.n_range[1] + 1)
        self.counts = np.array([self.count(int(n)) for n in self.ns], dtype=float)
        self.curve.setData(self.ns.astype(float), self.counts)
        depth = ""
        if self.layers > 1 or self.directions > 1:
            depth = f", {self.layers} layer{'s' if self.layers > 1 else ''}"
            depth += ", bidirectional" if self.directions > 1 else ""
        formula = param_formula(kind, self.layers, self.directions)
        self._formula = f"Parameters of the recurrent layers: {formula}, m = {self.m}{depth}"
        self.set_units(n_current)

    def count(self, n: int) -> int:
        return recurrent_param_count(self.kind, n, self.m, self.layers, self.directions)

    def set_units(self, n):
        self.n = int(n)
        layer = self.count(self.n)
        head = self.k * (self.directions * self.n + 1)
        self.point.setData([float(self.n)], [float(layer)])
        extra = ""
        if self.kind == "lstm" and self.m == 1 and self.layers == 1 and self.directions == 1:
            extra = " (= 12n + 4n(n−1) for m = 1)"
        what = "layer" if self.layers == 1 and self.directions == 1 else "recurrent layers"
        self._label = f"n = {self.n}: {what} {layer:,}{extra} + head {head:,} = total {layer + head:,}"
        self.info.setText(self._label)
        self.set_title(self._formula, self._label)
        self._frame()

    def has_data(self) -> bool:
        return len(self.ns) > 0

    def _frame(self):
        """A view that holds the whole curve and the marker, with a little margin, in either mode."""
        if not self.has_data():
            return
        xs = np.append(self.ns.astype(float), float(self.n))
        ys = np.append(self.counts, float(self.count(self.n)))
        if self.log_box.isChecked():
            xs, ys = np.log10(xs), np.log10(ys)
        x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
        if not self.log_box.isChecked():
            y0 = 0.0
        px, py = 0.03 * max(x1 - x0, 1e-9), 0.05 * max(y1 - y0, 1e-9)
        self.plot.disableAutoRange()
        self.plot.setRange(xRange=(x0 - px, x1 + px), yRange=(y0 - py, y1 + py), padding=0)

    def _on_data_arrived(self, plot):
        self._frame()

    def marker_position(self):
        return self.n, self.count(self.n)

    def label_text(self) -> str:
        return self._label

    def _on_log_toggled(self, on):
        self.plot.setLogMode(x=on, y=on)     # enables auto range: framed again below
        self._frame()

    def clear(self):
        self.ns = np.zeros(0, dtype=np.int64)
        self.counts = np.zeros(0)
        self.curve.setData([], [])
        self.point.setData([], [])
        self._label = ""
        self.info.setText("")
        self.set_title(self.title)
        self._update_empty()

    def csv_rows(self):
        return ("n", "layer_params"), zip(self.ns, self.counts.astype(np.int64))


# -- predictions ---------------------------------------------------------------------------------------

def _as_axis_values(values):
    """Dates, years or numbers as floats for an axis (datetime64 → decimal years), or None."""
    if values is None:
        return None
    a = np.asarray(values)
    if a.dtype.kind in "US":
        try:
            a = a.astype("datetime64[D]")
        except ValueError:
            a = np.array([float(v) for v in a])
    if a.dtype.kind == "M":
        return decimal_years(a)                  # to the second: hourly rows keep their own places
    return a.astype(float)


def _value_origin(*arrays) -> float:
    """What values are drawn from, so that an SVG's six significant digits keep the detail of a
    narrow range far from zero (30,000.0 to 30,005.0): 0 when the range is wide enough for its
    level, else a round number below the values, a multiple of a power of ten above ten ranges
    (tick labels stay round)."""
    v = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays]) if arrays else np.zeros(0)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo
    if span <= 0 or max(abs(lo), abs(hi)) <= 1000 * span:
        return 0.0
    unit = 10.0 ** (math.ceil(math.log10(span)) + 1)
    return math.floor(lo / unit) * unit


def _extend_axis(x, n):
    """``x`` continued linearly to at least ``n`` values (a forecast goes past the file's last row)."""
    if len(x) >= n:
        return x
    step = x[-1] - x[-2] if len(x) > 1 else 1.0
    return np.concatenate([x, x[-1] + step * np.arange(1, n - len(x) + 1)])


def probability_axis(pmax: float) -> tuple[float, list]:
    """(upper end, ticks) of a probability axis whose largest bar ``pmax`` fills most of it and
    leaves room for its label: the smallest of 2 %, 5 %, 10 %, 20 %, 25 %, 50 %, 100 % at least
    1.3 × ``pmax`` (115 % when only that fits the label of a bar near 100 %), five steps of ticks.

    >>> probability_axis(0.02)[0], [lab for _, lab in probability_axis(0.02)[1]]
    (0.05, ['0%', '1%', '2%', '3%', '4%', '5%'])
    """
    for upper in (0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0):
        if 1.3 * float(pmax) <= upper:
            break
    else:
        upper = 1.15
    top = min(upper, 1.0)
    ticks = [(top * v / 5, f"{round(top * v * 20, 6):g}%") for v in range(6)]
    return upper, ticks


class PredictionPlotWidget(PlotPanelWidget):
    """Predictions against the target on the validation part and a free-running forecast, on the
    data's own time axis when it has one, interpolated rows marked; in text mode the top five
    next characters with their probabilities."""

    title = "Predictions on the validation part"
    x_integer = True

    def __init__(self, parent=None):
        super().__init__(parent)
        self.add_legend()
        self.target_curve = long_curve(self.plot.plot([], [], pen=pg.mkPen(TARGET_COLOR, width=1.5), name="target"))
        self.pred_curve = long_curve(self.plot.plot([], [], pen=pg.mkPen(TRAIN_COLOR, width=2),
                                                    name="one step ahead"))
        self.forecast_curve = long_curve(self.plot.plot([], [], pen=pg.mkPen(VAL_COLOR, width=2,
                                                                             style=Qt.PenStyle.DashLine),
                                                        name="free-running forecast"))
        self.gap_scatter = pg.PlotDataItem([], [], pen=None, symbol="x", symbolSize=8, symbolPen=None,
                                           symbolBrush=pg.mkBrush(GAP_COLOR))
        self.plot.addItem(self.gap_scatter)
        self.split_line = marker_line(QColor(128, 128, 128))
        self.plot.addItem(self.split_line, ignoreBounds=True)
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.6, width=[], brush=pg.mkBrush(TRAIN_COLOR))
        self.bar_labels: list = []
        self.series_labels: list = []         # each series' name at its validation part's end (long tables)
        self.mode = "series"
        self.data: dict = {}
        self.top_k = ([], [])
        self.top_k_context: tuple = (None, "")
        self.x_label, self.y_label = "t", "value"
        self.x_values = self._x_axis = self.x_text = self.series_of = None
        self.x_origin = self.y_origin = 0.0
        self.gaps = np.zeros(0, dtype=np.int64)

    def _series_mode(self):
        if self.mode != "series":
            self.plot.removeItem(self.bars)
            for lab in self.bar_labels:
                self.plot.removeItem(lab)
            self.bar_labels = []
            self.set_fixed_ticks("left", None)
            self.set_fixed_ticks("bottom", None)
            self.mode = "series"
            self.show_legend(True)

    def _name_series(self) -> None:
        """Write each series' name (its key) at the end of its validation part, as plain text."""
        for lab in self.series_labels:
            self.plot.removeItem(lab)
        self.series_labels = []
        d = self.data
        t, y = d.get("t_target"), d.get("target")
        if self.mode != "series" or self.series_of is None or t is None or not len(t):
            return
        rows = t.astype(np.int64)
        ends = np.r_[np.flatnonzero(np.diff(rows) != 1), len(rows) - 1]
        for e, name in zip(ends, self.series_of[1](rows[ends])):
            if not str(name):
                continue
            lab = pg.TextItem(str(name), anchor=(1.0, 1.0), color=self._fg())     # setPlainText: never markup
            lab.setPos(float(self._x(rows[e:e + 1])[0]), float(self._y(y[e:e + 1])[0]))
            self.plot.addItem(lab, ignoreBounds=True)
            self.series_labels.append(lab)

    def set_series(self, t_target, target, t_pred, pred, t_forecast=None, forecast=None, split_t=None,
                   x_values=None, x_label="t", y_label="value", gaps=None, x_text=None, title=None,
                   series_of=None):
        """Positions ``t_*`` are 0-based rows of the series. Without ``x_values`` they are drawn as
        rows 1..N; with them (the file's dates or years, one per row) at those values, labelled
        ``x_label``. ``gaps``: rows filled by interpolation, marked on the target. ``x_text``: a
        function from rows to their times as text for the CSV (as the file wrote them); ``title``:
        another title (the validation parts of several series); ``series_of``: (column name, a
        function from rows to the name of each row's series) for the CSV of several series."""
        self._series_mode()
        self.set_title(title or self.title)
        f = lambda a: None if a is None else np.asarray(a, float)  # noqa: E731
        self.data = {"t_target": f(t_target), "target": f(target), "t_pred": f(t_pred), "pred": f(pred),
                     "t_forecast": f(t_forecast) if forecast is not None else None,
                     "forecast": f(forecast) if forecast is not None else None}
        self.x_values = None if x_values is None else np.asarray(x_values)
        self.x_text = x_text
        self.series_of = series_of
        axis_values = _as_axis_values(x_values)
        # drawn from the first whole value on: an SVG writes six significant digits, which keep an
        # hour's detail of 0.1 years but not of 2014.1 years
        first = axis_values[0] if axis_values is not None and len(axis_values) else 0.0
        self.x_origin = float(np.floor(first)) if np.isfinite(first) else 0.0
        self._x_axis = None if axis_values is None else axis_values - self.x_origin
        self.gaps = np.zeros(0, dtype=np.int64) if gaps is None else np.asarray(gaps, dtype=np.int64)
        self.x_label = x_label if x_values is not None or x_label != "t" else "t"
        self.y_label = y_label or "value"
        axis = self.plot.getAxis("bottom")
        axis.integer = self._x_axis is None or bool(np.all(np.mod(self._x_axis, 1) == 0))
        timed = self.x_values is not None and (self.x_values.dtype.kind in "MUS" or self.x_label == "year")
        # dates and decimal years are labelled as dates at calendar boundaries; whole years as 2008
        axis.dates = timed and not axis.integer
        axis.years = timed
        axis.offset = self.x_origin
        axis.picture = None
        d = self.data
        self.y_origin = _value_origin(*(d[k] for k in ("target", "pred", "forecast") if d[k] is not None))
        left = self.plot.getAxis("left")
        left.offset, left.picture = self.y_origin, None
        self.plot.setLabel("bottom", "row of the series" if x_values is None and x_label == "t" else self.x_label)
        self.plot.setLabel("left", self.y_label)
        self.target_curve.setData(*self._broken(d["t_target"], self._y(d["target"])), connect="finite")
        self.pred_curve.setData(*self._broken(d["t_pred"], self._y(d["pred"])), connect="finite")
        if forecast is not None:
            self.forecast_curve.setData(self._x(d["t_forecast"]), self._y(d["forecast"]))
        else:
            self.forecast_curve.setData([], [])
        # the legend names the forecast only when there is one (none for several inputs)
        listed = self.legend.getLabel(self.forecast_curve) is not None
        if forecast is not None and not listed:
            self.legend.addItem(self.forecast_curve, "free-running forecast")
        elif forecast is None and listed:
            self.legend.removeItem(self.forecast_curve)
        self._mark_gaps()
        self._name_series()
        if split_t is not None:
            self.split_line.setValue(float(self._x(np.array([float(split_t)]))[0]))
            self.split_line.show()
        else:
            self.split_line.hide()
        self._update_empty()

    def _broken(self, t, y):
        """(x, y) of rows ``t`` with a gap (NaN) wherever the rows do not follow one another: the
        validation parts of several series are drawn as separate pieces."""
        x = self._x(t)
        y = np.asarray(y, dtype=float)
        if len(t) < 2:
            return x, y
        cut = np.flatnonzero(np.diff(np.asarray(t)) != 1) + 1
        if not len(cut):
            return x, y
        return np.insert(x, cut, np.nan), np.insert(y, cut, np.nan)

    def display_xy(self, t, v) -> tuple:
        """Where the values ``v`` at 0-based rows ``t`` are drawn: (:meth:`_x`, :meth:`_y`) — for a
        curve another view adds to this plot."""
        return self._x(t), self._y(v)

    def _y(self, v):
        """Display y of values ``v``: measured from :attr:`y_origin` (the left axis adds it back)."""
        return np.asarray(v, dtype=float) - self.y_origin

    def _x(self, t):
        """Display x of 0-based rows ``t``: the row number 1..N, or the data's own time value."""
        t = np.asarray(t, dtype=float)
        if self._x_axis is None or len(self._x_axis) == 0 or len(t) == 0:
            return t + 1
        idx = t.astype(np.int64)
        axis = _extend_axis(self._x_axis, int(idx.max()) + 1)
        return axis[np.clip(idx, 0, len(axis) - 1)]

    def _mark_gaps(self):
        legend = self.legend
        if legend.getLabel(self.gap_scatter) is not None:
            legend.removeItem(self.gap_scatter)
        d = self.data
        t, y = d.get("t_target"), d.get("target")
        if t is None or not len(self.gaps) or not len(t):
            self.gap_scatter.setData([], [])
            return
        shown = np.isin(t.astype(np.int64), self.gaps)
        self.gap_scatter.setData(self._x(t[shown]), self._y(y[shown]))
        legend.addItem(self.gap_scatter, f"interpolated ({len(self.gaps):,} rows in the file)")
        self._on_view_resized()

    def has_data(self) -> bool:
        if self.mode == "text":
            return bool(self.top_k[0])
        t = self.data.get("t_target")
        return t is not None and len(t) > 0

    def set_top_k(self, chars, probs, t: int | None = None, before: str = "", level: str = "char"):
        """Text mode: a horizontal bar chart of the top next tokens and their probabilities, on an
        axis that fits the largest bar (:func:`probability_axis`). ``t`` (0-based) and ``before``
        (the text up to and with the token at ``t``) name what is predicted in the title and the
        CSV; ``level``: "char" or "word"."""
        if self.mode != "text":
            self.target_curve.setData([], [])
            self.pred_curve.setData([], [])
            self.forecast_curve.setData([], [])
            self.gap_scatter.setData([], [])
            self.split_line.hide()
            for lab in self.series_labels:
                self.plot.removeItem(lab)
            self.series_labels = []
            self.plot.addItem(self.bars)
            self.show_legend(False)
            self.mode = "text"
        self.data = {}
        self.top_k = (list(chars), [float(p) for p in probs])
        self.top_k_context = (t, before)
        k = len(chars)
        upper, ticks = probability_axis(max(self.top_k[1], default=1.0))
        y = np.arange(k)[::-1].astype(float)
        self.bars.setOpts(x0=np.zeros(k), y=y, width=np.asarray(probs, float), height=0.6)
        for lab in self.bar_labels:
            self.plot.removeItem(lab)
        self.bar_labels = []
        for yy, p in zip(y, probs):
            lab = pg.TextItem(f"{p:.1%}", anchor=(0, 0.5), color=self._fg())
            lab.setPos(float(p) + 0.01 * upper, yy)
            self.plot.addItem(lab)
            self.bar_labels.append(lab)
        self.set_fixed_ticks("left", [[(yy, _visible(c)) for yy, c in zip(y, chars)]])
        self.plot.getAxis("bottom").integer = False
        self.plot.getAxis("bottom").dates = self.plot.getAxis("bottom").years = False
        self.plot.getAxis("bottom").offset = self.plot.getAxis("left").offset = 0.0
        self.set_fixed_ticks("bottom", [ticks])
        self.plot.setLabel("bottom", "probability")
        what = "word" if level == "word" else "character"
        self.plot.setLabel("left", f"next {what}")
        if t is None:
            self.set_title(f"Top five next {what}s at the selected timestep")
        else:
            shown = "".join(_visible(c) for c in before[-24:]) if level != "word" else before[-40:]
            lead = "\u2026" if len(before) > (24 if level != "word" else 40) else ""
            self.set_title(f"Top five next {what}s after \u201c{lead}{shown}\u201d (t = {t + 1})")
        self._update_empty()
        if k:
            self.plot.setXRange(0, upper, padding=0)
            self.plot.setYRange(-0.7, k - 0.3, padding=0)

    def _on_data_arrived(self, plot):
        if self.mode == "series":
            super()._on_data_arrived(plot)

    def clear(self):
        self.set_series([], [], [], [])

    def csv_rows(self):
        if self.mode == "text":
            t, before = self.top_k_context
            if t is None:
                return ("token", "probability"), zip(*self.top_k) if self.top_k[0] else iter(())
            return (("token", "probability", "t", "after"),
                    ([c, p, t + 1, before] for c, p in zip(*self.top_k)))
        d = self.data
        header = ["t"]
        if self.series_of is not None:
            header.append(self.series_of[0])
        if self.x_values is not None:
            header.append(self.x_label)
        header += ["target", "prediction", "forecast"]
        if len(self.gaps):
            header.append("interpolated")
        if not d or d["t_target"] is None:
            return tuple(header), iter(())
        rows: dict = {}
        for t, v in zip(d["t_target"], d["target"]):
            rows.setdefault(int(t), [None, None, None])[0] = v
        for t, v in zip(d["t_pred"], d["pred"]):
            rows.setdefault(int(t), [None, None, None])[1] = v
        if d["forecast"] is not None:
            for t, v in zip(d["t_forecast"], d["forecast"]):
                rows.setdefault(int(t), [None, None, None])[2] = v
        gaps = set(self.gaps.tolist())
        xv = self.x_values
        if xv is not None:
            inside = [t for t in sorted(rows) if t < len(xv)]
            text = self.x_text(inside) if self.x_text is not None else [str(xv[t]) for t in inside]
            xv = dict(zip(inside, text))
        names = dict(zip(sorted(rows), self.series_of[1](sorted(rows)))) if self.series_of is not None else None

        def out():
            for t, v in sorted(rows.items()):
                row = [t + 1]
                if names is not None:
                    row.append(names[t])
                if xv is not None:
                    row.append(xv.get(t))
                row += v
                if gaps:
                    row.append(t in gaps)
                yield row
        return tuple(header), out()


# -- overlaid curves (the comparison) ------------------------------------------------------------------

class CurvesPlotWidget(PlotPanelWidget):
    """Several named curves overlaid on one axis (log y by default); CSV: one row per point."""

    title = "Curves"
    x_integer = True

    def __init__(self, title=None, x_label="step", y_label="value", log_y=True, parent=None):
        if title is not None:
            self.title = title
        super().__init__(parent)
        self.plot.setLabel("bottom", x_label)
        self.plot.setLabel("left", y_label)
        self.plot.setLogMode(y=log_y)
        self.log_y = log_y
        self.add_legend()
        self.series: list = []

    def add_curve(self, name, x, y, color, style=Qt.PenStyle.SolidLine, legend=True):
        """A curve ``name`` (every point kept for the CSV; drawn downsampled when long); ``legend``:
        True names it in the legend, a string names it so, None/False leaves it out."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        self.series.append((name, x, y))
        item = long_curve(self.plot.plot([], [], pen=pg.mkPen(color, width=1.8, style=style)))
        item.setData(x, positive(y) if self.log_y else y)
        if legend:
            self.legend.addItem(item, name if legend is True else str(legend))
        self._request_draw()
        return item

    def add_level(self, y, label):
        """A dashed horizontal line at ``y`` named in the legend."""
        pen = pg.mkPen(MARKER_COLOR, width=1.2, style=Qt.PenStyle.DashLine)
        line = pg.InfiniteLine(pos=math.log10(y) if self.log_y else y, angle=0, movable=False, pen=pen)
        self.plot.addItem(line)
        self.legend.addItem(pg.PlotDataItem([], [], pen=pen), label)

    def has_data(self) -> bool:
        return any(len(x) for _, x, _ in self.series)

    def csv_columns(self):
        names = [name for name, x, _ in self.series for _ in range(len(x))]
        xs = np.concatenate([x for _, x, _ in self.series]) if self.series else np.zeros(0)
        ys = np.concatenate([y for _, _, y in self.series]) if self.series else np.zeros(0)
        if xs.size and np.all(np.mod(xs, 1) == 0):
            xs = xs.astype(np.int64)
        return ("series", "x", "y"), [names, xs, ys]


class LossCurvesPlotWidget(CurvesPlotWidget):
    """Several validation-loss curves overlaid (the cell comparison)."""

    title = "Validation loss of each cell"

    def __init__(self, parent=None):
        super().__init__(None, "step", "validation loss", log_y=True, parent=parent)


def export_plot(widget: PlotPanelWidget, out_dir, stem: str, csv: bool = True) -> list[Path]:
    """Write ``stem.png``, ``stem.svg`` and (``csv``) ``stem.csv`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.svg"] + ([out / f"{stem}.csv"] if csv else [])
    widget.export_png(paths[0])
    widget.export_svg(paths[1])
    if csv:
        widget.export_csv(paths[2])
    return paths


from explorer.figures.heatmaps import GateHeatmapWidget, MemoryHeatmapWidget  # noqa: E402, F401

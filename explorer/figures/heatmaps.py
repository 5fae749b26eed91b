"""Heatmaps over time × unit: the cell's own quantities (LSTM i f g o c h, GRU r z g h, RNN h — the
caller passes them) and the memory a cell keeps (∏f for LSTMs, ∏z for the GRU).

Time runs along x as timesteps 1..T (or the sample's characters in text mode), units along y from
unit 0 at the top; each quantity has its own colour scale: gates on [0, 1], tanh values on
[−1, 1], the cell state c symmetric about 0 on its own largest |c|.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize

import pyqtgraph as pg

from explorer.figures.axes import PlotAxisItem
from explorer.figures.colors import diverging_rgb
from explorer.figures.panel import PlotPanelWidget, marker_line, plain_html

__all__ = ["GateHeatmapWidget", "MemoryHeatmapWidget", "quantity_levels"]

MARKER_COLOR = "#C0392B"

#: The colour scale of each quantity the cells have: a fixed range, or "symmetric" (±max |value|).
SCALES = {"i": (0.0, 1.0), "f": (0.0, 1.0), "o": (0.0, 1.0), "r": (0.0, 1.0), "z": (0.0, 1.0),
          "g": (-1.0, 1.0), "h": (-1.0, 1.0), "c": "symmetric"}
LONG_NAMES = {"i": "input gate i", "f": "forget gate f", "g": "candidate g", "o": "output gate o",
              "c": "cell state c", "h": "hidden state h", "r": "reset gate r", "z": "update gate z"}


def quantity_levels(name: str, values) -> tuple[float, float]:
    """The colour range of quantity ``name`` with ``values``: its fixed range, or symmetric about 0
    on the largest |value| (the cell state, and quantities this module does not know that go
    negative), or 0..max."""
    scale = SCALES.get(name)
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if isinstance(scale, tuple):
        return scale
    vmax = float(np.max(np.abs(v))) if v.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    if scale == "symmetric" or (v.size and v.min() < 0):
        return (-vmax, vmax)
    return (0.0, vmax)


def _colormap(lo: float, hi: float) -> pg.ColorMap:
    """The shared diverging scale over [−1, 1], or its neutral-to-orange half over [0, 1]."""
    pos = np.linspace(-1, 1, 9) if lo < 0 else np.linspace(0, 1, 9)
    colors = [diverging_rgb(v) for v in pos]
    return pg.ColorMap((pos - pos[0]) / (pos[-1] - pos[0]), colors)


def _sequential() -> pg.ColorMap:
    """Neutral (0: forgotten) to deep blue (1: kept whole), for ∏f / ∏z."""
    return pg.ColorMap([0.0, 0.5, 1.0], [(238, 238, 236), (120, 172, 214), (8, 64, 129)])


class _HeatmapPanels(PlotPanelWidget):
    """Panels of heatmaps in a grid, each with its colour bar and a timestep marker."""

    columns = 3
    time_label = "timestep t"

    def _make_view(self):
        w = pg.GraphicsLayoutWidget()
        self.plots, self.images, self.markers, self.bars = {}, {}, {}, {}
        self.values: dict = {}
        self.time_labels = None
        self._built: tuple = ()
        self._placeholder = None
        self._view = w
        self._build(())
        return w

    def _plot_items(self):
        items = list(getattr(self, "plots", {}).values())
        if getattr(self, "_placeholder", None) is not None:
            items.append(self._placeholder)
        return items

    def _new_plot(self, row, col, labels=None):
        p = pg.PlotItem(axisItems={"bottom": PlotAxisItem("bottom", integer=True, labels=labels),
                                   "left": PlotAxisItem("left", integer=True)})
        p.setMenuEnabled(False)
        self._view.ci.addItem(p, row=row, col=col)
        return p

    def _build(self, names: tuple, colormaps: dict | None = None):
        """(Re)build one panel per name; no names: one calm placeholder panel."""
        ci = self._view.ci
        ci.clear()
        self.plots, self.images, self.markers, self.bars = {}, {}, {}, {}
        self._empty_items = []
        self._placeholder = None
        self._built = tuple(names)
        if not names:
            p = self._new_plot(0, 0)
            p.setTitle(plain_html(self.title))
            self._add_empty_label(p)
            self._placeholder = p
            self._was_empty = None
            return
        rows, cols = self._grid_shape(len(names), wide=False)
        self._shape = (rows, cols)
        for k, name in enumerate(names):
            p = self._new_plot(k // cols, k % cols, self.time_labels)
            p.setTitle(self._full_title(name))
            p.setLabel("bottom", self.time_label if self.time_labels is None else "input character")
            p.setLabel("left", "unit")
            p.invertY(True)                                 # unit 0 at the top
            p.setMouseEnabled(x=False, y=False)
            img = pg.ImageItem()
            p.addItem(img)
            lo, hi = (colormaps or {}).get(name, (0.0, 1.0))
            bar = pg.ColorBarItem(values=(lo, hi), colorMap=self._colormap(name, lo, hi), interactive=False,
                                  width=10)
            bar.setImageItem(img, insert_in=p)
            marker = marker_line(MARKER_COLOR)
            p.addItem(marker, ignoreBounds=True)
            self.plots[name], self.images[name], self.markers[name], self.bars[name] = p, img, marker, bar
        self._was_empty = False
        self._apply_palette()
        if not self._exporting:
            self._arrange(self._wide_on_screen())

    def _colormap(self, name, lo, hi):
        return _colormap(lo, hi)

    _shape = (1, 1)

    def _grid_shape(self, n: int, wide: bool) -> tuple[int, int]:
        """(rows, columns) of ``n`` panels: one row in a wide, short place (a dock at the bottom of
        the window), else up to ``columns`` per row (2 × 2 for four)."""
        if wide or n == 1:
            return 1, n
        cols = 2 if n == 4 else min(self.columns, n)
        return -(-n // cols), cols

    def _arrange(self, wide: bool) -> None:
        names = list(self.plots)
        if not names:
            return
        shape = self._grid_shape(len(names), wide)
        if shape == self._shape:
            return
        ci = self._view.ci
        for p in self.plots.values():
            ci.removeItem(p)
        for k, name in enumerate(names):
            ci.addItem(self.plots[name], row=k // shape[1], col=k % shape[1])
        self._shape = shape

    #: a panel in one row is at least this wide (its axis, colour bar and title fit; 1024-px windows)
    MIN_PANEL_WIDTH = 210

    def _wide_on_screen(self) -> bool:
        n = max(1, len(self.plots))
        rows, cols = self._grid_shape(n, wide=False)
        # panels of the grid would be flatter than 1 : 3 — one row gives each the whole height,
        # unless the row would squeeze each panel narrower than it can be drawn
        return (self.height() > 0 and (self.width() / cols) / max(self.height() / rows, 1) > 3.0
                and self.width() / n >= self.MIN_PANEL_WIDTH)

    def _arrange_for(self, exporting: bool) -> None:
        self._arrange(wide=False if exporting else self._wide_on_screen())
        self._retitle()

    #: Which layer and direction of a deep or bidirectional model the panels show ("layer 2 of 2 ·
    #: reverse"; "" for one layer): exported panels name it (on screen the window's selector does).
    place = ""

    def set_place(self, text: str) -> None:
        self.place = text or ""
        self._retitle()

    def _full_title(self, name):
        """A panel's title as pyqtgraph's HTML (its words plain text)."""
        base = self._panel_title(name)
        return plain_html(f"{base} \u2014 {self.place}" if self.place and self._exporting else base)

    def _retitle(self) -> None:
        for name, p in self.plots.items():
            p.setTitle(self._full_title(name))

    def resizeEvent(self, e):  # noqa: N802
        super().resizeEvent(e)
        if not self._exporting:
            self._arrange(self._wide_on_screen())

    def _panel_title(self, name):
        return LONG_NAMES.get(name, name)

    def _export_size(self) -> QSize:
        n = max(1, len(self._built))
        rows, cols = self._grid_shape(n, wide=False)
        if n == 1:
            return QSize(self.export_size)
        return QSize(max(900, 400 * cols), 40 + 300 * rows)

    def has_data(self) -> bool:
        return bool(self.values)

    def _show(self, values: dict, time_labels, levels: dict):
        labels = None if time_labels is None else [str(c) for c in time_labels]
        names = tuple(values)
        if names != self._built:
            self.time_labels = labels
            self._build(names, levels)
        elif labels != self.time_labels:          # another sample of the text: relabel, keep the panels
            self.time_labels = labels
            for p in self.plots.values():
                p.getAxis("bottom").set_labels(labels)
                p.setLabel("bottom", self.time_label if labels is None else "input character")
        self.values = values
        self._request_draw()

    def _draw(self):
        for name, arr in self.values.items():
            if name not in self.images:
                continue
            img = self.images[name]
            T, n = arr.shape
            lo, hi = self._levels[name]
            img.setImage(arr.T, autoLevels=False)         # rows = units, columns = time
            img.setRect(QRectF(0.5, -0.5, T, n))           # timestep t at x = t (1..T), unit u at y = u
            self.bars[name].setLevels((lo, hi))
            self._bar_ticks(self.bars[name], lo, hi)
            self.plots[name].setRange(xRange=(0.5, T + 0.5), yRange=(-0.5, n - 0.5), padding=0)

    @staticmethod
    def _bar_ticks(bar, lo, hi):
        """The colour scale's ends and middle, labelled (no crowd of ticks in a short panel)."""
        ticks = [(v, f"{v:.3g}".replace("-", "−")) for v in (lo, (lo + hi) / 2, hi)]
        bar.axis.setTicks([ticks])

    def set_time_marker(self, t):
        """Mark timestep index ``t`` (0-based; drawn at t + 1) on every panel, or hide (None)."""
        for m in self.markers.values():
            if t is None:
                m.hide()
            else:
                m.setValue(float(t) + 1)
                m.show()

    def clear(self):
        self.values = {}
        self.time_labels = None
        self._build(())
        self._update_empty()

    def csv_columns(self):
        names, ts, us, vs = [], [], [], []
        for name, arr in self.values.items():
            T, n = arr.shape
            names += [name] * (T * n)
            ts.append(np.repeat(np.arange(1, T + 1), n))
            us.append(np.tile(np.arange(n), T))
            vs.append(arr.ravel())
        cat = lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dt)  # noqa: E731
        return ("quantity", "t", "unit", "value"), [names, cat(ts, np.int64), cat(us, np.int64), cat(vs, float)]


class GateHeatmapWidget(_HeatmapPanels):
    """Heatmaps (time × unit) of the cell's own quantities for the selected sample."""

    title = "The cell's quantities over time"
    #: the LSTM's quantities in their usual order (the caller may pass any cell's)
    NAMES = ("i", "f", "g", "o", "c", "h")

    def set_trace(self, values: dict, time_labels=None, scales: dict | None = None):
        """``values[name]`` is a (T, n) array per quantity (LSTM i f g o c h, GRU r z g h, RNN h);
        ``time_labels`` the T characters of a text sample (None: timesteps 1..T); ``scales``
        overrides a quantity's colour range ``{name: (lo, hi)}``."""
        vals = {k: np.asarray(v, dtype=float) for k, v in values.items()}
        vals = {k: v.reshape(v.shape[0], -1) for k, v in vals.items() if v.ndim >= 1 and v.size}
        self._levels = {k: (scales or {}).get(k) or quantity_levels(k, v) for k, v in vals.items()}
        self._show(vals, time_labels, self._levels)


class MemoryHeatmapWidget(_HeatmapPanels):
    """How long each unit keeps what it wrote: of what unit j wrote at step t, the share still on
    the belt at the last step (∏ f_s for s > t for the LSTMs, ∏ z_s for the GRU), on [0, 1] (1:
    kept whole, 0: forgotten); the caller computes it (:func:`explorer.app.memory_view.memory_to_end`)."""

    title = "Memory kept per unit"
    columns = 1

    _memory_title = None

    def set_memory(self, values, title: str | None = None, time_labels=None):
        """``values``: a (T, n) array in [0, 1] (computed by the caller); ``title`` names it."""
        if title and title != self._memory_title:
            self._memory_title = title
            self._retitle()
        arr = np.asarray(values, dtype=float)
        if arr.size == 0:
            self.clear()
            return
        self._levels = {"memory": (0.0, 1.0)}
        self._show({"memory": arr.reshape(arr.shape[0], -1)}, time_labels, self._levels)

    def _panel_title(self, name):
        return self._memory_title or self.title

    def _colormap(self, name, lo, hi):
        return _sequential()

    def csv_columns(self):
        header, cols = super().csv_columns()
        return ("t", "unit", "value"), cols[1:]

"""Heatmaps over time × unit: the cell's own quantities (LSTM i f g o c h, GRU r z g h, RNN h — the
caller passes them) and the memory a cell keeps (∏f for LSTMs, ∏z for the GRU).

Time runs along x as timesteps 1..T (or the sample's characters in text mode), units along y from
unit 0 at the top; each quantity has its own colour scale: gates on [0, 1], tanh values on
[−1, 1], the cell state c symmetric about 0 on its own largest |c|.
"""

from __future__ import annotations

import functools

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, QTimer
from PySide6.QtWidgets import QLabel

import pyqtgraph as pg

from explorer.figures.axes import PlotAxisItem
from explorer.figures.colors import diverging_rgb
from explorer.figures.panel import PlotPanelWidget, SpanViewBox, marker_line, plain_html, write_csv_columns

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
        p = pg.PlotItem(viewBox=SpanViewBox(), axisItems={"bottom": PlotAxisItem("bottom", integer=True, labels=labels),
                                   "left": PlotAxisItem("left", integer=True)})
        p.setMenuEnabled(False)
        self._view.ci.addItem(p, row=row, col=col)
        return p

    #: Build the panels one per turn of the event loop (the window's heatmaps: raising their tab
    #: never waits for the whole grid); False: all at once. An export finishes the grid first.
    build_in_steps = False
    #: Where the steps of building run: ``defer(key, fn)`` runs ``fn`` in a later event-loop turn
    #: of its own, in order with the window's other pieces of work (its
    #: :class:`~explorer.gui.turns.TurnQueue`); None: a 0-ms timer of the widget's own.
    step_queue = None

    def _build(self, names: tuple, colormaps: dict | None = None):
        """(Re)build one panel per name; no names: one calm placeholder panel."""
        if self._timer is not None:                     # a build under way is dropped whole
            self._timer.stop()
        self._show_due = False
        if self._note is not None:
            self._note.hide()
        view = getattr(self, "view", None)              # (not yet while the panel is made)
        if view is not None:
            view.show()
        ci = self._view.ci
        ci.clear()
        self.plots, self.images, self.markers, self.bars = {}, {}, {}, {}
        self._empty_items = []
        self._placeholder = None
        self._built = tuple(names)
        self._unbuilt = []
        if not names:
            p = self._new_plot(0, 0)
            p.setTitle(plain_html(self.title))
            self._add_empty_label(p)
            self._placeholder = p
            self._was_empty = None
            return
        rows, cols = self._grid_shape(len(names), wide=False)
        self._shape = (rows, cols)
        self._unbuilt = [(what, k, name) for k, name in enumerate(names) for what in ("plot", "bar")]
        self._build_levels = dict(colormaps or {})
        self._was_empty = False
        if self.build_in_steps and not self._exporting:
            self.view.hide()          # shown once whole (a repaint a panel costs as much); till then a
            self.building_note.show()   # note saying so, not an unpainted (black) view
            self._next_step()
        else:
            self._build_rest()

    _unbuilt = ()

    @property
    def building(self) -> bool:
        """Panels are still being built, or the grid is not shown yet (:attr:`build_in_steps`)."""
        return bool(self._unbuilt) or self._show_due

    _timer = None
    _marker_t = None

    def _build_timer(self) -> QTimer:
        if self._timer is None:
            self._timer = QTimer(self)
            self._timer.setSingleShot(True)
            self._timer.timeout.connect(self._on_build_timer_timeout)
        return self._timer

    def _next_step(self) -> None:
        if self.step_queue is not None:
            self.step_queue.defer(("build", id(self)), self._on_build_timer_timeout)
        else:
            self._build_timer().start(0)

    def _build_one(self) -> str | None:
        """One step of building: a panel's plot, or its colour bar (then its name: it can be drawn)."""
        what, k, name = self._unbuilt.pop(0)
        if what == "bar":
            lo, hi = self._build_levels.get(name, (0.0, 1.0))
            bar = pg.ColorBarItem(values=(lo, hi), colorMap=self._colormap(name, lo, hi), interactive=False,
                                  width=10)
            bar.setImageItem(self.images[name], insert_in=self.plots[name])
            self.bars[name] = bar
            return name
        cols = self._shape[1]
        p = self._new_plot(k // cols, k % cols, self.time_labels)
        p.setTitle(self._full_title(name))
        p.setLabel("bottom", self.time_label if self.time_labels is None else "input character")
        p.setLabel("left", "unit")
        p.invertY(True)                                 # unit 0 at the top
        p.setMouseEnabled(x=False, y=False)
        img = pg.ImageItem()
        p.addItem(img)
        marker = marker_line(MARKER_COLOR)
        p.addItem(marker, ignoreBounds=True)
        self.plots[name], self.images[name], self.markers[name] = p, img, marker
        if self._marker_t is not None:
            marker.setValue(float(self._marker_t) + 1)
            marker.show()
        return None

    def _build_rest(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        while self._unbuilt:
            self._build_one()
        self._show_due = False
        self._built_whole()

    def _built_whole(self) -> None:
        self._apply_palette()
        if not self._exporting:
            self._arrange(self._wide_on_screen())
        if self._note is not None:
            self._note.hide()
        self.view.show()

    _note = None

    @property
    def building_note(self) -> QLabel:
        """The line shown in the view's place while the panels are built a turn at a time."""
        if self._note is None:
            self._note = QLabel(f"Drawing {self.title[0].lower()}{self.title[1:]}\u2026", self)
            self._note.setTextFormat(Qt.TextFormat.PlainText)
            self._note.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self._note.hide()
            self._lay.addWidget(self._note, 1)
        return self._note

    def _on_build_timer_timeout(self) -> None:
        if not self._unbuilt:
            if self._show_due:              # the grid is whole: shown (its first paint) in a turn of its own
                self._show_due = False
                self._built_whole()
                if self.view.isVisible():   # painted now, not with whatever the window paints next
                    self.view.repaint()
            return
        name = self._build_one()
        if name is not None and name in self.values:
            self._draw_panel(name)
        self._show_due = not self._unbuilt
        self._next_step()

    _show_due = False

    def _flush(self):
        if self.building:                               # an export or a caller needs the whole grid
            self._build_rest()
            self._stale = True
        super()._flush()

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
            self._name_axes()
            return
        ci = self._view.ci
        for p in self.plots.values():
            ci.removeItem(p)
        for k, name in enumerate(names):
            ci.addItem(self.plots[name], row=k // shape[1], col=k % shape[1])
        self._shape = shape
        self._name_axes()

    #: a panel in one row is at least this wide (its axis, colour bar and title fit; 1024-px windows)
    MIN_PANEL_WIDTH = 210
    #: a row of the grid lower than this on screen leaves out its axes' names ("timestep t", "unit":
    #: the window's heatmaps always show them) so that the units keep room to be seen
    MIN_ROW_HEIGHT = 150

    def _wide_on_screen(self) -> bool:
        n = max(1, len(self.plots))
        rows, cols = self._grid_shape(n, wide=False)
        # panels of the grid would be flatter than 1 : 3 — one row gives each the whole height,
        # unless the row would squeeze each panel narrower than it can be drawn
        return (self.height() > 0 and (self.width() / cols) / max(self.height() / rows, 1) > 3.0
                and self.width() / n >= self.MIN_PANEL_WIDTH)

    def _name_axes(self) -> None:
        """The axes' names shown, unless the rows are too low on screen for them and the data."""
        low = (not self._exporting and self._shape[0] > 1
               and self.height() / self._shape[0] < self.MIN_ROW_HEIGHT)
        for p in self.plots.values():
            for side in ("bottom", "left"):
                p.showLabel(side, not low)

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
        for name in self.values:
            if name in self.bars:
                self._draw_panel(name)

    def _draw_panel(self, name):
        arr = self.values[name]
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
        self._marker_t = t
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
        return self.columns_of(self.values)

    @classmethod
    def columns_of(cls, values: dict):
        """(header, columns) of the CSV of ``values`` (quantity, t, unit, value: every cell)."""
        ts, us, vs = [], [], []
        for arr in values.values():
            T, n = arr.shape
            ts.append(np.repeat(np.arange(1, T + 1), n))
            us.append(np.tile(np.arange(n), T))
            vs.append(arr.ravel())
        names = np.repeat(np.array(list(values), dtype=str), [a.size for a in values.values()])
        cat = lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dt)  # noqa: E731
        return ("quantity", "t", "unit", "value"), [names, cat(ts, np.int64), cat(us, np.int64), cat(vs, float)]

    def csv_job(self, path):
        """The CSV's columns made and written by the job (the values shown now: arrays that are
        replaced, never changed in place)."""
        self._flush()
        return functools.partial(_write_columns, path, type(self).columns_of, dict(self.values))


def _write_columns(path, columns_of, values) -> None:
    write_csv_columns(path, *columns_of(values))


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

    @classmethod
    def columns_of(cls, values: dict):
        header, cols = super().columns_of(values)
        return ("t", "unit", "value"), cols[1:]

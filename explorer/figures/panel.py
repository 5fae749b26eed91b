"""The base of every plot: a pyqtgraph view with the project's axes, a legend above the data, a calm
"no data yet" state, colours from the palette, and exporters that draw at their own size.

Exports never grab what is on screen. The scene is laid out at :attr:`PlotPanelWidget.export_size`
for the moment of drawing and put back (a plot in a hidden dock tab, 192×136 on screen, still
exports at full size; the widget on screen is untouched), long curves are downsampled for that
size, scatter symbols are drawn as vector shapes, and the SVG generator's resolution is the
logical DPI the scene's text was laid out for (any other value draws the text-sized axes at
another scale than the data: 72 dpi gives 0.75).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import html
import itertools
import io
import os
import re

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QRectF, QSize, QSizeF, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPicture  # noqa: E402
from PySide6.QtWidgets import QApplication, QGraphicsWidget, QSizePolicy, QVBoxLayout, QWidget  # noqa: E402
from shiboken6 import isValid  # noqa: E402

import pyqtgraph as pg  # noqa: E402

from explorer.figures.axes import PlotAxisItem  # noqa: E402
from explorer.figures.export_files import svg_recording, write_file, write_png  # noqa: E402
from explorer.figures.extremes import ValueScan  # noqa: E402
from explorer.figures.picture_raster import picture_image, picture_png  # noqa: E402
from explorer.figures.updates import paint_holds, resume_updates, suspend_updates  # noqa: E402
from explorer.runs.store import csv_value  # noqa: E402

pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")

#: Logical size (px) every plot is laid out at for export; PNGs are drawn at twice this.
EXPORT_SIZE = QSize(900, 520)
PNG_SCALE = 2
#: Curves are drawn with about this many points per pixel of width (peak downsampling: min and max).
DOWNSAMPLE_FACTOR = 1.0


def ensure_app() -> QApplication:
    """The running QApplication, or a new one (offscreen works for headless export)."""
    app = QApplication.instance()
    if app is None:
        app = QApplication([])
    return app


def write_csv(path, header, rows) -> None:
    fh = io.StringIO(newline="")
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([csv_value(v) for v in row])
    write_file(path, fh.getvalue().encode("utf-8"))


#: Values formatted per call of one C loop (a worker thread formatting a CSV lets the GUI thread
#: take the interpreter lock between chunks, every few ms).
CSV_CHUNK = 32768


def _column_strings(col) -> list:
    """One CSV column as text, as :func:`explorer.runs.store.csv_value` writes each value (floats as their
    shortest exact repr, NaN and None empty, booleans 1/0), without a Python call per value."""
    a = np.asarray(col) if not isinstance(col, list) else np.asarray(col, dtype=object)
    out: list = []
    for k in range(0, len(a), CSV_CHUNK):
        out += _chunk_strings(a[k:k + CSV_CHUNK])
    return out


def _chunk_strings(a: np.ndarray) -> list:
    if a.dtype == bool:
        return np.where(a, "1", "0").tolist()
    if a.dtype.kind in "iu":
        return list(map(str, a.tolist()))
    if a.dtype.kind == "f":
        return ["" if v != v else repr(v) for v in a.tolist()]
    return [_quoted(csv_value(v)) for v in a.tolist()]


def _quoted(field: str) -> str:
    """A field as the csv module writes it (quoted when it holds a comma, a quote or a line break)."""
    if any(c in field for c in ',"\n\r'):
        return '"' + field.replace('"', '""') + '"'
    return field


def write_csv_columns(path, header, columns) -> None:
    """A CSV of equally long columns (every value kept), the same text :func:`write_csv` writes;
    one join instead of a call per value, for a million rows."""
    text = [_column_strings(c) for c in columns]
    parts = [(",".join(_quoted(str(h)) for h in header) + "\n").encode("utf-8")]
    rows = zip(*text)
    for _ in range(0, len(text[0]) if text else 0, CSV_CHUNK):
        parts.append(("\n".join(map(",".join, itertools.islice(rows, CSV_CHUNK))) + "\n").encode("utf-8"))
    write_file(path, b"".join(parts))


#: The narrowest span a plot's axis shows (absolute, and relative to the values' size): pyqtgraph's
#: tick code divides by a spacing that underflows to zero for a span near 1e-323 (data of denormal
#: numbers), and Qt aborts on the infinite scale; a narrower range is widened about its centre.
MIN_VIEW_SPAN = 1e-250
MIN_RELATIVE_SPAN = 1e-12


def widened(lo: float, hi: float) -> tuple[float, float]:
    """``(lo, hi)`` at least :data:`MIN_VIEW_SPAN` wide and :data:`MIN_RELATIVE_SPAN` of its
    largest end, about the same centre."""
    lo, hi = min(lo, hi), max(lo, hi)
    need = max(MIN_VIEW_SPAN, MIN_RELATIVE_SPAN * max(abs(lo), abs(hi)))
    if hi - lo >= need:
        return lo, hi
    mid = lo / 2 + hi / 2
    return mid - need / 2, mid + need / 2


class SpanViewBox(pg.ViewBox):
    """A view box whose ranges are never narrower than :func:`widened` allows (any finite data,
    denormal numbers included, plots and exports)."""

    def setRange(self, rect=None, xRange=None, yRange=None, *args, **kwargs):  # noqa: N802 - pyqtgraph's name
        if rect is not None:
            xRange = xRange if xRange is not None else (rect.left(), rect.right())
            yRange = yRange if yRange is not None else (rect.top(), rect.bottom())
        xRange = widened(*xRange) if xRange is not None else None
        yRange = widened(*yRange) if yRange is not None else None
        return super().setRange(None, xRange, yRange, *args, **kwargs)


def long_curve(item: pg.PlotDataItem) -> pg.PlotDataItem:
    """Make ``item`` draw only what its pixels can show: peak downsampling (every minimum and
    maximum stays visible) clipped to the view; the data it holds stay complete."""
    item.setDownsampling(auto=True, method="peak")
    item.setClipToView(True)
    item.opts["autoDownsampleFactor"] = DOWNSAMPLE_FACTOR
    return item


def plain_html(text) -> str:
    """``text`` as HTML that shows it exactly as written: pyqtgraph's titles, legends and axis labels
    take HTML, and a name from a file, a path or a model (``<img src=…>``, ``<b>``) is never markup."""
    return html.escape(str(text)).replace("\n", "<br>")


class OutsideLegendItem(pg.LegendItem):
    """A legend in a row of its own above the data, never over it; as many columns as fit.
    Entries are plain text (:func:`plain_html`)."""

    def __init__(self, **kw):
        super().__init__(offset=None, frame=False, colCount=8, horSpacing=6, **kw)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self._width = 800.0

    def addItem(self, item, name):  # noqa: N802 - pyqtgraph's name
        super().addItem(item, plain_html(name))

    def updateSize(self):  # noqa: N802 - pyqtgraph's name
        # the enclosing layout places it; just tell it the size changed
        self.layout.invalidate()
        self.updateGeometry()

    def paint(self, p, *args):
        pass                      # no frame, no background: it sits outside the data

    def sizeHint(self, which, constraint=QSizeF()):  # noqa: N802
        if not self.items or not self._shown:
            return QSizeF(0, 0)   # takes no room when it has nothing to say
        return super().sizeHint(which, constraint)

    _shown = True

    def set_shown(self, on: bool) -> None:
        self._shown = bool(on)
        self.setVisible(self._shown)
        self.updateSize()

    def entries(self) -> list[str]:
        return [label.text for _, label in self.items]

    def fit(self, width: float) -> None:
        """Choose the number of columns so that the rows fit in ``width`` pixels."""
        self._width = float(width)
        if not self.items:
            return
        widths = [sample.boundingRect().width() + label.item.boundingRect().width() + 16
                  for sample, label in self.items]
        cols = len(widths)
        while cols > 1:
            per_col = [max(widths[k::cols]) for k in range(cols)]
            if sum(per_col) <= width:
                break
            cols -= 1
        self.setColumnCount(cols)
        self.updateSize()


class PlotPanelWidget(QWidget):
    """Base: holds a pyqtgraph view (``self.view``), colours from the palette, the legend, the empty
    state and the exporters.

    Subclasses set ``title``, ``x_integer``/``y_integer`` (whole-number ticks), implement
    :meth:`csv_rows` and :meth:`has_data`, and draw in :meth:`_draw`.
    """

    title = ""
    empty_text = "no data yet"
    export_size = EXPORT_SIZE
    x_integer = False
    y_integer = False

    def __init__(self, parent=None):
        super().__init__(parent)
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(2, 2, 2, 2)
        self._empty_items: list = []
        self._fixed_ticks: dict = {}
        self._title_text = self.title
        self._title = plain_html(self.title)
        self._grid = {"x": 0.15, "y": 0.15}
        self.legend = None
        self._exporting = False
        self.view = self._make_view()
        self._lay.addWidget(self.view, 1)
        self.view.viewport().installEventFilter(self)
        self._apply_palette()

    # -- building -----------------------------------------------------------------------------------
    def _make_view(self):
        w = pg.PlotWidget(viewBox=SpanViewBox(),
                          axisItems={"left": PlotAxisItem("left", integer=self.y_integer),
                                     "bottom": PlotAxisItem("bottom", integer=self.x_integer)})
        self.plot = w.getPlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self._apply_title()
        self._add_empty_label(self.plot)
        return w

    def add_header_widget(self, widget) -> None:
        """``widget`` in a row of its own above the plot (a note about what is drawn)."""
        self._lay.insertWidget(0, widget)

    def set_grid(self, x=None, y=None):
        if x is not None:
            self._grid["x"] = x
        if y is not None:
            self._grid["y"] = y
        self._apply_grid()

    def _apply_grid(self):
        if not hasattr(self, "plot"):
            return
        empty = bool(self._was_empty)
        gx, gy = self._grid["x"], self._grid["y"]
        self.plot.showGrid(x=bool(gx) and not empty, y=bool(gy) and not empty, alpha=max(gx or 0, gy or 0))

    def add_legend(self) -> OutsideLegendItem:
        """A legend row above the data (between the title and the plot area)."""
        plot = self.plot
        top = plot.getAxis("top")
        plot.layout.removeItem(top)                # the top axis is never shown; its cell holds the legend
        legend = OutsideLegendItem(labelTextColor=self._fg())
        plot.layout.addItem(legend, 1, 1)
        plot.layout.setAlignment(legend, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom)
        plot.legend = legend
        self.legend = legend
        plot.vb.sigResized.connect(self._on_view_resized)
        return legend

    def _on_view_resized(self, *_):
        if self.legend is not None:
            self.legend.fit(min(self.plot.vb.width(), self._legend_room()))
            if self._held_larger():
                # held larger than the view by the legend's old columns (a tab laid out narrow while
                # hidden, one column of entries high): give it the view again once the layout that
                # is running now has ended, as the plot's minimum is then the new columns'
                if self._fit_timer is None:
                    self._fit_timer = QTimer(self)          # (it goes with the panel)
                    self._fit_timer.setSingleShot(True)
                    self._fit_timer.timeout.connect(self._fit_to_view)
                self._fit_timer.start(0)

    _fit_timer = None

    def _held_larger(self) -> bool:
        top, rng = self.view.centralWidget, getattr(self.view, "range", None)
        return (not self._exporting and top is not None and rng is not None
                and (top.size().width() > rng.width() + 0.5 or top.size().height() > rng.height() + 0.5))

    def _fit_to_view(self) -> None:
        if isValid(self.view) and isValid(self.plot) and self._held_larger():       # (not closed meanwhile)
            self.view.centralWidget.setGeometry(self.view.range)

    _layout_width = None          # the width the plot is being laid out at (an export's; None: on screen)

    def resizeEvent(self, e):  # noqa: N802 - Qt's name
        super().resizeEvent(e)
        # narrower: a legend wider than the view keeps the data's width, so the data never says it shrank
        self._on_view_resized()

    def _legend_room(self) -> float:
        """The width the legend's row may take: what the plot is given (the view on screen, the export
        size when exporting) less the room left of the data. Not the data's own width alone: once the
        legend's columns are wider than the view they widen the layout, and the data with it."""
        width = self._layout_width if self._exporting and self._layout_width else self.view.viewport().width()
        return max(1.0, width - self.plot.vb.pos().x() - 10.0)

    #: On screen the dock's tab names the plot and the title row would take the data's room;
    #: exports always carry the title.
    title_on_screen = False

    def set_title(self, text: str, subtitle: str = "") -> None:
        """The title (and a smaller second line), both plain text."""
        self._title_text = text
        self._title = plain_html(text) + (f"<br><span style='font-size:9pt'>{plain_html(subtitle)}</span>"
                                          if subtitle else "")
        self._apply_title()

    def title_text(self) -> str:
        """The title exports carry (and the screen shows when :attr:`title_on_screen`)."""
        return self._title

    def _apply_title(self) -> None:
        if not hasattr(self, "plot"):
            return
        if self.title_on_screen or self._exporting:
            self.plot.setTitle(self._title, color=self._fg().name())
        else:
            self.plot.setTitle(None)

    def _add_empty_label(self, plot):
        label = pg.TextItem(self.empty_text, anchor=(0.5, 0.5), color=QColor(128, 128, 128))
        plot.addItem(label, ignoreBounds=True)
        label.setPos(0.5, 0.5)
        label.hide()
        self._empty_items.append((plot, label))

    # -- subclass hooks ------------------------------------------------------------------------------
    def csv_rows(self):
        """(header, rows) of the plotted data."""
        header, columns = self.csv_columns()
        return header, zip(*columns)

    def csv_columns(self):
        """(header, columns) of the plotted data, for plots with many points."""
        raise NotImplementedError

    def has_data(self) -> bool:
        return True

    # -- drawing only what is seen ---------------------------------------------------------------------
    _stale = False

    def _draw(self):
        pass

    def _request_draw(self):
        """Draw now if the plot is on screen; otherwise when it is shown, painted or exported (a plot
        in a tab behind others costs nothing while training: Qt keeps such a tab's page visible but
        moves it off screen, so its visible region is empty). A plot whose paints a redraw holds
        is drawn in its own turn, just before it is painted (:meth:`draw_pending`): the redraw's
        turn does not pay for it."""
        if paint_holds(self) and not self._exporting:
            self._stale = True          # held for a turn of its own (explorer.gui.turns): drawn then
        elif self.isVisible() and not self.visibleRegion().isEmpty():
            self._draw()
            self._stale = False
            self._update_empty()
        else:
            self._stale = True

    def draw_pending(self) -> None:
        """Draw what was left for later (the plot was held, or off screen). (A heatmap whose panels
        are still being built draws those built; each later one draws as it is built.)"""
        if self._stale:
            self._draw()
            self._stale = False
            self._update_empty()

    def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
        """The view is about to be painted (its tab raised, scrolled into sight): draw what it missed
        in the next event-loop turn."""
        if event.type() == QEvent.Type.Paint and self._stale and obj is self.view.viewport():
            QTimer.singleShot(0, self, self._flush)
        return False

    def _flush(self):
        if self._stale:
            self._draw()
            self._stale = False
        self._update_empty()

    def showEvent(self, e):  # noqa: N802
        self._flush()
        super().showEvent(e)

    def clear(self):
        pass

    def set_time_marker(self, t):
        pass

    # -- the empty state ---------------------------------------------------------------------------
    _was_empty = None
    _legend_wanted = True

    def show_legend(self, on: bool) -> None:
        self._legend_wanted = bool(on)
        if self.legend is not None:
            self.legend.set_shown(on and not self._was_empty)

    def _showing_data(self) -> bool:
        return bool(self.has_data())

    def shown_values(self) -> list:
        """The arrays of values the plot draws on its y axis (for :meth:`nothing_to_draw`); [] for
        plots that do not say when there is nothing to draw."""
        return []

    def nothing_to_draw(self) -> str:
        """A sentence when the plot has data but every value is 0 or none is finite (then it says
        so in the middle instead of drawing ticks), else ""."""
        scan = ValueScan()
        for a in self.shown_values():
            if a is not None:
                scan.update(a)
        return scan.reason()

    def _update_empty(self):
        """No data, or nothing to draw: a calm "no data yet" (or "every value is 0" …) in the
        middle, no numbers on the axes, no grid."""
        reason = self.nothing_to_draw() if self._showing_data() else self.empty_text
        empty = bool(reason)
        changed = empty != self._was_empty or reason != getattr(self, "_empty_reason", None)
        self._was_empty = empty
        self._empty_reason = reason
        for plot, label in self._empty_items:
            if empty:
                label.setText(reason)
            if empty:
                plot.vb.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            if not changed:
                continue
            for name in ("left", "bottom"):
                plot.getAxis(name).setTicks([[]] if empty else self._fixed_ticks.get((id(plot), name)))
            label.setVisible(empty)
            if self.legend is not None:
                self.legend.set_shown(not empty and self._legend_wanted)
            if not empty:
                self._on_data_arrived(plot)
        if changed:
            self._apply_grid()

    def set_fixed_ticks(self, name: str, ticks, plot=None) -> None:
        """Explicit ticks for axis ``name`` (None: automatic), kept through the empty state."""
        plot = plot or self.plot
        self._fixed_ticks[(id(plot), name)] = ticks
        if not self._was_empty:
            plot.getAxis(name).setTicks(ticks)

    def _on_data_arrived(self, plot):
        plot.enableAutoRange()
        self._refresh_curves(plot)

    @staticmethod
    def _refresh_curves(plot=None, scene=None):
        """Long curves compute what they draw again (for a new width, or for a view that now follows
        the data: while the empty state held the view at 0..1 they were clipped to it)."""
        items = (scene or plot.scene()).items() if (scene or plot.scene()) is not None else plot.items
        for item in items:
            if isinstance(item, pg.PlotDataItem) and (item.opts["autoDownsample"] or item.opts["clipToView"]):
                item.viewRangeChanged()

    # -- palette ----------------------------------------------------------------------------------------
    def _fg(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.Text)

    def _bg(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.Base)

    def _apply_palette(self):
        bg, fg = self._bg(), self._fg()
        self.dark = bg.lightness() < 128
        self.view.setBackground(bg)
        for item in self._plot_items():
            item.titleLabel.setText(item.titleLabel.text, color=fg.name())
        for ax in self.view.scene().items():
            if isinstance(ax, pg.AxisItem):       # the plots' axes and the colour bars'
                ax.setPen(fg)
                ax.setTextPen(fg)
        if self.legend is not None:
            self.legend.setLabelTextColor(fg)
        grey = QColor(fg)
        grey.setAlpha(150)
        for _, label in self._empty_items:
            label.setColor(grey)

    def _plot_items(self):
        return [self.plot] if hasattr(self, "plot") else []

    def changeEvent(self, e):  # noqa: N802
        if e.type() == e.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(e)

    # -- export ----------------------------------------------------------------------------------------
    def _export_size(self) -> QSize:
        return QSize(self.export_size)

    @contextlib.contextmanager
    def _laid_out_for_export(self):
        """The scene laid out at the export size for the moment of drawing, then put back."""
        state = self._begin_export()
        try:
            while not self._settle_pass(state):
                pass
            yield state[0]
        finally:
            self._end_export(state)

    def _begin_export(self):
        """Lay the scene out at the export size; the state :meth:`_end_export` puts back."""
        self._flush()
        size = self._export_size()
        top = self.view.centralWidget
        old = QRectF(top.geometry())
        self._exporting = True
        self._apply_title()
        self._arrange_for(exporting=True)
        items = [it for it in self.view.scene().items() if hasattr(it, "setExportMode")]
        state = [size, top, old, items, 0]
        try:
            self._set_scene_geometry(top, QRectF(0, 0, size.width(), size.height()))
            for it in items:   # scatter symbols as vector shapes, not cached bitmaps
                it.setExportMode(True, {"antialias": True, "background": self._bg(), "resolutionScale": 1.0})
        except BaseException:
            self._end_export(state)
            raise
        return state

    def _end_export(self, state) -> None:
        size, top, old, items, _ = state
        for it in items:
            it.setExportMode(False)
        self._exporting = False
        self._apply_title()
        self._arrange_for(exporting=False)
        self._set_scene_geometry(top, old)

    def _set_scene_geometry(self, top, rect: QRectF):
        self._layout_width = rect.width()
        top.setGeometry(rect)
        self._relayout(top)
        self._on_view_resized()
        self._relayout(top)
        self._refresh_curves(scene=self.view.scene())       # downsample again for this width

    #: The most drawing passes an export lays out before drawing (see :meth:`_settle_pass`).
    SETTLE_PASSES = 4

    def _settle_pass(self, state) -> bool:
        """One pass of settling: axes size themselves to the labels they drew last time, so draw
        (clipped to one pixel: nothing is rasterised) and lay out again; True once nothing moved (the first export then
        equals the second) or after :attr:`SETTLE_PASSES`."""
        size, top = state[0], state[1]
        if state[4] >= self.SETTLE_PASSES:
            return True
        state[4] += 1

        def geometry():
            rects = [QGraphicsWidget.geometry(w) for w in top.scene().items() if isinstance(w, QGraphicsWidget)]
            return tuple((round(r.x(), 1), round(r.y(), 1), round(r.width(), 1), round(r.height(), 1))
                         for r in rects)
        before = geometry()
        scratch = QImage(size, QImage.Format.Format_ARGB32)
        dpm = int(round(self.logical_dpi() / 0.0254))
        scratch.setDotsPerMeterX(dpm)
        scratch.setDotsPerMeterY(dpm)
        p = QPainter(scratch)
        p.setClipRect(QRectF(0, 0, 1, 1))               # the items lay themselves out; nothing is rasterised
        self._paint_export(p, size)
        p.end()
        self._relayout(top)
        if geometry() == before:
            state[4] = self.SETTLE_PASSES
            return True
        return False

    def _arrange_for(self, exporting: bool) -> None:
        """Hook: a plot of several panels may arrange them differently for export."""

    @staticmethod
    def _relayout(top):
        """Apply every nested layout now, outermost first (no event loop in between)."""
        def depth(item):
            d = 0
            while item.parentItem() is not None:
                item, d = item.parentItem(), d + 1
            return d

        widgets = [i for i in top.scene().items() if isinstance(i, QGraphicsWidget)]
        for w in sorted(widgets, key=depth):
            lay = w.layout
            lay = lay() if callable(lay) else lay
            if lay is not None:
                lay.activate()
        for vb in [i for i in widgets if isinstance(i, pg.ViewBox)]:
            vb.prepareForPaint()

    def _paint_export(self, painter: QPainter, size: QSize):
        painter.fillRect(QRectF(0, 0, size.width(), size.height()), self._bg())
        rect = QRectF(0, 0, size.width(), size.height())
        self.view.scene().render(painter, rect, rect)

    def logical_dpi(self) -> int:
        """The DPI the scene's text is laid out for (fonts in points become pixels with it)."""
        return int(round(self.logicalDpiX()))

    def render_image(self, scale: float = PNG_SCALE) -> QImage:
        """The plot drawn at its export size × ``scale`` (device pixels)."""
        with self._laid_out_for_export() as size:
            return self._painted_image(size, scale)

    def _painted_image(self, size: QSize, scale: float) -> QImage:
        return picture_image(self._recorded(size), size, scale, self._bg(), self.logical_dpi())

    def _recorded(self, size: QSize) -> QPicture:
        """The scene's drawing at ``size``, recorded (replayed by :func:`picture_image` in any
        thread)."""
        pic = QPicture()
        p = QPainter(pic)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        self._paint_export(p, size)
        p.end()
        return pic

    def export_png(self, path, scale: float = PNG_SCALE) -> bool:
        """The plot at ``scale`` × its export size (2 by default: 1800 × 1040 pixels). Encoded in
        memory and written by Python, so a full disk raises OSError (errno ENOSPC) instead of a
        libpng message and a truncated file."""
        return write_png(self.render_image(scale), path)

    def _svg_bytes(self, size: QSize) -> bytes:
        with svg_recording(size, self.logical_dpi(), self._title_text or self.title or type(self).__name__,
                           "LSTM Explorer plot") as (p, out):
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            self._paint_export(p, size)
        return out[0]

    def export_svg(self, path) -> None:
        """The plot as an SVG of its export size: curves as vector paths, symbols as shapes."""
        with self._laid_out_for_export() as size:
            data = self._svg_bytes(size)
        write_svg(path, data)

    def export_csv(self, path) -> None:
        """The plotted data, every point of it (not the downsampled drawing)."""
        self.csv_job(path)()

    def csv_job(self, path):
        """A copy of the plotted data (every point) and a call that formats and writes it as the CSV
        ``path``; the call touches no widget (it may run in a worker thread)."""
        self._flush()
        if type(self).csv_columns is not PlotPanelWidget.csv_columns:
            header, columns = self.csv_columns()
            columns = [list(c) if isinstance(c, list) else np.array(c, copy=True) for c in columns]
            return functools.partial(write_csv_columns, path, header, columns)
        header, rows = self.csv_rows()
        return functools.partial(write_csv, path, header, [list(r) for r in rows])

    def export_steps(self, png=None, svg=None, csv=None, scale: float = PNG_SCALE):
        """The PNG, SVG and CSV exports (each path or None; their jobs in that order) in short steps
        for the GUI thread: a generator that yields None between steps and a job (a call that writes
        one file and touches no widget) once a file's contents are captured. The scene is laid out for export from the
        first drawing step to the last (the screen keeps its pixels meanwhile); closing the
        generator puts it back."""
        if png is not None or svg is not None:
            yield from self._drawing_steps(png, svg, scale)
        if csv is not None:
            yield self.csv_job(csv)

    def _drawing_steps(self, png, svg, scale):
        self._flush()                                   # data not drawn yet (a plot behind a tab)
        yield None
        suspend_updates(self)
        state = self._begin_export()
        try:
            while True:
                yield None
                if self._settle_pass(state):
                    break
            size = state[0]
            yield None
            if png is not None:
                yield functools.partial(write_picture_png, self._recorded(size), size, scale, self._bg(),
                                        self.logical_dpi(), png)
            if svg is not None:
                yield functools.partial(write_svg, svg, self._svg_bytes(size))
        finally:
            self._end_export(state)
            resume_updates(self)


def write_picture_png(pic: QPicture, size: QSize, scale: float, bg: QColor, dpi: float, path) -> None:
    """A recorded drawing rasterised at ``scale`` and encoded in the helper process
    (:mod:`explorer.figures.picture_raster`), written as the PNG ``path`` whole; touches no widget."""
    write_file(path, picture_png(pic, size, scale, bg, dpi, path))


def write_svg(path, data: bytes) -> None:
    """An SVG document ``data`` from Qt's generator, without its empty paths, written whole."""
    write_file(path, _drop_empty_paths(data.decode("utf-8")).encode("utf-8"))


_EMPTY_PATH = re.compile(r'<path[^>]*\sd=""[^>]*/>\s*')


def _drop_empty_paths(svg: str) -> str:
    """A curve of one point is an empty path; QSvgGenerator writes it as d="", which SVG readers
    (Qt's included) reject with a warning. Leave them out."""
    return _EMPTY_PATH.sub("", svg)


def marker_line(color) -> pg.InfiniteLine:
    line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine))
    line.setZValue(20)
    line.hide()
    return line


def positive(y) -> np.ndarray:
    """``y`` with zeros and negatives as NaN (gaps on a log axis)."""
    y = np.asarray(y, dtype=float)
    return np.where(y > 0, y, np.nan)

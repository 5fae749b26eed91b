"""Overlaid curves that change while training: each replaceable by name, with a timestep marker
(the comparison view's and the attention windows' live plots)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from explorer.figures import plots
from explorer.figures.panel import marker_line, positive


class LiveCurvesPlotWidget(plots.CurvesPlotWidget):
    """The figures' overlaid curves, each replaceable by name while training (``set_curve``), with
    an optional timestep marker (``set_time_marker``, 0-based index drawn at t + 1)."""

    def __init__(self, *args, marker: bool = False, **kw):
        super().__init__(*args, **kw)
        self._items: dict = {}
        self._marker = None
        if marker:
            self._marker = marker_line("#D55E00")
            self.plot.addItem(self._marker, ignoreBounds=True)

    def set_curve(self, name, x, y, color, style=Qt.PenStyle.SolidLine, legend=True) -> None:
        """Show ``(x, y)`` as the curve ``name`` (added the first time, replaced after); ``legend`` as
        :meth:`add_curve` takes it (a shorter text, or None to leave the curve out of the legend)."""
        if name not in self._items:
            item = self.add_curve(name, x, y, color, style, legend=legend)
            self._items[name] = (len(self.series) - 1, item)
            return
        k, item = self._items[name]
        x, y = np.asarray(x, float), np.asarray(y, float)
        self.series[k] = (name, x, y)
        item.setData(x, positive(y) if self.log_y else y)
        self._request_draw()

    def add_curve(self, *args, **kw):
        item = super().add_curve(*args, **kw)
        self._on_view_resized()            # the legend's rows for its new entry
        return item

    def add_legend_entry(self, item, text: str) -> None:
        """A legend entry of its own (``item``'s pen as the swatch) for no curve in particular."""
        self.legend.addItem(item, text)
        self._on_view_resized()

    def curve(self, name):
        """(x, y) of the curve ``name`` as last given (None if there is none)."""
        if name not in self._items:
            return None
        _, x, y = self.series[self._items[name][0]]
        return x, y

    def set_time_marker(self, t) -> None:
        if self._marker is None:
            return
        if t is None:
            self._marker.hide()
        else:
            self._marker.setValue(float(t) + 1)
            self._marker.show()

"""The LSTM cell diagram: one unit of one timestep, drawn Colah-style with live values.

:class:`CellDiagramView` paints the cell in a fixed *logical* coordinate system
(:data:`LOGICAL_W` x the logical height) that is scaled uniformly to the widget, so
the picture is sharp at any size / device-pixel ratio and exports identically to PNG
(any scale) and SVG (``QSvgGenerator`` through the same paint routine).

Nothing is recomputed: every number drawn comes from the trace arrays handed to
:meth:`CellDiagramView.set_trace`; the only arithmetic is ``kept = f * c_prev`` and
``written = i * g`` (products of two trace values, shown on the belt), which
:meth:`CellDiagramView.displayed_values` returns together with everything else.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QToolTip, QWidget

from explorer.figures.colors import DIVERGING_STOPS, GATE_COLORS, diverging_color, text_color_on
from explorer.gui.trace_position import TracePositionMixin

__all__ = ["CellDiagramView", "TOOLTIPS", "fmt"]

MINUS = "\u2212"

LOGICAL_W = 1200.0
H_MAIN = 600.0  # diagram without the unit strip
H_STRIP = 130.0  # extra height of the unit strip (only when n > 1)

TOOLTIPS: dict[str, str] = {
    "f": "The forget gate f = \u03c3(W_f x + U_f h + b_f) decides how much of the old cell "
    "state to keep (1 keeps all, 0 erases).",
    "i": "The input gate i = \u03c3(W_i x + U_i h + b_i) decides how much of the candidate "
    "to write into the cell state (1 writes all of it, 0 writes nothing).",
    "g": "The candidate g = tanh(W_g x + U_g h + b_g) is the new content, between \u22121 "
    "and 1, that the input gate may write into the cell state.",
    "o": "The output gate o = \u03c3(W_o x + U_o h + b_o) decides how much of tanh(c_t) "
    "leaves the cell as the hidden state h_t (1 shows all, 0 hides it).",
    "belt": "The cell state c is the conveyor belt of memory: c_t = f \u2299 c_{t\u22121} + "
    "i \u2299 g keeps part of the old memory and adds the newly written part.",
    "h": "The hidden state h_t = o \u2299 tanh(c_t) is the cell's output: it goes to the "
    "next layer and back into all four gates at the next step.",
    "input": "The input x_t and the previous hidden state h_{t\u22121} are joined and fed "
    "to all four gates.",
    "tanh": "tanh squashes the cell state c_t into (\u22121, 1) before the output gate "
    "scales it into h_t.",
    "kept": "kept = f \u2299 c_{t\u22121}: the part of the old memory that the forget gate "
    "lets through.",
    "written": "written = i \u2299 g: the part of the candidate that the input gate writes "
    "onto the belt.",
}

GATE_FUNC = {"f": "\u03c3", "i": "\u03c3", "g": "tanh", "o": "\u03c3"}
GATE_LABEL = {"f": "forget f", "i": "input i", "g": "candidate g", "o": "output o"}
GATE_ORDER = ("f", "i", "g", "o")  # left to right in the picture


def fmt(value: float, nd: int = 3) -> str:
    """Format a number the way the diagram and the equations show it (typographic minus)."""
    v = float(value)
    s = f"{v:.{nd}f}"
    if s.startswith("-"):
        if float(s) == 0.0:  # "-0.000" -> "0.000"
            s = s[1:]
        else:
            s = MINUS + s[1:]
    return s


def _blend(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


class _Geometry:
    """Static layout in logical coordinates (computed once)."""

    def __init__(self) -> None:
        self.belt_y = 150.0
        self.belt_x0, self.belt_x1 = 30.0, 1170.0
        self.cell = QRectF(150.0, 92.0, 880.0, 430.0)
        self.node_r = 17.0
        self.gate_w, self.gate_h = 136.0, 96.0
        self.gate_cy = 352.0
        self.gate_cx = {"f": 300.0, "i": 455.0, "g": 610.0, "o": 770.0}
        self.gate_rect = {
            k: QRectF(cx - self.gate_w / 2, self.gate_cy - self.gate_h / 2, self.gate_w, self.gate_h)
            for k, cx in self.gate_cx.items()
        }
        self.forget_node = QPointF(self.gate_cx["f"], self.belt_y)  # x
        self.add_node = QPointF(self.gate_cx["g"], self.belt_y)  # +
        self.write_node = QPointF(self.gate_cx["g"], 248.0)  # x (i * g)
        self.out_x = 920.0
        self.tanh_rect = QRectF(self.out_x - 34, 236.0, 68.0, 30.0)
        self.out_node = QPointF(self.out_x, self.gate_cy)  # x (o * tanh c)
        self.bus_y = 470.0  # joined [x_t, h_{t-1}] line
        self.x_in_x = 200.0
        self.h_out_y = self.bus_y
        self.h_up_x = 1062.0
        self.h_up_top = 78.0
        # hit areas
        self.belt_hit = QRectF(self.belt_x0, self.belt_y - 16, self.belt_x1 - self.belt_x0, 32)
        self.h_hit = [
            QRectF(self.out_x - 10, self.gate_cy + self.node_r, 20, self.bus_y - self.gate_cy),
            QRectF(self.out_x, self.h_out_y - 12, self.belt_x1 - self.out_x, 24),
            QRectF(self.h_up_x - 12, self.h_up_top, 24, self.h_out_y - self.h_up_top),
        ]
        self.input_hit = [
            QRectF(self.belt_x0, self.bus_y - 12, self.gate_cx["o"] - self.belt_x0, 24),
            QRectF(self.x_in_x - 12, self.bus_y, 24, 90),
        ]
        self.legend = QRectF(740.0, 26.0, 220.0, 12.0)
        # unit strip
        self.strip_top = H_MAIN + 8.0
        self.strip_x0, self.strip_x1 = 30.0, 1170.0

    def unit_rects(self, n: int) -> list[QRectF]:
        if n <= 1:
            return []
        span = self.strip_x1 - self.strip_x0
        w = min(120.0, span / n)
        x0 = self.strip_x0 + (span - w * n) / 2
        y0 = self.strip_top + 28.0
        return [QRectF(x0 + k * w + 1.5, y0, w - 3.0, 86.0) for k in range(n)]


class CellDiagramView(TracePositionMixin, QWidget):
    """Colah-style drawing of one LSTM unit at one timestep, filled with the trace's values."""

    sigUnitClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(False)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setMinimumSize(480, 300)
        self._geo = _Geometry()
        self._init_position()
        self._weights: Any = None
        self._vals: dict[str, Any] | None = None
        self._unit_rects: list[QRectF] = []
        self._paint_ms = 0.0
        self._vocab: list[str] | None = None
        self._setup_fonts()
        self._setup_static()

    # ------------------------------------------------------------------ API
    def set_trace(self, trace: Any, weights: Any = None) -> None:
        """Show ``trace`` (kept by reference; nothing is recomputed)."""
        self._trace = trace
        self._weights = weights
        n = self._n()
        self._unit_rects = self._geo.unit_rects(n)
        self._clamp()
        self._update_values()
        self.update()

    def _position_changed(self) -> None:
        self._update_values()
        self.update()

    @property
    def vocab(self) -> list[str] | None:
        """Token names when the input is one-hot (then x_t is shown as one-hot('token'))."""
        return self._vocab

    @vocab.setter
    def vocab(self, vocab: list[str] | None) -> None:
        self._vocab = None if vocab is None else list(vocab)
        self._update_values()
        self.update()


    def displayed_values(self) -> dict[str, Any]:
        """The exact numbers drawn now (for the selected sample, timestep and unit)."""
        if self._vals is None:
            return {}
        d = dict(self._vals)
        d["x"] = np.array(d["x"], dtype=float, copy=True)
        return {k: d[k] for k in ("x", "h_prev", "c_prev", "i", "f", "g", "o", "c", "h", "kept", "written")}

    def paint_ms(self) -> float:
        """Duration of the last paint (widget paint or export), in milliseconds."""
        return self._paint_ms

    def logical_size(self) -> tuple[float, float]:
        return LOGICAL_W, self._logical_h()

    def unit_rect(self, j: int) -> QRectF:
        """Widget-coordinate rectangle of unit ``j`` in the strip (empty if no strip)."""
        if not (0 <= j < len(self._unit_rects)):
            return QRectF()
        return self._to_widget_rect(self._unit_rects[j])

    def gate_rect(self, gate: str) -> QRectF:
        """Widget-coordinate rectangle of gate box ``gate`` ("f", "i", "g", "o")."""
        return self._to_widget_rect(self._geo.gate_rect[gate])

    def tooltip_at(self, pos: QPointF) -> str:
        """The tooltip sentence for a widget-coordinate point ('' if none)."""
        key = self._hit(pos)
        if key is None:
            return ""
        if key.startswith("unit:"):
            j = int(key[5:])
            return self._unit_tip(j)
        return TOOLTIPS[key]

    def export_png(self, path: str, scale: float = 2) -> bool:
        w, h = self._export_size()
        img = QImage(max(1, round(w * scale)), max(1, round(h * scale)), QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(self._bg())
        p = QPainter(img)
        try:
            self._paint(p, img.width(), img.height())
        finally:
            p.end()
        return img.save(str(path))

    def export_svg(self, path: str) -> None:
        from PySide6.QtCore import QRect
        from PySide6.QtSvg import QSvgGenerator

        w, h = self._export_size()
        gen = QSvgGenerator()
        gen.setFileName(str(path))
        gen.setSize(QSize(w, h))
        gen.setViewBox(QRect(0, 0, w, h))
        gen.setTitle("LSTM cell")
        gen.setDescription(self._header_text())
        p = QPainter(gen)
        try:
            self._paint(p, w, h)
        finally:
            p.end()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(1200, round(self._logical_h()))

    # ------------------------------------------------------------ internals
    def _n(self) -> int:
        tr = self._trace
        return 0 if tr is None else int(tr.h.shape[2])

    def _logical_h(self) -> float:
        return H_MAIN + (H_STRIP if self._n() > 1 else 0.0)

    def _update_values(self) -> None:
        tr = self._trace
        if tr is None:
            self._vals = None
            return
        s, t, j = self._sample, self._t, self._unit
        if t == 0:
            h_prev = float(tr.h0[s, j])
            c_prev = float(tr.c0[s, j])
        else:
            h_prev = float(tr.h[s, t - 1, j])
            c_prev = float(tr.c[s, t - 1, j])
        v: dict[str, Any] = {
            "x": tr.x[s, t],
            "h_prev": h_prev,
            "c_prev": c_prev,
            "i": float(tr.i[s, t, j]),
            "f": float(tr.f[s, t, j]),
            "g": float(tr.g[s, t, j]),
            "o": float(tr.o[s, t, j]),
            "c": float(tr.c[s, t, j]),
            "h": float(tr.h[s, t, j]),
        }
        v["kept"] = v["f"] * v["c_prev"]
        v["written"] = v["i"] * v["g"]
        # strip rows (views into the trace, no copies)
        v["_strip"] = {k: getattr(tr, k)[s, t] for k in ("c", "f", "i", "g", "o")}
        v["_T"] = int(tr.h.shape[1])
        v["_n"] = int(tr.h.shape[2])
        v["_x_text"] = self._x_text(tr.x[s, t])
        self._vals = v

    def _x_text(self, x: np.ndarray) -> str:
        m = int(x.shape[0])
        if self._vocab is not None and m == len(self._vocab):
            nz = np.flatnonzero(x)
            if nz.size == 1 and x[nz[0]] == 1.0:
                return f"= one-hot('{self._vocab[int(nz[0])]}')"
        if m <= 2:
            return "= [" + ", ".join(fmt(a) for a in x) + "]"
        if m <= 4:
            return "= [" + ", ".join(fmt(a, 2) for a in x) + "]"
        return f"({m} values) = [" + ", ".join(fmt(a, 2) for a in x[:3]) + ", \u2026]"

    def _header_text(self) -> str:
        if self._vals is None:
            return "no trace"
        return (
            f"sample {self._sample}  \u00b7  t = {self._t + 1} / {self._vals['_T']}  \u00b7  "
            f"unit {self._unit} of {self._vals['_n']}"
        )

    def _unit_tip(self, j: int) -> str:
        v = self._vals
        if v is None:
            return ""
        st = v["_strip"]
        return (
            f"Unit {j}: c_t = {fmt(st['c'][j])}, f = {fmt(st['f'][j])}, i = {fmt(st['i'][j])}, "
            f"g = {fmt(st['g'][j])}, o = {fmt(st['o'][j])}. Click to show this unit."
        )

    def _export_size(self) -> tuple[int, int]:
        w, h = self.width(), self.height()
        if w < 50 or h < 50 or not self.isVisible() and (w, h) == (640, 480):
            hint = self.sizeHint()
            w, h = hint.width(), hint.height()
        return w, h

    # transform logical <-> widget
    def _xform(self, w: float, h: float) -> tuple[float, float, float]:
        lw, lh = LOGICAL_W, self._logical_h()
        s = min(w / lw, h / lh)
        return s, (w - lw * s) / 2.0, (h - lh * s) / 2.0

    def _to_widget_rect(self, r: QRectF) -> QRectF:
        s, ox, oy = self._xform(self.width(), self.height())
        return QRectF(ox + r.x() * s, oy + r.y() * s, r.width() * s, r.height() * s)

    def _to_logical(self, p: QPointF) -> QPointF:
        s, ox, oy = self._xform(self.width(), self.height())
        return QPointF((p.x() - ox) / s, (p.y() - oy) / s)

    def _hit(self, pos: QPointF) -> str | None:
        q = self._to_logical(QPointF(pos))
        g = self._geo
        for k, r in g.gate_rect.items():
            if r.contains(q):
                return k
        for j, r in enumerate(self._unit_rects):
            if r.contains(q):
                return f"unit:{j}"
        if g.tanh_rect.adjusted(-6, -6, 6, 6).contains(q):
            return "tanh"
        if QRectF(g.belt_x0 + 130, g.belt_y - 44, 250, 28).contains(q):
            return "kept"
        if QRectF(g.add_node.x() - 12, g.belt_y + g.node_r, 220, g.write_node.y() - g.belt_y).contains(q):
            return "written"
        if g.belt_hit.contains(q):
            return "belt"
        for r in g.h_hit:
            if r.contains(q):
                return "h"
        for r in g.input_hit:
            if r.contains(q):
                return "input"
        return None

    # events
    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ToolTip:
            tip = self.tooltip_at(QPointF(e.pos()))
            if tip:
                QToolTip.showText(e.globalPos(), tip, self)
            else:
                QToolTip.hideText()
                e.ignore()
            return True
        return super().event(e)

    def mousePressEvent(self, e) -> None:  # noqa: N802
        if e.button() == Qt.MouseButton.LeftButton and self._unit_rects:
            q = self._to_logical(e.position())
            for j, r in enumerate(self._unit_rects):
                if r.contains(q):
                    self.set_position(unit=j)
                    self.sigUnitClicked.emit(j)
                    e.accept()
                    return
        super().mousePressEvent(e)

    def changeEvent(self, e: QEvent) -> None:  # noqa: N802
        if e.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange):
            self._setup_fonts()
            self.update()
        super().changeEvent(e)

    def paintEvent(self, e) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            self._paint(p, self.width(), self.height())
        finally:
            p.end()

    # ------------------------------------------------------------- painting
    def _setup_fonts(self) -> None:
        fam = self.font().family()

        def mk(px: int, bold: bool = False, italic: bool = False) -> QFont:
            f = QFont(fam)
            f.setPixelSize(px)
            f.setBold(bold)
            f.setItalic(italic)
            f.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
            return f

        self._f_header = mk(20, bold=True)
        self._f_label = mk(17, italic=True)
        self._f_sub = mk(12, italic=True)
        self._f_value = mk(17)
        self._f_gate_name = mk(14)
        self._f_gate_func = mk(17, bold=True)
        self._f_gate_val = mk(24, bold=True)
        self._f_node = mk(24, bold=True)
        self._f_small = mk(13)
        self._f_tiny = mk(11)
        self._fm = {id(f): QFontMetricsF(f) for f in (
            self._f_header, self._f_label, self._f_sub, self._f_value, self._f_gate_name, self._f_gate_func,
            self._f_gate_val, self._f_node, self._f_small, self._f_tiny)}

    def _setup_static(self) -> None:
        g = self._geo
        # arrow head pointing right, at origin
        self._arrow = QPolygonF([QPointF(0, 0), QPointF(-13, -7), QPointF(-13, 7)])
        grad = QLinearGradient(g.legend.left(), 0, g.legend.right(), 0)
        for pos, rgb in DIVERGING_STOPS:
            grad.setColorAt((pos + 1) / 2, QColor(*rgb))
        self._legend_brush = QBrush(grad)
        # lines between fixed points (input bus, gate feeds, gate->node wiring)
        path = QPainterPath()
        path.moveTo(g.belt_x0, g.bus_y)
        path.lineTo(g.gate_cx["o"], g.bus_y)
        path.moveTo(g.x_in_x, g.bus_y + 80)
        path.lineTo(g.x_in_x, g.bus_y)
        for k in GATE_ORDER:
            r = g.gate_rect[k]
            path.moveTo(r.center().x(), g.bus_y)
            path.lineTo(r.center().x(), r.bottom() + 2)
        # f -> forget node
        path.moveTo(g.gate_cx["f"], g.gate_rect["f"].top())
        path.lineTo(g.gate_cx["f"], g.belt_y + g.node_r)
        # i -> write node
        path.moveTo(g.gate_cx["i"], g.gate_rect["i"].top())
        path.lineTo(g.gate_cx["i"], g.write_node.y())
        path.lineTo(g.write_node.x() - g.node_r, g.write_node.y())
        # g -> write node
        path.moveTo(g.gate_cx["g"], g.gate_rect["g"].top())
        path.lineTo(g.gate_cx["g"], g.write_node.y() + g.node_r)
        # o -> out node
        path.moveTo(g.gate_rect["o"].right(), g.gate_cy)
        path.lineTo(g.out_node.x() - g.node_r, g.gate_cy)
        # belt -> tanh -> out node
        path.moveTo(g.out_x, g.belt_y)
        path.lineTo(g.out_x, g.tanh_rect.top())
        path.moveTo(g.out_x, g.tanh_rect.bottom())
        path.lineTo(g.out_x, g.out_node.y() - g.node_r)
        self._wires = path
        # arrow heads: (point, angle in degrees)
        self._wire_arrows = [
            (QPointF(g.gate_cx[k], g.gate_rect[k].bottom() + 1), -90.0) for k in GATE_ORDER
        ] + [
            (QPointF(g.gate_cx["f"], g.belt_y + g.node_r + 1), -90.0),
            (QPointF(g.write_node.x() - g.node_r - 1, g.write_node.y()), 0.0),
            (QPointF(g.gate_cx["g"], g.write_node.y() + g.node_r + 1), -90.0),
            (QPointF(g.out_node.x() - g.node_r - 1, g.gate_cy), 0.0),
            (QPointF(g.out_x, g.tanh_rect.top() - 1), 90.0),
            (QPointF(g.out_x, g.out_node.y() - g.node_r - 1), 90.0),
        ]

    def _fmx(self, font: QFont) -> QFontMetricsF:
        return self._fm[id(font)]

    def _bg(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.Window)

    def _math(
        self,
        p: QPainter,
        x: float,
        y: float,
        parts: tuple[tuple[str, str], ...],
        align: str = "left",
        color: QColor | None = None,
    ) -> float:
        """Draw 'base' ('n'), subscript ('s') and value ('v') runs on baseline y; return width."""
        fonts = {"n": self._f_label, "s": self._f_sub, "v": self._f_value}
        widths = [self._fmx(fonts[k]).horizontalAdvance(txt) for txt, k in parts]
        total = sum(widths)
        if align == "right":
            x -= total
        elif align == "center":
            x -= total / 2
        if color is not None:
            p.setPen(color)
        for (txt, k), w in zip(parts, widths):
            p.setFont(fonts[k])
            p.drawText(QPointF(x, y + (4.5 if k == "s" else 0.0)), txt)
            x += w
        return total

    def _arrowhead(self, p: QPainter, pt: QPointF, angle: float, color: QColor) -> None:
        p.save()
        p.translate(pt)
        p.rotate(angle)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color)
        p.drawPolygon(self._arrow)
        p.restore()

    def _node(self, p: QPainter, c: QPointF, sym: str, fg: QColor, bg: QColor) -> None:
        r = self._geo.node_r
        p.setPen(QPen(fg, 2.2))
        p.setBrush(bg)
        p.drawEllipse(c, r, r)
        d = r * 0.45
        p.setPen(QPen(fg, 2.6, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        if sym == "x":
            p.drawLine(QPointF(c.x() - d, c.y() - d), QPointF(c.x() + d, c.y() + d))
            p.drawLine(QPointF(c.x() - d, c.y() + d), QPointF(c.x() + d, c.y() - d))
        else:
            d *= 1.25
            p.drawLine(QPointF(c.x() - d, c.y()), QPointF(c.x() + d, c.y()))
            p.drawLine(QPointF(c.x(), c.y() - d), QPointF(c.x(), c.y() + d))

    @staticmethod
    def _belt_width(v: float) -> float:
        return 4.0 + 14.0 * min(abs(v), 1.5) / 1.5

    def _paint(self, p: QPainter, w: float, h: float) -> None:
        t0 = time.perf_counter()
        pal = self.palette()
        bg = pal.color(QPalette.ColorRole.Window)
        fg = pal.color(QPalette.ColorRole.WindowText)
        dark = bg.lightnessF() < 0.5
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        p.fillRect(QRectF(0, 0, w, h), bg)
        s, ox, oy = self._xform(w, h)
        p.save()
        p.translate(ox, oy)
        p.scale(s, s)
        g = self._geo
        v = self._vals
        muted = _blend(bg, fg, 0.55)
        wire = _blend(bg, fg, 0.62)
        cell_fill = _blend(bg, fg, 0.045)
        cell_edge = _blend(bg, fg, 0.22)
        accent = pal.color(QPalette.ColorRole.Highlight)

        # header + legend
        p.setPen(fg)
        p.setFont(self._f_header)
        p.drawText(QPointF(30, 40), "LSTM cell" if v is None else self._header_text())
        self._paint_legend(p, fg, muted)

        # the cell body
        p.setPen(QPen(cell_edge, 1.5))
        p.setBrush(cell_fill)
        p.drawRoundedRect(g.cell, 22, 22)
        p.setPen(muted)
        p.setFont(self._f_small)
        p.drawText(QPointF(g.cell.left() + 14, g.cell.bottom() - 12), "one LSTM unit")

        if v is None:
            p.setPen(muted)
            p.setFont(self._f_label)
            p.drawText(g.cell, Qt.AlignmentFlag.AlignCenter, "no trace yet")
            p.restore()
            self._paint_ms = (time.perf_counter() - t0) * 1000.0
            return

        # wires (static path) and their arrow heads
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(wire, 2.2, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        p.drawPath(self._wires)
        for pt, ang in self._wire_arrows:
            self._arrowhead(p, pt, ang, wire)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(wire)
        p.drawEllipse(QPointF(g.x_in_x, g.bus_y), 5, 5)
        for k in GATE_ORDER:
            p.drawEllipse(QPointF(g.gate_cx[k], g.bus_y), 4, 4)

        # the conveyor belt: three segments, coloured / sized by their value
        segs = (
            (g.belt_x0, g.forget_node.x() - g.node_r, v["c_prev"]),
            (g.forget_node.x() + g.node_r, g.add_node.x() - g.node_r, v["kept"]),
            (g.add_node.x() + g.node_r, g.belt_x1 - 4, v["c"]),
        )
        halo = _blend(bg, fg, 0.45)
        for x0, x1, val in segs:
            bw = self._belt_width(val)
            p.setPen(QPen(halo, bw + 2.5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
            p.drawLine(QPointF(x0, g.belt_y), QPointF(x1, g.belt_y))
            p.setPen(QPen(diverging_color(val), bw, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
            p.drawLine(QPointF(x0, g.belt_y), QPointF(x1, g.belt_y))
        self._arrowhead(p, QPointF(g.belt_x1 + 8, g.belt_y), 0.0, halo)
        # the written stream i*g (from write node up to +)
        bw = self._belt_width(v["written"]) * 0.8
        a = QPointF(g.add_node.x(), g.write_node.y() - g.node_r)
        b = QPointF(g.add_node.x(), g.belt_y + g.node_r + 10)
        p.setPen(QPen(halo, bw + 2.5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
        p.drawLine(a, b)
        p.setPen(QPen(diverging_color(v["written"]), bw, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
        p.drawLine(a, b)
        self._arrowhead(p, QPointF(g.add_node.x(), g.belt_y + g.node_r + 1), -90.0, halo)

        # h_t: out node down to the bus level, right, and up past the belt
        hw = self._belt_width(v["h"]) * 0.8
        hcol = diverging_color(v["h"])
        hpath = QPainterPath()
        hpath.moveTo(g.out_x, g.out_node.y() + g.node_r)
        hpath.lineTo(g.out_x, g.h_out_y)
        hpath.lineTo(g.belt_x1 - 6, g.h_out_y)
        hpath.moveTo(g.h_up_x, g.h_out_y)
        hpath.lineTo(g.h_up_x, g.h_up_top + 8)
        p.setBrush(Qt.BrushStyle.NoBrush)
        # bridge over the belt
        p.setPen(QPen(bg, hw + 12, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
        p.drawLine(QPointF(g.h_up_x, g.belt_y - 16), QPointF(g.h_up_x, g.belt_y + 16))
        p.setPen(QPen(halo, hw + 2.5, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap, Qt.PenJoinStyle.MiterJoin))
        p.drawPath(hpath)
        p.setPen(QPen(hcol, hw, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap, Qt.PenJoinStyle.MiterJoin))
        p.drawPath(hpath)
        self._arrowhead(p, QPointF(g.belt_x1 + 8, g.h_out_y), 0.0, halo)
        self._arrowhead(p, QPointF(g.h_up_x, g.h_up_top - 2), -90.0, halo)

        # nodes
        node_bg = _blend(bg, fg, 0.02)
        self._node(p, g.forget_node, "x", fg, node_bg)
        self._node(p, g.add_node, "+", fg, node_bg)
        self._node(p, g.write_node, "x", fg, node_bg)
        self._node(p, g.out_node, "x", fg, node_bg)
        p.setPen(QPen(fg, 2.0))
        p.setBrush(node_bg)
        p.drawRoundedRect(g.tanh_rect, 15, 15)
        p.setFont(self._f_gate_name)
        p.drawText(g.tanh_rect, Qt.AlignmentFlag.AlignCenter, "tanh")

        # gates
        for k in GATE_ORDER:
            r = g.gate_rect[k]
            val = v[k]
            fill = diverging_color(val)
            p.setPen(QPen(GATE_COLORS[k], 4.0))
            p.setBrush(fill)
            p.drawRoundedRect(r, 12, 12)
            tc = text_color_on(fill)
            p.setPen(tc)
            p.setFont(self._f_gate_func)
            p.drawText(QRectF(r.left(), r.top() + 5, r.width(), 22), Qt.AlignmentFlag.AlignHCenter,
                       GATE_FUNC[k])
            p.setFont(self._f_gate_val)
            p.drawText(QRectF(r.left(), r.top() + 26, r.width(), 34),
                       Qt.AlignmentFlag.AlignCenter, fmt(val))
            p.setFont(self._f_gate_name)
            p.drawText(QRectF(r.left(), r.bottom() - 27, r.width(), 22), Qt.AlignmentFlag.AlignHCenter,
                       GATE_LABEL[k])

        # labels on the belt
        by = g.belt_y
        prev = "0" if self._t == 0 else "t\u22121"
        self._math(p, g.belt_x0, by - 20, (("c", "n"), (prev, "s")), color=fg)
        self._math(p, g.belt_x0, by + 36, (("= " + fmt(v["c_prev"]), "v"),), color=fg)
        self._math(p, g.belt_x1, by - 20, (("c", "n"), ("t", "s")), align="right", color=fg)
        self._math(p, g.belt_x1, by + 36, (("= " + fmt(v["c"]), "v"),), align="right", color=fg)
        midx = (g.forget_node.x() + g.add_node.x()) / 2
        self._math(
            p, midx, by - 22,
            (("kept  f\u2009\u00b7\u2009c", "n"), (prev, "s"), (" = " + fmt(v["kept"]), "v")),
            align="center", color=fg,
        )
        self._math(
            p, g.add_node.x() + 16, (g.belt_y + g.write_node.y()) / 2 + 10,
            (("written  i\u2009\u00b7\u2009g = ", "n"), (fmt(v["written"]), "v")), color=fg,
        )
        # inputs
        self._math(p, g.belt_x0, g.bus_y + 28, (("h", "n"), (prev, "s")), color=fg)
        self._math(p, g.belt_x0, g.bus_y + 52, (("= " + fmt(v["h_prev"]), "v"),), color=fg)
        self._math(p, g.x_in_x + 14, g.bus_y + 76, (("x", "n"), ("t", "s"), (" " + v["_x_text"], "v")), color=fg)
        # output
        self._math(p, g.belt_x1, g.h_out_y + 28, (("h", "n"), ("t", "s")), align="right", color=fg)
        self._math(p, g.belt_x1, g.h_out_y + 52, (("= " + fmt(v["h"]), "v"),), align="right", color=fg)
        self._math(p, g.h_up_x + 14, g.h_up_top + 10, (("h", "n"), ("t", "s")), color=fg)
        p.setPen(muted)
        p.setFont(self._f_small)
        p.drawText(QPointF(g.out_x + 14, g.gate_cy + 46), "h = o \u00b7 tanh(c)")

        if self._unit_rects:
            self._paint_strip(p, v, fg, muted, accent, dark)
        p.restore()
        self._paint_ms = (time.perf_counter() - t0) * 1000.0

    def _paint_legend(self, p: QPainter, fg: QColor, muted: QColor) -> None:
        r = self._geo.legend
        p.setPen(QPen(muted, 1.0))
        p.setBrush(self._legend_brush)
        p.drawRoundedRect(r, 3, 3)
        p.setFont(self._f_small)
        p.setPen(fg)
        fm = self._fmx(self._f_small)
        for val, x in ((-1, r.left()), (0, r.center().x()), (1, r.right())):
            txt = fmt(val, 0)
            p.drawText(QPointF(x - fm.horizontalAdvance(txt) / 2, r.bottom() + 16), txt)
        txt = "value colour"
        p.drawText(QPointF(r.left() - fm.horizontalAdvance(txt) - 12, r.bottom() - 1), txt)

    def _paint_strip(self, p: QPainter, v: dict[str, Any], fg: QColor, muted: QColor,
                     accent: QColor, dark: bool) -> None:
        g = self._geo
        st = v["_strip"]
        n = v["_n"]
        p.setPen(muted)
        p.setFont(self._f_small)
        p.drawText(QPointF(g.strip_x0, g.strip_top + 16),
                   f"all {n} units at this step: cell state c\u209c bar and gates f i g o  (click a unit to show it)")
        cell_fill = _blend(self._bg(), fg, 0.05)
        c_vals, gv = st["c"], (st["f"], st["i"], st["g"], st["o"])
        for j, r in enumerate(self._unit_rects):
            sel = j == self._unit
            p.setPen(QPen(accent, 3.0) if sel else QPen(_blend(self._bg(), fg, 0.2), 1.0))
            p.setBrush(cell_fill)
            p.drawRoundedRect(r, 6, 6)
            inner = r.adjusted(4, 4, -4, -4)
            # c bar (centered, length ~ |c|, colour by c)
            cy = inner.top() + 14
            cval = float(c_vals[j])
            half = inner.width() / 2
            ln = half * min(abs(cval), 1.5) / 1.5
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(_blend(self._bg(), fg, 0.15))
            p.drawRect(QRectF(inner.left(), cy - 1, inner.width(), 2))
            p.setBrush(diverging_color(cval))
            x0 = inner.center().x()
            p.drawRect(QRectF(x0 if cval >= 0 else x0 - ln, cy - 7, ln, 14))
            p.setBrush(fg)
            p.drawRect(QRectF(x0 - 0.75, cy - 9, 1.5, 18))
            # four chips
            chip_w = inner.width() / 4
            chip_top = inner.top() + 30
            chip_h = 30.0
            for k in range(4):
                val = float(gv[k][j])
                p.setBrush(diverging_color(val))
                p.setPen(QPen(GATE_COLORS[GATE_ORDER[k]], 2.0) if chip_w > 10 else Qt.PenStyle.NoPen)
                p.drawRoundedRect(QRectF(inner.left() + k * chip_w + 1, chip_top, chip_w - 2, chip_h), 3, 3)
            if inner.width() > 18:
                p.setPen(accent if sel else fg)
                p.setFont(self._f_small if inner.width() > 40 else self._f_tiny)
                p.drawText(QRectF(inner.left(), chip_top + chip_h + 2, inner.width(), 18),
                           Qt.AlignmentFlag.AlignCenter, str(j))

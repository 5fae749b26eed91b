"""The shared canvas every cell diagram is drawn on: painting, hit-testing, tooltips, export.

A diagram is a :class:`~explorer.figures.cell_scenes.Scene` (the picture of one kind of cell, chosen
from its :class:`~explorer.app.cell_view.CellView`) filled with a :class:`~explorer.app.cell_frame.Frame` (the
numbers of one unit at one step, the strip of all units, the belt's scale). The canvas paints
both in a fixed *logical* coordinate system (:data:`LOGICAL_W` wide) scaled uniformly to the
widget, so the picture is sharp at any size and device-pixel ratio and shrinks instead of
clipping in a small window. Exports render the same paint routine at the diagram's own size
(never what is on screen): PNG at twice that size, SVG as vectors through ``QSvgGenerator``
whose resolution is the widget's logical DPI.

Hit-testing: a scene registers its parts (name, shape) once; :meth:`CellCanvas.part_at` returns
the part under a point — every gate of every cell by its name, the belt, kept/written, h, the
input, a unit of the strip (``"unit:j"``), the strip's page buttons — and
:meth:`CellCanvas.tooltip_at` the description's sentence for it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (QBrush, QColor, QFont, QFontMetricsF, QImage, QLinearGradient, QPainter,
                           QPainterPath, QPainterPathStroker, QPalette, QPen, QPolygonF)
from PySide6.QtWidgets import QToolTip, QWidget

from explorer.app.cell_frame import UNIT_SCALE, Frame, ValueScale
from explorer.app.cell_view import fmt, gfmt
from explorer.figures.colors import DIVERGING_STOPS, diverging_color, text_color_on

__all__ = ["CellCanvas", "CellPicture", "Drawing", "FrameRenderer", "LOGICAL_W", "Look", "PRESENTER",
           "PRESENTER_STOPS", "STRIP_H", "STRIP_PAGE", "Style", "light_palette"]

LOGICAL_W = 1200.0
STRIP_H = 150.0          # extra logical height of the unit strip (only when n > 1)
STRIP_PAGE = 32          # units per page of the strip (more units: pages, wheel or ◀ ▶)
STRIP_X0, STRIP_X1 = 30.0, 1170.0
SIDE_W = 330.0           # logical width of the strip beside the picture (a wide, short widget)
SIDE_COLS = 6


#: A high-contrast diverging scale for presenting (PuOr's ends, darker; white in the middle):
#: blue for negative, orange-brown for positive — told apart with every common colour-vision deficiency.
PRESENTER_STOPS: tuple = (
    (-1.0, (8, 48, 107)),
    (-0.5, (66, 146, 198)),
    (0.0, (255, 255, 255)),
    (0.5, (253, 174, 97)),
    (1.0, (166, 54, 3)),
)


def _scale_rgb(stops, u: float) -> tuple:
    u = max(-1.0, min(1.0, u))
    for (p0, c0), (p1, c1) in zip(stops, stops[1:]):
        if u <= p1:
            a = (u - p0) / (p1 - p0)
            return tuple(round(c0[k] + a * (c1[k] - c0[k])) for k in range(3))
    return stops[-1][1]


class Diverging:
    """A diverging value scale over ``stops`` (position in [−1, 1], rgb), as a 257-entry table."""

    def __init__(self, stops):
        self.stops = tuple(stops)
        self._lut = [QColor(*_scale_rgb(self.stops, -1.0 + 2.0 * k / 256)) for k in range(257)]

    def __call__(self, v: float, vmax: float = 1.0) -> QColor:
        v = float(v)
        if not math.isfinite(v):
            return QColor(self._lut[128])
        u = max(-1.0, min(1.0, v / (vmax if vmax > 0 else 1.0)))
        return QColor(self._lut[int(round((u + 1.0) * 128))])


@dataclass(frozen=True)
class Look:
    """How the diagram is drawn: font and line scale, the smallest font (logical px) and the
    colours (``palette`` None: the widget's). :data:`PRESENTER` is the projector's look."""

    font_scale: float = 1.0
    min_font: float = 0.0
    line: float = 1.0
    stops: tuple | None = None          # a diverging scale of its own (None: the shared one)
    high_contrast: bool = False
    #: on screen: the cell alone (no title, header, legend or unit strip), cropped to
    #: :data:`BODY_Y`, so that it is drawn as large as the area allows
    body_only: bool = False
    #: on screen the texts that carry numbers (values, the belt's labels, the gates' values) are at
    #: least this many device pixels (0: no rule)
    value_px: float = 0.0


NORMAL = Look()
PRESENTER = Look(font_scale=1.3, min_font=20.0, line=1.6, stops=PRESENTER_STOPS, high_contrast=True,
                 body_only=True, value_px=20.0)
#: the logical rows a :attr:`Look.body_only` picture shows: from h_t's name over the cell to x_t's
#: label under it (to the scene's foot when x_t is a layer's output, written on two lines)
BODY_Y = (58.0, 562.0)


@dataclass
class Style:
    """The colours of one paint, from the widget's palette (light or dark)."""

    bg: QColor
    fg: QColor
    muted: QColor
    wire: QColor
    halo: QColor
    cell_fill: QColor
    cell_edge: QColor
    node_bg: QColor
    accent: QColor
    line: float = 1.0                   # line widths are multiplied by this
    value_color: Any = diverging_color  # (value, vmax) -> QColor on the diverging scale
    stops: tuple = DIVERGING_STOPS

    @classmethod
    def from_palette(cls, pal: QPalette, look: Look | None = None) -> "Style":
        look = look or NORMAL
        if look.high_contrast:             # black on white whatever the desktop's theme
            bg, fg = QColor(255, 255, 255), QColor(0, 0, 0)
            st = cls(bg=bg, fg=fg, muted=QColor(40, 40, 40), wire=QColor(30, 30, 30), halo=QColor(0, 0, 0),
                     cell_fill=QColor(246, 246, 246), cell_edge=QColor(0, 0, 0), node_bg=bg,
                     accent=QColor(0, 90, 200), line=look.line)
        else:
            bg = pal.color(QPalette.ColorRole.Window)
            fg = pal.color(QPalette.ColorRole.WindowText)
            st = cls(bg=bg, fg=fg, muted=blend(bg, fg, 0.55), wire=blend(bg, fg, 0.62), halo=blend(bg, fg, 0.45),
                     cell_fill=blend(bg, fg, 0.045), cell_edge=blend(bg, fg, 0.22), node_bg=blend(bg, fg, 0.02),
                     accent=pal.color(QPalette.ColorRole.Highlight), line=look.line)
        if look.stops is not None:
            st.value_color, st.stops = Diverging(look.stops), look.stops
        return st


def blend(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(round(a.red() + (b.red() - a.red()) * t), round(a.green() + (b.green() - a.green()) * t),
                  round(a.blue() + (b.blue() - a.blue()) * t))


class Fonts:
    """The canvas fonts, in pixels of the logical coordinate system (so exports match)."""

    def __init__(self, family: str, look: Look | None = None, value_min: float = 0.0):
        look = look or NORMAL

        def mk(px: int, bold: bool = False, italic: bool = False, smallest: float = 0.0) -> QFont:
            f = QFont(family)
            f.setPixelSize(round(max(px * look.font_scale, look.min_font, smallest)))
            f.setBold(bold)
            f.setItalic(italic)
            f.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
            return f

        self.large = look.font_scale > 1.0      # the scenes' large-font layouts apply
        self.title = mk(22, bold=True)
        self.header = mk(17)
        self.label = mk(17, italic=True, smallest=value_min)      # the belt's "kept … = 0.087"
        self.sub = mk(12, italic=True)
        self.value = mk(17, smallest=value_min)
        self.gate_name = mk(14)
        self.gate_func = mk(17, bold=True)
        self.gate_val = mk(24, bold=True, smallest=value_min)
        self.node = mk(15, bold=True)
        self.small = mk(13)
        self.tiny = mk(11)
        self._fm: dict[int, QFontMetricsF] = {}

    def metrics(self, font: QFont) -> QFontMetricsF:
        fm = self._fm.get(id(font))
        if fm is None:
            fm = self._fm[id(font)] = QFontMetricsF(font)
        return fm


ARROW = QPolygonF([QPointF(0, 0), QPointF(-13, -7), QPointF(-13, 7)])


class Drawing:
    """One paint's painter with the canvas fonts and colours: the primitives every scene uses."""

    def __init__(self, p: QPainter, fonts: Fonts, style: Style, node_r: float = 17.0, texts: list | None = None):
        self.p, self.f, self.s, self.node_r = p, fonts, style, node_r
        self.texts = texts          # a list: every text drawn is noted (device rect, pixel size, text)

    def note(self, rect: QRectF, font: QFont, txt: str) -> None:
        """Remember where a text went, in device pixels (tests check sizes and overlaps)."""
        if self.texts is not None and txt.strip():
            tf = self.p.transform()
            self.texts.append((tf.mapRect(rect), font.pixelSize() * tf.m11(), txt))

    def boxed(self, rect: QRectF, flags, txt: str, font: QFont) -> None:
        """Text in a rectangle (aligned by ``flags``), noted where it really is."""
        self.p.setFont(font)
        self.p.drawText(rect, flags, txt)
        if self.texts is not None:
            self.note(self.f.metrics(font).boundingRect(rect, int(flags), txt), font, txt)

    def text(self, x: float, y: float, txt: str, font: QFont | None = None, color: QColor | None = None,
             align: str = "left") -> float:
        font = font or self.f.small
        w = self.f.metrics(font).horizontalAdvance(txt)
        x -= w if align == "right" else w / 2 if align == "center" else 0.0
        self.p.setFont(font)
        self.p.setPen(color or self.s.fg)
        self.p.drawText(QPointF(x, y), txt)
        if self.texts is not None:
            fm = self.f.metrics(font)
            self.note(QRectF(x, y - fm.ascent(), w, fm.ascent() + fm.descent()), font, txt)
        return w

    def math_width(self, parts: tuple) -> float:
        """The width :meth:`math` would draw ``parts`` with (nothing is drawn)."""
        fonts = {"n": self.f.label, "s": self.f.sub, "v": self.f.value}
        return sum(self.f.metrics(fonts[k]).horizontalAdvance(txt) for txt, k in parts)

    def math(self, x: float, y: float, parts: tuple, align: str = "left", color: QColor | None = None) -> float:
        """Runs of base ('n'), subscript ('s') and value ('v') text on baseline y; returns the width."""
        fonts = {"n": self.f.label, "s": self.f.sub, "v": self.f.value}
        widths = [self.f.metrics(fonts[k]).horizontalAdvance(txt) for txt, k in parts]
        total = sum(widths)
        x -= total if align == "right" else total / 2 if align == "center" else 0.0
        self.p.setPen(color or self.s.fg)
        x0 = x
        for (txt, k), w in zip(parts, widths):
            self.p.setFont(fonts[k])
            self.p.drawText(QPointF(x, y + (4.5 if k == "s" else 0.0)), txt)
            x += w
        if self.texts is not None and parts:
            big = max((fonts[k] for _, k in parts), key=lambda f: f.pixelSize())
            fm, fs = self.f.metrics(big), self.f.metrics(self.f.sub)
            bottom = max(fm.descent(), (4.5 + fs.descent()) if any(k == "s" for _, k in parts) else 0.0)
            self.note(QRectF(x0, y - fm.ascent(), total, fm.ascent() + bottom), big, "".join(t for t, _ in parts))
        return total

    def arrow(self, pt: QPointF, angle: float, color: QColor | None = None) -> None:
        p = self.p
        p.save()
        p.translate(pt)
        p.rotate(angle)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color or self.s.wire)
        p.drawPolygon(ARROW)
        p.restore()

    def wires(self, path: QPainterPath, arrows=(), dashed: bool = False, color: QColor | None = None) -> None:
        """Plain connecting lines (no value) and their arrow heads ``(point, angle)``."""
        col = color or self.s.wire
        pen = QPen(col, 2.2 * self.s.line, Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                   Qt.PenJoinStyle.RoundJoin)
        self.p.setBrush(Qt.BrushStyle.NoBrush)
        self.p.setPen(pen)
        self.p.drawPath(path)
        for pt, ang in arrows:
            self.arrow(pt, ang, col)

    def tag(self, c: QPointF, txt: str) -> QRectF:
        """A small dark label centred on ``c`` (light text on the foreground colour): marks a part
        an intervention holds. Returns its rectangle."""
        font = self.f.node
        fm = self.f.metrics(font)
        w, h = fm.horizontalAdvance(txt) + 16, fm.height() + 4
        r = QRectF(c.x() - w / 2, c.y() - h / 2, w, h)
        p = self.p
        p.setPen(QPen(self.s.bg, 1.5 * self.s.line))
        p.setBrush(self.s.fg)
        p.drawRoundedRect(r, h / 2, h / 2)
        p.setPen(self.s.bg)
        self.boxed(r, Qt.AlignmentFlag.AlignCenter, txt, font)
        return r

    def dot(self, c: QPointF, r: float = 4.5) -> None:
        self.p.setPen(Qt.PenStyle.NoPen)
        self.p.setBrush(self.s.wire)
        self.p.drawEllipse(c, r, r)

    def stream(self, path: QPainterPath, value: float, scale: ValueScale, factor: float = 1.0,
               bridge: bool = False) -> float:
        """A line that carries a value: its colour and width on ``scale``, with a halo; returns
        the width. ``bridge`` first clears a gap under it (where it crosses another stream)."""
        w = scale.width(value) * factor * (1.0 + (self.s.line - 1.0) * 0.5)
        p = self.p
        p.setBrush(Qt.BrushStyle.NoBrush)
        if bridge:
            p.setPen(QPen(self.s.bg, w + 12, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
            p.drawPath(path)
        p.setPen(QPen(self.s.halo, w + 2.5 * self.s.line, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap,
                      Qt.PenJoinStyle.MiterJoin))
        p.drawPath(path)
        p.setPen(QPen(self.s.value_color(value, scale.vmax), w, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap,
                      Qt.PenJoinStyle.MiterJoin))
        p.drawPath(path)
        return w

    def node(self, c: QPointF, sym: str) -> None:
        """An operation circle: "x" (multiply), "+" (add) or a short text such as "1−"."""
        r, p, fg = self.node_r, self.p, self.s.fg
        p.setPen(QPen(fg, 2.2 * self.s.line))
        p.setBrush(self.s.node_bg)
        p.drawEllipse(c, r, r)
        d = r * 0.45
        p.setPen(QPen(fg, 2.6 * self.s.line, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        if sym == "x":
            p.drawLine(QPointF(c.x() - d, c.y() - d), QPointF(c.x() + d, c.y() + d))
            p.drawLine(QPointF(c.x() - d, c.y() + d), QPointF(c.x() + d, c.y() - d))
        elif sym == "+":
            d *= 1.25
            p.drawLine(QPointF(c.x() - d, c.y()), QPointF(c.x() + d, c.y()))
            p.drawLine(QPointF(c.x(), c.y() - d), QPointF(c.x(), c.y() + d))
        else:
            self.boxed(QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r), Qt.AlignmentFlag.AlignCenter, sym, self.f.node)

    def pill(self, rect: QRectF, txt: str) -> None:
        """A rounded box holding a function name (tanh)."""
        self.p.setPen(QPen(self.s.fg, 2.0 * self.s.line))
        self.p.setBrush(self.s.node_bg)
        self.p.drawRoundedRect(rect, 15, 15)
        self.boxed(rect, Qt.AlignmentFlag.AlignCenter, txt, self.f.gate_name)

    def gate_box(self, rect: QRectF, func: str, value: float, label: str, outline: QColor) -> None:
        """A gate: its activation on top, its value large, its name below; filled on the value scale."""
        p = self.p
        fill = self.s.value_color(value, 1.0)
        p.setPen(QPen(outline, 4.0 * self.s.line))
        p.setBrush(fill)
        p.drawRoundedRect(rect, 12, 12)
        p.setPen(text_color_on(fill))
        # three lines laid out by their fonts' heights: the activation, the value, the name
        hf, hv, hn = (self.f.metrics(f).height() for f in (self.f.gate_func, self.f.gate_val, self.f.gate_name))
        gap = max(0.0, (rect.height() - hf - hv - hn) / 4)
        top = rect.top() + gap
        centre = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter
        self.boxed(QRectF(rect.left(), top, rect.width(), hf), centre, func, self.f.gate_func)
        self.boxed(QRectF(rect.left(), top + hf + gap, rect.width(), hv), centre, fmt(value), self.f.gate_val)
        self.boxed(QRectF(rect.left(), rect.bottom() - gap - hn, rect.width(), hn), centre, label, self.f.gate_name)


def stroke_area(path: QPainterPath, width: float = 20.0) -> QPainterPath:
    """The area within ``width``/2 of a line: the hit shape of a wire."""
    s = QPainterPathStroker()
    s.setWidth(width)
    return s.createStroke(path)


def _gradient(rect: QRectF, stops=DIVERGING_STOPS) -> QBrush:
    grad = QLinearGradient(rect.left(), 0, rect.right(), 0)
    for pos, rgb in stops:
        grad.setColorAt((pos + 1) / 2, QColor(*rgb))
    return QBrush(grad)


class CellPicture:
    """Everything about the diagram that is not a widget: the scene filled with a frame, the strip
    and its pages, where each part is, painting and export. Hosts say where the frame comes from
    (:meth:`_frame`), how large the area is (:meth:`_area`), its palette and DPI: the window's
    :class:`CellCanvas` (a QWidget) and :class:`FrameRenderer` (no widget: usable off the GUI
    thread, e.g. by a worker writing an animation)."""

    LEGEND = QRectF(745.0, 16.0, 190.0, 10.0)      # the value bar; the belt's bow tie under it
    interactive = True                             # a widget one can click (a file's frame: False)

    def _init_picture(self, family: str) -> None:
        self._family = family
        self._look = NORMAL
        self._fonts = Fonts(family)
        self.painted_texts: list = []     # (device rect, pixel size, text) of the last paint ...
        self.record_texts = False         # ... noted only while this is True (tests, presenter checks)
        self._scene: Any = None
        self._page: int | None = None          # the strip page chosen by the person (None: the unit's)
        self._page_unit = -1                    # ... while this unit stays selected
        self._layout_override: str | None = None   # exports: always the strip below
        self._paint_ms = 0.0

    # -- what hosts provide ------------------------------------------------------------------------
    def _area(self) -> tuple[float, float]:
        """The size of the area the picture is fitted into (a widget's width and height)."""
        raise NotImplementedError

    def _palette(self) -> QPalette:
        raise NotImplementedError

    def _dpi(self) -> int:
        return 96

    def _changed(self) -> None:
        """Something shown changed (a widget repaints)."""

    def _frame(self) -> Frame:
        raise NotImplementedError

    def _select_unit(self, j: int) -> None:
        raise NotImplementedError

    # -- sizes and coordinates ---------------------------------------------------------------------
    def strip_layout(self, frame: Frame | None = None, w: float | None = None, h: float | None = None) -> str:
        """Where the unit strip goes: "below" the picture, "side" (beside it, when that draws the
        picture larger in a wide, short widget), or "none" (one unit). Exports: always below."""
        frame = frame or self._frame()
        if frame.n_units <= 1:
            return "none"
        if self._layout_override is not None:
            return self._layout_override
        if self._look.body_only:
            return "none"
        w = self._area()[0] if w is None else w
        h = self._area()[1] if h is None else h
        hm = self._scene_for(frame).height
        below = min(w / LOGICAL_W, h / (hm + STRIP_H))
        side = min(w / (LOGICAL_W + SIDE_W), h / hm)
        return "side" if side > 1.05 * below else "below"

    def logical_size(self, frame: Frame | None = None, layout: str | None = None) -> tuple[float, float]:
        """The logical size of the picture with its strip (``layout``: see :meth:`strip_layout`)."""
        frame = frame or self._frame()
        layout = layout or self.strip_layout(frame)
        hm = self._scene_for(frame).height
        if layout == "side":
            return LOGICAL_W + SIDE_W, hm
        return LOGICAL_W, hm + (STRIP_H if layout == "below" else 0.0)

    def _xform(self, w: float, h: float, frame: Frame | None = None) -> tuple[float, float, float]:
        frame = frame or self._frame()
        lw, lh = self.logical_size(frame, self.strip_layout(frame, w, h))
        top = 0.0
        if self._cropped():
            two_lines = frame.values is not None and frame.values.get("x_from")
            top, bottom = BODY_Y[0], (self._scene_for(frame).height if two_lines else BODY_Y[1])
            lh = bottom - top
        s = min(w / lw, h / lh)
        return s, (w - lw * s) / 2.0, (h - lh * s) / 2.0 - top * s

    def _cropped(self) -> bool:
        """On screen with a :attr:`Look.body_only` look: the cell alone, cropped to :data:`BODY_Y`."""
        return self._look.body_only and self._layout_override is None

    def _to_widget_rect(self, r: QRectF) -> QRectF:
        s, ox, oy = self._xform(*self._area())
        return QRectF(ox + r.x() * s, oy + r.y() * s, r.width() * s, r.height() * s)

    def _to_logical(self, pt: QPointF) -> QPointF:
        s, ox, oy = self._xform(*self._area())
        return QPointF((pt.x() - ox) / s, (pt.y() - oy) / s)

    def _scene_for(self, frame: Frame):
        from explorer.figures.cell_scenes import scene_for

        if self._scene is None or self._scene.desc is not frame.desc:
            self._scene = scene_for(frame.desc)
        return self._scene

    # -- the strip's pages ---------------------------------------------------------------------------
    @staticmethod
    def per_page(n: int) -> int:
        return n if n <= STRIP_PAGE else STRIP_PAGE

    def strip_page(self, frame: Frame | None = None) -> int:
        """The page of the unit strip shown (the selected unit's, unless the person paged)."""
        frame = frame or self._frame()
        per = self.per_page(max(frame.n_units, 1))
        if self._page is not None and self._page_unit == frame.unit:
            return min(self._page, self.strip_pages(frame) - 1)
        return frame.unit // per

    def strip_pages(self, frame: Frame | None = None) -> int:
        frame = frame or self._frame()
        n = max(frame.n_units, 1)
        return -(-n // self.per_page(n))

    def set_strip_page(self, page: int) -> None:
        frame = self._frame()
        self._page = min(max(int(page), 0), self.strip_pages(frame) - 1)
        self._page_unit = frame.unit
        self._changed()

    def _strip_geometry(self, frame: Frame) -> dict:
        """Logical rectangles of the strip: visible tiles ``{j: rect}``, page buttons, where its
        caption and page indicator go, and which part of the canvas it takes (``area``)."""
        hm = self._scene_for(frame).height
        layout = self.strip_layout(frame)
        n = frame.n_units
        if layout == "none":
            return {"tiles": {}, "prev": QRectF(), "next": QRectF(), "area": QRectF(), "layout": layout}
        per = self.per_page(n)
        page = self.strip_page(frame)
        first = page * per
        units = range(first, min(first + per, n))
        paged = per < n
        if layout == "below":
            top = hm + 8.0
            span = STRIP_X1 - STRIP_X0
            w = min(120.0, span / per)
            x0 = STRIP_X0 + (span - w * (per if paged else len(units))) / 2
            tiles = {j: QRectF(x0 + (j - first) * w + 1.5, top + 34.0, w - 3.0, 96.0) for j in units}
            prev, nxt = QRectF(STRIP_X1 - 66, top, 30, 24), QRectF(STRIP_X1 - 30, top, 30, 24)
            caption = (QPointF(STRIP_X0, top + 17), QPointF(STRIP_X1 - 78, top + 17))
            area = QRectF(0, hm, LOGICAL_W, STRIP_H)
        else:                                            # beside the picture, a grid of tiles
            x0, x1, top = LOGICAL_W + 4.0, LOGICAL_W + SIDE_W - 14.0, 92.0
            rows = -(-per // SIDE_COLS)
            cols = -(-per // rows)                       # balanced: 8 units in 2 rows of 4
            ty = top + (58.0 if paged else 30.0)
            tw, th = (x1 - x0) / cols, min(96.0, (hm - 10.0 - ty) / rows)
            tiles = {j: QRectF(x0 + ((j - first) % cols) * tw + 1.5, ty + ((j - first) // cols) * th + 1.5,
                               tw - 3.0, th - 3.0) for j in units}
            prev, nxt = QRectF(x1 - 62, top + 26, 28, 22), QRectF(x1 - 30, top + 26, 28, 22)
            caption = (QPointF(x0, top + 14), QPointF(x1 - 70, top + 42))
            area = QRectF(LOGICAL_W, 0, SIDE_W, hm)
        if not paged:
            prev = nxt = QRectF()
        return {"tiles": tiles, "prev": prev, "next": nxt, "first": first, "per": per, "caption": caption,
                "area": area, "layout": layout}

    # -- hit-testing -----------------------------------------------------------------------------------
    def part_at(self, pos: QPointF) -> str | None:
        """The part under a widget-coordinate point: a gate's name, "belt", "kept", "written", "h",
        "input", …, ``"unit:j"`` in the strip, ``"page:prev"``/``"page:next"``; None if nothing."""
        frame = self._frame()
        q = self._to_logical(QPointF(pos))
        geo = self._strip_geometry(frame)
        for j, r in geo["tiles"].items():
            if r.contains(q):
                return f"unit:{j}"
        for key in ("prev", "next"):
            if geo[key].contains(q):
                return f"page:{key}"
        return self._scene_for(frame).part_at(q)

    def part_rect(self, key: str) -> QRectF:
        """Widget-coordinate bounding rectangle of a part (a gate's name, ``"unit:j"``, …); empty if
        the diagram has no such part."""
        frame = self._frame()
        if key.startswith("unit:"):
            r = self._strip_geometry(frame)["tiles"].get(int(key[5:]))
            return QRectF() if r is None else self._to_widget_rect(r)
        if key.startswith("page:"):
            return self._to_widget_rect(self._strip_geometry(frame)[key[5:]])
        r = self._scene_for(frame).part_rect(key)
        return QRectF() if r is None else self._to_widget_rect(r)

    def gate_rect(self, gate: str) -> QRectF:
        """Widget-coordinate rectangle of gate box ``gate``."""
        return self.part_rect(gate)

    def unit_rect(self, j: int) -> QRectF:
        """Widget-coordinate rectangle of unit ``j`` in the strip (empty if not on the page shown)."""
        return self.part_rect(f"unit:{j}")

    def tooltip_at(self, pos: QPointF) -> str:
        """The sentence shown for the part under a widget-coordinate point ('' if none)."""
        key = self.part_at(pos)
        if key is None:
            return ""
        frame = self._frame()
        if key.startswith("unit:"):
            return self._unit_tip(frame, int(key[5:]))
        if key.startswith("page:"):
            return "Previous page of units" if key == "page:prev" else "Next page of units"
        return frame.desc.tooltips.get(key, "")

    def _unit_tip(self, frame: Frame, j: int) -> str:
        st = frame.strip
        if not st:
            return ""
        desc = frame.desc
        bar = desc.belt_name or "h"
        parts = [f"{bar}_t = {fmt(st['bar'][j])}"] + [f"{g.name} = {fmt(st[g.name][j])}" for g in desc.gates]
        return f"Unit {j}: " + ", ".join(parts) + ". Click to show this unit."

    # -- export ---------------------------------------------------------------------------------------
    def export_size(self) -> tuple[int, int]:
        """The diagram's own size in logical pixels (what exports render, whatever is on screen)."""
        frame = self._frame()
        w, h = self.logical_size(frame, "none" if frame.n_units <= 1 else "below")
        return round(w), round(h)

    def render_image(self, scale: float = 1.0) -> QImage:
        """The diagram at ``scale`` × its own size (the strip below), as an image."""
        w, h = self.export_size()
        img = QImage(max(1, round(w * scale)), max(1, round(h * scale)), QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(self._palette().color(QPalette.ColorRole.Window))
        p = QPainter(img)
        before, self._layout_override = self._layout_override, "below"
        try:
            self.paint(p, img.width(), img.height())
        finally:
            p.end()
            self._layout_override = before
        return img

    def export_png(self, path: str, scale: float = 2) -> bool:
        """A PNG of the diagram at ``scale`` × its own size, written whole or not at all (OSError
        says why)."""
        from explorer.figures.export_files import write_png

        return write_png(self.render_image(scale), path)

    def export_svg(self, path: str) -> None:
        """An SVG of the diagram at its own size, drawn as vectors by the same paint routine;
        written whole or not at all (OSError says why)."""
        from explorer.figures.export_files import write_file

        write_file(path, self.svg_bytes())

    def svg_bytes(self) -> bytes:
        """The SVG document :meth:`export_svg` writes."""
        from explorer.figures.export_files import svg_recording

        frame = self._frame()
        w, h = self.export_size()
        before, self._layout_override = self._layout_override, "below"
        try:
            # the text's own DPI (the generator's default would shrink it to 0.75)
            with svg_recording(QSize(w, h), self._dpi(), f"{frame.desc.title} cell",
                               frame.header or frame.title) as (p, out):
                self.paint(p, w, h)
        finally:
            self._layout_override = before
        return out[0]

    def set_look(self, look: Look | None) -> None:
        """Draw with ``look`` (fonts, lines, colours; :data:`PRESENTER` for a projector; None: normal)."""
        self._look = look or NORMAL
        self._fonts = Fonts(self._family, self._look)
        self._changed()

    @property
    def look(self) -> Look:
        return self._look

    def paint_ms(self) -> float:
        """Duration of the last paint (widget paint or export), in milliseconds."""
        return self._paint_ms

    # -- painting ---------------------------------------------------------------------------------------
    #: on screen, no text is drawn smaller than this (pixels): a small window draws the normal look
    #: with larger logical fonts (at most :attr:`MAX_SCREEN_FONT`); exports keep their own size
    MIN_SCREEN_PX = 9.0
    #: the largest smallest font (logical px) the small-window look uses: the scenes' layouts hold it
    MAX_SCREEN_FONT = 24

    def paint(self, p: QPainter, w: float, h: float) -> None:
        """Paint the current frame into a ``w`` × ``h`` device area (widget, image or SVG); on
        screen, in an area so small that the normal fonts would fall under :attr:`MIN_SCREEN_PX`,
        with fonts large enough (logical px) to reach it."""
        fonts = self._fonts
        look = self._look
        if self._layout_override is None and look.value_px:
            s = self._xform(w, h)[0]
            need = math.ceil(look.value_px / s) if s > 0 else 0
            if s > 0 and s * min(fonts.value.pixelSize(), fonts.label.pixelSize(), fonts.gate_val.pixelSize()) < look.value_px:
                if getattr(self, "_value_fonts", (None, None))[0] != (look, need):
                    self._value_fonts = ((look, need), Fonts(self._family, look, value_min=float(need)))
                self._fonts = self._value_fonts[1]
        elif self._layout_override is None and look == NORMAL:
            s = self._xform(w, h)[0]
            smallest = min(f.pixelSize() for f in (fonts.tiny, fonts.sub, fonts.small))
            if s > 0 and s * smallest < self.MIN_SCREEN_PX:
                need = min(math.ceil(self.MIN_SCREEN_PX / s), self.MAX_SCREEN_FONT)
                if getattr(self, "_screen_fonts", (None, None))[0] != need:
                    # font_scale > 1: the scenes' large-font layouts (notes moved, labels inline)
                    self._screen_fonts = (need, Fonts(self._family, Look(font_scale=PRESENTER.font_scale,
                                                                         min_font=float(need))))
                self._fonts = self._screen_fonts[1]
        try:
            self._paint(p, w, h)
        finally:
            self._fonts = fonts

    def _paint(self, p: QPainter, w: float, h: float) -> None:
        t0 = time.perf_counter()
        frame = self._frame()
        scene = self._scene_for(frame)
        style = Style.from_palette(self._palette(), self._look)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        p.fillRect(QRectF(0, 0, w, h), style.bg)
        s, ox, oy = self._xform(w, h, frame)
        p.save()
        p.translate(ox, oy)
        p.scale(s, s)
        self.painted_texts = []
        d = Drawing(p, self._fonts, style, texts=self.painted_texts if self.record_texts else None)
        f = self._fonts
        if not self._cropped():                         # (cropped: the host names what is shown)
            title_y = 16 + f.title.pixelSize()                  # 38 and 64 in the normal look
            title_w = d.text(30, title_y, frame.title or f"{frame.desc.title} cell", f.title)
            if frame.header:
                self._paint_header(d, frame, title_y + 9 + f.header.pixelSize(), title_y, title_w)
            self._paint_legend(d, frame)
        scene.paint_body(d)
        scene.back = frame.backward if frame.values is not None else None
        if frame.values is None:
            p.setPen(style.muted)
            d.boxed(scene.cell, Qt.AlignmentFlag.AlignCenter, "no trace yet", self._fonts.label)
        else:
            values = frame.values
            if self._fonts.large and (values.get("h_to") or values.get("time_note")):
                # large fonts: the notes on where h_t goes would run into x_t's lines; the header
                # names the layer and direction and the previous state's subscript says which way
                values = {**values, "h_to": "", "time_note": ""}
            scene.paint(d, values, frame.belt_scale)
            if frame.held:
                scene.paint_held(d, frame.held)
            if self.strip_layout(frame) != "none":
                self._paint_strip(d, frame)
        p.restore()
        self._paint_ms = (time.perf_counter() - t0) * 1000.0

    def _paint_header(self, d: Drawing, frame: Frame, y: float, title_y: float, title_w: float) -> None:
        """The header under the title; when the whole would run into the legend (large fonts) the
        layer and direction go up beside the title."""
        f, muted = self._fonts.header, d.s.muted
        room = self.LEGEND.left() - 250.0 - 30.0                  # left of the legend's longest label
        where = f"  \u00b7  {frame.place.name}" if frame.place is not None and frame.place.stacked else ""
        if where and frame.header.endswith(where) and self._fonts.metrics(f).horizontalAdvance(frame.header) > room:
            d.text(30, y, frame.header[:-len(where)], f, muted)
            d.text(30 + title_w + 18, title_y, frame.place.name, f, muted)
            return
        d.text(30, y, frame.header, f, muted)

    def _paint_legend(self, d: Drawing, frame: Frame) -> None:
        r = self.LEGEND
        p, f, st = d.p, self._fonts, d.s
        p.setPen(QPen(st.muted, 1.0))
        p.setBrush(_gradient(r, st.stops))
        p.drawRoundedRect(r, 3, 3)
        inline = self._fonts.large                  # large fonts: the ends beside the bars, not under them
        name = "gates, values" if frame.desc.gates else "values"
        ends_w = f.metrics(f.small).horizontalAdvance("\u22121") + 8
        if inline:
            base = r.center().y() + f.small.pixelSize() * 0.35
            d.text(r.left() - 6, base, "\u22121", f.small, st.fg, align="right")
            d.text(r.right() + 6, base, "1", f.small, st.fg)
            d.text(r.left() - 6 - ends_w, base, name, f.small, st.fg, align="right")
        else:
            d.text(r.left() - 10, r.bottom(), name, f.small, st.fg, align="right")
            for val, x in ((-1, r.left()), (0, r.center().x()), (1, r.right())):
                d.text(x, r.bottom() + 2 + f.small.pixelSize(), fmt(val, 0), f.small, st.fg, align="center")
        desc = frame.desc
        back = frame.backward
        if not desc.has_belt and not back:
            return
        # the belt: colour and width on its own scale (the run's range), drawn as a bow tie;
        # backward: the gradient's scale (the largest |gradient| of the sample)
        scale = back["scale"] if back else frame.belt_scale
        cy = r.bottom() + (12 if inline else 23) + f.small.pixelSize()
        tie = QPolygonF([QPointF(r.left(), cy - 9), QPointF(r.center().x(), cy - 2), QPointF(r.right(), cy - 9),
                         QPointF(r.right(), cy + 9), QPointF(r.center().x(), cy + 2), QPointF(r.left(), cy + 9)])
        p.setPen(QPen(st.muted, 1.0))
        p.setBrush(_gradient(r, st.stops))
        p.drawPolygon(tie)
        what = f"\u2202L/\u2202{back['quantity']}: colour, width" if back else f"{desc.belt_name} belt: colour, width"
        lab = scale.label() if not back else gfmt(scale.vmax, 2)
        if inline:
            base = cy + f.small.pixelSize() * 0.35
            lw = f.metrics(f.small).horizontalAdvance("\u2212" + lab) + 6
            d.text(r.left() - 6, base, "\u2212" + lab, f.small, st.fg, align="right")
            d.text(r.right() + 6, base, lab, f.small, st.fg)
            d.text(r.left() - 6 - lw - 8, base, what, f.small, st.fg, align="right")
            return
        d.text(r.left() - 10, cy + 5, what, f.small, st.fg, align="right")
        low = cy + 11 + f.small.pixelSize()
        d.text(r.left(), low, "\u2212" + lab, f.small, st.fg, align="center")
        d.text(r.center().x(), low, "0", f.small, st.fg, align="center")
        d.text(r.right(), low, lab, f.small, st.fg, align="center")

    def _paint_strip(self, d: Drawing, frame: Frame) -> None:
        geo = self._strip_geometry(frame)
        p, f, st = d.p, self._fonts, d.s
        desc, n = frame.desc, frame.n_units
        bar = desc.belt_name or "h"
        chips = tuple(self._scene_for(frame).gate_rects)      # in the picture's order, left to right
        back = frame.backward
        what = (f"\u2202L/\u2202{back['quantity']}\u209c bar" if back else f"{bar}\u209c bar") + (
            f" and gates {' '.join(chips)}" if chips else "")
        cap, ind = geo["caption"]
        side = geo["layout"] == "side"
        hint = "  (click a unit to show it)" if self.interactive else ""
        text = f"{n} units: {what}" if side else f"all {n} units at this step: {what}{hint}"
        d.text(cap.x(), cap.y(), text, f.small, st.muted)
        if not geo["prev"].isEmpty():
            page, pages = self.strip_page(frame), self.strip_pages(frame)
            last = min(geo["first"] + geo["per"], n) - 1
            units = f"{geo['first']}\u2013{last}" if side else f"units {geo['first']}\u2013{last} of {n}"
            d.text(ind.x(), ind.y(), f"{units}  \u00b7  page {page + 1} / {pages}", f.small, st.fg, align="right")
            for key, sym in (("prev", "\u25c0"), ("next", "\u25b6")):
                rr = geo[key]
                enabled = (page > 0) if key == "prev" else (page < pages - 1)
                p.setPen(QPen(st.cell_edge, 1.0))
                p.setBrush(st.cell_fill)
                p.drawRoundedRect(rr, 4, 4)
                p.setPen(st.fg if enabled else st.cell_edge)
                p.setFont(f.small)
                p.drawText(rr, Qt.AlignmentFlag.AlignCenter, sym)
        bars = frame.strip["bar"]
        scale = frame.belt_scale if desc.has_belt else UNIT_SCALE
        if back:                                   # the gradient of every unit at this step
            bars = back["units"]
            scale = back["scale"]
        chip_pens = {g.name: QPen(QColor(g.color_hex), 2.0) for g in desc.gates}
        tile_fill, track = blend(st.bg, st.fg, 0.05), blend(st.bg, st.fg, 0.15)
        tile_pen, sel_pen = QPen(blend(st.bg, st.fg, 0.2), 1.0), QPen(st.accent, 3.0)
        no_pen = Qt.PenStyle.NoPen
        label_font = None
        for j, r in geo["tiles"].items():
            sel = j == frame.unit
            p.setPen(sel_pen if sel else tile_pen)
            p.setBrush(tile_fill)
            p.drawRoundedRect(r, 6, 6)
            inner = r.adjusted(4, 4, -4, -4)
            ih = inner.height()
            label_h, bar_zone = (18.0, 28.0) if ih > 70 else (14.0, 20.0)
            # the bar: centred, length ~ |value| on the belt's scale, coloured by it (without gates
            # to show under it, a larger bar fills the tile)
            if chips:
                cy, bh = inner.top() + bar_zone / 2, bar_zone / 4
            else:
                cy, bh = inner.top() + (ih - label_h) / 2, max(4.0, min(16.0, (ih - label_h) / 2 - 6))
            val = float(bars[j])
            half = inner.width() / 2
            ln = half * min(abs(val), scale.vmax) / scale.vmax if math.isfinite(val) else 0.0
            p.setPen(no_pen)
            p.setBrush(track)
            p.drawRect(QRectF(inner.left(), cy - 1, inner.width(), 2))
            p.setBrush(st.value_color(val, scale.vmax))
            x0 = inner.center().x()
            p.drawRect(QRectF(x0 if val >= 0 else x0 - ln, cy - bh, ln, 2 * bh))
            p.setBrush(st.fg)
            p.drawRect(QRectF(x0 - 0.75, cy - bh - 2, 1.5, 2 * bh + 4))
            chip_top, chip_h = inner.top() + bar_zone + 2, ih - bar_zone - label_h - 4
            if chips:
                chip_w = inner.width() / len(chips)
                for k, name in enumerate(chips):
                    p.setBrush(st.value_color(float(frame.strip[name][j]), 1.0))
                    p.setPen(chip_pens[name] if chip_w > 8 else no_pen)
                    rect = QRectF(inner.left() + k * chip_w + 1, chip_top, chip_w - 2, chip_h)
                    if chip_w > 14:
                        p.drawRoundedRect(rect, 3, 3)
                    else:
                        p.drawRect(rect)                 # small chips: corners would not show
            if inner.width() > 14:
                font = f.small if inner.width() > 30 else f.tiny
                if font is not label_font:
                    p.setFont(font)
                    label_font = font
                p.setPen(st.accent if sel else st.fg)
                d.boxed(QRectF(inner.left() - 4, inner.bottom() - label_h, inner.width() + 8, label_h),
                        Qt.AlignmentFlag.AlignCenter, str(j), font)


class CellCanvas(CellPicture, QWidget):
    """A widget that paints a scene filled with a frame (subclasses say where the frame comes from:
    :meth:`_frame`) and knows which part is where. Emits :attr:`sigUnitClicked` when a unit of
    the strip is clicked."""

    sigUnitClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setMinimumSize(240, 150)
        self._init_picture(self.font().family())

    def _area(self) -> tuple[float, float]:
        return self.width(), self.height()

    def _palette(self) -> QPalette:
        return self.palette()

    def _dpi(self) -> int:
        return self.logicalDpiX()

    def _changed(self) -> None:
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(*self.export_size())

    # -- events ------------------------------------------------------------------------------------------
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
        if e.button() == Qt.MouseButton.LeftButton:
            key = self.part_at(e.position())
            if key is not None and key.startswith("unit:"):
                j = int(key[5:])
                self._select_unit(j)
                self.sigUnitClicked.emit(j)
                e.accept()
                return
            if key in ("page:prev", "page:next"):
                self.set_strip_page(self.strip_page() + (1 if key == "page:next" else -1))
                e.accept()
                return
        super().mousePressEvent(e)

    def wheelEvent(self, e) -> None:  # noqa: N802
        frame = self._frame()
        q = self._to_logical(e.position())
        geo = self._strip_geometry(frame)
        if geo["area"].contains(q) and self.strip_pages(frame) > 1:
            step = -1 if e.angleDelta().y() > 0 or e.angleDelta().x() > 0 else 1
            self.set_strip_page(self.strip_page(frame) + step)
            e.accept()
            return
        super().wheelEvent(e)

    def changeEvent(self, e: QEvent) -> None:  # noqa: N802
        if e.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange):
            self._family = self.font().family()
            self._fonts = Fonts(self._family, self._look)
            self.update()
        super().changeEvent(e)

    def paintEvent(self, e) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            self.paint(p, self.width(), self.height())
        finally:
            p.end()


def light_palette() -> QPalette:
    """A fixed light palette for files (the same picture whatever the desktop's theme)."""
    pal = QPalette()
    for role, color in ((QPalette.ColorRole.Window, "#ffffff"), (QPalette.ColorRole.WindowText, "#1a1a1a"),
                        (QPalette.ColorRole.Base, "#ffffff"), (QPalette.ColorRole.Text, "#1a1a1a"),
                        (QPalette.ColorRole.Highlight, "#2a6fdb")):
        pal.setColor(role, QColor(color))
    return pal


class FrameRenderer(CellPicture):
    """Paints frames into images without a widget (so a worker thread may use it): always at the
    diagram's own size with the strip below, on :func:`light_palette` unless told otherwise.

    >>> img = FrameRenderer(frame_at(describe("lstm"), trace, t=3, unit=0)).render_image()
    """

    interactive = False

    def __init__(self, frame: Frame | None = None, palette: QPalette | None = None, family: str | None = None):
        self._init_picture(family or QFont().family())
        self._layout_override = "below"
        self.frame = frame
        self._pal = palette if palette is not None else light_palette()

    def _frame(self) -> Frame:
        if self.frame is None:
            raise ValueError("FrameRenderer has no frame to paint; give it one (frame_at)")
        return self.frame

    def _area(self) -> tuple[float, float]:
        return self.export_size()

    def _palette(self) -> QPalette:
        return self._pal

    def _select_unit(self, j: int) -> None:
        pass

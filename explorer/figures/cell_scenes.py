"""The picture of each kind of cell, in the canvas's logical coordinates (1200 wide, 600 tall).

A scene is chosen from the cell's description by its structure, not its name
(:func:`scene_for`): a cell whose belt carries c is drawn as the LSTM (with a peephole wire for
every gate of ``desc.peepholes``), a cell whose belt is h itself as the GRU, a cell without a
belt as the plain RNN's single squashing path. Gate boxes take their activation, colour and
label from the description; every sentence shown on hover comes from ``desc.tooltips``.

A scene registers its parts once (name, logical shape) for hit-testing, and paints a unit's
values (``desc.unit_values`` plus ``x_text``, ``prev`` and ``preact``) with
:class:`~explorer.figures.cell_canvas.Drawing`'s primitives.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QPainterPath

from explorer.app.cell_view import COLORS, CellView, as_view, fmt, formula_parts, gfmt
from explorer.engine.describe import CellDescription
from explorer.util.shown import relation
from explorer.app.cell_frame import UNIT_SCALE, ValueScale
from explorer.figures.cell_canvas import Drawing, stroke_area

__all__ = ["CStateScene", "HBeltScene", "Scene", "SquashScene", "scene_for"]

BELT_Y = 150.0
X0, X1 = 30.0, 1170.0
GATE_CY, GATE_W, GATE_H = 352.0, 136.0, 96.0
BUS_Y = 470.0
X_IN = 200.0
H_UP_X, H_UP_TOP = 1062.0, 78.0
R = 17.0                      # node radius
BELT_LABELS = (BELT_Y - 20, BELT_Y + 36)      # baselines of a state's name and value at the belt
BUS_LABELS = (BUS_Y + 28, BUS_Y + 52)         # ... and under the input line


def _line(*pts) -> QPainterPath:
    path = QPainterPath()
    path.moveTo(QPointF(*pts[0]))
    for pt in pts[1:]:
        path.lineTo(QPointF(*pt))
    return path


def math_parts(text: str) -> tuple:
    """A description's formula (``f ⊙ c_{t−1}``) as :meth:`Drawing.math` runs: base and subscripts."""
    return tuple((part, "s" if sub else "n") for part, sub in formula_parts(text))


def _clear_of_h_up(d: Drawing, x: float, y: float, parts: tuple) -> None:
    """Before a value right-aligned at ``x`` on baseline ``y`` right of h_t's line up: where large
    fonts make it reach the line, the line passes behind it (the background under the text)."""
    w = d.math_width(parts)
    if x - w < H_UP_X + 10:
        _under(d, x - w, y, w)


def _under(d: Drawing, x: float, y: float, w: float) -> None:
    """The background under a text ``w`` wide from ``x`` on baseline ``y`` (a wire passes behind it)."""
    fm = d.f.metrics(d.f.value)
    d.p.fillRect(QRectF(x - 4, y - fm.ascent(), w + 8, fm.ascent() + fm.descent()), d.s.bg)


def _gate_rect(cx: float) -> QRectF:
    return QRectF(cx - GATE_W / 2, GATE_CY - GATE_H / 2, GATE_W, GATE_H)


PARTIAL, ODOT = "\u2202", "\u2299"


def _angle(path: QPainterPath) -> float:
    """The direction (degrees, the canvas's arrow convention) in which ``path`` ends."""
    import math

    n = path.elementCount()
    a, b = path.elementAt(n - 2), path.elementAt(n - 1)
    return math.degrees(math.atan2(b.y - a.y, b.x - a.x))


class Scene:
    """Base: the cell body, the parts registry, the inputs from below and the h that leaves.

    ``back`` (set by the canvas before each paint): the backward pass at this step
    (:func:`~explorer.figures.cell_canvas.backward_frame`) or None. With it a cell with a belt
    draws the gradient on the belt flowing right to left instead of the state (:meth:`paint_belt`,
    :meth:`paint_belt_labels`), a cell without one the factor that shrinks it (the RNN's scene)."""

    height = 600.0
    h_tag = (X1 - 62, BUS_Y - 24)             # where "h held" goes: over h_t leaving the cell
    h_down_x: float | None = None             # a wire down from the belt near its left end (the GRU's)
    back: dict | None = None
    tap_path: QPainterPath | None = None       # where the gradient through h_t joins the belt

    def __init__(self, desc: CellView):
        self.desc = desc
        self.cell = QRectF(150.0, 92.0, 880.0, 430.0)
        self._parts: list[tuple[str, object]] = []
        self.gate_rects: dict[str, QRectF] = {}
        self.build()

    # -- parts ---------------------------------------------------------------------------------
    def add(self, key: str, shape) -> None:
        """Register a part; earlier parts win where shapes overlap (gates first, areas last)."""
        self._parts.append((key, shape))

    def part_at(self, q: QPointF) -> str | None:
        for key, shape in self._parts:
            if shape.contains(q):
                return key
        return None

    def part_rect(self, key: str) -> QRectF | None:
        rect = None
        for k, shape in self._parts:
            if k == key:
                r = shape if isinstance(shape, QRectF) else shape.boundingRect()
                rect = r if rect is None else rect.united(r)
        return rect

    @property
    def part_names(self) -> tuple:
        seen: list[str] = []
        for k, _ in self._parts:
            if k not in seen:
                seen.append(k)
        return tuple(seen)

    def build(self) -> None:
        raise NotImplementedError

    def paint(self, d: Drawing, v: dict, belt: ValueScale) -> None:
        raise NotImplementedError

    # -- shared pieces ----------------------------------------------------------------------------
    def paint_body(self, d: Drawing) -> None:
        p = d.p
        p.setPen(d.s.cell_edge)
        p.setBrush(d.s.cell_fill)
        p.drawRoundedRect(self.cell, 22, 22)
        d.text(self.cell.left() + 14, self.cell.bottom() - 12, f"one {self.desc.title} unit", d.f.small, d.s.muted)

    def add_gate(self, name: str, cx: float) -> QRectF:
        r = _gate_rect(cx)
        self.gate_rects[name] = r
        self.add(name, r)
        return r

    def paint_gates(self, d: Drawing, v: dict) -> None:
        for name, r in self.gate_rects.items():
            g = self.desc.gate(name)
            d.gate_box(r, g.symbol, v[name], g.label, QColor(g.color_hex))

    def paint_held(self, d: Drawing, held: dict) -> None:
        """Mark what interventions hold at this step: a "held" tag on each held gate's top edge,
        "h held" over h_t where it leaves the cell."""
        for name in held:
            r = self.gate_rects.get(name)
            if r is not None:
                h = d.f.metrics(d.f.node).height() + 4
                d.tag(QPointF(r.center().x(), r.top() - h / 2 + 3), "held")
            elif name == "h":
                d.tag(QPointF(*self.h_tag), "h held")

    def add_inputs(self, bus_from: float, bus_to: float) -> None:
        """The joined [x_t, h_{t−1}] line and x_t coming up into it."""
        self.add("input", stroke_area(_line((bus_from, BUS_Y), (bus_to, BUS_Y)), 24))
        self.add("input", stroke_area(_line((X_IN, BUS_Y), (X_IN, BUS_Y + 90)), 24))

    def paint_x(self, d: Drawing, v: dict) -> None:
        """x_t coming in from below (for a deeper layer: which layer's h_t it is), and where h_t goes."""
        d.dot(QPointF(X_IN, BUS_Y), 5)
        src = v.get("x_from")
        if src:                              # a deeper layer: its input is the layer below's output
            y = BUS_Y + 66 + max(0, d.f.label.pixelSize() - 17)          # large fonts: clear of the cell's edge
            d.math(X_IN + 14, y, (("x", "n"), ("t", "s"), (" = ", "n"), *math_parts(src)))
            d.math(X_IN + 14, y + max(24, d.f.label.pixelSize() + 7), (("= " + v["x_text"].split("= ", 1)[-1], "v"),))
        else:
            d.math(X_IN + 14, BUS_Y + 76, (("x", "n"), ("t", "s"), (" " + v["x_text"], "v")))
        self.paint_destination(d, v)

    def paint_destination(self, d: Drawing, v: dict) -> None:
        """Where h_t goes in a deep or bidirectional model (the layer above or the head, and the
        next step of its direction) and which way the direction's time runs, under the output."""
        to = v.get("h_to")
        if to:
            d.math(X1, BUS_Y + 84, (("h", "n"), ("t", "s"), (" goes ", "n"), *math_parts(to)), align="right",
                   color=d.s.muted)
        note = v.get("time_note")
        if note:
            d.math(X1, BUS_Y + 108, math_parts(note), align="right", color=d.s.muted)

    def paint_h_up(self, d: Drawing, v: dict, scale: ValueScale, from_y: float) -> None:
        """h_t leaving the cell upwards (to the layer above / the head)."""
        path = _line((H_UP_X, from_y), (H_UP_X, H_UP_TOP + 8))
        d.stream(path, v["h"], scale, 0.8)
        d.arrow(QPointF(H_UP_X, H_UP_TOP - 2), -90.0, d.s.halo)
        d.math(H_UP_X + 14, H_UP_TOP + 10, (("h", "n"), ("t", "s")))

    def add_belt_labels(self) -> None:
        """Hit areas of the kept label (over the belt) and the written stream (into the +)."""
        midx = (self.keep_node.x() + self.add_node.x()) / 2
        self.add("kept", QRectF(midx - 130, BELT_Y - 44, 260, 30))
        self.add("written", QRectF(self.add_node.x() - 12, BELT_Y + R, 230, self.write_node.y() - BELT_Y - 2 * R))

    def paint_belt(self, d: Drawing, v: dict, belt: ValueScale) -> None:
        """The belt (``keep_node`` → ``add_node`` on BELT_Y): the old state, the kept part, the new
        state, each coloured and sized on the belt's scale; the written part rising into the +.
        Backward (``self.back``): the gradient instead, flowing right to left."""
        if self.back is not None and self.back.get("belt"):
            self.paint_back_belt(d, self.back)
            return
        kn, an, wn, name = self.keep_node, self.add_node, self.write_node, self.desc.belt_name
        for a, b, val in ((X0, kn.x() - R, v[name + "_prev"]), (kn.x() + R, an.x() - R, v["kept"]),
                          (an.x() + R, X1 - 4, v[name])):
            d.stream(_line((a, BELT_Y), (b, BELT_Y)), val, belt)
        d.arrow(QPointF(X1 + 8, BELT_Y), 0.0, d.s.halo)
        d.stream(_line((an.x(), wn.y() - R), (an.x(), BELT_Y + R + 10)), v["written"], belt, 0.8)
        d.arrow(QPointF(an.x(), BELT_Y + R + 1), -90.0, d.s.halo)

    def paint_back_belt(self, d: Drawing, back: dict) -> None:
        """The gradient on the belt, right to left: from step t+1 (through its keep gate) up to where
        h_t taps the belt, plus what came through h_t, then unchanged through the + (the written
        path takes the same gradient down), scaled at the × by this step's keep gate, out to the left."""
        b, sc = back["belt"], back["scale"]
        kn, an, wn = self.keep_node, self.add_node, self.write_node
        tap = self.tap_path
        tx = tap.elementAt(tap.elementCount() - 1).x
        for x_from, x_to, val in ((X1 - 4, tx, b["from_next"]), (tx, an.x() + R, b["in"]),
                                  (an.x() - R, kn.x() + R, b["in"]), (kn.x() - R, X0 + 10, b["out"])):
            d.stream(_line((x_from, BELT_Y), (x_to, BELT_Y)), val, sc)
        d.arrow(QPointF(X0 + 2, BELT_Y), 180.0, d.s.halo)
        d.arrow(QPointF(an.x() + R + 1, BELT_Y), 180.0, d.s.halo)
        d.arrow(QPointF(kn.x() + R + 1, BELT_Y), 180.0, d.s.halo)
        d.stream(tap, b["from_h"], sc, 0.8)
        end = tap.elementAt(tap.elementCount() - 1)
        d.arrow(QPointF(end.x, end.y), _angle(tap), d.s.halo)
        down = _line((an.x(), BELT_Y + R + 2), (an.x(), wn.y() - R - 10))
        d.stream(down, b["to_write"], sc, 0.8)
        d.arrow(QPointF(an.x(), wn.y() - R - 1), 90.0, d.s.halo)

    def paint_back_labels(self, d: Drawing, back: dict) -> None:
        """The numbers of the backward belt: what leaves to the left, what arrives from the right and
        through h, the keep gate that scales it, what goes down the written path."""
        b, q = back["belt"], back["quantity"]
        kn, an, wn = self.keep_node, self.add_node, self.write_node
        gate = self.desc.kept_formula.split()[0]          # the keep gate: f (LSTM), z (GRU)
        tx = self.tap_path.elementAt(self.tap_path.elementCount() - 1).x
        dq = (PARTIAL + "L/" + PARTIAL + q, "n")
        d.math(X0, BELT_LABELS[0], (dq, (back["prev"], "s")))
        below = BELT_LABELS[1] + (d.f.value.pixelSize() - 17) + (d.f.sub.pixelSize() - 12) * 0.5
        out_rel = relation(f"{gfmt(b['in'])} \u00d7 {fmt(b['factor'])}", gfmt(b["out"]))
        self.left_label(d, below, ((f"{out_rel} " + gfmt(b["out"]), "v"),))
        # ∏ of the keep gate: one line, or two where large fonts would run into the keep gate's wire
        y = below + d.f.label.pixelSize() + 10
        prod = (("\u220f ", "n"), (gate, "n"), (" from t to the end = ", "n"), (fmt(b["kept_product"]), "v"))
        if X0 + d.math_width(prod) <= kn.x() - 10:
            self.left_label(d, y, prod)
        else:
            lines = [prod[:2] + ((" from t to the end", "n"),)]
            if X0 + d.math_width(lines[0]) > kn.x() - R - 10:         # still too wide: three lines
                lines = [prod[:2] + ((" from t", "n"),), (("to the end", "n"),)]
            for k, parts in enumerate(lines + [(("= " + fmt(b["kept_product"]), "v"),)]):
                self.left_label(d, y + k * (d.f.label.pixelSize() + 8), parts)
        txt = gfmt(b["from_next"])
        if not back["last"] and d.math_width(((txt, "v"),)) > X1 - H_UP_X - 20:
            txt = gfmt(b["from_next"], 2)        # two digits where large fonts would reach h_t's line up
        in_rel = relation(f"{txt} + ({gfmt(b['from_h'])})", gfmt(b["in"])) if not back["last"] else "="
        d.math((kn.x() + an.x()) / 2, BELT_Y - 22,
               (dq, ("t", "s"), (f" {in_rel} " + gfmt(b["in"]) + "   ", "v"), ("\u00d7 ", "n"), (gate, "n"), ("t", "s"),
                (" = " + fmt(b["factor"]), "v")), align="center")
        where = f"from {back['next']}" if not back["last"] else "last step"
        if d.math_width(((where, "n"),)) <= X1 - H_UP_X - 12:
            d.math(X1, BELT_LABELS[0], ((where, "n"),), align="right")
        else:                                    # large fonts: a smaller name, clear of h_t's line up
            d.text(X1, BELT_LABELS[0], where, d.f.small, align="right")
        if not back["last"]:
            _clear_of_h_up(d, X1, below, ((txt, "v"),))
            d.math(X1, below, ((txt, "v"),), align="right")
        through = (("+ through h", "n"), ("t", "s"), (" " + gfmt(b["from_h"]), "v"))
        if tx - 12 - d.math_width(through) >= an.x() + R + 6:
            d.math(tx - 12, BELT_LABELS[1] + 6, through, align="right")
        else:                                    # large fonts: the name, and its value under it
            d.math(tx - 12, BELT_LABELS[1] + 6, through[:2], align="right")
            value, y = ((gfmt(b["from_h"]), "v"),), BELT_LABELS[1] + 14 + d.f.value.pixelSize()
            _under(d, tx - 12 - d.math_width(value), y, d.math_width(value))       # wires pass behind it
            d.math(tx - 12, y, value, align="right")
        written = (("written path  ", "n"), (gfmt(b["to_write"]), "v"))
        y = (BELT_Y + wn.y()) / 2 + 10
        if an.x() - 16 - d.math_width(written) >= kn.x() + R + 8:
            d.math(an.x() - 16, y, written, align="right")
        else:                                    # large fonts: the name, and its value under it
            d.math(an.x() - 16, y, written[:1], align="right")
            w, y = d.math_width(written[1:]), y + d.f.value.pixelSize() + 6
            _under(d, an.x() - R - 16 - w, y, w)                                     # wires pass behind it
            d.math(an.x() - R - 16, y, written[1:], align="right")

    def paint_belt_labels(self, d: Drawing, v: dict) -> None:
        """The belt's state at both ends and the description's kept and written formulas with their values."""
        if self.back is not None and self.back.get("belt"):
            self.paint_back_labels(d, self.back)
            return
        prev, name, an, wn = v["prev"], self.desc.belt_name, self.add_node, self.write_node
        self.paint_state_label(d, name, prev, v[name + "_prev"], X0, BELT_LABELS)
        labels = v.get("belt_text") or self.desc.belt_labels(v)
        self.paint_state_label(d, name, "t", v[name], X1, BELT_LABELS, align="right", shown=labels["new"])
        kept = math_parts(self.desc.kept_formula.replace("t\u22121", prev))
        rel, txt = labels["kept"]
        d.math((self.keep_node.x() + an.x()) / 2, BELT_Y - 22,
               (("kept  ", "n"), *kept, (f" {rel} {txt}", "v")), align="center")
        rel, txt = labels["written"]
        written = (("written  ", "n"), *math_parts(self.desc.written_formula), (f" {rel} {txt}", "v"))
        end = d.math_width(((f"{labels['new'][0]} {labels['new'][1]}", "v"),))
        y = (BELT_Y + wn.y()) / 2 + 10
        if an.x() + 16 + d.math_width(written) <= min(H_UP_X, X1 - end) - 10:
            d.math(an.x() + 16, y, written)
        else:                                    # large fonts: left of the written path
            d.math(an.x() - 16, y, written, align="right")

    def paint_state_label(self, d: Drawing, name: str, sub: str, value: float, x: float, at: tuple,
                          align: str = "left", shown: tuple | None = None) -> None:
        """A state's name and value on the baselines ``at`` (above and below a belt, or under the bus);
        ``shown``: (relation, text) where the value is the result of sums on the diagram."""
        below = at[1] + (d.f.value.pixelSize() - 17) + (d.f.sub.pixelSize() - 12) * 0.5   # larger fonts: lower
        rel, txt = shown or ("=", fmt(value))
        d.math(x, at[0], ((name, "n"), (sub, "s")), align=align)
        parts = ((f"{rel} {txt}", "v"),)
        if align == "right" and at is BELT_LABELS:
            _clear_of_h_up(d, x, below, parts)
        if align == "left" and at is BELT_LABELS and x == X0:
            self.left_label(d, below, parts)
            return
        d.math(x, below, parts, align=align)

    def left_label(self, d: Drawing, y: float, parts: tuple) -> None:
        """``parts`` at the belt's left end on baseline ``y``; where large fonts make them reach the
        wire down from the belt (:attr:`h_down_x`), the wire passes behind them."""
        if self.h_down_x is not None and X0 + d.math_width(parts) > self.h_down_x - 8:
            _under(d, X0, y, d.math_width(parts))
        d.math(X0, y, parts)


class CStateScene(Scene):
    """A cell whose belt carries the cell state c (the LSTM; peephole wires from desc.peepholes)."""

    def build(self) -> None:
        # gates left to right as they act on the belt: forget, input, candidate, output
        cx = {"f": 300.0, "i": 455.0, "g": 610.0, "o": 770.0}
        for name in ("f", "i", "g", "o"):
            self.add_gate(name, cx[name])
        self.keep_node = QPointF(cx["f"], BELT_Y)            # the forget gate's ×
        self.add_node = QPointF(cx["g"], BELT_Y)
        self.write_node = QPointF(cx["g"], 248.0)
        self.out_x = 920.0
        self.tanh_rect = QRectF(self.out_x - 34, 236.0, 68.0, 30.0)
        self.out_node = QPointF(self.out_x, GATE_CY)
        gr = self.gate_rects
        w = QPainterPath()
        w.addPath(_line((X0, BUS_Y), (cx["o"], BUS_Y)))
        w.addPath(_line((X_IN, BUS_Y + 80), (X_IN, BUS_Y)))
        for name in ("f", "i", "g", "o"):
            w.addPath(_line((cx[name], BUS_Y), (cx[name], gr[name].bottom() + 2)))
        w.addPath(_line((cx["f"], gr["f"].top()), (cx["f"], BELT_Y + R)))
        w.addPath(_line((cx["i"], gr["i"].top()), (cx["i"], self.write_node.y()),
                        (self.write_node.x() - R, self.write_node.y())))
        w.addPath(_line((cx["g"], gr["g"].top()), (cx["g"], self.write_node.y() + R)))
        w.addPath(_line((gr["o"].right(), GATE_CY), (self.out_node.x() - R, GATE_CY)))
        w.addPath(_line((self.out_x, BELT_Y), (self.out_x, self.tanh_rect.top())))
        w.addPath(_line((self.out_x, self.tanh_rect.bottom()), (self.out_x, self.out_node.y() - R)))
        self.wires = w
        self.arrows = [(QPointF(cx[k], gr[k].bottom() + 1), -90.0) for k in ("f", "i", "g", "o")] + [
            (QPointF(cx["f"], BELT_Y + R + 1), -90.0),
            (QPointF(self.write_node.x() - R - 1, self.write_node.y()), 0.0),
            (QPointF(cx["g"], self.write_node.y() + R + 1), -90.0),
            (QPointF(self.out_node.x() - R - 1, GATE_CY), 0.0),
            (QPointF(self.out_x, self.tanh_rect.top() - 1), 90.0),
            (QPointF(self.out_x, self.out_node.y() - R - 1), 90.0),
        ]
        self.bus_dots = [cx[k] for k in ("f", "i", "g", "o")]
        # peepholes: i and f see c_{t−1} (tapped before the forget node), o sees c_t (after the +)
        self.peep_path = QPainterPath()
        self.peep_arrows = []
        peeps = self.desc.peepholes
        drops = {"f": gr["f"].left() + 18, "i": gr["i"].left() + 33, "o": gr["o"].right() - 28}
        before = [k for k in ("f", "i") if k in peeps]
        if before:
            tap, y = 215.0, 222.0
            self.peep_path.addPath(_line((tap, BELT_Y + 6), (tap, y), (max(drops[k] for k in before), y)))
            for k in before:
                self.peep_path.addPath(_line((drops[k], y), (drops[k], gr[k].top() - 2)))
                self.peep_arrows.append((QPointF(drops[k], gr[k].top() - 1), 90.0))
            self.peep_taps = [QPointF(tap, BELT_Y)]
        else:
            self.peep_taps = []
        if "o" in peeps:
            tap, y = 860.0, 282.0
            self.peep_path.addPath(_line((tap, BELT_Y + 6), (tap, y), (drops["o"], y), (drops["o"], gr["o"].top() - 2)))
            self.peep_arrows.append((QPointF(drops["o"], gr["o"].top() - 1), 90.0))
            self.peep_taps.append(QPointF(tap, BELT_Y))
        self.h_path = _line((self.out_x, self.out_node.y() + R), (self.out_x, BUS_Y), (X1 - 6, BUS_Y))
        self.tap_path = _line((self.out_x, self.tanh_rect.top() - 4), (self.out_x, BELT_Y + 14))
        # hit areas, most specific first
        self.add("tanh", self.tanh_rect.adjusted(-6, -6, 6, 6))
        self.add_belt_labels()
        if peeps:
            self.add("peephole", stroke_area(self.peep_path, 14))
        self.add("belt", QRectF(X0, BELT_Y - 16, X1 - X0, 32))
        self.add("h", stroke_area(self.h_path, 24))
        self.add("h", stroke_area(_line((H_UP_X, BUS_Y), (H_UP_X, H_UP_TOP)), 24))
        self.add_inputs(X0, cx["o"])

    def paint(self, d: Drawing, v: dict, belt: ValueScale) -> None:
        d.wires(self.wires, self.arrows)
        d.dot(QPointF(X_IN, BUS_Y), 5)
        for x in self.bus_dots:
            d.dot(QPointF(x, BUS_Y), 4)
        self.paint_belt(d, v, belt)
        if self.desc.peepholes:
            col = QColor(d.s.wire)
            d.wires(self.peep_path, self.peep_arrows, dashed=True, color=col)
            for pt in self.peep_taps:
                d.dot(pt, 4.5)
        # h_t: from the output node down, right, and up past the belt (a bridge over it)
        d.stream(self.h_path, v["h"], UNIT_SCALE, 0.8)
        d.arrow(QPointF(X1 + 8, BUS_Y), 0.0, d.s.halo)
        up = _line((H_UP_X, BUS_Y), (H_UP_X, BELT_Y + 16))
        up_w = d.stream(up, v["h"], UNIT_SCALE, 0.8)
        d.stream(_line((H_UP_X, BELT_Y + 16), (H_UP_X, BELT_Y - 16)), v["h"], UNIT_SCALE, 0.8, bridge=True)
        self.paint_h_up(d, v, UNIT_SCALE, BELT_Y - 16)
        for c, sym in ((self.keep_node, "x"), (self.add_node, "+"), (self.write_node, "x"), (self.out_node, "x")):
            d.node(c, sym)
        d.pill(self.tanh_rect, "tanh")
        self.paint_gates(d, v)
        self.paint_belt_labels(d, v)
        prev = v["prev"]
        if self.desc.peepholes:
            d.text(222, 214, "p\u2009\u2299\u2009c", d.f.small, d.s.muted)
        self.paint_state_label(d, "h", prev, v["h_prev"], X0, BUS_LABELS)
        self.paint_x(d, v)
        self.paint_state_label(d, "h", "t", v["h"], X1, BUS_LABELS, align="right")
        # between the output's stream down and h_t's up (two lines when large fonts do not fit)
        label = "h = o\u2009\u00b7\u2009tanh c"
        room = H_UP_X - self.out_x - 14 - up_w / 2 - 8
        if d.f.metrics(d.f.small).horizontalAdvance(label) <= room:
            d.text(self.out_x + 14, GATE_CY + 46, label, d.f.small, d.s.muted)
        else:
            d.text(self.out_x + 14, GATE_CY + 46, "h =", d.f.small, d.s.muted)
            d.text(self.out_x + 14, GATE_CY + 46 + d.f.metrics(d.f.small).lineSpacing(), "o\u2009\u00b7\u2009tanh c",
                   d.f.small, d.s.muted)


class HBeltScene(Scene):
    """A cell whose belt is h itself (the GRU): kept z ⊙ h_{t−1}, written (1 − z) ⊙ g."""

    h_tag = (H_UP_X - 75, BELT_Y - 26)        # h_t leaves along the belt, at the top

    def build(self) -> None:
        cx = {"z": 300.0, "r": 520.0, "g": 780.0}
        for name in ("z", "r", "g"):
            self.add_gate(name, cx[name])
        gr = self.gate_rects
        self.keep_node = QPointF(cx["z"], BELT_Y)
        self.add_node = QPointF(cx["g"], BELT_Y)
        self.write_node = QPointF(cx["g"], 248.0)
        self.minus_node = QPointF(560.0, 248.0)
        self.reset_node = QPointF(655.0, GATE_CY)
        self.h_down_x = 120.0
        self.tap_path = _line((H_UP_X, H_UP_TOP + 10), (H_UP_X, BELT_Y - 14))
        w = QPainterPath()
        w.addPath(_line((self.h_down_x, BELT_Y), (self.h_down_x, BUS_Y), (cx["g"], BUS_Y)))
        w.addPath(_line((X_IN, BUS_Y + 80), (X_IN, BUS_Y)))
        for name in ("z", "r", "g"):
            w.addPath(_line((cx[name], BUS_Y), (cx[name], gr[name].bottom() + 2)))
        w.addPath(_line((self.reset_node.x(), BUS_Y), (self.reset_node.x(), self.reset_node.y() + R + 2)))
        w.addPath(_line((cx["z"], gr["z"].top()), (cx["z"], BELT_Y + R)))
        w.addPath(_line((cx["z"], self.write_node.y()), (self.minus_node.x() - R, self.write_node.y())))
        w.addPath(_line((self.minus_node.x() + R, self.write_node.y()), (self.write_node.x() - R, self.write_node.y())))
        w.addPath(_line((cx["g"], gr["g"].top()), (cx["g"], self.write_node.y() + R)))
        w.addPath(_line((gr["r"].right(), GATE_CY), (self.reset_node.x() - R, GATE_CY)))
        w.addPath(_line((self.reset_node.x() + R, GATE_CY), (gr["g"].left() - 2, GATE_CY)))
        self.wires = w
        self.arrows = [(QPointF(cx[k], gr[k].bottom() + 1), -90.0) for k in ("z", "r", "g")] + [
            (QPointF(self.reset_node.x(), self.reset_node.y() + R + 1), -90.0),
            (QPointF(cx["z"], BELT_Y + R + 1), -90.0),
            (QPointF(self.minus_node.x() - R - 1, self.write_node.y()), 0.0),
            (QPointF(self.write_node.x() - R - 1, self.write_node.y()), 0.0),
            (QPointF(cx["g"], self.write_node.y() + R + 1), -90.0),
            (QPointF(self.reset_node.x() - R - 1, GATE_CY), 0.0),
            (QPointF(gr["g"].left() - 1, GATE_CY), 0.0),
        ]
        self.bus_dots = [cx["z"], cx["r"], self.reset_node.x(), cx["g"]]
        node_box = lambda c: QRectF(c.x() - R - 4, c.y() - R - 4, 2 * R + 8, 2 * R + 8)  # noqa: E731
        self.add("one_minus", node_box(self.minus_node))
        self.add("reset", node_box(self.reset_node))
        self.add_belt_labels()
        self.add("h", stroke_area(_line((H_UP_X, BELT_Y - 12), (H_UP_X, H_UP_TOP)), 24))
        self.add("belt", QRectF(X0, BELT_Y - 16, X1 - X0, 32))
        self.add_inputs(self.h_down_x, cx["g"])
        self.add("input", stroke_area(_line((self.h_down_x, BELT_Y + 16), (self.h_down_x, BUS_Y)), 24))

    def paint(self, d: Drawing, v: dict, belt: ValueScale) -> None:
        d.wires(self.wires, self.arrows)
        for x in self.bus_dots:
            d.dot(QPointF(x, BUS_Y), 4)
        kn, an, wn = self.keep_node, self.add_node, self.write_node
        self.paint_belt(d, v, belt)
        d.dot(QPointF(self.h_down_x, BELT_Y), 5)
        self.paint_h_up(d, v, belt, BELT_Y)
        d.dot(QPointF(H_UP_X, BELT_Y), 5)
        for c, sym in ((kn, "x"), (an, "+"), (wn, "x"), (self.reset_node, "x")):
            d.node(c, sym)
        d.node(self.minus_node, "1\u2212")
        self.paint_gates(d, v)
        self.paint_belt_labels(d, v)
        d.text(self.reset_node.x() + 8, BUS_Y - 28, "U\u2099h + b\u2095\u2099", d.f.small, d.s.muted)
        d.text(an.x() + 8, BUS_Y - 28, "W\u2099x + b\u1d62\u2099", d.f.small, d.s.muted)
        d.text(self.reset_node.x() - 40, GATE_CY - 28, "r \u2299 (\u2026)", d.f.small, d.s.muted)
        d.text(870, 300, "h = z \u00b7 h\u209c\u208b\u2081 + (1\u2212z) \u00b7 g", d.f.small, d.s.muted)
        self.paint_x(d, v)


class SquashScene(Scene):
    """A cell without a belt or gates (the plain RNN): h_t = tanh(W x + U h + b), one path."""

    h_tag = HBeltScene.h_tag                  # h_t leaves at the top right

    def build(self) -> None:
        self.box = QRectF(520.0, 300.0, 160.0, 104.0)
        cx = self.box.center().x()
        self.add("squash", self.box)
        self.out_path = _line((cx, self.box.top()), (cx, BELT_Y), (X1 - 6, BELT_Y))
        w = QPainterPath()
        w.addPath(_line((X0, BUS_Y), (cx, BUS_Y), (cx, self.box.bottom() + 2)))
        w.addPath(_line((X_IN, BUS_Y + 80), (X_IN, BUS_Y)))
        self.wires = w
        self.arrows = [(QPointF(cx, self.box.bottom() + 1), -90.0)]
        self.add("h", stroke_area(self.out_path, 24))
        self.add("h", stroke_area(_line((H_UP_X, BELT_Y), (H_UP_X, H_UP_TOP)), 24))
        self.add_inputs(X0, cx)

    def paint(self, d: Drawing, v: dict, belt: ValueScale) -> None:
        d.wires(self.wires, self.arrows)
        cx = self.box.center().x()
        back = self.back
        if back is not None:                 # the gradient arrives along h_t's path and leaves to h_{t−1}
            d.stream(self.out_path, back["dh"], back["scale"], 0.8)
            bus = _line((cx, BUS_Y), (X0 + 10, BUS_Y))
            d.stream(bus, back["dh"] * (back["shrink"] or {}).get("factor", 0.0), back["scale"], 0.8)
            d.arrow(QPointF(X0 + 2, BUS_Y), 180.0, d.s.halo)
            d.arrow(QPointF(cx, self.box.top() - 1), 90.0, d.s.halo)
        else:
            d.stream(self.out_path, v["h"], UNIT_SCALE, 0.8)
        d.arrow(QPointF(X1 + 8, BELT_Y), 0.0, d.s.halo)
        self.paint_h_up(d, v, UNIT_SCALE, BELT_Y)
        d.dot(QPointF(H_UP_X, BELT_Y), 5)
        d.gate_box(self.box, "tanh", v["h"], "hidden h", QColor(COLORS["h"]))
        pre = v["preact"].get("h")
        if pre is not None:
            d.math(cx + 12, BUS_Y - 30, (("W x + U h + b = ", "n"), (fmt(pre), "v")))
        prev = v["prev"]
        self.paint_state_label(d, "h", prev, v["h_prev"], X0, BUS_LABELS)
        self.paint_state_label(d, "h", "t", v["h"], X1, BELT_LABELS, align="right")
        lines = ("No cell state and no gates:", "the old state is mixed with the input",
                 "and squashed by tanh again at every step,", "so what it held fades.")
        if back is not None:
            lines = self.back_lines(back)
        font = d.f.value if back is not None and d.f.large else d.f.small      # numbers: as large as the values
        step = font.pixelSize() * (1.25 if font is d.f.value else 1.5)
        for k, line in enumerate(lines):
            d.text(180, 190 + step * k, line, font, d.s.fg if back is not None else d.s.muted)
        self.paint_x(d, v)

    @staticmethod
    def back_lines(back: dict) -> tuple:
        """The backward numbers of a cell without a belt: ∂L/∂h_t, the factor by which the
        recurrence shrinks it on the way to the step before (tanh′ and U), and the running product."""
        dh = f"\u2202L/\u2202h\u209c = {gfmt(back['dh'])}"
        sh = back.get("shrink")
        if not sh:
            return (dh + " (no weights: the total only)",)
        prev = back["prev"]
        out = [f"Backward: {dh}"]
        if back["last"]:
            out.append("the last step: the loss's gradient enters here")
        else:
            out.append(f"back to step {prev}: \u00d7 {fmt(sh['factor'])} = \u2016U\u1d40(tanh\u2032 \u2299 \u2202L/\u2202h)\u2016 / \u2016\u2202L/\u2202h\u2016")
            out.append(f"at most \u2016U\u2016\u2082 \u00d7 max tanh\u2032 = {fmt(sh['U_norm'])} \u00d7 "
                       f"{fmt(sh['tanh_prime_max'])} = {fmt(sh['bound'])}")
        out.append(f"\u220f of those factors since the last step: {gfmt(sh['running'])}"
                   + ("  \u2014 it vanishes" if sh["running"] < 0.05 else ""))
        return tuple(out)


def scene_for(desc: CellDescription) -> Scene:
    """The scene that draws ``desc``, chosen by the cell's structure (which state its belt carries)."""
    desc = as_view(desc)
    if not desc.has_belt:
        return SquashScene(desc)
    if desc.belt_name in desc.state_names and desc.belt_name != "h":
        return CStateScene(desc)
    return HBeltScene(desc)


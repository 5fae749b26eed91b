"""The attention stage after the last cell, with one sample's real numbers.

Drawn with the cell diagram's primitives (:class:`~explorer.figures.cell_canvas.Drawing`, its
fonts and colours), in logical coordinates :data:`STAGE_W` × :data:`STAGE_H`: the top layer's
states h_t of the shown steps, each step's score e_t = vᵀ tanh(W_a h_t + b_a), the softmax α_t as
a bar (height ∝ α_t, the largest marked), the weighted sum Σ α_t h_t into the context c, and the
head y = V c + d with the classes' probabilities; at its left the last cell — the top layer's
cell diagram (forward direction, unit 0) at the step of the largest α, whose h_t the stage reads
(:func:`cell_frame`; the widget draws it from :data:`WIDE_ENOUGH` pixels on, files always). A
sequence longer than :data:`MAX_STEPS` shows the steps around its largest α (a note says which). :class:`AttentionStageWidget` is the window's
widget; :func:`export_attention_stage` writes PNG, SVG and CSV. Every name is drawn as plain text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from explorer.figures.cell_canvas import Drawing, Fonts, Style
from explorer.figures.export_files import svg_painter, write_png
from explorer.figures.panel import write_csv

STAGE_W, STAGE_H = 1200.0, 340.0
CELL_W = 700.0                            # the cell diagram at the stage's left (its 1200 × 600 at 0.55)
WIDE_ENOUGH = 1300                        # the widget's width (px) from which it draws the cell too
MAX_STEPS = 14
BAR_BASE, BAR_MAX = 270.0, 100.0          # α bars: baseline and the height of α = 1
COL_X0, COL_X1 = 170.0, 790.0             # the steps' columns
MOST_NUMBERS = 6                          # of the context and the outputs


def num(v: float, digits: int = 3) -> str:
    """How the stage writes a number (tests format the trace's numbers the same way); scores e_t
    with two digits (:data:`SCORE_DIGITS`), everything else with three."""
    return f"{float(v):.{digits}f}".replace("-", "\u2212")


SCORE_DIGITS = 2


@dataclass
class Stage:
    """One sample's numbers at the attention stage (the real steps only)."""

    scores: np.ndarray            # e (T,)
    alpha: np.ndarray             # α (T,)
    context: np.ndarray           # c (D·n,)
    logits: np.ndarray            # y (k,)
    outputs: np.ndarray           # probabilities (k,) or the value in the label's units
    class_names: list | None
    heading: str = ""
    cell: object = None           # the top layer's cell at the largest α: a cell_canvas Frame, or None

    @classmethod
    def of_view(cls, view) -> Stage | None:
        """The stage of a :class:`~explorer.app.labelled.LabelledView` (None for last pooling)."""
        if view is None or view.alpha is None or view.scores is None:
            return None
        stage = cls(np.asarray(view.scores, float), np.asarray(view.alpha, float), np.asarray(view.context, float),
                    np.asarray(view.logits, float), np.asarray(view.outputs, float), view.class_names, view.heading())
        if getattr(view, "trace", None) is not None:
            stage.cell = cell_frame(view.trace, int(np.argmax(stage.alpha)), view.sample + 1,
                                    getattr(view, "vocab", None))
        return stage

    def shown_steps(self) -> range:
        """The steps drawn: all, or :data:`MAX_STEPS` around the largest α."""
        T = len(self.alpha)
        if T <= MAX_STEPS:
            return range(T)
        start = min(max(int(np.argmax(self.alpha)) - MAX_STEPS // 2, 0), T - MAX_STEPS)
        return range(start, start + MAX_STEPS)


def cell_frame(trace, t: int, sample: int, vocab=None):
    """The :class:`~explorer.app.cell_frame.Frame` of the top layer's cell (forward direction,
    unit 0) at step ``t`` of a batch-1 trace: the last cell before the attention stage (``vocab``:
    the tokens of a text model's ids)."""
    from explorer.app.cell_frame import frame_at
    from explorer.app.cell_view import cell_view

    L, D = trace.num_layers, trace.num_directions
    top = trace.layer(L - 1, 0) if L > 1 or D > 1 else trace
    return frame_at(cell_view(trace.kind), top, t, 0, sample=sample, vocab=vocab, layer=L - 1, direction=0,
                    num_layers=L, num_directions=D)


def picture_size(stage: Stage, with_cell: bool = True) -> tuple[float, float]:
    """The logical size of the picture: the stage, with the cell diagram at its left when there is one."""
    return STAGE_W + (CELL_W if with_cell and stage.cell is not None else 0.0), STAGE_H


def paint_stage(p: QPainter, stage: Stage, w: float, h: float, style: Style, fonts: Fonts,
                texts: list | None = None, with_cell: bool = True, palette=None) -> None:
    """Paint ``stage`` fitted into ``w`` × ``h`` device pixels (aspect kept, centred); with its cell
    diagram at the left (``with_cell`` and the stage has one; ``palette``: the diagram's colours)."""
    p.fillRect(QRectF(0, 0, w, h), style.bg)
    lw, lh = picture_size(stage, with_cell)
    s = min(w / lw, h / lh)
    p.save()
    p.translate((w - lw * s) / 2, (h - lh * s) / 2)
    p.scale(s, s)
    if lw > STAGE_W:
        from explorer.figures.cell_canvas import FrameRenderer

        from dataclasses import replace

        cell = FrameRenderer(replace(stage.cell, n_units=1), palette=palette)    # the cell alone, no unit strip
        cell.paint(p, CELL_W - 20, STAGE_H)
        p.translate(CELL_W, 0)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    d = Drawing(p, fonts, style, texts=texts)
    if lw > STAGE_W:
        _wire(d, (-30.0, 91.0), (COL_X0 - 170.0, 91.0))          # h_t leaves the cell for the stage
    d.text(16, 26, "Attention stage after the last cell" + (f" \u2014 {stage.heading}" if stage.heading else ""),
           fonts.header, style.fg)
    steps = stage.shown_steps()
    T = len(stage.alpha)
    if len(steps) < T:
        d.text(COL_X1, 52, f"steps {steps.start + 1}\u2013{steps.stop} of {T} (around the largest \u03b1)",
               fonts.small, style.muted, align="right")
    col = (COL_X1 - COL_X0) / max(len(steps), 1)
    best = int(np.argmax(stage.alpha))
    for label, y in (("t", 70.0), ("h\u209c (top layer)", 96.0), ("e\u209c = v\u1d40tanh(W\u2090h\u209c + b\u2090)", 146.0),
                     ("\u03b1\u209c = softmax(e)\u209c", BAR_BASE - 40), ("\u03b1\u209c", BAR_BASE + 24)):
        d.text(COL_X0 - 10, y, label, fonts.small, style.muted, align="right")
    for k, t in enumerate(steps):
        cx = COL_X0 + (k + 0.5) * col
        mark = t == best
        p.setPen(style.accent if mark else style.cell_edge)
        p.setBrush(style.cell_fill)
        p.drawRect(QRectF(cx - col * 0.38, 78.0, col * 0.76, 26.0))
        d.text(cx, 70.0, str(t + 1), fonts.small, style.muted, align="center")
        _wire(d, (cx, 106.0), (cx, 126.0))
        d.text(cx, 146.0, num(stage.scores[t], SCORE_DIGITS), fonts.small, style.fg, align="center")
        height = BAR_MAX * float(stage.alpha[t])
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(style.accent if mark else style.muted)
        p.drawRect(QRectF(cx - col * 0.3, BAR_BASE - height, col * 0.6, height))
        d.text(cx, BAR_BASE + 24, num(stage.alpha[t]), fonts.small, style.accent if mark else style.fg,
               align="center")
    p.setPen(style.wire)
    p.drawLine(QPointF(COL_X0, BAR_BASE), QPointF(COL_X1, BAR_BASE))
    d.text(COL_X0, BAR_BASE + 50, f"\u03a3 \u03b1\u209c = {num(stage.alpha.sum())} over {T} real steps; "
           f"largest \u03b1 at t = {best + 1}", fonts.small, style.fg)
    sigma = QPointF(850.0, 190.0)
    _wire(d, (COL_X1 + 4, 91.0), (sigma.x(), 91.0), (sigma.x(), sigma.y() - 20))        # every h_t ...
    _wire(d, (COL_X1 + 4, BAR_BASE - 20), (sigma.x(), BAR_BASE - 20), (sigma.x(), sigma.y() + 20))   # ... × α_t
    d.node(sigma, "\u03a3")
    d.text(880.0, 232.0, f"context c = \u03a3\u209c \u03b1\u209c h\u209c ({len(stage.context)} numbers)",
           fonts.small, style.muted)
    for k, v in enumerate(stage.context[:MOST_NUMBERS]):
        d.text(880.0 + 100 * (k // 3), 254.0 + 20 * (k % 3), num(v), fonts.small, style.fg)
    if len(stage.context) > MOST_NUMBERS:
        d.text(1080.0, 254.0, "\u2026", fonts.small, style.muted)
    head = QRectF(980.0, 62.0, 200.0, 32.0)
    p.setPen(style.cell_edge)
    p.setBrush(style.cell_fill)
    p.drawRect(head)
    d.text(head.center().x(), head.bottom() - 10, "head  y = V c + d", fonts.small, style.fg, align="center")
    _wire(d, (sigma.x() + 20, sigma.y()), (940.0, sigma.y()), (940.0, head.center().y()),
          (head.left() - 2, head.center().y()))
    y = 122.0
    for k, v in enumerate(stage.logits[:MOST_NUMBERS]):
        name = str(stage.class_names[k]) if stage.class_names else "value"
        prob = f"  p = {num(stage.outputs[k])}" if stage.class_names else f"  = {num(stage.outputs[0])}"
        d.text(955.0, y, f"{name[:12]}: y = {num(v)}{prob}", fonts.small, style.fg)
        y += 20
    p.restore()


def _wire(d: Drawing, *pts) -> None:
    """A plain wire through ``pts`` with an arrow head at its end."""
    from explorer.figures.cell_scenes import _angle, _line

    path = _line(*pts)
    d.wires(path, arrows=((QPointF(*pts[-1]), _angle(path)),))


def stage_rows(stage: Stage) -> list:
    """(t, e_t, α_t) of every real step (the CSV beside the pictures), t counted from 0."""
    return [[t, float(stage.scores[t]), float(stage.alpha[t])] for t in range(len(stage.alpha))]


class AttentionStageWidget(QWidget):
    """The attention stage of the selected sample (see the module's text)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.stage: Stage | None = None
        self.record_texts = False
        self.painted_texts: list = []
        self.setMinimumSize(360, 170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(1900, 340)

    def set_view(self, view) -> None:
        """Show a :class:`~explorer.app.labelled.LabelledView`'s stage (hidden for last pooling)."""
        self.stage = Stage.of_view(view)
        self.setVisible(self.stage is not None)
        self.update()

    def has_data(self) -> bool:
        return self.stage is not None

    def _style(self) -> tuple[Style, Fonts]:
        return Style.from_palette(self.palette()), Fonts(self.font().family())

    def with_cell(self) -> bool:
        """The cell diagram is drawn beside the stage when the widget is wide enough for both."""
        return self.width() >= WIDE_ENOUGH

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        style, fonts = self._style()
        if self.stage is None:
            p.fillRect(self.rect(), style.bg)
        else:
            texts = [] if self.record_texts else None
            paint_stage(p, self.stage, self.width(), self.height(), style, fonts, texts, self.with_cell(),
                        self.palette())
            if texts is not None:
                self.painted_texts = texts
        p.end()


def _export_look(family: str) -> tuple[Style, Fonts]:
    from PySide6.QtGui import QPalette

    pal = QPalette()
    pal.setColor(QPalette.ColorRole.Window, QColor(255, 255, 255))
    pal.setColor(QPalette.ColorRole.WindowText, QColor(0, 0, 0))
    pal.setColor(QPalette.ColorRole.Highlight, QColor(213, 94, 0))
    return Style.from_palette(pal), Fonts(family)


def export_attention_stage(stage: Stage, out_dir, name: str = "attention_stage", family: str | None = None) -> list:
    """``name``.png (the picture's logical size: 1900 × 340 with the cell, 1200 × 340 without),
    ``name``.svg (the same drawing) and ``name``.csv (t, e, alpha)."""
    from pathlib import Path

    from explorer.figures.cell_canvas import light_palette

    out = Path(out_dir)
    family = family or QFont().family()
    style, fonts = _export_look(family)
    w, h = (int(v) for v in picture_size(stage))
    img = QImage(w, h, QImage.Format.Format_ARGB32)
    p = QPainter(img)
    paint_stage(p, stage, w, h, style, fonts, palette=light_palette())
    p.end()
    png, svg, csv = out / f"{name}.png", out / f"{name}.svg", out / f"{name}.csv"
    if not write_png(img, png):
        raise OSError(28, "the picture could not be written (is the disk full?)", str(png))
    with svg_painter(svg, QSize(w, h), 96, "Attention stage", stage.heading) as sp:
        paint_stage(sp, stage, w, h, style, fonts, palette=light_palette())
    write_csv(csv, ("t", "e", "alpha"), stage_rows(stage))
    return [png, svg, csv]


__all__ = ["AttentionStageWidget", "MAX_STEPS", "Stage", "cell_frame", "export_attention_stage", "num",
           "paint_stage", "picture_size", "stage_rows"]

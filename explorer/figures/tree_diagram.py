"""The Tree-LSTM diagram: a compact cell at every node, the memory c flowing up the edges.

Each node is a small cell: chips for i, o and u of the chosen unit (coloured on the diverging
scale), its c below them, the word under a leaf and "prediction | label" under every node. Each
edge from child k up to its parent is drawn twice: a pale band as wide as |c_k| (what the child
offers) and inside it a solid band as wide as |f_k ⊙ c_k| (what the parent keeps), coloured by
sign, with f_k written on it. Nodes after the current step (evaluation order) are faded; the
current one is outlined. The picture is painted in logical coordinates scaled uniformly to any
size; exports render at the picture's own size (PNG at twice it, SVG as vectors).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

from explorer.app.tree_view import TreeShow
from explorer.figures.colors import GATE_COLORS, diverging_color, diverging_rgb, text_color_on

SX, SY, MARGIN = 74.0, 104.0, 30.0      # leaf spacing, level spacing, margin (logical px)
BOX_W, BOX_H = 64.0, 42.0
TOP = 64.0                              # room for the title and the legend
MAX_EDGE = 14.0                         # the widest band (|c| at the tree's largest)

__all__ = ["TreePicture", "BOX_W", "BOX_H", "export_tree_run_plots", "node_heatmap"]


class TreePicture:
    """Paints a :class:`~explorer.app.tree_view.TreeShow` for one ``unit`` at one ``step``."""

    def __init__(self, show: TreeShow, unit: int = 0, step: int | None = None, dpi: float = 96.0):
        self.show = show
        self.unit = int(unit)
        self.step = show.n_nodes - 1 if step is None else int(step)
        self.dpi = dpi

    # -- geometry -------------------------------------------------------------------------------
    def size(self) -> tuple[int, int]:
        """The picture's own size in logical pixels."""
        s = self.show
        w = (float(s.x.max(initial=0)) + 1) * SX + 2 * MARGIN
        h = (int(s.depth.max(initial=0)) + 1) * SY + 2 * MARGIN + TOP
        return round(max(w, 680.0)), round(h)

    def centre(self, j: int) -> QPointF:
        s = self.show
        w, _ = self.size()
        span = (float(s.x.max(initial=0)) + 1) * SX
        left = (w - span) / 2 + SX / 2
        return QPointF(left + s.x[j] * SX, TOP + MARGIN + BOX_H / 2 + s.depth[j] * SY)

    def transform(self, w: float, h: float) -> tuple[float, float, float]:
        """``(scale, dx, dy)``: logical coordinates to a ``w`` × ``h`` drawing."""
        pw, ph = self.size()
        k = min(w / pw, h / ph)
        return k, (w - pw * k) / 2, (h - ph * k) / 2

    def node_at(self, x: float, y: float, w: float, h: float) -> int | None:
        """The node under (x, y) of a ``w`` × ``h`` drawing, or None."""
        k, dx, dy = self.transform(w, h)
        px, py = (x - dx) / k, (y - dy) / k
        for j in range(self.show.n_nodes):
            c = self.centre(j)
            if abs(px - c.x()) <= BOX_W / 2 and abs(py - c.y()) <= BOX_H / 2:
                return j
        return None

    # -- painting -------------------------------------------------------------------------------
    def paint(self, p: QPainter, w: float, h: float) -> None:
        """Paint into a ``w`` × ``h`` area (scaled uniformly, centred)."""
        k, dx, dy = self.transform(w, h)
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.translate(dx, dy)
        p.scale(k, k)
        pw, ph = self.size()
        p.fillRect(QRectF(0, 0, pw, ph), QColor("white"))
        self._legend(p, pw)
        for j in range(self.show.n_nodes):
            self._edges(p, j)
        for j in range(self.show.n_nodes):
            self._node(p, j)
        p.restore()

    def _font(self, px: float, bold: bool = False) -> QFont:
        f = QFont()
        f.setPixelSize(max(1, round(px)))
        f.setBold(bold)
        return f

    def _legend(self, p: QPainter, pw: float) -> None:
        s = self.show
        p.setPen(QColor("#222222"))
        p.setFont(self._font(15, True))
        title = s.title or f"{s.trace.kind} tree of {s.n_nodes} nodes"
        p.drawText(QRectF(MARGIN / 2, 8, pw - MARGIN, 20), Qt.AlignmentFlag.AlignLeft, title)
        p.setFont(self._font(12))
        p.setPen(QColor("#555555"))
        p.drawText(QRectF(MARGIN / 2, 28, pw - MARGIN, 18), Qt.AlignmentFlag.AlignLeft,
                   f"unit {self.unit}: edge width |c| of the child (pale), f\u2299c kept by the parent (solid)")
        p.drawText(QRectF(MARGIN / 2, 45, pw - MARGIN, 18), Qt.AlignmentFlag.AlignLeft,
                   f"orange +, blue \u2212; beside a node: prediction | label; step {self.step + 1} of "
                   f"{s.n_nodes} (children before parents)")

    def _faded(self, j: int) -> bool:
        return j > self.step

    def _edges(self, p: QPainter, j: int) -> None:
        s, u = self.show, self.unit
        tr = s.trace
        edges = s.child_edges(j)
        if not edges.size:
            return
        scale = s.c_scale()
        top = self.centre(j) + QPointF(0, BOX_H / 2)
        kids = tr.forest.edge_child[edges]
        for e, child in zip(edges, kids):
            c = float(tr.c[child, u])
            kept = float(tr.f[e, u]) * c
            start = self.centre(int(child)) - QPointF(0, BOX_H / 2)
            alpha = 60 if self._faded(j) else 255
            pale = diverging_color(0.8 if c >= 0 else -0.8)
            pale.setAlpha(min(alpha, 90))
            p.setPen(QPen(pale, 2 + MAX_EDGE * abs(c) / scale, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
            p.drawLine(start, top)
            solid = diverging_color(1.0 if kept >= 0 else -1.0)
            solid.setAlpha(alpha)
            p.setPen(QPen(solid, 1 + MAX_EDGE * abs(kept) / scale, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
            p.drawLine(start, top)
            mid = (start + top) / 2
            text = f"f {float(tr.f[e, u]):.2f}"
            p.setFont(self._font(11))
            box = QRectF(mid.x() - 22, mid.y() - 8, 44, 16)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(255, 255, 255, 220 if alpha == 255 else 90))
            p.drawRoundedRect(box, 3, 3)
            p.setPen(QColor(GATE_COLORS["f"]) if alpha == 255 else QColor(200, 200, 200))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _node(self, p: QPainter, j: int) -> None:
        s, u = self.show, self.unit
        tr = s.trace
        c = self.centre(j)
        box = QRectF(c.x() - BOX_W / 2, c.y() - BOX_H / 2, BOX_W, BOX_H)
        faded = self._faded(j)
        p.setOpacity(0.3 if faded else 1.0)
        current = j == self.step
        p.setPen(QPen(QColor(GATE_COLORS["c"]) if current else QColor("#444444"), 3.0 if current else 1.2))
        p.setBrush(QColor("#fafafa"))
        p.drawRoundedRect(box, 6, 6)
        chip_w = (BOX_W - 8) / 3
        p.setFont(self._font(11, True))
        for k, name in enumerate(("i", "o", "u")):
            v = float(getattr(tr, name)[j, u])
            colour = diverging_color(v, 1.0)
            chip = QRectF(box.left() + 4 + k * chip_w, box.top() + 4, chip_w - 2, 16)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(colour)
            p.drawRect(chip)
            p.setPen(text_color_on(colour))
            p.drawText(chip, Qt.AlignmentFlag.AlignCenter, name)
        cv = float(tr.c[j, u])
        p.setPen(QColor(GATE_COLORS["c"]))
        p.setFont(self._font(12))
        p.drawText(QRectF(box.left(), box.top() + 21, BOX_W, 19), Qt.AlignmentFlag.AlignCenter, f"c {cv:+.2f}")
        p.setPen(QColor("#777777"))
        p.setFont(self._font(10))
        p.drawText(QRectF(box.left() - 18, box.top() - 15, 30, 13), Qt.AlignmentFlag.AlignLeft, f"#{j}")
        leaf = not tr.forest.counts[j]
        if s.words[j]:
            p.setPen(QColor("#111111"))
            p.setFont(self._font(13, True))
            where = QRectF(c.x() - SX / 2, box.bottom() + 2, SX, 18) if leaf else \
                QRectF(box.right() + 3, box.top() - 2, SX / 2, 18)
            p.drawText(where, Qt.AlignmentFlag.AlignCenter if leaf else Qt.AlignmentFlag.AlignLeft, s.words[j])
        pred, lab = s.predictions[j], s.labels[j]
        wrong = lab != "" and pred != lab and s.trace.y.shape[1] > 1
        p.setPen(QColor("#b00020") if wrong else QColor("#333333"))
        p.setFont(self._font(11))
        where = QRectF(c.x() - SX / 2, box.bottom() + 19, SX, 16) if leaf else \
            QRectF(box.right() + 3, box.bottom() - 16, SX / 2 + 10, 16)
        p.drawText(where, Qt.AlignmentFlag.AlignCenter if leaf else Qt.AlignmentFlag.AlignLeft,
                   f"{pred or '-'} | {lab or '-'}")
        p.setOpacity(1.0)

    # -- export ---------------------------------------------------------------------------------
    def render_image(self, scale: float = 2.0) -> QImage:
        w, h = self.size()
        img = QImage(max(1, round(w * scale)), max(1, round(h * scale)), QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(QColor("white"))
        p = QPainter(img)
        try:
            self.paint(p, img.width(), img.height())
        finally:
            p.end()
        return img

    def export_png(self, path, scale: float = 2.0) -> bool:
        """A PNG at ``scale`` × the picture's own size."""
        return self.render_image(scale).save(str(path))

    def export_svg(self, path) -> None:
        """An SVG at the picture's own size, as vectors by the same paint routine."""
        from PySide6.QtSvg import QSvgGenerator

        w, h = self.size()
        gen = QSvgGenerator()
        gen.setFileName(str(path))
        gen.setSize(QSize(w, h))
        gen.setViewBox(QRect(0, 0, w, h))
        gen.setResolution(round(self.dpi))      # not the generator's default: text would shrink to 0.75
        gen.setTitle("Tree-LSTM")
        p = QPainter(gen)
        try:
            self.paint(p, w, h)
        finally:
            p.end()


def node_heatmap(values, vmax: float | None = None) -> QImage:
    """Node × unit (rows in evaluation order, one pixel per value) on the diverging scale,
    symmetric around 0 to ``vmax`` (the largest |value| when None)."""
    a = np.nan_to_num(np.asarray(values, dtype=float))
    top = float(np.abs(a).max(initial=0.0)) if vmax is None else float(vmax)
    top = top if top > 0 else 1.0
    lut = np.array([diverging_rgb(-1.0 + 2.0 * k / 256) for k in range(257)], np.uint8)
    idx = np.rint((np.clip(a / top, -1.0, 1.0) + 1.0) * 128).astype(np.intp)
    rgb = np.ascontiguousarray(lut[idx])                      # (N, n, 3)
    h, w = rgb.shape[0], rgb.shape[1]
    img = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return img.copy()                                         # own its pixels (rgb is freed)


def export_tree_run_plots(run, out_dir) -> list:
    """The plots of a tree run (:class:`~explorer.app.tree_train.TreeRun`) into ``out_dir``:
    ``loss.png/.svg/.csv`` (training and validation loss per epoch) and ``tree.png/.svg`` (the
    first validation tree, or training tree, at its root, unit 0)."""
    from pathlib import Path

    from explorer.app.tree_view import show_tree
    from explorer.figures import plots
    from explorer.figures.report import _quiet_offscreen

    out = Path(out_dir)
    with _quiet_offscreen():
        curves = plots.CurvesPlotWidget("Loss per epoch", "epoch", f"loss ({run.data.loss})")
        epochs = [r["epoch"] for r in run.history]
        curves.add_curve("training", epochs, [r["train_loss"] for r in run.history], GATE_COLORS["c"])
        curves.add_curve("validation", epochs, [r["val_loss"] for r in run.history], GATE_COLORS["h"])
        written = plots.export_plot(curves, out, "loss")
        trees = run.data.val or run.data.train
        picture = TreePicture(show_tree(run.model, run.data, trees[0]))
        picture.export_png(out / "tree.png")
        picture.export_svg(out / "tree.svg")
    return written + [out / "tree.png", out / "tree.svg"]

"""The LSTM equations of the selected unit, with this timestep's real numbers filled in.

:class:`EquationsView` shows, like a worked example done by hand::

    i_t = σ(W_i x_t + U_i h_{t−1} + b_i) = σ(0.412 + (−0.031) + 0.000) = σ(0.381) = 0.594

for i, f, g (tanh), o, then ``c_t = f ⊙ c_{t−1} + i ⊙ g`` and ``h_t = o ⊙ tanh(c_t)``.
The three terms (W x, U h, b) are the breakdown, computed from the weights (row j of
each gate block against x_t and h_{t−1}); the pre-activation total z and the
activation shown are the trace's own numbers, so what is shown is what the engine
computed. :meth:`EquationsView.equation_values` returns exactly the numbers shown.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QRect, QRectF, QSize
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QColor,
    QImage,
    QPainter,
    QPalette,
)
from PySide6.QtWidgets import QTextBrowser, QWidget

from explorer.figures.colors import GATE_COLORS, diverging_color, text_color_on
from explorer.gui.diagram import MINUS, fmt
from explorer.gui.trace_position import TracePositionMixin

__all__ = ["EquationsView"]

GATES = ("i", "f", "g", "o")  # gate order of z / the weight rows
GATE_TITLE = {"i": "input gate", "f": "forget gate", "g": "candidate", "o": "output gate"}
SIGMA = "\u03c3"


def _fmt_term(v: float) -> str:
    """A number as a later term of a sum: negative ones in parentheses."""
    s = fmt(v)
    return f"({s})" if s.startswith(MINUS) else s


def _chip(key: str, label: str | None = None) -> str:
    col = GATE_COLORS[key]
    tc = text_color_on(col)
    return (
        f'<span style="background-color:{col.name()}; color:{tc.name()}; font-weight:bold;">'
        f"&nbsp;{html.escape(label or key)}&nbsp;</span>"
    )


def _value_chip(v: float) -> str:
    col = diverging_color(v)
    tc = text_color_on(col)
    return (
        f'<span style="background-color:{col.name()}; color:{tc.name()}; font-weight:bold;">'
        f"&nbsp;{fmt(v)}&nbsp;</span>"
    )


class EquationsView(TracePositionMixin, QTextBrowser):
    """Rich-text worked example of one LSTM step for the selected unit."""

    MONO = "'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setOpenLinks(False)
        self.setFrameShape(QTextBrowser.Shape.NoFrame)
        self._init_position()
        self._weights: dict[str, np.ndarray] | None = None
        self._vocab: list[str] | None = None
        self._vals: dict[str, Any] = {}
        self._onehot_col: int | None = None
        self._compact = False
        self._render()

    # ------------------------------------------------------------------ API
    @property
    def vocab(self) -> list[str] | None:
        return self._vocab

    @vocab.setter
    def vocab(self, vocab: list[str] | None) -> None:
        self._vocab = None if vocab is None else list(vocab)
        self._render()

    def set_trace(self, trace: Any, weights: dict[str, np.ndarray] | None = None) -> None:
        self._trace = trace
        self._weights = weights
        self._clamp()
        self._render()

    def _position_changed(self) -> None:
        self._render()

    def equation_values(self) -> dict[str, Any]:
        """Exactly the numbers shown: per gate {"z", "value"} (+ "wx", "uh", "b" with weights),
        and "c", "h", "h_prev", "c_prev" (plus "onehot_col" in one-hot mode)."""
        out: dict[str, Any] = {}
        for k, v in self._vals.items():
            out[k] = dict(v) if isinstance(v, dict) else v
        return out

    def text(self) -> str:
        return self.toPlainText()

    def export_png(self, path: str, scale: float = 2) -> bool:
        w, h = self._export_size()
        img = QImage(max(1, round(w * scale)), max(1, round(h * scale)), QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(self._bg())
        p = QPainter(img)
        try:
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
            p.scale(scale, scale)
            self._draw_document(p, w, h)
        finally:
            p.end()
        return img.save(str(path))

    def export_svg(self, path: str) -> None:
        from PySide6.QtSvg import QSvgGenerator

        w, h = self._export_size()
        gen = QSvgGenerator()
        gen.setFileName(str(path))
        gen.setSize(QSize(w, h))
        gen.setViewBox(QRect(0, 0, w, h))
        gen.setTitle("LSTM equations")
        p = QPainter(gen)
        try:
            p.fillRect(QRectF(0, 0, w, h), self._bg())
            self._draw_document(p, w, h)
        finally:
            p.end()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(1100, 380)

    # ------------------------------------------------------------ internals
    def _bg(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.Base)

    def _export_doc(self, width: float):
        doc = self.document().clone(self)
        doc.setTextWidth(width)
        return doc

    def _export_size(self) -> tuple[int, int]:
        w = self._layout_width()
        if w < 200:
            w = self.sizeHint().width()
        doc = self._export_doc(w)
        h = int(doc.size().height()) + 2
        doc.deleteLater()
        return w, h

    def _draw_document(self, p: QPainter, w: int, h: int) -> None:
        doc = self._export_doc(w)
        ctx = QAbstractTextDocumentLayout.PaintContext()
        ctx.palette = self.palette()
        doc.documentLayout().draw(p, ctx)
        doc.deleteLater()

    #: below this viewport width the equations are stacked (symbols, breakdown, result)
    COMPACT_WIDTH = 900

    def _layout_width(self) -> int:
        return self.viewport().width() if self.isVisible() else self.width() - 2 * self.frameWidth()

    def resizeEvent(self, e) -> None:  # noqa: N802
        super().resizeEvent(e)
        compact = self._layout_width() < self.COMPACT_WIDTH
        if compact != self._compact:
            self._compact = compact
            self._render()

    def changeEvent(self, e: QEvent) -> None:  # noqa: N802
        super().changeEvent(e)
        if e.type() == QEvent.Type.PaletteChange:
            self._render()

    def _compute(self) -> None:
        tr = self._trace
        s, t, j = self._sample, self._t, self._unit
        n = int(tr.h.shape[2])
        x = tr.x[s, t]
        h_prev_vec = tr.h0[s] if t == 0 else tr.h[s, t - 1]
        c_prev = float(tr.c0[s, j] if t == 0 else tr.c[s, t - 1, j])
        vals: dict[str, Any] = {}
        W = U = bias = None
        if self._weights is not None:
            W = np.asarray(self._weights["weight_ih_l0"])
            U = np.asarray(self._weights["weight_hh_l0"])
            bias = np.asarray(self._weights["bias_ih_l0"]) + np.asarray(self._weights["bias_hh_l0"])
        for k, gate in enumerate(GATES):
            row = k * n + j
            d: dict[str, float] = {"z": float(tr.z[s, t, row]), "value": float(getattr(tr, gate)[s, t, j])}
            if W is not None:
                d["wx"] = float(W[row] @ x)
                d["uh"] = float(U[row] @ h_prev_vec)
                d["b"] = float(bias[row])
            vals[gate] = d
        vals["c"] = float(tr.c[s, t, j])
        vals["h"] = float(tr.h[s, t, j])
        vals["h_prev"] = float(h_prev_vec[j])
        vals["c_prev"] = c_prev
        self._onehot_col = None
        if self._vocab is not None and x.shape[0] == len(self._vocab):
            nz = np.flatnonzero(x)
            if nz.size == 1 and x[nz[0]] == 1.0:
                self._onehot_col = int(nz[0])
                vals["onehot_col"] = self._onehot_col
        self._vals = vals
        self._x = x
        self._h_prev_vec = h_prev_vec

    def _vec(self, a: np.ndarray, limit: int = 6) -> str:
        items = [fmt(v) for v in a[:limit]]
        if a.shape[0] > limit:
            items.append(f"\u2026 ({a.shape[0]} values)")
        return "[" + ", ".join(items) + "]"

    def _render(self) -> None:
        pal = self.palette()
        fg = pal.color(QPalette.ColorRole.Text)
        bg = pal.color(QPalette.ColorRole.Base)
        muted = QColor(
            round(bg.red() + (fg.red() - bg.red()) * 0.6),
            round(bg.green() + (fg.green() - bg.green()) * 0.6),
            round(bg.blue() + (fg.blue() - bg.blue()) * 0.6),
        ).name()
        if self._trace is None:
            self._vals = {}
            self.setHtml(f'<p style="color:{muted};">No trace yet: train or run the model to see the equations.</p>')
            return
        self._compute()
        self._compact = self._layout_width() < self.COMPACT_WIDTH
        v = self._vals
        tr = self._trace
        s, t, j = self._sample, self._t, self._unit
        T, n = int(tr.h.shape[1]), int(tr.h.shape[2])
        mono = self.MONO
        prev = "0" if t == 0 else "t\u22121"
        hp = f"h<sub>{prev}</sub>"
        cp = f"c<sub>{prev}</sub>"
        num = lambda txt: f'<span style="font-family:{mono};">{txt}</span>'  # noqa: E731
        sym_style = f'style="color:{muted};"'

        parts: list[str] = []
        parts.append(
            f'<p style="font-size:large; margin-bottom:4px;"><b>Unit {j} of {n}</b>'
            f' &nbsp;\u00b7&nbsp; sample {s} &nbsp;\u00b7&nbsp; t = {t + 1} / {T}</p>'
        )
        # inputs
        if self._onehot_col is not None:
            tok = self._vocab[self._onehot_col]  # type: ignore[index]
            xtxt = f"x<sub>t</sub> = one-hot('{html.escape(tok)}') &nbsp;(1 in column {self._onehot_col})"
        else:
            xtxt = f"x<sub>t</sub> = {num(self._vec(self._x))}"
        init = " (initial state)" if t == 0 else ""
        htxt = f"{hp} = {num(self._vec(self._h_prev_vec))}{init}"
        if n > 1:
            htxt += f" &nbsp;(unit {j}: {num(fmt(v['h_prev']))})"
        else:
            htxt = f"{hp} = {num(fmt(v['h_prev']))}{init}"
        ctxt = f"{cp} = {num(fmt(v['c_prev']))}{init}"
        parts.append(f"<p>{xtxt}<br>{htxt}<br>{ctxt} &nbsp;(unit {j})</p>")

        # equations: (key, lhs, formula, breakdown, z part, value, note)
        eqs: list[tuple[str, str, str, str, str, str, str]] = []
        for gate in ("f", "i", "g", "o"):
            d = v[gate]
            fn = "tanh" if gate == "g" else SIGMA
            G = gate
            formula = f"= {fn}(W<sub>{G}</sub> x<sub>t</sub> + U<sub>{G}</sub> {hp} + b<sub>{G}</sub>)"
            brk = ""
            if "wx" in d:
                brk = "= " + num(f"{fn}({fmt(d['wx'])} + {_fmt_term(d['uh'])} + {_fmt_term(d['b'])})")
            zcell = "= " + num(f"{fn}({fmt(d['z'])})")
            eqs.append((gate, f"<b>{G}<sub>t</sub></b>", formula, brk, zcell,
                        "= " + num(_value_chip(d["value"])), GATE_TITLE[gate]))
        f, i, g, o = (v[k]["value"] for k in ("f", "i", "g", "o"))
        c_brk = "= " + num(f"{fmt(f)} \u00d7 {_fmt_term(v['c_prev'])} + {fmt(i)} \u00d7 {_fmt_term(g)}")
        h_brk = "= " + num(f"{fmt(o)} \u00d7 tanh({fmt(v['c'])})")
        eqs.append(("c", "<b>c<sub>t</sub></b>",
                    f"= f<sub>t</sub> \u2299 {cp} + i<sub>t</sub> \u2299 g<sub>t</sub>", c_brk, "",
                    "= " + num(_value_chip(v["c"])), "keep old + write new"))
        eqs.append(("h", "<b>h<sub>t</sub></b>", "= o<sub>t</sub> \u2299 tanh(c<sub>t</sub>)", h_brk, "",
                    "= " + num(_value_chip(v["h"])), "the output"))
        rows: list[str] = []
        td = 'style="padding:3px 6px; white-space:nowrap;"'
        if not self._compact:
            for key, lhs, formula, brk, zc, val, note in eqs:
                rows.append(
                    f"<tr><td {td}>{_chip(key)}</td><td {td}>{lhs}</td>"
                    f"<td {td}><span {sym_style}>{formula}</span></td>"
                    f"<td {td}>{brk}</td><td {td}>{zc}</td><td {td}>{val}</td>"
                    f"<td {td}><span {sym_style}>{note}</span></td></tr>"
                )
        else:
            tdc = 'style="padding:2px 4px 8px 4px;"'
            for key, lhs, formula, brk, zc, val, note in eqs:
                lines = [f"{lhs} <span {sym_style}>{formula}</span>"]
                if brk:
                    lines.append(f"&nbsp;&nbsp;&nbsp;{brk}")
                lines.append(f"&nbsp;&nbsp;&nbsp;{zc + ' ' if zc else ''}{val}")
                rows.append(
                    f"<tr><td {tdc}>{_chip(key)}</td><td {tdc}>" + "<br>".join(lines) + "</td></tr>"
                )
        parts.append('<table cellspacing="0" cellpadding="2">' + "".join(rows) + "</table>")

        # one-hot explanation
        if self._onehot_col is not None and "wx" in v["i"]:
            k = self._onehot_col
            tok = html.escape(self._vocab[k])  # type: ignore[index]
            sep = "<br>" if self._compact else " &nbsp;\u00b7&nbsp; "
            picks = sep.join(
                f"W<sub>{G}</sub> x<sub>t</sub> = " + num(f"W_{G}[:, {k}] \u2192 {fmt(v[G]['wx'])}")
                for G in ("f", "i", "g", "o")
            )
            parts.append(
                f"<p>x<sub>t</sub> is one-hot('{tok}'), so W x<sub>t</sub> just picks column {k} of W "
                f"(row {j} for this unit):<br>{picks}</p>"
            )
        notes = (
            "b = bias_ih + bias_hh. The total inside the brackets and the result are the engine's own "
            "numbers; the three terms are shown rounded and add up to the total."
            if self._weights is not None
            else "No weights given: the pre-activations z are the engine's own numbers."
        )
        parts.append(f'<p style="color:{muted}; font-size:small;">{notes}</p>')
        self.setHtml("".join(parts))

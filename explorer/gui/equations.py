"""The equations of the selected unit, with this timestep's real numbers, for whichever cell is shown.

:class:`EquationsView` shows, like a worked example done by hand::

    i_t = σ(W_i x_t + U_i h_{t−1} + b_i) = σ(0.412 + (−0.031) + 0.000) = σ(0.381) = 0.594

one row per equation of the cell (LSTM: i, f, g, o, c, h; the peephole LSTM adds p ⊙ c; the GRU:
r, z, the candidate with r ⊙ (U_n h + b_hn) and its two biases kept apart, h; the RNN: h). The
rows — formulas and numbers — are the engine's description's
(:meth:`~explorer.app.cell_view.CellView.equation_rows`, Qt-free, shared with the command
line and the tests); this view only lays them out. The view subscribes to the session and reads
its position and trace when it renders; :meth:`EquationsView.equation_values` returns exactly the
numbers shown.
"""

from __future__ import annotations

import dataclasses
import html
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QRectF, QSize
from PySide6.QtGui import QAbstractTextDocumentLayout, QColor, QFontInfo, QImage, QPainter, QPalette
from PySide6.QtWidgets import QTextBrowser, QWidget

from explorer.app.layer_view import LayerPlace
from explorer.app.session import Session
from explorer.app.teaching import held_at
from explorer.app.backward_view import backward_rows
from explorer.app.cell_view import COLORS, EquationRow, fmt, formula_parts, gfmt, input_column
from explorer.figures.colors import diverging_color, text_color_on
from explorer.figures.export_files import svg_recording, write_file, write_png
from explorer.gui.session_view import SessionViewMixin

__all__ = ["EquationsView", "math_html"]

def math_html(text: str) -> str:
    """A formula of the description (``W_i x_t + U_i h_{t−1}``) as HTML with subscripts."""
    return "".join(f"<sub>{html.escape(p)}</sub>" if sub else html.escape(p) for p, sub in formula_parts(text))


def _chip(key: str, label: str | None = None) -> str:
    col = QColor(COLORS.get(key, COLORS["x"]))
    tc = text_color_on(col)
    return (f'<span style="background-color:{col.name()}; color:{tc.name()}; font-weight:bold;">'
            f"&nbsp;{html.escape(label or key)}&nbsp;</span>")


def _row_chip(key: str) -> str:
    """A row's colour chip: its gate or state; a backward row's the quantity it differentiates."""
    if key in _BACK_CHIPS:
        return _chip(*_BACK_CHIPS[key])
    if key.startswith("dz_"):
        return _chip(key[3:])
    return _chip(key)


def _value_chip(v: float, vmax: float = 1.0, text=fmt) -> str:
    col = diverging_color(v, vmax)
    tc = text_color_on(col)
    return (f'<span style="background-color:{col.name()}; color:{tc.name()}; font-weight:bold;">'
            f"&nbsp;{text(v)}&nbsp;</span>")


#: the colour chip of a backward row: the quantity whose gradient it is
_BACK_CHIPS = {"dh": ("h", "h"), "dh_prev": ("h", "h"), "dc": ("c", "c"), "dc_prev": ("c", "c"), "dz": ("h", "z"),
               "shrink": ("x", "\u2016\u2016"), "running": ("x", "\u220f")}


HELD_BACKWARD_NOTE = ("Interventions are active: a held value is a constant, so no gradient reaches the "
                      "pre-activation it replaces (its \u2202L/\u2202z is 0 where it is held). The paths back "
                      "through U are written for the free cell: where a gate of the next step is held, "
                      "\u201cfrom above\u201d also takes up their difference.")


def _held_back_row(row: EquationRow) -> EquationRow:
    """The ∂L/∂z row of a gate held at this step and unit: 0, as the engine has it."""
    return dataclasses.replace(row, numbers="0 (held: a constant passes no gradient back)", value=0.0,
                               value_text="0", value_rel="=",
                               terms={"held": 1.0}, note="held by an intervention: no gradient to its weights here")


class EquationsView(SessionViewMixin, QTextBrowser):
    """Rich-text worked example of one step of the session's cell for the selected unit.

    ``EquationsView(session)``; without a session the view makes a private one, driven by the
    methods ``set_trace`` and ``set_position`` (thin shims onto it).
    """

    MONO = "monospace"              # one generic family: browsers and Qt's SVG renderer both resolve it
    #: below this viewport width the equations are stacked (symbols, breakdown, result)
    COMPACT_WIDTH = 900

    def __init__(self, session: Session | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setOpenLinks(False)
        self.setFrameShape(QTextBrowser.Shape.NoFrame)
        self._weights_cache: Any = None
        self._vals: dict[str, Any] = {}
        self._notes: list[str] = []
        self._grads: Any = None             # StateGrads: the backward mode shows them (None: forward)
        self._compact = False
        self._presenting = False            # presenter mode: the equations alone, fitted to the width
        self._fit_compact = False           # presenting: the wide table did not fit, so stacked
        self._fit_short = False             # presenting: stacked did not fit the height, so one line a row
        self._rendering = False
        self._export_layout = False         # an export is being laid out: the wide table whatever the width
        self._init_session(session)
        self._render()

    def _refresh(self) -> None:
        self._render()

    def _on_session_trace(self, trace) -> None:
        self._weights_cache = None
        self._render()

    def _on_session_run(self, run) -> None:
        self._weights_cache = None
        super()._on_session_run(run)

    # -- what is shown --------------------------------------------------------------------------------
    def _weights(self) -> dict | None:
        """The state dict that computed the trace (the session's, else the run's current one)."""
        if self._weights_cache is None:
            w = self.session.trace_weights
            if w is None and getattr(self.session.run, "model", None) is not None:
                w = self.session.run.model.state_dict()
            self._weights_cache = w
        return self._weights_cache

    def equation_values(self) -> dict[str, Any]:
        """Exactly the numbers shown: per row key {"preact" (also as "z", unless
        a term is called z), "value", and every term shown (wx, uh, b …)}, "h_prev" (and "c_prev"),
        plus "onehot_col" when the input picks one column."""
        return {k: dict(v) if isinstance(v, dict) else v for k, v in self._vals.items()}

    def text(self) -> str:
        return self.toPlainText()

    def set_backward(self, grads) -> None:
        """Show the backward pass at the session's position: ``grads`` is ``model.state_grads(x,
        target)`` for the session's trace (its sample, the weights that computed it); None goes
        back to the forward equations. Rows: :func:`explorer.app.backward_view.backward_rows` — for
        the LSTM ∂L/∂c_t = ∂L/∂h_t ⊙ o_t ⊙ (1 − tanh² c_t) + ∂L/∂c_{t+1} ⊙ f_{t+1} with its
        numbers, for the GRU ∂L/∂h_t by its paths, for the RNN the factor that makes it vanish.
        Stepping from T down to 1 is moving the session's t down."""
        self._grads = grads
        self._render()

    def set_presenting(self, on: bool) -> None:
        """Presenter mode: only the title and the equations (the inputs, the gates' names and the
        footnote go — the diagram shows them), and stacked as soon as the table would not fit the
        width (no sideways scrolling on a projector)."""
        self._presenting = bool(on)
        self._render()

    @property
    def presenting(self) -> bool:
        return self._presenting

    @property
    def backward(self) -> bool:
        """Whether the backward pass is shown."""
        return self._grads is not None

    def notes(self) -> list[str]:
        """The example's notes shown under the equations at this step (the worked example: which
        weights it uses, where the article's arithmetic differs); [] for other data."""
        return list(self._notes)

    def _example_notes(self, t: int) -> list[str]:
        cfg = getattr(getattr(self.session.run, "dataset", None), "config", None) or {}
        if cfg.get("type") != "example":
            return []
        from explorer.data.examples import example_notes

        return example_notes(cfg.get("example"), t, self._weights())

    # -- export --------------------------------------------------------------------------------------
    def export_png(self, path: str, scale: float = 2) -> bool:
        return write_png(self.render_image(scale), path)

    def render_image(self, scale: float = 2) -> QImage:
        """The equations at ``scale`` × their export size."""
        w, h = self._export_size()
        img = QImage(max(1, round(w * scale)), max(1, round(h * scale)), QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(self._bg())
        p = QPainter(img)
        try:
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
            p.scale(scale, scale)
            self._draw_document(p, w)
        finally:
            p.end()
        return img

    def export_svg(self, path: str) -> None:
        """The equations as an SVG, written whole or not at all (OSError says why)."""
        write_file(path, self.svg_bytes())

    def svg_bytes(self) -> bytes:
        """The SVG document :meth:`export_svg` writes."""
        w, h = self._export_size()
        with svg_recording(QSize(w, h), self.logicalDpiX(), f"{self.description.title} equations") as (p, out):
            p.fillRect(QRectF(0, 0, w, h), self._bg())
            self._draw_document(p, w)
        return out[0]

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(1100, 380)

    def _bg(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.Base)

    #: presenting on a window lower than this (px), stacked rows are one line each (the diagram
    #: keeps the height: a 1024×700 projector)
    SHORT_SCREEN = 800

    #: the width (logical px) an export is laid out at, whatever the window: the wide table, wider
    #: where its rows need it
    EXPORT_WIDTH = 1100

    def _export_doc(self, width: float | None = None):
        """The equations laid out for an export: the wide table (not the window's stacked one),
        ``width`` wide (None: :attr:`EXPORT_WIDTH` or the table's own width if wider)."""
        self._export_layout = True
        try:
            self._render()
            doc = self.document().clone(self)
        finally:
            self._export_layout = False
            self._render()
        if width is None:
            doc.setTextWidth(self.EXPORT_WIDTH)
            width = max(self.EXPORT_WIDTH, int(doc.idealWidth()) + 8)
        doc.setTextWidth(width)
        return doc

    def _export_size(self) -> tuple[int, int]:
        doc = self._export_doc()
        w, h = int(doc.textWidth()), int(doc.size().height()) + 2
        doc.deleteLater()
        return w, h

    def _draw_document(self, p: QPainter, w: int) -> None:
        doc = self._export_doc(w)
        ctx = QAbstractTextDocumentLayout.PaintContext()
        ctx.palette = self.palette()
        doc.documentLayout().draw(p, ctx)
        doc.deleteLater()

    def _layout_width(self) -> int:
        return self.viewport().width() if self.isVisible() else self.width() - 2 * self.frameWidth()

    def resizeEvent(self, e) -> None:  # noqa: N802
        super().resizeEvent(e)
        compact = self._layout_width() < self.COMPACT_WIDTH
        if compact != self._compact or (self._presenting and e.oldSize() != e.size()):
            self._compact = compact
            self._render()

    def changeEvent(self, e: QEvent) -> None:  # noqa: N802
        super().changeEvent(e)
        if e.type() == QEvent.Type.PaletteChange:
            self._render()

    # -- rendering ------------------------------------------------------------------------------------
    def _vec(self, a: np.ndarray, limit: int = 6) -> str:
        a = np.atleast_1d(np.asarray(a))
        items = [fmt(v) for v in a[:limit]]
        if a.shape[0] > limit:
            items.append(f"\u2026 ({a.shape[0]} values)")
        return "[" + ", ".join(items) + "]"

    def refresh(self) -> None:
        """Lay the equations out again (the window's size or mode changed)."""
        self._render()

    def _render(self) -> None:
        if self._rendering:                 # a resize while the document is being replaced
            return
        self._rendering = True
        try:
            self._fit_compact = False
            self._fit_short = False
            self._render_once()
        finally:
            self._rendering = False

    def _render_once(self) -> None:
        pal = self.palette()
        fg, bg = pal.color(QPalette.ColorRole.Text), pal.color(QPalette.ColorRole.Base)
        muted = QColor(round(bg.red() + (fg.red() - bg.red()) * 0.6), round(bg.green() + (fg.green() - bg.green()) * 0.6),
                       round(bg.blue() + (fg.blue() - bg.blue()) * 0.6)).name()
        tr = self.session.view_trace()
        if tr is None:
            self._vals = {}
            self._notes = []
            self.setHtml(f'<p style="color:{muted};">No trace yet: train or run the model to see the equations.</p>')
            return
        desc = self.description
        pos = self.session.position
        T, n = int(tr.T), int(tr.h.shape[-1])
        t, j = min(pos.t, T - 1), min(pos.unit, n - 1)
        if self._grads is not None:
            self._render_backward(desc, t, j, T, n, muted)
            return
        rec = desc.record(tr, 0, t)
        weights = self._weights()
        place = LayerPlace.of(self.session.trace, pos.layer, pos.direction)
        rows = desc.equation_rows(rec, weights, j, layer=pos.layer, direction=pos.direction, t=t, T=T)
        col = input_column(rec["x"])
        vals: dict[str, Any] = {r.key: {"preact": r.preact, "z": r.preact, "value": r.value, **r.terms}
                                for r in rows}
        vals["h_prev"] = float(rec["h_prev"][j])
        if "c_prev" in rec:
            vals["c_prev"] = float(rec["c_prev"][j])
        if col is not None:
            vals["onehot_col"] = col
        self._vals = vals
        self._compact = (self._layout_width() < self.COMPACT_WIDTH or self._fit_compact) and not self._export_layout
        mono = self.MONO
        num = lambda txt: f'<span style="font-family:{mono};">{txt}</span>'  # noqa: E731
        sym = f'style="color:{muted};"'
        prev = place.prev_sub(t)                 # the reverse direction's previous state is t + 1's
        init = " (initial state)" if place.first(t) else ""
        where = self._place_html()
        parts = [f'<p style="font-size:large; margin-bottom:4px;">{html.escape(desc.title)} &nbsp;\u00b7&nbsp; '
                 f'<b>Unit {j} of {n}</b> &nbsp;\u00b7&nbsp; sample {self._shown_sample()} &nbsp;\u00b7&nbsp; '
                 f't = {t + 1} / {T}{where}{self._epoch_html()}</p>', self._waiting_html(muted)]
        # inputs
        tok = self._vocab[col] if col is not None and self._vocab is not None and col < len(self._vocab) else None
        if tok is not None:
            xtxt = f"x<sub>t</sub> = one-hot('{html.escape(tok)}') &nbsp;(1 in column {col})"
        elif place.layer > 0:                    # a deeper layer: x_t is the layer below's h_t (D·n values)
            xtxt = f"x<sub>t</sub> = {math_html(place.input_text)} = {num(self._vec(rec['x']))}"
        else:
            note = html.escape(self.x_note)
            xtxt = f"x<sub>t</sub> = {num(self._vec(rec['x']))}" + (f" &nbsp;({note})" if note else "")
        if n > 1:
            htxt = (f"h<sub>{prev}</sub> = {num(self._vec(rec['h_prev']))}{init} &nbsp;(unit {j}: "
                    f"{num(fmt(vals['h_prev']))})")
        else:
            htxt = f"h<sub>{prev}</sub> = {num(fmt(vals['h_prev']))}{init}"
        lines = [xtxt, htxt]
        if "c_prev" in vals:
            lines.append(f"c<sub>{prev}</sub> = {num(fmt(vals['c_prev']))}{init} &nbsp;(unit {j})")
        if place.stacked and weights is not None:        # which of the model's weights these rows use
            sfx = place.weight_suffix
            lines.append(f'<span style="color:{muted};">W = weight_ih{sfx}, U = weight_hh{sfx}</span>')
        if not self._presenting:
            parts.append("<p>" + "<br>".join(lines) + "</p>")
        held = held_at(self.session.shown_interventions(), pos.layer, pos.direction, j, t)
        parts.append(self._table(rows, num, sym, held=held))
        self._notes = self._example_notes(t) if pos.layer == 0 and pos.direction == 0 else []
        if self._notes:
            accent = QColor(COLORS["g"])
            box = QColor(round(bg.red() + (accent.red() - bg.red()) * 0.16),
                         round(bg.green() + (accent.green() - bg.green()) * 0.16),
                         round(bg.blue() + (accent.blue() - bg.blue()) * 0.16)).name()
            items = "".join(f"<li>{math_html(n)}</li>" for n in self._notes)
            parts.append(f'<table width="100%" cellpadding="6" cellspacing="0" bgcolor="{box}"><tr><td>'
                         f'<b>Notes on this example</b><ul style="margin-top:2px; margin-bottom:0px;">{items}</ul>'
                         "</td></tr></table>")
        # one-hot: W x picks a column of W
        if col is not None and weights is not None:
            picks = [self._pick(r, col, num) for r in rows if "wx" in r.terms]
            sep = "<br>" if self._compact else " &nbsp;\u00b7&nbsp; "
            what = f"one-hot('{html.escape(tok)}')" if tok is not None else f"token {col}"
            parts.append(f"<p>x<sub>t</sub> is {what}, so W x<sub>t</sub> just picks column {col} of W "
                         f"(row {j} for this unit):<br>{sep.join(picks)}</p>")
        note = desc.bias_note if weights is not None else (
            "No weights given: the pre-activations are the engine's own numbers.")
        small = max(8, round(QFontInfo(self.font()).pixelSize() * 0.85))      # px: the same in PNG and SVG
        if not self._presenting:
            parts.append(f'<p style="color:{muted}; font-size:{small}px;">{html.escape(note)}</p>')
        self._set_html(parts)

    def _render_backward(self, desc, t: int, j: int, T: int, n: int, muted: str) -> None:
        pos = self.session.position
        step_rows = backward_rows(desc, self.session.trace, self._grads, t, j, self._weights(), layer=pos.layer,
                                  direction=pos.direction)
        held = held_at(self.session.shown_interventions(), pos.layer, pos.direction, j, t)
        if held:                            # a held value is a constant: the engine passes nothing to its z
            step_rows = [_held_back_row(r) if r.key.startswith("dz_") and r.key[3:] in held else r
                         for r in step_rows]
        self._vals = {r.key: {"value": r.value, **r.terms} for r in step_rows}
        self._notes = []
        self._compact = (self._layout_width() < self.COMPACT_WIDTH or self._fit_compact) and not self._export_layout
        mono = self.MONO
        num = lambda txt: f'<span style="font-family:{mono};">{txt}</span>'  # noqa: E731
        sym = f'style="color:{muted};"'
        grads = self._grads.layer(pos.layer, pos.direction) if getattr(self._grads, "layers", ()) else self._grads
        both = [np.abs(a[0]) for a in (grads.dh, grads.dc) if a is not None]
        vmax = float(max(a.max() for a in both)) if both else 1.0
        parts = [f'<p style="font-size:large; margin-bottom:4px;">{html.escape(desc.title)} &nbsp;\u00b7&nbsp; '
                 f'<b>backward</b> &nbsp;\u00b7&nbsp; <b>Unit {j} of {n}</b> &nbsp;\u00b7&nbsp; sample {self._shown_sample()} '
                 f'&nbsp;\u00b7&nbsp; t = {t + 1} / {T}{self._place_html()}{self._epoch_html()}</p>', self._waiting_html(muted),
                 self._table(step_rows, num, sym, vmax=vmax or 1.0, text=gfmt)]
        small = max(8, round(QFontInfo(self.font()).pixelSize() * 0.85))
        if self.session.shown_interventions():
            parts.append(f'<p style="color:{muted}; font-size:{small}px;">{html.escape(HELD_BACKWARD_NOTE)}</p>')
        note = ("The gradients backpropagation through time carries at this step (model.state_grads): the values are "
                "the engine's own, the terms are computed from the trace and add up to them on screen (\u2248 where the "
                "shown digits cannot). Step from T down to 1.")
        if not self._presenting:
            parts.append(f'<p style="color:{muted}; font-size:{small}px;">{html.escape(note)}</p>')
        self._set_html(parts)

    def _shown_sample(self) -> str:
        """The sample the drawn numbers are of ("3 (edited)" for an edited input; not the one asked
        for while it is computed)."""
        src = self.session.trace_source
        return html.escape(str(self.session.position.sample) if src is None else src.sample_text())

    def _place_html(self) -> str:
        """The layer and direction shown, for a deep or bidirectional model ("" for one layer)."""
        pos = self.session.position
        place = LayerPlace.of(self.session.trace, pos.layer, pos.direction)
        return f" &nbsp;\u00b7&nbsp; {html.escape(place.name)}" if place.stacked else ""

    def _epoch_html(self) -> str:
        text = self.epoch_text()
        return f" &nbsp;\u00b7&nbsp; <b>{html.escape(text)}</b>" if text else ""

    def _waiting_html(self, muted: str) -> str:
        text = self.session.waiting_text()
        return f'<p style="color:{muted};"><i>{html.escape(text)}</i></p>' if text else ""

    def _set_html(self, parts: list) -> None:
        self.setHtml("".join(parts))
        if (self._presenting and not self._compact and not self._export_layout
                and self.document().idealWidth() > self._layout_width()):
            self._fit_compact = True            # too wide for the screen: stacked instead
            self._render_once()
        elif (self._presenting and (self._compact or self._fit_compact) and not self._fit_short
              and not self._export_layout and self.isVisible()
              and (self.document().size().height() > self.viewport().height()
                   or self.window().height() < self.SHORT_SCREEN)):
            self._fit_short = True              # too tall, or a short screen: the numbers alone, one line a row
            self._render_once()

    @staticmethod
    def _pick(r: EquationRow, col: int, num) -> str:
        w = f"W_{r.block}" if r.block else "W"
        return f"{math_html(w)} x<sub>t</sub> = " + num(f"{w}[:, {col}] \u2192 {fmt(r.terms['wx'])}")

    def _table(self, rows: list[EquationRow], num, sym: str, vmax: float = 1.0, text=fmt, held=None) -> str:
        """The rows as a table; a row an intervention holds (``held``: {key: value}) shows what the
        cell computed and then "held at" the value the trace carries on."""
        cells = []
        held = held or {}
        for r in rows:
            lhs = f"<b>{math_html(r.lhs)}</b>"
            formula = "= " + math_html(r.formula)
            brk = "= " + num(html.escape(r.numbers)) if r.numbers else ""
            zc = (f"{r.preact_rel} " + num(f"{r.activation}({r.preact_text or fmt(r.preact)})")
                  if r.activation and r.preact is not None else "")
            ratio = r.key in ("shrink", "running")           # a ratio, not a gradient: a neutral chip
            shown = (lambda _v, s=r.value_text: s) if r.value_text else text
            val = f"{r.value_rel} " + num(_value_chip(r.value, 1e300 if ratio else vmax, shown))
            note = html.escape(r.note)
            if r.key in held:
                val = "<b>held at</b> " + num(_value_chip(r.value, vmax, text))
                note = (note + " · " if note else "") + "held by an intervention"
            cells.append((r.key, lhs, formula, brk, zc, val, note))
        out = []
        if not self._compact:
            td = 'style="padding:3px 6px; white-space:nowrap;"'
            for key, lhs, formula, brk, zc, val, note in cells:
                named = "" if self._presenting else f"<td {td}><span {sym}>{note}</span></td>"
                out.append(f"<tr><td {td}>{_row_chip(key)}</td><td {td}>{lhs}</td><td {td}><span {sym}>{formula}</span></td>"
                           f"<td {td}>{brk}</td><td {td}>{zc}</td><td {td}>{val}</td>{named}</tr>")
        else:
            tdc = 'style="padding:2px 4px 8px 4px;"'
            for key, lhs, formula, brk, zc, val, _note in cells:
                lines = [f"{lhs} <span {sym}>{formula}</span>"]
                if self._presenting and self._fit_short:      # a short screen: the numbers alone
                    lines = [f"{lhs} " + " ".join(x for x in (brk, zc, val) if x)]
                    out.append(f"<tr><td {tdc}>{_row_chip(key)}</td><td {tdc}>" + "<br>".join(lines) + "</td></tr>")
                    continue
                if self._presenting:                 # two lines a row: the formula, then its numbers
                    lines.append("&nbsp;&nbsp;&nbsp;" + " ".join(x for x in (brk, zc, val) if x))
                    out.append(f"<tr><td {tdc}>{_row_chip(key)}</td><td {tdc}>" + "<br>".join(lines) + "</td></tr>")
                    continue
                if brk:
                    lines.append(f"&nbsp;&nbsp;&nbsp;{brk}")
                lines.append(f"&nbsp;&nbsp;&nbsp;{zc + ' ' if zc else ''}{val}")
                out.append(f"<tr><td {tdc}>{_row_chip(key)}</td><td {tdc}>" + "<br>".join(lines) + "</td></tr>")
        return '<table cellspacing="0" cellpadding="2">' + "".join(out) + "</table>"

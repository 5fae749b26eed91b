"""Text mode: the sample's characters (or words) in a strip, the current one highlighted, and
beside them the true next token and the model's five most likely next tokens.

Characters sit in equal cells; words are drawn as words, each as wide as it is written, with a
space between them (:func:`strip_window` picks the ones that fit around the current one).

A session view: reads ``session.view_trace()``, ``session.position`` and the run's dataset
when it paints; hidden unless the run is text.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from explorer.app.edit import edited_pair
from explorer.engine import softmax

TOP_K = 5
VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍"}


def visible(c: str) -> str:
    """A character as it can be seen (space, newline and tab get symbols)."""
    return VISIBLE.get(c, c)


def strip_window(widths: list[float], t: int, avail: float) -> tuple[int, int]:
    """``(start, stop)``: the run of tokens around token ``t`` whose ``widths`` fit in ``avail``,
    ``t`` as near the middle as the ends allow; at least token ``t`` itself."""
    n = len(widths)
    t = min(max(int(t), 0), n - 1)
    start, stop, used = t, t + 1, widths[t]
    while True:
        grew = False
        # alternate right then left, so the current token stays near the middle
        if stop < n and used + widths[stop] <= avail and (stop - t <= t - start or start == 0):
            used += widths[stop]
            stop += 1
            grew = True
        elif start > 0 and used + widths[start - 1] <= avail:
            start -= 1
            used += widths[start]
            grew = True
        elif stop < n and used + widths[stop] <= avail:
            used += widths[stop]
            stop += 1
            grew = True
        if not grew:
            return start, stop


class TextStripWidget(QWidget):
    """The selected sample's text with the timestep's character highlighted and the predictions."""

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._font = QFont("DejaVu Sans Mono")
        self._font.setStyleHint(QFont.StyleHint.Monospace)
        self._font.setPixelSize(15)
        self.setFixedHeight(int(QFontMetricsF(self._font).height() * 2 + 14))
        self.setToolTip("The sample's text: the highlighted character is the input at this timestep; "
                        "right: the true next character and the five the model finds most likely")
        for ev in (session.events.trace, session.events.position, session.events.run):
            ev.connect(self._on_session_changed)
        self._on_session_changed()

    # -- what it shows (read from the session) ----------------------------------------------------
    def _vocab(self):
        ds = getattr(self.session.run, "dataset", None)
        return None if ds is None or ds.kind != "text" else ds.vocab

    @property
    def level(self) -> str:
        """"word" when the run reads words, else "char"."""
        corpus = getattr(getattr(self.session.run, "dataset", None), "corpus", None)
        return "word" if getattr(corpus, "level", "char") == "word" else "char"

    @property
    def chars(self) -> list[str]:
        """The sample's input tokens (characters, or words), one per timestep."""
        tr, vocab = self.session.view_trace(), self._vocab()
        if tr is None or vocab is None:
            return []
        tokens = getattr(tr, "tokens", None)
        x = np.asarray(tokens[0] if tokens is not None else tr.x[0])
        ids = x if x.ndim == 1 else x.argmax(axis=-1)          # token ids, or one-hot rows
        return [vocab[int(j)] for j in ids]

    @property
    def current(self) -> int:
        return self.session.position.t

    @property
    def next_char(self) -> str | None:
        """The character that really follows the current one (the target at this timestep)."""
        ds, vocab = getattr(self.session.run, "dataset", None), self._vocab()
        if vocab is None:
            return None
        ys = ds.y_val if ds.n_val else ds.y_train
        src = self.session.trace_source            # the sample whose trace is drawn beside it
        b = min(self.session.position.sample if src is None else src.sample, len(ys) - 1)
        if src is not None and src.edit is not None:          # an edited text's own next characters
            ys, b = edited_pair(ds, src)[1], 0
        t = self.current
        y = np.asarray(ys[b])
        return vocab[int(y[t] if y.ndim else y)] if y.ndim == 0 or t < y.shape[0] else None

    @property
    def top_k(self) -> list[tuple[str, float]]:
        tr, vocab = self.session.view_trace(), self._vocab()
        if tr is None or vocab is None:
            return []
        t = min(self.current, tr.T - 1)
        p = softmax(np.asarray(tr.y[0, t], dtype=float))
        top = np.argsort(p)[::-1][:TOP_K]
        return [(vocab[int(j)], float(p[j])) for j in top]

    def _on_session_changed(self, *_):
        self.setVisible(self._vocab() is not None)
        self.update()

    # -- painting ----------------------------------------------------------------------------------
    def paintEvent(self, e):  # noqa: N802
        chars = self.chars
        if not chars:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        fg = pal.color(QPalette.ColorRole.Text)
        muted = pal.color(QPalette.ColorRole.PlaceholderText)
        hi = pal.color(QPalette.ColorRole.Highlight)
        hi_text = pal.color(QPalette.ColorRole.HighlightedText)
        p.setFont(self._font)
        fm = QFontMetricsF(self._font)
        lh = fm.height()
        w, h = self.width(), self.height()
        right, rw, strip_w, shown, widths, (start, stop) = self._layout(chars)
        t = min(self.current, len(chars) - 1)
        y0 = (h - lh) / 2 - 4
        x = 6.0
        for j in range(start, stop):
            r = QRectF(x, y0, widths[j], lh + 4)
            x += widths[j]
            c = shown[j]
            if j == t:
                p.fillRect(r, hi)
                p.setPen(hi_text)
            else:
                p.setPen(fg if j < t else muted)
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, c)
        p.setPen(muted)
        p.setFont(QFont(self.font()))
        p.drawText(QRectF(6, y0 + lh + 4, strip_w, h - y0 - lh - 4), Qt.AlignmentFlag.AlignLeft,
                   f"t = {t + 1} of {len(chars)}")
        p.setFont(self._font)
        p.setPen(fg)
        p.drawText(QRectF(w - rw, 0, rw - 6, h), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, right)
        p.end()

    def _layout(self, chars: list[str]):
        """(right text, its width, the strip's width, the tokens as drawn, their widths, (start,
        stop)): the next token and the top five on the right, shortened (…) where the tokens need
        the room (they keep at least half the width); the tokens that fit left of them."""
        fm = QFontMetricsF(self._font)
        cw = fm.horizontalAdvance("M") + 2
        shown = [visible(c) for c in chars]
        if self.level == "word":
            widths = [fm.horizontalAdvance(c) + fm.horizontalAdvance(" ") + 4 for c in shown]
        else:
            widths = [cw] * len(shown)
        room = max(self.width() - min(sum(widths), self.width() * 0.5) - 34, 60)
        right = fm.elidedText(self._right_text(), Qt.TextElideMode.ElideRight, room)
        rw = fm.horizontalAdvance(right) + 16
        strip_w = max(cw, self.width() - rw - 18)
        window = strip_window(widths, min(self.current, len(chars) - 1), strip_w)
        return right, rw, strip_w, shown, widths, window

    def drawn_tokens(self) -> tuple[list[str], float, float]:
        """What the strip draws now: the tokens, the right edge of the last one and the left edge
        of the text on the right (the strip never reaches it)."""
        chars = self.chars
        if not chars:
            return [], 0.0, float(self.width())
        right, rw, _, shown, widths, (start, stop) = self._layout(chars)
        return shown[start:stop], 6.0 + sum(widths[start:stop]), float(self.width() - rw)

    def _right_text(self) -> str:
        nxt = self.next_char
        top = "  ".join(f"{visible(c)} {q:.0%}" for c, q in self.top_k)
        return f"next: {visible(nxt) if nxt is not None else '—'}   predicted: {top}"

    def sizeHint(self):  # noqa: N802
        return QSize(600, self.height())

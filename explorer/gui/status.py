"""Where controllers report: the status line, the progress box and the banner, behind one interface.

A controller is given a :class:`StatusSink` (never the window): :class:`WindowStatus` is the
window's, built from its status bar, progress box and banner; a test hands a controller any
object with the same methods.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from PySide6.QtCore import QObject


class StatusSink(Protocol):
    """What a controller may say: a passing status line, a task's progress, the banner's messages."""

    def show_status(self, text: str, timeout_ms: int = 0) -> None: ...

    def clear_status(self) -> None: ...

    def task_progress(self, progress) -> None:
        """``(fraction, text)`` of a background task; ``(1.0, "")`` when it ended. Connected to
        workers' signals: a sink that touches widgets is a QObject of the GUI thread (as
        :class:`WindowStatus` is), so the calls arrive there, queued."""

    def update_progress(self) -> None:
        """The training progress (epoch, step, loss) changed."""

    def show_message(self, text: str, kind: str = "info", actions=(), topic: str = "") -> None: ...

    def resolve(self, *topics: str) -> None: ...

    def add_permanent_widget(self, widget) -> None: ...


def fmt_number(v) -> str:
    """Four significant digits; scientific notation for huge and tiny numbers."""
    v = float(v)
    if not np.isfinite(v):
        return str(v)
    return f"{v:.4g}" if v == 0 or 1e-4 <= abs(v) < 1e6 else f"{v:.3e}"


class WindowStatus(QObject):
    """A window's :class:`StatusSink`: its status bar, its banner and, in the main window, the
    progress box beside the status bar (the ``session``'s epoch, step and loss; a background task's
    progress while not training). ``seconds_left()`` and ``training()`` are asked when the
    progress is drawn. A window without a progress box (the comparison view draws its own) passes
    None for ``progress_bar``, ``progress_label`` and ``session``."""

    def __init__(self, status_bar, banner, progress_bar=None, progress_label=None, session=None, parent=None):
        super().__init__(parent)
        self.status_bar, self.progress_bar, self.progress_label = status_bar, progress_bar, progress_label
        self.banner, self.session = banner, session
        self.seconds_left = lambda: None
        self.training = lambda: False

    def show_status(self, text: str, timeout_ms: int = 0) -> None:
        self.status_bar.showMessage(text, timeout_ms)

    def clear_status(self) -> None:
        self.status_bar.clearMessage()

    def show_message(self, text: str, kind: str = "info", actions=(), topic: str = "") -> None:
        self.banner.show_message(text, kind, actions=actions, topic=topic)

    def resolve(self, *topics: str) -> None:
        self.banner.resolve(*topics)

    def add_permanent_widget(self, widget) -> None:
        self.status_bar.addPermanentWidget(widget)

    def update_progress(self) -> None:
        if self.session is None:
            return
        p = self.session.progress
        self._set_bar(p.step, max(p.total_steps, 1))
        left = ""
        secs = self.seconds_left()
        if secs is not None:
            secs = int(secs)
            left = f" · {secs // 60:02d}:{secs % 60:02d} left"
        ltxt = "" if not np.isfinite(p.loss) else f" · loss {fmt_number(p.loss)}"
        vtxt = "" if not np.isfinite(p.val_loss) else f" · val {fmt_number(p.val_loss)}"
        text = f"epoch {p.epoch}/{p.epochs} · step {p.step}{ltxt}{vtxt}{left}"
        self.progress_label.setText(text)
        self.progress_label.setMinimumWidth(self.progress_label.fontMetrics().horizontalAdvance(text) + 6)

    def _set_bar(self, value, total) -> None:
        bar = self.progress_bar
        if bar.maximum() != total:
            bar.setRange(0, total)
        value = min(value, total)
        if value * 100 // total != bar.value() * 100 // total:   # repaints only per percent
            bar.setValue(value)

    def task_progress(self, progress) -> None:
        """A background task's progress (loading, predictions): in the progress box while not training."""
        fraction, text = progress
        if self.progress_bar is None or self.training():
            return
        if text and fraction < 1.0:
            self.progress_bar.setFormat(f"{text} %p%")
            self._set_bar(int(fraction * 1000), 1000)
        else:
            self.progress_bar.setFormat("%p%")
            self.update_progress()

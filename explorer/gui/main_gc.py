"""Python's cyclic garbage collected on the GUI thread only.

CPython runs its cyclic collector in whichever thread happens to allocate when a generation's
count passes its threshold. When that is a worker thread and the garbage holds Qt objects (a closed
window's menus and actions, a plot's items), their C++ destructors run in the worker: the
destructor takes a QObject lock and waits for the interpreter lock, while the GUI thread — holding
the interpreter lock inside a paint — waits for that QObject lock, and the program hangs (seen as
the GUI thread stuck in ``AxisItem.boundingRect`` and a worker in ``gc_collect_main``). A GUI
process therefore turns automatic collection off and collects from a timer on the GUI thread, by
the thresholds Python itself uses (:class:`MainThreadCollector`, installed by
:func:`collect_on_gui_thread`). Reference counting frees everything without cycles as before.

A full collection scans every object the collector tracks: with the libraries and the window
loaded that is some 80,000 objects and 25–50 ms of the GUI thread in one block. At the first
event-loop turn the collector therefore collects once and freezes the survivors (``gc.freeze``:
the modules, classes and the window built at start); later full collections scan only what was
made since (under 1 ms). That first turn is the one block of its size, at start. What was frozen
may become garbage later — the run the window opened with, once another replaces it — so a
window calls :func:`refreeze_later` when its run changes: everything is unfrozen at once and
frozen again, after one full collection, in a turn of its own.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

__all__ = ["MainThreadCollector", "collect_on_gui_thread", "refreeze_later"]


class MainThreadCollector(QObject):
    """Every :attr:`INTERVAL_MS` on the GUI thread: collect the generations whose counts passed
    Python's thresholds (``gc.get_threshold()``), youngest first, as the interpreter would."""

    INTERVAL_MS = 250

    def __init__(self, parent=None):
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        self.collections = [0, 0, 0]
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(self.INTERVAL_MS)
        self.frozen = 0
        QTimer.singleShot(0, self, self.settle)

    def settle(self) -> int:
        """Collect everything once and freeze what survives (what the program has built so far);
        the number of objects frozen."""
        gc.collect()
        gc.freeze()
        self.frozen = gc.get_freeze_count()
        return self.frozen

    def refreeze(self) -> None:
        """Unfreeze everything now (what was frozen may be garbage) and :meth:`settle` again in a
        later event-loop turn of its own."""
        gc.unfreeze()
        QTimer.singleShot(0, self, self.settle)

    def check(self) -> int:
        """Collect what is due; the number of unreachable objects found."""
        found = 0
        counts = gc.get_count()
        for gen in range(3):
            if counts[gen] <= self.threshold[gen]:
                break
            found = gc.collect(gen)
            self.collections[gen] += 1
        return found


_collector: MainThreadCollector | None = None


def collect_on_gui_thread(app) -> MainThreadCollector:
    """Turn Python's automatic cyclic collection off and collect on ``app``'s thread instead (once
    per process; the collector lives as long as ``app``)."""
    global _collector
    if _collector is None:
        gc.disable()
        _collector = MainThreadCollector(app)
    return _collector


def refreeze_later(*_args) -> None:
    """A run was replaced: let the collector free what it froze that is garbage now
    (:meth:`MainThreadCollector.refreeze`); nothing without a collector."""
    if _collector is not None:
        _collector.refreeze()

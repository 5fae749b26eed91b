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
loaded that is some 80,000 objects and 25–50 ms of the GUI thread in one block. A GUI process
therefore calls :func:`settle_now` once its window is built and before it opens any data: one full
collection, and the survivors — the modules, classes and the window, which live as long as the
program — are frozen (``gc.freeze``); later full collections scan only what was made since (under
1 ms). Data and runs come later and are never frozen, so a run replaced by another is freed as
before.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

__all__ = ["MainThreadCollector", "collect_on_gui_thread", "settle_now"]


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

    def settle(self) -> int:
        """Collect everything once and freeze what survives (what the program has built so far:
        call it before any data is opened); the number of objects frozen."""
        gc.collect()
        gc.freeze()
        self.frozen = gc.get_freeze_count()
        return self.frozen

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


def settle_now() -> int:
    """Collect everything once and freeze what survives (:meth:`MainThreadCollector.settle`): call
    it when the window is built and before any data is opened; 0 without a collector."""
    return _collector.settle() if _collector is not None else 0

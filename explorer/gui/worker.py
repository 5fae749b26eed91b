"""Background work for the window: training and file loading, each a parentless QObject on a QThread.

The worker drives the engine's training generator; it never touches a widget. It emits
copies only, throttled to about 30 signals a second: every step's numbers (for the plots)
gathered since the last emission, and the latest snapshot (for the diagram). The GUI
thread never waits on it. Stopping sets a flag checked between steps.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

EMIT_INTERVAL = 1.0 / 30.0


class StepBatch:
    """The steps done since the last emission, as arrays, plus the latest snapshot."""

    def __init__(self, records: list, latest, epochs_done: list):
        self.latest = latest                                   # StepSnapshot (with a trace, if one was made)
        self.step = np.array([r.step for r in records], dtype=np.int64)
        self.epoch = np.array([r.epoch for r in records], dtype=np.int64)
        self.loss = np.array([r.loss for r in records])
        self.grad_norm = np.array([r.grad_norm for r in records])
        self.clipped = np.array([r.clipped for r in records], dtype=bool)
        gates = list(records[0].gate_norms) if records else []
        self.gate_norms = {g: np.array([r.gate_norms[g] for r in records]) for g in gates}
        self.epoch_ends = epochs_done                          # [(epoch, train_loss, val_loss)]


class TrainingWorker(QObject):
    """Runs ``trainer.steps()`` until done, stopped, or diverged. Create without a parent,
    ``moveToThread(thread)``, connect ``thread.started`` to :meth:`run`."""

    sigSteps = Signal(object)          # StepBatch
    sigFinished = Signal(str)          # "done" | "stopped" | "diverged" | "error"
    sigMessage = Signal(str)           # divergence or error text

    def __init__(self, trainer, emit_interval: float = EMIT_INTERVAL, checkpoint=None,
                 checkpoint_interval: float = 30.0):
        super().__init__()
        self.trainer = trainer
        self.checkpoint = checkpoint                 # called in this thread between steps
        self.checkpoint_interval = checkpoint_interval
        self.emit_interval = emit_interval
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._last_trace = 0.0
        self.trace_interval = 0.0          # the window's redraw interval (a plain float it sets)
        self.trainer.want_trace = self._want_trace

    # -- control (called from the GUI thread; only flags are touched) -----------------------------
    def request_stop(self) -> None:
        self._stop.set()
        self._resume.set()

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def _want_trace(self) -> bool:
        # build the sample's trace only as often as the diagram can show it
        return time.perf_counter() - self._last_trace >= max(self.emit_interval, self.trace_interval)

    @Slot()
    def run(self) -> None:
        records, epochs = [], []
        last_emit = 0.0
        last_checkpoint = time.perf_counter()
        latest = None
        reason = "done"
        try:
            gen = self.trainer.steps()
            while True:
                if not self._resume.is_set():
                    if records:
                        self.sigSteps.emit(StepBatch(records, latest, epochs))
                        records, epochs = [], []
                    self._resume.wait()
                if self._stop.is_set():
                    reason = "stopped"
                    break
                snap = next(gen, None)
                if snap is None:
                    break
                if snap.refused:
                    reason = "diverged"
                    self.sigMessage.emit(snap.message)
                    break
                if snap.trace is not None:
                    self._last_trace = time.perf_counter()
                    latest = snap
                elif latest is None or latest.trace is None:
                    latest = snap
                else:
                    latest = _with_trace_of(snap, latest)
                records.append(snap)
                if snap.epoch_end:
                    epochs.append((snap.epoch, snap.train_loss_epoch, snap.val_loss))
                now = time.perf_counter()
                since = now - last_checkpoint
                if self.checkpoint is not None and (since >= self.checkpoint_interval
                                                    or (snap.epoch_end and since >= 5.0)):
                    try:
                        self.checkpoint()
                    except Exception as exc:  # noqa: BLE001 - a failed autosave must not stop training
                        self.sigMessage.emit(f"Autosave failed: {exc}")
                    last_checkpoint = time.perf_counter()
                if now - last_emit >= self.emit_interval or snap.done:
                    self.sigSteps.emit(StepBatch(records, latest, epochs))
                    records, epochs = [], []
                    last_emit = now
        except Exception as exc:  # noqa: BLE001 - reported to the window, never lost in a thread
            reason = "error"
            self.sigMessage.emit(f"Training stopped by an error: {type(exc).__name__}: {exc}")
        if records:
            self.sigSteps.emit(StepBatch(records, latest, epochs))
        self.trainer.want_trace = None
        self.sigFinished.emit(reason)


def _with_trace_of(snap, keep):
    """The newest numbers of ``snap`` with the trace of ``keep`` (when no new trace was made)."""
    from dataclasses import replace

    return replace(snap, trace=keep.trace, weights=keep.weights)


class LoadWorker(QObject):
    """Runs a loading function off the GUI thread; emits its result or the error's sentence."""

    sigLoaded = Signal(object)      # (result, tag)
    sigFailed = Signal(object)      # (message, tag)
    sigFinished = Signal()

    def __init__(self, fn, tag=None):
        super().__init__()
        self.fn, self.tag = fn, tag

    @Slot()
    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            self.sigFailed.emit((str(exc) or type(exc).__name__, self.tag))
        else:
            self.sigLoaded.emit((result, self.tag))
        self.sigFinished.emit()


class _ThreadHandle(QObject):
    """Lives in the GUI thread beside one worker thread; releases it once it has finished."""

    def __init__(self, registry, thread, worker):
        super().__init__()
        self.registry, self.thread, self.worker = registry, thread, worker

    @Slot()
    def release(self):
        self.thread.wait()                 # it has left its event loop: returns at once
        self.registry._running.pop(self, None)


class ThreadRegistry(QObject):
    """Starts workers on their own QThread and keeps both alive until the thread has finished.

    Wiring as the style guide says: ``started → run``, the worker's finished signal →
    ``thread.quit`` and ``worker.deleteLater``; ``thread.finished`` → a handle in the GUI
    thread that joins the thread (already out of its event loop) and lets it go.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._running: dict = {}

    def start(self, worker: QObject, finished_signal) -> QThread:
        thread = QThread()
        worker.moveToThread(thread)
        handle = _ThreadHandle(self, thread, worker)
        thread.started.connect(worker.run)
        finished_signal.connect(thread.quit)
        finished_signal.connect(worker.deleteLater)
        thread.finished.connect(handle.release)
        self._running[handle] = thread
        thread.start()
        return thread

    def count(self) -> int:
        return len(self._running)

    def wait_all(self, timeout_ms: int = 2000) -> bool:
        ok = True
        for thread in list(self._running.values()):
            ok = thread.wait(timeout_ms) and ok
        return ok

"""The thin Qt adapter that runs a Qt-free task (``fn(state) -> result``) on a QThread.

The task (see :mod:`explorer.app.tasks`) gets a :class:`~explorer.app.tasks.TaskState` whose
partial results and progress become this worker's queued signals; it never touches a widget.
Connect the signals to bound methods of GUI-thread QObjects (a lambda would run in the worker
thread). :class:`ThreadRegistry` keeps every thread and worker alive until the thread has
finished, so dropping a reference never aborts the process, and stops them all on close.
"""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from explorer.app.tasks import Interrupted, TaskState


class TaskWorker(QObject):
    """Runs ``fn(state)`` once in its thread. Create without a parent; start it with
    :meth:`ThreadRegistry.start`. After it finished, ``result`` / ``error`` / ``interrupted``
    hold the outcome (readable from any thread once ``done`` is set)."""

    sigPartial = Signal(object)      # a partial result (whatever the task sends)
    sigProgress = Signal(object)     # (fraction, text)
    sigDone = Signal(object)         # the worker itself, once the task returned, failed or was interrupted

    def __init__(self, fn, tag=None):
        super().__init__()
        self.fn, self.tag = fn, tag
        self.state = TaskState(on_partial=self.sigPartial.emit, on_progress=self.sigProgress.emit)
        self.result = None
        self.error: str | None = None
        self.error_type: type | None = None      # the failure's class, for a remedy (never the exception: its frames)
        self.interrupted = False
        self.done = threading.Event()
        self.seconds = 0.0

    @Slot()
    def run(self) -> None:
        t0 = time.perf_counter()
        try:
            self.result = self.fn(self.state)
        except Interrupted:
            self.interrupted = True
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message, never lost in a thread
            self.error = str(exc) or type(exc).__name__
            self.error_type = type(exc)
        self.seconds = time.perf_counter() - t0
        self.done.set()
        self.sigDone.emit(self)
        app = QCoreApplication.instance()
        if app is not None:
            self.moveToThread(app.thread())      # deleted in the GUI thread once released
        # quit from here, not through a queued call: the GUI thread may be blocked waiting on us
        QThread.currentThread().quit()


class _ThreadHandle(QObject):
    """Lives in the GUI thread beside one worker thread; releases both once it has finished."""

    def __init__(self, registry, thread, worker):
        super().__init__()
        self.registry, self.thread, self.worker = registry, thread, worker

    @Slot()
    def release(self):
        self.thread.wait()                 # it has left its event loop: returns at once
        self.registry.release(self)


class ThreadRegistry(QObject):
    """Starts task workers on their own QThread and keeps both alive until the thread finished.
    Making one fixes the process's BLAS thread count (:func:`explorer.engine.blas.hold_threads`):
    it must not change while a worker computes."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._running: dict = {}
        from explorer.engine.blas import ThreadSettingError, hold_threads

        try:
            hold_threads()
        except ThreadSettingError:             # a bad LSTM_EXPLORER_THREADS: the launcher says so
            pass

    def start(self, worker: TaskWorker) -> QThread:
        thread = QThread()
        worker.moveToThread(thread)
        handle = _ThreadHandle(self, thread, worker)
        thread.started.connect(worker.run)
        thread.finished.connect(handle.release)
        self._running[handle] = thread
        thread.start()
        return thread

    def release(self, handle) -> None:
        """``handle``'s thread has finished: let go of it and its worker."""
        self._running.pop(handle, None)

    def count(self) -> int:
        return sum(1 for t in self._running.values() if t.isRunning())

    def workers(self) -> list:
        return [h.worker for h in self._running]

    def shutdown(self, timeout_s: float = 1.5) -> bool:
        """Ask every task to stop and wait for them together, at most ``timeout_s``; True when
        every thread has finished (the rest stay referenced until they do)."""
        for h in list(self._running):
            h.worker.state.request_interruption()
        return self.wait_all(timeout_s)

    def wait_all(self, timeout_s: float | None = None) -> bool:
        end = None if timeout_s is None else time.perf_counter() + timeout_s
        ok = True
        for thread in list(self._running.values()):
            if end is None:
                thread.wait()
            else:
                ms = max(0, int((end - time.perf_counter()) * 1000))
                ok = thread.wait(ms) and ok
        return ok


class LatestTask(QObject):
    """The one way a newer request supersedes an older one: :meth:`start` interrupts the request
    under way, whose partial results and outcome are dropped from then on. ``direct=True`` runs the
    task at once on the calling (GUI) thread — for work of a few milliseconds. The outcome arrives
    as :attr:`sigResult` (the task's result) or :attr:`sigError` (one sentence), and to the
    request's own ``on_partial`` / ``on_result`` / ``on_error(text, error_type)`` handlers; an
    interrupted task, or one whose ``tag`` is no longer ``current_tag()``, says nothing.
    :attr:`tag` is the newest request's tag (kept after it ended)."""

    sigResult = Signal(object)
    sigPartial = Signal(object)         # a partial result of the current request (never of a superseded one)
    sigError = Signal(str)

    def __init__(self, registry: ThreadRegistry, current_tag=None, progress=None, parent=None):
        super().__init__(parent)
        self.registry, self.current_tag, self.progress = registry, current_tag, progress
        self.worker: TaskWorker | None = None
        self.tag = None
        self._handlers = (None, None, None)

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.state.request_interruption()
            self.worker = None

    def start(self, fn, tag=None, direct: bool = False, *, on_partial=None, on_result=None, on_error=None) -> None:
        self.cancel()
        self.tag = tag
        self._handlers = (on_partial, on_result, on_error)
        if direct:
            try:
                result = fn(TaskState(on_partial=self._partial))
            except Interrupted:
                return
            except ValueError as exc:          # a request that cannot be met: one sentence
                self._error(str(exc), type(exc))
                return
            self._result(result)
            return
        worker = TaskWorker(fn, tag=tag)
        worker.sigDone.connect(self._on_worker_done)
        worker.sigPartial.connect(self._on_worker_partial)
        if self.progress is not None:
            worker.sigProgress.connect(self.progress)
        self.worker = worker
        self.registry.start(worker)

    def _current(self, worker) -> bool:
        return self.current_tag is None or worker.tag is self.current_tag()

    def _partial(self, value) -> None:
        self.sigPartial.emit(value)
        if self._handlers[0] is not None:
            self._handlers[0](value)

    def _result(self, value) -> None:
        self.sigResult.emit(value)
        if self._handlers[1] is not None:
            self._handlers[1](value)

    def _error(self, text: str, error_type) -> None:
        self.sigError.emit(text)
        if self._handlers[2] is not None:
            self._handlers[2](text, error_type)

    @Slot(object)
    def _on_worker_partial(self, value) -> None:
        worker = self.sender()
        if worker is self.worker and self._current(worker):
            self._partial(value)

    @Slot(object)
    def _on_worker_done(self, worker) -> None:
        if worker is not self.worker:
            return                              # superseded
        self.worker = None
        if self.progress is not None:
            self.progress((1.0, ""))
        if worker.error:
            self._error(worker.error, worker.error_type)
        elif not worker.interrupted and self._current(worker):
            self._result(worker.result)

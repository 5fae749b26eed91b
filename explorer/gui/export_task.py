"""Export all as a task: the files' contents are captured on the GUI thread in short steps (a copy
of the numbers, one drawing of a plot at a time) and formatted, encoded and written in a worker
thread, with progress and a cancel.

Each step is one call of a widget's export generator (``export_steps`` of the plots, or
:func:`widget_steps` for a widget that draws itself: the cell diagram, the equations); a generator
yields None between steps and a job — a call that writes one file and touches no widget — when a
file's contents are captured. Jobs run one at a time in submission order, so the files are written
in the order of the plan and the first failure stops the rest. Every file is written whole or not
at all (:func:`explorer.figures.export_files.write_file`): a cancelled or failed export leaves no
partial file.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer, Signal

from explorer.figures.export_files import write_file, write_png

__all__ = ["ExportTask", "widget_steps"]

#: Files' contents captured but not yet written, at most (each PNG holds its image until written).
MOST_PENDING = 3


def widget_steps(widget, png=None, svg=None, csv=None, scale: float = 2) -> Iterator:
    """The export steps of ``widget`` into ``png``, ``svg`` and ``csv`` (each a path or None): its
    own ``export_steps`` generator, else one step per file from its ``render_image``,
    ``svg_bytes`` and ``csv_job``; the jobs in that order."""
    own = getattr(widget, "export_steps", None)
    if own is not None:
        yield from own(png, svg, csv, scale=scale)
        return
    if png is not None:
        yield functools.partial(write_png, widget.render_image(scale), png)
    if svg is not None:
        yield functools.partial(write_file, svg, widget.svg_bytes())
    if csv is not None:
        yield widget.csv_job(csv)


class ExportTask(QObject):
    """Runs ``plan`` — a list of (paths it writes, a callable returning its steps' generator) — one
    step per turn of the event loop, the jobs in one worker thread.

    Signals: ``progress(written, total)``; ``finished(written)`` with every path written;
    ``failed(error, written)`` at the first OSError (the files before it are whole and listed);
    ``cancelled(written)``."""

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(object, object)
    cancelled = Signal(object)

    def __init__(self, plan: list[tuple[list[Path], Callable[[], Iterator]]], parent=None):
        super().__init__(parent)
        self._plan = list(plan)
        self.total = sum(len(paths) for paths, _ in self._plan)
        self.written: list[Path] = []
        self.done = False
        self.error: OSError | None = None
        self._steps: Iterator | None = None
        self._pending: list = []                    # (path, future) in submission order
        self._pool: ThreadPoolExecutor | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._paths: list[Path] = []                # the paths of the jobs the current generator yields
        self._stopping: str | None = None           # "failed" or "cancelled" once stopping

    def start(self) -> None:
        """Begin on the next turn of the event loop."""
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export")
        self._timer.start(0)

    def cancel(self) -> None:
        """Stop: no more steps, the jobs not started dropped; a file being written is finished whole
        in the worker (its earlier version stays until then); ``cancelled`` follows once the worker
        is idle."""
        if not self.done and self._stopping is None:
            self._stop("cancelled")
            self._timer.start(0)

    def run_until_done(self) -> None:
        """Run to the end in a local event loop (events keep being handled meanwhile)."""
        if self.done:
            return
        loop = QEventLoop()
        for sig in (self.finished, self.failed, self.cancelled):
            sig.connect(loop.quit)
        if self._pool is None:
            self.start()
        if not self.done:
            loop.exec()

    # -- the steps ------------------------------------------------------------------------------------
    def _on_timer_timeout(self) -> None:
        try:
            self._collect()
            if self._stopping is None and len(self._pending) < MOST_PENDING:
                self._advance()
        except OSError as exc:
            self.error = self.error or exc
        if self.error is not None and self._stopping is None:
            self._stop("failed")
        if self._stopping is not None:
            if self._pending:                       # a job under way: finished whole, then said
                self._timer.start(5)
                return
            self._end()
            if self._stopping == "failed":
                self.failed.emit(self.error, list(self.written))
            else:
                self.cancelled.emit(list(self.written))
            return
        if self._steps is None and not self._plan and not self._pending:
            self._end()
            self.finished.emit(list(self.written))
            return
        more = self._steps is not None or bool(self._plan)
        self._timer.start(0 if more and len(self._pending) < MOST_PENDING else 5)

    def _advance(self) -> None:
        """One step of the current widget's export (or begin the next widget's)."""
        if self._steps is None:
            if not self._plan:
                return
            paths, make = self._plan.pop(0)
            self._paths = list(paths)
            self._steps = make()
            return
        try:
            job = next(self._steps)
        except StopIteration:
            self._steps = None
            return
        if job is not None:
            self._pending.append((self._paths.pop(0), self._pool.submit(job)))

    def _collect(self) -> None:
        """Take the finished jobs in order; the first failure becomes :attr:`error`."""
        while self._pending:
            path, fut = self._pending[0]
            if not fut.cancelled():
                if not fut.done():
                    return
                exc = fut.exception()
                if exc is not None and self.error is None:
                    self.error = exc if isinstance(exc, OSError) else OSError(errno.EIO, str(exc), str(path))
                elif exc is None and self.error is None:
                    self.written.append(path)
                    self.progress.emit(len(self.written), self.total)
            self._pending.pop(0)

    def _stop(self, why: str) -> None:
        self._stopping = why
        if self._steps is not None:
            self._steps.close()                     # a plot laid out for export is put back
            self._steps = None
        self._plan = []
        for _, fut in self._pending:
            fut.cancel()

    def _end(self) -> None:
        self.done = True
        self._timer.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

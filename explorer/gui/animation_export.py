"""File › Export › Animation…: the diagram stepping through the selected sample, one frame per
timestep, as GIF, animated PNG or WebP — what the window shows (the selected sample, unit, layer
and direction; a replayed epoch's or an intervention's trace too), written by the Qt-free
:func:`explorer.figures.animation.write_animation` on a worker with its progress in the status
bar; the GUI never waits for it.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog

from explorer.app.cell_view import cell_view
from explorer.figures.animation import write_animation
from explorer.gui.worker import TaskWorker

FILTERS = "GIF animation (*.gif);;Animated PNG (*.png);;WebP animation (*.webp)"


class AnimationExportController(QObject):
    """Writes animations of what the window shows, one at a time, off the GUI thread."""

    sigWritten = Signal(str)        # the file, once written
    sigFailed = Signal(str)         # one sentence

    def __init__(self, session, threads, status, *, epoch_text, last_folder, dialog_parent=None, parent=None):
        """``epoch_text()`` names the replayed epoch drawn (the diagram's note); ``last_folder()``
        is where the file dialog opens."""
        super().__init__(parent)
        self.session, self.threads, self.status = session, threads, status
        self.epoch_text, self.last_folder, self.dialog_parent = epoch_text, last_folder, dialog_parent
        self.worker: TaskWorker | None = None
        self.action = QAction("&Animation\u2026", self)
        self.action.setToolTip("The diagram stepping through the selected sample, one frame per timestep "
                               "(GIF, animated PNG or WebP)")
        self.action.triggered.connect(self.export_dialog)

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.dialog_parent, "Export animation",
                                              str(Path(self.last_folder()) / "cell.gif"), FILTERS)
        if path:
            self.export(path)

    def export(self, path, fps: float = 4.0) -> bool:
        """Start writing ``path`` (.gif, .png, .webp) from a worker; False when there is nothing to
        animate or an animation is being written."""
        s = self.session
        trace = s.trace
        if trace is None or self.worker is not None:
            if self.worker is not None:
                self.status.show_status("An animation is being written; wait for it to finish.", 5000)
            return False
        pos = s.position
        fn = partial(_animation_task, source=(trace, cell_view(trace.kind), s.trace_weights), path=str(path),
                     sample=pos.sample if s.trace_source is None else s.trace_source.sample, unit=pos.unit,
                     layer=pos.layer, direction=pos.direction, fps=fps, interventions=s.shown_interventions(),
                     x_note=getattr(s.run.dataset, "input_scaling", ""),
                     label=None if s.trace_source is None else s.trace_source.sample_text(),
                     note=self.epoch_text())
        worker = TaskWorker(fn, tag=str(path))
        worker.sigDone.connect(self._on_worker_done)
        worker.sigProgress.connect(self.status.task_progress)
        self.worker = worker
        self.threads.start(worker)
        self.status.show_status(f"Writing the animation {Path(path).name}\u2026", 4000)
        return True

    def _on_worker_done(self, worker) -> None:
        if worker is not self.worker:
            return
        self.worker = None
        self.status.task_progress((1.0, ""))
        if worker.interrupted:
            return
        if worker.error:
            self.status.show_message(f"Could not write the animation: {worker.error}", "error", topic="animation")
            self.sigFailed.emit(worker.error)
            return
        self.status.resolve("animation")
        self.status.show_status(f"Animation written: {worker.result}", 8000)
        self.sigWritten.emit(str(worker.result))


def _animation_task(state, source, path, sample, unit, layer, direction, fps, interventions=(), x_note="",
                    label=None, note=""):
    def progress(done, total):
        state.set_progress(done / max(total, 1), f"Writing the animation ({done}/{total} frames)")

    out = write_animation(source, path, sample=sample, unit=unit, layer=layer, direction=direction, fps=fps,
                          progress=progress, interrupt=state.is_interruption_requested, interventions=interventions,
                          x_note=x_note, label=label, note=note)
    return str(out)

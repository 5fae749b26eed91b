"""The window's exports: any plot or the diagram as PNG, SVG or CSV, and everything into a folder.

Each widget renders at its own export size (never what happens to be on screen) and writes its
own CSV (the diagram's: every timestep 1..T of the selected unit with the cell's quantities).
Export all is a task (:mod:`explorer.gui.export_task`): the window stays responsive, the status
bar shows its progress and a Cancel button. The main window and the comparison view each have
one :class:`ExportController` over their own widgets.
"""

from __future__ import annotations

import functools
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QPushButton

from explorer.gui.actions import export_failed, export_widget
from explorer.gui.export_task import ExportTask, widget_steps
from explorer.gui.status import StatusSink


class ExportController(QObject):
    """Exports of a window's widgets, given explicitly: ``widgets()`` (key → widget, each written as
    PNG, SVG and CSV), ``extra(folder)`` (more (paths, steps) of Export all: the equations, a
    table), ``flush()`` (hand every view its data before it is drawn), ``building()`` (a view is
    still building its panels), the ``status`` sink, ``last_folder()`` and the ``dialog_parent``."""

    def __init__(self, widgets, status: StatusSink, *, extra=lambda folder: [], flush=lambda: None,
                 building=lambda: False, last_folder=lambda: str(Path.home()), dialog_parent=None, parent=None):
        super().__init__(parent)
        self.widgets, self.status, self.extra = widgets, status, extra
        self.flush, self.building, self.last_folder = flush, building, last_folder
        self.dialog_parent = dialog_parent

    def widget(self, key: str):
        return self.widgets()[key]

    def export_one_dialog(self, key: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self.dialog_parent, f"Export {key}", str(Path(self.last_folder()) / key),
                                              "PNG image (*.png);;SVG drawing (*.svg);;CSV data (*.csv)")
        if path:
            self.export_one(key, path)

    def export_one(self, key: str, path) -> bool:
        """One widget as ``path``'s format; a failure is said on the banner (False)."""
        self.flush()                                    # a heatmap behind another tab gets its data
        try:
            export_widget(self.widget(key), path)
        except OSError as exc:
            self.status.show_message(export_failed(exc, path), "error", topic="export")
            return False
        self.status.resolve("export")
        self.status.show_status(f"Exported {Path(path).name}", 8000)
        return True

    def export_all_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.dialog_parent, "Export everything into a folder",
                                                  self.last_folder())
        if folder:
            self.start_export_all(folder)

    def export_all(self, folder) -> list[Path]:
        """Every widget as PNG, SVG and CSV, and the extras, into ``folder``; returns the paths
        written once they are (the files before a failure, which the banner names). Runs the task
        of :meth:`start_export_all` in a local event loop: the caller waits, the window does not
        (events are handled between its steps)."""
        if self.task is not None:
            self.task.run_until_done()
        task = self.start_export_all(folder)
        if task is None:
            return []
        task.run_until_done()
        return list(task.written)

    def start_export_all(self, folder) -> ExportTask | None:
        """Begin Export all into ``folder`` as a task and return it at once: the GUI thread draws one
        widget at a time between events and copies the numbers, a worker thread encodes and writes
        the files; progress and a Cancel button in the status bar. None when the folder cannot be
        made or an export is under way (said in the status bar)."""
        if self.task is not None:
            self.status.show_status("An export is under way: wait for it or cancel it.", 8000)
            return None
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.status.show_message(export_failed(exc, folder), "error", topic="export")
            return None
        plan = [([], self._flush_steps)]
        for key, widget in self.widgets().items():
            paths = [folder / f"{key}.{ext}" for ext in ("png", "svg", "csv")]
            plan.append((paths, functools.partial(widget_steps, widget, *paths)))
        plan += self.extra(folder)
        task = ExportTask(plan, self)
        task.folder = folder
        task.progress.connect(self._on_task_progress)
        task.finished.connect(self._on_task_finished)
        task.failed.connect(self._on_task_failed)
        task.cancelled.connect(self._on_task_cancelled)
        self.task = task
        self.cancel_button.show()
        self._on_task_progress(0, task.total)
        task.start()
        return task

    def cancel(self) -> None:
        """Cancel the export under way (its files written so far stay, each whole)."""
        if self.task is not None:
            self.task.cancel()

    def _flush_steps(self):
        self.flush()                                # a heatmap behind another tab gets its data
        yield None
        while self.building():
            yield None                              # its panels built one per turn of the event loop

    @property
    def cancel_button(self) -> QPushButton:
        if self._cancel_button is None:
            b = QPushButton("Cancel export")
            b.setToolTip("Stop exporting; the files written so far stay, each whole")
            b.clicked.connect(self.cancel)
            b.hide()
            self.status.add_permanent_widget(b)
            self._cancel_button = b
        return self._cancel_button

    _cancel_button = None
    task: ExportTask | None = None

    def _on_task_progress(self, done: int, total: int) -> None:
        self.status.task_progress((done / max(total, 1), "Exporting"))
        self.status.show_status(f"Exporting: {done} of {total} files written to {self.task.folder}")

    def _end_task(self) -> Path:
        folder = self.task.folder
        self.task.deleteLater()
        self.task = None
        self.cancel_button.hide()
        self.status.task_progress((1.0, ""))
        return folder

    def _on_task_finished(self, written) -> None:
        folder = self._end_task()
        self.status.resolve("export")
        self.status.show_status(f"Exported {len(written)} files to {folder}", 8000)

    def _on_task_failed(self, exc, written) -> None:
        folder = self._end_task()
        self.status.clear_status()
        self.status.show_message(export_failed(exc, folder), "error", topic="export")

    def _on_task_cancelled(self, written) -> None:
        folder = self._end_task()
        self.status.show_status(f"Export cancelled: {len(written)} files written to {folder}, each whole", 8000)

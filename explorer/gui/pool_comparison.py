"""The comparison view for whole sequences: the same cell with the last state and with attention.

``lstm-explorer --compare gru [--example find-the-marker | FILE]`` on labelled sequences opens it
(the comparison view's :func:`~explorer.gui.comparison.build_comparison` hands labelled data
here; the built-in find-the-marker is its long form, :data:`LONG_MARKER` steps at most), and the
attention window's *Compare last state and attention* opens it on the window's data and settings.
Every cell × pooling starts from the same seed and trains live in turns of a few steps in ONE
worker (:func:`~explorer.app.labelled.pool_comparison_task`, the one training driver with its
divergence guard); the view draws the validation accuracy per epoch of every run overlaid and a
table: parameters, steps done, the step at which each first reached
:data:`~explorer.app.labelled.TARGET_ACCURACY` validation accuracy, and the accuracy now.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMainWindow, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from explorer.app.labelled import (TARGET_ACCURACY, LabelledRun, PoolComparison, labelled_settings,
                                   load_labelled_data, pool_comparison_task)
from explorer.gui.live_curves import LiveCurvesPlotWidget
from explorer.gui.plain_text import plain_label
from explorer.gui.training import TrainingRunner
from explorer.gui.worker import LatestTask, TaskWorker, ThreadRegistry

LONG_MARKER = 100
"""The comparison view's find-the-marker: sequences of 50 to this many steps."""
POOLS = ("last", "attention")
COLUMNS = ("run", "parameters", "steps", f"{TARGET_ACCURACY:.0%} accuracy at step", "validation accuracy")
_COLORS = ("#2980B9", "#C0392B", "#27AE60", "#8E44AD", "#D35400", "#16A085", "#7F8C8D", "#2C3E50")


def pool_comparison_runs(dataset, settings, cells=None, pools=POOLS) -> dict:
    """Fresh runs of every cell (``settings.cell`` when None) with every pooling, by ``"cell pool"``
    (``"pool"`` alone for one cell): the same seed, data and sizes."""
    from dataclasses import replace

    cells = list(cells or [settings.cell])
    return {(pool if len(cells) == 1 else f"{cell} {pool}"): LabelledRun(dataset, replace(settings, cell=cell,
                                                                                          pool=pool))
            for cell in cells for pool in pools}


class PoolComparisonWindow(QMainWindow):
    """See the module's text. ``dataset`` None: :meth:`load` a file or example first."""

    sigResult = Signal(object)        # a PoolComparison drawn
    sigFinished = Signal(object)      # the worker ended (its last PoolComparison, or None)

    def __init__(self, dataset=None, settings=None, cells=None, parent=None):
        super().__init__(parent)
        self.threads = ThreadRegistry(self)
        self.settings, self.cells = settings, cells
        self.runs: dict = {}
        self.result: PoolComparison | None = None
        self.runner = TrainingRunner(self.threads, self.show_result, parent=self)
        self.runner.sigDone.connect(self._on_worker_done)
        self.loader = LatestTask(self.threads, parent=self)      # reading FILE or the example
        self.curves = LiveCurvesPlotWidget("Validation accuracy per epoch", "epoch", "validation accuracy",
                                           log_y=False)
        self.diagram = self.curves             # what --quit-after-paint watches
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.data_label = plain_label("")
        self.data_label.setWordWrap(True)
        holder = QWidget()
        lay = QVBoxLayout(holder)
        lay.addWidget(self.data_label)
        lay.addWidget(self.curves, 1)
        lay.addWidget(self.table)
        self.setCentralWidget(holder)
        self.resize(1000, 700)
        if dataset is not None:
            self.start(dataset)

    def start(self, dataset) -> None:
        """Fresh runs on ``dataset`` and the worker training them."""
        settings = self.settings or labelled_settings()
        self.runs = pool_comparison_runs(dataset, settings, self.cells)
        self.dataset = dataset
        self.data_label.setText(dataset.describe())
        self.table.setRowCount(len(self.runs))
        for i, (name, run) in enumerate(self.runs.items()):
            self.table.setItem(i, 0, QTableWidgetItem(name))
            self.table.setItem(i, 1, QTableWidgetItem(str(run.model.param_count.total)))
        self.table.setFixedHeight(self.table.horizontalHeader().height()
                                  + sum(self.table.rowHeight(i) for i in range(len(self.runs))) + 4)
        what = ", ".join(dict.fromkeys(r.settings.cell for r in self.runs.values())).upper()
        self.setWindowTitle(f"{what}: last state or attention — {Path(str(dataset.source)).name}")
        self.runner.start(partial(pool_comparison_task, runs=self.runs), tag="pools")

    @property
    def worker(self) -> TaskWorker | None:
        """The training task's worker (None while idle)."""
        return self.runner.worker

    def load(self, file=None, example=None, seq_len: int | None = None) -> None:
        """Read FILE or the labelled example off the GUI thread, then start."""
        self.loader.start(partial(_load_task, file=file, example=example, seq_len=seq_len), tag="load",
                          on_result=self._on_loaded, on_error=self._on_load_failed)

    def _on_loaded(self, dataset) -> None:
        if dataset is None:
            self._on_load_failed("Nothing was loaded.", None)
            return
        self.start(dataset)

    def _on_load_failed(self, text: str, _error_type) -> None:
        self.statusBar().showMessage(text)
        self.sigFinished.emit(None)

    def show_result(self, res: PoolComparison) -> None:
        self.result = res
        for i, (name, color) in enumerate(zip(self.runs, _COLORS * 4)):
            hist = res.histories[name]
            accs = [h.get("val_accuracy", math.nan) for h in hist]
            self.curves.set_curve(name, [h["epoch"] for h in hist], accs, color)
            reached = res.reached[name]
            cells = (f"{res.steps[name]} of {res.total_steps[name]}", "not yet" if reached is None else str(reached),
                     f"{accs[-1]:.1%}" if accs and math.isfinite(accs[-1]) else "")
            for j, text in enumerate(cells, start=2):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.sigResult.emit(res)

    def _on_worker_done(self, worker) -> None:
        if worker.result is not None:
            self.show_result(worker.result)
        diverged = [f"{n}: {r.message}" for n, r in self.runs.items() if r.message]
        if worker.error or diverged:
            self.statusBar().showMessage(worker.error or "; ".join(diverged))
        self.sigFinished.emit(worker.result)

    def closeEvent(self, e):  # noqa: N802
        self.runner.stop()
        self.loader.cancel()
        self.threads.wait_all(1.5)
        super().closeEvent(e)

    def after_close(self) -> None:
        self.threads.wait_all()


def _load_task(state, file=None, example=None, seq_len=None):
    if example == "find-the-marker" and seq_len is None:
        seq_len = LONG_MARKER
    return load_labelled_data(file, example, seq_len=seq_len)


def build_pool_comparison(cells, file=None, example=None, seq_len: int | None = None) -> PoolComparisonWindow:
    """A shown pool comparison of ``cells`` (names, or a comma-separated text) loading FILE or the
    labelled example off the GUI thread."""
    if isinstance(cells, str):
        cells = [c.strip() for c in cells.split(",") if c.strip()]
    win = PoolComparisonWindow(cells=cells or None, settings=labelled_settings(example))
    win.show()
    win.load(file, example, seq_len)
    return win


def is_labelled_request(file=None, example=None) -> bool:
    """Labelled sequences: a labelled example, or a file of them by its form (.ts, NAME_TRAIN/TEST)."""
    from explorer.data.examples import LABELLED_EXAMPLES
    from explorer.data.labelled import looks_labelled

    return example in LABELLED_EXAMPLES or bool(file and looks_labelled(file))


__all__ = ["LONG_MARKER", "PoolComparisonWindow", "build_pool_comparison", "is_labelled_request",
           "pool_comparison_runs"]

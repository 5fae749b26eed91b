"""The attention window: a whole-sequence model training live on labelled sequences.

``lstm-explorer FILE`` opens it for a file of labelled sequences (a ``.ts`` file or a
``_TRAIN``/``_TEST`` file), ``lstm-explorer --example find-the-marker`` (or ``sentiment``) for
the built-in ones. It shows the selected validation sample's attention weights as a strip
aligned with the input (:class:`~explorer.figures.labelled.AttentionStripWidget`: bars under a
series, or the words shaded by α), the predicted class with every class's probability beside the
true one, the confusion matrix and the accuracy per epoch, the attention stage after the last cell
drawn with the sample's numbers (:class:`~explorer.figures.attention_stage.AttentionStageWidget`)
and its equations.

Training (:func:`~explorer.app.labelled.labelled_train_task`) runs on the main window's
:class:`~explorer.gui.training.TrainingRunner` and sends views of the selected sample, drawn at
its pace; the GUI thread only draws them. Loading and a sample chosen while idle are requests of
one :class:`~explorer.gui.worker.LatestTask` (a newer supersedes the older).
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QMainWindow, QScrollArea, QSpinBox, QSplitter, QStyle,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from explorer.app.labelled import (LabelledRun, LabelledView, labelled_settings, labelled_train_task,
                                   labelled_view, load_labelled_data)
from explorer.figures.attention_stage import AttentionStageWidget
from explorer.figures.labelled import AttentionStripWidget, ConfusionMatrixWidget
from explorer.gui.pool_comparison import PoolComparisonWindow
from explorer.gui.live_curves import LiveCurvesPlotWidget
from explorer.gui.training import TrainingRunner
from explorer.gui.worker import LatestTask, TaskWorker, ThreadRegistry

EQUATIONS = {
    "attention": ("scores   e_t = vᵀ tanh(W_a h_t + b_a)\n"
                  "weights  α_t = exp(e_t) / Σ_s exp(e_s)   over the sequence's own steps\n"
                  "context  c = Σ_t α_t h_t        output  y = V c + d"),
    "last": ("context  c = [h_T (forward) ; h_1 (reverse)]   the state at each sequence's own end\n"
             "output   y = V c + d"),
}


def _plain_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def _load_task(state, file=None, example=None):
    return load_labelled_data(file, example)


def _view_task(state, run, sample):
    return labelled_view(run, sample)


class AttentionWindow(QMainWindow):
    """See the module's text. ``run`` may be given (tests), else :meth:`load` a file or example."""

    sigView = Signal(object)          # a LabelledView drawn
    sigFinished = Signal(object)      # the training worker ended (its last view, or None)
    sigLoadFailed = Signal(str)

    def __init__(self, run: LabelledRun | None = None, parent=None, folder=None):
        super().__init__(parent)
        self.folder = folder                    # the run folder the run came from: training saves there
        self.threads = ThreadRegistry(self)
        self.run: LabelledRun | None = None
        self.runner = TrainingRunner(self.threads, self._on_view, paint_s=lambda: 0.0, parent=self)
        self.runner.sigDone.connect(self._on_train_done)
        self.aux = LatestTask(self.threads, parent=self)     # loading, or the view of a sample chosen while idle
        self.view: LabelledView | None = None
        self.closing = False
        self._build()
        self.resize(1400, 900)
        if run is not None:
            self.set_run(run)

    # -- building -----------------------------------------------------------------------------------
    def _build(self) -> None:
        bar = self.addToolBar("Training")
        bar.setObjectName("attention-toolbar")
        self.train_action = bar.addAction(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "&Train")
        self.train_action.setShortcut("Space")
        self.train_action.triggered.connect(self.toggle_training)
        self.compare_action = bar.addAction("Compare last state and attention", self.compare_pools)
        bar.addSeparator()
        bar.addWidget(_plain_label("validation sample "))
        self.sample_spin = QSpinBox()
        self.sample_spin.setMinimum(1)
        self.sample_spin.setKeyboardTracking(False)
        self.sample_spin.valueChanged.connect(self._on_sample_changed)
        bar.addWidget(self.sample_spin)
        self.strip = AttentionStripWidget()
        self.diagram = self.strip               # what --quit-after-paint watches
        self.stage = AttentionStageWidget()      # the stage after the last cell, the sample's numbers
        self.confusion = ConfusionMatrixWidget()
        self.curves = LiveCurvesPlotWidget("Accuracy per epoch", "epoch", "accuracy", log_y=False)
        self.true_label = _plain_label()
        self.prob_table = QTableWidget(0, 2)
        self.prob_table.setHorizontalHeaderLabels(["class", "probability"])
        self.prob_table.verticalHeader().hide()
        self.prob_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.equations = _plain_label()
        self.equations.setStyleSheet("font-family: monospace;")
        self.equations.setWordWrap(True)
        side = QWidget()
        lay = QVBoxLayout(side)
        lay.addWidget(self.true_label)
        lay.addWidget(self.prob_table)
        lay.addWidget(self.equations)
        lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(380)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        for k, (w, stretch) in enumerate(((scroll, 4), (self.confusion, 3), (self.curves, 3))):
            bottom.addWidget(w)
            bottom.setStretchFactor(k, stretch)
        main = QSplitter(Qt.Orientation.Vertical)
        main.addWidget(self.strip)
        main.addWidget(self.stage)
        main.addWidget(bottom)
        for k, stretch in enumerate((2, 3, 3)):
            main.setStretchFactor(k, stretch)
        holder = QWidget()
        h = QHBoxLayout(holder)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(main)
        self.setCentralWidget(holder)
        self.setWindowTitle("Attention — LSTM Explorer")

    # -- data -----------------------------------------------------------------------------------------
    def load(self, file=None, example=None) -> None:
        """Read FILE or a labelled example off the GUI thread, then show it (not training yet)."""
        label = example or Path(str(file)).name
        self.statusBar().showMessage(f"Loading {label}…")
        self.aux.start(partial(_load_task, file=file, example=example), tag=example, on_result=self._on_loaded,
                       on_error=lambda text, _type: self._load_failed(text))

    def _load_failed(self, text: str) -> None:
        self.statusBar().showMessage(text)
        self.sigLoadFailed.emit(text)

    def _on_loaded(self, ds) -> None:
        if ds is None:
            self._load_failed("the data could not be read.")
            return
        try:
            run = LabelledRun(ds, labelled_settings(self.aux.tag))
        except ValueError as exc:
            self._load_failed(str(exc))
            return
        self.set_run(run)

    def set_run(self, run: LabelledRun) -> None:
        self.run = run
        ds = run.dataset
        n = ds.n_val if ds.n_val else ds.n_train
        self.sample_spin.blockSignals(True)
        self.sample_spin.setRange(1, max(n, 1))
        self.sample_spin.setValue(1)
        self.sample_spin.blockSignals(False)
        self.equations.setText(EQUATIONS[run.model.pool])
        self.setWindowTitle(f"Attention — {Path(str(ds.source)).name} — LSTM Explorer")
        self.statusBar().showMessage(ds.describe())
        self._request_view()

    # -- training -------------------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        return self.runner.running

    @property
    def worker(self) -> TaskWorker | None:
        """The training task's worker (None while idle)."""
        return self.runner.worker

    @property
    def aux_worker(self) -> TaskWorker | None:
        """The worker loading the data or computing a view (None when there is none)."""
        return self.aux.worker

    def toggle_training(self) -> None:
        if self.training:
            self.stop()
        else:
            self.start()

    def start(self) -> bool:
        """Train the run (a finished one gets its planned epochs again); False when it cannot now."""
        if self.training or self.run is None or self.closing:
            return False
        if self.aux.busy:                        # the model is busy with a view: train once it is done
            self._start_after_aux = True
            return False
        tr = self.run.trainer
        if tr.epoch >= tr.epochs:
            tr.extend(self.run.settings.epochs)
        self.runner.start(partial(labelled_train_task, run=self.run, folder=self.folder), tag="train",
                          sample=self.sample_spin.value() - 1)
        self.train_action.setText("&Stop")
        self.train_action.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaStop))
        return True

    def stop(self) -> None:
        self.runner.stop()

    def _on_train_done(self, worker) -> None:
        self.train_action.setText("&Train")
        self.train_action.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        if worker.error:
            self.statusBar().showMessage(worker.error)
        if worker.result is not None:
            self._on_view(worker.result)
            if worker.result.message:
                self.statusBar().showMessage(worker.result.message)
        elif not self.closing:
            self._request_view()                 # stopped inside a step: the weights as they are
        self.sigFinished.emit(worker.result)

    # -- samples ----------------------------------------------------------------------------------------
    def _on_sample_changed(self, value: int) -> None:
        if self.training:
            self.runner.set_sample(value - 1)    # the next view the training task sends
        else:
            self._request_view()

    def _request_view(self) -> None:
        """The selected sample's view, computed by a worker (the model is idle)."""
        if self.run is None or self.training or self.closing:
            return
        self.aux.start(partial(_view_task, run=self.run, sample=self.sample_spin.value() - 1), tag="view",
                       on_result=self._on_view_done, on_error=lambda text, _type: self._on_view_done(None, text))

    def _on_view_done(self, view, error: str | None = None) -> None:
        if view is not None:
            self._on_view(view)
        if error:
            self.statusBar().showMessage(error)
        if self._start_after_aux:
            self._start_after_aux = False
            self.start()

    _start_after_aux = False

    # -- drawing -----------------------------------------------------------------------------------------
    def _on_view(self, view: LabelledView) -> None:
        if self.run is None:
            return
        self.view = view
        ds = self.run.dataset
        part = view.part
        what = "class" if self.run.classes else "value"
        self.true_label.setText(f"true {what}: {view.true}\npredicted: {view.predicted()}")
        if self.run.classes:
            self._show_probabilities(ds.class_names, view.outputs)
        else:
            self.prob_table.setRowCount(0)
        self.equations.setText(EQUATIONS[self.run.model.pool] + "\n\n" + view.stage_text())
        if view.alpha is not None:
            self.strip.show_view(view)
        self.stage.set_view(view)
        if view.confusion is not None:
            self.confusion.set_matrix(view.confusion, ds.class_names,
                                      f"Confusion matrix ({part}, accuracy {view.accuracy:.1%})")
        epochs = [h["epoch"] for h in view.history]
        if epochs and self.run.classes:
            self.curves.set_curve("training", epochs, [h.get("train_accuracy", math.nan) for h in view.history],
                                  "#2980B9")
            self.curves.set_curve("validation", epochs, [h.get("val_accuracy", math.nan) for h in view.history],
                                  "#C0392B")
        self.statusBar().showMessage(f"epoch {view.epoch} of {view.epochs}, step {view.step}"
                                     + (f" · validation accuracy {view.accuracy:.1%}" if math.isfinite(view.accuracy)
                                        else ""))
        self.sigView.emit(view)

    def _show_probabilities(self, names, probs) -> None:
        self.prob_table.setRowCount(len(names))
        best = int(np.argmax(probs))
        for i, (name, p) in enumerate(zip(names, probs)):
            for j, text in enumerate((str(name), f"{p:.3f}")):
                item = QTableWidgetItem(text)
                if i == best:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.prob_table.setItem(i, j, item)
        rows = sum(self.prob_table.rowHeight(i) for i in range(min(len(names), 8)))
        self.prob_table.setFixedHeight(self.prob_table.horizontalHeader().height() + rows + 4)

    def compare_pools(self) -> PoolComparisonWindow | None:
        """A window training this cell with the last state and with attention from fresh weights."""
        if self.run is None:
            return None
        win = PoolComparisonWindow(self.run.dataset, self.run.settings)
        self.comparisons = [w for w in getattr(self, "comparisons", []) if w.isVisible()] + [win]
        win.show()
        return win

    # -- closing ------------------------------------------------------------------------------------------
    def closeEvent(self, e):  # noqa: N802
        """Stop training at once and wait (at most 1.5 s) for the step under way."""
        self.closing = True
        for w in getattr(self, "comparisons", []):
            w.close()
        self.runner.stop()
        self.aux.cancel()
        self.threads.wait_all(1.5)
        super().closeEvent(e)

    def after_close(self) -> None:
        """After the event loop ended: wait for a task still finishing."""
        self.threads.wait_all()


def build_attention_window(file: str | None = None, example: str | None = None) -> AttentionWindow:
    """A shown attention window loading FILE or the labelled example."""
    win = AttentionWindow()
    win.show()
    win.load(file, example)
    return win


__all__ = ["AttentionWindow", "EQUATIONS", "build_attention_window"]

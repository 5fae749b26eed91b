"""The ConvLSTM window: a run on frames opened with ``lstm-explorer RUN`` (a folder written by
``lstm-explorer train FRAMES --cell convlstm``). It shows the input frame, the prediction and the
true next frame side by side and every gate and state of the chosen channel as a small image
(:mod:`explorer.figures.convlstm_picture`); the step slider (or ← →) walks through time.

Train runs more epochs in a worker thread (:func:`explorer.app.frames_run.train_frames_task`),
saving the run into its folder after each epoch; the picture redraws with each epoch's weights on
a clone of the model (the worker owns the run's model while it trains). Stop ends it within a step.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QMainWindow, QPushButton, QSizePolicy,
                               QSlider, QSpinBox, QVBoxLayout, QWidget)

from explorer.app.convlstm_view import ConvLSTMView
from explorer.app.frames_run import EpochReport, train_frames_task
from explorer.figures.convlstm_picture import (LOGICAL_H, LOGICAL_W, STRIP_NAMES, hit, paint_convlstm, paint_strip,
                                              render_png, render_strip_png, render_strip_svg, render_svg)
from explorer.gui.training import TrainingRunner
from explorer.gui.worker import TaskWorker, ThreadRegistry


class ConvLSTMCanvas(QWidget):
    """Paints the picture of the window's current place, scaled to the widget."""

    def __init__(self, owner: ConvLSTMWindow):
        super().__init__()
        self.owner = owner
        self.setMinimumSize(400, 260)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)      # ← → step through time when it has focus
        self.setMouseTracking(True)
        self.hover = None                                     # (row, column) under the pointer

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(int(LOGICAL_W), int(LOGICAL_H))

    def keyPressEvent(self, event) -> None:  # noqa: N802
        step = {Qt.Key.Key_Right: 1, Qt.Key.Key_Left: -1}.get(event.key())
        if step is None:
            super().keyPressEvent(event)
            return
        slider = self.owner.step
        slider.setValue(slider.value() + step)

    def pixel_at(self, x: float, y: float):
        """``(image, row, column)`` under widget point (x, y), or None."""
        view = self.owner.view
        if self.owner.strip() is not None:
            return None
        shape = view.trace.x.shape[3:]
        return hit(self.width(), self.height(), x, y, shape, view.target is not None)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        pos = event.position()
        found = self.pixel_at(pos.x(), pos.y())
        hover = None if found is None else found[1:]
        if hover != self.hover:
            self.hover = hover
            self.update()
        self.setToolTip("" if found is None else "\n".join(self.owner.pixel_lines(*hover)))

    def mousePressEvent(self, event) -> None:  # noqa: N802
        pos = event.position()
        found = self.pixel_at(pos.x(), pos.y())
        if found is not None:
            self.owner.select_pixel(*found[1:])
        super().mousePressEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: N802
        self.hover = None
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        strip = self.owner.strip()
        try:
            if strip is not None:
                paint_strip(p, self.width(), self.height(), self.owner.view, strip, self.owner.place()[2],
                            self.owner.strip_title())
                return
            window = None
            if self.hover is not None:
                t, ch, layer = self.owner.place()
                window = self.owner.view.pixel_sums(t, ch, layer, *self.hover)["window"] if layer == 0 else None
            paint_convlstm(p, self.width(), self.height(), *self.owner.picture(), hover=self.hover, window=window)
        finally:
            p.end()


class ConvLSTMWindow(QMainWindow):
    """A :class:`~explorer.app.frames_run.FramesRun` shown sample by sample, step by step."""

    def __init__(self, run, name: str = "run", folder=None):
        super().__init__()
        self.run = run
        self.name = name
        self.folder = folder
        self.model = run.model.clone()              # what the picture draws; the run's own trains
        self.threads = ThreadRegistry(self)
        self.runner = TrainingRunner(self.threads, self._apply_reports, merge=list,
                                     accept=lambda v: isinstance(v, EpochReport), parent=self)   # every epoch, in order
        self.runner.sigDone.connect(self._on_train_done)
        ds = run.dataset
        self._val = ds.n_val > 0
        self.setWindowTitle(f"LSTM Explorer — ConvLSTM — {name}")
        self.canvas = self.diagram = ConvLSTMCanvas(self)
        self.sample = QSpinBox()
        self.sample.setRange(1, ds.n_val if self._val else ds.n_train)
        self.step = QSlider(Qt.Orientation.Horizontal)
        self.step.setRange(1, ds.x_train.shape[1])
        self.step_label = QLabel()
        self.step_label.setTextFormat(Qt.TextFormat.PlainText)
        self.channel = QSpinBox()
        self.channel.setRange(1, run.model.n_units)
        self.layer = QSpinBox()
        self.layer.setRange(1, run.model.num_layers)
        self.show_box = QComboBox()
        self.show_box.addItem("one channel's gates", None)
        for name in STRIP_NAMES:
            self.show_box.addItem(f"strip of {name}", name)
            self.show_box.setItemData(self.show_box.count() - 1, f"{name} of every channel (rows) at every step "
                                      "(columns)", Qt.ItemDataRole.ToolTipRole)
        png, svg = QPushButton("Export PNG…"), QPushButton("Export SVG…")
        self.csv_button = QPushButton("Export pixel CSV…")
        self.csv_button.setEnabled(False)
        self.csv_button.setToolTip("Click a pixel of an image first: its values at every step")
        bar = QHBoxLayout()
        for label, widget in ((f"{'Validation' if self._val else 'Training'} sequence", self.sample),
                              ("Step", self.step), (None, self.step_label), ("Channel", self.channel),
                              ("Layer", self.layer), ("Show", self.show_box)):
            if label:
                text = QLabel(label)
                text.setTextFormat(Qt.TextFormat.PlainText)
                bar.addWidget(text)
            bar.addWidget(widget, 3 if widget is self.step else 0)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(5)
        self.train_button, self.stop_button = QPushButton("Train"), QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.status = QLabel(self._trained_text())
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)   # never widens the window
        train_bar = QHBoxLayout()
        for label, widget in (("Epochs", self.epochs), (None, self.train_button), (None, self.stop_button),
                              (None, self.status), (None, png), (None, svg), (None, self.csv_button)):
            if label:
                text = QLabel(label)
                text.setTextFormat(Qt.TextFormat.PlainText)
                train_bar.addWidget(text)
            train_bar.addWidget(widget, 1 if widget is self.status else 0)
        self.info = QLabel(f"{ds.describe()}\n{run.model.describe()}")
        self.info.setTextFormat(Qt.TextFormat.PlainText)
        self.info.setWordWrap(True)
        box = QVBoxLayout()
        box.addLayout(bar)
        box.addLayout(train_bar)
        box.addWidget(self.canvas, 1)
        box.addWidget(self.info)
        central = QWidget()
        central.setLayout(box)
        self.setCentralWidget(central)
        self.sample.valueChanged.connect(self._on_sample_changed)
        for w in (self.step, self.channel, self.layer):
            w.valueChanged.connect(self._on_place_changed)
        self.show_box.currentIndexChanged.connect(self._on_place_changed)
        self.train_button.clicked.connect(self.train)
        self.stop_button.clicked.connect(self.stop)
        png.clicked.connect(lambda: self._export("PNG image (*.png)", ".png", self.export_png))
        svg.clicked.connect(lambda: self._export("SVG image (*.svg)", ".svg", self.export_svg))
        self.csv_button.clicked.connect(lambda: self._export("CSV table (*.csv)", ".csv", self.export_pixel_csv))
        self.selected = None                       # (row, column) clicked: the pixel Export pixel CSV writes
        self.view = None
        self._on_sample_changed()
        self.canvas.setFocus()

    # -- the place shown ----------------------------------------------------------------------
    def _on_sample_changed(self) -> None:
        ds, b = self.run.dataset, self.sample.value() - 1
        x, y = (ds.x_val, ds.y_val) if self._val else (ds.x_train, ds.y_train)
        self.view = ConvLSTMView(self.model, x[b:b + 1], y[b:b + 1], ds.loss)
        self._on_place_changed()

    def _on_place_changed(self) -> None:
        self.step_label.setText(f"{self.step.value()} of {self.view.T}")
        self.canvas.update()

    def strip(self) -> str | None:
        """The gate or state shown as a frame strip, or None for the picture of one channel."""
        return self.show_box.currentData()

    def strip_title(self) -> str:
        part = "validation" if self._val else "training"
        return (f"{self.name} · {part} sequence {self.sample.value()} · {self.strip()} of layer "
                f"{self.layer.value()}, every channel and step")

    def place(self) -> tuple:
        """(step, channel, layer), 0-based."""
        return self.step.value() - 1, self.channel.value() - 1, self.layer.value() - 1

    def picture(self) -> tuple:
        """``(images, title, vmax)`` of the current place, as :func:`paint_convlstm` takes them."""
        t, ch, layer = self.place()
        part = "validation" if self._val else "training"
        title = (f"{self.name} · {part} sequence {self.sample.value()} · step {t + 1} of {self.view.T}")
        return self.view.at(t, ch, layer), title, self.view.state_range(layer)

    def select_pixel(self, row: int, col: int) -> None:
        self.selected = (row, col)
        self.csv_button.setEnabled(True)
        self.csv_button.setText(f"Export pixel ({row + 1}, {col + 1}) CSV…")

    def export_pixel_csv(self, path) -> None:
        """The selected pixel's input, prediction, truth, convolution sums, gates and states at
        every step of the channel and layer shown."""
        _, ch, layer = self.place()
        self.view.write_pixel_csv(path, ch, layer, *self.selected)

    def pixel_lines(self, row: int, col: int) -> list[str]:
        """The gate equations of pixel (row, col) at the current place, with their numbers."""
        t, ch, layer = self.place()
        return self.view.pixel_lines(t, ch, layer, row, col)

    # -- export --------------------------------------------------------------------------------
    def export_png(self, path) -> bool:
        """What the canvas shows, as a PNG (2000 × 1280)."""
        if self.strip() is not None:
            return render_strip_png(path, self.view, self.strip(), self.place()[2], self.strip_title())
        return render_png(path, *self.picture())

    def export_svg(self, path) -> None:
        """What the canvas shows, as an SVG (1000 × 640)."""
        if self.strip() is not None:
            render_strip_svg(path, self.view, self.strip(), self.place()[2], self.strip_title())
        else:
            render_svg(path, *self.picture())

    def _export(self, kind: str, suffix: str, write) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export", f"convlstm{suffix}", kind)
        if path:
            write(path if path.endswith(suffix) else path + suffix)

    # -- training --------------------------------------------------------------------------------
    def _trained_text(self) -> str:
        tr = self.run.trainer
        return f"trained {tr.epoch} epoch{'s' * (tr.epoch != 1)} ({tr.step} steps)"

    @property
    def training(self) -> bool:
        return self.worker is not None

    def train(self) -> None:
        """Train the chosen number of epochs more, in a worker thread."""
        if self.worker is not None:
            return
        self.train_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.status.setText(f"training {self.epochs.value()} epoch(s)…")
        self.runner.start(partial(train_frames_task, run=self.run, epochs=self.epochs.value(), folder=self.folder))

    @property
    def worker(self) -> TaskWorker | None:
        """The training task's worker (None while idle)."""
        return self.runner.worker

    def _apply_reports(self, reports: list) -> None:
        for report in reports:
            self._on_epoch(report)

    def stop(self) -> None:
        if self.worker is not None:
            self.runner.stop()
            self.status.setText("stopping after this step…")

    def _on_epoch(self, report) -> None:
        """An epoch ended: draw its weights, say its losses (the driver's step updates pass)."""
        if not isinstance(report, EpochReport):
            return
        self.model.params[...] = report.params
        self._on_sample_changed()
        text = (f"epoch {report.epoch} of {report.epochs}: train {report.train_loss:.4g}, validation "
                f"{report.val_loss:.4g} ({self.run.loss_units}); next-frame MSE {report.prediction_mse:.4g}, "
                f"copying the last frame {report.copy_mse:.4g}")
        self.status.setText(text + (f"; not saved: {report.saved}" if report.saved else ""))

    def _on_train_done(self, worker) -> None:
        self.train_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.model.params[...] = self.run.model.params
        self._on_sample_changed()
        if worker.error is not None:
            self.status.setText(f"training stopped: {worker.error}")
        elif worker.result is not None and worker.result.reason == "diverged":
            self.status.setText(f"{worker.result.message} {self._trained_text()}"
                                + (f"; saved in {self.folder}" if self.folder else ""))
        else:
            self.status.setText(f"{self._trained_text()}" + (f"; saved in {self.folder}" if self.folder else ""))

    def closeEvent(self, event) -> None:  # noqa: N802
        self.after_close()
        super().closeEvent(event)

    def after_close(self) -> None:
        """Stop training (within a step) and wait for the worker thread."""
        self.threads.shutdown(0.2)
        self.threads.wait_all()


__all__ = ["ConvLSTMWindow", "ConvLSTMCanvas"]

"""The Tree-LSTM window: a tree drawn with a compact cell at every node, stepped through in
evaluation order, trained live.

``lstm-explorer --trees RUN | TREES | arithmetic | sentiment-trees [--cell treelstm|nary-treelstm]``
opens it on a tree run folder (its model), a tree file or a tree example (fresh weights; Train
trains in a worker thread and the drawing follows every epoch). Left/Right (and the bar) step
through the nodes children before parents, Home/End jump; Page Up/Down change the tree; Ctrl+wheel
or Ctrl+= / Ctrl+- zoom, the view scrolls. The equations show the current node's numbers for the
chosen unit, one f term per child; below them a heatmap of c (or h, i, o, u) by node × unit.
File › Export writes the picture (PNG, SVG) and every node's
quantities (CSV).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QKeySequence, QPainter, QPen, QShortcut
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QMainWindow, QPlainTextEdit, QPushButton,
                               QScrollArea, QSlider, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from explorer.app.tasks import TrainingResult
from explorer.app.tree_train import (FlatSequenceModel, TreeData, TreeRun, TreeSettings, compare_task,
                                     read_tree_run, tree_train_task)
from explorer.data.trees import in_order
from explorer.app.tree_view import TreeShow, show_tree
from explorer.figures.tree_diagram import TreePicture, node_heatmap
from explorer.gui.training import TrainingRunner
from explorer.gui.worker import TaskWorker, ThreadRegistry


class TreeCanvas(QWidget):
    """Paints a :class:`~explorer.figures.tree_diagram.TreePicture` at ``zoom`` × its own size;
    a click on a node emits :attr:`sigNodeClicked`."""

    sigNodeClicked = Signal(int)
    sigZoom = Signal(int)                      # +1 in, −1 out (Ctrl+wheel)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.picture: TreePicture | None = None
        self.zoom = 1.0

    def set_picture(self, picture: TreePicture) -> None:
        self.picture = picture
        self._resize()
        self.update()

    def set_zoom(self, zoom: float) -> None:
        self.zoom = float(min(4.0, max(0.2, zoom)))
        self._resize()
        self.update()

    def _resize(self) -> None:
        if self.picture is not None:
            w, h = self.picture.size()
            self.setFixedSize(QSize(round(w * self.zoom), round(h * self.zoom)))

    def paintEvent(self, event):  # noqa: N802 - Qt's name
        if self.picture is None:
            return
        p = QPainter(self)
        try:
            self.picture.paint(p, self.width(), self.height())
        finally:
            p.end()

    def mousePressEvent(self, event):  # noqa: N802
        if self.picture is None:
            return
        j = self.picture.node_at(event.position().x(), event.position().y(), self.width(), self.height())
        if j is not None:
            self.sigNodeClicked.emit(j)

    def wheelEvent(self, event):  # noqa: N802
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.sigZoom.emit(1 if event.angleDelta().y() > 0 else -1)
            event.accept()
        else:
            event.ignore()


class NodeHeatmapView(QWidget):
    """One quantity by node (rows, evaluation order) × unit (columns) on the diverging scale, the
    current node's row outlined; a click on a row emits :attr:`sigNodeClicked`."""

    sigNodeClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.image = None
        self.row = 0
        self.setMinimumHeight(120)

    def set_values(self, values, row: int) -> None:
        self.image = node_heatmap(values)
        self.row = int(row)
        self.update()

    def _cell(self) -> tuple[float, float]:
        return self.width() / self.image.width(), self.height() / self.image.height()

    def paintEvent(self, event):  # noqa: N802
        if self.image is None:
            return
        p = QPainter(self)
        try:
            p.drawImage(self.rect(), self.image)             # nearest: one block per value
            cw, ch = self._cell()
            p.setPen(QPen(QColor("black"), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(1, self.row * ch, self.width() - 2, max(ch, 2)))
        finally:
            p.end()

    def mousePressEvent(self, event):  # noqa: N802
        if self.image is not None:
            _, ch = self._cell()
            self.sigNodeClicked.emit(int(min(self.image.height() - 1, event.position().y() // ch)))


class TreeWindow(QMainWindow):
    """The window over a :class:`~explorer.app.tree_train.TreeRun` (its validation trees, or its
    training trees when it has none). ``tree``, ``node`` and ``unit`` say what is shown."""

    sigTrained = Signal(object)                 # a history row, after the drawing followed it

    def __init__(self, run: TreeRun, title: str = ""):
        super().__init__()
        self.run = run
        self.model = run.model.clone()          # what is drawn: the worker trains run.model
        self.trees = run.data.val or run.data.train
        self.tree, self.node, self.unit = 0, 0, 0
        self.epochs_per_train = 5               # epochs one press of Train adds
        self.current: TreeShow | None = None
        self.registry = ThreadRegistry(self)
        self.runner = TrainingRunner(self.registry, self._apply_updates, merge=list,
                                     accept=lambda v: isinstance(v, dict), parent=self)   # every epoch's row, in order
        self.runner.sigDone.connect(self._on_worker_done)
        self.flat: FlatSequenceModel | None = None          # trained by the worker
        self.flat_model = None                              # what the window predicts with
        self.setWindowTitle(f"Tree-LSTM \u2014 {title}" if title else "Tree-LSTM")
        self._build()
        self._refresh(keep_node=False)

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.canvas = TreeCanvas()
        self.canvas.sigNodeClicked.connect(self._on_canvas_node_clicked)
        self.canvas.sigZoom.connect(self._on_canvas_zoom)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.canvas)
        self.scroll.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.equations = QPlainTextEdit()
        self.equations.setReadOnly(True)
        self.equations.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = self.equations.font()
        font.setFamily("monospace")
        self.equations.setFont(font)
        self.quantity = QComboBox()
        self.quantity.addItems(["c", "h", "i", "o", "u"])
        self.quantity.currentTextChanged.connect(self._on_quantity_changed)
        self.heatmap = NodeHeatmapView()
        self.heatmap.sigNodeClicked.connect(self._on_canvas_node_clicked)
        heat_title = QLabel("by node (rows, evaluation order) \u00d7 unit (columns)")
        heat_title.setTextFormat(Qt.TextFormat.PlainText)
        side = QWidget()
        side_lay = QVBoxLayout(side)
        side_lay.setContentsMargins(0, 0, 0, 0)
        side_lay.addWidget(self.equations, 1)
        row = QHBoxLayout()
        row.addWidget(self.quantity)
        row.addWidget(heat_title, 1)
        side_lay.addLayout(row)
        side_lay.addWidget(self.heatmap, 1)
        split = QSplitter()
        split.addWidget(self.scroll)
        split.addWidget(side)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 0)
        split.setSizes([1100, 340])
        self.equations.setMinimumWidth(260)
        self.split = split

        self.tree_box = QSpinBox()
        self.tree_box.setRange(0, len(self.trees) - 1)
        self.tree_box.setPrefix("tree ")
        self.tree_box.valueChanged.connect(self._on_tree_box_changed)
        self.unit_box = QSpinBox()
        self.unit_box.setRange(0, self.model.n_units - 1)
        self.unit_box.setPrefix("unit ")
        self.unit_box.valueChanged.connect(self._on_unit_box_changed)
        self.train_button = QPushButton("Train")
        self.train_button.clicked.connect(self._on_train_clicked)
        self.compare_button = QPushButton("Compare with the sequence LSTM")
        self.compare_button.setToolTip("Train the Tree-LSTM and a sequence LSTM reading the same tokens "
                                       "flat (left to right), side by side, and show both on every tree")
        self.compare_button.clicked.connect(self._on_compare_clicked)
        self.compare_label = QLabel()
        self.compare_label.setTextFormat(Qt.TextFormat.PlainText)
        self.compare_label.setWordWrap(True)
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        top = QHBoxLayout()
        for w in (self.tree_box, self.unit_box, self.train_button, self.compare_button):
            top.addWidget(w)
        top.addWidget(self.status, 1)

        self.bar = QSlider(Qt.Orientation.Horizontal)
        self.bar.valueChanged.connect(self._on_bar_changed)
        self.bar_label = QLabel()
        self.bar_label.setTextFormat(Qt.TextFormat.PlainText)
        bottom = QHBoxLayout()
        bottom.addWidget(self.bar, 1)
        bottom.addWidget(self.bar_label)

        body = QWidget()
        lay = QVBoxLayout(body)
        lay.addLayout(top)
        lay.addWidget(self.compare_label)
        self.compare_label.hide()
        lay.addWidget(split, 1)
        lay.addLayout(bottom)
        self.setCentralWidget(body)

        for key, slot in ((Qt.Key.Key_Right, lambda: self.set_node(self.node + 1)),
                          (Qt.Key.Key_Left, lambda: self.set_node(self.node - 1)),
                          (Qt.Key.Key_Home, lambda: self.set_node(0)),
                          (Qt.Key.Key_End, lambda: self.set_node(self.current.n_nodes - 1)),
                          (Qt.Key.Key_PageDown, lambda: self.tree_box.setValue(self.tree + 1)),
                          (Qt.Key.Key_PageUp, lambda: self.tree_box.setValue(self.tree - 1))):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(slot)
        for seq, step in ((QKeySequence.StandardKey.ZoomIn, 1), (QKeySequence.StandardKey.ZoomOut, -1)):
            sc = QShortcut(QKeySequence(seq), self)
            sc.activated.connect(lambda s=step: self._on_canvas_zoom(s))
        menu = self.menuBar().addMenu("&File")
        export = menu.addMenu("E&xport")
        for text, slot in (("Tree picture (PNG or SVG)…", self._on_export_picture),
                           ("Every node's quantities (CSV)…", self._on_export_csv)):
            export.addAction(text).triggered.connect(slot)
        menu.addAction("&Close", self.close)

    # -- what is shown --------------------------------------------------------------------------
    def _refresh(self, keep_node: bool = True) -> None:
        tree = self.trees[self.tree]
        self.current = show_tree(self.model, self.run.data, tree, self._title())
        if not keep_node:
            self.node = self.current.n_nodes - 1
        self.node = min(self.node, self.current.n_nodes - 1)
        self.bar.blockSignals(True)
        self.bar.setRange(0, self.current.n_nodes - 1)
        self.bar.setValue(self.node)
        self.bar.blockSignals(False)
        self._draw()

    def _title(self) -> str:
        part = "validation" if self.run.data.val else "training"
        done = len(self.run.history)
        return (f"{self.model.kind}: {part} tree {self.tree} of {len(self.trees)}, "
                f"after {done} epoch{'s' * (done != 1)}")

    def fit(self) -> None:
        """Zoom so the whole tree fits the view, between 0.6× (text stays readable; a larger
        tree scrolls) and 1.5×."""
        w, h = self.picture().size()
        vp = self.scroll.viewport()
        room = min(max(100, vp.width() - 4) / w, max(100, vp.height() - 4) / h)
        self.canvas.set_zoom(min(1.5, max(0.6, room)))

    def showEvent(self, event):  # noqa: N802
        super().showEvent(event)
        self.fit()

    def resizeEvent(self, event):  # noqa: N802
        super().resizeEvent(event)
        self.split.setSizes([max(200, self.width() - 360), 340])
        self.fit()

    def _draw(self) -> None:
        pic = TreePicture(self.current, self.unit, self.node, self.logicalDpiX())
        self.canvas.set_picture(pic)
        scale, dx, dy = pic.transform(self.canvas.width(), self.canvas.height())
        c = pic.centre(self.node)
        self.scroll.ensureVisible(round(dx + c.x() * scale), round(dy + c.y() * scale), 80, 60)
        self.equations.setPlainText("\n".join(self.current.equations(self.node, self.unit)))
        self.heatmap.set_values(getattr(self.current.trace, self.quantity.currentText()), self.node)
        self.bar_label.setText(f"node {self.node} ({self.node + 1} of {self.current.n_nodes})")

    def set_node(self, j: int) -> None:
        """Show node ``j`` (clamped) as the current step."""
        j = int(min(max(j, 0), self.current.n_nodes - 1))
        if j != self.node or self.bar.value() != j:
            self.node = j
            self.bar.blockSignals(True)
            self.bar.setValue(j)
            self.bar.blockSignals(False)
            self._draw()

    @Slot(int)
    def _on_bar_changed(self, value: int) -> None:
        self.set_node(value)

    @Slot(int)
    def _on_canvas_node_clicked(self, j: int) -> None:
        self.set_node(j)

    @Slot(int)
    def _on_canvas_zoom(self, step: int) -> None:
        self.canvas.set_zoom(self.canvas.zoom * (1.25 if step > 0 else 0.8))

    @Slot(int)
    def _on_tree_box_changed(self, value: int) -> None:
        self.tree = value
        self._refresh(keep_node=False)
        self._show_comparison()
        self.fit()

    @Slot(str)
    def _on_quantity_changed(self, name: str) -> None:
        self._draw()

    @Slot(int)
    def _on_unit_box_changed(self, value: int) -> None:
        self.unit = value
        self._draw()

    # -- training -------------------------------------------------------------------------------
    @Slot()
    def _on_train_clicked(self) -> None:
        if self.worker is not None:
            self.runner.stop()
            return
        self.run.settings.epochs = len(self.run.history) + self.epochs_per_train
        self._start(tree_train_task(self.run))

    @Slot()
    def _on_compare_clicked(self) -> None:
        if self.worker is not None:
            self.runner.stop()
            return
        if self.flat is None:
            s = self.run.settings
            self.flat = FlatSequenceModel(self.run.data, s.units, s.batch, s.lr, s.seed)
            self.flat_model = self.flat.model.clone()
        self._start(compare_task(self.run, self.flat, self.epochs_per_train))

    def _start(self, task) -> None:
        self.train_button.setText("Stop")
        self.compare_button.setEnabled(False)
        self.status.setText("training…")
        self.runner.start(task)

    @property
    def worker(self) -> TaskWorker | None:
        """The training task's worker (None while idle)."""
        return self.runner.worker

    def _apply_updates(self, updates: list) -> None:
        for update in updates:
            self._on_worker_partial(update)

    def _show_comparison(self) -> None:
        """One paragraph: both models' validation root errors, and this tree's root by each."""
        if self.flat is None or not self.flat.history:
            return
        units = "RMSE" if self.run.data.bank.label_kind == "values" else "share wrong"
        tree = self.trees[self.tree]
        flat = self.flat.predict_root(tree, self.flat_model)
        fmt = (lambda v: f"{v:.2f}") if self.run.data.bank.label_kind == "values" else str
        lab = tree.labels[-1]
        self.compare_label.setText(
            f"Validation root error ({units}): Tree-LSTM {self.run.history[-1]['val_root_error']:.4g} after "
            f"{len(self.run.history)} epochs, sequence LSTM {self.flat.history[-1]['val_root_error']:.4g} after "
            f"{len(self.flat.history)}. This tree's root: label {'-' if np.isnan(lab) else f'{lab:g}'}, Tree-LSTM "
            f"{self.current.predictions[-1]}, sequence LSTM {'-' if flat is None else fmt(flat)} "
            f"(reading \u201c{' '.join(in_order(tree))}\u201d).")
        self.compare_label.show()

    @Slot(object)
    def _on_worker_partial(self, update) -> None:
        if not isinstance(update, dict):              # the training task's step updates: not drawn here
            return
        self.model.params[...] = update["params"]
        if "flat_params" in update:
            self.flat_model.params[...] = update["flat_params"]
        row = update["row"]
        self.status.setText(f"epoch {row['epoch']}: validation loss {row['val_loss']:.4g}, "
                            f"node error {row['val_node_error']:.4g}, root error {row['val_root_error']:.4g}")
        self._refresh()
        self._show_comparison()
        self.sigTrained.emit(row)

    @Slot(object)
    def _on_worker_done(self, worker) -> None:
        self.train_button.setText("Train")
        self.compare_button.setEnabled(True)
        if worker.error:
            self.status.setText(f"training stopped: {worker.error}")
        elif isinstance(worker.result, TrainingResult) and worker.result.reason == "diverged":
            self.status.setText(worker.result.message)

    def closeEvent(self, event):  # noqa: N802
        self.registry.shutdown()
        super().closeEvent(event)

    # -- exports --------------------------------------------------------------------------------
    def picture(self) -> TreePicture:
        return TreePicture(self.current, self.unit, self.node, self.logicalDpiX())

    def export_png(self, path) -> bool:
        return self.picture().export_png(path)

    def export_svg(self, path) -> None:
        self.picture().export_svg(path)

    def export_csv(self, path) -> None:
        header, rows = self.current.csv_rows()
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)

    @Slot()
    def _on_export_picture(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the tree", "tree.png", "PNG (*.png);;SVG (*.svg)")
        if path:
            self._write(path, self.export_svg if path.lower().endswith(".svg") else self.export_png)

    @Slot()
    def _on_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export every node", "tree_nodes.csv", "CSV (*.csv)")
        if path:
            self._write(path, self.export_csv)

    def _write(self, path, fn) -> None:
        try:
            fn(path)
        except OSError as exc:
            self.status.setText(f"{Path(path).name} could not be written ({exc.strerror or exc}); "
                                "choose another folder.")


def tree_run_from(source: str, cell: str | None = None) -> tuple[TreeRun, str]:
    """``(run, title)`` for ``--trees SOURCE``: a tree run folder (its model and settings), a tree
    example's name or a tree file (fresh weights of ``cell``, default nary-treelstm for binarised
    trees, else treelstm)."""
    from explorer.data.examples import load_tree_example
    from explorer.data.trees import TREE_EXAMPLES, load_trees

    path = Path(source)
    if (path / "tree_run.json").is_file():
        return read_tree_run(path)[0], path.name
    bank = load_tree_example(source) if source in TREE_EXAMPLES else load_trees(source)
    if cell is None:
        binary = all(len(k) in (0, 2) for t in bank.trees for k in t.children)
        cell = "nary-treelstm" if binary else "treelstm"
    data = TreeData.split(bank, 0.1)
    return TreeRun(data, TreeSettings(cell=cell, units=16, epochs=0)), path.name if path.exists() else source


__all__ = ["TreeCanvas", "TreeWindow", "tree_run_from"]

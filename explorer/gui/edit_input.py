"""The "Edit input" dock (View › Edit input): change the selected sample's input and watch the
trained model respond.

A series: a small plot of the sample's input columns; drag a point of the chosen column to move
it, drag anywhere else to draw a stretch of it with the mouse, or paste values (comma, space or
newline separated) from a step on. A text: type over it (characters are overwritten; words keep
their count). Every change becomes the session's edit (:meth:`explorer.app.session.Session.set_edit`):
the display controller computes the trace of the edited input with the interventions held — at
once on the GUI thread for a small model —, and every view labels it "sample 3 (edited)". Reset
goes back to the sample's own input; "Save as new sample" appends the edited input to the
validation part in memory and selects it. The rules are Qt-free in :mod:`explorer.app.edit`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QComboBox, QDockWidget, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton,
                               QSpinBox, QStackedWidget, QVBoxLayout, QWidget)

from explorer.app.edit import (EditError, append_sample, draw_stretch, drag_point, input_of, is_text, make_edit,
                               paste_values, text_of, tokenise)
from explorer.figures.panel import SpanViewBox
from explorer.figures.plots import TRAIN_COLOR

NEAR_PX = 10          # a drag that starts this close to a point moves the point


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:]


class _EditBox(SpanViewBox):
    """A view box whose left drags edit the input (no panning or zooming by the mouse; any finite
    values plot)."""

    def __init__(self, owner):
        super().__init__(enableMenu=False)
        self.owner = owner
        self.setMouseEnabled(False, False)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - pyqtgraph's name
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        if ev.isStart():
            start = self.mapSceneToView(ev.buttonDownScenePos())
            self.owner.begin_stroke(start.x() - 1, start.y(), self.viewPixelSize()[1])
        p = self.mapSceneToView(ev.scenePos())
        self.owner.continue_stroke(p.x() - 1, p.y())          # the plot counts steps from 1
        if ev.isFinish():
            self.owner.end_stroke()


class EditInputController(QObject):
    """The Edit input dock (see the module docstring)."""

    sigEdited = Signal(object)           # the Edit now held (None: the sample's own input)
    sigRefused = Signal(str)             # an edit that was refused, in one sentence
    sigSaved = Signal(int)               # the index of a sample saved from an edit

    def __init__(self, session, status, *, position_selector, parent=None):
        super().__init__(parent)
        self.session, self.status_sink, self.position_selector = session, status, position_selector
        self._loading = False            # the text box is being filled from the session
        self._typing = False             # an edit typed in the text box is being applied
        self._stroke = None              # (mode, base input, points) while the mouse draws
        self._build()
        self.dock = QDockWidget("Edit input", parent)       # the window puts it at its right
        self.dock.setObjectName("dock_edit_input")
        self.dock.setWidget(self.page)
        self.dock.hide()
        s = self.session
        for ev in (s.events.run, s.events.sample, s.events.edit):
            ev.connect(self._reload)
        s.events.trace.connect(self._on_session_trace)
        s.events.training.connect(self._on_session_training)
        self._reload()

    # -- widgets ---------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.page = QWidget()
        v = QVBoxLayout(self.page)
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        v.addWidget(self.label)
        self.stack = QStackedWidget()
        v.addWidget(self.stack, 1)
        # a series
        series = QWidget()
        sv = QVBoxLayout(series)
        sv.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.column = QComboBox()
        self.column.setToolTip("The input column the mouse and pasted values edit")
        self.column.currentIndexChanged.connect(lambda _i: self._draw_plot())
        row.addWidget(QLabel("Column"))
        row.addWidget(self.column, 1)
        sv.addLayout(row)
        self.box = _EditBox(self)
        self.plot = pg.PlotWidget(viewBox=self.box)
        self.plot.setMinimumHeight(140)
        self.plot.setToolTip("Drag a point to move it; drag elsewhere to draw a stretch of the column")
        pal = self.page.palette()
        self.plot.setBackground(pal.color(QPalette.ColorRole.Base))
        item = self.plot.getPlotItem()
        item.setMenuEnabled(False)
        item.showGrid(x=True, y=True, alpha=0.15)
        for side in ("left", "bottom"):
            axis = item.getAxis(side)
            axis.setPen(pg.mkPen(pal.color(QPalette.ColorRole.Text)))
            axis.setTextPen(pg.mkPen(pal.color(QPalette.ColorRole.Text)))
            axis.enableAutoSIPrefix(False)
        self.plot.setLabel("bottom", "t")
        self.curves: list = []
        self.points = pg.ScatterPlotItem(size=7, brush=pg.mkBrush(TRAIN_COLOR), pen=None)
        self.plot.addItem(self.points)
        sv.addWidget(self.plot, 1)
        row = QHBoxLayout()
        self.paste_edit = QLineEdit()
        self.paste_edit.setPlaceholderText("values: 0.1, 0.5, -0.2 …")
        self.paste_edit.setToolTip("Numbers separated by commas, spaces or newlines, written into the column "
                                   "from the step given on (T × columns values replace every column)")
        self.paste_edit.returnPressed.connect(lambda: self.paste(self.paste_edit.text()))
        self.paste_from = QSpinBox()
        self.paste_from.setPrefix("from t = ")
        self.paste_from.setMinimum(1)
        self.paste_button = QPushButton("Paste")
        self.paste_button.clicked.connect(lambda: self.paste(self.paste_edit.text()))
        sv.addWidget(self.paste_edit)
        row.addWidget(self.paste_from, 1)
        row.addWidget(self.paste_button)
        sv.addLayout(row)
        self.stack.addWidget(series)
        # a text
        self.text_edit = QPlainTextEdit()
        self.text_edit.setToolTip("Type over the text: the model reads it as you type")
        self.text_edit.textChanged.connect(self._on_text_changed)
        self.stack.addWidget(self.text_edit)
        # actions
        row = QHBoxLayout()
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Back to the sample's own input")
        self.reset_button.clicked.connect(self.reset)
        self.save_button = QPushButton("Save as new sample")
        self.save_button.setToolTip("Append the edited input to the validation samples (in memory) and select it")
        self.save_button.clicked.connect(self.save_as_sample)
        row.addWidget(self.reset_button)
        row.addWidget(self.save_button)
        row.addStretch(1)
        v.addLayout(row)
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        v.addWidget(self.status)

    # -- what is shown -------------------------------------------------------------------------------
    def current_input(self) -> np.ndarray | None:
        """The selected sample's input as it is drawn: the edit held, else the sample's own."""
        run = self.session.run
        if run is None or not self.session.n_samples():
            return None
        if self.session.edit is not None:
            return np.array(self.session.edit.x, copy=True)
        return input_of(run.dataset, self.session.position.sample)

    def _reload(self, *_):
        run = self.session.run
        x = self.current_input()
        self.page.setEnabled(x is not None and self.session.training != "running")
        if x is None:
            self.label.setText("No data")
            return
        ds = run.dataset
        edit = self.session.edit
        self.label.setText(f"sample {self.session.position.sample}" + (f" ({edit.label})" if edit else "")
                           + (" · " + ds.input_scaling if ds.input_scaling and not is_text(ds) else ""))
        self.reset_button.setEnabled(edit is not None)
        self.save_button.setEnabled(edit is not None)
        if edit is None:
            self.status.clear()
        self._loading = True
        try:
            if is_text(ds):
                self.stack.setCurrentIndex(1)
                level = ds.corpus.level if getattr(ds, "corpus", None) is not None else "char"
                self.text_edit.setOverwriteMode(level == "char")
                text = text_of(ds, x)
                if not self._typing and self.text_edit.toPlainText() != text:
                    self.text_edit.setPlainText(text)
            else:
                self.stack.setCurrentIndex(0)
                names = [str(c) for c in (ds.columns or [])][:x.shape[1]]
                names += [f"input {j + 1}" for j in range(len(names), x.shape[1])]
                if [self.column.itemText(k) for k in range(self.column.count())] != names:
                    self.column.clear()
                    self.column.addItems(names)
                self.paste_from.setMaximum(max(len(x), 1))
                self._draw_plot(x, autorange=self._stroke is None)
        finally:
            self._loading = False

    def _draw_plot(self, x=None, autorange: bool = True) -> None:
        x = self.current_input() if x is None else x
        if x is None or x.ndim != 2:
            return
        while len(self.curves) < x.shape[1]:
            self.curves.append(self.plot.plot(pen=pg.mkPen((150, 150, 150), width=1)))
        col = max(self.column.currentIndex(), 0)
        t = np.arange(1, len(x) + 1)                  # steps counted from 1, as the window shows them
        for j, c in enumerate(self.curves):
            if j < x.shape[1]:
                c.setData(t, x[:, j])
                c.setPen(pg.mkPen(TRAIN_COLOR if j == col else (160, 160, 160), width=2 if j == col else 1))
            else:
                c.setData([], [])
        self.points.setData(t, x[:, col])
        if autorange:
            self.box.autoRange(padding=0.15)

    def _on_session_trace(self, _trace) -> None:
        src = self.session.trace_source
        if src is not None and src.edit is not None and src.edit == self.session.edit:
            self.status.setText(f"Drawn: {src.text()}.")

    def _on_session_training(self, _state) -> None:
        self._reload()

    # -- editing ---------------------------------------------------------------------------------------
    def _apply(self, x) -> bool:
        run = self.session.run
        if run is None:
            return False
        same = np.array_equal(x, input_of(run.dataset, self.session.position.sample))
        edit = None if same else make_edit(x)
        self.session.set_edit(edit)
        self.sigEdited.emit(edit)
        return True

    def refuse(self, exc: Exception) -> None:
        text = _sentence(exc)
        self.status.setText(text)
        self.sigRefused.emit(text)

    def drag(self, t: int, value: float, column: int | None = None) -> bool:
        """Set the input at step ``t`` (0-based) of ``column`` (default: the chosen one) to ``value``."""
        x = self.current_input()
        if x is None:
            return False
        try:
            return self._apply(drag_point(x, t, self._column(column), value))
        except EditError as exc:
            self.refuse(exc)
            return False

    def draw(self, points, column: int | None = None) -> bool:
        """Draw ``points`` ((t, value), t in 0-based steps) into ``column``: the line through them."""
        x = self.current_input()
        if x is None:
            return False
        try:
            return self._apply(draw_stretch(x, self._column(column), points))
        except EditError as exc:
            self.refuse(exc)
            return False

    def paste(self, text: str, column: int | None = None, start: int | None = None) -> bool:
        """Write the values in ``text`` into ``column`` from step ``start`` (0-based; default the box's)."""
        x = self.current_input()
        if x is None:
            return False
        start = self.paste_from.value() - 1 if start is None else int(start)
        try:
            if x.ndim != 2:
                raise EditError("this sample's input is text; type over it instead of pasting values.")
            return self._apply(paste_values(x, text, self._column(column), start))
        except EditError as exc:
            self.refuse(exc)
            return False

    def type_text(self, text: str) -> bool:
        """Read ``text`` as the sample's input (a text dataset; the sample's length)."""
        run = self.session.run
        x = self.current_input()
        if x is None:
            return False
        try:
            if not is_text(run.dataset):
                raise EditError("this sample's input is values, not text; drag, draw or paste them.")
            return self._apply(tokenise(run.dataset, text, len(x), like=x))
        except EditError as exc:
            self.refuse(exc)
            return False

    def _column(self, column) -> int:
        return max(self.column.currentIndex(), 0) if column is None else int(column)

    def _on_text_changed(self) -> None:
        if not self._loading:
            self._typing = True
            try:
                self.type_text(self.text_edit.toPlainText())
            finally:
                self._typing = False

    # -- the mouse (see _EditBox) ---------------------------------------------------------------------
    def begin_stroke(self, t: float, value: float, px_per_unit: float) -> None:
        """A left drag starts at step ``t`` (0-based, fractional) and ``value``; ``px_per_unit``: the
        plot's values per pixel. Near a point it moves that point, elsewhere it draws."""
        x = self.current_input()
        if x is None or x.ndim != 2:
            self._stroke = None
            return
        col = self._column(None)
        k = int(round(min(max(t, 0), len(x) - 1)))
        near = abs(value - x[k, col]) <= NEAR_PX * max(px_per_unit, 1e-300) and abs(t - k) <= 0.5
        self.box.disableAutoRange()
        self._stroke = ("point", k, []) if near else ("draw", x, [(t, value)])

    def continue_stroke(self, t: float, value: float) -> None:
        if self._stroke is None:
            return
        mode, base, pts = self._stroke
        if mode == "point":
            self.drag(base, value)
        else:
            pts.append((t, value))
            try:
                self._apply(draw_stretch(base, self._column(None), pts))
            except EditError as exc:
                self.refuse(exc)

    def end_stroke(self) -> None:
        self._stroke = None

    # -- reset / save ------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the sample's own input."""
        self.session.set_edit(None)
        self.status.setText("")
        self.sigEdited.emit(None)

    def save_as_sample(self) -> int | None:
        """Append the edited input to the validation samples in memory and select it; its index."""
        s = self.session
        if s.run is None:
            return None
        try:
            k = append_sample(s.run.dataset, s.source())
        except EditError as exc:
            self.refuse(exc)
            return None
        self.position_selector.set_ranges(samples=s.n_samples())
        s.set_position(sample=k)
        text = (f"Saved the edited input as sample {k} (kept in memory with the validation samples until the "
                "data is reloaded).")
        self.status_sink.show_status(text, 10000)
        self.status.setText(text)
        self.sigSaved.emit(k)
        return k

"""The comparison view: two to four cells trained side by side, live, with one timestep control.

Opened by Training › Compare Cells… (a small dialog choosing the cells, on the window's data and
settings) or by ``lstm-explorer --compare rnn,gru,lstm [FILE | --example NAME]``. It is the
window's face of the one Qt-free comparison, :mod:`explorer.app.compare` — the same code the
headless ``lstm-explorer compare`` runs:

- ONE task runs :func:`~explorer.app.compare.comparison_task` (every cell round-robin in one
  thread) on the main window's :class:`~explorer.gui.training.TrainingRunner`: its partial
  results are whole :class:`~explorer.app.compare.ComparisonResult` snapshots of copies; the
  latest is drawn at the main window's adaptive rate, so the GUI thread never waits and training
  keeps its speed. Loading and the traces of another sample are requests of one
  :class:`~explorer.gui.worker.LatestTask` (a newer supersedes the older).
- A column per cell: its :class:`~explorer.gui.diagram.CellDiagramView` on a
  :class:`~explorer.app.Session` of its own (the trace from the snapshot), and its memory heatmap
  (:func:`explorer.app.memory_view.memory_to_end`: ∏ f for the LSTMs, ∏ z for the GRU; none for
  the RNN, with the sentence why). The sessions share their position (timestep, unit, sample):
  the one :class:`~explorer.gui.timestep_bar.TimestepBarWidget` moves every diagram.
- Below: the validation loss of every cell overlaid (with the target), the gradient norm through
  time at the LATEST step overlaid on one log axis (‖∂L/∂hₜ‖ solid, ‖∂L/∂cₜ‖ dashed: the RNN's
  falls by orders of magnitude while the LSTM's stays level), and the table
  (:meth:`~explorer.app.compare.ComparisonResult.rows`: parameters, steps to the target, seconds).
- Start / Stop / Continue (+N steps when the budget is spent) / Start Over; Export (the main
  window's :class:`~explorer.gui.export.ExportController`): every plot and diagram as PNG, SVG
  and CSV, and the table as ``comparison.csv``.

The worker never touches a widget, and the window never touches a run while the task owns the
comparison: it reads snapshots only.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import numpy.ma  # noqa: F401 - the table's medians import it on first use: at start, not in a redraw
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFormLayout, QHBoxLayout, QHeaderView, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QSizePolicy, QSpinBox, QSplitter, QStyle, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

import pyqtgraph as pg

from explorer.app import Session
from explorer.app.compare import Comparison, ComparisonResult, comparison_task
from explorer.app.memory_view import keep_gate, memory_title, memory_to_end
from explorer.app.cell_view import cell_view
from explorer.app.pacing import WorkPacer
from explorer.engine.describe import KINDS, describe
from explorer.figures import plots
from explorer.figures.panel import plain_html
from explorer.figures.report import CELL_COLORS
from explorer.figures.comparison_files import table_jobs
from explorer.gui.actions import add_export_menu, add_step_shortcuts, add_toolbar, make_action
from explorer.gui.banner import BannerWidget
from explorer.gui.diagram import CellDiagramView
from explorer.gui.export import ExportController
from explorer.gui.live_curves import LiveCurvesPlotWidget
from explorer.gui.plain_text import plain_label
from explorer.gui.position_selector import PositionSelectorWidget
from explorer.gui.status import WindowStatus
from explorer.gui.timestep_bar import TimestepBarWidget
from explorer.gui.training import TrainingRunner
from explorer.gui.turns import PanelSlot, TurnQueue
from explorer.gui.worker import LatestTask, ThreadRegistry

MIN_CELLS, MAX_CELLS = 2, 4
DEFAULT_CELLS = ("rnn", "gru", "lstm")
DEFAULT_MAX_STEPS = 3000            # the core's (and the command's) budget per cell
DEFAULT_TARGET = 0.01
MORE_STEPS = 500                    # Continue after the budget is spent: this many more per cell
TABLE_HEADER = ("cell", "parameters", "steps to target", "seconds", "val loss", "step")
NO_MEMORY = ("No memory heatmap for the plain RNN: it keeps no belt. Every step squashes everything it "
             "holds through hₜ = tanh(W xₜ + U hₜ₋₁ + b), so no gate decides how much of the past "
             "is kept — and its gradient through time fades the same way.")


def parse_cells(text, least: int | None = None) -> list[str]:
    """``"rnn,gru,lstm"`` → ``["rnn", "gru", "lstm"]``: two (``least``) to four known cells, each once.
    Raises ValueError with one sentence naming what is wrong and what to give."""
    cells = [c.strip().lower() for c in (text.split(",") if isinstance(text, str) else text) if c.strip()]
    for c in cells:
        if c not in KINDS:
            raise ValueError(f"names an unknown cell '{c}'; choose two to four of {', '.join(KINDS)}, "
                             "separated by commas (e.g. rnn,gru,lstm).")
    twice = [c for k, c in enumerate(cells) if c in cells[:k]]
    if twice:
        raise ValueError(f"names {twice[0]} twice; name each cell once (e.g. rnn,gru,lstm).")
    if not (least or MIN_CELLS) <= len(cells) <= MAX_CELLS:
        raise ValueError(f"gives {len(cells)} cell{'s' if len(cells) != 1 else ''}; compare "
                         f"{'one' if least == 1 else 'two'} to four of "
                         f"{', '.join(KINDS)}, separated by commas (e.g. rnn,gru,lstm).")
    return cells


def settings_text(settings) -> str:
    """The shared settings in one line (what every cell of the comparison trains with)."""
    clip = "off" if not settings.clip else f"{settings.clip:g}"
    deep = f", {settings.layers} layers" if settings.layers > 1 else ""
    bi = ", bidirectional" if settings.bidirectional else ""
    return (f"{settings.units} units{deep}{bi}, {settings.optimizer} lr {settings.lr:g}, batch {settings.batch}, "
            f"clipping {clip}, seed {settings.seed}")


class SharedPosition(QObject):
    """Keeps the position (timestep, unit, sample) of several sessions the same: whichever moves,
    the others follow (each set emits only on a change, so this ends after one round)."""

    def __init__(self, sessions, parent=None):
        super().__init__(parent)
        self.sessions = list(sessions)
        for s in self.sessions:
            s.events.position.connect(self._on_session_position)

    def _on_session_position(self, pos) -> None:
        for s in self.sessions:
            if s.position != pos:
                s.set_position(t=pos.t, unit=pos.unit, sample=pos.sample)


def _traces_task(state, comparison: Comparison, sample: int) -> ComparisonResult:
    """Idle comparison, another sample chosen: every cell's trace of ``sample`` (in a worker)."""
    return comparison.snapshot(traces=True, sample=sample)


def _load_task(state, file=None, example=None):
    """``--compare FILE | --example NAME``: the data, by the one loader (in a worker)."""
    if example is not None:
        from explorer.data.examples import load_example

        return load_example(example)
    from explorer.app.ingest import load_dataset

    return load_dataset(str(file))


# -- the window ---------------------------------------------------------------------------------------------
class CellColumn(QWidget):
    """One cell of the comparison: a header line, its diagram (on its own session) and its memory
    heatmap (or the sentence why there is none). The diagram and the heatmap are built in slots
    (:class:`~explorer.gui.turns.PanelSlot`): :attr:`diagram` and :attr:`memory` build them on first
    use; ``step_queue`` builds the heatmap's panels in turns of their own."""

    def __init__(self, cell: str, step_queue: TurnQueue | None = None, parent=None):
        super().__init__(parent)
        self.cell = cell
        self.session = Session()
        self.description = cell_view(cell)
        self.step_queue = step_queue
        self.vocab = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        self.header = QLabel()
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        lay.addWidget(self.header)
        self.diagram_slot = PanelSlot(self._make_diagram)
        self.diagram_slot.setMinimumSize(240, 170)
        lay.addWidget(self.diagram_slot, 3)
        self.gate = keep_gate(cell)
        if self.gate is not None:
            self.memory_title = memory_title(cell, short=True)           # short: four columns fit 1024 px
            self.memory_slot = PanelSlot(self._make_memory)
            self.memory_slot.setMinimumHeight(110)
            lay.addWidget(self.memory_slot, 2)
            self.no_memory = None
        else:
            self.memory_slot = None
            self.no_memory = QLabel(NO_MEMORY)
            self.no_memory.setWordWrap(True)
            self.no_memory.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.no_memory.setStyleSheet("padding: 12px;")
            self.no_memory.setMinimumHeight(110)
            lay.addWidget(self.no_memory, 2)
        self.set_header(None)

    def _make_diagram(self) -> CellDiagramView:
        diagram = CellDiagramView(self.session)
        diagram.setMinimumSize(240, 170)
        diagram.setObjectName(f"diagram_{self.cell}")
        diagram.vocab = self.vocab
        return diagram

    def _make_memory(self):
        memory = plots.MemoryHeatmapWidget()
        # one panel: built at once, in the memory job's turn (held: painted in a turn of its own)
        memory.step_queue = self.step_queue
        memory.setMinimumHeight(110)
        memory.setToolTip(f"Memory made visible: of what unit j wrote at step t, the share still on the "
                          f"belt at the last step, ∏ {self.gate}_s for s = t+1 … T ({self.description.title}: "
                          f"the keep gate is {self.gate}). 1 (blue): kept whole; 0: forgotten.")
        return memory

    @property
    def diagram(self) -> CellDiagramView:
        return self.diagram_slot.build()

    @property
    def memory(self):
        """The memory heatmap (None for a cell without a keep gate)."""
        return None if self.memory_slot is None else self.memory_slot.build()

    def set_vocab(self, vocab) -> None:
        self.vocab = vocab
        if self.diagram_slot.panel is not None:
            self.diagram_slot.panel.vocab = vocab

    def set_header(self, r) -> None:
        color = CELL_COLORS.get(self.cell, "#444")
        name = f"<b style='color:{color}'>{self.description.title}</b>"
        if r is None:
            self.header.setText(f"{name} · not started")
            return
        loss = "—" if not np.isfinite(r.final_val_loss) else f"{r.final_val_loss:.4g}"
        text = f"{name} · step {r.step} / {r.max_steps} · val loss {loss}"
        if r.steps_to_target is not None:
            text += f" · target at step {r.steps_to_target}"
        if r.message:
            text += f" · <span style='color:#b00020'>{plain_html(r.message)}</span>"
        self.header.setText(text)
        self.header.setToolTip(self.header.text().replace("<b", "<span").replace("</b>", "</span>"))

    def show_result(self, r) -> None:
        """Take one cell's snapshot: its header, and its trace (the diagram) if the snapshot
        carries one; the memory heatmap is :meth:`show_memory`'s, in a turn of its own."""
        self.set_header(r)
        if r.trace is not None:
            self.session.set_trace(r.trace, r.weights)

    def show_memory(self, trace, time_labels=None) -> None:
        """The memory heatmap of ``trace`` (unless a newer trace is shown by now)."""
        if self.memory is None or trace is None or trace is not self.session.trace:
            return
        self.memory.set_memory(memory_to_end(trace), title=self.memory_title, time_labels=time_labels)
        self.memory.set_time_marker(self.session.position.t)


class CompareDialog(QDialog):
    """Choose two to four cells (and the budget) to train side by side on the current data."""

    def __init__(self, parent=None, data_text: str = "", settings=None, cells=DEFAULT_CELLS,
                 max_steps: int = DEFAULT_MAX_STEPS, target_loss: float = DEFAULT_TARGET):
        super().__init__(parent)
        self.setWindowTitle("Compare cells")
        lay = QVBoxLayout(self)
        intro = QLabel("Train two to four cells side by side on the same data, seed, sizes and optimiser, "
                       "and watch why gates matter.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        row = QHBoxLayout()
        self.boxes = {}
        for kind in KINDS:
            b = QCheckBox(describe(kind).title)
            b.setChecked(kind in cells)
            b.toggled.connect(self._update_ok)
            self.boxes[kind] = b
            row.addWidget(b)
        lay.addLayout(row)
        form = QFormLayout()
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(10, 1_000_000)
        self.steps_spin.setSingleStep(100)
        self.steps_spin.setValue(int(max_steps))
        self.steps_spin.setToolTip("Training steps per cell (Continue adds more later)")
        form.addRow("Steps per cell", self.steps_spin)
        self.target_spin = QDoubleSpinBox()
        self.target_spin.setDecimals(4)
        self.target_spin.setRange(0.0001, 100.0)
        self.target_spin.setSingleStep(0.005)
        self.target_spin.setValue(float(target_loss))
        self.target_spin.setToolTip("The validation loss whose first crossing the table counts in steps and seconds")
        form.addRow("Target validation loss", self.target_spin)
        lay.addLayout(form)
        info = QLabel(f"Data: {plain_html(data_text)}"
                      + (f"<br>Settings: {plain_html(settings_text(settings))}" if settings else ""))
        info.setTextFormat(Qt.TextFormat.RichText)
        info.setWordWrap(True)
        info.setStyleSheet("color: palette(mid);")
        lay.addWidget(info)
        self.hint = QLabel()
        lay.addWidget(self.hint)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Compare")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self._update_ok()

    def cells(self) -> list[str]:
        return [k for k, b in self.boxes.items() if b.isChecked()]

    def _update_ok(self, *_):
        n = len(self.cells())
        ok = MIN_CELLS <= n <= MAX_CELLS
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
        self.hint.setText("" if ok else f"Choose two to four cells ({n} chosen).")


CONNECTIVITY_DIRECT_WORK = 400_000
"""Below this many multiply-adds (cells × directions × units × steps × (inputs + units) × layers)
the connectivity is computed at once on the GUI thread (about a millisecond); above, in a worker."""


def _connectivity_task(state, jobs, x, t, settings, n_inputs, n_outputs) -> dict:
    """In a worker: each cell's ‖∂hₜ/∂xₛ‖ (T,) for the sample ``x`` (1, T, m) with its weights."""
    from explorer.engine import make_model

    out = {}
    for cell, weights in jobs:
        state.check()
        model = make_model(cell, n_inputs, settings.units, n_outputs, num_layers=settings.layers,
                           bidirectional=settings.bidirectional)
        model.load_state_dict(weights)
        out[cell] = model.connectivity(x, t)[0]
    return out


class ComparisonWindow(QMainWindow):
    """Cells trained side by side, live (see the module docstring).

    ``ComparisonWindow(dataset, settings, cells)``; ``start()`` trains (in one worker),
    ``stop()``, ``start()`` again continues (after the budget: ``MORE_STEPS`` more per cell),
    ``start_over()`` begins again from fresh weights. ``threads``: the ThreadRegistry to run on
    (the main window's when opened from it, which keeps a finishing thread alive after this window
    closed); without one the window has its own and :meth:`after_close` waits for it. Its plots,
    diagrams and memory heatmaps are built after it opens, each in an event-loop turn of its own
    (:class:`~explorer.gui.turns.PanelSlot`; on demand when used sooner), before any snapshot is drawn.
    """

    sigResult = Signal(object)      # a ComparisonResult was drawn (partial or final)
    sigConnectivity = Signal(object)  # {cell: (sample, t, (T,) norms)} was drawn
    sigFinished = Signal(str)       # "done" | "stopped" | "error"
    sigDataLoaded = Signal(object)  # the dataset (--compare FILE | --example NAME)
    sigLoadFailed = Signal(str)

    def __init__(self, dataset=None, settings=None, cells=DEFAULT_CELLS, max_steps: int = DEFAULT_MAX_STEPS,
                 target_loss: float = DEFAULT_TARGET, eval_every: int = 50, threads: ThreadRegistry | None = None,
                 parent=None):
        super().__init__(parent)
        if parent is not None:
            self.setWindowFlag(Qt.WindowType.Window, True)
            parent.installEventFilter(self)          # the main window closing closes this one first
        self.cells = parse_cells(list(cells))
        self.dataset, self.settings = dataset, settings
        self.max_steps, self.target_loss, self.eval_every = int(max_steps), float(target_loss), int(eval_every)
        self.own_threads = threads is None
        self.threads = threads if threads is not None else ThreadRegistry(self)
        self.comparison: Comparison | None = None
        self.result: ComparisonResult | None = None
        self.runner = TrainingRunner(self.threads, self.show_result, progress=self._on_worker_progress,
                                     paint_s=lambda: sum(c.diagram_slot.panel.paint_ms() for c in self.columns.values()
                                                         if c.diagram_slot.panel is not None) / 1000.0,
                                     parent=self)
        self.runner.sigDone.connect(self._on_runner_done)
        self.aux = LatestTask(self.threads, parent=self)     # loading data, or traces of another sample
        self.turns = TurnQueue(self.paint_units, self)
        self._build()
        self.turns.watch()
        for name in sorted(self.slots, key=lambda n: not n.startswith("diagram_")):   # the diagrams first
            self.turns.defer(("build", name), partial(self._build_panel, name))
        self.resize(1600, 1000)
        self._update_title()
        if dataset is not None:
            self._show_data()

    # -- construction ------------------------------------------------------------------------------------
    def _build(self):
        self.banner = BannerWidget()
        self.columns = {c: CellColumn(c, step_queue=self.turns) for c in self.cells}
        self.sessions = [col.session for col in self.columns.values()]
        self.shared = SharedPosition(self.sessions, self)
        first = self.sessions[0]
        first.subscribe(self, "position", "sample")
        self.timebar = TimestepBarWidget(first)
        self.position_selector = PositionSelectorWidget(first, "Which validation sample every diagram follows",
                                                        "Which unit every diagram shows")
        self.sample_spin, self.unit_spin = self.position_selector.sample_spin, self.position_selector.unit_spin

        cols = QWidget()
        cl = QHBoxLayout(cols)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(6)
        for col in self.columns.values():
            cl.addWidget(col, 1)
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.position_selector)
        controls.addWidget(self.timebar, 1)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.setSpacing(2)
        tl.addWidget(cols, 1)
        tl.addLayout(controls)

        self.loss_slot = PanelSlot(self._make_loss_plot)
        self.through_time_slot = PanelSlot(self._make_through_time_plot)
        self.table = QTableWidget(len(self.cells), len(TABLE_HEADER))
        self.table.setHorizontalHeaderLabels(TABLE_HEADER)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setWordWrap(False)            # "4480 + 33 = 4513" on one line: columns fit their texts
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setMinimumSectionSize(40)
        self.table.setToolTip("Parameters of every recurrent layer + the head = total; steps and seconds of "
                              "training (evaluation excluded) to the first validation loss below the target, "
                              "evaluated every 50 steps — as `lstm-explorer compare` prints them")
        self.table_note = plain_label()
        self.table_note.setWordWrap(True)
        tw = QWidget()
        tv = QVBoxLayout(tw)
        tv.setContentsMargins(0, 0, 0, 0)
        tv.addWidget(self.table, 1)
        tv.addWidget(self.table_note)
        for k, cell in enumerate(self.cells):
            self._set_cell(k, 0, describe(cell).title, CELL_COLORS.get(cell))
        self.connectivity_slot = PanelSlot(lambda: LiveCurvesPlotWidget(
            "Connectivity ‖∂hₜ/∂xₛ‖ of the sample at the selected t", "input step s", "‖∂hₜ/∂xₛ‖", log_y=True,
            marker=True))
        self.connectivity = {}                      # cell -> (sample, t, (T,) norms) drawn
        self._conn_request = None
        self.conn_task = LatestTask(self.threads, parent=self)
        self.conn_task.sigResult.connect(self._on_connectivity)
        self.conn_pacer = WorkPacer()               # while training: in a worker, at most ~3 % of the time
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.loss_slot)
        bottom.addWidget(self.through_time_slot)
        bottom.addWidget(self.connectivity_slot)
        bottom.addWidget(tw)
        bottom.setSizes([420, 420, 420, 500])
        bottom.setChildrenCollapsible(False)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(bottom)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([600, 330])
        self.splitter.setChildrenCollapsible(False)
        central = QWidget()
        cv = QVBoxLayout(central)
        cv.setContentsMargins(4, 4, 4, 4)
        cv.addWidget(self.banner)
        self.cells_label = plain_label()
        self.cells_label.setStyleSheet("color: palette(mid);")
        cv.addWidget(self.cells_label)
        cv.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.slots: dict[str, PanelSlot] = {"loss_curves": self.loss_slot, "grad_through_time": self.through_time_slot,
                                            "connectivity": self.connectivity_slot}     # by export name
        self._slot_unit = {name: name for name in self.slots}                         # its paint unit
        for cell, col in self.columns.items():
            self.slots[f"diagram_{cell}"], self._slot_unit[f"diagram_{cell}"] = col.diagram_slot, f"column_{cell}"
            if col.memory_slot is not None:
                self.slots[f"memory_{cell}"], self._slot_unit[f"memory_{cell}"] = col.memory_slot, "memory"
        self.status = WindowStatus(self.statusBar(), self.banner, parent=self)
        self.exporter = ExportController(lambda: self.widgets, self.status, extra=self._table_exports,
                                         building=lambda: self.turns.pending > 0,      # a snapshot drawn whole
                                         dialog_parent=self, parent=self)
        self._build_actions()
        sb = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(200)
        self.progress.setFormat("%p%")
        self.progress_label = plain_label()
        sb.addPermanentWidget(self.progress_label)
        sb.addPermanentWidget(self.progress)

    def _build_actions(self):
        SP = QStyle.StandardPixmap
        act = partial(make_action, self)

        self.train_action = act("&Start", self.toggle_training, "Ctrl+Return", SP.SP_MediaPlay,
                                "Train every cell side by side / stop (Ctrl+Return)")
        self.restart_action = act("Start &Over", self.start_over, None, SP.SP_BrowserReload,
                                  "Begin again from freshly initialised weights")
        self.export_all_action = act("&Export All…", self.exporter.export_all_dialog, "Ctrl+E", None,
                                     "Every plot and diagram as PNG, SVG and CSV, and the table, into a folder "
                                     "(Ctrl+E)")
        self.close_action = act("&Close", self.close, "Ctrl+W")
        mb = self.menuBar()
        fm = mb.addMenu("&File")
        add_export_menu(fm, self.slots, self._on_export_menu_triggered)
        fm.addAction(self.export_all_action)
        fm.addSeparator()
        fm.addAction(self.close_action)
        tm = mb.addMenu("&Training")
        tm.addAction(self.train_action)
        tm.addAction(self.restart_action)
        tb = add_toolbar(self, "Comparison", "toolbar_comparison",
                         (self.train_action, self.restart_action, None, self.export_all_action))
        button = tb.widgetForAction(self.train_action)      # as wide as its longest text: never "C…e"
        widest = max(button.fontMetrics().horizontalAdvance(t) for t in ("Start", "Stop", "Continue"))
        button.setMinimumWidth(widest + button.iconSize().width() + 24)
        add_step_shortcuts(self, self.timebar)

    def _build_panel(self, name: str) -> None:
        """Build the panel ``name`` (unless code needed it sooner), held: painted in a turn of its own."""
        slot = self.slots[name]
        if slot.panel is None:
            self.turns.hold((self._slot_unit[name],))
            slot.build()

    def _make_loss_plot(self) -> LiveCurvesPlotWidget:
        plot = LiveCurvesPlotWidget("Validation loss of each cell", "step", "validation loss", log_y=True)
        plot.add_level(self.target_loss, f"target {self.target_loss:g}")
        return plot

    def _make_through_time_plot(self) -> LiveCurvesPlotWidget:
        plot = LiveCurvesPlotWidget("Gradient norm through time at the latest step", "timestep t",
                                    "gradient norm ‖∂L/∂hₜ‖ (solid), ‖∂L/∂cₜ‖ (dashed)", log_y=True, marker=True)
        plot.plot.getAxis("left").set_label_forms(
            "gradient norm ‖∂L/∂hₜ‖ (solid), ‖∂L/∂cₜ‖ (dashed)", "‖∂L/∂hₜ‖, ‖∂L/∂cₜ‖ (dashed)", "‖∇L‖")
        return plot

    # the heavy panels, each built in a turn of its own after the window opened (on demand if used before)
    loss_plot = property(lambda self: self.loss_slot.build())
    through_time_plot = property(lambda self: self.through_time_slot.build())
    connectivity_plot = property(lambda self: self.connectivity_slot.build())

    @property
    def diagram(self) -> CellDiagramView:
        """The first column's diagram."""
        return next(iter(self.columns.values())).diagram

    @property
    def widgets(self) -> dict:
        """Every plot and diagram by its export name (built now if not yet)."""
        return {name: slot.build() for name, slot in self.slots.items()}

    def _set_cell(self, row, col, text, color=None):
        item = self.table.item(row, col)
        if item is None:
            item = QTableWidgetItem()
            self.table.setItem(row, col, item)
            if col > 0:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if item.text() != text:                         # (each change re-measures the columns)
            item.setText(text)
        if color and item.foreground().color() != pg.mkColor(color):
            item.setForeground(pg.mkColor(color))

    def _update_title(self):
        names = " · ".join(describe(c).title for c in self.cells)
        src = ""
        if self.dataset is not None:
            ds = self.dataset
            src = f" — {ds.source if ds.config.get('type') == 'example' else Path(str(ds.source)).name}"
        self.setWindowTitle(f"Compare {names}{src}")

    def _show_data(self):
        ds = self.dataset
        self._update_title()
        self.position_selector.set_ranges(samples=int(ds.n_val or ds.n_train), units=self.settings.units)
        for col in self.columns.values():
            col.set_vocab(getattr(ds, "vocab", None))
        where = "example " + str(ds.source) if ds.config.get("type") == "example" else Path(str(ds.source)).name
        self.cells_label.setText(f"{where} · every cell with {settings_text(self.settings)} · budget "
                                 f"{self.max_steps} steps per cell, target {self.target_loss:g}")

    # -- data for --compare FILE | --example NAME ---------------------------------------------------------
    def load(self, file=None, example=None, start: bool = True) -> None:
        """Load FILE (the one loader) or a built-in example off the GUI thread; then train if ``start``."""
        label = example or Path(str(file)).name
        self.status.show_status(f"Loading {label}…")
        self.aux.start(partial(_load_task, file=file, example=example), tag=("load", start, example),
                       on_result=self._on_loaded, on_error=lambda text, _type: self._on_load_failed(text))

    def _on_load_failed(self, text: str) -> None:
        self.status.clear_status()
        self.status.show_message(text, "error", topic="load")
        self.sigLoadFailed.emit(text)

    def _on_loaded(self, ds) -> None:
        if ds is None:
            self._on_load_failed("the data could not be read.")
            return
        from explorer.runs.store import settings_for_data, settings_for_example

        self.status.clear_status()
        _, start, example = self.aux.tag
        settings = settings_for_example(example) if example else settings_for_data(ds.kind)
        self.dataset, self.settings = ds, (self.settings or settings)
        self._show_data()
        self.status.resolve("load")
        self.sigDataLoaded.emit(ds)
        if start:
            self.start()

    # -- training -------------------------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        return self.runner.running

    @property
    def worker(self):
        """The training task's worker (None while idle)."""
        return self.runner.worker

    def toggle_training(self) -> None:
        if self.training:
            self.stop()
        else:
            self.start()

    def start(self) -> bool:
        """Train (a new comparison, or continue the stopped one; a finished one gets ``MORE_STEPS``
        more steps per cell). Returns False when it cannot start now (no data, busy, too big)."""
        if self.training or self.dataset is None or self.closing:
            return False
        if self.aux.busy:                                # traces of another sample: start once they arrived
            self._start_after_aux = True
            return False
        if self.comparison is None:
            comp = Comparison(self.dataset, self.settings, self.cells, max_steps=self.max_steps,
                              target_loss=self.target_loss, eval_every=self.eval_every)
            try:
                comp.check_memory()                      # an estimate: cheap, one sentence
            except ValueError as exc:
                self.banner.show_message(str(exc), "error", topic="training")
                return False
            self.comparison = comp
        elif self.comparison.done:
            self.comparison.extend(MORE_STEPS)
        self.runner.start(partial(comparison_task, comparison=self.comparison), tag=self.comparison,
                          sample=self.sessions[0].position.sample)
        self.banner.resolve("training")
        self._set_train_action("&Stop", QStyle.StandardPixmap.SP_MediaStop)
        self.statusBar().showMessage("Training every cell side by side…")
        return True

    _start_after_aux = False
    closing = False

    def stop(self) -> None:
        self.runner.stop()

    def start_over(self) -> None:
        """Fresh weights for every cell (after stopping)."""
        if self.training:
            self.stop()
            self._restart_after_stop = True
            return
        self.comparison = None
        self.result = None
        for col in self.columns.values():
            col.set_header(None)
        self.start()

    _restart_after_stop = False

    def _set_train_action(self, text, icon) -> None:
        self.train_action.setText(text)
        self.train_action.setIcon(self.style().standardIcon(icon))

    def _on_worker_progress(self, progress) -> None:
        fraction = progress[0] if isinstance(progress, tuple) else progress
        value = int(round(float(fraction) * 1000))
        if value // 10 != self.progress.value() // 10:       # repaint per percent only
            self.progress.setValue(value)

    def show_result(self, res: ComparisonResult) -> None:
        """Draw a snapshot: diagrams and memory (when it carries traces), curves, table, progress —
        each piece in an event-loop turn of its own, each painted in a turn of its own
        (:class:`~explorer.gui.turns.TurnQueue`); :attr:`sigResult` once all are drawn."""
        self.result = res
        labels = self._time_labels(res)
        defer = partial(self.turns.defer, to_end=True)   # a newer snapshot's pieces replace the older
        shown = [(cell, res.of(cell)[0]) for cell in self.columns if res.of(cell)]   # ones', in order
        for cell, r in shown:
            col = self.columns[cell]
            defer(("column", cell), partial(col.show_result, r), holds=(f"column_{cell}",))
            defer(("memory", cell), partial(col.show_memory, r.trace, labels), holds=("memory",))
        # each plot's curves of every cell and its title in one job: it is painted with one snapshot
        defer("loss", partial(self._show_loss_curves, shown), holds=("loss_curves",))
        defer("through_time", partial(self._show_through_time, shown, res), holds=("grad_through_time",))
        defer("table", partial(self._show_table, res), holds=("table",))
        defer("shown", partial(self._shown, res))

    def _show_loss_curves(self, shown) -> None:
        for cell, r in shown:
            self._show_loss_curve(cell, r)

    def _show_loss_curve(self, cell: str, r) -> None:
        self.loss_plot.set_curve(describe(cell).title, r.eval_steps, r.eval_losses, CELL_COLORS.get(cell, "#444"))

    def _show_through_time(self, shown, res: ComparisonResult) -> None:
        for cell, r in shown:
            self._show_through_time_curve(cell, r)
        self._through_time_title(res)

    def _show_through_time_curve(self, cell: str, r) -> None:
        if r.norms_dh_last is None:
            return
        color, title = CELL_COLORS.get(cell, "#444"), describe(cell).title
        t = np.arange(1, len(r.norms_dh_last) + 1)
        # the legend names the cell (its colour); dashed = ‖∂L/∂cₜ‖ has one entry of its own
        self.through_time_plot.set_curve(f"{title} ‖∂L/∂hₜ‖", t, r.norms_dh_last, color, legend=title)
        if r.norms_dc_last is not None:
            self._dashed_legend()
            self.through_time_plot.set_curve(f"{title} ‖∂L/∂cₜ‖", t, r.norms_dc_last, color,
                                             Qt.PenStyle.DashLine, legend=None)

    def _through_time_title(self, res: ComparisonResult) -> None:
        steps = sorted({r.norms_step for r in res.results if r.norms_dh_last is not None})
        if steps:
            at = f"step {steps[0]}" if len(steps) == 1 else f"steps {steps[0]}–{steps[-1]}"
            self.through_time_plot.set_title(f"Gradient norm through time at the latest {at}")
        self.through_time_plot.set_time_marker(self.sessions[0].position.t)
        forms = (f"{res.evaluated_on} loss ({res.loss_units})", f"{res.evaluated_on} loss", "loss")
        if forms != self._loss_forms:
            self._loss_forms = forms
            self.loss_plot.plot.getAxis("left").set_label_forms(*forms)

    def _shown(self, res: ComparisonResult) -> None:
        """The snapshot is drawn: the progress, connectivity when due, :attr:`sigResult`."""
        self.progress.setValue(int(round(res.fraction * 1000)))
        done = sum(r.step for r in res.results)
        text = f"{done} of {sum(r.max_steps for r in res.results)} steps"
        self.progress_label.setText(text)
        self.progress_label.setMinimumWidth(self.progress_label.fontMetrics().horizontalAdvance(text) + 8)
        if not self.training or self.conn_pacer.due():
            self.request_connectivity()
        self.sigResult.emit(res)

    def grab(self, *args, **kw):  # noqa: D401 - Qt's name
        """A picture of the window as its turns will have drawn it a moment later: the pieces
        queued run now, and the units held let paint (a grab renders every widget afresh, and one
        with its updates off renders as nothing)."""
        self.turns.run_all()
        return super().grab(*args, **kw)

    def paint_units(self) -> dict:
        """The widgets painted in event-loop turns of their own after a snapshot is drawn: each
        column's header with its diagram (they name the same step), the memory heatmaps (side by
        side on one time axis: a change to one repaints the others), each plot, the table."""
        units = {"loss_curves": (self.loss_slot,), "grad_through_time": (self.through_time_slot,),
                 "connectivity": (self.connectivity_slot,), "table": (self.table, self.table_note)}
        memory = []
        for cell, col in self.columns.items():
            units[f"column_{cell}"] = (col.header, col.diagram_slot)
            if col.memory_slot is not None:
                memory.append(col.memory_slot)
        if memory:
            units["memory"] = tuple(memory)
        return units

    # -- connectivity ------------------------------------------------------------------------------------------
    def request_connectivity(self) -> bool:
        """‖∂hₜ/∂xₛ‖ of every cell for the selected sample and t, with the weights of the latest
        snapshot (a task; :attr:`sigConnectivity` when drawn): the plain RNN's fades within a few
        steps, the LSTM's reaches back."""
        res, ds = self.result, self.dataset
        if res is None or ds is None or not ds.n_val:
            return False
        pos = self.sessions[0].position
        sample = min(pos.sample, ds.n_val - 1)
        jobs = []
        for cell in self.cells:
            rs = res.of(cell)
            if rs and rs[0].weights is not None:
                jobs.append((cell, rs[0].weights))
        if not jobs:
            return False
        x = ds.x_val[sample:sample + 1]
        t = min(pos.t, x.shape[1] - 1)
        st = self.settings
        self._conn_request = (sample, t)
        D = 2 if st.bidirectional else 1
        work = len(jobs) * D * st.units * x.shape[1] * (ds.n_inputs + st.units) * st.layers
        self.conn_pacer.begin()
        self.conn_task.start(partial(_connectivity_task, jobs=tuple(jobs), x=x, t=t, settings=st,
                                     n_inputs=ds.n_inputs, n_outputs=ds.n_outputs), tag=(sample, t),
                             direct=work <= CONNECTIVITY_DIRECT_WORK and not self.training)
        return True

    def _on_connectivity(self, result) -> None:
        """Drawn in a turn of its own, the plot held meanwhile (:attr:`sigConnectivity` then)."""
        self.conn_pacer.end()
        self.turns.defer("connectivity", partial(self._show_connectivity, result, self._conn_request),
                         holds=("connectivity",))

    def _show_connectivity(self, result, request) -> None:
        sample, t = request
        steps = None
        for cell, norms in result.items():
            steps = np.arange(1, norms.size + 1)
            self.connectivity[cell] = (sample, t, norms)
            shown = np.where(norms > 0, norms, np.nan)          # 0 (no dependence) is off a log axis
            self.connectivity_plot.set_curve(describe(cell).title, steps, shown, CELL_COLORS.get(cell, "#444"))
        if steps is not None:
            self.connectivity_plot.set_title(f"Connectivity ‖∂hₜ/∂xₛ‖ of sample {sample} at t = {t + 1}")
            self.connectivity_plot.set_time_marker(t + 1)
        self.sigConnectivity.emit(self.connectivity)

    def _time_labels(self, res):
        ds = self.dataset
        if ds is None or ds.kind != "text" or not res.results or res.results[0].trace is None:
            return None
        tr = res.results[0].trace
        ids = np.asarray(tr.x[0]) if tr.x.ndim == 2 else None
        vocab = getattr(ds, "vocab", None)
        return None if ids is None or vocab is None else [vocab[int(i)] for i in ids]

    _loss_forms: tuple = ()
    _dashed_entry = None

    def _dashed_legend(self) -> None:
        """Once: the legend's entry for the dashed curves (every cell's ‖∂L/∂cₜ‖, in its colour)."""
        if self._dashed_entry is None:
            pen = pg.mkPen("#777777", width=2, style=Qt.PenStyle.DashLine)      # grey: light and dark both
            self._dashed_entry = pg.PlotDataItem([], [], pen=pen)
            self.through_time_plot.add_legend_entry(self._dashed_entry, "‖∂L/∂cₜ‖")   # its swatch is dashed

    def table_texts(self) -> list[list[str]]:
        """What the table shows, row by row (cell title first)."""
        return [[self.table.item(r, c).text() if self.table.item(r, c) else "" for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]

    def _show_table(self, res: ComparisonResult) -> None:
        rows = {row.cell: row for row in res.rows()}
        self.table_rows = [rows[c] for c in self.cells if c in rows]
        for k, cell in enumerate(self.cells):
            row = rows.get(cell)
            rs = res.of(cell)
            if row is None or not rs:
                continue
            r = rs[0]
            if row.steps_to_target is not None:
                steps = str(row.steps_to_target)
            elif r.done:
                steps = f"not within {r.max_steps}"
            else:
                steps = "not yet"
            loss = "—" if not np.isfinite(row.final_val_loss) else f"{row.final_val_loss:.4g}"
            for c, text in enumerate((describe(cell).title, row.parameters_text, steps, f"{row.seconds:.1f}", loss,
                                      f"{r.step} / {r.max_steps}")):
                self._set_cell(k, c, text, CELL_COLORS.get(cell) if c == 0 else None)
        self.table_note.setText(
            f"Target: {res.evaluated_on} loss below {res.target_loss:g} ({res.loss_units}), evaluated every "
            f"{res.eval_every} steps; seconds of training to it (else so far); parameters of every recurrent "
            f"layer + the head = total. The same numbers as `lstm-explorer compare`.")

    def _on_runner_done(self, worker) -> None:
        """Draw the last snapshot; once it is drawn, say how training ended (:attr:`sigFinished`)."""
        if worker.error:
            self.banner.show_message(f"The comparison stopped with an error: {worker.error}", "error",
                                     topic="training")
            reason = "error"
        else:
            if worker.result is not None:
                self.show_result(worker.result)
            reason = worker.result.reason if worker.result is not None else "stopped"
        self.turns.defer("finished", partial(self._finished, reason))

    def _finished(self, reason: str) -> None:
        if self.training:                     # started again meanwhile: this end is no news any more
            return
        self._set_train_action("&Continue" if reason != "error" else "&Start", QStyle.StandardPixmap.SP_MediaPlay)
        msg = {"done": f"Finished: every cell trained its budget ({self.comparison.max_steps} steps); Continue adds "
                       f"{MORE_STEPS} more.",
               "stopped": "Stopped; Continue goes on from here.", "error": "Stopped by an error."}[reason]
        self.statusBar().showMessage(msg, 15000)
        self.sigFinished.emit(reason)
        if self._restart_after_stop and not self.closing:
            self._restart_after_stop = False
            self.start_over()

    # -- the shared position ----------------------------------------------------------------------------------
    def _on_session_position(self, pos) -> None:
        for col in self.columns.values():
            if col.memory_slot is not None and col.memory_slot.panel is not None:
                col.memory_slot.panel.set_time_marker(pos.t)
        if self.through_time_slot.panel is not None:
            self.through_time_slot.panel.set_time_marker(pos.t)
        if self.result is not None and self._conn_request != (pos.sample, pos.t):
            self.request_connectivity()

    def _on_session_sample(self, sample) -> None:
        """Another sample (every session follows the first): the worker's next traces are of it;
        idle, a small task computes them."""
        if self.training:
            self.runner.set_sample(sample)
        elif self.comparison is not None and self.comparison.runs:
            self.aux.start(partial(_traces_task, comparison=self.comparison, sample=int(sample)),
                           tag=("traces", sample), on_result=self._on_traces, on_error=self._on_traces_failed)

    def _on_traces(self, result) -> None:
        if result is not None and self.aux.tag[1] == self.sessions[0].position.sample:
            self.show_result(result)
        self._start_if_asked()

    def _on_traces_failed(self, text: str, _type) -> None:
        self.status.show_message(f"Could not trace the sample: {text}", "error", topic="display")
        self._start_if_asked()

    def _start_if_asked(self) -> None:
        if self._start_after_aux:
            self._start_after_aux = False
            self.start()

    # -- export ------------------------------------------------------------------------------------------------
    def _on_export_menu_triggered(self, action):
        if action.data():
            self.exporter.export_one_dialog(action.data())

    def export_one(self, key: str, path) -> bool:
        """One plot or diagram (``key`` of :attr:`widgets`) as ``path``'s format: .png, .svg or .csv."""
        return self.exporter.export_one(key, path)

    def export_all(self, folder) -> list[Path]:
        """Every plot and diagram as PNG, SVG and CSV, and the table as ``comparison.csv`` (and
        ``comparison_seeds.csv``, as the command writes them), into ``folder``."""
        return self.exporter.export_all(folder)

    def _table_exports(self, folder) -> list:
        """Export all's table files (the latest snapshot's), written off the GUI thread."""
        if self.result is None:
            return []
        jobs = table_jobs(self.result, folder)
        return [([path for path, _ in jobs], lambda: iter([write for _, write in jobs]))]

    # -- closing ----------------------------------------------------------------------------------------------
    def eventFilter(self, obj, event):  # noqa: N802
        if obj is self.parent() and event.type() == QEvent.Type.Close and self.isVisible():
            self.close()
        return False

    def closeEvent(self, e):  # noqa: N802
        """Stop training at once; with its own threads, wait (at most 1.5 s) for the step under way."""
        self.closing = True
        self.timebar.timer.stop()
        self.exporter.cancel()
        self.runner.stop()
        self.aux.cancel()
        self.conn_task.cancel()
        if self.own_threads:
            self.threads.wait_all(1.5)
        super().closeEvent(e)

    def after_close(self) -> None:
        """After the event loop ended: wait for a task still finishing (its own threads only)."""
        if self.own_threads:
            self.threads.wait_all()


# -- opening --------------------------------------------------------------------------------------------------
def open_comparison_dialog(win) -> ComparisonWindow | None:
    """Training › Compare Cells…: choose the cells; a comparison window on the main window's data
    and settings starts training. Returns it (None when cancelled or nothing is loaded)."""
    run = win.run
    if run is None:
        QMessageBox.information(win, "Compare cells", "Open a file or an example first: the cells are compared on it.")
        return None
    settings = win.settings_panel.model_settings(run.settings)
    ds = run.dataset
    where = f"example {ds.source}" if ds.config.get("type") == "example" else Path(str(ds.source)).name
    dlg = CompareDialog(win, data_text=f"{where} ({ds.describe()})", settings=settings)
    if dlg.exec() != QDialog.DialogCode.Accepted:
        return None
    return open_comparison(win, dlg.cells(), max_steps=dlg.steps_spin.value(), target_loss=dlg.target_spin.value())


def open_comparison(win, cells, max_steps: int = DEFAULT_MAX_STEPS, target_loss: float = DEFAULT_TARGET,
                    start: bool = True) -> ComparisonWindow:
    """A comparison window of ``cells`` on the main window ``win``'s data and settings (it runs on
    the main window's threads, so closing either never drops a running thread)."""
    from dataclasses import replace

    settings = replace(win.settings_panel.model_settings(win.run.settings), sample_index=0)
    cw = ComparisonWindow(win.run.dataset, settings, cells, max_steps=max_steps, target_loss=target_loss,
                          threads=win.threads, parent=win)
    cw.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    win.comparison_windows = [w for w in getattr(win, "comparison_windows", []) if w.isVisible()] + [cw]
    cw.show()
    if start:
        cw.start()
    return cw


def build_comparison(cells, file=None, example=None, settings=None, start: bool = True) -> ComparisonWindow:
    """``lstm-explorer --compare CELLS [FILE | --example NAME]``: a shown comparison window that loads
    FILE (or the example; the adding problem by default) off the GUI thread and starts training.
    Labelled sequences open the comparison of last state and attention
    (:mod:`explorer.gui.pool_comparison`) instead."""
    from explorer.gui.pool_comparison import build_pool_comparison, is_labelled_request

    if is_labelled_request(file, example):
        return build_pool_comparison(cells, file, example)
    cw = ComparisonWindow(None, settings, cells)
    cw.show()
    cw.load(file=file, example=None if file else (example or "adding"), start=start)
    return cw

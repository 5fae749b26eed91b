"""The explorer window: the cell diagram in the centre, the timestep bar under it, plots in
docks, the settings panel, training in the background, export.

Slots are named ``_on_<source>_<event>``. The window never blocks on training: a
:class:`~explorer.gui.worker.TrainingWorker` on a QThread drives the engine's generator and
sends copies; the window redraws at an adaptive rate so that training keeps its speed.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (QApplication, QComboBox, QDockWidget, QFileDialog, QFrame,
                               QHBoxLayout, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QPushButton, QScrollArea, QSlider, QSpinBox, QSplitter, QStyle,
                               QToolButton, QVBoxLayout, QWidget)

from explorer.assets import resource_path
from explorer.engine import softmax
from explorer.engine.describe import KINDS, describe
from explorer.figures import plots
from explorer.gui.diagram import CellDiagramView
from explorer.gui.equations import EquationsView
from explorer.gui.settings_panel import UNITS_RANGE, SettingsPanelWidget
from explorer.gui.worker import LoadWorker, ThreadRegistry, TrainingWorker
from explorer.runs import (Run, RunFileError, latest_autosave, settings_for_example,
                           write_autosave)
from explorer.app.loading import load_dataset, load_example as example_dataset

START_EXAMPLE = "sine"
WINDOW_CELLS = KINDS                 # the diagram and the equations draw every cell (its description)
START_SETTINGS = dict(units=8)
MAX_RECENT = 8
PLAY_SPEEDS = (1, 2, 4, 8, 16, 32)   # timesteps per second


def autosave_dir() -> Path:
    """Where a run that was training when the window closed is saved."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".lstm-explorer") / "autosave"


class TimestepBarWidget(QWidget):
    """first / previous / play / next / last, a slider over timesteps, a play speed."""

    sigTimestepChanged = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 2, 8, 2)
        st = self.style()

        def button(icon, tip):
            b = QToolButton()
            b.setIcon(st.standardIcon(icon))
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            lay.addWidget(b)
            return b

        SP = QStyle.StandardPixmap
        self.first_button = button(SP.SP_MediaSkipBackward, "First timestep (Home)")
        self.prev_button = button(SP.SP_MediaSeekBackward, "Previous timestep (Left)")
        self.play_button = button(SP.SP_MediaPlay, "Play / pause (Space)")
        self.next_button = button(SP.SP_MediaSeekForward, "Next timestep (Right)")
        self.last_button = button(SP.SP_MediaSkipForward, "Last timestep (End)")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.setToolTip("Timestep")
        lay.addWidget(self.slider, 1)
        self.label = QLabel("t = 0 / 0")
        self.label.setMinimumWidth(90)
        lay.addWidget(self.label)
        lay.addWidget(QLabel("speed"))
        self.speed_combo = QComboBox()
        self.speed_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.speed_combo.addItems([f"{s} steps/s" for s in PLAY_SPEEDS])
        self.speed_combo.setCurrentIndex(2)
        lay.addWidget(self.speed_combo)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._on_timer_timeout)
        self.first_button.clicked.connect(self.first)
        self.prev_button.clicked.connect(self.previous)
        self.next_button.clicked.connect(self.next)
        self.last_button.clicked.connect(self.last)
        self.play_button.clicked.connect(self.toggle_play)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        self.speed_combo.currentIndexChanged.connect(self._on_speed_changed)
        self.set_length(1)

    @property
    def t(self) -> int:
        return self.slider.value()

    def set_length(self, T: int) -> None:
        t = min(self.slider.value(), max(T - 1, 0))
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(T - 1, 0))
        self.slider.setValue(t)
        self.slider.blockSignals(False)
        self._update_label()

    def set_t(self, t: int) -> None:
        self.slider.setValue(max(0, min(int(t), self.slider.maximum())))

    def first(self):
        self.set_t(0)

    def last(self):
        self.set_t(self.slider.maximum())

    def previous(self):
        self.set_t(self.t - 1)

    def next(self):
        self.set_t(self.t + 1)

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def toggle_play(self):
        if self.playing:
            self.timer.stop()
        else:
            if self.t >= self.slider.maximum():
                self.set_t(0)
            self._on_speed_changed()
            self.timer.start()
        icon = QStyle.StandardPixmap.SP_MediaPause if self.playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))

    def _on_speed_changed(self, *_):
        self.timer.setInterval(int(1000 / PLAY_SPEEDS[self.speed_combo.currentIndex()]))

    def _on_timer_timeout(self):
        if self.t >= self.slider.maximum():
            self.toggle_play()
        else:
            self.next()

    def _on_slider_value_changed(self, t):
        self._update_label()
        self.sigTimestepChanged.emit(t)

    def _update_label(self):
        self.label.setText(f"t = {self.slider.value() + 1} / {self.slider.maximum() + 1}")


class BannerWidget(QFrame):
    """A calm message line at the top of the window with optional action buttons (never modal)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 6, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        self._buttons: list[QPushButton] = []
        self._lay = lay
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self.hide)
        lay.addWidget(self.close_button)
        self.hide()

    def show_message(self, text: str, kind: str = "info", actions=()):
        for b in self._buttons:
            b.deleteLater()
        self._buttons = []
        for label, fn in actions:
            b = QPushButton(label)
            b.clicked.connect(fn)
            b.clicked.connect(self.hide)
            self._lay.insertWidget(self._lay.count() - 1, b)
            self._buttons.append(b)
        colors = {"info": "#dbe9f6", "error": "#f8d7d3", "warn": "#fbeccc"}
        self.setStyleSheet(f"BannerWidget {{ background: {colors.get(kind, colors['info'])}; "
                           "border-radius: 4px; } QLabel { color: #1b1b1b; }")
        self.label.setText(text)
        self.show()


class MainWindow(QMainWindow):
    """The LSTM Explorer window."""

    sigDataLoaded = Signal(object)      # Dataset
    sigLoadFailed = Signal(str)         # the one sentence shown to the person
    sigTrainingFinished = Signal(str)   # "done" | "stopped" | "diverged" | "error"
    sigRedrawn = Signal()               # after every redraw of the live views

    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        self.setWindowTitle("LSTM Explorer")
        self.setWindowIcon(QIcon(str(resource_path("icons", "lstm-explorer.svg"))))
        self.qsettings = settings or QSettings()
        self.run: Run | None = None
        self.trace = None                 # the trace shown (batch 1: the selected sample)
        self.latest_snapshot = None
        self._thread = None
        self._worker = None
        self.threads = ThreadRegistry(self)
        self._pending_batch = []
        self._last_redraw = 0.0
        self._redraw_cost = 0.0
        self._redraw_interval = 1.0 / 30
        self._redraw_cpu_mark = 0.0         # the GUI thread's CPU clock when the last redraw began
        self._train_t0 = 0.0
        self._train_step0 = 0
        self._closing = False
        self._dirty = False                 # trained since the last save or load
        self._build()
        self._restore_layout()

    # -- construction ---------------------------------------------------------------------------
    def _build(self):
        self.banner = BannerWidget()
        self.diagram = CellDiagramView()
        self.diagram.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.diagram.setObjectName("diagram")
        self.equations = EquationsView()
        self.equations.setMinimumWidth(340)
        self.timebar = TimestepBarWidget()

        selectors = QHBoxLayout()
        selectors.setContentsMargins(8, 4, 8, 0)
        self.sample_spin = QSpinBox()
        self.sample_spin.setToolTip("Which validation sample the diagram follows")
        self.unit_spin = QSpinBox()
        self.unit_spin.setToolTip("Which unit the diagram and the equations show")
        selectors.addWidget(QLabel("Sample"))
        selectors.addWidget(self.sample_spin)
        selectors.addSpacing(12)
        selectors.addWidget(QLabel("Unit"))
        selectors.addWidget(self.unit_spin)
        selectors.addStretch(1)
        self.data_label = QLabel()
        self.data_label.setStyleSheet("color: palette(mid);")
        selectors.addWidget(self.data_label)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.setSpacing(2)
        lv.addLayout(selectors)
        lv.addWidget(self.diagram, 1)
        lv.addWidget(self.timebar)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.equations)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        central = QWidget()
        cv = QVBoxLayout(central)
        cv.setContentsMargins(4, 4, 4, 4)
        cv.addWidget(self.banner)
        cv.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        # settings dock
        self.settings_panel = SettingsPanelWidget()
        scroll = QScrollArea()
        scroll.setWidget(self.settings_panel)
        scroll.setWidgetResizable(True)
        self.settings_dock = self._dock("Settings", scroll, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.settings_panel.example_combo.addItem("— choose an example —", None)
        from explorer.data.examples import list_examples
        for name, desc in list_examples():
            self.settings_panel.example_combo.addItem(name, name)
            self.settings_panel.example_combo.setItemData(
                self.settings_panel.example_combo.count() - 1, desc, Qt.ItemDataRole.ToolTipRole)

        # plot docks (tabbed at the bottom)
        self.loss_plot = plots.LossPlotWidget()
        self.grad_plot = plots.GradNormPlotWidget()
        self.through_time_plot = plots.GradThroughTimePlotWidget()
        self.heatmap_plot = plots.GateHeatmapWidget()
        self.param_plot = plots.ParamCountPlotWidget()
        self.prediction_plot = plots.PredictionPlotWidget()
        self.plot_widgets = {
            "loss": self.loss_plot, "grad_norms": self.grad_plot,
            "grad_through_time": self.through_time_plot, "gates": self.heatmap_plot,
            "param_count": self.param_plot, "predictions": self.prediction_plot,
        }
        titles = {"loss": "Loss", "grad_norms": "Gradient norms", "grad_through_time": "Through time",
                  "gates": "Gate activations", "param_count": "Parameters", "predictions": "Predictions"}
        self.plot_docks = {}
        first = None
        for key, w in self.plot_widgets.items():
            dock = self._dock(titles[key], w, Qt.DockWidgetArea.BottomDockWidgetArea)
            self.plot_docks[key] = dock
            if first is None:
                first = dock
            else:
                self.tabifyDockWidget(first, dock)
        first.raise_()
        self.settings_dock.setMinimumWidth(270)
        self.resizeDocks([self.settings_dock], [300], Qt.Orientation.Horizontal)
        self.resizeDocks([first], [300], Qt.Orientation.Vertical)

        self._build_actions()
        self._build_status()
        self._connect()

    def _dock(self, title, widget, area):
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower().replace(' ', '_')}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_actions(self):
        st = self.style()
        SP = QStyle.StandardPixmap

        def act(text, slot, shortcut=None, icon=None, tip=None):
            a = QAction(text, self)
            if icon is not None:
                a.setIcon(st.standardIcon(icon))
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            a.setToolTip(tip or text)
            a.triggered.connect(slot)
            return a

        self.open_action = act("&Open…", self.open_file_dialog, "Ctrl+O", SP.SP_DialogOpenButton,
                               "Open a sequence or text file (Ctrl+O)")
        self.open_run_action = act("Open &Run…", self.open_run_dialog, None, SP.SP_DirOpenIcon)
        self.save_run_action = act("&Save Run…", self.save_run_dialog, "Ctrl+S", SP.SP_DialogSaveButton,
                                   "Save the run to a folder (Ctrl+S)")
        self.export_all_action = act("&Export All…", self.export_all_dialog, "Ctrl+E", None,
                                     "Export every plot and the diagram as PNG, SVG and CSV (Ctrl+E)")
        self.quit_action = act("&Quit", self.close, "Ctrl+Q")
        self.train_action = act("&Train", self.toggle_training, "Ctrl+Return", SP.SP_MediaPlay,
                                "Train / stop (Ctrl+Return)")
        self.pause_action = act("&Pause", self.toggle_pause, None, SP.SP_MediaPause, "Pause / resume training")
        self.pause_action.setEnabled(False)
        self.reset_action = act("&Reset Weights", self.reset_weights, None, SP.SP_BrowserReload,
                                "Start over from freshly initialised weights")
        self.recent_menu = None

        mb = self.menuBar()
        fm = mb.addMenu("&File")
        fm.addAction(self.open_action)
        self.recent_menu = fm.addMenu("Open &Recent")
        fm.addAction(self.open_run_action)
        fm.addAction(self.save_run_action)
        fm.addSeparator()
        export_menu = fm.addMenu("E&xport")
        for key in list(self.plot_widgets) + ["diagram"]:
            export_menu.addAction(f"{key.replace('_', ' ').capitalize()}…",
                                  lambda k=key: self.export_one_dialog(k))
        fm.addAction(self.export_all_action)
        fm.addSeparator()
        fm.addAction(self.quit_action)
        tm = mb.addMenu("&Training")
        for a in (self.train_action, self.pause_action, self.reset_action):
            tm.addAction(a)
        vm = mb.addMenu("&View")
        vm.addAction(self.settings_dock.toggleViewAction())
        for d in self.plot_docks.values():
            vm.addAction(d.toggleViewAction())
        self.log_action = QAction("Log scale for losses", self, checkable=True)
        self.log_action.setChecked(self.loss_plot.log_box.isChecked())
        self.log_action.triggered.connect(self.loss_plot.set_log_scale)   # the person's choice only
        self.loss_plot.log_box.toggled.connect(self.log_action.setChecked)
        vm.addAction(self.log_action)
        hm = mb.addMenu("&Help")
        hm.addAction("About LSTM Explorer", self._on_about)

        tb = self.addToolBar("Main")
        tb.setObjectName("toolbar_main")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for a in (self.open_action, self.save_run_action, None, self.train_action, self.pause_action,
                  self.reset_action, None, self.export_all_action):
            if a is None:
                tb.addSeparator()
            else:
                tb.addAction(a)
        for w in tb.findChildren(QToolButton):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        # window-level stepping keys (fields being edited keep their keys: they claim them first)
        self.step_shortcuts = {}
        for key, slot in (("Left", self.timebar.previous), ("Right", self.timebar.next),
                          ("Home", self.timebar.first), ("End", self.timebar.last),
                          ("Space", self.timebar.toggle_play), ("Escape", self._on_escape)):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(slot)
            self.step_shortcuts[key] = sc
        self._refresh_recent_menu()

    def _build_status(self):
        sb = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress_label = QLabel()
        sb.addPermanentWidget(self.progress_label)
        sb.addPermanentWidget(self.progress)

    def _connect(self):
        sp = self.settings_panel
        self.timebar.sigTimestepChanged.connect(self._on_timebar_changed)
        self.unit_spin.valueChanged.connect(self._on_unit_changed)
        self.sample_spin.valueChanged.connect(self._on_sample_changed)
        self.diagram.sigUnitClicked.connect(self.unit_spin.setValue)
        sp.sigUnitsChanged.connect(self.param_plot.set_units)
        sp.sigModelChanged.connect(self._on_settings_model_changed)
        sp.sigApplyData.connect(self._on_settings_apply_data)
        sp.reset_button.clicked.connect(self.reset_weights)
        sp.example_combo.activated.connect(self._on_example_chosen)
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.timeout.connect(self._redraw_live)
        self.setAcceptDrops(True)

    # -- persistence ------------------------------------------------------------------------------
    def _restore_layout(self):
        geo = self.qsettings.value("window/geometry")
        state = self.qsettings.value("window/state")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1500, 950)
        if state is not None:
            self.restoreState(state)

    def _save_layout(self):
        self.qsettings.setValue("window/geometry", self.saveGeometry())
        self.qsettings.setValue("window/state", self.saveState())

    def recent_files(self) -> list[str]:
        v = self.qsettings.value("recent/files", [])
        if isinstance(v, str):
            v = [v]
        return [str(x) for x in (v or [])]

    def _add_recent(self, path: str):
        files = [path] + [f for f in self.recent_files() if f != path]
        self.qsettings.setValue("recent/files", files[:MAX_RECENT])
        self.qsettings.setValue("recent/folder", str(Path(path).parent))
        self._refresh_recent_menu()

    def _refresh_recent_menu(self):
        if self.recent_menu is None:
            return
        self.recent_menu.clear()
        files = self.recent_files()
        for f in files:
            self.recent_menu.addAction(f, lambda p=f: self.open_file(p))
        self.recent_menu.setEnabled(bool(files))

    def last_folder(self) -> str:
        return str(self.qsettings.value("recent/folder", str(Path.home())))

    # -- loading data -----------------------------------------------------------------------------
    def open_file_dialog(self):
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a sequence or text file", self.last_folder(),
            "Sequences and text (*.csv *.tsv *.txt *.npy *.dat);;All files (*)")
        if path:
            self.open_file(path)

    def open_file(self, path: str, **options):
        """Load ``path`` off the GUI thread with the panel's data options (or ``options``).

        Emits :attr:`sigDataLoaded` or :attr:`sigLoadFailed`; the data loaded before stays on failure.
        """
        opts = self.settings_panel.data_options()
        if self.run is None or self.run.dataset.source != str(path):
            opts.update(columns=None, target=None)      # a new file: its default columns
        opts.update(options)
        self._start_load(lambda: load_dataset(path, **opts), str(path))

    def open_example(self, name: str, **overrides):
        self._start_load(lambda: example_dataset(name, **overrides), name, example=name)

    def _start_load(self, fn, label, example=None):
        if self.training:
            self._confirm_stop("Loading new data replaces the current run.")
            if self.training:
                return
        self.statusBar().showMessage(f"Loading {Path(label).name}…")
        worker = LoadWorker(fn, tag=(label, example))
        # bound methods of this window: Qt queues the calls into the GUI thread
        worker.sigLoaded.connect(self._on_load_finished)
        worker.sigFailed.connect(self._on_load_failed)
        self.threads.start(worker, worker.sigFinished)

    def _on_load_finished(self, result):
        ds, (label, example) = result[0], result[1]
        if example:
            base = settings_for_example(example, **(START_SETTINGS if example == START_EXAMPLE else {}))
        else:
            base = self.settings_panel.model_settings(self.run.settings if self.run else None)
            if ds.kind == "text":
                base.units = max(base.units, 32)
            base.sample_index = 0
        self.set_run(Run(ds, base))
        if not example:
            self._add_recent(label)
        self.banner.hide()
        self.statusBar().showMessage(ds.describe(), 8000)
        self.sigDataLoaded.emit(ds)

    def _on_load_failed(self, result):
        msg = result[0]
        self.statusBar().showMessage("Could not load the file; the previous data stays loaded.", 8000)
        self.banner.show_message(msg, "error")
        self.sigLoadFailed.emit(msg)

    def _on_example_chosen(self, index):
        name = self.settings_panel.example_combo.itemData(index)
        if name:
            self.open_example(name)

    def _on_settings_apply_data(self):
        if self.run is None:
            return
        cfg = self.run.dataset.config
        opts = self.settings_panel.data_options()
        if cfg.get("type") == "example":
            name = cfg["example"]
            over = dict(cfg.get("overrides", {}))
            settings = cfg.get("settings", {})
            if "seq_len" in settings:
                over["seq_len"] = opts["seq_len"]
            if "val_fraction" in settings:
                over["val_fraction"] = opts["val_fraction"]
            if "normalize" in settings:
                over["normalize"] = opts["normalize"]
            self.open_example(name, **over)
        else:
            self.open_file(self.run.dataset.source, text=(self.run.dataset.kind == "text") or None)

    # -- the run ----------------------------------------------------------------------------------
    def set_run(self, run: Run):
        """Show ``run``: its data, settings, history and the diagram of its current weights."""
        self.run = run
        self._dirty = False
        ds = run.dataset
        sp = self.settings_panel
        sp.set_model_settings(run.settings)
        sp.source_label.setText(Path(ds.source).name if ds.config.get("type") != "example" else f"example: {ds.source}")
        sp.source_label.setToolTip(str(ds.source))
        sp.seq_spin.blockSignals(True)
        sp.seq_spin.setValue(max(ds.seq_len, 2))
        sp.seq_spin.blockSignals(False)
        if ds.kind == "series" and ds.series is not None:
            names = list(ds.config.get("all_columns", ds.columns))
            sp.set_columns(names, list(ds.columns), ds.target_name)
        else:
            sp.set_columns([], [], "")
        if ds.normalizer is not None:
            sp.normalize_combo.setCurrentText(ds.normalizer.method)
        self.equations.vocab = list(ds.vocab) if ds.vocab is not None else None
        self.diagram.vocab = self.equations.vocab
        n_samples = ds.n_val if ds.n_val else ds.n_train
        self.sample_spin.blockSignals(True)
        self.sample_spin.setRange(0, max(n_samples - 1, 0))
        self.sample_spin.setValue(min(run.trainer.sample_index, max(n_samples - 1, 0)))
        self.sample_spin.blockSignals(False)
        self.unit_spin.blockSignals(True)
        self.unit_spin.setRange(0, run.model.n_units - 1)
        self.unit_spin.blockSignals(False)
        self.data_label.setText(_elide(ds.describe(), 90))
        self.data_label.setToolTip(ds.describe())
        self.param_plot.set_config(ds.n_inputs, ds.n_outputs, n_range=UNITS_RANGE, n_current=run.model.n_units)
        self._reload_history_plots()
        self._refresh_trace()
        self._refresh_predictions()
        self._update_progress()
        self.setWindowTitle(f"LSTM Explorer — {Path(str(ds.source)).name}")

    def _reload_history_plots(self):
        tr = self.run.trainer
        self.loss_plot.set_history_rows(tr.history)
        self.grad_plot.set_step_table(tr.step_table(), tr.log.gates, tr.clip)
        self.through_time_plot.clear()

    def _refresh_trace(self):
        """Recompute the selected sample's trace from the current weights (not while training)."""
        if self.run is None or self.training:
            return
        self.trace = self.run.trainer.sample_trace()
        self._show_trace()

    def _show_trace(self):
        tr = self.trace
        if tr is None:
            return
        weights = self._trace_weights if self.training else self.run.model.state_dict()
        self.diagram.set_trace(tr, weights)
        self.equations.set_trace(tr, weights)
        self.timebar.set_length(tr.T)
        t, u = self.timebar.t, min(self.unit_spin.value(), tr.h.shape[2] - 1)
        self.diagram.set_position(sample=0, t=t, unit=u)
        self.equations.set_position(sample=0, t=t, unit=u)
        self.heatmap_plot.set_trace({k: getattr(tr, k)[0] for k in describe(tr.kind).trace_names})
        self._set_time_markers(t)
        self._refresh_top_k()

    _trace_weights = None

    def _refresh_predictions(self):
        if self.run is None or self.training:
            return
        ds = self.run.dataset
        if ds.kind == "text":
            self._refresh_top_k()
            return
        p = self.run.predictions(forecast=min(100, ds.n_val) if ds.kind == "series" else 0)
        self._show_predictions(p)

    def _show_predictions(self, p):
        if "prediction" not in p or "t" not in p:
            self.prediction_plot.clear()
            return
        split = p["t"][0] if self.run.dataset.kind == "series" else None
        self.prediction_plot.set_series(p["t"], p["target"], p["t"], p["prediction"],
                                        p.get("t_forecast"), p.get("forecast"), split_t=split)

    def _refresh_top_k(self):
        if self.run is None or self.trace is None or self.run.dataset.kind != "text":
            return
        vocab = self.run.dataset.vocab
        t = min(self.timebar.t, self.trace.T - 1)
        probs = softmax(self.trace.y[0, t])
        top = np.argsort(probs)[::-1][:5]
        self.prediction_plot.set_top_k([vocab[j] for j in top], [float(probs[j]) for j in top])

    # -- stepping through time ---------------------------------------------------------------------
    def _on_timebar_changed(self, t):
        self.diagram.set_position(t=t)
        self.equations.set_position(t=t)
        self._set_time_markers(t)
        self._refresh_top_k()

    def _set_time_markers(self, t):
        for w in (self.through_time_plot, self.heatmap_plot):
            w.set_time_marker(t)

    def _on_unit_changed(self, u):
        self.diagram.set_position(unit=u)
        self.equations.set_position(unit=u)

    def _on_sample_changed(self, s):
        if self.run is None:
            return
        self.run.trainer.sample_index = s          # a plain int the worker reads between steps
        if not self.training:
            self._refresh_trace()

    def _on_escape(self):
        self.diagram.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # -- training ---------------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        return self._thread is not None

    def toggle_training(self):
        if self.training:
            self.stop_training()
        else:
            self.start_training()

    def start_training(self, epochs: int | None = None):
        """Train (continuing from the current weights) for the panel's number of epochs."""
        if self.run is None or self.training:
            return
        self._apply_training_settings()
        tr = self.run.trainer
        tr.extend(epochs if epochs is not None else self.settings_panel.epochs_spin.value())
        self._trace_weights = None
        self._train_t0 = time.perf_counter()
        self._train_step0 = tr.step
        root = autosave_dir()
        run = self.run
        worker = TrainingWorker(tr, checkpoint=lambda: write_autosave(run, root))   # runs in the worker
        self.qsettings.setValue("autosave/pending", str(root))
        self._dirty = True
        worker.sigSteps.connect(self._on_worker_steps)
        worker.sigMessage.connect(self._on_worker_message)
        worker.sigFinished.connect(self._on_worker_finished)
        self._worker = worker
        self._thread = self.threads.start(worker, worker.sigFinished)
        self.train_action.setText("&Stop")
        self.train_action.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaStop))
        self.pause_action.setEnabled(True)
        self.statusBar().showMessage("Training…")

    def _apply_training_settings(self):
        """Optimiser-free settings that may change between runs without new weights."""
        s = self.settings_panel.model_settings(self.run.settings)
        tr = self.run.trainer
        if s.optimizer != self.run.settings.optimizer:
            from explorer.engine import make_optimizer
            tr.optimizer = make_optimizer(s.optimizer, s.lr)
        tr.optimizer.lr = s.lr
        tr.clip = s.clip
        if s.batch != tr.batch_size and tr.epoch_step == 0:
            tr.batch_size = s.batch
        self.run.settings.optimizer, self.run.settings.lr, self.run.settings.clip = s.optimizer, s.lr, s.clip
        self.run.settings.batch = tr.batch_size
        self.run.settings.epochs = s.epochs

    def stop_training(self):
        if self._worker is not None:
            self._worker.request_stop()

    def toggle_pause(self):
        if self._worker is None:
            return
        if self._worker.paused:
            self._worker.resume()
            self.pause_action.setText("&Pause")
            self.statusBar().showMessage("Training…")
        else:
            self._worker.pause()
            self.pause_action.setText("&Resume")
            self.statusBar().showMessage("Paused: step through time with Left/Right; Resume to go on.")

    def _on_worker_steps(self, batch):
        self._pending_batch.append(batch)
        if not self._redraw_timer.isActive():
            wait = max(0.0, self._redraw_interval - (time.perf_counter() - self._last_redraw))
            self._redraw_timer.start(int(wait * 1000))

    def _redraw_live(self):
        """Apply every pending batch to the plots and show the latest trace; adapt the rate."""
        if not self._pending_batch or self.run is None:
            return
        t0, cpu0 = time.perf_counter(), time.thread_time()
        batches, self._pending_batch = self._pending_batch, []
        steps = [b for b in batches if len(b.step)]
        if steps:                      # one append (one setData per curve) for all batches since the last redraw
            cat = lambda name: np.concatenate([getattr(b, name) for b in steps])  # noqa: E731
            step, epoch = cat("step"), cat("epoch")
            gates = {g: np.concatenate([b.gate_norms[g] for b in steps]) for g in steps[0].gate_norms}
            self.grad_plot.append_steps(step, cat("grad_norm"), gates, cat("clipped"),
                                        plots.epoch_starts(step, epoch), self.run.trainer.clip)
        latest = batches[-1].latest
        if any(b.epoch_ends for b in batches):
            self.loss_plot.set_history_rows(self.run.trainer.history)
        if latest is not None:
            self.latest_snapshot = latest
            self.through_time_plot.set_norms(latest.norms_dh, latest.norms_dc)
            if latest.trace is not None and latest.trace is not self.trace:
                self.trace = latest.trace
                self._trace_weights = latest.weights
                self._show_trace()
        self._update_progress()
        cost = time.perf_counter() - t0 + self.diagram.paint_ms() / 1000.0
        if self._redraw_cpu_mark and t0 - self._last_redraw < 2.0:
            # the GUI thread's CPU over the whole last cycle: that redraw, the paints it caused
            # (plots, equations, diagram) and the slots since; the GIL time training gives up
            cost = max(cost - self.diagram.paint_ms() / 1000.0, cpu0 - self._redraw_cpu_mark)
        self._redraw_cpu_mark = cpu0
        self._redraw_cost = 0.8 * self._redraw_cost + 0.2 * cost if self._redraw_cost else cost
        # keep the GUI's share of the interpreter near 3 %: training keeps ≥ 90 % of its headless speed
        self._redraw_interval = min(2.0, max(1.0 / 30, 30.0 * self._redraw_cost))
        if self._worker is not None:        # no traces the diagram will not show (a fresh one per redraw)
            self._worker.trace_interval = 0.8 * self._redraw_interval
        self._last_redraw = time.perf_counter()
        self.sigRedrawn.emit()

    def _on_worker_message(self, msg):
        self.banner.show_message(msg, "error")

    def _on_worker_finished(self, reason):
        self._redraw_timer.stop()
        self._redraw_live()
        self._thread = None
        self._worker = None
        self.train_action.setText("&Train")
        self.train_action.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.pause_action.setEnabled(False)
        self.pause_action.setText("&Pause")
        if self._closing:
            self.sigTrainingFinished.emit(reason)
            return
        self._reload_history_plots()
        if self.latest_snapshot is not None:
            self.through_time_plot.set_norms(self.latest_snapshot.norms_dh, self.latest_snapshot.norms_dc)
        self._refresh_trace()
        self._refresh_predictions()
        self._update_progress()
        text = {"done": "Training finished.", "stopped": "Training stopped; Train continues from here.",
                "diverged": "Training diverged; the last good weights are kept.",
                "error": "Training stopped by an error."}[reason]
        self.statusBar().showMessage(text, 10000)
        self.sigTrainingFinished.emit(reason)

    def _update_progress(self):
        if self.run is None:
            return
        tr = self.run.trainer
        total = max(tr.total_steps, 1)
        if self.progress.maximum() != total:
            self.progress.setRange(0, total)
        value = min(tr.step, total)
        if value * 100 // total != self.progress.value() * 100 // total:   # repaints only per percent
            self.progress.setValue(value)
        loss = tr.log.loss[-1] if tr.log.loss else float("nan")
        left = ""
        if self.training and tr.step > self._train_step0:
            rate = (time.perf_counter() - self._train_t0) / (tr.step - self._train_step0)
            secs = int(rate * max(total - tr.step, 0))
            left = f" · {secs // 60:02d}:{secs % 60:02d} left"
        val = tr.history[-1]["val_loss"] if tr.history else float("nan")
        vtxt = "" if math.isnan(val) else f" · val {val:.4g}"
        ltxt = "" if math.isnan(loss) else f" · loss {loss:.4g}"
        self.progress_label.setText(f"epoch {tr.epoch}/{tr.epochs} · step {tr.step}{ltxt}{vtxt}{left}")

    def _on_settings_model_changed(self):
        """Units, cell or seed changed: new weights (asks to stop training first)."""
        if self.run is None:
            return
        s = self.settings_panel.model_settings(self.run.settings)
        cur = self.run.settings
        needs_new = (s.units, s.cell, s.seed) != (cur.units, cur.cell, cur.seed)
        if not needs_new:
            return
        if self.training:
            self._confirm_stop("Changing the model needs new weights.")
            if self.training:
                self.settings_panel.set_model_settings(cur)
                return
        self.set_run(Run(self.run.dataset, s))

    def _confirm_stop(self, why: str):
        """Ask to stop training (a modal question; the window stays responsive)."""
        answer = QMessageBox.question(self, "Stop training?", f"{why} Stop training first?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        if answer == QMessageBox.StandardButton.Yes:
            self.stop_and_wait()

    def stop_and_wait(self, timeout_ms: int = 1500) -> bool:
        """Stop training and wait for the worker's thread (used when closing and before reloading)."""
        if self._thread is None:
            return True
        thread = self._thread
        self._worker.request_stop()
        ok = thread.wait(timeout_ms)
        QApplication.processEvents()            # deliver the worker's finished signal
        if self._thread is not None and ok:
            self._on_worker_finished("stopped")
        return ok

    def reset_weights(self):
        if self.run is None:
            return
        if self.training:
            self._confirm_stop("Resetting the weights starts over.")
            if self.training:
                return
        s = self.settings_panel.model_settings(self.run.settings)
        self.set_run(Run(self.run.dataset, s))
        self.statusBar().showMessage("Weights reset: training starts over.", 5000)

    # -- runs -------------------------------------------------------------------------------------
    def save_run_dialog(self):
        folder = QFileDialog.getExistingDirectory(self, "Save the run into a folder", self.last_folder())
        if folder:
            self.save_run(folder)

    def save_run(self, folder) -> bool:
        if self.run is None:
            return False
        if self.training:
            self._confirm_stop("Saving needs training to stop.")
            if self.training:
                return False
        try:
            self.run.save(folder)
        except RunFileError as exc:
            self.banner.show_message(str(exc), "error")
            return False
        self._dirty = False
        self.qsettings.remove("autosave/pending")
        self.statusBar().showMessage(f"Saved the run to {folder}", 8000)
        return True

    def open_run_dialog(self):
        folder = QFileDialog.getExistingDirectory(self, "Open a run folder", self.last_folder())
        if folder:
            self.open_run(folder)

    def open_run(self, folder) -> bool:
        if self.training:
            self._confirm_stop("Opening a run replaces the current one.")
            if self.training:
                return False
        try:
            run = Run.load(folder)
        except Exception as exc:  # noqa: BLE001 - RunFileError or the data's SequenceFileError
            self.banner.show_message(str(exc), "error")
            self.sigLoadFailed.emit(str(exc))
            return False
        if run.model.kind not in WINDOW_CELLS:
            msg = (f"The run in {folder} uses a {run.model.kind.upper()} cell; the window draws LSTM cells. "
                   f"Continue it on the command line: lstm-explorer train --resume \"{folder}\" --epochs E")
            self.banner.show_message(msg, "error")
            self.sigLoadFailed.emit(msg)
            return False
        self.set_run(run)
        self.statusBar().showMessage(f"Opened the run in {folder}", 8000)
        return True

    # -- export -----------------------------------------------------------------------------------
    def export_one_dialog(self, key):
        path, _ = QFileDialog.getSaveFileName(self, f"Export {key}", str(Path(self.last_folder()) / key),
                                              "PNG image (*.png);;SVG drawing (*.svg);;CSV data (*.csv)")
        if path:
            self.export_one(key, path)

    def export_one(self, key: str, path) -> None:
        path = Path(path)
        widget = self.diagram if key == "diagram" else self.plot_widgets[key]
        suffix = path.suffix.lower()
        if suffix == ".png":
            widget.export_png(str(path), scale=2)
        elif suffix == ".svg":
            widget.export_svg(str(path))
        elif suffix == ".csv":
            widget.export_csv(str(path))
        else:
            raise ValueError(f"unknown export format {suffix!r}")

    def export_all_dialog(self):
        folder = QFileDialog.getExistingDirectory(self, "Export everything into a folder", self.last_folder())
        if folder:
            self.export_all(folder)

    def export_all(self, folder) -> list[Path]:
        """Every plot, the cell diagram and the equations as PNG, SVG and CSV into ``folder``."""
        folder = Path(folder)
        written = []
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for key in list(self.plot_widgets) + ["diagram"]:
                for ext in ("png", "svg", "csv"):
                    p = folder / f"{key}.{ext}"
                    self.export_one(key, p)
                    written.append(p)
            for ext in ("png", "svg"):
                p = folder / f"equations.{ext}"
                getattr(self.equations, f"export_{ext}")(str(p))
                written.append(p)
        except OSError as exc:
            self.banner.show_message(f"Could not export into {folder}: {exc}", "error")
            return written
        self.statusBar().showMessage(f"Exported {len(written)} files to {folder}", 8000)
        return written

    # -- drag and drop ----------------------------------------------------------------------------
    def dragEnterEvent(self, e):  # noqa: N802
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e):  # noqa: N802
        urls = [u for u in e.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_file(urls[0].toLocalFile())

    # -- closing ----------------------------------------------------------------------------------
    def closeEvent(self, e):  # noqa: N802
        """Stop training (no question), autosave unsaved results, remember the layout."""
        self._closing = True
        self.timebar.timer.stop()
        if self.training:
            self.stop_and_wait(1500)
        if self._dirty:
            self.autosave()                 # unsaved results: the next launch offers them
        self._save_layout()
        super().closeEvent(e)

    def autosave(self) -> Path | None:
        """Save the run (not training now) as the newest autosave; the next launch offers it."""
        if self.run is None:
            return None
        root = autosave_dir()
        try:
            folder = write_autosave(self.run, root)
        except RunFileError:
            return None
        self.qsettings.setValue("autosave/pending", str(root))
        return folder

    def offer_autosave(self):
        """If the last session closed while training, offer to reopen its autosaved run."""
        pending = self.qsettings.value("autosave/pending")
        folder = latest_autosave(pending) if pending else None
        if folder is None:
            return False

        def reopen():
            self.qsettings.remove("autosave/pending")
            self.open_run(folder)

        def discard():
            self.qsettings.remove("autosave/pending")

        self.banner.show_message("The last session closed while training; its run was autosaved.", "info",
                                 actions=(("Reopen it", reopen), ("Discard", discard)))
        return True

    def _on_about(self):
        QMessageBox.about(self, "About LSTM Explorer",
                          "LSTM Explorer — watch an LSTM think.\nA live, trainable LSTM cell on a NumPy engine.")


def _elide(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"

"""The explorer window: its layout, its actions and the session every view follows.

The cell diagram in the centre, the timestep bar under it, the equations on the right, plots in
tabbed docks, the settings panel on the left. What is selected (sample, timestep, unit) and what
is drawn (run, trace, steps, history, norms, predictions) live in one Qt-free
:class:`~explorer.app.Session`; views subscribe with ``_on_session_<event>`` slots and keep no
copy of the position. Controllers do the work: training and display (:mod:`explorer.gui.training`),
files and runs (:mod:`explorer.gui.files`), export (:mod:`explorer.gui.export`), the plots
(:mod:`explorer.gui.plots_controller`). Nothing that
grows with the data or the model runs on the GUI thread: training, loading, opening runs,
traces and predictions are tasks on workers.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import (QDockWidget, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QScrollArea, QSplitter, QStatusBar, QStyle, QToolButton, QVBoxLayout,
                               QWidget)

from explorer.app import Session
from explorer.app.memory_view import memory_spans
from explorer.util.assets import resource_path
from explorer.gui.actions import add_export_menu, add_step_shortcuts, add_toolbar, make_action
from explorer.gui.banner import BannerWidget
from explorer.gui.comparison import open_comparison_dialog
from explorer.gui.diagram import CellDiagramView
from explorer.gui.equations import EquationsView
from explorer.gui.export import ExportController
from explorer.gui.export_task import widget_steps
from explorer.gui.plots_controller import PlotsController, memory_kept, time_axis  # noqa: F401
from explorer.gui.layer_selector import LayerSelectorWidget
from explorer.gui.models import ModelController
from explorer.gui.files import (START_EXAMPLE, START_SETTINGS, WINDOW_CELLS, FilesController,  # noqa: F401
                                autosave_dir)
from explorer.gui.settings_panel import UNITS_RANGE, SettingsPanelWidget
from explorer.gui.status import WindowStatus
from explorer.gui.plain_text import plain_label, plain_tooltip
from explorer.gui.position_selector import PositionSelectorWidget
from explorer.gui.text_strip import TextStripWidget
from explorer.gui.timestep_bar import TimestepBarWidget
from explorer.gui.training import DisplayController, TrainingController
from explorer.gui.turns import TurnQueue, hold_on
from explorer.gui.worker import ThreadRegistry
from explorer.runs.store import Run

APP_NAME = "LSTM Explorer"
PLOT_TITLES = {"loss": "Loss", "grad_norms": "Gradient norms", "grad_through_time": "Through time",
               "gates": "Gate activations", "memory": "Memory", "param_count": "Parameters",
               "predictions": "Predictions"}


class ElidedLabel(QLabel):
    """A one-line label that shortens its text with … to the room it has (never clipped)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)     # the data's description names its columns
        self._full = ""

    def setText(self, text: str) -> None:  # noqa: N802
        self._full = text
        self.setToolTip(plain_tooltip(text))
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, e):  # noqa: N802
        super().resizeEvent(e)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(self.width(), 10))
        super().setText(shown)

    def minimumSizeHint(self):  # noqa: N802
        hint = super().minimumSizeHint()
        hint.setWidth(40)
        return hint


class ElidingStatusBar(QStatusBar):
    """A status bar whose messages end in "…" where they would run under the progress box (the
    whole message in the tooltip)."""

    _full = ""

    def full_message(self) -> str:
        """The message shown now, whole (``currentMessage`` may end in "…")."""
        return self._full if self.currentMessage() else ""

    def showMessage(self, text: str, timeout: int = 0) -> None:  # noqa: N802
        self._full = text
        permanent = sum(w.width() for w in self.findChildren(QWidget) if w.parent() is self and w.isVisible())
        room = max(self.width() - permanent - 30, 60)
        shown = self.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, room)
        self.setToolTip(plain_tooltip(text) if shown != text else "")
        super().showMessage(shown, timeout)


#: The least height of a plot in its dock: axes, labels and a curve still read.
PLOT_MIN_HEIGHT = 150

#: The paint units each session event changes: held while it is applied, then painted one per
#: event-loop turn (:mod:`explorer.gui.turns`).
PAINT_HOLDS = {"run": ("diagram", "equations", *PLOT_TITLES), "comparison": ("diagram", "equations"),
               "trace": ("diagram", "equations", "gates", "memory", "grad_through_time", "predictions"),
               "position": ("diagram", "equations", "gates", "memory", "grad_through_time", "predictions"),
               "steps": ("loss", "grad_norms"), "history": ("loss",), "norms": ("grad_through_time",),
               "predictions": ("predictions",)}

class MainWindow(QMainWindow):
    """The LSTM Explorer window."""

    sigDataLoaded = Signal(object)      # Dataset (a file, an example or an opened run's data)
    sigLoadFailed = Signal(str)         # the one sentence shown to the person
    sigRunOpened = Signal(str)          # the folder of a run that is now shown
    sigTrainingFinished = Signal(str)   # "done" | "stopped" | "diverged" | "error"
    sigRedrawn = Signal()               # after every live redraw while training

    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(QIcon(str(resource_path("icons", "lstm-explorer.svg"))))
        self.qsettings = settings or QSettings(APP_NAME, APP_NAME)
        self.session = Session()
        self.turns = TurnQueue(self._paint_units, self)
        hold_on(self.session.events, self.turns, PAINT_HOLDS)       # before any view subscribes
        self.threads = ThreadRegistry(self)
        self.closing = False
        self.run_folder: str | None = None
        self.banner = BannerWidget()
        self._build_status()
        self._build_controllers()
        self._build()
        from explorer.gui import instruments  # interventions, backward mode, replay, animation, presenter
        instruments.install(self)
        self._restore_layout()
        self.turns.watch()                  # built, not shown: every unit's first paint is seen

    def _build_controllers(self):
        """The controllers, each given its collaborators (the widgets they drive are read when used:
        they are built next)."""
        self.display = DisplayController(self.session, self.threads, self.status, parent=self)
        confirm_stop = lambda why: self.training_ctl.confirm_stop(why)  # noqa: E731 - made next
        self.files = FilesController(
            self.session, self.threads, self.status, qsettings=self.qsettings,
            data_options=lambda: self.settings_panel.data_options(),
            model_settings=lambda base: self.settings_panel.model_settings(base), confirm_stop=confirm_stop,
            display=self.display, show_run=self.set_run, closing=lambda: self.closing, dialog_parent=self, parent=self)
        self.files.sigDataLoaded.connect(self.sigDataLoaded)
        self.files.sigLoadFailed.connect(self.sigLoadFailed)
        self.files.sigRunOpened.connect(self.sigRunOpened)
        self.models = ModelController(self.session, self.status, files=self.files, confirm_stop=confirm_stop,
                                      show_run=self.set_run, dialog_parent=self, parent=self)  # File › Open Model
        self.training_ctl = TrainingController(
            self.session, self.threads, self.status, settings=lambda base: self.settings_panel.model_settings(base),
            files=self.files, display=self.display, paint_s=lambda: self.diagram.paint_ms() / 1000.0,
            closing=lambda: self.closing, dialog_parent=self, parent=self)
        self.training_ctl.sigRedrawn.connect(self.sigRedrawn)
        self.training_ctl.sigFinished.connect(self.sigTrainingFinished)
        self.status.seconds_left = self.training_ctl.seconds_left
        self.status.training = lambda: self.training
        self.exporter = ExportController(
            lambda: {**self.plot_widgets, "diagram": self.diagram}, self.status,
            extra=lambda folder: [([folder / "equations.png", folder / "equations.svg"],
                                   partial(widget_steps, self.equations, folder / "equations.png",
                                           folder / "equations.svg"))],
            flush=lambda: self.plots.flush(),
            building=lambda: self.plots.heatmap_plot.building or self.plots.memory_plot.building,
            last_folder=self.files.last_folder, dialog_parent=self, parent=self)

    def grab(self, *args, **kw):  # noqa: D401 - Qt's name
        """A picture of the window as its turns will have drawn it a moment later: the pieces
        queued run now, and the units held let paint (a grab renders every widget afresh, and one
        with its updates off renders as nothing)."""
        self.turns.run_all()
        return super().grab(*args, **kw)

    def _paint_units(self) -> dict:
        """The widgets painted in event-loop turns of their own after a redraw."""
        if not hasattr(self, "plot_widgets"):
            return {}
        return {"diagram": (self.diagram,), "equations": (self.equations,),
                **{k: (w,) for k, w in self.plot_widgets.items()}}

    # -- what the session holds ----------------------------------------------------------------------
    @property
    def run(self) -> Run | None:
        return self.session.run

    @property
    def trace(self):
        """The trace shown (batch 1: the selected sample)."""
        return self.session.trace

    def current_model(self):
        """The engine model shown (None before any data or model is shown)."""
        return None if self.run is None else self.run.model

    @property
    def training(self) -> bool:
        return self.training_ctl.training

    @property
    def convlstm_windows(self) -> list:
        """ConvLSTM runs opened from this window, each in its own window."""
        return self.files.convlstm_windows

    # -- construction ----------------------------------------------------------------------------------
    def _build(self):
        s = self.session
        self.diagram = CellDiagramView(s)
        self.diagram.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.diagram.setObjectName("diagram")
        self.diagram.setMinimumSize(360, 260)          # the diagram scales; small windows keep it whole
        self.equations = EquationsView(s)
        self.equations.setMinimumWidth(200)
        self.timebar = TimestepBarWidget(s)
        self.text_strip = TextStripWidget(s)

        selectors = QHBoxLayout()
        selectors.setContentsMargins(8, 4, 8, 0)
        self.position_selector = PositionSelectorWidget(s)
        self.sample_spin, self.unit_spin = self.position_selector.sample_spin, self.position_selector.unit_spin
        self.memory_button = QToolButton()
        self.memory_button.setText("Most memory")
        self.memory_button.setToolTip("Select the unit that carries the most memory in this sample: the one "
                                      "that keeps what it wrote longest (its memory span; for a plain RNN the "
                                      "largest variance of h)")
        self.memory_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        selectors.addWidget(self.position_selector)
        selectors.addWidget(self.memory_button)
        self.layer_selector = LayerSelectorWidget(s)        # deep / bidirectional models: layer, direction
        selectors.addWidget(self.layer_selector)
        selectors.addStretch(1)
        self.data_label = ElidedLabel()
        self.data_label.setStyleSheet("color: palette(mid);")
        self.data_label.setMinimumWidth(40)
        selectors.addWidget(self.data_label, 1)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.setSpacing(2)
        lv.addLayout(selectors)
        lv.addWidget(self.diagram, 1)
        lv.addWidget(self.text_strip)
        lv.addWidget(self.timebar)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.equations)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        central = QWidget()
        cv = QVBoxLayout(central)
        cv.setContentsMargins(4, 4, 4, 4)
        cv.addWidget(self.banner)
        cv.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        self.settings_panel = SettingsPanelWidget()
        scroll = QScrollArea()
        scroll.setWidget(self.settings_panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)   # it fits the dock's width
        self.settings_dock = self._dock("Settings", scroll, Qt.DockWidgetArea.LeftDockWidgetArea)

        self.plots = PlotsController(s, self.text_strip, UNITS_RANGE, self)
        pc = self.plots
        self.loss_plot, self.grad_plot, self.through_time_plot = pc.loss_plot, pc.grad_plot, pc.through_time_plot
        self.heatmap_plot, self.memory_plot = pc.heatmap_plot, pc.memory_plot
        for w in (self.heatmap_plot, self.memory_plot):     # their panels built in turns of their own
            w.step_queue = self.turns
        self.param_plot, self.prediction_plot = pc.param_plot, pc.prediction_plot
        self.plot_widgets = pc.widgets
        self.plot_docks = {}
        first = None
        for key, w in self.plot_widgets.items():
            dock = self._dock(PLOT_TITLES[key], w, Qt.DockWidgetArea.BottomDockWidgetArea)
            w.setMinimumHeight(PLOT_MIN_HEIGHT)     # a layout saved on another screen never squashes a plot flat
            if key in ("gates", "memory"):           # the heatmaps are fed when their tab is raised
                self.plots.follow_dock(dock)
            self.plot_docks[key] = dock
            if first is None:
                first = dock
            else:
                self.tabifyDockWidget(first, dock)
        first.raise_()
        self.settings_dock.setMinimumWidth(230)
        self.resizeDocks([self.settings_dock], [290], Qt.Orientation.Horizontal)
        self.resizeDocks([first], [300], Qt.Orientation.Vertical)
        if not hasattr(self.loss_plot, "log_chosen"):     # (the figures helper's plot chooses by the data)
            self.loss_plot.set_log_scale(True)

        self._build_actions()
        self._connect()

    #: below this width the settings dock joins the plots' tabs at the bottom (the diagram and the
    #: equations get the whole width: a 1024-px laptop on a projector)
    NARROW_WIDTH = 1200

    def resizeEvent(self, e):  # noqa: N802
        super().resizeEvent(e)
        self._fit_docks()

    def showEvent(self, e):  # noqa: N802
        super().showEvent(e)
        self._fit_docks()

    def _fit_docks(self) -> None:
        """Narrow windows tab the settings with the plots; wide ones give it back its column."""
        narrow = self.width() < self.NARROW_WIDTH
        if narrow == getattr(self, "_narrow", False) or self.isFullScreen() or not self.settings_dock.isVisible():
            return
        self._narrow = narrow
        shown = next((d for d in self.plot_docks.values() if not d.visibleRegion().isEmpty()), None)
        if narrow:
            self.tabifyDockWidget(self.plot_docks["loss"], self.settings_dock)
            if self.height() < 800:               # short too: the plots' row gives the diagram room
                self.resizeDocks([self.plot_docks["loss"]], [230], Qt.Orientation.Vertical)
        else:
            self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.settings_dock)
            self.resizeDocks([self.settings_dock], [290], Qt.Orientation.Horizontal)
        if shown is not None:
            shown.raise_()

    def _dock(self, title, widget, area):
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower().replace(' ', '_')}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_actions(self):
        SP = QStyle.StandardPixmap
        act = partial(make_action, self)

        self.open_action = act("&Open…", self.files.open_file_dialog, "Ctrl+O", SP.SP_DialogOpenButton,
                               "Open a sequence or text file (Ctrl+O)")
        self.open_run_action = act("Open &Run…", self.files.open_run_dialog, None, SP.SP_DirOpenIcon)
        self.open_model_action = act("Open &Model…", self.models.open_model_dialog, "Ctrl+Shift+O", None,
                                     "Open a model's weights (PyTorch safetensors, Keras, a run's model.npz) "
                                     "on the data shown (Ctrl+Shift+O)")
        self.save_run_action = act("&Save Run…", self.files.save_run_dialog, "Ctrl+S", SP.SP_DialogSaveButton,
                                   "Save the run to a folder (Ctrl+S)")
        self.export_all_action = act("&Export All…", self.exporter.export_all_dialog, "Ctrl+E", None,
                                     "Export every plot and the diagram as PNG, SVG and CSV (Ctrl+E)")
        self.quit_action = act("&Quit", self.close, "Ctrl+Q")
        self.train_action = act("&Train", self.toggle_training, "Ctrl+Return", SP.SP_MediaPlay,
                                "Train / stop (Ctrl+Return)")
        self.pause_action = act("&Pause", self.toggle_pause, None, SP.SP_MediaPause, "Pause / resume training")
        self.pause_action.setEnabled(False)
        self.reset_action = act("&Reset Weights", self.reset_weights, None, SP.SP_BrowserReload,
                                "Start over from freshly initialised weights")

        mb = self.menuBar()
        fm = mb.addMenu("&File")
        fm.addAction(self.open_action)
        self.recent_menu = self.files.recent_menu = fm.addMenu("Open &Recent")
        fm.addAction(self.open_run_action)
        fm.addAction(self.open_model_action)
        fm.addAction(self.save_run_action)
        fm.addSeparator()
        add_export_menu(fm, list(self.plot_widgets) + ["diagram"], self._on_export_menu_triggered)
        fm.addAction(self.export_all_action)
        fm.addSeparator()
        fm.addAction(self.quit_action)
        tm = mb.addMenu("&Training")
        for a in (self.train_action, self.pause_action, self.reset_action):
            tm.addAction(a)
        tm.addSeparator()
        self.compare_action = tm.addAction("&Compare Cells…", partial(open_comparison_dialog, self))
        vm = mb.addMenu("&View")
        vm.addAction(self.settings_dock.toggleViewAction())
        for d in self.plot_docks.values():
            vm.addAction(d.toggleViewAction())
        self.log_action = QAction("Log scale for losses", self, checkable=True)
        self.log_action.setChecked(self.loss_plot.log_box.isChecked())
        self.log_action.triggered.connect(self.loss_plot.set_log_scale)     # the person's choice only
        self.loss_plot.log_box.toggled.connect(self.log_action.setChecked)
        vm.addAction(self.log_action)
        hm = mb.addMenu("&Help")
        hm.addAction("About LSTM Explorer", self._on_about)

        add_toolbar(self, "Main", "toolbar_main", (self.open_action, self.save_run_action, None, self.train_action,
                                                   self.pause_action, self.reset_action, None, self.export_all_action))
        self.step_shortcuts = add_step_shortcuts(self, self.timebar, more=(("Escape", self._on_escape),))
        self.files.refresh_recent_menu()

    def _build_status(self):
        self.setStatusBar(ElidingStatusBar())
        sb = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(200)
        self.progress.setTextVisible(True)
        self.progress_label = plain_label()
        sb.addPermanentWidget(self.progress_label)
        sb.addPermanentWidget(self.progress)
        self.status = WindowStatus(sb, self.banner, self.progress, self.progress_label, self.session, self)

    def _connect(self):
        sp = self.settings_panel
        ev = self.session.events
        self.session.subscribe(self, "run", "progress", "training")
        self.session.events.sample.connect(self.training_ctl.set_sample)
        self.memory_button.clicked.connect(self.select_memory_unit)
        sp.sigUnitsChanged.connect(self.param_plot.set_units)
        sp.sigModelChanged.connect(self._on_settings_model_changed)
        sp.sigApplyData.connect(self._on_settings_apply_data)
        sp.reset_button.clicked.connect(self.reset_weights)
        sp.example_combo.activated.connect(self._on_example_chosen)
        self.setAcceptDrops(True)

    # -- persistence ----------------------------------------------------------------------------------
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
        return self.files.recent_files()

    def last_folder(self) -> str:
        return self.files.last_folder()

    # -- public API (used by ../shared/tools/tour and outside scripts) --------------------------------
    def open_file(self, path, **options) -> bool:
        """Load ``path`` off the GUI thread with the panel's data options (or ``options``).
        Emits :attr:`sigDataLoaded` or :attr:`sigLoadFailed`; the data loaded before stays on failure."""
        return self.files.open_file(path, **options)

    def open_example(self, name: str, **overrides) -> bool:
        return self.files.open_example(name, **overrides)

    def open_run(self, folder, allow_changed_data: bool = False) -> bool:
        """Open a run folder off the GUI thread: :attr:`sigRunOpened` (and :attr:`sigDataLoaded`)
        when it is shown, :attr:`sigLoadFailed` when it cannot be (a changed data file: the
        banner offers "Open anyway", i.e. ``allow_changed_data=True``)."""
        return self.files.open_run(folder, allow_changed_data=allow_changed_data)

    def open_model(self, path) -> bool:
        """Open a model file's weights on the data shown, off the GUI thread:
        ``models.sigModelOpened`` when shown, ``models.sigModelFailed`` (one sentence on the
        banner; the current run stays) when it cannot be."""
        return self.models.open_model(path)

    def save_run(self, folder) -> bool:
        return self.files.save_run(folder)

    def start_training(self, epochs: int | None = None) -> None:
        """Train (continuing from the current weights) for ``epochs`` or the panel's epochs."""
        if self.interventions.refuse_training():
            return
        self.training_ctl.start(epochs)

    def stop_training(self) -> None:
        self.training_ctl.stop()

    def toggle_training(self) -> None:
        if self.training:
            self.stop_training()
        else:
            self.start_training()

    def toggle_pause(self) -> None:
        self.training_ctl.toggle_pause()

    def stop_and_wait(self, timeout_ms: int = 1800) -> bool:
        return self.training_ctl.stop_and_wait(timeout_ms / 1000.0)

    def export_all(self, folder) -> list[Path]:
        return self.exporter.export_all(folder)

    def export_one(self, key: str, path) -> bool:
        return self.exporter.export_one(key, path)

    def autosave(self) -> Path | None:
        return self.files.autosave()

    def offer_autosave(self) -> bool:
        return self.files.offer_autosave()

    # -- the run ------------------------------------------------------------------------------------------
    def set_run(self, run: Run, display=None, folder: str | None = None) -> None:
        """Show ``run`` (idle). ``display`` (a :class:`~explorer.app.tasks.Display` computed off
        the GUI thread) is drawn at once; without it one is computed in a worker."""
        self.run_folder = folder
        self.session.set_run(run)
        if display is not None:
            self.display.apply(display)
        else:
            self.display.request(predictions=True, norms=True)

    def _on_session_run(self, run) -> None:
        if run is None:
            return
        ds = run.dataset
        self.settings_panel.show_run(run, self.run_folder)
        self.data_label.setText(ds.describe())
        self.status.update_progress()
        name = Path(self.run_folder).name if self.run_folder else Path(str(ds.source)).name
        self.setWindowTitle(f"{APP_NAME} — {name}")

    def _on_session_progress(self, progress) -> None:
        self.status.update_progress()

    def _on_session_training(self, state) -> None:
        """The train and pause actions say what they do now."""
        running = state != "idle"
        icon = QStyle.StandardPixmap.SP_MediaStop if running else QStyle.StandardPixmap.SP_MediaPlay
        self.train_action.setText("&Stop" if running else "&Train")
        self.train_action.setIcon(self.style().standardIcon(icon))
        self.pause_action.setEnabled(running)
        self.pause_action.setText("&Resume" if state == "paused" else "&Pause")

    # -- selection ----------------------------------------------------------------------------------------
    def select_memory_unit(self) -> int | None:
        """Select the unit carrying the most memory in this sample: the longest memory span (how
        many steps' writes it still holds at the end, :func:`explorer.app.memory_view.memory_unit`);
        for a cell without a belt (the RNN), the largest variance of h over time."""
        tr = self.session.view_trace()
        if tr is None:
            return None
        spans = memory_spans(tr, sample=0)
        if spans is not None:
            u = int(np.argmax(spans))
            why = f"it still holds {spans[u]:.1f} steps' worth of what it wrote at the end of this sample"
        else:
            u = int(np.argmax(np.var(np.asarray(tr.h[0], dtype=float), axis=0)))
            why = "its h varies most over this sample (the RNN keeps no belt)"
        self.session.set_position(unit=u)
        self.statusBar().showMessage(f"Unit {u} carries the most memory: {why}.", 8000)
        return u

    def _on_escape(self):
        if self.presenter.on_escape():
            return
        self.diagram.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # -- settings -------------------------------------------------------------------------------------------
    def _trained(self) -> bool:
        return self.session.progress.step > 0

    def _confirm_discard(self, why: str) -> bool:
        """Ask before throwing away trained weights (True: go ahead)."""
        if not self._trained():
            return True
        answer = QMessageBox.question(self, "Discard the trained weights?",
                                      f"{why} The weights trained for {self.session.progress.step} steps will be "
                                      "discarded (save the run first to keep them). Discard them?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _on_settings_model_changed(self):
        """Units, cell or seed changed: new weights (asks to stop training, and before discarding)."""
        run = self.run
        if run is None:
            return
        s = self.settings_panel.model_settings(run.settings)
        cur = run.settings
        if (s.units, s.cell, s.seed, s.layers, s.bidirectional) == \
                (cur.units, cur.cell, cur.seed, cur.layers, cur.bidirectional):
            return
        if not self.training_ctl.confirm_stop("Changing the model needs new weights.") or \
                not self._confirm_discard("Changing the units, the layers, the directions, the cell or the seed "
                                          "needs new weights."):
            self.settings_panel.set_model_settings(cur)
            self.param_plot.set_units(cur.units)
            return
        s.sample_index = self.session.position.sample
        self.set_run(Run(run.dataset, s))

    def _on_settings_apply_data(self):
        run = self.run
        if run is None:
            return
        if not self.training_ctl.confirm_stop("Changing the data needs new weights.") or \
                not self._confirm_discard("New data settings need new weights."):
            return
        cfg = run.dataset.config
        opts = self.settings_panel.data_options()
        if cfg.get("type") == "example":
            over = dict(cfg.get("overrides", {}))
            settings = cfg.get("settings", {})
            for key in ("seq_len", "val_fraction", "normalize"):
                if key in settings and opts.get(key) is not None:
                    over[key] = opts[key]
            self.open_example(cfg["example"], **over)
        else:
            self.open_file(run.dataset.source, text=(run.dataset.kind == "text") or None)

    def _on_example_chosen(self, index):
        name = self.settings_panel.example_combo.itemData(index)
        if name:
            self.open_example(name)

    def reset_weights(self):
        run = self.run
        if run is None or not self.training_ctl.confirm_stop("Resetting the weights starts over."):
            return
        s = self.settings_panel.model_settings(run.settings)
        s.sample_index = self.session.position.sample
        self.set_run(Run(run.dataset, s))
        self.statusBar().showMessage("Weights reset: training starts over.", 5000)

    # -- menus, drag and drop, closing -------------------------------------------------------------------------
    def _on_export_menu_triggered(self, action):
        if action.data():
            self.exporter.export_one_dialog(action.data())

    def dragEnterEvent(self, e):  # noqa: N802
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e):  # noqa: N802
        urls = [u for u in e.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_file(urls[0].toLocalFile())

    def closeEvent(self, e):  # noqa: N802
        """Stop training (no question) within 2 s, autosave unsaved results, stop every other task,
        remember the layout. A task that cannot stop yet (a file being read) is waited for after
        the event loop ends (``explorer.gui.app.main``)."""
        self.closing = True
        self.timebar.timer.stop()
        self.exporter.cancel()
        was_training = self.training
        if was_training:
            self.training_ctl.stop_and_wait()
        if self.files.dirty and not self.training:
            if (self.files.autosave("training" if was_training else "unsaved") is None
                    and self.files.autosave_error is not None and not self.files.keep_unsaved_results()):
                self.closing = False                    # the person keeps the window to save the results
                e.ignore()
                return
        self._autosave_after_close = self.training      # its step did not end in time: see after_close
        self.files.release_run_folder()
        self.threads.shutdown(0.2)
        self._save_layout()
        super().closeEvent(e)

    _autosave_after_close = False

    def after_close(self) -> None:
        """After the event loop ended: wait for the tasks still running (a step under way, a file
        being read) and autosave a run whose training ended only now."""
        self.threads.wait_all()
        self.training_ctl.finish()
        if (self._autosave_after_close and not self.training and self.files.autosave("training") is None
                and self.files.autosave_error is not None):
            self.files.keep_unsaved_results(can_cancel=False)

    def _on_about(self):
        QMessageBox.about(self, "About LSTM Explorer",
                          "LSTM Explorer — watch an LSTM think.\nA live, trainable LSTM cell on a NumPy engine.")

"""The window's files and runs: opening data (off the GUI thread), recent files, saving and
opening run folders, the autosave of unsaved results and the offer to reopen it.

Loading, building the run and computing its first display (trace, norms, predictions) happen
in one task on a worker; the window gets a run ready to draw. A newer load supersedes an older
one; a load still running when the window closes is waited for after the event loop ends
(``explorer.gui.app.main``), so the process never drops a running thread.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox

from explorer.app.ingest import load_dataset
from explorer.app.tasks import display_task
from explorer.data.examples import load_example
from explorer.engine.describe import KINDS as WINDOW_CELLS     # every cell has a description the views draw
from explorer.gui.status import StatusSink
from explorer.gui.worker import LatestTask
from explorer.runs.folder import WriterLock, folder_state, safe_name
from explorer.runs.store import (OPTIONAL_FILES, RUN_FILES, DataChangedError, Run, RunFileError, latest_autosave,
                                 prune_autosaves, settings_for_data, settings_for_example, write_autosave)

START_EXAMPLE = "sine"
START_SETTINGS = dict(units=8)
MAX_RECENT = 8
APP_DIR = "LSTM Explorer"
WINDOW_COMMAND = "the LSTM Explorer window"        # who holds a run folder, as a refused writer is told


def app_data_dir() -> Path:
    """The app's data folder: one level named after the app (QStandardPaths' AppDataLocation adds
    organisation and application; they are the same name here, so one of them is dropped)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    p = Path(base) if base else Path.home() / ".local" / "share" / APP_DIR
    if p.parent.name == p.name:                       # …/LSTM Explorer/LSTM Explorer
        p = p.parent
    return p


def autosave_dir() -> Path:
    """Where unsaved results (closing during or after training) are saved."""
    return app_data_dir() / "autosave"


def _show_then_predict(state, run, sample: int):
    """The run and its trace as a partial result (the window shows them), then its predictions."""
    first = display_task(state, run, None, sample, predictions=False, norms=True)
    state.set_partial_result((run, first))
    return display_task(state, run, None, sample, trace=False)


#: What a newly opened file keeps of the window's settings: the model's shape the person chose;
#: the rest (units, epochs, optimiser …) is the file's own (:func:`explorer.runs.settings_for_data`).
KEPT_FOR_A_NEW_FILE = ("cell", "layers", "bidirectional", "seed")


def _load_task(state, load, settings, example, new_file=False):
    """In the worker: the dataset, the run, what the views draw first, then the predictions."""
    ds = load()
    state.check()
    if new_file:
        settings = settings_for_data(ds.kind, **{k: getattr(settings, k) for k in KEPT_FOR_A_NEW_FILE})
    run = Run(ds, settings)
    state.check()
    return _show_then_predict(state, run, settings.sample_index or 0)


def _open_run_task(state, folder, allow_changed_data=False):
    from explorer.app.frames_run import FramesRun, is_frames_run

    if is_frames_run(folder):                     # a ConvLSTM run: its own window (_opened_run)
        run = FramesRun.load(folder)
        run.check_drawable(folder)
        state.set_partial_result((run, None))
        return None
    run = Run.load(folder, allow_changed_data=allow_changed_data)
    state.check()
    if run.model.kind not in WINDOW_CELLS:
        state.set_partial_result((run, None))
        return None
    return _show_then_predict(state, run, run.settings.sample_index or 0)


def data_status(ds) -> str:
    """The status line after loading: what was loaded and what the loader decided (the chosen
    sequence length, the gaps it filled), each said once."""
    text = ds.describe()
    parts = [text]
    if getattr(ds, "seq_len_chosen", False) and "chosen to fit" not in text:
        parts.append(f"sequence length {ds.seq_len} chosen to fit the file")
    gaps = getattr(ds, "gap_rows", None)
    n_missing = int(getattr(ds, "n_missing", 0) or 0)
    n_gaps = max(n_missing, len(gaps) if gaps is not None else 0)
    if n_gaps and "filled by interpolation" not in text and "filled" not in text:
        parts.append(f"{n_gaps} missing value{'s' if n_gaps != 1 else ''} filled by interpolation")
    return "; ".join(parts)


class FilesController(QObject):
    """Open files, examples and runs; save runs; recent files; autosave and its offer.

    Collaborators, all explicit: the ``session`` (the run and position shown), the ``threads``,
    the ``status`` sink, ``qsettings`` (recent files, the pending autosave), ``data_options()``
    and ``model_settings(base)`` (the panel's choices), ``confirm_stop(why)`` (training stops
    first), the ``display`` controller (``apply``), ``show_run(run, display, folder)`` (the
    window shows a run), ``closing()`` and the ``dialog_parent`` of its dialogs. What is being
    opened runs in :attr:`loader`, one :class:`~explorer.gui.worker.LatestTask` for files, runs
    and models (the newest supersedes the others)."""

    sigDataLoaded = Signal(object)      # Dataset (a file, an example or an opened run's data)
    sigLoadFailed = Signal(str)         # the one sentence shown to the person
    sigRunOpened = Signal(str)          # the folder of a run that is now shown

    def __init__(self, session, threads, status: StatusSink, *, qsettings, data_options, model_settings, confirm_stop,
                 display, show_run, closing=lambda: False, dialog_parent=None, parent=None):
        super().__init__(parent)
        self.session, self.status, self.qsettings = session, status, qsettings
        self.data_options, self.model_settings, self.confirm_stop = data_options, model_settings, confirm_stop
        self.display, self.show_run, self.closing, self.dialog_parent = display, show_run, closing, dialog_parent
        self.loader = LatestTask(threads, progress=status.task_progress, parent=self)
        self.recent_menu = None            # File › Open Recent, once the window made it
        self.attention_windows: list = []
        self.convlstm_windows: list = []
        self.dirty = False                 # trained since the last save or load
        self.run_lock: WriterLock | None = None    # the lock of the run folder the shown run is saved in
        self.autosave_error: str | None = None     # why the last autosave failed (None: it did not)

    # -- recent files ------------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        v = self.qsettings.value("recent/files", [])
        if isinstance(v, str):
            v = [v]
        return [str(x) for x in (v or [])]

    def add_recent(self, path: str) -> None:
        files = [path] + [f for f in self.recent_files() if f != path]
        self.qsettings.setValue("recent/files", files[:MAX_RECENT])
        self.qsettings.setValue("recent/folder", str(Path(path).parent))
        self.refresh_recent_menu()

    def refresh_recent_menu(self) -> None:
        menu = self.recent_menu
        if menu is None:
            return
        menu.clear()
        files = self.recent_files()
        for f in files:
            menu.addAction(f.replace("&", "&&"), partial(self.open_file, f))    # "&" is a name's, not a shortcut
        menu.setEnabled(bool(files))

    def last_folder(self) -> str:
        return str(self.qsettings.value("recent/folder", str(Path.home())))

    # -- loading -------------------------------------------------------------------------------------
    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.dialog_parent, "Open a sequence or text file", self.last_folder(),
            "Sequences and text (*.csv *.tsv *.txt *.npy *.dat *.ts);;All files (*)")
        if path:
            self.open_file(path)

    def open_file(self, path, **options) -> bool:
        """Load ``path`` off the GUI thread with the panel's data options (or ``options``); a file of
        labelled sequences opens in an attention window beside this one."""
        from explorer.data.labelled import looks_labelled

        if looks_labelled(path):
            return self._open_attention(file=str(path))
        opts = self.data_options()
        run = self.session.run
        new_file = run is None or run.dataset.source != str(path)
        if new_file:
            opts.update(columns=None, target=None, seq_len=None, val_fraction=None, key=None)   # a new file: its defaults
        opts.update(options)
        # the panel's model settings once a run is shown (before that it holds the defaults)
        base = self.model_settings(run.settings if run else None)
        base.sample_index = 0
        return self._start_load(partial(load_dataset, str(path), **opts), str(path), base, example=None,
                                new_file=new_file)

    def open_example(self, name: str, settings: dict | None = None, **overrides) -> bool:
        """Load the built-in example ``name`` (data ``overrides``) off the GUI thread with its
        settings, and ``settings`` (e.g. ``{"cell": "gru"}``) over them; a labelled example opens
        in the attention window."""
        from explorer.data.examples import LABELLED_EXAMPLES

        if name in LABELLED_EXAMPLES:
            return self._open_attention(example=name)
        base = settings_for_example(name, **{**(START_SETTINGS if name == START_EXAMPLE else {}),
                                             **(settings or {})})
        return self._start_load(partial(load_example, name, **overrides), name, base, example=name)

    def _open_attention(self, file=None, example=None) -> bool:
        """Labelled sequences (one label each) train a whole-sequence model: the attention window."""
        from explorer.gui.attention_window import build_attention_window

        self.attention_windows = [w for w in self.attention_windows if w.isVisible()]
        self.attention_windows.append(build_attention_window(file, example))
        return True

    def _start_load(self, load, label, settings, example, new_file=False) -> bool:
        if not self.confirm_stop("Loading new data replaces the current run."):
            return False
        self.status.show_status(f"Loading {Path(label).name}…")
        return self.start_opening(partial(_load_task, load=load, settings=settings, example=example,
                                          new_file=new_file), ("file", label, example), self._on_load_partial,
                                  self._on_load_failed)

    def start_opening(self, fn, tag, on_shown, on_failed) -> bool:
        """Run ``fn`` in :attr:`loader` (superseding whatever was being opened): its partial result
        goes to ``on_shown(value)``, which returns the run it showed; its failure before that to
        ``on_failed(text, error_type)``; its result (the predictions) is drawn while that run is shown."""
        shown_run = []                       # the run this request has shown

        def shown(value):
            if not self.closing():
                shown_run.append(on_shown(value))

        def failed(text, error_type):
            if self.closing():
                return
            if not shown_run:
                on_failed(text, error_type)
            else:
                self.status.show_message(f"Could not compute the predictions: {text}", "error", topic="display")

        def predictions(display):
            if display is not None and not self.closing() and shown_run and shown_run[0] is self.session.run:
                self.display.apply(display)

        self.loader.start(fn, tag=tag, on_partial=shown, on_result=predictions, on_error=failed)
        return True

    def _on_load_partial(self, value):
        """The run and its first display are ready (its predictions follow)."""
        what, label, example = self.loader.tag
        run, display = value
        if what == "run":
            self._opened_run(run, display, label)
        else:
            self._loaded(run, display, label, example)
        return run

    def _on_load_failed(self, text: str, error_type) -> None:
        what, label, _ = self.loader.tag
        if what == "run" and error_type is not None and issubclass(error_type, DataChangedError):
            self._failed(text, "Could not open the run; the current one stays.",
                         actions=(("Open anyway", partial(self.open_run, label, allow_changed_data=True)),))
        else:
            self._failed(text, "Could not load the file; the previous data stays loaded."
                         if what == "file" else "Could not open the run; the current one stays.")

    def _loaded(self, run, display, label, example) -> None:
        self.show_run(run, display, None)
        self.release_run_folder()
        self.dirty = False
        if not example:
            self.add_recent(label)
        self.status.resolve("load", "data")
        ds = run.dataset
        self.status.show_status(data_status(ds), 12000)
        warning = next((n for n in ds.notes if n.startswith("warning: ")), None)
        if warning:                           # a target with nothing to learn: said where it is seen
            text = warning.removeprefix("warning: ")
            self.status.show_message(text[:1].upper() + text[1:] + ".", "warn", topic="data")
        self.sigDataLoaded.emit(ds)

    def _failed(self, msg: str, status: str, actions=()) -> None:
        self.status.show_status(status, 8000)
        self.status.show_message(msg, "error", actions=actions, topic="load")
        self.sigLoadFailed.emit(msg)

    # -- runs ------------------------------------------------------------------------------------------
    def save_run_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.dialog_parent, "Save the run into a folder", self.last_folder())
        if folder:
            self.save_run(folder)

    def save_run(self, folder) -> bool:
        """Save the run into ``folder``: an empty folder or a run folder (a folder holding other
        things is never written: the person is asked to choose another). The window holds the
        folder's lock from then on, so another window or a ``train`` into it is refused and told
        who holds it; a folder another writer holds is refused the same way."""
        run = self.session.run
        if run is None or not self.confirm_stop("Saving needs training to stop."):
            return False
        try:
            state = folder_state(folder, RUN_FILES + OPTIONAL_FILES, RUN_FILES)
        except (RunFileError, OSError) as exc:
            self.status.show_message(str(exc) if isinstance(exc, RunFileError) else
                                    f"Could not read {folder}: {exc.strerror or exc}.", "error", topic="save")
            return False
        if state.kind == "other":
            shown = ", ".join(state.foreign[:3]) + (", \u2026" if len(state.foreign) > 3 else "")
            answer = QMessageBox.question(
                self.dialog_parent, "Not a run folder",
                # names only after the first line: Qt reads a first line without a tag as plain text
                "This folder is not a run folder, and nothing in it was changed.\n"
                f"{safe_name(folder)} holds other things ({safe_name(shown)}); a run is saved only into an empty "
                "folder or a run folder. Choose another folder?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
            if answer == QMessageBox.StandardButton.Yes:
                other = QFileDialog.getExistingDirectory(self.dialog_parent, "Save the run into a folder",
                                                         self.last_folder())
                if other and Path(other) != Path(folder):
                    return self.save_run(other)
            self.status.show_status(f"The run was not saved into {folder}.", 8000)
            return False
        run.settings.sample_index = self.session.position.sample
        try:
            self._hold(folder)
            run.save(folder)
            self._hold(folder)                      # a folder made by this save: its lock exists now
        except RunFileError as exc:
            self.status.show_message(str(exc), "error", topic="save")
            return False
        self.status.resolve("save")
        self.dirty = False
        self.qsettings.remove("autosave/pending")
        self.status.show_status(f"Saved the run to {folder}", 8000)
        return True

    def _hold(self, folder) -> None:
        """Hold ``folder``'s lock (the run shown is saved there), letting go of the previous one.
        Raises :class:`RunFileError` naming the holder when another writer holds it."""
        folder = Path(folder)
        if self.run_lock is not None and self.run_lock.held and self.run_lock.folder == folder:
            return
        lock = WriterLock(folder, command=WINDOW_COMMAND, wait=1.0, create=False)
        if lock.held:
            self.release_run_folder()
            self.run_lock = lock

    def release_run_folder(self) -> None:
        """The shown run is no longer the one in a folder: its lock goes."""
        if self.run_lock is not None:
            self.run_lock.release()
            self.run_lock = None

    def open_run_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.dialog_parent, "Open a run folder", self.last_folder())
        if folder:
            self.open_run(folder)

    def open_run(self, folder, allow_changed_data: bool = False) -> bool:
        """Read the run folder and compute its display off the GUI thread; :attr:`sigRunOpened`
        or :attr:`sigLoadFailed` says how it went. False when training did not stop for it.

        A data file that changed since the run was saved is refused (the banner says how and offers
        "Open anyway", which reopens with ``allow_changed_data=True``: the run's weights on the
        file as it is now)."""
        if not self.confirm_stop("Opening a run replaces the current one."):
            return False
        self.status.show_status(f"Opening the run in {folder}…")
        return self.start_opening(partial(_open_run_task, folder=str(folder), allow_changed_data=allow_changed_data),
                                  ("run", str(folder), None), self._on_load_partial, self._on_load_failed)

    def _opened_run(self, run, display, folder) -> None:
        if run.model.kind == "convlstm":
            from explorer.gui.convlstm_window import ConvLSTMWindow

            frames_win = ConvLSTMWindow(run, Path(folder).name, folder=folder)
            self.convlstm_windows = [w for w in self.convlstm_windows if w.isVisible()] + [frames_win]
            frames_win.show()
            self.status.show_status(f"Opened the ConvLSTM run in {folder} in its own window.", 8000)
            return
        if run.model.kind not in WINDOW_CELLS:
            msg = (f"The run in {folder} uses a {run.model.kind.upper()} cell; the window draws LSTM cells. "
                   f"Continue it on the command line: lstm-explorer train --resume \"{folder}\" --epochs E")
            self._failed(msg, "The run was not opened; the current one stays.")
            return
        self.show_run(run, display, folder)
        self.dirty = False
        self.status.resolve("load")
        try:
            self._hold(folder)
        except RunFileError as exc:
            self.release_run_folder()
            self.status.show_message(f"{exc} Saving into it is refused until then.", "warn", topic="save")
        src = run.dataset.source
        self.status.show_status(f"Opened the run in {folder} (data: {src}, step {run.trainer.step}); "
                                "computing its predictions…", 12000)
        self.sigRunOpened.emit(str(folder))
        self.sigDataLoaded.emit(run.dataset)

    # -- autosave -----------------------------------------------------------------------------------------
    def autosave_root(self) -> Path:
        return autosave_dir()

    def training_started(self, root) -> None:
        """A crash from now on leaves an autosave of a run that was training."""
        self.qsettings.setValue("autosave/pending", str(root))
        self.qsettings.setValue("autosave/reason", "training")
        self.dirty = True

    def training_finished(self) -> None:
        self.qsettings.setValue("autosave/reason", "unsaved")

    def autosave(self, reason: str = "unsaved") -> Path | None:
        """Save the run (not training now) as the newest autosave; the next launch offers it.
        None when there is no run or the save failed (:attr:`autosave_error` says why)."""
        run = self.session.run
        self.autosave_error = None
        if run is None:
            return None
        root = self.autosave_root()
        run.settings.sample_index = self.session.position.sample
        try:
            folder = write_autosave(run, root)
        except RunFileError as exc:
            self.autosave_error = str(exc)
            return None
        self.qsettings.setValue("autosave/pending", str(root))
        self.qsettings.setValue("autosave/reason", reason)
        return folder

    def keep_unsaved_results(self, can_cancel: bool = True) -> bool:
        """Closing with results the autosave could not write: say so and offer to save them
        elsewhere. True when the window may close (saved, or the person lets them go); False
        when the person cancels closing."""
        buttons = QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
        if can_cancel:
            buttons |= QMessageBox.StandardButton.Cancel
        while True:
            answer = QMessageBox.question(
                self.dialog_parent, "The results could not be autosaved",
                "The trained results of this session are not saved anywhere.\n"
                f"{self.autosave_error} Save them into another folder before closing, or discard them?", buttons)
            if answer == QMessageBox.StandardButton.Discard:
                self.dirty = False                  # let go: closing again does not ask again
                return True
            if answer != QMessageBox.StandardButton.Save:
                return not can_cancel
            folder = QFileDialog.getExistingDirectory(self.dialog_parent, "Save the run into a folder",
                                                      self.last_folder())
            if folder and self.save_run(folder):
                return True
            self.autosave_error = f"The run was not saved{f' into {folder}' if folder else ''}."

    def offer_autosave(self) -> bool:
        """If the last session left unsaved results, offer to reopen them (saying why they were saved)."""
        pending = self.qsettings.value("autosave/pending")
        folder = latest_autosave(pending) if pending else None
        # older autosaves of instances that ended go: at most the offered one and those of running apps stay
        prune_autosaves(pending or self.autosave_root(), keep=folder)
        if folder is None:
            return False
        reason = self.qsettings.value("autosave/reason", "training")
        text = ("The last session closed while training; its run was autosaved." if reason == "training" else
                "The last session closed with trained results that were not saved; they were autosaved.")

        def reopen():
            self.qsettings.remove("autosave/pending")
            self.open_run(folder)

        def discard():
            self.qsettings.remove("autosave/pending")
            prune_autosaves(pending, keep=None)        # the person said no: it goes too

        self.status.show_message(text, "info", actions=(("Reopen it", reopen), ("Discard", discard)),
                                     topic="autosave-offer")
        return True

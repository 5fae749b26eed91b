"""File › Open Model… and ``lstm-explorer FILE --model MODEL``: a model file's weights on the
window's data, through one path.

:class:`ModelController` reads the file (:func:`explorer.interop.load_model`: safetensors,
Keras, a run's ``model.npz``), fits it to the data shown (:func:`explorer.interop.run_for_model`:
input and output sizes checked, a new head where the file had none) and computes what the views
draw first — all in one task, never on the GUI thread, in the files controller's one slot for
whatever is being opened (:meth:`~explorer.gui.files.FilesController.start_opening`: a file, a
run or a model; the newest supersedes the others). The window then shows the new run and the
model's description on the banner. A file that cannot be used, or a model whose sizes do not fit the data, is one sentence on
the banner, and the run shown before stays.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from explorer.app.tasks import display_task
from explorer.gui.status import StatusSink


def model_task(state, source, dataset, settings, sample: int = 0):
    """In the worker: the model (``source``: a path, or an already opened ``LoadedModel``), a run
    of ``dataset`` starting from its weights, and the first display (trace, norms) as a partial
    result ``(loaded, run, display)``; returns the predictions' display. Raises the interop's
    one-sentence errors (``ModelFileError``) for a file it cannot use or sizes that do not fit."""
    from explorer.interop import load_model, run_for_model

    state.set_progress(0.0, "Reading the model")
    loaded = (load_model(source, n_outputs=dataset.n_outputs, interrupt=state.is_interruption_requested)
              if isinstance(source, (str, Path)) else source)
    state.check()
    run = run_for_model(loaded, dataset, settings)
    state.check()
    first = display_task(state, run, None, sample, predictions=False, norms=True)
    state.set_partial_result((loaded, run, first))
    return display_task(state, run, None, sample, trace=False)


class ModelController(QObject):
    """Opens model files onto the data shown (see the module docstring).

    Collaborators, all explicit: the ``session`` (the run shown), the ``status`` sink, the
    ``files`` controller (``start_opening`` — its one slot for whatever is being opened —,
    ``loader``, ``last_folder()``, ``dirty``, :attr:`~explorer.gui.files.FilesController.sigDataLoaded`),
    ``confirm_stop(why)``, ``show_run(run, display, folder)`` and the ``dialog_parent`` of its dialog."""

    sigModelOpened = Signal(object)     # the LoadedModel now shown
    sigModelFailed = Signal(str)        # the one sentence shown on the banner

    def __init__(self, session, status: StatusSink, *, files, confirm_stop, show_run, dialog_parent=None, parent=None):
        super().__init__(parent)
        self.session, self.status, self.files = session, status, files
        self.confirm_stop, self.show_run, self.dialog_parent = confirm_stop, show_run, dialog_parent
        self.waiting: str | None = None        # a model to open once the file being loaded arrives
        self.loaded = None                     # the LoadedModel shown last

    @property
    def busy(self) -> bool:
        """A model is being read, or waits for the data it goes on."""
        loader = self.files.loader
        return self.waiting is not None or (loader.busy and loader.tag[0] == "model")

    # -- opening ---------------------------------------------------------------------------------------
    def open_model_dialog(self) -> None:
        from explorer.interop import MODEL_FILE_FILTER

        path, _ = QFileDialog.getOpenFileName(self.dialog_parent, "Open a model (weights of a PyTorch or Keras LSTM, "
                                              "GRU, RNN)", self.files.last_folder(),
                                              f"{MODEL_FILE_FILTER};;All files (*)")
        if path:
            self.open_model(path)

    def open_model(self, source, after_load: bool = False) -> bool:
        """Open ``source`` (a model file, or a ``LoadedModel``) onto the data shown — or, with
        ``after_load``, onto the data of the file being loaded once it arrives (if that file
        fails, the model is not opened). :attr:`sigModelOpened` or :attr:`sigModelFailed` says how
        it went; False when training did not stop for it."""
        files = self.files
        if after_load:
            if self.waiting is None:
                files.sigDataLoaded.connect(self._on_files_data_loaded)
                files.sigLoadFailed.connect(self._on_files_load_failed)
            self.waiting = source
            return True
        name = Path(str(getattr(source, "path", source))).name
        run = self.session.run
        if run is None:
            self.failed(f"{name} needs data to run on; open a data file or an example first (File \u203a Open), "
                        "then open the model again.")
            return False
        if not self.confirm_stop("Opening a model replaces the current run."):
            return False
        settings = type(run.settings)(**run.settings.__dict__)     # a copy: the worker reads it
        settings.sample_index = self.session.position.sample
        self.status.show_status(f"Opening the model {name}…")
        return files.start_opening(partial(model_task, source=source, dataset=run.dataset, settings=settings,
                                           sample=settings.sample_index), ("model", name, None),
                                   self.shown, lambda text, _type: self.failed(text))

    def _stop_waiting(self) -> str | None:
        source, self.waiting = self.waiting, None
        self.files.sigDataLoaded.disconnect(self._on_files_data_loaded)
        self.files.sigLoadFailed.disconnect(self._on_files_load_failed)
        return source

    def _on_files_data_loaded(self, _dataset) -> None:
        source = self._stop_waiting()
        if source is not None:
            self.open_model(source)

    def _on_files_load_failed(self, _message) -> None:
        self._stop_waiting()                 # the file's sentence is on the banner; the model is not opened

    # -- the task's results ----------------------------------------------------------------------------
    def shown(self, value):
        """The model, its run and the first display are ready: show them (the predictions follow);
        returns the run shown."""
        loaded, run, display = value
        self.show_run(run, display, None)
        self.files.dirty = False
        self.loaded = loaded
        self.status.show_message(loaded.message, "info", topic="model")
        self.status.show_status(f"Opened the model {loaded.path.name} on {Path(str(run.dataset.source)).name}; "
                                "computing its predictions…", 12000)
        self.sigModelOpened.emit(loaded)
        return run

    def failed(self, message: str) -> None:
        """The model could not be opened: its one sentence on the banner; the run shown stays."""
        self.status.show_status("The model was not opened; the current run stays.", 8000)
        self.status.show_message(message, "error", topic="model")
        self.sigModelFailed.emit(message)

"""File › Open Model… and ``lstm-explorer FILE --model MODEL``: a model file's weights on the
window's data, through one path.

:class:`ModelController` reads the file (:func:`explorer.interop.load_model`: safetensors,
Keras, a run's ``model.npz``), fits it to the data shown (:func:`explorer.interop.run_for_model`:
input and output sizes checked, a new head where the file had none) and computes what the views
draw first — all in one task on the window's generic :class:`~explorer.gui.worker.TaskWorker`,
never on the GUI thread, in the files controller's one slot for whatever is being opened (a file,
a run or a model: the newest supersedes the others). The window then shows the new run and the model's description on the
banner. A file that cannot be used, or a model whose sizes do not fit the data, is one sentence on
the banner, and the run shown before stays.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from explorer.app.tasks import display_task
from explorer.gui.worker import TaskWorker


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
    """Opens model files onto the window's current data (see the module docstring)."""

    sigModelOpened = Signal(object)     # the LoadedModel now shown
    sigModelFailed = Signal(str)        # the one sentence shown on the banner

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.waiting: str | None = None        # a model to open once the file being loaded arrives
        self.loaded = None                     # the LoadedModel shown last

    @property
    def busy(self) -> bool:
        """A model is being read, or waits for the data it goes on."""
        worker = self.win.files.load_worker
        return self.waiting is not None or (worker is not None and worker.tag[0] == "model")

    # -- opening ---------------------------------------------------------------------------------------
    def open_model_dialog(self) -> None:
        from explorer.interop import MODEL_FILE_FILTER

        path, _ = QFileDialog.getOpenFileName(self.win, "Open a model (weights of a PyTorch or Keras LSTM, GRU, "
                                              "RNN)", self.win.files.last_folder(),
                                              f"{MODEL_FILE_FILTER};;All files (*)")
        if path:
            self.open_model(path)

    def open_model(self, source, after_load: bool = False) -> bool:
        """Open ``source`` (a model file, or a ``LoadedModel``) onto the data shown — or, with
        ``after_load``, onto the data of the file being loaded once it arrives (if that file
        fails, the model is not opened). :attr:`sigModelOpened` or :attr:`sigModelFailed` says how
        it went; False when training did not stop for it."""
        win = self.win
        if after_load:
            if self.waiting is None:
                win.sigDataLoaded.connect(self._on_win_data_loaded)
                win.sigLoadFailed.connect(self._on_win_load_failed)
            self.waiting = source
            return True
        name = Path(str(getattr(source, "path", source))).name
        if win.run is None:
            self.failed(f"{name} needs data to run on; open a data file or an example first (File \u203a Open), "
                        "then open the model again.")
            return False
        if not win.training_ctl.confirm_stop("Opening a model replaces the current run."):
            return False
        settings = type(win.run.settings)(**win.run.settings.__dict__)     # a copy: the worker reads it
        settings.sample_index = win.session.position.sample
        win.statusBar().showMessage(f"Opening the model {name}…")
        files = win.files                    # one slot for whatever is being opened: the newest wins
        if files.load_worker is not None:
            files.load_worker.state.request_interruption()
        return files._start(TaskWorker(partial(model_task, source=source, dataset=win.run.dataset, settings=settings,
                                               sample=settings.sample_index), tag=("model", name, None)))

    def _stop_waiting(self) -> str | None:
        source, self.waiting = self.waiting, None
        self.win.sigDataLoaded.disconnect(self._on_win_data_loaded)
        self.win.sigLoadFailed.disconnect(self._on_win_load_failed)
        return source

    def _on_win_data_loaded(self, _dataset) -> None:
        source = self._stop_waiting()
        if source is not None:
            self.open_model(source)

    def _on_win_load_failed(self, _message) -> None:
        self._stop_waiting()                 # the file's sentence is on the banner; the model is not opened

    # -- the worker's results (the files controller hands them over) ----------------------------------
    def shown(self, worker, value) -> None:
        """The model, its run and the first display are ready: show them (the predictions follow)."""
        win = self.win
        loaded, run, display = value
        worker.shown_run = run
        win.set_run(run, display)
        win.files.dirty = False
        self.loaded = loaded
        win.banner.show_message(loaded.message, "info", topic="model")
        win.statusBar().showMessage(f"Opened the model {loaded.path.name} on {Path(str(run.dataset.source)).name}; "
                                    "computing its predictions…", 12000)
        self.sigModelOpened.emit(loaded)

    def failed(self, message: str) -> None:
        """The model could not be opened: its one sentence on the banner; the run shown stays."""
        self.win.statusBar().showMessage("The model was not opened; the current run stays.", 8000)
        self.win.banner.show_message(message, "error", topic="model")
        self.sigModelFailed.emit(message)

"""``explorer.explore(model, data=None, head=None)``: the window on an in-memory model, from a
script or IPython (``%gui qt``), without saving anything first — napari's ``view_image(array)``.

``model``: a ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` module, a state dict with torch's names, or
one of the engine's models (``explorer.engine.make_model``); ``head``: a head module or state
dict (``weight`` (k, D·n), ``bias``). ``data``: a NumPy series (T,) or (T, m), a pair ``(x, y)``
of windows x (N, T, m) and targets (N, k) or (N, T, k), a :class:`~explorer.data.Dataset`, a file
path, or None for the built-in example that fits the model's inputs. Arrays and datasets are
shown at once (:meth:`MainWindow.current_model` is the model shown when this returns); a file is
loaded in the background, and the model is opened on it when it arrives (``sigDataLoaded``, then
``win.models.sigModelOpened``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from explorer.data import Dataset, SequenceFileError, make_windows
from explorer.data.loading import SequenceData


def dataset_from_data(data, n_inputs: int, n_outputs: int) -> Dataset:
    """A dataset of in-memory ``data`` (see the module docstring) for a model of ``n_inputs``."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        x, y = (np.asarray(a, dtype=np.float64) for a in data)
        if x.ndim == 2 and n_inputs == 1:
            x = x[..., None]
        if y.ndim == 1:
            y = y[:, None]
        last = y.ndim == 2
        return Dataset.from_arrays(x, y, loss="mse", target_last=last, source="arrays")
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim == 3:
        raise SequenceFileError(f"data of shape {arr.shape} are windows without targets; give (x, y), "
                                "or a series (T,) or (T, m).")
    if arr.ndim != 2:
        raise SequenceFileError(f"data must be a series (T,) or (T, m), a pair (x, y), a Dataset or a file "
                                f"path; got an array of shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise SequenceFileError("data holds NaN or infinite values; give finite numbers.")
    m = arr.shape[1]
    seq = SequenceData(values=arr, columns=[f"x{j + 1}" if m > 1 else "x" for j in range(m)],
                       target_index=m - 1, path="array")
    return make_windows(seq)


def explore(model, data=None, head=None):
    """Open the window on ``model`` and ``data`` and return it (see the module docstring)."""
    from explorer.gui.app import create_app
    from explorer.gui.main_window import MainWindow
    from explorer.interop import run_for_model
    from explorer.interop.live import loaded_from_object

    create_app()
    loaded = loaded_from_object(model, head=head)
    win = MainWindow()
    win.show()
    if data is None:
        data = _example_for(loaded.model.n_inputs)
    if isinstance(data, (str, Path)) and not str(data).startswith("example:"):
        win.open_file(str(data))
        win.models.open_model(loaded, after_load=True)
        return win
    if isinstance(data, str):
        win.open_example(data.split(":", 1)[1])
        win.models.open_model(loaded, after_load=True)
        return win
    ds = dataset_from_data(data, loaded.model.n_inputs, loaded.model.n_outputs)
    win.set_run(run_for_model(loaded, ds))
    win.banner.show_message(loaded.message, "info", topic="model")
    return win


def _example_for(n_inputs: int) -> str:
    """The built-in example whose inputs a model of ``n_inputs`` takes."""
    if n_inputs not in (1, 2):
        raise SequenceFileError(f"No built-in example has {n_inputs} inputs per step; give data=, a series "
                                f"(T, {n_inputs}) or a file, for this model.")
    return "example:sine" if n_inputs == 1 else "example:adding"

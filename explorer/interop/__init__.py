"""Real models in and out: PyTorch (safetensors), Keras (``.keras``, ``.weights.h5``) and the
engine's own ``model.npz`` (NumPy only, never Qt, never torch, never pickle).

>>> from explorer.interop import load_model, save_model
>>> loaded = load_model("weights.safetensors")     # doctest: +SKIP
>>> loaded.model, loaded.prefix, loaded.head, loaded.message   # doctest: +SKIP
>>> save_model(loaded.model, "out.safetensors")   # doctest: +SKIP
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import KERAS_EXTRA_HINT, MissingExtraError, ModelFileError, pickle_refusal
from .fit import fit_model, run_for_model
from .mapping import LoadedModel
from .safetensors_io import model_metadata, save_model

#: File suffixes :func:`load_model` opens (for file dialogs).
MODEL_SUFFIXES = (".safetensors", ".keras", ".h5", ".hdf5", ".npz")
MODEL_FILE_FILTER = "Models (*.safetensors *.keras *.h5 *.hdf5 *.npz)"

_ZIP = b"PK\x03\x04"
_HDF5 = b"\x89HDF\r\n\x1a\n"


def load_model(path, n_outputs: int = 1, seed: int = 0, interrupt=None) -> LoadedModel:
    """Open a model file and map it onto the engine.

    safetensors (a PyTorch state dict: one ``nn.LSTM``/``GRU``/``RNN`` under any prefix and an
    optional linear head under any name), Keras 3 ``.keras`` / ``.weights.h5`` and legacy Keras
    ``.h5`` (needs h5py: ``pip install 'lstm-explorer[keras]'``), or a run folder's ``model.npz``.
    Without a head a new one with ``n_outputs`` outputs starts from random weights (``seed``) and
    ``LoadedModel.head`` is None. Anything that cannot be mapped raises :class:`ModelFileError`
    with one sentence naming the file and the key. ``interrupt()`` returning True (checked between
    reads) stops with :class:`~explorer.engine.Interrupted`; nothing of the file is kept.
    """
    from explorer.data.errors import safe_name
    from explorer.engine import Interrupted
    from explorer.util.ram import MemoryBudgetError

    from .mapping import interruptible

    try:
        with interruptible(interrupt):
            return _load(Path(path), n_outputs, seed)
    except (ModelFileError, Interrupted):
        raise
    except MemoryBudgetError as exc:         # a file too large for this machine: the same one sentence
        raise ModelFileError(str(exc)) from None
    except MemoryError:
        raise ModelFileError(f"{safe_name(path)} does not fit in this machine's memory; open a smaller "
                             "model.") from None
    except Exception as exc:  # noqa: BLE001 - the door: whatever a crafted file trips is one sentence
        what = safe_name(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, full=True).rstrip(".")
        raise ModelFileError(f"{safe_name(path)} could not be read as a model ({what}); the file is damaged "
                             "or not a model LSTM Explorer opens (.safetensors, .keras, .weights.h5 or a "
                             "run's model.npz).") from None


def _read_magic(path: Path) -> bytes:
    """The first bytes of a regular file. Opened without blocking and checked before reading: a FIFO,
    device or socket in its place is refused at once (a FIFO would wait for a writer forever)."""
    from explorer.data.errors import safe_name

    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:
        fd = None
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"Could not open {safe_name(path, full=True)}: "
                             f"{getattr(exc, 'strerror', None) or exc}.") from None
    try:
        mode = os.fstat(fd).st_mode if fd is not None else stat.S_IFDIR
        if stat.S_ISDIR(mode):
            raise ModelFileError(f"{safe_name(path, full=True)} is a folder, not a model file; choose its "
                                 ".safetensors, .keras or model.npz file.")
        if not stat.S_ISREG(mode):
            raise ModelFileError(f"{safe_name(path, full=True)} is not a regular file (a pipe, device or "
                                 "socket); choose a model file.")
        return os.read(fd, 9)
    finally:
        if fd is not None:
            os.close(fd)


def _load(path: Path, n_outputs: int, seed: int) -> LoadedModel:
    magic = _read_magic(path)
    if _is_pickle(magic):
        raise ModelFileError(pickle_refusal(path.name))
    if magic.startswith(_HDF5) or (magic.startswith(_ZIP) and _is_keras_zip(path)):
        from .keras_io import load_keras

        return load_keras(path, n_outputs=n_outputs, seed=seed)
    if magic.startswith(_ZIP):
        from .safetensors_io import load_npz

        return load_npz(path, n_outputs=n_outputs, seed=seed)
    from .safetensors_io import load_safetensors

    return load_safetensors(path, n_outputs=n_outputs, seed=seed)


def _is_pickle(head: bytes) -> bool:
    """A pickle's opening (PROTO 2..5), not a safetensors header (8 bytes of length, then "{")."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5 and head[8:9] != b"{"


def _is_keras_zip(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            return "model.weights.h5" in zf.namelist() or "config.json" in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


__all__ = ["load_model", "save_model", "model_metadata", "fit_model", "run_for_model",
           "LoadedModel", "ModelFileError", "MissingExtraError", "KERAS_EXTRA_HINT",
           "MODEL_SUFFIXES", "MODEL_FILE_FILTER"]

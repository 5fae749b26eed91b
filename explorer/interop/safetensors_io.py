"""safetensors files in and out, through the ``safetensors`` package's NumPy API (no torch, no
pickle: a model file can never run code), and the engine's own ``model.npz``.

Reading: the header (names, shapes, dtypes, metadata) first, then only the tensors the mapping
needs, as float64. NumPy has no bfloat16, so BF16 tensors are decoded here from their raw bytes
(the top 16 bits of a float32, exactly). Writing: torch's state-dict names under ``rnn.`` and
``head.`` and metadata saying what the file holds, atomically.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import numpy as np

from explorer import __version__
from explorer.util.ram import MemoryBudgetError, check_budget

from .errors import ModelFileError, pickle_refusal
from .mapping import KIND_TITLES, TensorInfo, TensorSource, load_torch_named

#: safetensors dtype codes → NumPy dtype names (the mapping reads the float ones).
ST_DTYPES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64",
             "F8_E4M3": "float8_e4m3", "F8_E5M2": "float8_e5m2", "BOOL": "bool",
             "I8": "int8", "U8": "uint8", "I16": "int16", "U16": "uint16", "I32": "int32",
             "U32": "uint32", "I64": "int64", "U64": "uint64"}

#: The names :func:`save_model` writes under: ``rnn.weight_ih_l0`` …, ``head.weight``, ``head.bias``
#: — the state dict of ``torch.nn.ModuleDict({"rnn": nn.LSTM(...), "head": nn.Linear(...)})``.
RNN_PREFIX = "rnn."
HEAD_PREFIX = "head."
FORMAT_TAG = "lstm-explorer"
TORCH_CLASSES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _bf16_reader(path: Path):
    """Read a BF16 tensor's raw bytes (the header was already checked by safetensors)."""
    def read(key: str) -> np.ndarray:
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
            begin, end = header[key]["data_offsets"]
            fh.seek(8 + n + begin)
            raw = np.frombuffer(fh.read(end - begin), dtype="<u2")
        return (raw.astype(np.uint32) << 16).view(np.float32).reshape(header[key]["shape"])
    return read


def load_safetensors(path: Path, n_outputs: int = 1, seed: int = 0):
    from safetensors import SafetensorError, safe_open

    label = path.name
    try:
        with safe_open(str(path), framework="np") as f:
            metadata = f.metadata() or {}
            infos = {}
            for key in f.keys():
                sl = f.get_slice(key)
                code = sl.get_dtype()
                infos[key] = TensorInfo(tuple(int(s) for s in sl.get_shape()), ST_DTYPES.get(code, code))
            bf16 = _bf16_reader(path)

            def read(key):
                return bf16(key) if infos[key].dtype == "bfloat16" else f.get_tensor(key)

            ours = metadata if metadata.get("format") == FORMAT_TAG else None
            return load_torch_named(TensorSource(label, infos, read), path, "safetensors", ours,
                                    n_outputs=n_outputs, seed=seed)
    except SafetensorError as exc:
        raise ModelFileError(
            f"{label} is not a readable safetensors file ({exc}); save the model's state dict with "
            "safetensors.torch.save_file(model.state_dict(), PATH).") from None


def load_npz(path: Path, n_outputs: int = 1, seed: int = 0):
    """The engine's ``model.npz`` (a run folder's weights: torch's names and ``head.*``)."""
    label = path.name
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            unpacked = sum(i.file_size for i in zf.infolist())
        if any(name.endswith(".pkl") for name in names):         # torch.save's zip: data.pkl + storages
            raise ModelFileError(pickle_refusal(label))
        check_budget(unpacked * 3, f"opening {label}", "open a smaller model")     # before np.load unpacks it
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:    # our handle: closed on errors
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        if isinstance(exc, (ModelFileError, MemoryBudgetError)):
            raise
        raise ModelFileError(f"{label} is not a readable NumPy .npz file ({exc}); open a "
                             "safetensors file or a run folder's model.npz.") from None
    for key, a in arrays.items():
        if not isinstance(a, np.ndarray):       # np.load hands back other members of a zip as bytes
            raise ModelFileError(f"{label} holds {key!r}, which is not a NumPy array; open a safetensors file "
                                 "or a run folder's model.npz.")
    infos = {k: TensorInfo(a.shape, a.dtype.name) for k, a in arrays.items()}
    return load_torch_named(TensorSource(label, infos, arrays.__getitem__), path, "npz", None,
                            n_outputs=n_outputs, seed=seed)


def model_metadata(model) -> dict:
    """What :func:`save_model` records: kind, sizes, layers, directions, names, app version and
    the torch modules that load the file."""
    L, bi = model.num_layers, bool(model.bidirectional)
    m, n, k = model.n_inputs, model.n_units, model.n_outputs
    meta = {"format": FORMAT_TAG, "app_version": __version__, "kind": model.kind,
            "n_inputs": str(m), "n_units": str(n), "n_outputs": str(k), "num_layers": str(L),
            "bidirectional": "true" if bi else "false", "prefix": RNN_PREFIX, "head": HEAD_PREFIX,
            "dtype": np.dtype(model.dtype).name}
    pool = getattr(model, "pool", None)
    if pool is not None:
        meta["pool"] = pool
    if model.kind in TORCH_CLASSES:
        meta["torch"] = (f'torch.nn.ModuleDict({{"rnn": torch.nn.{TORCH_CLASSES[model.kind]}({m}, {n}, '
                         f'num_layers={L}, bidirectional={bi}, batch_first=True), "head": '
                         f'torch.nn.Linear({(2 if bi else 1) * n}, {k})}})')
    else:
        meta["torch"] = (f"none: torch has no {KIND_TITLES.get(model.kind, model.kind)}; "
                         "the file opens in LSTM Explorer")
    return meta


def save_model(model, path) -> Path:
    """Write ``model`` to ``path`` as safetensors: torch's state-dict names under ``rnn.`` and
    ``head.`` (so ``ModuleDict({"rnn": nn.LSTM(...), "head": nn.Linear(...)})`` loads it with
    ``strict=True``) in the model's dtype, with :func:`model_metadata`. Atomic: a failure leaves
    the previous file."""
    from safetensors.numpy import save

    from explorer.runs.store import RunFileError, atomic_write_bytes

    if model.kind == "convlstm":
        from .convlstm_io import save_convlstm

        return save_convlstm(model, path)
    path = Path(path)
    tensors = {}
    for key, arr in model.state_dict().items():
        name = key if key.startswith((HEAD_PREFIX, "attention.")) else RNN_PREFIX + key
        tensors[name] = np.ascontiguousarray(arr, dtype=model.dtype)
    try:
        atomic_write_bytes(path, save(tensors, metadata=model_metadata(model)))
    except RunFileError as exc:
        raise ModelFileError(str(exc)) from None
    return path

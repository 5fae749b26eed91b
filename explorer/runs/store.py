"""A run: data settings + model settings + history + weights, saved to and loaded from a folder.

Folder layout (names are a contract; outside scripts read them)::

    config.json     every setting, the data file (path, size, SHA-256) or example, the normaliser,
                    the epochs and steps actually trained
    model.npz       the engine's PyTorch-named state dict
    optimizer.npz   the optimiser's moments and step count
    state.json      epoch, step, the random generator's state
    history.csv     epoch,train_loss,val_loss,grad_norm,clipped_fraction   (one row per epoch)
    steps-NNNNNN.npy  the per-step history in chunks, step,epoch,loss,grad_norm,clipped and a norm per
                    gate (:mod:`explorer.runs.steplog`: appended, thinned beyond what a plot draws);
                    folders before format 4 hold steps.csv and gate_norms.csv instead, read once
    epoch-NNNNNN.npz  the weights at the end of each kept epoch, for replay, one file per epoch
                    written once (capped: :mod:`explorer.runs.epochs`); folders before format 5 hold
                    epochs.npz (e{epoch:04d}/{state-dict key}), runs before replay neither

These names are links into the folder's current version (:mod:`explorer.runs.folder`): a save writes a
complete new version and switches to it in one rename, so a crash at any moment leaves the folder
as it was before the save or as it is after it, never a mix. Loading reads one version and checks
every file (JSON shape and types, archives, shapes, row counts against state.json), refusing a
damaged folder with one sentence (:class:`RunFileError`). Losses are in the target's own units
(z-score MSE × σ²). No Qt here.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import io
import json
import math
import os
import re
import secrets
import shlex
import tempfile
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from explorer import __version__
from explorer.data import Dataset, SequenceFileError, dataset_from_config
from explorer.engine import (CELLS, PARAM_COUNTS, RecurrentModel, TrainData, Trainer, make_model,
                             recurrent_param_count)
from explorer.util.ram import check_budget
from explorer.runs.options import BY_DEST, OptionError
from explorer.runs import schema as runschema
from explorer.runs.epochs import (EPOCH_NAME, EPOCHS_CAP_BYTES, EpochFile, EpochWeights, epoch_bytes, epoch_key,
                                  parse_epoch_arrays)
from explorer.runs.folder import (CURRENT, VERSIONS, RunFileError, current_dir, current_version, read_files,
                                remove_run_folder, safe_name, save_version, version_time, write_file)
from explorer.runs.steplog import CHUNK_NAME, Chunk, StepHistory, place_chunk, row_dtype

RUN_FILES = ("config.json", "model.npz", "optimizer.npz", "state.json", "history.csv")
#: Per-step files of folders before format 4 (both required there; gate_norms.csv is never made up).
LEGACY_STEP_FILES = ("steps.csv", "gate_norms.csv")
OPTIONAL_FILES = ("epochs.npz",) + LEGACY_STEP_FILES     # epochs.npz: replay's file before format 5
HISTORY_HEADER = ("epoch", "train_loss", "val_loss", "grad_norm", "clipped_fraction")
STEPS_HEADER = ("step", "epoch", "loss", "grad_norm", "clipped")

__all__ = ["RUN_FILES", "OPTIONAL_FILES", "LEGACY_STEP_FILES", "HISTORY_HEADER", "STEPS_HEADER", "RunFileError", "DataChangedError",
           "check_data_values", "check_settings_memory",
           "ModelSettings", "SettingsRecord", "SavedRun", "npz_bytes", "EXAMPLE_SETTINGS", "settings_for_example", "FILE_SETTINGS", "settings_for_data", "Run", "atomic_write_bytes", "atomic_write_stream",
           "atomic_write_text", "csv_value", "data_fingerprint", "estimate_run_bytes", "check_run_memory",
           "write_autosave", "latest_autosave", "prune_autosaves", "instance_id", "PREDICTION_WINDOWS", "PREDICTION_WORK"]


class DataChangedError(RunFileError):
    """The data file a run was trained on is gone or changed; the message says what to do."""


class SettingsRecord:
    """A settings dataclass read back from a saved dict (config.json's ``model``): keys it does not
    name are left out, missing ones take their defaults."""

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class SavedRun:
    """What the run families' folders share: :meth:`files` gives every file as bytes (nothing
    written), :meth:`save` writes them as one new version of the folder and switches to it
    (:func:`~explorer.runs.folder.save_version`). ``FOLDER_FILES`` name the files of a complete run
    (they mark a folder as one), ``OPTIONAL_FILES`` the ones it may lack."""

    FOLDER_FILES: tuple = ()
    OPTIONAL_FILES: tuple = ()

    def files(self) -> dict[str, bytes]:
        raise NotImplementedError

    def save(self, folder, extra=None) -> Path:
        """Write the run to ``folder`` (created if needed) as a complete new version, then switch.

        ``extra(version_dir)`` may write more files into the new version before the switch (the
        command line's plots), so they change together with the run. On failure the folder reads
        exactly as before and :class:`RunFileError` says why in one sentence.
        """
        folder = Path(folder)
        files = self.files()

        def write(vdir: Path) -> None:
            for name, data in files.items():
                write_file(vdir / name, data)
            if extra is not None:
                extra(vdir)

        save_version(folder, write, keep=self.FOLDER_FILES + self.OPTIONAL_FILES, marker=self.FOLDER_FILES)
        return folder


@dataclass
class ModelSettings(SettingsRecord):
    """Model and training settings of a run."""

    cell: str = "lstm"
    units: int = 32
    layers: int = 1
    bidirectional: bool = False
    optimizer: str = "adam"
    lr: float = 0.01
    clip: float | None = 1.0
    epochs: int = 10
    batch: int = 32
    seed: int = 0
    forget_bias: float = 1.0
    sample_index: int = 0


# Default settings per built-in example (the adding problem's are the issue's: 32 units,
# Adam 0.01, batch 32, clipping 1, loss on the last step).
EXAMPLE_SETTINGS = {
    "sine": dict(units=16, epochs=20, lr=0.01, batch=16),
    "noisy-sine": dict(units=16, epochs=20, lr=0.01, batch=16),
    "adding": dict(units=32, epochs=8, lr=0.01, batch=32, clip=1.0),
    "first-symbol": dict(units=16, epochs=4, lr=0.01, batch=32),
    "text": dict(units=64, epochs=30, lr=0.01, batch=16),
    # seed 003's hand-worked LSTM: its weights are preset (explorer.data.worked_example); one
    # sentence is one step per epoch, so every step is an epoch replay keeps
    "worked-example": dict(cell="lstm", units=3, epochs=100, lr=0.05, batch=1, clip=1.0),
}


def settings_for_example(name: str, **overrides) -> ModelSettings:
    return ModelSettings(**{**EXAMPLE_SETTINGS.get(name, {}), **overrides})


#: The settings a file starts with, by the kind of data it holds: the same from
#: ``lstm-explorer FILE``, ``lstm-explorer train FILE``, a new window and the comparison view.
FILE_SETTINGS = {"series": dict(units=16, epochs=20), "text": dict(units=32, epochs=20)}


def settings_for_data(kind: str, **overrides) -> ModelSettings:
    """The model settings of a data file of ``kind`` ("text" or a series), whichever way it is
    opened (:data:`FILE_SETTINGS`); ``overrides`` set what the person chose."""
    return ModelSettings(**{**FILE_SETTINGS["text" if kind == "text" else "series"], **overrides})


# -- single files ----------------------------------------------------------------------------
def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temporary file, flush + fsync, rename (for single
    files outside run folders, e.g. the window's exports; run folders use versions).

    On any failure the previous file at ``path`` is left intact and :class:`RunFileError`
    names the file and the reason. The file gets normal permissions (0666 less the umask).
    """
    atomic_write_stream(path, lambda fh: fh.write(data))


def atomic_write_stream(path, write) -> None:
    """:func:`atomic_write_bytes` for a file written piece by piece: ``write(fh)`` writes into the
    temporary file (a binary file object); an exception from it (an interrupt) leaves nothing."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise RunFileError(f"Could not write {safe_name(path)}: {exc.strerror or exc}. The previous file, "
                           "if any, is unchanged; choose another folder or free some space.") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def npz_bytes(arrays: dict) -> bytes:
    """``arrays`` as the bytes of an ``.npz`` file."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def csv_value(v) -> str:
    """One CSV field: floats as their shortest exact repr (round-trips bit for bit); NaN and None
    as an empty field; booleans as 1/0; strings as they are."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    return "" if math.isnan(v) else repr(v)


def _csv_text(header, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([csv_value(v) for v in row])
    return buf.getvalue()


# -- data files --------------------------------------------------------------------------------
_FINGERPRINTS: dict = {}            # (path, size, mtime, inode) -> fingerprint, so a file is hashed once


def data_fingerprint(path) -> dict:
    """``{"path", "size", "sha256"}`` of a data file, the content hash streamed in 1 MiB blocks.

    Remembered per (path, size, modification time, inode), so the Runs made on one loaded file hash
    it once (a loading thread may call this first to keep the cost off the GUI thread).
    """
    path = os.path.abspath(path)
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns, st.st_ino)
    if key in _FINGERPRINTS:
        return dict(_FINGERPRINTS[key])
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 20)
            if not block:
                break
            h.update(block)
            size += len(block)
    fp = {"path": path, "size": size, "sha256": h.hexdigest()}
    st2 = os.stat(path)
    if (st2.st_size, st2.st_mtime_ns, st2.st_ino) == key[1:] and size == st.st_size:
        if len(_FINGERPRINTS) >= 16:
            _FINGERPRINTS.pop(next(iter(_FINGERPRINTS)))
        _FINGERPRINTS[key] = fp
    return dict(fp)


def _data_source(data_cfg) -> str | None:
    """The file a data config was read from (None for examples and arrays)."""
    if not isinstance(data_cfg, dict) or data_cfg.get("type") in ("example", "arrays", None):
        return None
    src = data_cfg.get("source")
    return src if isinstance(src, str) and src else None


# -- memory ------------------------------------------------------------------------------------
#: Gate blocks per cell (each a weight block of the units).
_GATES = {kind: len(cls.gates) for kind, cls in CELLS.items()}
_MOMENTS = {"adam": 2, "momentum": 1, "sgd": 0}
#: Predictions for display (the plot, its CSV, the window) cover at most this many validation
#: windows, and about this many multiply-adds in all (fewer windows for a large vocabulary).
#: 2,000 steps of a series read well on a plot; drawing 10,000 cost 5 s per export, 2,000 0.5 s.
PREDICTION_WINDOWS = 2_000
PREDICTION_WORK = 2 * 10**9


def _multiply_adds(model, token_ids: bool = False) -> int:
    """Multiply-adds of one timestep of one sequence: every layer's gate products and the head
    (token ids pick one column of the first layer's input weights: one input's worth)."""
    n, D = int(model.n_units), int(getattr(model, "num_directions", 1))
    gates = _GATES.get(getattr(model, "kind", "lstm"), 4)
    total, m = 0, 1 if token_ids else int(model.n_inputs)
    for _ in range(int(getattr(model, "num_layers", 1))):
        total += D * gates * n * (m + n + 1)
        m = D * n
    return total + int(model.n_outputs) * (D * n + 1)


def _shape_model(kind: str, n_inputs: int, n_units: int, n_outputs: int, layers: int, directions: int):
    """A model of the engine's class with its cells but WITHOUT parameters (nothing allocated), to
    ask the engine's own :meth:`RecurrentModel.estimate_bytes` before a model is built."""
    from explorer.engine.model import MODELS

    cls = MODELS.get(kind, MODELS["lstm"])
    m = cls.__new__(cls)
    n = int(n_units)
    m.cells = [[cls.cell_class(int(n_inputs) if k == 0 else directions * n, n) for _ in range(directions)]
               for k in range(int(layers))]
    m.cell = m.cells[0][0]
    m.n_inputs, m.n_units, m.n_outputs = int(n_inputs), n, int(n_outputs)
    m.num_layers, m.num_directions, m.bidirectional = int(layers), int(directions), directions == 2
    m.dtype = m.cell.dtype
    return m


def estimate_run_bytes(kind: str, n_inputs: int, n_units: int, n_outputs: int, seq_len: int, batch: int,
                       layers: int = 1, directions: int = 1, optimizer: str = "adam", *, tokens: bool = False,
                       n_train: int | None = None, n_val: int | None = None, outputs: int = 0) -> int:
    """Bytes a training run allocates beyond its data, estimated BEFORE anything is allocated.

    Parameters, their gradient, the optimiser's moments and a clipping buffer (8 bytes each); the
    engine's workspace (:meth:`RecurrentModel.estimate_bytes`, asked of a model without parameters)
    for every batch shape a run meets -- its cells keep the workspaces of the last four: a training
    batch and the smaller last batch of an epoch (``n_train`` sequences), an evaluation chunk
    (:meth:`RecurrentModel.eval_batch_size`: within a training batch's memory) and the last one
    (``n_val``; ``None``: a full batch and a full chunk) -- a trace of
    one sequence (the window and the plots draw one), and ``outputs`` bytes of validation and
    prediction buffers. Parameters beyond the budget are refused before the workspace
    is asked for (the cells of a huge model are cheap, its parameters are not).
    """
    n, L, D = int(n_units), int(layers), int(directions)
    params = recurrent_param_count(kind if kind in PARAM_COUNTS else "lstm", n, n_inputs, L, D)
    params += int(n_outputs) * (D * n + 1)
    fixed = 8 * params * (3 + _MOMENTS.get(optimizer, 2)) + int(outputs)
    model = _shape_model(kind, n_inputs, n, n_outputs, L, D)
    T = int(seq_len)
    shapes = set()
    train_rows = int(batch) if n_train is None else max(1, min(int(batch), int(n_train)))
    chunk = model.eval_batch_size(T, tokens, train_batch=train_rows, rows=n_val)
    for rows, chunk in ((n_train, int(batch)), (n_val, chunk)):
        if rows is None:
            shapes.add(chunk)
        elif rows > 0:
            shapes.add(min(chunk, rows))
            if rows > chunk and rows % chunk:
                shapes.add(rows % chunk)
    work = sum(model.estimate_bytes(b, T, trace=False, tokens=tokens) for b in shapes)
    work += model.estimate_bytes(1, T, trace=True, tokens=tokens)
    return int(fixed + work)


_A_CELL = {"lstm": "an LSTM", "rnn": "an RNN", "gru": "a GRU", "peephole": "a peephole LSTM"}


def _memory_words(settings, seq_len: int) -> str:
    layers = int(getattr(settings, "layers", 1) or 1)
    deep = f" in {layers} layers" if layers > 1 else ""
    two = " (bidirectional)" if getattr(settings, "bidirectional", False) else ""
    return (f"Training {_A_CELL.get(settings.cell, settings.cell)} with {settings.units} units{deep}{two} on "
            f"sequences of {seq_len} steps")


_MEMORY_ADVICE = "use fewer units, a smaller batch or a shorter sequence length"


def _params_fit(settings, n_inputs: int, n_outputs: int, seq_len: int) -> None:
    """The parameters alone (and their gradient and moments), before any workspace is estimated."""
    need = 8 * _param_total(settings, n_inputs, n_outputs) * (3 + _MOMENTS.get(settings.optimizer, 2))
    check_budget(need, _memory_words(settings, seq_len), _MEMORY_ADVICE)


def check_run_memory(dataset: Dataset, settings: ModelSettings) -> None:
    """Refuse, with one sentence (``MemoryBudgetError``), a run that cannot fit in memory: the
    parameters, the engine's workspace for a batch and an evaluation chunk, one trace, and the
    validation predictions (one step per sequence; every step's class for a text)."""
    x = dataset.x_train
    seq_len = x.shape[1] if getattr(x, "ndim", 0) >= 2 else 1
    _params_fit(settings, dataset.n_inputs, dataset.n_outputs, seq_len)
    n_val = dataset.n_val
    if dataset.loss == "cross_entropy":
        outputs = n_val * (seq_len if not dataset.target_last else 1) * 8 * 2   # classes and their comparison
    else:
        outputs = n_val * dataset.n_outputs * 8 * 3                          # predictions, targets, inverse
    need = estimate_run_bytes(settings.cell, dataset.n_inputs, settings.units, dataset.n_outputs, seq_len,
                              settings.batch, settings.layers, 2 if settings.bidirectional else 1,
                              settings.optimizer, tokens=bool(dataset.token_inputs),
                              n_train=dataset.n_train, n_val=n_val, outputs=outputs)
    check_budget(need, _memory_words(settings, seq_len), _MEMORY_ADVICE)


def check_settings_memory(settings: ModelSettings, seq_len: int) -> None:
    """Before any data is read: refuse settings whose training alone cannot fit (one input and one
    output, no evaluation: the least any data file can ask for)."""
    _params_fit(settings, 1, 1, seq_len)
    need = min(estimate_run_bytes(settings.cell, 1, settings.units, 1, seq_len, settings.batch, settings.layers,
                                  2 if settings.bidirectional else 1, settings.optimizer, tokens=tok,
                                  n_train=settings.batch, n_val=0)
               for tok in (False, True))
    check_budget(need, _memory_words(settings, seq_len), _MEMORY_ADVICE)


# -- the data's numbers ------------------------------------------------------------------------
def check_data_values(ds: Dataset) -> None:
    """Refuse data the engine cannot train on without overflowing, before anything is trained: every
    value it sees (after normalisation) must be finite and within ±MAX_ABS_VALUE, and the loss's
    unit (the target scale squared) a finite positive number. One sentence (``SequenceFileError``)
    naming the data, the column, the row or sample and the value; the loaders refuse such files
    already, this guards datasets made in code and normalisers given by hand."""
    from explorer.data import MAX_ABS_VALUE

    name = safe_name(os.path.basename(str(ds.source))) or "the data"
    if ds.loss == "mse":
        ts = float(ds.target_scale)
        with np.errstate(over="ignore"):
            sq = ts * ts
        if not (math.isfinite(ts) and ts > 0 and math.isfinite(sq) and sq > 0):
            col = f" {safe_name(repr(ds.target_name))}" if ds.target_name else ""
            raise SequenceFileError(f"The target column{col} of {name} has the scale {ts:.6g}, whose square (the "
                                    "unit of the loss) is not a finite positive number; rescale the column or use "
                                    "another normalisation.")

    def refuse(a, where):
        with np.errstate(invalid="ignore"):
            idx = tuple(int(i) for i in np.argwhere(~(np.abs(a) <= MAX_ABS_VALUE))[0])
        raise SequenceFileError(f"{where(idx)} of {name} is {float(a[idx]):.6g}, beyond ±{MAX_ABS_VALUE:g} (the "
                                "squared error would overflow); rescale the data, for example divide it by a "
                                "power of ten.")

    def ok(a) -> bool:
        return a.size == 0 or bool(a.max() <= MAX_ABS_VALUE and a.min() >= -MAX_ABS_VALUE)   # NaN fails too

    z = ds.normalized
    if z is not None and z.dtype.kind == "f":
        if not ok(z):
            z2 = z if z.ndim == 2 else z.reshape(len(z), -1)
            method = ds.normalizer.method if ds.normalizer is not None else "no"
            refuse(z2, lambda i: f"Column {safe_name(repr(str(ds.columns[i[1]])))} on row {i[0] + 1} after "
                   f"{method} normalisation" if i[1] < len(ds.columns) else f"Row {i[0] + 1}")
        return
    for label, a in (("x_train", ds.x_train), ("x_val", ds.x_val), ("y_train", ds.y_train), ("y_val", ds.y_val)):
        a = np.asarray(a)
        if a.dtype.kind == "f" and not ok(a):
            refuse(a, lambda i: f"The value at {label}[{', '.join(map(str, i))}]")


# -- reading a run folder ----------------------------------------------------------------------
class _Reader:
    """The bytes of one version of a run folder, parsed file by file; every problem is one
    sentence naming the file (``RunFileError``)."""

    def __init__(self, folder: Path, raw: dict):
        self.folder = folder
        self.raw = raw

    def fail(self, name: str, what: str) -> RunFileError:
        return RunFileError(f"{safe_name(self.folder / name)} {what}; the run folder is damaged (restore it "
                            "from a copy or train again).")

    def json(self, name: str) -> dict:
        try:
            data = json.loads(self.raw[name].decode("utf-8"))
        except UnicodeDecodeError:
            raise self.fail(name, "is not UTF-8 text") from None
        except (ValueError, RecursionError) as exc:
            line = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
            raise self.fail(name, f"is not valid JSON{line}") from None
        if not isinstance(data, dict):
            raise self.fail(name, f"holds a JSON {type(data).__name__}, not an object of settings")
        return data

    def npz(self, name: str, limit: int) -> dict:
        """Every array of an .npz, read fully (so a truncated or corrupt member fails here); an
        archive that unpacks to more than ``limit`` bytes is refused before it is unpacked."""
        try:
            with zipfile.ZipFile(io.BytesIO(self.raw[name])) as zf:
                unpacked = sum(i.file_size for i in zf.infolist())
        except Exception:  # noqa: BLE001 - np.load below names the damage
            unpacked = 0
        if unpacked > limit:
            raise self.fail(name, f"unpacks to {unpacked} bytes where the run's model needs at most {limit}")
        try:
            z = np.load(io.BytesIO(self.raw[name]), allow_pickle=False)
            if isinstance(z, np.ndarray):
                raise self.fail(name, "is a single NumPy array, not an .npz archive of arrays")
            with z:
                return {k: np.array(z[k]) for k in z.files}
        except RunFileError:
            raise
        except Exception:  # noqa: BLE001 - zipfile, zlib, format and value errors: all "damaged"
            raise self.fail(name, "is not a readable NumPy archive (truncated or damaged)") from None

    def csv_rows(self, name: str, header, exact: bool = False) -> list[dict]:
        try:
            text = self.raw[name].decode("utf-8")
            rows = list(csv.reader(io.StringIO(text, newline="")))
        except UnicodeDecodeError:
            raise self.fail(name, "is not UTF-8 text") from None
        except csv.Error:
            raise self.fail(name, "is not a readable CSV file") from None
        if not rows:
            raise self.fail(name, f"is empty (it must start with the header {','.join(header)})")
        head = rows[0]
        if tuple(head[:len(header)]) != tuple(header):
            missing = [h for h in header if h not in head]
            if missing and head[:1] == [header[0]]:
                raise self.fail(name, f"lacks the column {missing[0]}")
            raise self.fail(name, f"does not start with the header {','.join(header)}")
        if exact and len(head) != len(header):
            raise self.fail(name, f"has the column {safe_name(repr(head[len(header)])[:30])} beyond the header "
                            f"{','.join(header)}")
        out = []
        for lineno, row in enumerate(rows[1:], start=2):
            if not row:
                continue
            if len(row) != len(head):
                raise self.fail(name, f"has {len(row)} fields on line {lineno} where the header has {len(head)}")
            out.append(dict(zip(head, row), _line=lineno))
        return out

    def number(self, name: str, row: dict, key: str, integer=False):
        text = row.get(key, "")
        try:
            if integer:
                return int(text)
            return float("nan") if text == "" else float(text)
        except ValueError:
            raise self.fail(name, f"holds {safe_name(repr(text)[:30])} in column {key} on line {row['_line']}, "
                            f"not {'a whole number' if integer else 'a number'}") from None


def _settings_from_config(reader: _Reader, cfg: dict, strict: bool = False) -> ModelSettings:
    """The model settings in config.json, every value strictly typed and ranged (runschema)."""
    return ModelSettings.from_dict(runschema.check_model_settings(reader.fail, cfg, strict))


# -- the run ---------------------------------------------------------------------------------
class Run(SavedRun):
    """A dataset, a model, its trainer and everything needed to save and continue."""

    FOLDER_FILES, OPTIONAL_FILES = RUN_FILES, OPTIONAL_FILES

    def __init__(self, dataset: Dataset, settings: ModelSettings | None = None,
                 model: RecurrentModel | None = None):
        self.dataset = dataset
        self.settings = settings or ModelSettings()
        s = self.settings
        check_data_values(dataset)
        if model is None:
            check_run_memory(dataset, s)
        self.model = model or make_model(s.cell, n_inputs=dataset.n_inputs, n_units=s.units,
                                         n_outputs=dataset.n_outputs, num_layers=s.layers,
                                         bidirectional=s.bidirectional, seed=s.seed,
                                         forget_bias=s.forget_bias)
        self.trainer = Trainer(self.model, self.train_data(), optimizer=s.optimizer, lr=s.lr,
                               clip=s.clip, batch_size=s.batch, epochs=s.epochs, seed=s.seed,
                               sample_index=s.sample_index)
        self._data_file = self._fingerprint_data()  # the data file as it is when the run is made
        self.data_history: list = []              # fingerprints of earlier data (resumed on changed data)
        self.epoch_store = EpochWeights(EPOCHS_CAP_BYTES)   # the weights of each epoch, for replay
        self.trainer.on_epoch_end = self._keep_epoch
        if model is None:
            self._preset_weights()
        self.history = StepHistory(self.model.gate_names())   # the per-step history as saved (chunks)

    def train_data(self) -> TrainData:
        ds = self.dataset
        scale = ds.target_scale ** 2 if ds.loss == "mse" else 1.0
        return TrainData(ds.x_train, ds.y_train, ds.x_val, ds.y_val, loss=ds.loss, loss_scale=scale)

    @property
    def loss_units(self) -> str:
        if self.dataset.loss == "cross_entropy":
            return "cross-entropy (nats)"
        if self.dataset.normalizer is None or self.dataset.normalizer.method == "none":
            return "MSE"
        return f"MSE in the units of {self.dataset.target_name or 'the target'}, squared"

    def _fingerprint_data(self) -> dict | None:
        src = _data_source(self.dataset.to_config())
        if src is None:
            return None
        try:
            return data_fingerprint(src)
        except OSError:
            return None

    @property
    def data_file(self) -> dict | None:
        """Path, size and SHA-256 of the data file (None for examples), taken when the run was made."""
        if self._data_file is None:
            self._data_file = self._fingerprint_data()
        return self._data_file

    # -- saving ------------------------------------------------------------------------------
    def config(self) -> dict:
        ds, tr = self.dataset, self.trainer
        cfg = {
            "format": runschema.FORMAT, "app": "lstm-explorer", "version": __version__,
            "data": ds.to_config(), "data_file": self.data_file,
            "model": {**asdict(self.settings), "epochs": tr.epochs},
            "trained": {"epochs": tr.epoch, "steps": tr.step},
            "n_inputs": ds.n_inputs, "n_outputs": ds.n_outputs, "loss": ds.loss,
            "target_last": ds.target_last, "target_scale": ds.target_scale,
            "params": asdict(self.model.param_count),
        }
        if self.data_history:
            cfg["data_file_history"] = self.data_history
        if len(self.epoch_store):
            cfg["replay"] = self.epoch_store.to_config()
        return cfg

    def step_table(self) -> dict:
        """The per-step history as columns (``Trainer.step_table()``'s): the saved chunks (steps
        before the last few thousand thinned to what the plots draw) and every step since."""
        steps = self.trainer.step_table()
        if not self.history.continues(steps):
            return steps
        return StepHistory.columns(self.history.rows(self.history.rows_of(steps)))

    def _prepare(self) -> tuple[dict[str, bytes], list[Chunk], list[EpochFile]]:
        """The bytes of every file a save writes anew, and the history chunks and epoch files of the
        new version (those already saved are linked, not written)."""
        tr = self.trainer
        if tr.step == 0:
            self._keep_epoch(0)                # not trained yet: epoch 0 is the weights as they are
        st = tr.state_dict()
        opt = st.pop("optimizer")
        steps = st.pop("steps")
        history = st.pop("history")
        if not self.history.continues(steps):        # the trainer's state was replaced: its log is the history
            self.history = StepHistory(self.history.gates)
        chunks, out = self.history.named(self.history.plan(self.history.rows_of(steps), tr.epoch_step))
        out["model.npz"] = npz_bytes(self.model.state_dict())
        out["optimizer.npz"] = npz_bytes({k: np.asarray(v) for k, v in opt.items()})
        out["config.json"] = json.dumps(self.config(), indent=2).encode("utf-8")
        out["history.csv"] = _csv_text(HISTORY_HEADER, ([h[k] for k in HISTORY_HEADER] for h in history)).encode("utf-8")
        epochs, new_epochs = self.epoch_store.plan()
        out.update(new_epochs)
        # every other file's SHA-256 (format 3 on), so that damage no format can see (a flipped digit,
        # a file of another run swapped in, a well-formed array replaced) is found when loading
        st["format"] = runschema.FORMAT
        st["step_chunks"] = [c.record() for c in chunks]
        st["epoch_files"] = [f.name for f in epochs]
        st["sha256"] = {k: hashlib.sha256(out[k]).hexdigest() for k in runschema.HASHED_FILES if k in out}
        st["sha256"].update({c.name: c.sha256 for c in chunks})
        st["sha256"].update({f.name: f.sha256 for f in epochs})
        out["state.json"] = json.dumps(st, indent=2).encode("utf-8")
        return out, chunks, epochs

    def files(self) -> dict[str, bytes]:
        """Every file of the run folder, as bytes (nothing is written)."""
        out, chunks, epochs = self._prepare()
        for c in chunks:
            if c.name not in out:
                out[c.name] = c.data()
        for f in epochs:
            if f.name not in out:
                out[f.name] = epoch_bytes(f.state)
        return out

    def save(self, folder, extra=None) -> Path:
        """Write the run to ``folder`` (created if needed) as a complete new version, then switch.

        ``extra(version_dir)`` may write more files into the new version before the switch (the
        command line's plots), so they change together with the run. On failure the folder reads
        exactly as before and :class:`RunFileError` says why in one sentence.
        """
        folder = Path(folder)
        files, chunks, epochs = self._prepare()

        def write(vdir: Path) -> None:
            for name, data in files.items():
                write_file(vdir / name, data)
            for c in chunks:
                if c.name not in files:
                    place_chunk(c, vdir)          # a chunk of an earlier version: linked, not rewritten
            for f in epochs:
                if f.name not in files:
                    f.place(vdir)                 # an epoch of an earlier version: linked, not rewritten
            if extra is not None:
                extra(vdir)

        save_version(folder, write, keep=RUN_FILES + OPTIONAL_FILES, marker=RUN_FILES)
        self.history.saved(chunks, current_dir(folder))
        self.epoch_store.saved(epochs, current_dir(folder))
        self._trim_log()
        return folder

    def _trim_log(self) -> None:
        """Drop from the trainer's log the saved steps before the history's exact tail (the epoch
        under way is in that tail), so a long session's log stays bounded. In place, oldest first:
        a step appended meanwhile stays at the end of every column."""
        tail = self.history.exact_tail()
        lg = self.trainer.log
        if not len(tail) or not lg.step:
            return
        cut = bisect.bisect_left(lg.step, int(tail["step"][0]))
        if cut > 0:
            for column in (lg.step, lg.epoch, lg.loss, lg.grad_norm, lg.clipped, *lg.gates.values()):
                del column[:cut]

    # -- loading -----------------------------------------------------------------------------
    @classmethod
    def load(cls, folder, dataset: Dataset | None = None, *, data_path=None,
             allow_changed_data: bool = False) -> Run:
        """Read a run folder (one version of it). The data is rebuilt from its config unless
        ``dataset`` is given; its file must be the one the run was trained on (path, size, SHA-256)
        unless ``allow_changed_data``; ``data_path`` names the file's new place if it moved.

        Raises :class:`RunFileError` (:class:`DataChangedError` for the data) or the data's
        ``SequenceFileError``, with one sentence.
        """
        folder = Path(folder)
        raw = read_files(folder, RUN_FILES + OPTIONAL_FILES, more=_listed_files)
        missing = [f for f in RUN_FILES if raw[f] is None]
        if len(missing) == len(RUN_FILES):
            raise RunFileError(f"{safe_name(folder)} is not a run folder (it holds none of "
                               f"{', '.join(RUN_FILES)}).")
        if not missing and _listed_chunks(raw) is None:
            missing = [f for f in LEGACY_STEP_FILES if raw[f] is None]
        else:
            missing += [n for n in _listed_chunks(raw) or () if raw.get(n) is None]
        missing += [n for n in _listed_epochs(raw) if raw.get(n) is None]
        if missing:
            raise RunFileError(f"{safe_name(folder)} is not a complete run folder: {', '.join(missing)} missing.")
        rd = _Reader(folder, raw)
        cfg = rd.json("config.json")
        state = rd.json("state.json")
        # 1. the settings files alone: every value typed and ranged, the two files agreeing; a
        # folder of this format must hold every key (none defaulted) and the SHA-256 of every file
        strict = runschema.is_current_format(cfg, state)
        settings = _settings_from_config(rd, cfg, strict)
        runschema.check_config(rd.fail, cfg, strict)
        runschema.check_state(rd.fail, state, strict, [n for n in raw if raw[n] is not None])
        runschema.check_state_against_config(rd.fail, state, cfg, asdict(settings))
        # 2. the weights: numbers of the saved kind, and the model they make is the one config.json names
        weights = _read_weights(rd, cfg, settings)
        # 3. the data: the same file (or example), rebuilt from settings that fit it
        record, history = None, []
        if dataset is None:
            data_cfg = runschema.check_data(rd.fail, cfg.get("data"), strict)
            record, history, data_cfg, verified = _check_data_file(rd, cfg, data_cfg, data_path,
                                                                   allow_changed_data)
            dataset = _dataset_from(rd, data_cfg, verified)
            # a run continued on changed data keeps the normaliser fitted on the data it began with
            _check_normalizer_fits(rd, data_cfg, dataset, verified and not history)
        _check_dataset_matches(rd, cfg, dataset, settings)
        run = cls(dataset, settings)
        run._data_file = record
        run.data_history = history
        _load_weights(rd, run, weights)
        _load_epochs(rd, run, cfg, state)
        opt = _load_optimizer(rd, run)
        state = _check_state(rd, state, run)
        table = _load_step_history(rd, run, state)
        hist = _load_history(rd, state["epoch"])
        if "t" in opt and opt["t"] != state["step"]:
            raise rd.fail("optimizer.npz", f"counts {opt['t']} steps where state.json says {state['step']} "
                          "(the files come from different saves)")
        state.pop("format", None)
        state.pop("step_chunks", None)
        state.pop("epoch_files", None)
        for name, digest in state.pop("sha256", {}).items():      # last: the other checks name the damage
            if raw.get(name) is None:
                raise rd.fail(name, "is missing where state.json holds its SHA-256 (the files come from "
                              "different saves)")
            if hashlib.sha256(raw[name]).hexdigest() != digest:
                raise rd.fail(name, "differs from the file that was saved with this state.json (its SHA-256 "
                              "does not match)")
        state.update(optimizer=opt, history=hist, steps=table)
        try:
            run.trainer.load_state_dict(state)
        except (KeyError, TypeError, ValueError, IndexError, OverflowError):
            raise rd.fail("state.json", "holds a value of the wrong type or range") from None
        if run.history.chunks and run.history.chunks[0].name is not None:
            run.history.saved(run.history.chunks, current_dir(folder))
        run.epoch_store.saved_at(current_dir(folder))
        return run

    # -- preset weights and replay ------------------------------------------------------------
    def _preset_weights(self) -> None:
        """A built-in example with weights of its own (the worked example) starts from them when
        the run's model is the one they are for."""
        cfg = self.dataset.config
        if cfg.get("type") != "example":
            return
        from explorer.data.examples import example_weights

        s = self.settings
        weights = example_weights(cfg.get("example"), cell=s.cell, units=s.units, layers=s.layers,
                                  bidirectional=s.bidirectional)
        if weights is not None:
            self.model.load_state_dict(weights)

    def _keep_epoch(self, epoch: int) -> None:
        self.epoch_store.add(epoch, self.model.state_dict())

    def sample_pair(self, sample: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Inputs (1, T, …) and target of sample ``sample`` as the window numbers them: of the
        validation part if there is one, else of the training part. ``IndexError`` (one sentence)
        outside them."""
        ds = self.dataset
        xs, ys, part = (ds.x_val, ds.y_val, "validation") if ds.n_val else (ds.x_train, ds.y_train, "training")
        b = int(sample)
        if not 0 <= b < len(xs):
            raise IndexError(f"sample {b} is outside the run's {len(xs)} {part} sample{'s' if len(xs) != 1 else ''} "
                             f"(0 to {len(xs) - 1})")
        return xs[b:b + 1], ys[b:b + 1]

    def epoch_weights(self) -> list[int]:
        """The epochs whose weights the run keeps for replay (0: before training), ascending."""
        return self.epoch_store.epochs()

    def epoch_state(self, epoch: int) -> dict:
        """A copy of the state dict at the end of ``epoch`` (``KeyError`` if not kept)."""
        return self.epoch_store.get(epoch)

    @property
    def replay_note(self) -> str:
        """'' while every epoch is kept, else the sentence saying which are (the size cap)."""
        return self.epoch_store.note

    def replay_model(self, epoch: int) -> RecurrentModel:
        """A model of the run's kind and sizes holding the weights of ``epoch`` (its own buffers:
        usable while the run's model trains in another thread)."""
        model = make_model(self.model.kind, self.model.n_inputs, self.model.n_units, self.model.n_outputs,
                           num_layers=self.model.num_layers, bidirectional=self.model.bidirectional,
                           seed=self.model.seed, dtype=self.model.dtype)
        model.load_state_dict(self.epoch_state(epoch))
        return model

    def replay_trace(self, epoch: int, sample: int = 0):
        """The trace (batch 1) of sample ``sample`` (see :meth:`sample_pair`) computed with the
        weights the run had at the end of ``epoch``: what the diagram and the equations show
        (with :meth:`epoch_state` as the weights)."""
        x, _ = self.sample_pair(sample)
        return self.replay_model(epoch).forward(x)

    # -- predictions -------------------------------------------------------------------------
    def prediction_windows(self) -> int:
        """How many validation windows :meth:`predictions` shows: all of them up to
        :data:`PREDICTION_WINDOWS`, fewer when one window costs much (a large vocabulary or model),
        so that the predictions for display stay about :data:`PREDICTION_WORK` multiply-adds."""
        ds, model = self.dataset, self.model
        if ds.n_val == 0:
            return 0
        x = ds.x_val
        T = x.shape[1] if getattr(x, "ndim", 0) >= 2 else 1
        per_window = T * _multiply_adds(model, token_ids=getattr(x, "ndim", 0) == 2)
        return int(max(1, min(ds.n_val, PREDICTION_WINDOWS, PREDICTION_WORK // max(per_window, 1))))

    def predictions(self, forecast: int = 0, windows: int | None = None) -> dict:
        """One step ahead on the validation part, and a free-running forecast, in the target's units.

        Computed on the first ``windows`` validation windows (default
        :meth:`prediction_windows`: at most :data:`PREDICTION_WINDOWS`), so a file of a million
        rows does not run the model over all of its validation part again for a plot: ``n_shown``
        says how many windows the arrays hold, ``n_val`` how many the validation part has (the
        validation loss is always over every window). Every array holds every one of those.

        Series: ``t`` (row of each validation target), ``target``, ``prediction``, and with
        ``forecast`` > 0 (univariate only) ``t_forecast``/``forecast`` that feed predictions back.
        Other regression data: per validation sample ``target`` and ``prediction``.
        Classification and text: ``accuracy`` (over the windows shown) and the predicted classes.
        """
        ds, model = self.dataset, self.model
        out: dict = {"kind": ds.kind, "n_val": int(ds.n_val), "n_shown": 0}
        if ds.n_val == 0:
            return out
        k = self.prediction_windows() if windows is None else int(max(1, min(windows, ds.n_val)))
        out["n_shown"] = k
        x_val, y_val = ds.x_val[:k], ds.y_val[:k]
        if ds.loss == "cross_entropy":
            pred = model.predict_classes(x_val, batch_size=self.trainer.eval_batch_size())   # never (N, T, vocabulary)
            if ds.target_last:
                pred = pred[:, -1]
            out["prediction"] = pred
            out["target"] = y_val
            out["accuracy"] = float(np.mean(pred == y_val))
            return out
        pred = self._outputs_at(x_val, -1 if ds.target_last else 0)
        if ds.kind == "series" and ds.normalizer is not None:
            ti = ds.target_index
            out["t"] = ds.target_rows()[:k]
            out["target"] = ds.normalizer.inverse(y_val[:, 0], column=ti)
            out["prediction"] = ds.normalizer.inverse(pred[:, 0], column=ti)
            if forecast > 0 and ds.n_inputs == 1:
                start = int(out["t"][0])
                if ds.segments is not None:        # several series: the forecast stays in the first one's time
                    forecast = min(forecast, ds.segment_end(start) - start)
                out["t_forecast"] = np.arange(start, start + forecast)
                out["forecast"] = ds.normalizer.inverse(self.forecast(ds.x_val[0], forecast), column=ti)
        else:
            out["t"] = np.arange(k)
            out["target"] = y_val[:, 0]
            out["prediction"] = pred[:, 0] if ds.target_last else pred     # every-step targets: step 1's outputs
        return out

    def _outputs_at(self, x, step: int) -> np.ndarray:
        """The model's outputs at one step of every sequence, (N, k), as many sequences at a time
        as validation evaluates (never the (N, T, k) outputs of every step)."""
        out = np.empty((len(x), self.model.n_outputs))
        chunk = self.trainer.eval_batch_size()
        for s in range(0, len(x), chunk):
            out[s:s + chunk] = self.model.predict(x[s:s + chunk], batch_size=chunk)[:, step, :]
        return out

    def forecast(self, window: np.ndarray, steps: int) -> np.ndarray:
        """Feed predictions back for ``steps`` steps after ``window`` (L, 1), in normalised units.

        A unidirectional model carries its state (every layer's) from step to step; a
        bidirectional one reads the whole window again, shifted by one each step (its reverse
        direction starts at the window's end).
        """
        model = self.model
        out = np.empty(steps)
        if model.bidirectional:
            w = np.array(window, dtype=float)
            for s in range(steps):
                out[s] = model.predict(w[None])[0, -1, 0]
                w[:-1] = w[1:]
                w[-1] = out[s]
            return out
        tr = model.forward(window[None])
        h, c = tr.final_state()
        y = tr.y[0, -1, 0]
        for s in range(steps):
            out[s] = y
            step = model.forward(np.array([[[y]]]), h0=h, c0=c)
            h, c = step.final_state()
            y = step.y[0, -1, 0]
        return out


# -- checks made while loading -----------------------------------------------------------------
def _check_data_file(rd: _Reader, cfg: dict, data_cfg: dict, data_path, allow: bool):
    """The data file must be the one the run was trained on: same size and SHA-256 (at its old
    place or at ``data_path``). Returns (fingerprint, earlier fingerprints, data config to load,
    verified: the data is the example or the very file the run was saved with)."""
    folder = safe_name(rd.folder)
    src = _data_source(data_cfg)
    earlier = cfg.get("data_file_history")
    earlier = list(earlier) if isinstance(earlier, list) else []
    if src is None:
        if data_path is not None:
            raise RunFileError(f"The run in {folder} was trained on a built-in example, not a file; leave out "
                               f"{safe_name(data_path)}.")
        return None, [], data_cfg, True
    rec = cfg.get("data_file")
    if rec is not None and not (isinstance(rec, dict) and isinstance(rec.get("size"), int)
                                and isinstance(rec.get("sha256"), str)):
        raise rd.fail("config.json", "has a \"data_file\" record that is not {path, size, sha256}")
    path = os.path.abspath(data_path) if data_path is not None else src
    if not os.path.isfile(path):
        if data_path is not None:
            raise DataChangedError(f"The data file {safe_name(path)} does not exist (or is not a file); name "
                                   "the file the run was trained on.")
        raise DataChangedError(f"The data file {safe_name(src)} that the run in {folder} was trained on is gone "
                               "(moved or deleted); put it back or name its new place: lstm-explorer train "
                               f"--resume {shlex.quote(folder)} FILE.")
    cfg_out = data_cfg if path == src else {**data_cfg, "source": path}
    if rec is None:                 # saved before runs recorded their data (round 1): nothing to compare
        return None, earlier, cfg_out, False
    try:
        now = data_fingerprint(path)
    except OSError as exc:
        raise DataChangedError(f"The data file {safe_name(path)} cannot be read: {exc.strerror or exc}.") from None
    if now["size"] == rec["size"] and now["sha256"] == rec["sha256"]:
        return now, earlier, cfg_out, True
    what = (f"its size went from {rec['size']} to {now['size']} bytes" if now["size"] != rec["size"]
            else "same size, different content (SHA-256)")
    if not allow:
        raise DataChangedError(f"The data file {safe_name(path)} changed since the run in {folder} was saved "
                               f"({what}); resume with the original file, or add --allow-changed-data to "
                               "continue on the changed data.")
    return now, earlier + [rec], cfg_out, False


def _dataset_from(rd: _Reader, data_cfg: dict, verified: bool) -> Dataset:
    """The run's data rebuilt from config.json. When the data is verified (a built-in example, or
    the very file the run was saved with), data settings it refuses are config.json's damage."""
    from explorer.util.ram import MemoryBudgetError

    try:
        return dataset_from_config(data_cfg)
    except MemoryBudgetError:
        raise
    except SequenceFileError as exc:
        if not verified:
            raise
        what = _data_source(data_cfg) or f"the example {data_cfg.get('example')!r}"
        raise rd.fail("config.json", f"holds data settings that do not fit {safe_name(os.path.basename(what))} "
                      f"({_clause(str(exc))})") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError):
        raise rd.fail("config.json", "has data settings of the wrong shape or type") from None
    except MemoryError:
        raise rd.fail("config.json", "asks for more data than fits in memory") from None


def _clause(sentence: str) -> str:
    """A one-sentence message as a clause inside another: its advice (after ';') and final period
    dropped."""
    text = sentence.strip().split("; ")[0].rstrip(".")
    return text[:1].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text


def _check_normalizer_fits(rd: _Reader, data_cfg: dict, ds: Dataset, verified: bool) -> None:
    """The saved normaliser is the one the data gives: fitted again on the same training rows when
    the data is verified (equal to 1e-9), else at least one that keeps every value finite and
    within the data's limits."""
    saved = data_cfg.get("normalizer")
    if not isinstance(saved, dict) or ds.normalizer is None or ds.series is None:
        return
    names = [str(c) for c in ds.columns]
    if verified:
        from explorer.data.dataset import Normalizer

        fit = Normalizer.fit(ds.training_values(), saved["method"], ds.target_index)
        for key, want in (("offset", fit.offset), ("scale", fit.scale)):
            for j, (a, b) in enumerate(zip(saved[key], want)):
                tol = 1e-9 * max(abs(float(b)), float(fit.scale[j]), 1e-300)
                if not abs(float(a) - float(b)) <= tol:
                    col = safe_name(repr(names[j])) if j < len(names) else str(j)
                    raise rd.fail("config.json", f"has data.normalizer.{key} = {runschema.show(a)} for column {col} "
                                  f"where its data gives {float(b):.6g}")
        return
    z = ds.normalized
    if z is not None and z.size and not (np.max(np.abs(z)) <= runschema.MAX_ABS_DATA):
        with np.errstate(invalid="ignore"):
            j = int(np.argwhere(~(np.abs(z) <= runschema.MAX_ABS_DATA))[0][-1]) if z.ndim == 2 else 0
        raise rd.fail("config.json", f"has a data.normalizer that turns column {safe_name(repr(names[j]))} into "
                      f"values beyond ±{runschema.MAX_ABS_DATA:g}")


def _check_dataset_matches(rd: _Reader, cfg: dict, ds: Dataset, settings: ModelSettings) -> None:
    """config.json's record of the data (inputs, outputs, loss, target scale) is the data's."""
    for key, have in (("n_inputs", ds.n_inputs), ("n_outputs", ds.n_outputs), ("loss", ds.loss),
                      ("target_last", ds.target_last)):
        if cfg[key] != have or type(cfg[key]) is not type(have):
            raise rd.fail("config.json", f"has {key} = {runschema.show(cfg[key])} where its data gives "
                          f"{runschema.show(have)}")
    ts = float(ds.target_scale)
    if not math.isclose(cfg["target_scale"], ts, rel_tol=1e-9):
        raise rd.fail("config.json", f"has target_scale = {runschema.show(cfg['target_scale'])} where its data "
                      f"gives {ts:.6g}")
    if settings.sample_index >= max(ds.n_train, 1):
        raise rd.fail("config.json", f"has model.sample_index = {settings.sample_index} where the data has "
                      f"{ds.n_train} training sequences")


#: The largest magnitude a saved weight may have: training with the app's learning rates and
#: clipping never comes near it; beyond it the file was damaged or written by hand.
MAX_ABS_WEIGHT = 1e6


def _npz_limit(n_params: int) -> int:
    """The most a run's .npz may unpack to: three copies of every parameter plus headers."""
    return 3 * 8 * int(n_params) + (1 << 20)


def _param_total(settings: ModelSettings, n_inputs: int, n_outputs: int) -> int:
    """Parameters of the model ``settings`` describe (the engine's counts, without building it)."""
    D, n = 2 if settings.bidirectional else 1, int(settings.units)
    kind = settings.cell if settings.cell in PARAM_COUNTS else "lstm"
    return recurrent_param_count(kind, n, n_inputs, settings.layers, D) + int(n_outputs) * (D * n + 1)


def _npz_shape(sd: dict) -> dict | None:
    """The model a state dict holds: cell, units, layers, bidirectional, n_inputs, n_outputs (None
    when its arrays do not say it plainly; the per-array checks then name what is wrong)."""
    try:
        hh, ih, head = sd["weight_hh_l0"], sd["weight_ih_l0"], sd["head.weight"]
        n = int(hh.shape[1])
        gates = int(hh.shape[0]) // n
        kind = {1: "rnn", 3: "gru", 4: "lstm"}[gates]
        if kind == "lstm" and any(k.startswith("peephole") for k in sd):
            kind = "peephole"
        layers = 0
        while f"weight_ih_l{layers}" in sd:
            layers += 1
        return {"cell": kind, "units": n, "layers": layers, "bidirectional": "weight_ih_l0_reverse" in sd,
                "n_inputs": int(ih.shape[1]), "n_outputs": int(head.shape[0])}
    except (KeyError, IndexError, ValueError, ZeroDivisionError, TypeError):
        return None


def _read_weights(rd: _Reader, cfg: dict, settings: ModelSettings) -> dict:
    """model.npz's arrays: float64 numbers, finite, within ±MAX_ABS_WEIGHT, and a model of the
    cell, size and depth config.json names. When the two disagree, the file the others agree with
    is kept: config.json's params record and optimizer.npz's moments witness the model's size."""
    n_in, n_out = cfg["n_inputs"], cfg["n_outputs"]
    want_total = _param_total(settings, n_in, n_out)
    record = cfg.get("params", {}).get("total") if isinstance(cfg.get("params"), dict) else None
    sd = rd.npz("model.npz", _npz_limit(max(min(want_total, 1 << 40), record or 0)))
    for k, a in sd.items():
        if a.dtype.kind not in "fiu":
            raise rd.fail("model.npz", f"holds {safe_name(k)} of type {a.dtype}, not numbers")
        if a.dtype != np.float64:
            raise rd.fail("model.npz", f"holds {safe_name(k)} as {a.dtype} where a run saves float64 weights")
        if not np.all(np.isfinite(a)):
            raise rd.fail("model.npz", f"holds values in {safe_name(k)} that are not finite numbers")
        big = np.max(np.abs(a)) if a.size else 0.0
        if big > MAX_ABS_WEIGHT:
            raise rd.fail("model.npz", f"holds {big:.6g} in {safe_name(k)}, beyond the ±{MAX_ABS_WEIGHT:g} "
                          "that training ever reaches")
    shape = _npz_shape(sd)
    if shape is None:
        return sd
    want = {"cell": settings.cell, "units": settings.units, "layers": settings.layers,
            "bidirectional": settings.bidirectional, "n_inputs": n_in, "n_outputs": n_out}
    diffs = [k for k in want if shape[k] != want[k]]
    if not diffs:
        return sd
    have_total = _param_total(ModelSettings(cell=shape["cell"], units=shape["units"], layers=shape["layers"],
                                            bidirectional=shape["bidirectional"]),
                              shape["n_inputs"], shape["n_outputs"])
    witnesses = {}
    if record is not None:
        witnesses["params.total"] = record
    try:
        m = rd.npz("optimizer.npz", _npz_limit(have_total)).get("m" if settings.optimizer == "adam" else "v")
        if m is not None:
            witnesses["optimizer.npz"] = int(m.size)
    except RunFileError:
        pass
    if witnesses and all(w == have_total for w in witnesses.values()) and have_total != want_total:
        key = diffs[0]
        path = key if key.startswith("n_") else f"model.{key}"
        raise rd.fail("config.json", f"has {path} = {runschema.show(want[key])} where model.npz holds a model with "
                      f"{key} = {runschema.show(shape[key])} (so do {' and '.join(witnesses)})")
    return sd            # model.npz is the odd one out: _load_weights names its arrays


def _load_weights(rd: _Reader, run: Run, sd: dict) -> None:
    expected = run.model.state_dict()
    s = run.settings
    for k, a in sd.items():
        if k in expected and a.shape != expected[k].shape:
            raise rd.fail("model.npz", f"holds {safe_name(k)} of shape {a.shape} where the run's model "
                          f"({s.cell}, {s.units} units) needs {expected[k].shape}")
    try:
        run.model.load_state_dict(sd)
    except KeyError as exc:
        missing = [k for k in expected if k not in sd] or [str(exc.args[0])]
        raise rd.fail("model.npz", f"lacks the array {safe_name(missing[0])}") from None
    except (ValueError, TypeError, IndexError):
        raise rd.fail("model.npz", "holds arrays that do not fit the run's model") from None


def _load_epochs(rd: _Reader, run: Run, cfg: dict, state: dict) -> None:
    """The kept epochs' weights: state.json's ``epoch_files`` (format 5), else ``epochs.npz``
    (optional: runs saved before replay have none). Every epoch's state dict must fit the run's
    model like ``model.npz``, and the epochs be the ones config.json's ``replay`` names."""
    store = run.epoch_store
    store.load({})
    expected = run.model.state_dict()
    names = state.get("epoch_files")
    if names is not None:
        where = "the epoch files"
        per = sum(int(a.nbytes) for a in expected.values())
        if len(names) > 2 and len(names) * per > EPOCHS_CAP_BYTES:
            raise rd.fail("state.json", f"lists {len(names)} epoch files, more than the {EPOCHS_CAP_BYTES >> 20} MiB "
                          "replay cap holds for the run's model")
        states, files = {}, {}
        for name in names:
            epoch = int(EPOCH_NAME.fullmatch(name).group(1))
            states[epoch] = _epoch_state(rd, name, rd.npz(name, _npz_limit(run.model.params.size)), expected,
                                         lambda k: k)
            digest = state.get("sha256", {}).get(name) or hashlib.sha256(rd.raw[name]).hexdigest()
            files[epoch] = (digest, len(rd.raw[name]))           # (a listed hash is checked last, with all)
    elif rd.raw.get("epochs.npz") is not None:
        where, files = "epochs.npz", None
        flat = rd.npz("epochs.npz", EPOCHS_CAP_BYTES + 2 * _npz_limit(run.model.params.size))
        try:
            parsed = parse_epoch_arrays(flat)
        except ValueError as exc:
            raise rd.fail("epochs.npz", str(exc)) from None
        states = {e: _epoch_state(rd, "epochs.npz", s, expected, lambda k, e=e: epoch_key(e, k), f" of epoch {e}")
                  for e, s in parsed.items()}
    else:
        return
    rec = cfg.get("replay")
    if isinstance(rec, dict) and isinstance(rec.get("epochs"), list) and rec["epochs"] != sorted(states):
        raise rd.fail("config.json", f"has replay.epochs = {runschema.show(rec['epochs'])} where {where} "
                      f"hold{'s' if files is None else ''} the epochs {runschema.show(sorted(states))} (the files "
                      "come from different saves)")
    stride = rec.get("stride", 1) if isinstance(rec, dict) else 1
    seen = rec.get("seen") if isinstance(rec, dict) else None
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        stride = 1
    if isinstance(seen, bool) or not isinstance(seen, int) or seen < 0:
        seen = None
    store.load(states, stride=stride, seen=seen, files=files)


def _epoch_state(rd: _Reader, name: str, state: dict, expected: dict, label, of: str = "") -> dict:
    """One epoch's state dict read from ``name``: every array of the run's model, float64, finite,
    within ±MAX_ABS_WEIGHT (``label(key)`` names an array in a sentence)."""
    missing = [k for k in expected if k not in state]
    if missing:
        raise rd.fail(name, f"lacks {safe_name(missing[0])}{of}")
    for k, a in state.items():
        if k not in expected or a.shape != expected[k].shape or a.dtype.kind != "f":
            raise rd.fail(name, f"holds {safe_name(label(k))} that does not fit the run's model")
        if a.dtype != np.float64:
            raise rd.fail(name, f"holds {safe_name(label(k))} as {a.dtype} where a run saves float64 weights")
        if not np.all(np.isfinite(a)):
            raise rd.fail(name, f"holds values in {safe_name(label(k))} that are not finite numbers")
        big = np.max(np.abs(a)) if a.size else 0.0
        if big > MAX_ABS_WEIGHT:
            raise rd.fail(name, f"holds {big:.6g} in {safe_name(label(k))}, beyond the ±{MAX_ABS_WEIGHT:g} that "
                          "training ever reaches")
    return state


_OPT_KEYS = {"sgd": ("lr", "t"), "momentum": ("lr", "t", "momentum"), "adam": ("lr", "t", "beta1", "beta2", "eps")}


def _load_optimizer(rd: _Reader, run: Run) -> dict:
    """optimizer.npz: the optimiser config.json names, its learning rate, step count and constants
    in range, its moments one finite float64 per parameter (Adam's second moment v ≥ 0 and the first
    within what v allows: m² ≤ C·v for the betas' constant C)."""
    z = rd.npz("optimizer.npz", _npz_limit(run.model.params.size))
    want = run.settings.optimizer
    for k, a in z.items():
        if k != "name" and k not in _OPT_KEYS.get(want, ()) and k not in ("m", "v"):
            raise rd.fail("optimizer.npz", f"holds the key {safe_name(repr(k)[:30])}, which no {want} optimiser saves")
        if k in ("lr", "momentum", "beta1", "beta2", "eps") and a.ndim == 0 and a.dtype.kind == "f" \
                and a.dtype != np.float64:
            raise rd.fail("optimizer.npz", f"holds {k} as {a.dtype} where a run saves float64")
    opt = {k: (a.item() if a.ndim == 0 else a) for k, a in z.items()}
    if not isinstance(opt.get("name"), str):
        name = opt.get("name")
        if not isinstance(name, np.ndarray):
            raise rd.fail("optimizer.npz", f"lacks the key name (the optimiser's name, {want})")
        raise rd.fail("optimizer.npz", f"has the key name an array of shape {name.shape}, not the optimiser's "
                      f"name ({want})")
    if opt.get("name") != want:
        raise rd.fail("optimizer.npz", f"is for the optimiser {safe_name(repr(opt.get('name'))[:30])} where "
                      f"config.json says {want}")
    ranges = {"lr": (0, math.inf, True, "a finite number greater than 0"),
              "momentum": (0, 1, False, "a number from 0 to below 1"),
              "beta1": (0, 1, False, "a number from 0 to below 1"),
              "beta2": (0, 1, False, "a number from 0 to below 1"),
              "eps": (0, 1, True, "a number greater than 0 and below 1")}
    for key in _OPT_KEYS[want]:
        v = opt.get(key)
        if key == "t":
            ok, what = runschema.is_int(v) and v >= 0, "a whole number of at least 0"
        else:
            low, high, low_open, what = ranges[key]
            ok = isinstance(v, float) and math.isfinite(v) and (v > low if low_open else v >= low) and v < high
        if not ok:
            raise rd.fail("optimizer.npz", f"has {key} = {safe_name(repr(v)[:30])}, not {what}")
    if not math.isclose(opt["lr"], run.settings.lr, rel_tol=1e-12):
        raise rd.fail("optimizer.npz", f"has lr = {opt['lr']!r} where config.json says model.lr = {run.settings.lr!r}")
    size = run.model.params.size
    moments = [k for k in ("m", "v") if k in opt]
    for key in moments:
        a = opt[key]
        if not isinstance(a, np.ndarray) or a.shape != (size,) or a.dtype != np.float64:
            shape = a.shape if isinstance(a, np.ndarray) else "()"
            raise rd.fail("optimizer.npz", f"holds {key} of shape {shape} where the model has {size} parameters "
                          "(one float64 each)")
        if not np.all(np.isfinite(a)):
            raise rd.fail("optimizer.npz", f"holds values in {key} that are not finite numbers")
    needed = {"adam": ("m", "v"), "momentum": ("v",), "sgd": ()}[want]
    if opt["t"] > 0 and want == "adam" and set(needed) - set(moments):
        raise rd.fail("optimizer.npz", "lacks the moments m and v of its steps")
    if want == "adam" and "v" in opt:
        v = opt["v"]
        if v.size and v.min() < 0:
            raise rd.fail("optimizer.npz", f"holds a negative second moment v ({float(v.min()):.6g}); Adam's v is a "
                          "mean of squares")
        b1, b2 = opt["beta1"], opt["beta2"]
        if "m" in opt and b1 * b1 < b2:
            # m = Σ (1-β1) β1^k g_k and v = Σ (1-β2) β2^k g_k²: by Cauchy-Schwarz m² ≤ C·v
            c = (1 - b1) ** 2 / ((1 - b2) * (1 - b1 * b1 / b2))
            m = opt["m"]
            with np.errstate(over="ignore"):
                bad = m * m > c * v * (1 + 1e-6) + 1e-300
            if bad.any():
                i = int(np.argmax(bad))
                raise rd.fail("optimizer.npz", f"holds a first moment m = {float(m[i]):.6g} that its second moment "
                              f"v = {float(v[i]):.6g} cannot come with (parameter {i})")
    return opt


def _check_state(rd: _Reader, state: dict, run: Run) -> dict:
    """state.json against the run (its types were checked by runschema.check_state)."""
    spe = run.trainer.steps_per_epoch
    if state["epoch_step"] >= spe:
        raise rd.fail("state.json", f"says step {state['epoch_step']} of an epoch of only {spe} steps")
    rng = state.get("rng_state")
    try:
        if not isinstance(rng, dict):
            raise TypeError
        np.random.default_rng().bit_generator.state = rng
    except Exception:  # noqa: BLE001 - NumPy raises TypeError/ValueError/KeyError/OverflowError here
        raise rd.fail("state.json", "holds a random generator state (rng_state) that cannot be restored") from None
    return dict(state)


def _value_fail(rd: _Reader, name: str, row: dict, key: str, text, what: str) -> RunFileError:
    return rd.fail(name, f"holds {safe_name(repr(text)[:30])} in column {key} on line {row['_line']}, not {what}")


def _column(rd: _Reader, name: str, rows: list, key: str, empty_ok: bool = False, high: float = math.inf) -> list:
    """A column of numbers, each finite and from 0 to ``high`` (an empty field, NaN, only where
    ``empty_ok``: a value that may be missing)."""
    out = []
    for r in rows:
        v = rd.number(name, r, key)
        if v != v and empty_ok and r[key] == "":
            out.append(v)
            continue
        if not (math.isfinite(v) and 0 <= v <= high):
            what = f"a finite number from 0 to {high:g}" if math.isfinite(high) else "a finite number of at least 0"
            raise _value_fail(rd, name, r, key, r[key], what)
        out.append(v)
    return out


def _step_column(rd: _Reader, name: str, rows: list) -> list[int]:
    """The ``step`` column: 1, 2, …, N in order (no row renumbered, duplicated or swapped)."""
    out = []
    for i, r in enumerate(rows, start=1):
        v = rd.number(name, r, "step", True)
        if v != i:
            raise _value_fail(rd, name, r, "step", r["step"], f"{i} (the steps are numbered 1, 2, … in order)")
        out.append(v)
    return out


def _plain_columns(rd: _Reader, name: str, header, n_rows: int) -> list | None:
    """The columns (lists of texts) of a CSV written as :meth:`Run.save` writes it -- the exact
    header, ``n_rows`` rows of as many unquoted fields, the steps 1..N -- split in one pass; None
    for anything else (the row-by-row reader then names what is wrong)."""
    try:
        text = rd.raw[name].decode("ascii")
    except (UnicodeDecodeError, KeyError, AttributeError):
        return None
    if '"' in text or "\r" in text or not text.endswith("\n"):
        return None
    head, _, body = text.partition("\n")
    k = len(header)
    if head != ",".join(header) or n_rows < 1:
        return None
    fields = body[:-1].replace("\n", ",").split(",")
    if len(fields) != n_rows * k or body.count("\n") != n_rows:
        return None
    cols = [fields[j::k] for j in range(k)]
    if cols[0] != [str(i) for i in range(1, n_rows + 1)]:
        return None
    return cols


def _finite_floats(texts: list) -> list | None:
    """Numbers as :meth:`_Reader.number` reads them, if every one is finite and at least 0 (else None)."""
    try:
        values = list(map(float, texts))
    except ValueError:
        return None
    a = np.asarray(values)
    return values if bool(np.all(np.isfinite(a)) and np.all(a >= 0)) else None


def _fast_steps(rd: _Reader, run: Run, state: dict) -> dict | None:
    """:func:`_load_steps` in one pass per file for files that pass every one of its checks (the
    columns as whole lists, no row dictionaries: a 250,000-step run opens in a fraction of the
    time); None when any check fails or the files are not as a save writes them."""
    n = state["step"]
    cols = _plain_columns(rd, "steps.csv", STEPS_HEADER, n)
    gates = list(run.trainer.log.gates)
    gcols = _plain_columns(rd, "gate_norms.csv", ("step", *gates), n)
    if cols is None or gcols is None or not set(cols[4]) <= {"0", "1"}:
        return None
    try:
        epochs = list(map(int, cols[1]))
    except ValueError:
        return None
    e = np.asarray(epochs)
    last = state["epoch"] + (1 if state["epoch_step"] else 0)
    es = state["epoch_step"]
    steps_up = np.diff(e)
    if not (e[0] == 1 and e[-1] == last and np.all((steps_up == 0) | (steps_up == 1))):
        return None
    if es and (np.count_nonzero(e[-es:] == last) != es or (n > es and e[-es - 1] == last)):
        return None
    table = {"step": list(range(1, n + 1)), "epoch": epochs, "loss": _finite_floats(cols[2]),
             "grad_norm": _finite_floats(cols[3]), "clipped": [c == "1" for c in cols[4]]}
    for g, col in zip(gates, gcols[1:]):
        table[f"norm_{g}"] = _finite_floats(col)
    return None if any(v is None for v in table.values()) else table


def _load_steps(rd: _Reader, run: Run, state: dict) -> dict:
    """steps.csv and gate_norms.csv: one row per step trained (state.json's step), steps numbered
    1..N in order, epochs starting at 1 and rising by at most 1 per row up to state.json's epoch
    (and the epoch under way, with its epoch_step rows), losses and norms finite and at least 0,
    clipped 0 or 1; gate_norms.csv has exactly the cell's gate columns."""
    fast = _fast_steps(rd, run, state)
    if fast is not None:
        return fast
    n_steps = state["step"]
    name = "steps.csv"
    rows = rd.csv_rows(name, STEPS_HEADER, exact=True)
    if len(rows) != n_steps:
        raise rd.fail(name, f"has {len(rows)} rows where state.json says {n_steps} steps were trained "
                      "(the files come from different saves)")
    for r in rows:
        if r["clipped"] not in ("0", "1"):
            raise rd.fail(name, f"holds {safe_name(repr(r['clipped'])[:30])} in column clipped on line {r['_line']}, "
                          "not 0 or 1")
    epochs = [rd.number(name, r, "epoch", True) for r in rows]
    last = state["epoch"] + (1 if state["epoch_step"] else 0)
    prev = 1
    for i, (r, e) in enumerate(zip(rows, epochs)):
        if not (prev <= e <= prev + (1 if i else 0)) or e > last:
            want = f"{prev}" if not i else f"{prev} or {prev + 1}"
            if prev >= last:
                want = f"{last}"
            raise _value_fail(rd, name, r, "epoch", r["epoch"], f"{want} (the steps' epochs run 1, 2, … in "
                              f"order, up to {last} by state.json)")
        prev = e
    if rows and prev != last:
        raise _value_fail(rd, name, rows[-1], "epoch", rows[-1]["epoch"], f"{last} (state.json's epoch "
                          f"{state['epoch']}{', plus the one under way' if state['epoch_step'] else ''})")
    if state["epoch_step"] and epochs[-state["epoch_step"]:].count(last) != state["epoch_step"] or (
            state["epoch_step"] and len(epochs) > state["epoch_step"] and epochs[-state["epoch_step"] - 1] == last):
        raise rd.fail(name, f"has {epochs.count(last)} rows of epoch {last} where state.json says "
                      f"epoch_step = {state['epoch_step']} (the files come from different saves)")
    table = {"step": _step_column(rd, name, rows), "epoch": epochs,
             "loss": _column(rd, name, rows, "loss"), "grad_norm": _column(rd, name, rows, "grad_norm"),
             "clipped": [r["clipped"] == "1" for r in rows]}
    gates = list(run.trainer.log.gates)
    name = "gate_norms.csv"
    grows = rd.csv_rows(name, ("step", *gates), exact=True)
    if len(grows) != n_steps:
        raise rd.fail(name, f"has {len(grows)} rows where state.json says {n_steps} steps were trained "
                      "(the files come from different saves)")
    _step_column(rd, name, grows)
    for g in gates:
        table[f"norm_{g}"] = _column(rd, name, grows, g)
    return table


def _listed_chunks(raw: dict) -> list[str] | None:
    """The chunk files state.json lists; None for a state.json without ``step_chunks`` (a folder
    before format 4, with CSV files); none for a state.json that is not an object (its reader says so)."""
    try:
        state = json.loads(raw["state.json"].decode("utf-8"))
    except (KeyError, AttributeError, ValueError, UnicodeDecodeError, RecursionError):
        return []
    if not isinstance(state, dict):
        return []
    if "step_chunks" not in state:
        return None
    listed = state["step_chunks"]
    if not isinstance(listed, list):
        return []
    return [c["name"] for c in listed if isinstance(c, dict) and isinstance(c.get("name"), str)
            and CHUNK_NAME.fullmatch(c["name"])]


def _listed_epochs(raw: dict) -> list[str]:
    """The epoch files state.json lists (``epoch_files``, format 5): names of epoch files only."""
    try:
        state = json.loads(raw["state.json"].decode("utf-8"))
    except (KeyError, AttributeError, ValueError, UnicodeDecodeError, RecursionError):
        return []
    listed = state.get("epoch_files") if isinstance(state, dict) else None
    if not isinstance(listed, list):
        return []
    return [n for n in listed if isinstance(n, str) and EPOCH_NAME.fullmatch(n)]


def _listed_files(raw: dict) -> list[str]:
    """The chunk and epoch files state.json lists, read from the same version as it."""
    return (_listed_chunks(raw) or []) + _listed_epochs(raw)


def _load_step_history(rd: _Reader, run: Run, state: dict) -> dict:
    """The run's per-step history into ``run.history`` (chunk files, or the CSV files of an older
    folder, read once and thinned as a save would); returns the exact rows at its end for the
    trainer's log (the epoch under way among them)."""
    if "step_chunks" in state:
        run.history = StepHistory(run.history.gates, _load_chunks(rd, run, state))
    else:
        table = _load_steps(rd, run, state)
        hist = StepHistory(run.history.gates)
        rows = np.empty(len(table["step"]), dtype=hist.dtype)
        for name in hist.dtype.names:
            rows[name] = table[name]
        hist.absorb(rows, state["epoch_step"])
        run.history = hist
    return StepHistory.columns(run.history.exact_tail())


def _chunk_rows(rd: _Reader, name: str, dtype: np.dtype, rows: int) -> np.ndarray:
    """A chunk file's rows: a ``.npy`` header naming ``rows`` rows of ``dtype`` and exactly their
    bytes after it (checked before anything is allocated: a header cannot ask for more)."""
    raw = rd.raw[name]
    buf = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(buf)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, have = read(buf)
    except Exception:  # noqa: BLE001 - format and value errors: all "damaged"
        raise rd.fail(name, "is not a readable NumPy array (truncated or damaged)") from None
    if have != dtype or shape != (rows,) or fortran:
        raise rd.fail(name, f"does not hold {rows} rows of the run's steps ({', '.join(dtype.names)})")
    if len(raw) - buf.tell() != rows * dtype.itemsize:
        raise rd.fail(name, "is not a readable NumPy array (truncated or damaged)")
    return np.frombuffer(raw, dtype=dtype, count=rows, offset=buf.tell()).copy()


def _load_chunks(rd: _Reader, run: Run, state: dict) -> list[Chunk]:
    """state.json's ``step_chunks`` and their files: names of chunks, in step order, thinned ones
    first, covering steps 1..N (state.json's step) without gap or overlap; each file one array of
    the cell's row type with its listed rows, steps rising (by one in an exact chunk), epochs from 1
    rising by at most one up to state.json's (the epoch under way's rows all exact), losses and
    norms finite and at least 0."""
    listed = state["step_chunks"]
    name = "state.json"
    if not isinstance(listed, list):
        raise rd.fail(name, "has step_chunks that is not a list of the history's chunk files")
    dtype = row_dtype(run.history.gates)
    chunks, expect, thinned_done, seen = [], 1, False, set()
    for i, c in enumerate(listed):
        keys = ("first", "last", "rows", "width")
        if not (isinstance(c, dict) and isinstance(c.get("name"), str) and CHUNK_NAME.fullmatch(c["name"])
                and all(runschema.is_int(c.get(k)) for k in keys)) or c["name"] in seen:
            raise rd.fail(name, f"has step_chunks[{i}] that is not a chunk record (name steps-NNNNNN.npy, first, last, "
                          "rows, width)")
        seen.add(c["name"])
        first, last, rows, width = (c[k] for k in keys)
        if first != expect or last < first:
            raise rd.fail(name, f"has step_chunks[{i}] from step {first} to {last} where the history goes on at step "
                          f"{expect}")
        if width < 1 or width & (width - 1) or not 1 <= rows <= last - first + 1 or (
                width == 1 and rows != last - first + 1):
            raise rd.fail(name, f"has step_chunks[{i}] with {rows} rows of width {width} for steps {first} to {last}")
        if width == 1:
            thinned_done = True
        elif thinned_done:
            raise rd.fail(name, f"has the thinned step_chunks[{i}] after an exact one")
        fname = c["name"]
        a = _chunk_rows(rd, fname, dtype, rows)
        st = a["step"]
        d = np.diff(st)
        if st[0] != first or st[-1] != last or not (np.all(d == 1) if width == 1 else np.all(d > 0)):
            raise rd.fail(fname, f"does not hold steps {first} to {last} in order")
        for col in dtype.names[2:]:
            if col != "clipped" and not (np.all(np.isfinite(a[col])) and np.all(a[col] >= 0)):
                raise rd.fail(fname, f"holds a value in column {col} that is not a finite number of at least 0")
        chunks.append(Chunk(a, width, fname, hashlib.sha256(rd.raw[fname]).hexdigest(), len(rd.raw[fname])))
        expect = last + 1
    if expect - 1 != state["step"]:
        raise rd.fail(name, f"lists the history's steps up to {expect - 1} where it says {state['step']} steps were "
                      "trained")
    if chunks:
        e = np.concatenate([c.rows["epoch"] for c in chunks])
        last = state["epoch"] + (1 if state["epoch_step"] else 0)
        es = state["epoch_step"]
        tail = StepHistory(run.history.gates, chunks).exact_tail()["epoch"]
        if not (e[0] == 1 and e[-1] == last and np.all(np.isin(np.diff(e), (0, 1)))) or (
                es and (len(tail) < es or np.any(tail[-es:] != last) or (len(tail) > es and tail[-es - 1] == last))):
            raise rd.fail(chunks[-1].name, f"does not hold epochs 1 to {last} in order with {es} steps of the epoch "
                          "under way (the files come from different saves)")
    return chunks


def _load_history(rd: _Reader, n_epochs: int) -> list[dict]:
    """history.csv: one row per epoch trained, epochs 1..E in order, train_loss and grad_norm finite
    and at least 0, val_loss too or empty (a validation stopped), clipped_fraction from 0 to 1."""
    name = "history.csv"
    rows = rd.csv_rows(name, HISTORY_HEADER, exact=True)
    if len(rows) != n_epochs:
        raise rd.fail(name, f"has {len(rows)} rows where state.json says {n_epochs} epochs were trained "
                      "(the files come from different saves)")
    for i, r in enumerate(rows, start=1):
        if rd.number(name, r, "epoch", True) != i:
            raise _value_fail(rd, name, r, "epoch", r["epoch"], f"{i} (the epochs are numbered 1, 2, … in order)")
    cols = {"epoch": list(range(1, len(rows) + 1)), "train_loss": _column(rd, name, rows, "train_loss"),
            "val_loss": _column(rd, name, rows, "val_loss", empty_ok=True),
            "grad_norm": _column(rd, name, rows, "grad_norm"),
            "clipped_fraction": _column(rd, name, rows, "clipped_fraction", high=1.0)}
    return [{k: cols[k][i] for k in HISTORY_HEADER} for i in range(len(rows))]


# -- autosave ----------------------------------------------------------------------------------
AUTOSAVE_POINTER = "LATEST"          # round 1's pointer file, still read by latest_autosave
_INSTANCE: tuple[int, str] | None = None


def instance_id() -> str:
    """This app instance's autosave subfolder name: its process id and a random part."""
    global _INSTANCE
    if _INSTANCE is None or _INSTANCE[0] != os.getpid():
        _INSTANCE = (os.getpid(), f"{os.getpid()}-{secrets.token_hex(4)}")
    return _INSTANCE[1]


def write_autosave(run: Run, root) -> Path:
    """Save ``run`` into this instance's own subfolder of ``root`` (the autosave folder).

    The subfolder is a run folder like any other (a complete new version, then one atomic switch),
    so a process killed at any moment leaves its previous autosave whole. Each app instance writes
    only its own subfolder and never removes another's; a failed first autosave leaves no folder.
    """
    folder = Path(root) / instance_id()
    run.save(folder)
    return folder


def latest_autosave(root) -> Path | None:
    """The newest complete autosaved run among every instance's subfolder of ``root`` (or None)."""
    if not root:
        return None
    root = Path(root)
    best: tuple[float, Path] | None = None
    try:
        entries = list(os.scandir(root))
    except OSError:
        return None
    for e in entries:
        if not e.is_dir(follow_symlinks=False):
            continue
        vid = current_version(e.path)
        if vid is None:
            continue
        vdir = Path(e.path) / ".versions" / vid
        if all((vdir / f).is_file() for f in RUN_FILES):
            when = version_time(vid)
            if best is None or when > best[0]:
                best = (when, Path(e.path))
    try:                                         # an autosave folder written by round 1
        name = (root / AUTOSAVE_POINTER).read_text(encoding="utf-8").strip()
        old = root / name
        if name and old.is_dir() and all((old / f).is_file() for f in RUN_FILES):
            when = (root / AUTOSAVE_POINTER).stat().st_mtime
            if best is None or when > best[0]:
                best = (when, old)
    except (OSError, UnicodeDecodeError):
        pass
    return best[1] if best else None


_INSTANCE_NAME = re.compile(r"(\d+)-[0-9a-f]{8}")


def _process_alive(pid: int) -> bool:
    """Whether a process with this id runs now (POSIX; elsewhere every instance counts as alive)."""
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:                 # it exists but belongs to someone else
        return True
    return True


def prune_autosaves(root, keep=None) -> list[Path]:
    """Remove the autosave subfolders of ``root`` that nobody will be offered again: those written
    by app instances that have ended, except ``keep`` (the one offered at launch). Folders of
    running instances (this one included) and anything not named like an instance's folder
    (``<pid>-<8 hex>``) are left alone; a folder that cannot be removed stays (no error). Returns
    the folders removed. Called at each launch and when the person discards the offer, so the
    autosave folder holds at most one run per running app plus the one on offer."""
    if not root:
        return []
    root = Path(root)
    keep = Path(keep).resolve() if keep else None
    removed = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    for e in entries:
        m = _INSTANCE_NAME.fullmatch(e.name)
        if not m or not e.is_dir(follow_symlinks=False):
            continue
        path = Path(e.path)
        if (keep is not None and path.resolve() == keep) or _process_alive(int(m.group(1))):
            continue
        chunks = tuple(n for n in os.listdir(path) if CHUNK_NAME.fullmatch(n) or EPOCH_NAME.fullmatch(n)) \
            if path.is_dir() else ()
        remove_run_folder(path, RUN_FILES + OPTIONAL_FILES + chunks)
        if not path.exists():
            removed.append(path)
    return removed

"""From a loaded series or text to training pairs: :class:`Dataset`, :class:`Normalizer`.

Windowing rules
---------------
Series (:func:`make_windows`)
    The N rows are split in time order: the last ``round(N * val_fraction)`` rows
    form the validation part, rows ``[0, split_index)`` the training part. Each
    window holds ``seq_len`` consecutive rows and its target is the target column
    in the next row (horizon 1). Training targets all lie in the training part;
    validation targets all lie in the validation part (a validation window may use
    the last ``seq_len`` training rows as context). **Each part needs at least
    ``seq_len + 1`` rows** (the validation part only when ``val_fraction > 0``).
    The :class:`Normalizer` is fitted on the training rows only. The windows are views into
    the normalised series (``np.lib.stride_tricks.sliding_window_view``): no window is a copy.
Several series (``seq.segments``, a long table read by key)
    Each series is split in time order on its own, the normaliser is fitted on every series'
    training rows, and only windows whose rows (and target) lie in one series are kept (copies).
Sequence length not given (``seq_len=None``)
    The default (:data:`SERIES_SEQ_LEN` = 20 rows, :data:`TEXT_SEQ_LEN` = 25 tokens) when the
    data is long enough for it; otherwise the longest length that fits, and the dataset says so
    (``seq_len_chosen``, a sentence in ``notes`` and in :meth:`Dataset.describe`). A length the
    person gives that does not fit is refused with the rows it needs.
Text (:func:`text_windows`)
    Token ids are split the same way; windows of ``seq_len`` tokens with stride
    ``seq_len`` (non-overlapping) predict the next token at every step. Each part
    needs at least ``seq_len + 1`` tokens. Inputs and targets are int64 ids, views into
    the corpus' ids (never one-hot copies).
"""

from __future__ import annotations

import math

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import SequenceFileError, check_budget, safe_name
from .loading import SequenceData, TextCorpus, load_sequence, load_text
from .timeaxis import format_times, time_format

NORMALIZE_METHODS = ("zscore", "minmax", "none")

SERIES_SEQ_LEN = 20
"""The sequence length of a series when the person does not choose one (and the file is long enough)."""

TEXT_SEQ_LEN = 25
"""The sequence length of a text (in tokens) when the person does not choose one."""

SERIES_VAL_FRACTION = 0.2
TEXT_VAL_FRACTION = 0.1


# --------------------------------------------------------------------------- Normalizer


class Normalizer:
    """Per-column affine scaling ``(a - offset) / scale``.

    Parameters
    ----------
    method : {"zscore", "minmax", "none"}
    offset, scale : array_like
        One value per column.
    target_index : int
        Column whose scale is :attr:`target_scale`.
    """

    def __init__(self, method: str = "none", offset=(0.0,), scale=(1.0,), target_index: int = 0):
        if method not in NORMALIZE_METHODS:
            raise SequenceFileError(f"Normalisation must be one of {', '.join(NORMALIZE_METHODS)}, not {method!r}.")
        self.method = method
        try:
            self.offset = np.asarray(offset, dtype=np.float64).reshape(-1)
            self.scale = np.asarray(scale, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise SequenceFileError("A normaliser's offset and scale must be lists of numbers, one per column.") from None
        if self.offset.shape != self.scale.shape or not self.offset.size:
            raise SequenceFileError(f"A normaliser needs one offset and one scale per column, not "
                                    f"{self.offset.size} offset(s) and {self.scale.size} scale(s).")
        bad = ~(np.isfinite(self.offset) & np.isfinite(self.scale) & (self.scale > 0))
        if bad.any():
            j = int(np.argmax(bad))
            raise SequenceFileError(f"A normaliser's offset and scale must be finite and its scale greater than 0, "
                                    f"not offset {self.offset[j]:g} and scale {self.scale[j]:g} (column {j + 1}).")
        if isinstance(target_index, bool) or not isinstance(target_index, (int, np.integer)) \
                or not 0 <= int(target_index) < self.offset.size:
            raise SequenceFileError(f"A normaliser's target_index must be a column index from 0 to "
                                    f"{self.offset.size - 1}, not {target_index!r}.")
        self.target_index = int(target_index)

    @classmethod
    def fit(cls, values, method: str = "zscore", target_index: int = -1) -> "Normalizer":
        """Fit on ``values`` of shape ``(N, m)`` (constant columns get scale 1)."""
        v = np.asarray(values, dtype=np.float64)
        if v.ndim == 1:
            v = v[:, None]
        m = v.shape[1]
        if method == "zscore":
            # through v / max|v|, so that sums of squares cannot overflow near the float limits
            big = np.max(np.abs(v), axis=0) if v.size else np.ones(m)
            if np.all(big < 1e100):            # squares cannot overflow
                offset, scale = v.mean(axis=0), v.std(axis=0)
            else:
                big = np.where(np.isfinite(big) & (big > 0), big, 1.0)
                u = v / big
                offset = u.mean(axis=0) * big
                scale = u.std(axis=0) * big
        elif method == "minmax":
            offset = v.min(axis=0)
            scale = v.max(axis=0) - offset
        elif method == "none":
            offset = np.zeros(m)
            scale = np.ones(m)
        else:
            raise SequenceFileError(f"Normalisation must be one of {', '.join(NORMALIZE_METHODS)}, not {method!r}.")
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        return cls(method, offset, scale, target_index % m)

    @property
    def target_scale(self) -> float:
        """Scale of the target column: MSE in own units = normalised MSE × ``target_scale**2``."""
        return float(self.scale[self.target_index])

    def transform(self, a, column=None) -> np.ndarray:
        """Normalise ``a`` whose last axis is the columns (or values of one ``column``)."""
        a = np.asarray(a, dtype=np.float64)
        if column is None:
            out = a - self.offset
            out /= self.scale
            return out
        return (a - self.offset[column]) / self.scale[column]

    def inverse(self, a, column=None) -> np.ndarray:
        """Undo :meth:`transform`; with ``column`` given, treat ``a`` as values of that one column."""
        a = np.asarray(a, dtype=np.float64)
        if column is None:
            return a * self.scale + self.offset
        return a * self.scale[column] + self.offset[column]

    def to_dict(self) -> dict:
        """JSON-safe description."""
        return {
            "method": self.method,
            "offset": [float(x) for x in self.offset],
            "scale": [float(x) for x in self.scale],
            "target_index": self.target_index,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Normalizer":
        """Inverse of :meth:`to_dict`."""
        return cls(d["method"], d["offset"], d["scale"], d.get("target_index", 0))

    def __eq__(self, other) -> bool:
        return isinstance(other, Normalizer) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Normalizer({self.method!r}, offset={self.offset.tolist()}, scale={self.scale.tolist()})"


# --------------------------------------------------------------------------- Dataset


@dataclass
class Dataset:
    """Training and validation pairs plus what is needed to plot and rebuild them.

    Shapes: ``x_*`` is ``(N, L, n_inputs)`` (text: ``(N, L)`` int64 token ids, ``n_inputs`` the
    vocabulary size); ``y_*`` is ``(N, 1)`` for series
    regression, ``(N,)`` int64 class ids for last-step classification, ``(N, L)``
    int64 ids for text (loss on every step).

    What the file had beside the chosen columns: ``all_columns`` (every column of the file),
    ``numeric_columns`` (those that can be inputs or the target), ``date_columns`` (dates,
    times and the year/month columns of the time axis); ``time_values`` the time of every row of
    :attr:`series` (or None; units in ``time_label``: ``"year"`` decimal years, ``"date"``
    POSIX seconds, ``"time of day"`` seconds), ``gap_rows`` the rows filled by interpolation.
    ``seq_len_chosen`` is True when the sequence length was chosen by the loader (the person gave
    none); ``notes`` holds sentences for the status bar (a chosen length that is not the default).
    ``normalized`` is the normalised series the windows are views into.

    Several series (a long table read by key): ``segments`` (start row of each series in
    :attr:`series` plus the end), ``keys`` and ``key_column`` name them; each series is split in
    time order on its own (``train_rows`` the training rows, ``val_rows`` the row of every
    validation target, :meth:`target_rows`) and no window holds rows of two series (the windows
    are then copies, not views). ``time_format`` says how :meth:`time_text` writes a row's time;
    ``column_kinds`` the loader's kind of every column of the file.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    loss: str = "mse"
    target_last: bool = True
    kind: str = "series"
    source: str = ""
    columns: list = field(default_factory=list)
    target_index: int = 0
    normalizer: Normalizer | None = None
    series: np.ndarray | None = None
    split_index: int = 0
    seq_len: int = 0
    vocab: list | None = None
    corpus: TextCorpus | None = None
    n_classes: int | None = None
    n_missing: int = 0
    config: dict = field(default_factory=dict)
    all_columns: list = field(default_factory=list)
    numeric_columns: list = field(default_factory=list)
    date_columns: list = field(default_factory=list)
    time_values: np.ndarray | None = None
    time_label: str = ""
    gap_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    seq_len_chosen: bool = False
    notes: list = field(default_factory=list)
    year_month: str | None = None
    normalized: np.ndarray | None = None
    time_format: str = ""
    segments: np.ndarray | None = None
    keys: list | None = None
    key_column: str = ""
    val_rows: np.ndarray | None = None
    train_rows: np.ndarray | None = None
    column_kinds: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.all_columns:
            self.all_columns = list(self.columns)
        if not self.numeric_columns and self.kind in ("series", "regression"):
            self.numeric_columns = list(self.columns)

    @classmethod
    def from_arrays(
        cls,
        x_train,
        y_train,
        x_val=None,
        y_val=None,
        loss: str = "mse",
        target_last: bool = True,
        kind: str = "synthetic",
        source: str = "arrays",
        columns=None,
        **extra,
    ) -> "Dataset":
        """Wrap ready arrays (x: ``(N, L, m)``; y as described in the class docstring)."""
        x_train = np.asarray(x_train, dtype=np.float64)
        if x_train.ndim != 3:
            raise SequenceFileError(f"x_train must have shape (N, L, m), not {x_train.shape}.")
        y_dtype = np.int64 if loss == "cross_entropy" else np.float64
        y_train = np.asarray(y_train, dtype=y_dtype)
        if y_train.ndim == 1 and loss != "cross_entropy":
            y_train = y_train[:, None]
        if x_val is None:
            x_val = np.zeros((0,) + x_train.shape[1:])
            y_val = np.zeros((0,) + y_train.shape[1:], dtype=y_dtype)
        x_val = np.asarray(x_val, dtype=np.float64)
        y_val = np.asarray(y_val, dtype=y_dtype)
        if y_val.ndim == 1 and loss != "cross_entropy":
            y_val = y_val[:, None]
        m = x_train.shape[2]
        if columns is None:
            columns = [f"input {j + 1}" for j in range(m)]
        extra.setdefault("seq_len", x_train.shape[1])
        extra.setdefault("config", {"type": "arrays", "source": str(source)})
        return cls(
            x_train=x_train,
            y_train=y_train,
            x_val=x_val,
            y_val=y_val,
            loss=loss,
            target_last=target_last,
            kind=kind,
            source=str(source),
            columns=list(columns),
            **extra,
        )

    # ---- derived sizes
    @property
    def token_inputs(self) -> bool:
        """True when ``x`` holds integer token ids ``(N, L)`` rather than features ``(N, L, m)``."""
        return self.x_train.ndim == 2 and np.issubdtype(self.x_train.dtype, np.integer)

    @property
    def n_inputs(self) -> int:
        """Input features per step ``m`` (for token ids: the vocabulary size)."""
        if self.token_inputs:
            return int(self.n_classes if self.n_classes is not None else len(self.vocab))
        return int(self.x_train.shape[-1])

    @property
    def n_outputs(self) -> int:
        """Output units: 1 for a regression target, the number of classes for cross-entropy."""
        if self.loss == "cross_entropy":
            if self.n_classes is not None:
                return int(self.n_classes)
            if self.vocab is not None:
                return len(self.vocab)
            return self.n_inputs
        return int(self.y_train.shape[-1]) if self.y_train.ndim > 1 else 1

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return int(self.x_train.shape[0])

    @property
    def n_val(self) -> int:
        """Number of validation samples."""
        return int(self.x_val.shape[0])

    @property
    def target_scale(self) -> float:
        """See :attr:`Normalizer.target_scale` (1 without a normaliser)."""
        return self.normalizer.target_scale if self.normalizer is not None else 1.0

    @property
    def target_name(self) -> str:
        """Name of the predicted column ('' when there is none)."""
        if self.columns and 0 <= self.target_index < len(self.columns):
            return str(self.columns[self.target_index])
        return ""

    def describe(self) -> str:
        """One-line human summary."""
        text = self._describe()
        if self.gap_rows is not None and len(self.gap_rows):
            text += (f"; {self.n_missing} missing value(s) in {len(self.gap_rows)} row(s) filled by "
                     "interpolation")
        for note in self.notes:
            text += f"; {note}"
        return text

    def row_time(self, rows) -> np.ndarray:
        """The time of series rows ``rows`` (``time_values`` units), or the row numbers without one."""
        rows = np.asarray(rows)
        if self.time_values is None:
            return rows.astype(np.float64)
        return self.time_values[rows]

    @property
    def input_scaling(self) -> str:
        """What the inputs the model reads are, in words shown beside them: ``"z-scored"``,
        ``"min–max scaled"``, or "" (the file's own units, token ids, an example's values)."""
        method = self.normalizer.method if self.normalizer is not None else "none"
        return {"zscore": "z-scored", "minmax": "min–max scaled"}.get(method, "")

    def training_values(self) -> np.ndarray:
        """The rows of :attr:`series` in the training part (each series' first part for several)."""
        if self.train_rows is not None:
            return self.series[self.train_rows]
        return self.series[:self.split_index]

    def target_rows(self) -> np.ndarray:
        """The series row of every validation window's target (after ``split_index`` in order for one
        series; for several, each series' validation part in turn)."""
        if self.val_rows is not None:
            return self.val_rows
        return np.arange(self.split_index, self.split_index + self.n_val)

    def segment_end(self, row: int) -> int:
        """The row after the last row of the series holding ``row`` (the end of the data for one)."""
        n = len(self.series) if self.series is not None else 0
        if self.segments is None:
            return n
        return int(self.segments[np.searchsorted(self.segments, row, side="right")])

    def series_names(self, rows) -> list:
        """The name of the series (its key) each of ``rows`` belongs to; "" for one series."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.segments is None or not self.keys:
            return [""] * len(rows)
        k = np.searchsorted(self.segments, rows, side="right") - 1
        return [self.keys[int(i)] for i in np.clip(k, 0, len(self.keys) - 1)]

    def time_text(self, rows) -> list:
        """The time of series rows ``rows`` as text: as the file wrote it (decimal years) or ISO
        dates and date-times; the row numbers 1..N without a time axis."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.time_values is None:
            return [str(r + 1) for r in rows.tolist()]
        fmt = self.time_format or time_format(self.time_label, self.time_values)
        return format_times(self.time_values[rows], fmt)

    def _describe(self) -> str:
        src = safe_name(self.source) if os.sep in str(self.source) else safe_name(self.source, full=True)
        val = f"{self.n_val} validation" if self.n_val else "no validation"
        if self.kind == "text":
            unit = "characters" if (self.corpus is None or self.corpus.level == "char") else "words"
            return (
                f"{src}: {self.n_train} training and {val} windows of {self.seq_len} {unit}, "
                f"vocabulary {self.n_outputs}, next-token cross-entropy on every step"
            )
        if self.kind == "series":
            norm = self.normalizer.method if self.normalizer is not None else "none"
            cols = ", ".join(safe_name(c, full=True) for c in self.columns)
            if self.keys:
                src += f" ({len(self.keys)} series by {safe_name(self.key_column, full=True)})"
            return (
                f"{src}: {self.n_train} training and {val} windows of {self.seq_len} steps × "
                f"{self.n_inputs} input(s) ({cols}), predicting {self.target_name!r} one step ahead "
                f"(MSE, {norm} normalisation)"
            )
        what = "cross-entropy" if self.loss == "cross_entropy" else "MSE"
        where = "on the last step" if self.target_last else "on every step"
        return (
            f"{src}: {self.n_train} training and {val} sequences of {self.seq_len} steps × "
            f"{self.n_inputs} input(s), {what} {where}"
        )

    def to_config(self) -> dict:
        """JSON-safe data settings from which :func:`dataset_from_config` rebuilds this dataset."""
        cfg = copy.deepcopy(self.config)
        if self.normalizer is not None:
            cfg["normalizer"] = self.normalizer.to_dict()
        return cfg


# --------------------------------------------------------------------------- builders


def _check_common(seq_len, val_fraction, name: str) -> tuple[int | None, float]:
    if seq_len is not None and (isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer))
                                or seq_len < 1):
        raise SequenceFileError(f"The window length for {name} must be a whole number of at least 1, not {seq_len!r}.")
    try:
        f = float(val_fraction)
    except (TypeError, ValueError):
        raise SequenceFileError(f"The validation fraction for {name} must be a number from 0 to 0.9.") from None
    if not (0.0 <= f <= 0.9):
        raise SequenceFileError(f"The validation fraction for {name} must lie between 0 and 0.9, not {val_fraction!r}.")
    return (None if seq_len is None else int(seq_len)), f


def _split_sizes(n: int, f: float) -> tuple[int, int]:
    n_val = int(round(n * f)) if f > 0 else 0
    return n - n_val, n_val


def _rows_needed(seq_len: int, f: float) -> int:
    """The fewest rows that hold ``seq_len + 1`` rows in the training part and (with ``f`` > 0)
    in the validation part. Both parts only grow with the rows, so a bisection finds it at once
    for any ``f`` (a validation fraction of 1e-9 needs about 10^10 rows, counted in ~35 steps)."""
    need = seq_len + 1

    def fits(n: int) -> bool:
        n_tr, n_val = _split_sizes(n, f)
        return n_tr >= need and (f == 0 or n_val >= need)

    lo = need
    if fits(lo):
        return lo
    hi = need + 2
    if f > 0:
        hi = max(hi, int(math.ceil((need + 1) / f)) + need + 2)
    while not fits(hi):                       # never more than a few doublings
        hi *= 2
    while hi - lo > 1:                        # fits(hi), not fits(lo)
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _fits(n: int, seq_len: int, f: float) -> bool:
    n_tr, n_val = _split_sizes(n, f)
    return n_tr >= seq_len + 1 and (f == 0 or n_val >= seq_len + 1)


def choose_seq_len(n: int, val_fraction: float, default: int) -> int | None:
    """The sequence length used when the person gives none: ``default`` if ``n`` rows (or
    tokens) hold it with ``val_fraction`` validation, else the longest that fits; None if
    not even 1 fits."""
    for L in range(int(default), 0, -1):
        if _fits(n, L, val_fraction):
            return L
    return None


def _count(n: int) -> str:
    """A count for a message: 1,500,000,000 or, past a trillion, about 1.5e+300."""
    return f"{n:,}" if n < 10**12 else f"about {float(n):.2g}"


def _too_few(name: str, n: int, seq_len: int, f: float, unit: str = "rows") -> SequenceFileError:
    need = _count(_rows_needed(seq_len, f))
    parts = "training and validation parts" if f > 0 else "training part"
    return SequenceFileError(
        f"{name} has {n} {unit} but a window of {seq_len} with validation fraction {f:g} needs at least "
        f"{need} (seq_len + 1 in each of the {parts}); use a shorter window, less validation or more data."
    )


def _resolve_seq_len(name: str, n: int, seq_len, f: float, default: int, unit: str):
    """(sequence length, chosen by the loader?, notes) or the one-sentence refusal."""
    if seq_len is not None:
        if not _fits(n, seq_len, f):
            raise _too_few(name, n, seq_len, f, unit)
        return seq_len, False, []
    L = choose_seq_len(n, f, default)
    if L is None:
        need = _count(_rows_needed(1, f))
        what = "data" if unit == "rows" else "text"
        unit = unit if n != 1 else unit[:-1]
        raise SequenceFileError(
            f"{name} has only {n} {unit}, too few to learn from: even a window of 1 with validation fraction "
            f"{f:g} needs {need}; add more {what} or use less validation.")
    notes = []
    if L < default:
        notes.append(f"sequence length {L} chosen to fit the {n} {unit} (the default {default} needs "
                     f"{_rows_needed(default, f)})")
    return L, True, notes


def _series_parts(segments: np.ndarray, seq_len: int, f: float):
    """For several series (rows ``segments[k]:segments[k + 1]``), each split in time order as one
    series is: (training rows, start rows of the training windows, of the validation windows);
    no window holds rows of two series."""
    train, tr_starts, val_starts = [], [], []
    for a, b in zip(segments[:-1].tolist(), segments[1:].tolist()):
        n_tr, _ = _split_sizes(b - a, f)
        train.append(np.arange(a, a + n_tr))
        tr_starts.append(np.arange(a, a + n_tr - seq_len))
        val_starts.append(np.arange(a + n_tr - seq_len, b - seq_len))
    cat = lambda parts: np.concatenate(parts).astype(np.int64)  # noqa: E731
    return cat(train), cat(tr_starts), cat(val_starts)


def _constant_target_warning(train: np.ndarray, name) -> list:
    """A warning when the target does not change in the training part (nothing to learn there)."""
    if train.size and np.all(train == train[0]):
        return [f"warning: the target {safe_name(str(name), full=True)!r} is constant ({train[0]:g}) in the "
                "training part, so the loss there is 0 and nothing is learned; choose another target"]
    return []


def make_windows(
    seq: SequenceData,
    seq_len: int | None = None,
    val_fraction: float = SERIES_VAL_FRACTION,
    normalize: str = "zscore",
    normalizer: Normalizer | None = None,
) -> Dataset:
    """Cut a series into (window, next value) pairs, split in time order.

    Parameters
    ----------
    seq : SequenceData
        From :func:`load_sequence` (or built by hand).
    seq_len : int, optional
        Window length ``L``; None chooses :data:`SERIES_SEQ_LEN` or the longest that fits.
    val_fraction : float
        Share of the rows (0 to 0.9) kept for validation at the end of the series.
    normalize : {"zscore", "minmax", "none"}
        Per-column scaling fitted on the training rows.
    normalizer : Normalizer, optional
        Use this fitted normaliser instead of fitting one (for rebuilding saved runs).

    Returns
    -------
    Dataset
        ``x_*`` are views into ``ds.normalized`` (no window is a copy), except for several series.
    """
    name = safe_name(seq.path) or "The series"
    seq_len, f = _check_common(seq_len, val_fraction, name)
    if normalize not in NORMALIZE_METHODS:
        raise SequenceFileError(f"Normalisation for {name} must be one of {', '.join(NORMALIZE_METHODS)}, not {normalize!r}.")
    values = np.asarray(seq.values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    n, m = values.shape
    segments = getattr(seq, "segments", None)
    keys = list(getattr(seq, "keys", None) or [])
    if segments is not None:
        segments = np.asarray(segments, dtype=np.int64)
        lengths = np.diff(segments)
        short = int(np.argmin(lengths))
        seq_len, chosen, notes = _resolve_seq_len(f"{name}'s shortest series ({safe_name(keys[short], full=True)!r})",
                                                  int(lengths[short]), seq_len, f, SERIES_SEQ_LEN, "rows")
        notes = [s.replace(" rows (", " rows of the shortest series (", 1) for s in notes]
    else:
        seq_len, chosen, notes = _resolve_seq_len(name, n, seq_len, f, SERIES_SEQ_LEN, "rows")
    notes = list(getattr(seq, "notes", None) or []) + notes
    n_tr, n_val = _split_sizes(n, f)
    check_budget(values.nbytes * 3, f"Windows over {name} ({n:,} rows × {m} column(s))",
                 "use a shorter excerpt of the file or fewer columns")
    tidx = int(seq.target_index) % m
    parts = _series_parts(segments, seq_len, f) if segments is not None else None
    train_rows = parts[0] if parts is not None else slice(0, n_tr)
    if normalizer is None:
        normalizer = Normalizer.fit(values[train_rows], normalize, tidx)
    notes += _constant_target_warning(values[train_rows, tidx], seq.columns[tidx])
    z = normalizer.transform(values)
    win = np.lib.stride_tricks.sliding_window_view(z, seq_len, axis=0)  # (n-L+1, m, L), a view
    win = win.transpose(0, 2, 1)[:-1]  # window starting at s predicts row s+L
    targets = z[seq_len:, tidx][:, None]
    n_tr_win = n_tr - seq_len
    val_rows = None
    if parts is not None:                       # several series: only windows inside one series
        _, train_starts, val_starts = parts
        check_budget(win[:1].nbytes * (len(train_starts) + len(val_starts)) * 2,
                     f"Windows over the {len(keys)} series of {name}", "use a shorter excerpt of the file")
        win = win[np.concatenate([train_starts, val_starts])]
        targets = targets[np.concatenate([train_starts, val_starts])]
        n_tr_win = len(train_starts)
        val_rows = val_starts + seq_len
        n_tr = int(val_rows[0]) if len(val_rows) else n
    src = str(seq.path)
    config = {
        "type": "file",
        "source": os.path.abspath(src) if src else src,
        "columns": list(seq.columns),
        "target": int(tidx),
        "missing": getattr(seq, "missing", "interpolate"),
        "seq_len": seq_len,
        "val_fraction": f,
        "normalize": normalizer.method,
    }
    year_month = getattr(seq, "year_month", None)
    if year_month is not None:
        config["year_month"] = year_month
        if year_month == "series" and not any("read as one" in n or "row by row" in n for n in notes):
            notes.append("a year × month table read as one monthly series")
    if chosen:
        config["seq_len_chosen"] = True
    config["key"] = (getattr(seq, "key_column", "") if segments is not None else "") or "none"
    return Dataset(
        x_train=win[:n_tr_win],
        y_train=targets[:n_tr_win],
        x_val=win[n_tr_win:],
        y_val=targets[n_tr_win:],
        loss="mse",
        target_last=True,
        kind="series",
        source=src,
        columns=list(seq.columns),
        target_index=tidx,
        normalizer=normalizer,
        series=values,
        split_index=n_tr,
        seq_len=seq_len,
        n_missing=int(getattr(seq, "n_missing", 0)),
        config=config,
        all_columns=list(getattr(seq, "all_columns", None) or seq.columns),
        numeric_columns=list(getattr(seq, "numeric_columns", seq.columns)),
        date_columns=list(getattr(seq, "date_columns", [])),
        time_values=getattr(seq, "time", None),
        time_label=getattr(seq, "time_label", "") or "",
        gap_rows=np.asarray(getattr(seq, "gaps", np.zeros(0)), dtype=np.int64),
        seq_len_chosen=chosen,
        notes=notes,
        year_month=year_month,
        normalized=z,
        time_format=getattr(seq, "time_format", "") or "",
        segments=segments,
        keys=keys or None,
        key_column=getattr(seq, "key_column", "") or "",
        val_rows=val_rows,
        train_rows=None if parts is None else parts[0],
        column_kinds=list(getattr(seq, "column_kinds", None) or []),
    )


def text_windows(corpus: TextCorpus, seq_len: int | None = None, val_fraction: float = TEXT_VAL_FRACTION,
                 stride: int | None = None) -> Dataset:
    """Cut a text into windows of token ids predicting the next token at every step.

    Parameters
    ----------
    corpus : TextCorpus
        From :func:`load_text`.
    seq_len : int, optional
        Window length ``L``; None chooses :data:`TEXT_SEQ_LEN` or the longest that fits.
    val_fraction : float
        Share of the tokens (0 to 0.9) kept for validation at the end of the text.
    stride : int, optional
        Step between window starts (default ``seq_len``, non-overlapping).

    Returns
    -------
    Dataset
        ``x`` is ``(N, L)`` int64 token ids (the model reads them as one-hot over the vocabulary:
        ``n_inputs`` is V), ``y`` is ``(N, L)`` int64; both are read-only views into
        ``corpus.ids`` (memory grows with the text, not with text × vocabulary).
    """
    name = safe_name(corpus.path) or "The text"
    seq_len, f = _check_common(seq_len, val_fraction, name)
    ids = np.asarray(corpus.ids, dtype=np.int64)
    n = ids.size
    unit = "characters" if corpus.level == "char" else "words"
    seq_len, chosen, notes = _resolve_seq_len(name, n, seq_len, f, TEXT_SEQ_LEN, unit)
    stride = seq_len if stride is None else int(stride)
    if stride < 1:
        raise SequenceFileError(f"The window stride for {name} must be at least 1.")
    n_tr, n_val = _split_sizes(n, f)

    def cut(first: int, stop: int):
        """Windows starting at first, first + stride, … with s + L + 1 <= stop: views into ids."""
        x = np.lib.stride_tricks.sliding_window_view(ids[first:stop - 1], seq_len)[::stride]
        y = np.lib.stride_tricks.sliding_window_view(ids[first + 1:stop], seq_len)[::stride]
        return x, y

    x_train, y_train = cut(0, n_tr)
    if n_val:
        x_val, y_val = cut(n_tr - 1, n)
    else:
        x_val = np.zeros((0, seq_len), dtype=np.int64)
        y_val = np.zeros((0, seq_len), dtype=np.int64)
    src = str(corpus.path)
    config = {
        "type": "text",
        "source": os.path.abspath(src) if src else src,
        "level": corpus.level,
        "seq_len": seq_len,
        "val_fraction": f,
        "stride": stride,
    }
    if chosen:
        config["seq_len_chosen"] = True
    return Dataset(
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        loss="cross_entropy",
        target_last=False,
        kind="text",
        source=src,
        columns=["text"],
        target_index=0,
        normalizer=None,
        series=None,
        split_index=n_tr,
        seq_len=seq_len,
        vocab=list(corpus.vocab),
        corpus=corpus,
        n_classes=corpus.vocab_size,
        config=config,
        seq_len_chosen=chosen,
        notes=notes,
    )


def dataset_from_config(cfg: dict) -> Dataset:
    """Rebuild a :class:`Dataset` from :meth:`Dataset.to_config`.

    Raises
    ------
    SequenceFileError
        If the file is gone or changed shape, or the config cannot be rebuilt.
    """
    if not isinstance(cfg, dict):
        raise SequenceFileError("A data config must be a dictionary (from Dataset.to_config).")
    typ = cfg.get("type")
    try:
        if typ == "example":
            from .examples import load_example

            return load_example(cfg["example"], **dict(cfg.get("overrides", {})))
        if typ == "file":
            seq = load_sequence(cfg["source"], columns=cfg.get("columns"), target=cfg.get("target"),
                                missing=cfg.get("missing", "interpolate"),
                                year_month=cfg.get("year_month") or "series", key=cfg.get("key") or "none")
            norm = Normalizer.from_dict(cfg["normalizer"]) if cfg.get("normalizer") else None
            ds = make_windows(seq, seq_len=cfg["seq_len"], val_fraction=cfg["val_fraction"],
                              normalize=cfg.get("normalize", "zscore"), normalizer=norm)
        elif typ == "frames":
            from .frames import frames_from_config

            return frames_from_config(cfg)
        elif typ == "text":
            from .vocab import word_windows

            corpus = load_text(cfg["source"], level=cfg.get("level", "char"))
            ds = word_windows(corpus, cfg.get("vocab"), seq_len=cfg["seq_len"], val_fraction=cfg["val_fraction"],
                              stride=cfg.get("stride"))
        else:
            ds = None
        if ds is not None:
            if cfg.get("seq_len_chosen"):      # the same length the loader chose then, still marked as chosen
                ds.seq_len_chosen = True
                ds.config["seq_len_chosen"] = True
            return ds
    except KeyError as exc:
        raise SequenceFileError(f"The data config lacks the setting {exc.args[0]!r}; save the run again.") from None
    if typ == "arrays":
        raise SequenceFileError(
            f"The data {cfg.get('source', '')!r} was built from arrays in code and cannot be rebuilt from a config."
        )
    raise SequenceFileError(f"Unknown data config type {typ!r}; expected 'example', 'file' or 'text'.")


__all__ = ["Dataset", "Normalizer", "make_windows", "text_windows", "dataset_from_config", "choose_seq_len",
           "NORMALIZE_METHODS", "SERIES_SEQ_LEN", "TEXT_SEQ_LEN", "SERIES_VAL_FRACTION", "TEXT_VAL_FRACTION"]

"""Labelled sequences: each sequence one class or one value (time-series classification, sentence
sentiment, regression of a whole sequence).

Formats read by :func:`load_labelled`:

- UCR ``.tsv``/``.csv``/``.txt``: one sequence a line, the label first, then its values (tab,
  comma or spaces); ``NaN`` or nothing past a shorter sequence's end.
- UEA/UCR ``.ts``: header lines (``@problemName``, ``@timeStamps false``, ``@missing``,
  ``@univariate``, ``@dimensions``, ``@equalLength``, ``@seriesLength``, ``@classLabel true 1 2
  …`` or ``false``, ``@targetLabel true`` for regression), ``@data``, then one case a line:
  dimensions separated by ``:``, values by ``,``, the label last; ``?`` is a missing value.
- Labelled text: a CSV/TSV with a header, a text column and a label column; the text as
  characters or words (token ids, the vocabulary from the training part).

A ``NAME_TRAIN.ext`` / ``NAME_TEST.ext`` pair is recognised: opening one uses the other as the
validation part (and says so). Otherwise a shuffled fifth of the sequences (fixed seed) is held
out. Class names stay as written; numeric labels with many distinct or fractional values are a
regression target (``task`` overrides). Missing values inside a sequence are interpolated;
steps past a sequence's end are padding (``lengths`` say where each ends).
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dataset import Dataset
from .errors import SequenceFileError, check_budget, safe_name
from .loading import MAX_ABS_VALUE, _decode, _iter_data_lines, _path_and_name, _read_bytes, _tokenize

TASKS = ("classes", "regression")
MAX_STEPS = 100_000
"""The longest sequence read (steps of one case)."""
MAX_TEXT_TOKENS = 2_000
"""A text longer than this many tokens is cut to it (the status says how many were)."""
MAX_CLASSES = 1_000
MAX_DIMENSIONS = 10_000
_PAIR_RE = re.compile(r"^(?P<stem>.+)_(?P<part>TRAIN|TEST)$")
_MISSING = frozenset({"?", "nan", "na", ""})
_TRUE_FALSE = {"true": True, "false": False}
_TS_KEYS = ("problemname", "timestamps", "missing", "univariate", "dimension", "dimensions", "equallength",
            "serieslength", "classlabel", "targetlabel", "data")


@dataclass
class LabelledDataset(Dataset):
    """A :class:`~explorer.data.dataset.Dataset` of whole sequences with one label each.

    ``x_*`` (N, T, m) floats zero-padded past each end, or (N, T) token ids; ``lengths_*`` (N,)
    the real steps; ``y_*`` class ids (N,) (``class_names[id]`` as written in the file) or
    values (N, 1) (z-scored with the training part's mean and σ: ``target_mean``,
    ``target_std``). ``task`` is ``"classes"`` or ``"regression"``; ``val_source`` names where
    the validation part came from.
    """

    lengths_train: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lengths_val: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    task: str = "classes"
    class_names: list = field(default_factory=list)
    label_name: str = "label"
    val_source: str = ""
    target_mean: float = 0.0
    target_std: float = 1.0
    level: str | None = None

    @property
    def target_scale(self) -> float:
        return self.target_std

    @property
    def n_inputs(self) -> int:
        return len(self.vocab) if self.token_inputs else int(self.x_train.shape[-1])

    @property
    def n_outputs(self) -> int:
        return len(self.class_names) if self.task == "classes" else 1

    def class_counts(self, part: str = "train") -> np.ndarray:
        """How many sequences of each class the part holds (classes only)."""
        y = self.y_train if part == "train" else self.y_val
        return np.bincount(y, minlength=len(self.class_names))

    def majority_accuracy(self) -> float:
        """Accuracy on the validation part of always answering the training part's commonest class."""
        if self.task != "classes" or not self.n_val:
            return float("nan")
        return float(np.mean(self.y_val == int(np.argmax(self.class_counts()))))

    def _describe(self) -> str:
        src = safe_name(self.source)
        what = ("characters" if self.level == "char" else "words") if self.level else "steps"
        m = "" if self.level else f" × {self.n_inputs} dimension{'s' * (self.n_inputs != 1)}"
        lo, hi = int(self.lengths_train.min()), int(self.lengths_train.max())
        span = f"{hi}" if lo == hi else f"{lo}–{hi}"
        val = f"{self.n_val} validation ({self.val_source})" if self.n_val else "no validation"
        if self.task == "classes":
            counts = ", ".join(f"{safe_name(n, full=True)}: {c}" for n, c in zip(self.class_names, self.class_counts()))
            target = f"{len(self.class_names)} classes of {safe_name(self.label_name, full=True)} ({counts})"
        else:
            target = f"regression of {safe_name(self.label_name, full=True)} (MSE, z-scored)"
        return f"{src}: {self.n_train} training and {val} sequences of {span} {what}{m}, {target}"


# ------------------------------------------------------------------------------ reading


@dataclass
class _Raw:
    """Cases as read: each a (T_i, m) float array (NaN missing) or a token list, and its label text."""

    cases: list
    labels: list
    declared: list | None = None       # class labels a .ts header declares, in order
    task: str | None = None            # what a .ts header says (classes / regression)
    label_name: str = "label"
    text: bool = False
    notes: list = field(default_factory=list)


def _float(tok: str, name: str, lineno: int) -> float:
    s = tok.strip()
    if s.lower() in _MISSING:
        return math.nan
    try:
        v = float(s)
    except ValueError:
        raise SequenceFileError(f"Line {lineno} of {name} has {s[:20]!r} where a number belongs; "
                                "fix or remove that line.") from None
    if not math.isfinite(v) or abs(v) > MAX_ABS_VALUE:
        raise SequenceFileError(f"Line {lineno} of {name} has the value {s[:20]!r}, which is not a usable "
                                "finite number; fix or remove that line.")
    return v if abs(v) >= TINY else 0.0            # subnormal: read as 0, as the engine computes it


TINY = float(np.finfo(np.float64).tiny)
"""Values smaller in size than this (subnormal numbers, below 2.2e-308) are read as 0: the engine
flushes them to zero anyway, and plotting them overflows the axes' arithmetic."""


def _check_steps(n: int, name: str, lineno: int) -> None:
    if n > MAX_STEPS:
        raise SequenceFileError(f"Line {lineno} of {name} holds a sequence of {n:,} steps, more than the "
                                f"{MAX_STEPS:,} this program reads; use shorter sequences.")


def _read_ucr(text: str, name: str) -> _Raw:
    """The UCR form: a label, then the values, one sequence a line."""
    cases, labels = [], []
    for lineno, ln in _iter_data_lines(text):
        s = ln.strip()
        sep = "\t" if "\t" in s else ("," if "," in s else None)
        _check_steps(s.count(sep) if sep else s.count(" "), name, lineno)      # before splitting a huge line
        fields = s.split(sep)
        if len(fields) < 2:
            raise SequenceFileError(f"Line {lineno} of {name} has a label but no values; each line needs "
                                    "the class label first, then the sequence.")
        vals = np.array([_float(t, name, lineno) for t in fields[1:]])
        real = np.flatnonzero(~np.isnan(vals))
        if not real.size:
            raise SequenceFileError(f"Line {lineno} of {name} has no values, only missing ones; remove that line.")
        cases.append(vals[:real[-1] + 1, None])
        labels.append(fields[0].strip())
    return _Raw(cases, labels, label_name="class")


def _ts_header(lines, name: str) -> tuple[dict, int]:
    head: dict = {}
    for lineno, ln in lines:
        s = ln.strip()
        if not s.startswith("@"):
            raise SequenceFileError(f"Line {lineno} of {name} comes before @data but is not a header line "
                                    "(@problemName, @classLabel, …); a .ts file needs its header, then @data.")
        parts = s.split()
        key = parts[0][1:].lower()
        if key not in _TS_KEYS:
            raise SequenceFileError(f"Line {lineno} of {name} has the header {safe_name(parts[0][:30], full=True)}, "
                                    "which the .ts format does not define; remove it or fix its spelling.")
        if key == "data":
            return head, lineno
        if key in head:
            raise SequenceFileError(f"Line {lineno} of {name} repeats the header @{parts[0][1:]}; keep one.")
        head[key] = (parts[1:], lineno)
    raise SequenceFileError(f"{name} has no @data line; a .ts file lists its cases after @data.")


def _flag(head: dict, key: str, name: str, default=None):
    if key not in head:
        return default
    args, lineno = head[key]
    if not args or args[0].lower() not in _TRUE_FALSE:
        raise SequenceFileError(f"Line {lineno} of {name}: @{key} must be true or false, not "
                                f"{safe_name(' '.join(args)[:20], full=True) or 'nothing'}.")
    return _TRUE_FALSE[args[0].lower()]


_TS_SPELLING = {k.lower(): k for k in ("problemName", "timeStamps", "missing", "univariate", "dimension", "dimensions",
                                         "equalLength", "seriesLength", "classLabel", "targetLabel", "data")}


def _whole(head: dict, key: str, name: str) -> int | None:
    """The whole number (≥ 1) a header line gives, or None when the header has no such line."""
    if key not in head:
        return None
    args, lineno = head[key]
    if len(args) != 1 or not args[0].isdigit() or int(args[0]) < 1:
        raise SequenceFileError(f"Line {lineno} of {name}: @{_TS_SPELLING[key]} must be a whole number of at "
                                "least 1.")
    return int(args[0])


def _trim_padding(r: list) -> list:
    """A dimension without the missing values after its last real one (padding of a shorter series)."""
    end = len(r)
    while end and math.isnan(r[end - 1]):
        end -= 1
    return r[:end]


def _read_ts(text: str, name: str) -> _Raw:
    lines = _iter_data_lines(text)
    head, data_line = _ts_header(lines, name)
    if _flag(head, "timestamps", name, False):
        raise SequenceFileError(f"{name} says @timeStamps true; time-stamped .ts files are not supported, "
                                "save the series without time stamps.")
    classes = _flag(head, "classlabel", name)
    regression = _flag(head, "targetlabel", name)
    if classes and regression:
        raise SequenceFileError(f"{name} declares both @classLabel true and @targetLabel true; keep one.")
    declared = None
    if classes:
        declared = head["classlabel"][0][1:]
        if not declared:
            raise SequenceFileError(f"Line {head['classlabel'][1]} of {name}: @classLabel true must list the "
                                    "class labels after it (e.g. @classLabel true 1 2 3).")
        if len(set(declared)) != len(declared):
            raise SequenceFileError(f"Line {head['classlabel'][1]} of {name} lists a class label twice.")
    if not classes and not regression:
        raise SequenceFileError(f"{name} has no labels (@classLabel false and no @targetLabel true); "
                                "a labelled .ts file needs one or the other.")
    if "dimensions" in head and "dimension" in head:
        raise SequenceFileError(f"Line {head['dimension'][1]} of {name} repeats @dimensions as @dimension; keep one.")
    univariate, equal = _flag(head, "univariate", name), _flag(head, "equallength", name)
    missing_ok = _flag(head, "missing", name)
    length = _whole(head, "serieslength", name)
    dims_key = "dimension" if "dimension" in head else "dimensions"
    n_dims = _whole(head, dims_key, name)

    def said(key: str) -> str:
        return f"@{_TS_SPELLING[key]} {' '.join(head[key][0])} on line {head[key][1]}"

    if univariate is not None and n_dims is not None and univariate != (n_dims == 1):
        raise SequenceFileError(f"Line {head[dims_key][1]} of {name} says @{_TS_SPELLING[dims_key]} {n_dims} but "
                                f"{said('univariate')} disagrees; make the two header lines agree.")

    def mismatch(lineno: int, found: str, key: str, fix: str) -> SequenceFileError:
        return SequenceFileError(f"Line {lineno} of {name} has {found} but the header says {said(key)}; {fix}.")

    cases, labels = [], []
    for lineno, ln in lines:
        if ln.count(":") > MAX_DIMENSIONS:
            raise SequenceFileError(f"Line {lineno} of {name} has {ln.count(':'):,} dimensions, more than the "
                                    f"{MAX_DIMENSIONS:,} this program reads.")
        dims = ln.strip().split(":")
        if len(dims) < 2:
            raise SequenceFileError(f"Line {lineno} of {name} has no label after its values (the label comes "
                                    "last, after a colon).")
        label, dims = dims[-1].strip(), dims[:-1]
        k = len(dims)
        if univariate is not None and univariate != (k == 1):
            raise mismatch(lineno, f"{k} dimension{'s' * (k != 1)}", "univariate",
                           f"write @univariate {'false' if univariate else 'true'} or fix that line")
        if n_dims is not None and k != n_dims:
            raise mismatch(lineno, f"{k} dimension{'s' * (k != 1)}", dims_key,
                           f"fix @{_TS_SPELLING[dims_key]} or that line")
        if cases and k != cases[0].shape[1]:
            raise SequenceFileError(f"Line {lineno} of {name} has {k} dimensions, the first case "
                                    f"{cases[0].shape[1]}; every case needs the same dimensions.")
        rows = []
        for d in dims:
            _check_steps(d.count(",") + 1, name, lineno)
            r = [_float(t, name, lineno) for t in d.split(",")]
            rows.append(r if equal else _trim_padding(r))
        T = max(len(r) for r in rows)
        if not T:
            raise SequenceFileError(f"Line {lineno} of {name} has no values, only missing ones; remove that line.")
        if equal and any(len(r) != T for r in rows):
            raise mismatch(lineno, "dimensions of different lengths", "equallength",
                           "write @equalLength false or give every dimension the same number of steps")
        if equal and cases and T != cases[0].shape[0]:
            raise mismatch(lineno, f"{T} steps, the first case {cases[0].shape[0]},", "equallength",
                           "write @equalLength false or fix that line")
        if length is not None and (T != length if equal is not False else T > length):
            raise mismatch(lineno, f"{T} steps", "serieslength", "fix @seriesLength or that line")
        if missing_ok is False and any(math.isnan(v) for r in rows for v in r):
            raise mismatch(lineno, "a missing value", "missing", "write @missing true or fill in that value")
        if declared is not None and label not in declared:
            raise SequenceFileError(f"Line {lineno} of {name} has the label {safe_name(label[:20], full=True)!r}, "
                                    f"which @classLabel does not list ({' '.join(declared)[:60]}).")
        if regression and not _is_number(label):
            raise mismatch(lineno, f"the label {safe_name(label[:20], full=True)!r}, not a number,", "targetlabel",
                           "give a number as that case's target")
        arr = np.full((T, k), np.nan)
        for j, r in enumerate(rows):
            arr[:len(r), j] = r
        cases.append(arr)
        labels.append(label)
    if not cases:
        raise SequenceFileError(f"{name} has no cases after @data; add one case a line.")
    return _Raw(cases, labels, declared, "classes" if classes else "regression",
                label_name="class" if classes else "target")


def _read_text_table(text: str, name: str, label, text_column, level: str) -> _Raw:
    """A CSV/TSV with a header: one text column and one label column."""
    first = text.split("\n", 1)[0]
    delim = "\t" if first.count("\t") > first.count(",") else ","
    rows = csv.reader(io.StringIO(text), delimiter=delim)
    try:
        header = [h.strip() for h in next(rows)]
        body = [r for r in rows if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise SequenceFileError(f"{name} is not a readable CSV ({exc}); check its quotes.") from None
    lab = _column(header, label, name, "--label", ("label", "class", "sentiment", "target", "y"), len(header) - 1)
    txt = _column(header, text_column, name, "--text-column", ("text", "sentence", "review", "document"), None)
    if txt is None:
        others = [j for j in range(len(header)) if j != lab]
        if not others:
            raise SequenceFileError(f"{name} has one column; labelled text needs a text column and a label column.")
        width = [sum(len(r[j]) if j < len(r) else 0 for r in body[:200]) for j in others]
        txt = others[int(np.argmax(width))]
    if txt == lab:
        raise SequenceFileError(f"{name}: the text and the label are the same column; name another with --label.")
    cases, labels = [], []
    cut = 0
    for k, r in enumerate(body):
        if len(r) <= max(lab, txt):
            raise SequenceFileError(f"Row {k + 2} of {name} has {len(r)} fields, fewer than the header's "
                                    f"{len(header)}; fix that row.")
        toks = _tokenize(r[txt][:MAX_TEXT_TOKENS * 64], level)
        if not toks:
            raise SequenceFileError(f"Row {k + 2} of {name} has an empty text; remove that row.")
        if len(toks) > MAX_TEXT_TOKENS:
            toks, cut = toks[:MAX_TEXT_TOKENS], cut + 1
        cases.append(toks)
        labels.append(r[lab].strip())
    raw = _Raw(cases, labels, label_name=header[lab] or "label", text=True)
    if cut:
        unit = "characters" if level == "char" else "words"
        raw.notes.append(f"{cut} text(s) cut to their first {MAX_TEXT_TOKENS:,} {unit}")
    return raw


def _column(header: list, want, name: str, flag: str, usual: tuple, default):
    if want is None:
        low = [h.lower() for h in header]
        for u in usual:
            if u in low:
                return low.index(u)
        return default
    if isinstance(want, int) or str(want).lstrip("-").isdigit():
        j = int(want)
        if not -len(header) <= j < len(header):
            raise SequenceFileError(f"{flag} {j}: {name} has {len(header)} columns (0..{len(header) - 1}).")
        return j % len(header)
    if want in header:
        return header.index(want)
    raise SequenceFileError(f"{flag} {safe_name(str(want)[:40], full=True)}: {name} has no such column; its "
                            f"columns are {', '.join(safe_name(h, full=True) for h in header)[:200]}.")


def _is_text_table(text: str) -> bool:
    """True when the first line is a header (not a label followed by numbers)."""
    first = next((ln for _, ln in _iter_data_lines(text)), "")
    fields = re.split(r"[\t,]|\s+", first.strip())
    return not all(_is_number(f) for f in fields[1:] if f.strip().lower() not in _MISSING)


def _read(path, label, text_column, level) -> tuple[_Raw, str]:
    p, name = _path_and_name(path)
    text = _decode(_read_bytes(p, name), name)
    if p.suffix.lower() == ".ts":
        raw = _read_ts(text, name)
    elif _is_text_table(text):
        raw = _read_text_table(text, name, label, text_column, level)
    elif label not in (None, 0, "0") or text_column is not None:
        raise SequenceFileError(f"{name} is a UCR file (numbers, the label first on every line) with no columns "
                                "to name; leave out --label and the text column.")
    else:
        raw = _read_ucr(text, name)
    if len(raw.cases) < 2:
        raise SequenceFileError(f"{name} holds {len(raw.cases)} sequence; a labelled file needs at least two.")
    return raw, name


# ------------------------------------------------------------------------------ building


def pair_path(path) -> tuple[Path, str] | None:
    """The other file of a ``NAME_TRAIN``/``NAME_TEST`` pair and the part ``path`` is, if it exists."""
    p = Path(path)
    m = _PAIR_RE.match(p.stem)
    if not m:
        return None
    other_part = "TEST" if m["part"] == "TRAIN" else "TRAIN"
    other = p.with_name(f"{m['stem']}_{other_part}{p.suffix}")
    return (other, m["part"]) if other.is_file() else None


def _infer_task(raw: _Raw, task: str | None, name: str) -> str:
    if task is not None:
        if task not in TASKS:
            raise SequenceFileError(f"The task {task!r} is not one of {', '.join(TASKS)}.")
        return task
    if raw.task is not None:
        return raw.task
    try:
        values = np.array([float(v) for v in raw.labels])
    except ValueError:
        return "classes"
    if not np.all(np.isfinite(values)):
        return "classes"
    distinct = np.unique(values)
    fractional = bool(np.any(distinct != np.round(distinct)))
    return "regression" if fractional or len(distinct) > max(20, len(values) // 10) else "classes"


def _class_order(labels: list, declared: list | None) -> list:
    if declared is not None:
        return list(declared)
    uniq = list(dict.fromkeys(labels))
    try:
        return sorted(uniq, key=lambda s: (float(s), s))
    except ValueError:
        return sorted(uniq)


def _fill_missing(a: np.ndarray) -> tuple[np.ndarray, int]:
    """Interpolate NaN inside each dimension (ends take the nearest value); count them."""
    bad = np.isnan(a)
    count = int(bad.sum())
    if not count:
        return a, 0
    t = np.arange(a.shape[0])
    for j in range(a.shape[1]):
        b = bad[:, j]
        if b.all():
            a[:, j] = 0.0
        elif b.any():
            a[b, j] = np.interp(t[b], t[~b], a[~b, j])
    return a, count


def _pad_floats(cases: list, name: str) -> tuple[np.ndarray, np.ndarray, int]:
    m = cases[0].shape[1]
    lengths = np.array([c.shape[0] for c in cases], dtype=np.int64)
    T = int(lengths.max())
    check_budget(8.0 * len(cases) * T * m * 3, f"the {len(cases)} sequences of {name}",
                 "use fewer or shorter sequences")
    x = np.zeros((len(cases), T, m))
    missing = 0
    for i, c in enumerate(cases):
        filled, k = _fill_missing(c.copy())
        missing += k
        x[i, :len(c)] = filled
    return x, lengths, missing


def _pad_tokens(cases: list, index: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(c) for c in cases], dtype=np.int64)
    T = int(lengths.max())
    check_budget(8.0 * len(cases) * T * 2, f"the {len(cases)} texts of {name}", "use fewer or shorter texts")
    x = np.zeros((len(cases), T), dtype=np.int64)
    for i, c in enumerate(cases):
        x[i, :len(c)] = [index.get(tok, 0) for tok in c]
    return x, lengths


UNKNOWN = "\ufffd"
"""The vocabulary's entry 0: every token of the validation part the training part never had."""


def load_labelled(path, label=None, text_column=None, task: str | None = None, level: str = "char",
                  val_fraction: float = 0.2, normalize: str = "zscore", seed: int = 0) -> LabelledDataset:
    """Read a file of labelled sequences (see the module's text) into a :class:`LabelledDataset`.

    ``label`` and ``text_column`` name columns of a labelled-text table (by name or index);
    ``task`` ``"classes"`` or ``"regression"`` overrides what is inferred; ``level`` ``"char"``
    or ``"word"`` for text; ``val_fraction`` the held-out share when the file has no
    ``_TRAIN``/``_TEST`` partner; ``normalize`` ``"zscore"`` (per dimension, the training part's
    mean and σ) or ``"none"``.
    """
    if level not in ("char", "word"):
        raise SequenceFileError(f"The text level {level!r} is not char or word.")
    if normalize not in ("zscore", "none"):
        raise SequenceFileError(f"Labelled sequences are normalised by zscore or none, not {normalize!r}.")
    if not 0.0 <= float(val_fraction) <= 0.9:
        raise SequenceFileError(f"The validation fraction must lie between 0 and 0.9, not {val_fraction!r}.")
    raw, name = _read(path, label, text_column, level)
    notes = list(raw.notes)
    partner = pair_path(path)
    if partner is not None:
        other, part = partner
        val_raw, other_name = _read(other, label, text_column, level)
        if val_raw.text != raw.text or (not raw.text and val_raw.cases[0].shape[1] != raw.cases[0].shape[1]):
            raise SequenceFileError(f"{name} and its partner {other_name} hold different kinds of sequences; "
                                    "open a file whose partner matches it, or rename one of them.")
        val_source = f"from {other_name}"
        n_train = len(raw.cases)
        cases, labels = raw.cases + val_raw.cases, raw.labels + val_raw.labels
        train_idx, val_idx = np.arange(n_train), np.arange(n_train, len(cases))
        if raw.declared is not None and val_raw.declared is not None:
            raw.declared = list(dict.fromkeys(raw.declared + val_raw.declared))
    else:
        cases, labels = raw.cases, raw.labels
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(cases))
        n_val = int(round(len(cases) * float(val_fraction)))
        n_val = min(n_val, len(cases) - 1)
        val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        val_source = f"a random {n_val / len(cases):.0%} held out" if n_val else ""
    kind = _infer_task(raw, task, name)
    if kind == "regression" and raw.label_name == "class":
        raw.label_name = "target"
    ds_kw: dict = {}
    if kind == "classes":
        names = _class_order(labels, raw.declared)
        if len(names) < 2:
            raise SequenceFileError(f"{name} has one class ({safe_name(names[0][:20], full=True)!r}); a classifier "
                                    "needs at least two.")
        if len(names) > MAX_CLASSES:
            raise SequenceFileError(f"{name} has {len(names):,} distinct labels, more than {MAX_CLASSES:,} classes; "
                                    "if the labels are numbers to predict, choose --task regression.")
        pos = {n: k for k, n in enumerate(names)}
        y = np.array([pos[v] for v in labels], dtype=np.int64)
        ds_kw.update(class_names=names, n_classes=len(names), loss="cross_entropy")
    else:
        try:
            values = np.array([float(v) for v in labels])
        except ValueError:
            bad = next(v for v in labels if not _is_number(v))
            raise SequenceFileError(f"{name} has the label {safe_name(bad[:20], full=True)!r}, not a number, so it "
                                    "cannot be a regression target; choose --task classes.") from None
        if not np.all(np.isfinite(values)) or np.any(np.abs(values) > MAX_ABS_VALUE):
            raise SequenceFileError(f"{name} has a label that is not a finite number; fix it for regression.")
        mu = float(values[train_idx].mean())
        sd = float(values[train_idx].std()) or 1.0
        y = ((values - mu) / sd)[:, None]
        ds_kw.update(target_mean=mu, target_std=sd, loss="mse")
    if raw.text:
        vocab = [UNKNOWN] + sorted({tok for i in train_idx for tok in cases[i]} - {UNKNOWN})
        index = {tok: k for k, tok in enumerate(vocab)}
        x, lengths = _pad_tokens(cases, index, name)
        ds_kw.update(vocab=vocab, level=level, columns=["text"])
    else:
        x, lengths, missing = _pad_floats(cases, name)
        if missing:
            notes.append(f"{missing} missing value(s) filled by interpolation")
        if normalize == "zscore":
            real = np.arange(x.shape[1])[None, :] < lengths[:, None]
            tr = x[train_idx][real[train_idx]]
            mu, sd = tr.mean(axis=0), tr.std(axis=0)
            sd[sd == 0] = 1.0
            x = np.where(real[:, :, None], (x - mu) / sd, 0.0)
        ds_kw.update(columns=[f"dimension {j + 1}" for j in range(x.shape[2])] if x.shape[2] > 1 else ["value"])
    return LabelledDataset(
        x_train=x[train_idx], y_train=y[train_idx], x_val=x[val_idx], y_val=y[val_idx], target_last=True,
        kind="labelled", source=str(path), seq_len=int(x.shape[1]), lengths_train=lengths[train_idx],
        lengths_val=lengths[val_idx], task=kind, label_name=raw.label_name, val_source=val_source, notes=notes,
        config={"type": "labelled", "path": str(path), "task": kind}, **ds_kw)


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def looks_labelled(path) -> bool:
    """True for a file this module reads by its form alone: ``.ts``, or an archive's ``NAME_TRAIN`` /
    ``NAME_TEST`` name (upper case, as the UCR/UEA archive writes them)."""
    p = Path(path)
    return p.suffix.lower() == ".ts" or bool(_PAIR_RE.match(p.stem))


__all__ = ["LabelledDataset", "TASKS", "UNKNOWN", "load_labelled", "looks_labelled", "pair_path"]

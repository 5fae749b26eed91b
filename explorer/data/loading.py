"""Load numeric sequences (CSV, TSV, TXT, NPY) and prose text from files.

Only NumPy and the standard library are used; no Qt.

Rules
-----
Delimiter
    Sniffed from the first 50 non-blank, non-comment lines: tab if it occurs in at
    least half of them, else ``;``, else ``,``, else runs of whitespace.
Header
    The first row is a header when it has a field that is not a number, a missing
    marker or a date/time, and either it has no numeric field at all or such a
    field sits above a column whose following values are not text.
Numeric text versus prose
    A ``.txt`` file (or any file that is not ``.csv``/``.tsv``/``.npy``) is numeric
    when **at least 90 % of its non-empty lines** (comment lines starting with
    ``#`` and a header line not counted) consist only of numbers, missing markers
    and dates/times separated by the detected delimiter. Otherwise
    :func:`load_sequence` refuses it and suggests text mode (:func:`load_text`).
Missing values
    An empty field, ``NA``, ``N/A``, ``NaN``, ``nan`` or ``null`` (any case).
    They are counted and filled by linear interpolation (edges take the nearest
    value) or, with ``missing="drop"``, every row with one is dropped. A row
    with more or fewer fields than the header is an error, not missing data.
    Blank lines and lines starting with ``#`` are skipped everywhere, so in a
    one-column file a missing value must be written as a marker such as ``NA``.
Dates and times
    Columns holding ISO dates (``2024-01-03``), date-times (``2024-01-03 10:00``,
    ``2024-01-03T10:00:00Z``), ``03/01/2024``-style dates or times (``10:30``)
    are recognised and skipped.
Speed
    A clean file is parsed by :func:`numpy.loadtxt` (C parser, about 0.25 s for a
    million rows); missing markers are handled by a second ``loadtxt`` pass with
    a small converter; a careful Python parser runs only when both fail, to name
    the exact line of a problem (or to read decimal commas in ``;`` files).

All bad input raises :class:`SequenceFileError` (a ``ValueError``) with one
sentence naming the file, the line or column when known, and what to do.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ProseFileError, SequenceFileError

MAX_FILE_BYTES = 200 * 1024 * 1024
"""Files larger than this are refused before reading."""

PROSE_THRESHOLD = 0.9
"""Share of non-empty lines that must be numeric for a ``.txt`` to count as numbers."""

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null"})
"""Lower-cased field values treated as missing."""

_SAMPLE_ROWS = 200
_SNIFF_ROWS = 50
_TABLE_SUFFIXES = {".csv", ".tsv"}

_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_TIME = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
_DATE_RE = re.compile(
    r"^(?:"
    rf"\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}(?:[T ]{_TIME})?(?:Z|[+-]\d{{2}}:?\d{{2}})?"
    rf"|\d{{1,2}}[-/.]\d{{1,2}}[-/.]\d{{2,4}}(?:[T ]{_TIME})?"
    rf"|{_TIME}(?:\s?[AaPp][Mm])?"
    r"|\d{4}-\d{2}"
    r")$"
)
_DECIMAL_COMMA_RE = re.compile(r"^[+-]?\d+,\d+(?:[eE][+-]?\d+)?$")


# --------------------------------------------------------------------------- results


@dataclass
class SequenceData:
    """A numeric series loaded from a file.

    Attributes
    ----------
    values : ndarray
        ``float64`` array of shape ``(N, m)``; never NaN or infinite.
    columns : list of str
        The ``m`` column names.
    target_index : int
        Which of the ``m`` columns is predicted.
    n_missing : int
        Missing cells (in the chosen columns) that were filled or dropped.
    path : str
        The file path.
    missing : str
        ``"interpolate"`` or ``"drop"``.
    n_dropped_rows : int
        Rows removed by ``missing="drop"``.
    """

    values: np.ndarray
    columns: list
    target_index: int = -1
    n_missing: int = 0
    path: str = ""
    missing: str = "interpolate"
    n_dropped_rows: int = 0

    def __post_init__(self) -> None:
        if self.target_index < 0:
            self.target_index += len(self.columns)

    @property
    def n_rows(self) -> int:
        """Number of time steps ``N``."""
        return int(self.values.shape[0])

    @property
    def target_name(self) -> str:
        """Name of the predicted column."""
        return self.columns[self.target_index]


@dataclass
class TextCorpus:
    """A prose text split into tokens.

    Attributes
    ----------
    tokens : list of str
        The text as characters (``level="char"``) or words and punctuation.
    vocab : list of str
        Sorted distinct tokens.
    ids : ndarray
        ``int64`` token ids, one per token.
    path : str
        File path (or example name).
    level : str
        ``"char"`` or ``"word"``.
    """

    tokens: list
    vocab: list
    ids: np.ndarray
    path: str = ""
    level: str = "char"
    index: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.index:
            self.index = {t: i for i, t in enumerate(self.vocab)}

    @classmethod
    def from_string(cls, text: str, level: str = "char", path: str = "") -> "TextCorpus":
        """Build a corpus from a string (no file checks beyond token count)."""
        if level not in ("char", "word"):
            raise SequenceFileError(f'Text level must be "char" or "word", not {level!r}.')
        tokens = _tokenize(text, level)
        vocab = sorted(set(tokens))
        index = {t: i for i, t in enumerate(vocab)}
        ids = np.fromiter((index[t] for t in tokens), dtype=np.int64, count=len(tokens))
        return cls(tokens=tokens, vocab=vocab, ids=ids, path=str(path), level=level, index=index)

    @property
    def vocab_size(self) -> int:
        """Number of distinct tokens ``V``."""
        return len(self.vocab)

    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text``; raises :class:`SequenceFileError` for unknown tokens."""
        out = []
        for t in _tokenize(text, self.level):
            try:
                out.append(self.index[t])
            except KeyError:
                raise SequenceFileError(
                    f"The token {t!r} is not in the vocabulary of {Path(self.path).name or 'the text'}; "
                    "use only tokens that occur in the training text."
                ) from None
        return np.asarray(out, dtype=np.int64)

    def decode(self, ids) -> str:
        """Text for a sequence of ids (words are joined with spaces)."""
        toks = [self.vocab[int(i)] for i in np.asarray(ids, dtype=np.int64).ravel()]
        return ("" if self.level == "char" else " ").join(toks)

    def one_hot(self, ids) -> np.ndarray:
        """One-hot ``float64`` array of shape ``ids.shape + (V,)``."""
        ids = np.asarray(ids, dtype=np.int64)
        v = len(self.vocab)
        if ids.size and (ids.min() < 0 or ids.max() >= v):
            raise SequenceFileError(f"Token ids must lie in 0..{v - 1}; got a value outside that range.")
        out = np.zeros(ids.shape + (v,), dtype=np.float64)
        np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
        return out


def _tokenize(text: str, level: str) -> list:
    if level == "char":
        return list(text)
    return re.findall(r"\w+|[^\w\s]", text)


# --------------------------------------------------------------------------- file access


def _fail(msg: str) -> SequenceFileError:
    return SequenceFileError(msg)


def _path_and_name(path) -> tuple[Path, str]:
    try:
        p = Path(os.fspath(path))
    except TypeError:
        raise _fail(f"{path!r} is not a file path; pass the path of a data file as a string.") from None
    return p, (p.name or str(p))


def _read_bytes(p: Path, name: str) -> bytes:
    """Check existence, type, size and permission, then read the whole file."""
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise _fail(f"The file {name} was not found; check the path and try again.") from None
    except PermissionError:
        raise _fail(f"You do not have permission to open {name}; check the folder's permissions.") from None
    except (OSError, ValueError) as exc:
        raise _fail(f"The file {name} cannot be opened ({exc.__class__.__name__}); check the path.") from None
    if stat.S_ISDIR(st.st_mode):
        raise _fail(f"{name} is a folder, not a file; choose a data file inside it.")
    if not stat.S_ISREG(st.st_mode):
        raise _fail(f"{name} is not a regular file; choose an ordinary data file.")
    limit = MAX_FILE_BYTES
    if st.st_size > limit:
        raise _fail(
            f"The file {name} is {st.st_size / 2**20:.1f} MB, over the {limit / 2**20:.0f} MB limit; "
            "use a shorter excerpt of the data."
        )
    try:
        with open(p, "rb") as fh:
            data = fh.read(limit + 1)
    except PermissionError:
        raise _fail(
            f"You do not have permission to read {name}; change its permissions or copy it somewhere readable."
        ) from None
    except OSError as exc:
        raise _fail(f"The file {name} could not be read ({exc.strerror or exc}); check the file.") from None
    if len(data) > limit:
        raise _fail(f"The file {name} is over the {limit / 2**20:.0f} MB limit; use a shorter excerpt of the data.")
    return data


def _decode(data: bytes, name: str) -> str:
    """Bytes to text: refuse empty, NUL, non-UTF-8 and control characters; normalise newlines."""
    if not data.strip():
        raise _fail(f"The file {name} is empty; choose a file that contains data.")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise _fail(
            f"The file {name} contains NUL bytes (line {line}), so it is binary or not UTF-8; "
            "save it as UTF-8 text."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _fail(
            f"The file {name} is not UTF-8 text (undecodable byte on line {line}); save it as UTF-8 text."
        ) from None
    m = _CONTROL_RE.search(text)
    if m:
        line = text.count("\n", 0, m.start()) + 1
        raise _fail(
            f"The file {name} contains control characters (line {line}), so it looks binary; "
            "choose a text or CSV file."
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise _fail(f"The file {name} is empty; choose a file that contains data.")
    return text


# --------------------------------------------------------------------------- tokens


def _kind(tok: str) -> str:
    """Classify one field: 'missing', 'num', 'date' or 'text'."""
    t = _unquote(tok)
    if t.lower() in MISSING_TOKENS:
        return "missing"
    try:
        float(t)
        return "num"
    except ValueError:
        pass
    if _DATE_RE.match(t):
        return "date"
    if _DECIMAL_COMMA_RE.match(t):
        return "num"
    return "text"


def _unquote(tok: str) -> str:
    t = tok.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        t = t[1:-1].strip()
    return t


class _BadValue(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _parse_value(tok: str, decimal_comma: bool) -> float:
    t = _unquote(tok)
    if t.lower() in MISSING_TOKENS:
        return np.nan
    try:
        x = float(t)
    except ValueError:
        if decimal_comma and _DECIMAL_COMMA_RE.match(t):
            x = float(t.replace(",", "."))
        else:
            raise _BadValue("text") from None
    if x != x:
        return np.nan
    if x in (np.inf, -np.inf):
        raise _BadValue("inf" if "inf" in t.lower() else "overflow")
    return x


def _split(line: str, delim, name: str, lineno: int) -> list:
    if delim is None:
        return line.split()
    if '"' in line:
        try:
            return next(csv.reader([line], delimiter=delim, strict=True))
        except (csv.Error, StopIteration):
            raise _fail(
                f"Line {lineno} of {name} has an unmatched quote; close the quote or remove it."
            ) from None
    return line.split(delim)


def _sniff(lines: list):
    n = len(lines)
    for d in ("\t", ";", ","):
        if sum(d in ln for ln in lines) * 2 >= n:
            return d
    return None


def _short(tok: str) -> str:
    t = tok.strip()
    return repr(t if len(t) <= 30 else t[:27] + "...")


# --------------------------------------------------------------------------- tables


@dataclass
class _Table:
    lines: list
    delim: object
    names: list
    kinds: list
    header: bool
    data_start: int  # index into lines of the first line after the header
    sample: list  # (lineno, fields) of data rows in the sample


def _inspect(text: str, name: str) -> _Table:
    lines = text.split("\n")
    raw = []
    for i, ln in enumerate(lines):
        s = ln.strip()
        if s and not s.startswith("#"):
            raw.append((i, ln))
            if len(raw) > _SAMPLE_ROWS:
                break
    if not raw:
        raise _fail(f"The file {name} has no data (only blank or comment lines); choose a file that contains data.")
    delim = _sniff([ln for _, ln in raw[:_SNIFF_ROWS]])
    rows = [(i + 1, _split(ln, delim, name, i + 1)) for i, ln in raw]
    first = [_kind(f) for f in rows[0][1]]
    header = False
    if "text" in first:
        if "num" not in first or len(rows) == 1:
            header = True
        else:
            for j, k in enumerate(first):
                if k != "text":
                    continue
                below = [_kind(r[j]) for _, r in rows[1:51] if j < len(r)]
                if below and sum(b != "text" for b in below) * 2 > len(below):
                    header = True
                    break
    data_rows = rows[1:] if header else rows
    if header:
        names = [_unquote(f) or f"column {j + 1}" for j, f in enumerate(rows[0][1])]
        if (
            delim is None
            and len(names) > 1
            and data_rows
            and all(len(r) == 1 for _, r in data_rows)
        ):
            names = [" ".join(names)]
        data_start = raw[0][0] + 1
    else:
        ncols0 = len(rows[0][1])
        names = ["value"] if ncols0 == 1 else [f"column {j + 1}" for j in range(ncols0)]
        data_start = raw[0][0]
    ncols = len(names)
    kinds = []
    for j in range(ncols):
        cnt = {"num": 0, "date": 0, "text": 0, "missing": 0}
        for _, r in data_rows:
            if len(r) == ncols:
                cnt[_kind(r[j])] += 1
        if cnt["num"] + cnt["date"] + cnt["text"] == 0:
            kinds.append("empty")
        elif cnt["date"] and cnt["date"] >= max(cnt["num"], cnt["text"]):
            kinds.append("date")
        elif cnt["num"] >= cnt["text"]:
            kinds.append("num")
        else:
            kinds.append("text")
    return _Table(lines, delim, names, kinds, header, data_start, data_rows)


def _line_is_numeric(fields: list) -> bool:
    return all(_kind(f) != "text" for f in fields)


def _prose_check(tab: _Table, name: str, full: bool) -> None:
    """Raise if fewer than PROSE_THRESHOLD of the non-empty lines are numeric."""
    if full:
        total = good = 0
        for i in range(tab.data_start, len(tab.lines)):
            s = tab.lines[i].strip()
            if not s or s.startswith("#"):
                continue
            total += 1
            try:
                fields = _split(tab.lines[i], tab.delim, name, i + 1)
            except SequenceFileError:
                continue
            good += _line_is_numeric(fields)
    else:
        total = len(tab.sample)
        good = sum(_line_is_numeric(f) for _, f in tab.sample)
    if total and good < PROSE_THRESHOLD * total:
        raise ProseFileError(
            f"The file {name} looks like prose, not numbers (only {100 * good / total:.0f}% of its lines are "
            f"numeric, {100 * PROSE_THRESHOLD:.0f}% needed); open it in text mode instead."
        )


def _resolve_columns(columns, names: list, kinds: list, name: str) -> list:
    """Map the ``columns`` argument to 0-based indices into ``names``."""
    if columns is None:
        nums = [j for j, k in enumerate(kinds) if k == "num"]
        if nums:
            return [nums[-1]]
        texts = [j for j, k in enumerate(kinds) if k == "text"]
        if texts:
            return [texts[-1]]  # parsing it names the first bad line
        empties = [j for j, k in enumerate(kinds) if k == "empty"]
        if empties:
            return [empties[-1]]  # parsing it reports 'all missing'
        raise _fail(
            f"The file {name} has only date or time columns and no numeric column; add a column of values."
        )
    items = list(columns) if isinstance(columns, (list, tuple)) else [columns]
    if not items:
        raise _fail(f"No columns were chosen for {name}; pick at least one column.")
    out = []
    for c in items:
        j = _find_column(c, names, name)
        if kinds[j] == "date":
            raise _fail(
                f"Column {names[j]!r} of {name} holds dates or times, not values; choose a numeric column."
            )
        if j in out:
            raise _fail(f"Column {names[j]!r} of {name} was chosen twice; choose each column once.")
        out.append(j)
    return out


def _lookup(key, names: list):
    """Index of ``key`` (an int, negatives from the end, or a name, exact then case-insensitive)
    in ``names``; None when it is not there; TypeError for other kinds of key."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        j = int(key)
        return j % len(names) if -len(names) <= j < len(names) else None
    if isinstance(key, str):
        if key in names:
            return names.index(key)
        low = [n.strip().lower() for n in names]
        k = key.strip().lower()
        return low.index(k) if k in low else None
    raise TypeError(type(key).__name__)


def _find_column(c, names: list, name: str) -> int:
    listing = ", ".join(repr(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
    try:
        j = _lookup(c, names)
    except TypeError:
        raise _fail(f"Columns of {name} are chosen by name or 0-based index, not by {type(c).__name__}.") from None
    if j is not None:
        return j
    if isinstance(c, (int, np.integer)):
        j = int(c)
        raise _fail(
            f"The file {name} has {len(names)} column(s), so there is no column {j}; "
            f"use an index from 0 to {len(names) - 1} or a name ({listing})."
        )
    raise _fail(f"The file {name} has no column named {c!r}; its columns are {listing}.")


def _fast_parse(tab: _Table, sel: list, prose_mode: bool, lenient: bool = False):
    """numpy.loadtxt on a clean file; None when anything is irregular.

    With ``lenient`` the chosen columns go through a converter that turns missing
    markers into NaN (slower, but still far faster than the Python parser).
    """
    if prose_mode and "text" in tab.kinds:
        return None
    ncols = len(tab.names)
    conv = {j: _zero for j, k in enumerate(tab.kinds) if k != "num" and j not in sel}
    if lenient:
        for j, k in enumerate(tab.kinds):
            if j in sel or (k == "num" and prose_mode):
                conv[j] = _lenient_float
            elif j not in sel:
                conv[j] = _zero
    if tab.delim is None and ncols == 1 and tab.header and len(tab.sample) and len(tab.sample[0][1]) != 1:
        return None
    try:
        arr = np.loadtxt(
            tab.lines[tab.data_start:],
            delimiter=tab.delim,
            comments="#",
            quotechar='"',
            dtype=np.float64,
            ndmin=2,
            converters=conv or None,
        )
    except Exception:  # noqa: BLE001 - any irregularity goes to the careful parser
        return None
    if arr.shape[0] == 0 or arr.shape[1] != ncols:
        return None
    vals = np.ascontiguousarray(arr[:, sel])
    if np.isinf(vals).any() or (not lenient and np.isnan(vals).any()):
        return None
    return vals


def _zero(_s) -> float:
    return 0.0


def _lenient_float(s: str) -> float:
    t = s.strip()
    if t.lower() in MISSING_TOKENS:
        return np.nan
    return float(t)  # ValueError sends the file to the careful parser


def _slow_parse(tab: _Table, sel: list, name: str) -> np.ndarray:
    ncols = len(tab.names)
    decimal_comma = tab.delim == ";"
    rows = []
    first_line = None
    for i in range(tab.data_start, len(tab.lines)):
        ln = tab.lines[i]
        s = ln.strip()
        if not s or s.startswith("#"):
            continue
        lineno = i + 1
        if first_line is None:
            first_line = lineno
        fields = _split(ln, tab.delim, name, lineno)
        if len(fields) != ncols:
            ref = "the header has" if tab.header else f"line {first_line} has"
            raise _fail(
                f"Line {lineno} of {name} has {len(fields)} field(s) but {ref} {ncols}; "
                "make every row have the same number of fields."
            )
        row = []
        for j in sel:
            try:
                row.append(_parse_value(fields[j], decimal_comma))
            except _BadValue as bad:
                col = tab.names[j]
                if bad.reason == "inf":
                    raise _fail(
                        f"Column {col!r} of {name} has an infinite value on line {lineno}; "
                        "replace it with a finite number or leave it empty (missing)."
                    ) from None
                if bad.reason == "overflow":
                    raise _fail(
                        f"Column {col!r} of {name} has a value too large for a float on line {lineno} "
                        f"({_short(fields[j])}); rescale the data or fix that value."
                    ) from None
                advice = (
                    "fix that value or choose another column"
                    if "num" in tab.kinds
                    else "the file has no numeric column, so choose a file of numbers or open it in text mode"
                )
                raise _fail(
                    f"Column {col!r} of {name} is not numeric: line {lineno} holds {_short(fields[j])}; {advice}."
                ) from None
        rows.append(row)
    if not rows:
        raise _fail(f"The file {name} has a header row but no data rows; add data below the header.")
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(sel))


# --------------------------------------------------------------------------- NPY


def _load_npy(data: bytes, name: str) -> np.ndarray:
    if not data.startswith(b"\x93NUMPY"):
        raise _fail(f"The file {name} is not a valid NPY file (no NPY signature); save the array with numpy.save.")
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - numpy raises many kinds for corrupt files
        reason = str(exc).split("\n")[0][:80] or exc.__class__.__name__
        raise _fail(
            f"The file {name} could not be read as an NPY file ({reason}); re-save it with numpy.save."
        ) from None
    if not isinstance(arr, np.ndarray):
        raise _fail(f"The file {name} is not a single NPY array; save one array with numpy.save.")
    dt = arr.dtype
    if dt.names is not None or dt.fields is not None:
        raise _fail(f"The file {name} holds a structured (record) array; save a plain numeric array.")
    if dt.kind == "c":
        raise _fail(f"The file {name} holds complex numbers; save the real part (or real and imaginary columns).")
    if dt.kind == "O":
        raise _fail(f"The file {name} holds Python objects; save a plain numeric array.")
    if dt.kind not in "biuf":
        raise _fail(f"The file {name} holds {dt} values, not numbers; save a numeric array.")
    if arr.ndim == 0:
        raise _fail(f"The file {name} holds a single number; save a 1-D series or a 2-D table.")
    if arr.ndim > 2:
        raise _fail(
            f"The file {name} is {arr.ndim}-D (shape {arr.shape}); save a 1-D series or a 2-D table "
            "with one row per time step."
        )
    if arr.size == 0:
        raise _fail(f"The file {name} holds an empty array; save an array with data.")
    a = arr.astype(np.float64)
    if a.ndim == 1:
        a = a[:, None]
    return a


def _check_inf_array(a: np.ndarray, names: list, name: str) -> None:
    bad = np.isinf(a)
    if bad.any():
        r, c = (int(v) for v in np.argwhere(bad)[0])
        raise _fail(
            f"Column {names[c]!r} of {name} has an infinite value at row {r}; replace it with a finite number."
        )


# --------------------------------------------------------------------------- public


def load_sequence(path, columns=None, target=None, missing: str = "interpolate") -> SequenceData:
    """Load a numeric series from CSV, TSV, TXT or NPY.

    Parameters
    ----------
    path : str or PathLike
        The file.
    columns : str, int or list of them, optional
        Columns to use, by name or 0-based index. Default: the last numeric column.
    target : str or int, optional
        The predicted column, by name or index among the chosen columns. Default: the last.
    missing : {"interpolate", "drop"}
        How to handle missing values.

    Returns
    -------
    SequenceData

    Raises
    ------
    SequenceFileError
        For any problem with the file or the arguments.
    """
    p, name = _path_and_name(path)
    if missing not in ("interpolate", "drop"):
        raise _fail(f'Missing values in {name} can be handled by "interpolate" or "drop", not {missing!r}.')
    data = _read_bytes(p, name)
    try:
        return _load_sequence_bytes(p, name, data, columns, target, missing)
    except SequenceFileError:
        raise
    except MemoryError:
        raise _fail(f"The file {name} is too large to load into memory; use a shorter excerpt.") from None
    except Exception as exc:  # noqa: BLE001 - last-resort guard: only SequenceFileError may escape
        raise _fail(f"The file {name} could not be read ({exc.__class__.__name__}: {exc}); check its format.") from None


def _load_sequence_bytes(p: Path, name: str, data: bytes, columns, target, missing) -> SequenceData:
    suffix = p.suffix.lower()
    if suffix == ".npz":
        raise _fail(f"The file {name} is an NPZ archive; save a single array with numpy.save (.npy).")
    if suffix == ".npy" or data.startswith(b"\x93NUMPY"):
        a = _load_npy(data, name)
        names = ["value"] if a.shape[1] == 1 else [f"column {j + 1}" for j in range(a.shape[1])]
        sel = _resolve_columns(columns, names, ["num"] * len(names), name)
        vals = np.ascontiguousarray(a[:, sel])
        chosen = [names[j] for j in sel]
        _check_inf_array(vals, chosen, name)
    else:
        text = _decode(data, name)
        tab = _inspect(text, name)
        prose_mode = suffix not in _TABLE_SUFFIXES
        if prose_mode:
            _prose_check(tab, name, full=False)
        if not tab.sample:
            raise _fail(f"The file {name} has a header row but no data rows; add data below the header.")
        sel = _resolve_columns(columns, tab.names, tab.kinds, name)
        chosen = [tab.names[j] for j in sel]
        vals = _fast_parse(tab, sel, prose_mode)
        if vals is None:
            vals = _fast_parse(tab, sel, prose_mode, lenient=True)
        if vals is None:
            if prose_mode:
                _prose_check(tab, name, full=True)
            vals = _slow_parse(tab, sel, name)
    tidx = _resolve_target(target, chosen, name)
    vals, n_missing, n_dropped = _fill_missing(vals, chosen, missing, name)
    return SequenceData(
        values=vals,
        columns=list(chosen),
        target_index=tidx,
        n_missing=n_missing,
        path=str(p),
        missing=missing,
        n_dropped_rows=n_dropped,
    )


def _resolve_target(target, chosen: list, name: str) -> int:
    if target is None:
        return len(chosen) - 1
    try:
        t = _lookup(target, chosen)
    except TypeError:
        raise _fail(f"The target column of {name} is chosen by name or index, not by {type(target).__name__}.") from None
    if t is not None:
        return t
    if isinstance(target, (int, np.integer)):
        raise _fail(
            f"The target index {int(target)} is out of range for the {len(chosen)} chosen column(s) of {name}; "
            f"use 0 to {len(chosen) - 1}."
        )
    raise _fail(
        f"The target {target!r} is not among the chosen columns of {name} "
        f"({', '.join(repr(c) for c in chosen)}); choose one of them."
    )


def _fill_missing(vals: np.ndarray, chosen: list, missing: str, name: str):
    mask = np.isnan(vals)
    n_missing = int(mask.sum())
    if n_missing == 0:
        return vals, 0, 0
    for k, col in enumerate(chosen):
        if mask[:, k].all():
            raise _fail(f"Column {col!r} of {name} has no values (all missing); choose another column.")
    if missing == "drop":
        keep = ~mask.any(axis=1)
        n_dropped = int((~keep).sum())
        if not keep.any():
            raise _fail(
                f"Every row of {name} has a missing value in the chosen columns, so dropping leaves nothing; "
                'use missing="interpolate" or choose other columns.'
            )
        return np.ascontiguousarray(vals[keep]), n_missing, n_dropped
    out = vals.copy()
    idx = np.arange(vals.shape[0], dtype=np.float64)
    for k in range(vals.shape[1]):
        m = mask[:, k]
        if m.any():
            out[m, k] = np.interp(idx[m], idx[~m], vals[~m, k])
    return out, n_missing, 0


def load_text(path, level: str = "char") -> TextCorpus:
    """Load a UTF-8 text file as a token sequence.

    Parameters
    ----------
    path : str or PathLike
        The file.
    level : {"char", "word"}
        Characters, or words with punctuation as separate tokens.

    Returns
    -------
    TextCorpus

    Raises
    ------
    SequenceFileError
        Empty, binary, non-UTF-8, over the size limit, or fewer than 3 tokens.
    """
    p, name = _path_and_name(path)
    if level not in ("char", "word"):
        raise _fail(f'Text level for {name} must be "char" or "word", not {level!r}.')
    data = _read_bytes(p, name)
    try:
        text = _decode(data, name)
        corpus = TextCorpus.from_string(text, level=level, path=str(p))
    except SequenceFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - only SequenceFileError may escape
        raise _fail(f"The file {name} could not be read as text ({exc.__class__.__name__}); check the file.") from None
    if len(corpus.tokens) < 3:
        unit = "characters" if level == "char" else "words"
        raise _fail(
            f"The file {name} has only {len(corpus.tokens)} {unit}; a text needs at least 3 tokens to learn from."
        )
    return corpus

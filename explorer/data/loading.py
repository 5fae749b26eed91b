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
import errno
import io
import itertools
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from explorer.util.ram import MemoryBudgetError

from . import guess
from .errors import DataMemoryError, ProseFileError, SequenceFileError, check_budget, safe_name, safe_text
from .timeaxis import (fill_nan_linear, is_month_name, is_named_date, is_year_name, parse_times, plausible_months,
                       plausible_years, time_format, year_month_layout)

MAX_FILE_BYTES = 200 * 1024 * 1024
"""Files larger than this are refused before reading."""

PROSE_THRESHOLD = 0.9
"""Share of non-empty lines that must be numeric for a ``.txt`` to count as numbers."""

MAX_ABS_VALUE = 1e150
"""Larger magnitudes are refused: a squared error in the column's own units would overflow."""

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", ".", "?", "-", "--", "#n/a", "n.a."})
"""Lower-cased field values treated as missing (FRED writes ``.``, UCI files ``?``, Excel ``#N/A``)."""

_MAX_PREAMBLE = 20
_MAX_FOOTER = 10

_SAMPLE_ROWS = 200
_SNIFF_ROWS = 50
_TABLE_SUFFIXES = {".csv", ".tsv"}

_NOT_CONTROL = bytes(b for b in range(256) if not (b <= 0x08 or 0x0E <= b <= 0x1F or b == 0x7F))
_TIME = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
_DATE_RE = re.compile(
    r"^(?:"
    rf"\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}(?:[T ]{_TIME}(?:\s?[AaPp]\.?[Mm]\.?)?)?(?:Z|[+-]\d{{2}}:?\d{{2}}|\s?UTC|\s?GMT)?"
    rf"|\d{{1,2}}[-/.]\d{{1,2}}[-/.]\d{{2,4}}(?:[T ]{_TIME}(?:\s?[AaPp]\.?[Mm]\.?)?)?(?:\s?UTC|\s?GMT)?"
    rf"|{_TIME}(?:\s?[AaPp][Mm])?"
    r"|\d{4}-\d{2}"
    r")$"
)
_DECIMAL_COMMA_RE = re.compile(r"^[+-]?\d+,\d+(?:[eE][+-]?\d+)?$")
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")           # 1,234,567.5 (quoted in a CSV)
_THOUSANDS_EU_RE = re.compile(r"^[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?$")        # 1.234.567,5 (in a ; file)


# --------------------------------------------------------------------------- results


@dataclass
class SequenceData:
    """A numeric series loaded from a file.

    Attributes
    ----------
    values : ndarray
        ``float64`` array of shape ``(N, m)``; never NaN or infinite, every magnitude at most
        :data:`MAX_ABS_VALUE`.
    columns : list of str
        The ``m`` chosen column names (a year × month table read as one series: one column
        named after the file).
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
    all_columns : list of str
        Every column of the file, in file order.
    column_kinds : list of str
        For each of :attr:`all_columns`: ``"numeric"``, ``"date"`` (dates, times, or the year/month
        columns that give the time axis), ``"text"`` or ``"empty"``.
    time : ndarray or None
        ``(N,)`` float64 time of every row (see :mod:`explorer.data.timeaxis` for the units), or None.
    time_label : str
        ``"year"`` (decimal years), ``"date"`` (POSIX seconds), ``"time of day"`` (seconds) or "".
    gaps : ndarray
        ``int64`` indices of the rows whose values were filled by interpolation.
    year_month : str or None
        For a year × month table: ``"series"`` (read as one monthly series) or ``"columns"``.
    segments : ndarray or None
        A long table read as several series: ``int64`` start row of each series plus the end
        (``segments[k]:segments[k + 1]`` are series ``keys[k]``'s rows, grouped in that order).
    keys, key_column : list of str, str
        The series' names and the column they came from.
    time_format : str
        How the time of a row is written out (:func:`explorer.data.timeaxis.format_times`): the
        file's own decimals for decimal years, ISO dates and date-times otherwise; "" without time.
    notes : list of str
        What the reader skipped (a title above the table, a footer below it), one phrase each.
    """

    values: np.ndarray
    columns: list
    target_index: int = -1
    n_missing: int = 0
    path: str = ""
    missing: str = "interpolate"
    n_dropped_rows: int = 0
    all_columns: list = None
    column_kinds: list = None
    time: np.ndarray | None = None
    time_label: str = ""
    gaps: np.ndarray = None
    year_month: str | None = None
    notes: list = field(default_factory=list)
    time_format: str = ""
    segments: np.ndarray | None = None
    keys: list | None = None
    key_column: str = ""

    def __post_init__(self) -> None:
        if self.target_index < 0:
            self.target_index += len(self.columns)
        if self.all_columns is None:
            self.all_columns = list(self.columns)
        if self.column_kinds is None:
            self.column_kinds = ["numeric"] * len(self.all_columns)
        if self.gaps is None:
            self.gaps = np.zeros(0, dtype=np.int64)

    @property
    def n_rows(self) -> int:
        """Number of time steps ``N``."""
        return int(self.values.shape[0])

    @property
    def target_name(self) -> str:
        """Name of the predicted column."""
        return self.columns[self.target_index]

    @property
    def numeric_columns(self) -> list:
        """The columns that can be inputs or the target (numeric, not the time axis)."""
        return [c for c, k in zip(self.all_columns, self.column_kinds) if k == "numeric"]

    @property
    def date_columns(self) -> list:
        """Columns of dates or times, and the year/month columns that make the time axis."""
        return [c for c, k in zip(self.all_columns, self.column_kinds) if k == "date"]


@dataclass
class TextCorpus:
    """A prose text split into tokens.

    Attributes
    ----------
    vocab : list of str
        Sorted distinct tokens.
    ids : ndarray
        ``int64`` token ids, one per token (the text is kept only as these ids).
    path : str
        File path (or example name).
    level : str
        ``"char"`` or ``"word"``.
    """

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
        if level == "char":
            # code points through NumPy: memory grows with the text, not with Python objects
            cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            seen = np.zeros(0x110000, dtype=bool)                # every code point: no sort needed
            seen[cps] = True
            uniq = np.flatnonzero(seen)
            lut = np.zeros(0x110000, dtype=np.int64)
            lut[uniq] = np.arange(uniq.size)
            ids = lut[cps]
            vocab = [chr(int(c)) for c in uniq]
            return cls(vocab=vocab, ids=ids, path=str(path), level=level)
        tokens = _tokenize(text, level)
        vocab = sorted(set(tokens))
        index = {t: i for i, t in enumerate(vocab)}
        ids = np.fromiter(map(index.__getitem__, tokens), dtype=np.int64, count=len(tokens))
        return cls(vocab=vocab, ids=ids, path=str(path), level=level, index=index)

    @property
    def tokens(self) -> list:
        """The text as a list of tokens (built on demand from :attr:`ids`)."""
        v = self.vocab
        return [v[i] for i in self.ids.tolist()]

    @property
    def n_tokens(self) -> int:
        """Number of tokens in the text."""
        return int(self.ids.size)

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
                    f"The token {t!r} is not in the vocabulary of {safe_name(self.path) or 'the text'}; "
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
    return _WORD_RE.findall(text)


_WORD_RE = re.compile(r"\w+|[^\w\s]")


# --------------------------------------------------------------------------- file access


def _path_and_name(path) -> tuple[Path, str]:
    try:
        p = Path(os.fspath(path))
    except TypeError:
        raise SequenceFileError(
            f"{safe_text(repr(path))} is not a file path; pass the path of a data file as a string.") from None
    return p, safe_name(p)


def _read_bytes(p: Path, name: str) -> bytes:
    """Check existence, type, size and permission, then read the whole file."""
    try:
        st = os.stat(p)
    except FileNotFoundError:
        if os.path.islink(p):
            raise SequenceFileError(
                f"The file {name} is a symbolic link to something that does not exist; "
                "point it at a real file or open the file itself.") from None
        raise SequenceFileError(f"The file {name} was not found; check the path and try again.") from None
    except PermissionError:
        raise SequenceFileError(
            f"You do not have permission to open {name}; check the folder's permissions.") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SequenceFileError(
                f"The file {name} is a symbolic link that leads back to itself (a loop); "
                "point the link at a real file.") from None
        if exc.errno == errno.ENAMETOOLONG:
            raise SequenceFileError(f"The path of {name} is too long; move the file to a shorter path.") from None
        raise SequenceFileError(
            f"The file {name} cannot be opened ({errno.errorcode.get(exc.errno, exc.__class__.__name__)}); "
            "check the path.") from None
    except ValueError:
        raise SequenceFileError(
            f"The path {name} cannot be opened (it contains a NUL character); check the path.") from None
    if stat.S_ISDIR(st.st_mode):
        raise SequenceFileError(f"{safe_name(p, full=True)} is a folder, not a file; choose a data file inside it.")
    if not stat.S_ISREG(st.st_mode):
        raise SequenceFileError(f"{name} is not a regular file; choose an ordinary data file.")
    limit = MAX_FILE_BYTES
    if st.st_size > limit:
        raise SequenceFileError(
            f"The file {name} is {st.st_size / 2**20:.1f} MB, over the {limit / 2**20:.0f} MB limit; "
            "use a shorter excerpt of the data."
        )
    try:
        with open(p, "rb") as fh:
            data = fh.read(st.st_size + 1)      # read(limit) would reserve the whole limit first
            if len(data) > st.st_size:          # the file grew since stat: read on, up to the limit
                chunks = [data]
                size = len(data)
                while size <= limit:
                    more = fh.read(min(1 << 20, limit + 1 - size))
                    if not more:
                        break
                    chunks.append(more)
                    size += len(more)
                data = b"".join(chunks)
    except PermissionError:
        raise SequenceFileError(
            f"You do not have permission to read {name}; change its permissions or copy it somewhere readable."
        ) from None
    except OSError as exc:
        raise SequenceFileError(
            f"The file {name} could not be read ({exc.strerror or exc.__class__.__name__}); check the file.") from None
    if len(data) > limit:
        raise SequenceFileError(
            f"The file {name} is over the {limit / 2**20:.0f} MB limit; use a shorter excerpt of the data.")
    return data


def _decode(data: bytes, name: str) -> str:
    """Bytes to text: refuse empty, NUL, non-UTF-8 and control characters; normalise newlines."""
    if not data or data.isspace():
        raise SequenceFileError(f"The file {name} is empty; choose a file that contains data.")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise SequenceFileError(
            f"The file {name} contains NUL bytes (line {line}), so it is binary or not UTF-8; "
            "save it as UTF-8 text."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SequenceFileError(
            f"The file {name} is not UTF-8 text (undecodable byte on line {line}); save it as UTF-8 text."
        ) from None
    controls = data.translate(None, _NOT_CONTROL)      # C speed; UTF-8 never hides these bytes
    if controls:
        line = data.count(b"\n", 0, data.index(controls[:1])) + 1
        raise SequenceFileError(
            f"The file {name} contains control characters (line {line}), so it looks binary; "
            "choose a text or CSV file."
        )
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text or text.isspace():
        raise SequenceFileError(f"The file {name} is empty; choose a file that contains data.")
    return text


def _iter_lines(text: str, offset: int = 0, lineno: int = 1):
    """(line number, line) from character ``offset`` on, lazily (no list of every line)."""
    n = len(text)
    pos = offset
    while pos < n:
        j = text.find("\n", pos)
        if j < 0:
            j = n
        yield lineno, text[pos:j]
        pos = j + 1
        lineno += 1


def _iter_data_lines(text: str, offset: int = 0, lineno: int = 1):
    """Like :func:`_iter_lines` without blank and ``#`` comment lines."""
    for k, ln in _iter_lines(text, offset, lineno):
        s = ln.strip()
        if s and not s.startswith("#"):
            yield k, ln


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
    if _DATE_RE.match(t) or is_named_date(t):
        return "date"
    if _DECIMAL_COMMA_RE.match(t) or _THOUSANDS_RE.match(t) or _THOUSANDS_EU_RE.match(t):
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
        elif decimal_comma and _THOUSANDS_EU_RE.match(t):
            x = float(t.replace(".", "").replace(",", "."))
        elif not decimal_comma and _THOUSANDS_RE.match(t):
            x = float(t.replace(",", ""))
        else:
            raise _BadValue("text") from None
    if x != x:
        return np.nan
    if x in (np.inf, -np.inf):
        raise _BadValue("inf" if "inf" in t.lower() else "overflow")
    return x


class _QuoteError(Exception):
    pass


def _split(line: str, delim) -> list:
    if delim is None:
        return line.split()
    if '"' in line:
        try:
            return next(csv.reader([line], delimiter=delim, strict=True))
        except (csv.Error, StopIteration):
            raise _QuoteError from None
    return line.split(delim)


def _quote_message(name: str, lineno: int) -> SequenceFileError:
    return SequenceFileError(f"Line {lineno} of {name} has an unmatched quote; close the quote or remove it.")


def _sniff(lines: list):
    n = len(lines)
    for d in ("\t", ";", ","):
        if sum(d in ln for ln in lines) * 2 >= n:
            return d
    return None


def _short(tok: str) -> str:
    t = tok.strip()
    return safe_name(repr(t if len(t) <= 30 else t[:27] + "..."), full=True)


# --------------------------------------------------------------------------- tables


@dataclass
class _Table:
    text: str
    delim: object
    names: list
    kinds: list  # per column: num, date, text, empty
    header: bool
    data_start: int  # 0-based line index of the first line after the header (or the sep= line)
    data_offset: int  # character offset of that line
    sample: list  # (lineno, fields) of data rows in the sample
    first_line: str = ""  # the first non-blank line (for the one-line prose check)
    time_cols: dict = field(default_factory=dict)  # column -> "date" | "year" | "month" | "epoch[_ms]" | "also"
    index_cols: set = field(default_factory=set)  # numeric columns that number the rows (1..N, R's row names)
    blank: set = field(default_factory=set)  # columns whose header is empty
    key_cols: list = field(default_factory=list)  # text columns whose sampled values repeat (a long table's key?)
    year_month: tuple | None = None  # (year column, [12 month columns]) of a year × month table
    notes: list = field(default_factory=list)  # what the reader skipped, for the status bar


def _inspect(text: str, name: str, prose_mode: bool) -> _Table:
    raw = []
    offsets = {}
    sep_hint = None
    pos_iter = _iter_lines_with_offsets(text)
    for i, off, ln in pos_iter:
        s = ln.strip()
        if not s or s.startswith("#"):
            continue
        hint = _SEP_RE.match(ln.strip(" \r\n")) if not raw and sep_hint is None else None
        if hint:
            sep_hint = hint.group(1)
            continue
        raw.append((i, ln))
        offsets[i] = off
        if len(raw) > _SAMPLE_ROWS:
            break
    if not raw:
        raise SequenceFileError(
            f"The file {name} has no data (only blank or comment lines); choose a file that contains data.")
    delim = sep_hint if sep_hint is not None else _sniff([ln for _, ln in raw[:_SNIFF_ROWS]])
    rows = []
    for i, ln in raw:
        try:
            rows.append((i + 1, _split(ln, delim)))
        except _QuoteError:
            if not prose_mode:
                raise _quote_message(name, i + 1) from None
            rows.append((i + 1, [ln]))
    skipped = _preamble(rows, delim)
    if skipped:
        rows, raw = rows[skipped:], raw[skipped:]
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
        if delim is None and len(names) > 1 and data_rows and all(len(r) == 1 for _, r in data_rows):
            names = [" ".join(names)]
        data_start = raw[0][0] + 1
        data_offset = offsets[raw[0][0]] + len(raw[0][1]) + 1
    else:
        ncols0 = len(rows[0][1])
        names = ["value"] if ncols0 == 1 else [f"column {j + 1}" for j in range(ncols0)]
        data_start = raw[0][0]
        data_offset = offsets[raw[0][0]]
    names = _unique_names(names)
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
    tab = _Table(text, delim, names, kinds, header, data_start, data_offset, data_rows,
                 first_line=raw[0][1].strip())
    if header:
        tab.blank = {j for j, f in enumerate(rows[0][1]) if not _unquote(f)}
    if skipped:
        tab.notes.append(f"skipped {skipped} line(s) above the table (a title or notes)")
    _find_time_columns(tab)
    return tab


def _preamble(rows: list, delim) -> int:
    """How many leading rows are a title or notes above a delimited table: the rows before the
    header, which is the row of words just above the first row with a number in it (that row's
    field count being the table's, the most common count further down)."""
    if delim is None or len(rows) < 4:
        return 0
    later = [len(f) for _, f in rows[min(10, len(rows) // 2):]]
    mode = max(set(later), key=later.count)
    if mode < 2:
        return 0
    d = next((i for i, (_, f) in enumerate(rows[:_MAX_PREAMBLE + 2])
              if len(f) == mode and any(_kind(x) == "num" for x in f)), None)
    if not d:
        return 0
    k = d - 1 if len(rows[d - 1][1]) == mode and all(_kind(x) != "num" for x in rows[d - 1][1]) else d
    return k if k and not any(_line_is_numeric(f) for _, f in rows[:k]) else 0


_SEP_RE = re.compile(r'^"?sep=(.)"?,*$', re.IGNORECASE)


def _iter_lines_with_offsets(text: str):
    n = len(text)
    pos = 0
    i = 0
    while pos < n:
        j = text.find("\n", pos)
        if j < 0:
            j = n
        yield i, pos, text[pos:j]
        pos = j + 1
        i += 1


def _unique_names(names: list) -> list:
    """Header names made distinct ("x", "x" → "x", "x (2)") so every column can be named."""
    seen = {}
    out = []
    for n in names:
        k = seen.get(n, 0) + 1
        seen[n] = k
        out.append(n if k == 1 else f"{n} ({k})")
    return out


def _sample_column(tab: _Table, j: int) -> np.ndarray:
    vals = []
    for _, r in tab.sample:
        if j < len(r):
            try:
                vals.append(_parse_value(r[j], tab.delim == ";"))
            except _BadValue:
                vals.append(np.nan)
    return np.asarray(vals, dtype=np.float64)


def _find_time_columns(tab: _Table) -> None:
    """Which columns give the time axis: date/time columns, a YEAR column (+ a MONTH column), a
    column of decimal years (:mod:`explorer.data.guess`); without a header, a first column of years
    (1000–2999) followed by one of months 1–12. Also which columns number the rows (an index)."""
    for j, k in enumerate(tab.kinds):
        if k == "date":
            tab.time_cols[j] = "date"
        elif k == "num":
            v = _sample_column(tab, j)
            if len(tab.kinds) > 1 and guess.is_index_column(tab.names[j], v, first=j == 0, blank=j in tab.blank):
                tab.index_cols.add(j)
    _find_key_columns(tab)
    _find_year_columns(tab)
    for j, k in enumerate(tab.kinds):
        if tab.header and k == "num" and j not in tab.index_cols and not tab.time_cols:
            unit = guess.epoch_unit(tab.names[j], _sample_column(tab, j))
            if unit is not None:
                tab.time_cols[j] = "epoch" if unit == 1.0 else "epoch_ms"
                break
    values = [j for j, k in enumerate(tab.kinds) if k == "num" and j not in tab.index_cols and j not in tab.time_cols]
    for j in values if tab.header or tab.year_month is None else ():
        if guess.is_decimal_year_column(tab.names[j] if tab.header else "", _sample_column(tab, j),
                                        named_only=j != values[0] or len(values) < 2, restarts=bool(tab.key_cols)):
            # the time axis, or the time written once more (a decimal year beside YEAR and MONTH)
            has_axis = any(k in ("date", "year") for k in tab.time_cols.values())
            tab.time_cols[j] = "also" if has_axis else "year"
            break


def _find_key_columns(tab: _Table) -> None:
    """Text columns whose sampled values repeat: each may name the series of a long table (the
    whole column decides, :func:`explorer.data.guess.find_key`)."""
    if len(tab.names) < 2:
        return
    for j, k in enumerate(tab.kinds):
        if k == "text":
            seen = {_unquote(r[j]) for _, r in tab.sample if j < len(r)}
            if seen and len(seen) <= max(1, len(tab.sample) // 3):
                tab.key_cols.append(j)


def _find_grid(tab: _Table) -> bool:
    """A file without a header of 12 (or 4) numbers a line, maybe after a column of years, that is
    one series written row by row (:func:`explorer.data.guess.grid_reads_as_series`)."""
    w = len(tab.kinds)
    if tab.header or not all(k == "num" for k in tab.kinds) or len(tab.sample) < 2:
        return False
    first = _sample_column(tab, 0)
    yearly = (w - 1 in guess.GRID_WIDTHS and plausible_years(first) and np.nanmin(first) >= 1000
              and np.nanmax(first) < 3000 and np.all(np.diff(first[np.isfinite(first)]) == 1))
    cols = list(range(1, w)) if yearly else list(range(w)) if w in guess.GRID_WIDTHS else None
    if cols is None or not guess.grid_reads_as_series(np.column_stack([_sample_column(tab, j) for j in cols])):
        return False
    tab.year_month = (0 if yearly else None, cols)
    tab.index_cols.discard(0)
    if yearly:
        tab.time_cols[0] = "year"
    return True


def _find_year_columns(tab: _Table) -> None:
    if _find_grid(tab):
        return
    if not tab.header:
        if len(tab.kinds) > 2 and tab.kinds[0] == tab.kinds[1] == "num":
            y, m = _sample_column(tab, 0), _sample_column(tab, 1)
            if plausible_years(y) and np.nanmin(y) >= 1000 and np.nanmax(y) < 3000 and plausible_months(m):
                tab.time_cols[0], tab.time_cols[1] = "year", "month"
        return
    tab.year_month = year_month_layout(tab.names)
    if tab.year_month is not None and tab.kinds[tab.year_month[0]] == "num":
        tab.time_cols[tab.year_month[0]] = "year"
        return
    tab.year_month = None
    for j, n in enumerate(tab.names):
        if tab.kinds[j] == "num" and is_year_name(n) and plausible_years(_sample_column(tab, j),
                                                                            ordered=not tab.key_cols):
            tab.time_cols[j] = "year"
            for jm, nm in enumerate(tab.names):
                if tab.kinds[jm] == "num" and is_month_name(nm) and plausible_months(_sample_column(tab, jm)):
                    tab.time_cols[jm] = "month"
                    break
            break


def _public_kinds(tab: _Table) -> list:
    out = []
    for j, k in enumerate(tab.kinds):
        if j in tab.time_cols:
            out.append("date")
        elif j in tab.index_cols:
            out.append("index")
        else:
            out.append({"num": "numeric"}.get(k, k))
    return out


def _line_is_numeric(fields: list) -> bool:
    return all(_kind(f) != "text" for f in fields)


def _looks_like_sentence(line: str) -> bool:
    return len(line.split()) >= 2


def _prose_check(tab: _Table, name: str, full: bool) -> None:
    """Raise ProseFileError if fewer than PROSE_THRESHOLD of the non-empty lines are numeric."""
    if tab.header and not tab.sample:
        if _looks_like_sentence(tab.first_line):
            raise ProseFileError(
                f"The file {name} holds one line of text, not numbers; open it in text mode to learn from it.")
        return
    if full:
        total = good = 0
        for lineno, ln in _iter_data_lines(tab.text, tab.data_offset, tab.data_start + 1):
            total += 1
            try:
                fields = _split(ln, tab.delim)
            except _QuoteError:
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


def _value_columns(tab: _Table) -> list:
    """The numeric columns that may be the default target: not the time axis, not an index."""
    return [j for j, k in enumerate(tab.kinds) if k == "num" and j not in tab.time_cols and j not in tab.index_cols
            and not (tab.header and guess.is_time_name(tab.names[j]))]


def _default_target(tab: _Table, cands: list, values: np.ndarray) -> tuple[int, str]:
    """(column of the file, why) of the default target among ``cands`` whose ``values`` (rows ×
    len(cands)) are given: :func:`explorer.data.guess.choose_target`."""
    traits = [guess.column_traits(values[:, k]) for k in range(len(cands))]
    k, why = guess.choose_target([tab.names[j] for j in cands], traits)
    return cands[k], why


def _resolve_columns(columns, names: list, kinds: list, name: str, tab=None) -> list:
    """Map the ``columns`` argument to 0-based indices into ``names``. The default (``tab``
    given): the target :func:`_default_target` picks on the sampled rows."""
    if columns is None:
        nums = _value_columns(tab) if tab is not None else [j for j, k in enumerate(kinds) if k == "num"]
        if len(nums) > 1:
            return [_default_target(tab, nums, np.column_stack([_sample_column(tab, j) for j in nums]))[0]]
        nums = nums or [j for j, k in enumerate(kinds) if k == "num"]
        if nums:
            return [nums[0]]
        texts = [j for j, k in enumerate(kinds) if k == "text"]
        if texts:
            return [texts[-1]]  # parsing it names the first bad line
        empties = [j for j, k in enumerate(kinds) if k == "empty"]
        if empties:
            return [empties[-1]]  # parsing it reports 'all missing'
        raise SequenceFileError(
            f"The file {name} has only date or time columns and no numeric column; add a column of values."
        )
    items = list(columns) if isinstance(columns, (list, tuple)) else [columns]
    if not items:
        raise SequenceFileError(f"No columns were chosen for {name}; pick at least one column.")
    out = []
    for c in items:
        j = _find_column(c, names, name)
        if kinds[j] == "date":
            raise SequenceFileError(
                f"Column {safe_text(names[j])!r} of {name} holds dates or times, not values; choose a numeric column."
            )
        if j in out:
            raise SequenceFileError(
                f"Column {safe_text(names[j])!r} of {name} was chosen twice; choose each column once.")
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


def _listing(names: list) -> str:
    return ", ".join(repr(safe_text(n)) for n in names[:12]) + (", ..." if len(names) > 12 else "")


def _find_column(c, names: list, name: str) -> int:
    try:
        j = _lookup(c, names)
    except TypeError:
        raise SequenceFileError(
            f"Columns of {name} are chosen by name or 0-based index, not by {type(c).__name__}.") from None
    if j is not None:
        return j
    if isinstance(c, (int, np.integer)):
        j = int(c)
        raise SequenceFileError(
            f"The file {name} has {len(names)} column(s), so there is no column {j}; "
            f"use an index from 0 to {len(names) - 1} or a name ({_listing(names)})."
        )
    raise SequenceFileError(f"The file {name} has no column named {safe_text(c)!r}; its columns are {_listing(names)}.")


def _loadtxt(tab: _Table, data: bytes, **kw):
    # a text stream over the bytes: numpy reads it in chunks in C (no list of lines, no copy of
    # the text) and universal newlines number the lines as _decode does
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=None)
    return np.loadtxt(stream, delimiter=tab.delim, comments="#", quotechar='"', ndmin=2,
                      skiprows=tab.data_start, **kw)


def _fast_parse(tab: _Table, data: bytes, sel: list, prose_mode: bool, lenient: bool = False):
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
        arr = _loadtxt(tab, data, dtype=np.float64, converters=conv or None)
    except Exception:  # noqa: BLE001 - any irregularity goes to the careful parser
        return None
    if arr.shape[0] == 0 or arr.shape[1] != ncols:
        return None
    vals = arr if sel == list(range(ncols)) else np.ascontiguousarray(arr[:, sel])
    del arr
    if np.isinf(vals).any() or (not lenient and np.isnan(vals).any()):
        return None
    return vals


def _fast_strings(tab: _Table, data: bytes, j: int, n: int):
    """The raw strings of column ``j`` (n rows) through numpy.loadtxt, or None.

    A fixed width (twice the longest sampled entry) keeps numpy in its C parser; an entry that
    fills the width may have been cut, and then the column is read again without a width."""
    width = 2 * max((len(r[j]) for _, r in tab.sample if j < len(r)), default=8) + 8
    try:
        a = _loadtxt(tab, data, dtype=f"U{width}", usecols=[j])[:, 0]
        if a.size and np.char.str_len(a).max() >= width:
            a = _loadtxt(tab, data, dtype=str, usecols=[j])[:, 0]
    except Exception:  # noqa: BLE001 - the careful parser collects them instead
        return None
    return a if a.shape[0] == n else None


def _zero(_s) -> float:
    return 0.0


def _lenient_float(s: str) -> float:
    t = s.strip()
    if t.lower() in MISSING_TOKENS:
        return np.nan
    return float(t)  # ValueError sends the file to the careful parser


def _slow_parse(tab: _Table, sel: list, name: str, str_cols=()) -> tuple[np.ndarray, list]:
    """The careful parser: every line in Python, naming the first bad one."""
    ncols = len(tab.names)
    decimal_comma = tab.delim == ";"
    rows = []
    strs = [[] for _ in str_cols]
    first_line = None
    lines = _iter_data_lines(tab.text, tab.data_offset, tab.data_start + 1)
    for lineno, ln in lines:
        if first_line is None:
            first_line = lineno
        try:
            row, fields = _parse_row(ln, tab, sel, ncols, decimal_comma)
        except (_QuoteError, _Ragged, _BadValue) as exc:
            rest = list(itertools.islice(lines, _MAX_FOOTER + 1))
            if rows and len(rest) < _MAX_FOOTER and all(_footer_like(r, tab, ncols)
                                                        for r in [ln] + [r for _, r in rest]):
                tab.notes.append(f"ignored {len(rest) + 1} line(s) below the table from line {lineno} "
                                 "(a footer or notes)")
                break
            raise _row_message(exc, tab, sel, lineno, ln, first_line, name) from None
        rows.append(row)
        for k, j in enumerate(str_cols):
            strs[k].append(fields[j])
    if not rows:
        raise SequenceFileError(f"The file {name} has a header row but no data rows; add data below the header.")
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(sel)), strs


class _Ragged(Exception):
    def __init__(self, n_fields: int):
        super().__init__(n_fields)
        self.n_fields = n_fields


def _parse_row(ln: str, tab: _Table, sel: list, ncols: int, decimal_comma: bool):
    """(values of the chosen columns, every field) of one line; _QuoteError, _Ragged, _BadValue."""
    fields = _split(ln, tab.delim)
    if len(fields) != ncols:
        raise _Ragged(len(fields))
    return [_parse_value(fields[j], decimal_comma) for j in sel], fields


def _footer_like(ln: str, tab: _Table, ncols: int) -> bool:
    """A line of notes below the table, not a row of it: at least two words, and another number
    of fields, a broken quote, or only words (no number or date among its fields)."""
    if len(_WORDS_RE.findall(ln)) < 2:
        return False
    try:
        fields = _split(ln, tab.delim)
    except _QuoteError:
        return True
    if len(fields) != ncols:
        return True
    return not {_kind(f) for f in fields} & {"num", "date"}


_WORDS_RE = re.compile(r"[^\W\d_]{2,}")


def _row_message(exc, tab: _Table, sel: list, lineno: int, ln: str, first_line: int, name: str):
    if isinstance(exc, _QuoteError):
        return _quote_message(name, lineno)
    if isinstance(exc, _Ragged):
        ref = "the header has" if tab.header else f"line {first_line} has"
        return SequenceFileError(
            f"Line {lineno} of {name} has {exc.n_fields} field(s) but {ref} {len(tab.names)}; "
            "make every row have the same number of fields.")
    fields = _split(ln, tab.delim)
    for j in sel:
        try:
            _parse_value(fields[j], tab.delim == ";")
        except _BadValue as bad:
            return _bad_value_message(bad.reason, tab, j, lineno, fields[j], name)
    return SequenceFileError(f"Line {lineno} of {name} cannot be read; check that line.")


def _bad_value_message(reason: str, tab: _Table, j: int, lineno: int, tok: str, name: str):
    col = safe_text(tab.names[j])
    if reason == "inf":
        return SequenceFileError(
            f"Column {col!r} of {name} has an infinite value on line {lineno}; "
            "replace it with a finite number or leave it empty (missing)."
        )
    if reason == "overflow":
        return SequenceFileError(
            f"Column {col!r} of {name} has a value too large for a float on line {lineno} "
            f"({_short(tok)}); rescale the data or fix that value."
        )
    advice = (
        "fix that value or choose another column"
        if "num" in tab.kinds
        else "the file has no numeric column, so choose a file of numbers or open it in text mode"
    )
    return SequenceFileError(
        f"Column {col!r} of {name} is not numeric: line {lineno} holds {_short(tok)}; {advice}.")


def _count_data_lines(text: str, tab: _Table) -> int:
    """Data lines after the header: exact for small texts; for big ones counted at C speed
    (lines minus empty and ``#`` lines; a line of only spaces counts as data there)."""
    if len(text) < 4 << 20:
        return sum(1 for _ in _iter_data_lines(text, tab.data_offset, tab.data_start + 1))
    body = "\n" + text[tab.data_offset:]
    lines = body.count("\n") - body.endswith("\n")
    return lines - body.count("\n\n") - body.count("\n#")


def _line_of_row(tab: _Table, row: int) -> int:
    """The file line number of data row ``row`` (0-based)."""
    for k, (lineno, _) in enumerate(_iter_data_lines(tab.text, tab.data_offset, tab.data_start + 1)):
        if k == row:
            return lineno
    return -1


# --------------------------------------------------------------------------- NPY


def _load_npy(data: bytes, name: str) -> np.ndarray:
    if not data.startswith(b"\x93NUMPY"):
        raise SequenceFileError(
            f"The file {name} is not a valid NPY file (no NPY signature); save the array with numpy.save.")
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - numpy raises many kinds for corrupt files
        reason = str(exc).split("\n")[0][:80] or exc.__class__.__name__
        if "allow_pickle" in reason or "Object arrays" in reason:
            raise SequenceFileError(
                f"The file {name} holds Python objects (dtype object), which are never loaded because "
                "loading them could run code; save a plain numeric array (for example arr.astype(float)).") from None
        raise SequenceFileError(
            f"The file {name} could not be read as an NPY file ({reason}); re-save it with numpy.save."
        ) from None
    if not isinstance(arr, np.ndarray):
        raise SequenceFileError(f"The file {name} is not a single NPY array; save one array with numpy.save.")
    dt = arr.dtype
    if dt.names is not None or dt.fields is not None:
        raise SequenceFileError(f"The file {name} holds a structured (record) array; save a plain numeric array.")
    if dt.kind == "c":
        raise SequenceFileError(
            f"The file {name} holds complex numbers; save the real part (or real and imaginary columns).")
    if dt.kind == "O":
        raise SequenceFileError(f"The file {name} holds Python objects; save a plain numeric array.")
    if dt.kind not in "biuf":
        raise SequenceFileError(f"The file {name} holds {dt} values, not numbers; save a numeric array.")
    if arr.ndim == 0:
        raise SequenceFileError(f"The file {name} holds a single number; save a 1-D series or a 2-D table.")
    if arr.ndim > 2:
        raise SequenceFileError(
            f"The file {name} is {arr.ndim}-D (shape {arr.shape}); save a 1-D series or a 2-D table "
            "with one row per time step."
        )
    if arr.size == 0:
        raise SequenceFileError(f"The file {name} holds an empty array; save an array with data.")
    a = arr.astype(np.float64, copy=arr.dtype != np.float64)
    if a.ndim == 1:
        a = a[:, None]
    return a


def _check_finite(a: np.ndarray, names: list, name: str, line_of=None) -> None:
    """Refuse infinities and magnitudes over MAX_ABS_VALUE, naming the column, the row and the value."""
    if a.size == 0 or (a.max() <= MAX_ABS_VALUE and a.min() >= -MAX_ABS_VALUE):  # no temporary; NaN goes on
        return
    with np.errstate(invalid="ignore"):
        bad = np.isinf(a) | (np.abs(a) > MAX_ABS_VALUE)
    if not bad.any():
        return
    r, c = (int(v) for v in np.argwhere(bad)[0])
    where = f"line {line_of(r)}" if line_of is not None else f"row {r + 1}"
    v = a[r, c]
    col = safe_text(names[c])
    if np.isinf(v):
        raise SequenceFileError(
            f"Column {col!r} of {name} has an infinite value on {where}; replace it with a finite number.")
    raise SequenceFileError(
        f"Column {col!r} of {name} holds {v:.6g} on {where}, beyond ±{MAX_ABS_VALUE:g} (squared errors in the "
        "column's own units would overflow); rescale the column, for example divide it by a power of ten."
    )


# --------------------------------------------------------------------------- memory


def _table_bytes(n_rows: int, n_file_cols: int, n_values: int, n_str: int = 0, str_len: int = 0) -> int:
    """Bytes :func:`load_sequence` allocates for a table of ``n_rows``: every column parsed as
    float64, the chosen ``n_values`` columns, their missing mask, and ``n_str`` columns of strings."""
    return int(n_rows * (8 * n_file_cols + 8 * n_values + n_values + n_str * 4 * max(str_len, 1) + 8 * bool(n_str)))


def _estimate_rows(data: bytes) -> int:
    return data.count(b"\n") + 1


# --------------------------------------------------------------------------- public


def load_sequence(path, columns=None, target=None, missing: str = "interpolate",
                  year_month: str = "series", key=None) -> SequenceData:
    """Load a numeric series from CSV, TSV, TXT or NPY.

    Parameters
    ----------
    path : str or PathLike
        The file.
    columns : str, int or list of them, optional
        Columns to use, by name or 0-based index. Default: the default target alone — the first
        column of values (:mod:`explorer.data.guess`).
    target : str or int, optional
        The predicted column, by name or index among the chosen columns (without ``columns``: by
        name or index in the file, and the only input). Default: the last chosen column.
    missing : {"interpolate", "drop"}
        How to handle missing values.
    year_month : {"series", "columns"}
        A year × month table (a YEAR column and twelve month columns): ``"series"`` reads it as
        one monthly series (when ``columns`` is not given), ``"columns"`` keeps the columns.
    key : str or int, optional
        The column naming the series of a long table (one series per value; windows never cross
        from one to the next); ``"none"`` reads the table as one series; None guesses
        (:mod:`explorer.data.guess`).

    Returns
    -------
    SequenceData

    Raises
    ------
    SequenceFileError
        For any problem with the file or the arguments (a ``MemoryBudgetError`` when the file
        would not fit in memory).
    """
    p, name = _path_and_name(path)
    if missing not in ("interpolate", "drop"):
        raise SequenceFileError(
            f'Missing values in {name} can be handled by "interpolate" or "drop", not {missing!r}.')
    if year_month not in ("series", "columns"):
        raise SequenceFileError(
            f'A year × month table such as {name} is read as "series" or "columns", not {year_month!r}.')
    data = _read_bytes(p, name)
    try:
        return _load_sequence_bytes(p, name, data, columns, target, missing, year_month, key)
    except SequenceFileError:
        raise
    except MemoryBudgetError as exc:
        raise DataMemoryError(str(exc)) from None
    except MemoryError:
        raise SequenceFileError(
            f"The file {name} is too large to load into memory; use a shorter excerpt.") from None
    except Exception as exc:  # noqa: BLE001 - last-resort guard: only SequenceFileError may escape
        raise SequenceFileError(
            f"The file {name} could not be read ({exc.__class__.__name__}); check its format.") from None


def _load_sequence_bytes(p: Path, name: str, data: bytes, columns, target, missing, year_month,
                         key=None) -> SequenceData:
    suffix = p.suffix.lower()
    if suffix == ".npz":
        raise SequenceFileError(f"The file {name} is an NPZ archive; save a single array with numpy.save (.npy).")
    if suffix == ".npy" or data.startswith(b"\x93NUMPY"):
        return _load_npy_sequence(p, name, data, columns, target, missing)
    text = _decode(data, name)
    prose_mode = suffix not in _TABLE_SUFFIXES
    tab = _inspect(text, name, prose_mode)
    if prose_mode:
        _prose_check(tab, name, full=False)
    if not tab.sample:
        raise SequenceFileError(f"The file {name} has a header row but no data rows; add data below the header.")
    kinds = _public_kinds(tab)
    series_name = _series_name(p)
    if columns is None and target is not None and not (tab.year_month is not None and year_month == "series"):
        columns, target = [_target_alone(target, tab.names, name)], 0
    if tab.year_month is not None and year_month == "series" and _wants_series(columns, series_name):
        return _year_month_series(tab, data, name, p, series_name, target, missing, prose_mode, kinds)
    cands = _value_columns(tab) if columns is None else []
    sel = cands if len(cands) > 1 else _resolve_columns(columns, tab.names, tab.kinds, name, tab=tab)
    num_time = [j for j, k in tab.time_cols.items() if k in ("year", "month", "epoch", "epoch_ms") and j not in sel]
    date_col = next((j for j, k in tab.time_cols.items() if k == "date"), None)
    key_cols = _key_candidates(tab, key, name)
    str_cols = ([date_col] if date_col is not None else []) + key_cols
    str_len = max((len(r[j]) for j in str_cols for _, r in tab.sample if j < len(r)), default=1) if str_cols else 0
    n_est = _estimate_rows(data)
    check_budget(len(data) + len(text) + _table_bytes(n_est, len(tab.names), len(sel) + len(num_time),
                                                       len(str_cols), str_len),
                 f"Loading {name} ({n_est:,} rows)", "use a shorter excerpt of the file or fewer columns")
    vals, strs = _parse_table(tab, data, sel + num_time, name, prose_mode, str_cols)
    extra = vals[:, len(sel):]
    notes = list(tab.notes)
    if len(cands) > 1:                  # the default target, chosen on the values of every candidate
        pick, why = _default_target(tab, cands, vals)
        notes.append(f"{safe_name(tab.names[pick])!r} chosen as the target: {safe_name(why, full=True)}")
        k = cands.index(pick)
        vals, sel = vals[:, k:k + 1], [pick]
    chosen = [tab.names[j] for j in sel]
    tidx = _resolve_target(target, chosen, name)
    vals = np.ascontiguousarray(vals[:, :len(sel)]) if num_time or len(cands) > 1 else vals
    _check_finite(vals, chosen, name, line_of=lambda r: _line_of_row(tab, r))
    n_date = int(date_col is not None)
    time, label = _time_axis(tab, sel, num_time, vals, extra, str_cols[:n_date], strs[:n_date])
    fmt = _time_format(tab, label, time)
    segments, keys, key_name, order = None, None, "", None
    for j, s in zip(key_cols, strs[n_date:]):
        s = np.char.strip(np.asarray(s, dtype=str))
        s = np.where(np.isin(np.char.lower(s), list(MISSING_TOKENS)), "", s)      # NA names no series
        found = guess.find_key(s, strict=key is None, time=time)
        if found is not None and (keys is None or len(found[2]) > len(keys)):   # the finest key
            order, segments, keys = found
            key_name = tab.names[j]
    if order is not None:
        vals = np.ascontiguousarray(vals[order])
        time = None if time is None else time[order]
    newest_first = _newest_first(time, segments)
    if newest_first is not None:                       # a market export: read oldest first
        vals, time = np.ascontiguousarray(vals[newest_first]), time[newest_first]
        notes.append("rows in reverse time order (newest first) read oldest first")
    if key not in (None, "none") and segments is None:
        raise SequenceFileError(f"Column {safe_name(tab.names[key_cols[0]])!r} of {name} has rows without a name, "
                                "so it cannot name the series; fill them in, or choose another key column or none.")
    if segments is not None and missing == "drop":       # each series keeps its rows without a gap
        kept = np.concatenate([[0], np.cumsum(~np.isnan(vals).any(axis=1))])
        segments = kept[segments]
    vals, n_missing, n_dropped, gaps, time = _fill_missing(vals, chosen, missing, name, time)
    return SequenceData(values=vals, columns=list(chosen), target_index=tidx, n_missing=n_missing, path=str(p),
                        missing=missing, n_dropped_rows=n_dropped, all_columns=list(tab.names),
                        column_kinds=kinds, time=time, time_label=label if time is not None else "", gaps=gaps,
                        year_month="columns" if tab.year_month is not None else None, notes=notes,
                        time_format=fmt, segments=segments, keys=keys, key_column=key_name)


def _newest_first(time, segments) -> np.ndarray | None:
    """The row order that turns every series whose time only falls (newest first) around; None
    when the time rises (or there is none)."""
    if time is None or len(time) < 2:
        return None
    bounds = segments if segments is not None else np.array([0, len(time)])
    parts = [(a, b) for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist())]
    if not all(b - a < 2 or np.all(np.diff(time[a:b]) < 0) for a, b in parts):
        return None
    return np.concatenate([np.arange(b - 1, a - 1, -1) for a, b in parts]).astype(np.int64)


def _key_candidates(tab: _Table, key, name: str) -> list:
    """The columns that may name a long table's series: the one the person chose (``key``), none
    (``"none"``), or the text columns whose values repeat (``None``: guessed)."""
    if key is None:
        return list(tab.key_cols)
    if isinstance(key, str) and key.strip().lower() == "none":
        return []
    j = _find_column(key, tab.names, name)
    if j in tab.time_cols or j in tab.index_cols:
        raise SequenceFileError(f"Column {safe_name(tab.names[j])!r} of {name} is the time or the row number, "
                                "not the name of a series; choose a column of names as the key, or none.")
    return [j]


def _time_format(tab: _Table, label: str, time) -> str:
    """How the rows' times are written out: as many decimals as the file's year column has."""
    year = next((j for j, k in tab.time_cols.items() if k == "year"), None)
    places = {0}
    if year is not None:
        places = {len(t) - t.index(".") - 1 if "." in t and "e" not in t.lower() else 0
                  for t in (_unquote(r[year]) for _, r in tab.sample if year < len(r))} or {0}
    fmt = time_format(label, time, max(places), monthly="month" in tab.time_cols.values())
    return fmt + ":trim" if fmt.startswith("decimals:") and len(places) > 1 else fmt


def _parse_table(tab: _Table, data: bytes, sel: list, name: str, prose_mode: bool, str_cols: list):
    vals = _fast_parse(tab, data, sel, prose_mode)
    if vals is None:
        vals = _fast_parse(tab, data, sel, prose_mode, lenient=True)
    strs = []
    if vals is not None:
        for j in str_cols:
            s = _fast_strings(tab, data, j, vals.shape[0])
            if s is None:
                vals = None
                break
            strs.append(s)
    if vals is None:
        if prose_mode:
            _prose_check(tab, name, full=True)
        vals, strs = _slow_parse(tab, sel, name, str_cols)
    return vals, strs


def _time_axis(tab: _Table, sel: list, num_time: list, vals, extra, str_cols, strs):
    """(time of every row, unit) from the file's time columns, or (None, "")."""
    if str_cols:
        parsed = parse_times(strs[0])
        if parsed is not None:
            return parsed
    def column(j):
        return extra[:, num_time.index(j)] if j in num_time else vals[:, sel.index(j)]

    epoch = next(((j, k) for j, k in tab.time_cols.items() if k in ("epoch", "epoch_ms")), None)
    if epoch is not None:
        t = fill_nan_linear(column(epoch[0]) * (1.0 if epoch[1] == "epoch" else 0.001))
        return (t, "date") if t is not None else (None, "")
    year = next((j for j, k in tab.time_cols.items() if k == "year"), None)
    if year is None:
        return None, ""
    month = next((j for j, k in tab.time_cols.items() if k == "month"), None)

    t = column(year).astype(np.float64)
    if month is not None:
        m = column(month)
        t = t + (np.where(np.isfinite(m), m, 1.0) - 1.0) / 12.0
    t = fill_nan_linear(t)
    return (t, "year") if t is not None else (None, "")


def _series_name(p: Path) -> str:
    stem = safe_name(p.stem) or "value"
    return stem


def _wants_series(columns, series_name: str) -> bool:
    if columns is None:
        return True
    items = list(columns) if isinstance(columns, (list, tuple)) else [columns]
    return len(items) == 1 and isinstance(items[0], str) and items[0].strip().lower() == series_name.lower()


def _year_month_series(tab, data, name, p, series_name, target, missing, prose_mode, kinds) -> SequenceData:
    """A year × month table read row by row as one monthly series (time: year + (month − 1)/12)."""
    year, months = tab.year_month
    w = len(months)
    sel = ([year] if year is not None else []) + list(months)
    n_est = _estimate_rows(data)
    check_budget(len(data) * 2 + _table_bytes(n_est, len(tab.names), w + 1) + n_est * w * 24,
                 f"Loading {name} ({n_est:,} rows)", "use a shorter excerpt of the file")
    vals, _ = _parse_table(tab, data, sel, name, prose_mode, [])
    _check_finite(vals, [tab.names[j] for j in sel], name, line_of=lambda r: _line_of_row(tab, r))
    series = np.ascontiguousarray(vals[:, -w:]).reshape(-1)
    time = None
    if year is not None:
        years = fill_nan_linear(vals[:, 0])
        if years is None:
            raise SequenceFileError(
                f"Column {safe_text(tab.names[year])!r} of {name} has no years; fill in the year of every row.")
        time = (years[:, None] + np.arange(w) / w).reshape(-1)
    known = np.flatnonzero(np.isfinite(series))
    if known.size == 0:
        raise SequenceFileError(f"The month columns of {name} have no values; fill in the monthly values.")
    keep = slice(known[0], known[-1] + 1)      # months before the first and after the last value: not yet measured
    series = series[keep][:, None]
    time = None if time is None else time[keep]
    _resolve_target(target, [series_name], name)
    vals, n_missing, n_dropped, gaps, time = _fill_missing(series, [series_name], missing, name, time)
    notes = list(tab.notes)
    if not tab.header:
        notes.append(f"a grid of {w} numbers a line read row by row as one series")
    return SequenceData(values=vals, columns=[series_name], target_index=0, n_missing=n_missing, path=str(p),
                        missing=missing, n_dropped_rows=n_dropped, all_columns=list(tab.names),
                        column_kinds=kinds, time=time, time_label="year" if time is not None else "", gaps=gaps,
                        year_month="series", time_format={12: "month", 4: "quarter"}.get(w, "decimals:3")
                        if time is not None else "", notes=notes)


def _load_npy_sequence(p: Path, name: str, data: bytes, columns, target, missing) -> SequenceData:
    header_rows = _npy_rows(data)
    if header_rows is not None:
        check_budget(len(data) + header_rows[0] * header_rows[1] * 16, f"Loading {name} ({header_rows[0]:,} rows)",
                     "use a shorter excerpt of the array")
    a = _load_npy(data, name)
    names = ["value"] if a.shape[1] == 1 else [f"column {j + 1}" for j in range(a.shape[1])]
    if columns is None and target is not None:
        columns, target = [_target_alone(target, names, name)], 0
    if columns is None and a.shape[1] > 1:
        sel = [guess.choose_target(names, [guess.column_traits(a[:, j]) for j in range(a.shape[1])])[0]]
    else:
        sel = _resolve_columns(columns, names, ["num"] * len(names), name)
    vals = a if sel == list(range(a.shape[1])) else np.ascontiguousarray(a[:, sel])
    chosen = [names[j] for j in sel]
    _check_finite(vals, chosen, name)
    tidx = _resolve_target(target, chosen, name)
    vals, n_missing, n_dropped, gaps, _ = _fill_missing(vals, chosen, missing, name, None)
    return SequenceData(values=vals, columns=list(chosen), target_index=tidx, n_missing=n_missing, path=str(p),
                        missing=missing, n_dropped_rows=n_dropped, all_columns=names, gaps=gaps)


def _npy_rows(data: bytes):
    """(rows, columns) from an NPY header without reading the array, or None."""
    try:
        f = io.BytesIO(data)
        major, _minor = np.lib.format.read_magic(f)
        if major == 1:
            shape, _, _ = np.lib.format.read_array_header_1_0(f)
        elif major == 2:
            shape, _, _ = np.lib.format.read_array_header_2_0(f)
        else:
            return None
    except Exception:  # noqa: BLE001 - np.load names the problem
        return None
    if not shape or len(shape) > 2:
        return None
    return int(shape[0]), int(shape[1]) if len(shape) == 2 else 1


def _target_alone(target, names: list, name: str) -> int:
    """The file's column ``target`` names when no columns are chosen: the target is the one input."""
    try:
        j = _lookup(target, names)
    except TypeError:
        raise SequenceFileError(
            f"The target column of {name} is chosen by name or index, not by {type(target).__name__}.") from None
    if j is None:
        raise SequenceFileError(f"The target {safe_text(str(target))!r} is not a column of {name}; its columns are "
                                f"{_listing(names)}.")
    return j


def _resolve_target(target, chosen: list, name: str) -> int:
    if target is None:
        return len(chosen) - 1
    try:
        t = _lookup(target, chosen)
    except TypeError:
        raise SequenceFileError(
            f"The target column of {name} is chosen by name or index, not by {type(target).__name__}.") from None
    if t is not None:
        return t
    if isinstance(target, (int, np.integer)):
        raise SequenceFileError(
            f"The target index {int(target)} is out of range for the {len(chosen)} chosen column(s) of {name}; "
            f"use 0 to {len(chosen) - 1}."
        )
    raise SequenceFileError(
        f"The target {safe_text(target)!r} is not among the chosen columns of {name} "
        f"({_listing(chosen)}); choose one of them."
    )


def _fill_missing(vals: np.ndarray, chosen: list, missing: str, name: str, time=None):
    """(values, missing cells, dropped rows, filled rows, time) with every NaN filled or dropped."""
    no_gaps = np.zeros(0, dtype=np.int64)
    mask = np.isnan(vals)
    n_missing = int(mask.sum())
    if n_missing == 0:
        return vals, 0, 0, no_gaps, time
    for k, col in enumerate(chosen):
        if mask[:, k].all():
            raise SequenceFileError(
                f"Column {safe_text(col)!r} of {name} has no values (all missing); choose another column.")
    rows = mask.any(axis=1)
    if missing == "drop":
        keep = ~rows
        n_dropped = int(rows.sum())
        if not keep.any():
            raise SequenceFileError(
                f"Every row of {name} has a missing value in the chosen columns, so dropping leaves nothing; "
                'use missing="interpolate" or choose other columns.'
            )
        return (np.ascontiguousarray(vals[keep]), n_missing, n_dropped, no_gaps,
                None if time is None else time[keep])
    out = vals if vals.flags.writeable else vals.copy()
    idx = np.arange(vals.shape[0], dtype=np.float64)
    for k in range(vals.shape[1]):
        m = mask[:, k]
        if m.any():
            out[m, k] = np.interp(idx[m], idx[~m], vals[~m, k])
    return out, n_missing, 0, np.flatnonzero(rows).astype(np.int64), time


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
        Empty, binary, non-UTF-8, over the size limit, fewer than 3 tokens, or more memory than
        the machine allows (``MemoryBudgetError``).
    """
    p, name = _path_and_name(path)
    if level not in ("char", "word"):
        raise SequenceFileError(f'Text level for {name} must be "char" or "word", not {level!r}.')
    data = _read_bytes(p, name)
    check_budget(text_bytes(len(data), level), f"Reading {name} as text ({len(data) / 2**20:.1f} MB, {level} level)",
                 "use a shorter excerpt of the text" + (" or character level" if level == "word" else ""))
    try:
        text = _decode(data, name)
        corpus = TextCorpus.from_string(text, level=level, path=str(p))
    except SequenceFileError:
        raise
    except MemoryError:
        raise SequenceFileError(f"The text {name} is too large to read into memory; use a shorter excerpt.") from None
    except Exception as exc:  # noqa: BLE001 - only SequenceFileError may escape
        raise SequenceFileError(
            f"The file {name} could not be read as text ({exc.__class__.__name__}); check the file.") from None
    if corpus.n_tokens < 3:
        unit = "characters" if level == "char" else "words"
        raise SequenceFileError(
            f"The file {name} has only {corpus.n_tokens} {unit}; a text needs at least 3 tokens to learn from."
        )
    return corpus


#: Bytes per word while a text is split into words: the Python string (about 55 bytes for a
#: short word), its list entry and its id.
WORD_BYTES = 80


def text_bytes(n_bytes: int, level: str) -> int:
    """Bytes :func:`load_text` needs for a file of ``n_bytes``: the bytes, the decoded text (up
    to 4 bytes a character), the code points and the int64 ids plus two tables over every code
    point (char level), or per word (a word every ~5 bytes) :data:`WORD_BYTES` (word level)."""
    if level == "char":
        return int(n_bytes * (1 + 4 + 4 + 8)) + 0x110000 * 9
    return int(n_bytes * 2 + (n_bytes / 5) * WORD_BYTES)


# --------------------------------------------------------------------------- describe


@dataclass
class FileInfo:
    """What :func:`describe_file` finds without training: the columns a person can choose.

    ``kind`` is ``"table"`` (CSV, TSV, numeric TXT), ``"npy"`` or ``"text"`` (prose);
    ``columns`` every column, ``column_kinds`` for each ``"numeric"``, ``"date"``, ``"text"`` or
    ``"empty"``; ``numeric_columns`` the ones that can be inputs or the target;
    ``date_columns`` the ones that make the time axis; ``default_columns`` / ``default_target``
    what :func:`load_sequence` picks without being told; ``n_rows`` the data rows (lines that are
    neither blank, comments nor the header); ``year_month`` True for a year × month table
    (read as one monthly series unless ``year_month="columns"``).
    """

    path: str
    kind: str
    columns: list
    column_kinds: list
    numeric_columns: list
    date_columns: list
    default_columns: list
    default_target: str
    n_rows: int
    delimiter: str | None = None
    header: bool = False
    year_month: bool = False


def describe_file(path) -> FileInfo:
    """List a file's columns and their kinds without loading its values or training.

    Raises :class:`SequenceFileError` for a file that cannot be read at all.
    """
    p, name = _path_and_name(path)
    data = _read_bytes(p, name)
    try:
        return _describe_bytes(p, name, data)
    except SequenceFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - only SequenceFileError may escape (MemoryError included)
        raise SequenceFileError(
            f"The file {name} could not be read ({exc.__class__.__name__}); check its format.") from None


def _describe_bytes(p: Path, name: str, data: bytes) -> FileInfo:
    suffix = p.suffix.lower()
    if suffix == ".npy" or data.startswith(b"\x93NUMPY"):
        a = _load_npy(data, name)
        names = ["value"] if a.shape[1] == 1 else [f"column {j + 1}" for j in range(a.shape[1])]
        first = names[guess.choose_target(names, [guess.column_traits(a[:, j]) for j in range(a.shape[1])])[0]]
        return FileInfo(str(p), "npy", names, ["numeric"] * len(names), list(names), [], [first], first,
                        int(a.shape[0]))
    text = _decode(data, name)
    prose_mode = suffix not in _TABLE_SUFFIXES
    tab = _inspect(text, name, prose_mode)
    n_rows = _count_data_lines(text, tab)
    try:
        if prose_mode:
            _prose_check(tab, name, full=False)
    except ProseFileError:
        return FileInfo(str(p), "text", [], [], [], [], [], "", n_rows)
    kinds = _public_kinds(tab)
    numeric = [n for n, k in zip(tab.names, kinds) if k == "numeric"]
    dates = [n for n, k in zip(tab.names, kinds) if k == "date"]
    if tab.year_month is not None:
        default = [_series_name(p)]
    else:
        try:
            default = [tab.names[j] for j in _resolve_columns(None, tab.names, tab.kinds, name, tab=tab)]
        except SequenceFileError:
            default = []
    return FileInfo(str(p), "table", list(tab.names), kinds, numeric, dates, default,
                    default[-1] if default else "", n_rows, tab.delim, tab.header, tab.year_month is not None)

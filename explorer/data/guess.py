"""What a person means by their table: row indices, time columns, the default target, several series
in one long table (a key column), a grid of numbers that is one series read row by row.

NumPy only. The loader (:mod:`explorer.data.loading`) asks these questions of a file's columns;
every answer is a guess a person can override (``columns``/``target``, ``key``, ``year_month``).

Rules
-----
Index column
    A numeric column whose header is empty or a row-name word (``rownames``, ``index``,
    ``Unnamed: 0``) holding rising whole numbers (R's row names of a subset: 3, 7, 12 …), or the
    first column of the file or one named ``id``, ``row``, ``obs``, ``#`` … counting 0, 1, 2 … or
    1, 2, 3 … by one. Never an input or the target by default.
Time column (POSIX timestamps)
    A numeric column named for the time whose values rise within 1980–2100 as seconds (or
    milliseconds) since 1970: dates and times.
Time column (decimal years)
    A numeric column named ``time``, ``date``, ``year``, ``period`` … (or the first column after
    an index) whose values lie in 1000–2999 and rise (strictly, or by whole years when they are
    whole numbers): R's ``time(x)`` of a monthly series is 1949.000, 1949.083 … It is the time
    axis, never an input or the target.
Default target
    The first column of values that is not an index, a time, a 0/1 dummy or constant in the
    training part (the first 80 % of the rows); in a price table with Open, High, Low and Close
    columns, Close. When every column is one of those, the first that changes, else the first.
Key column (a long table)
    A text column (not dates) holding 2 to N/3 distinct values, each value on at least 3 rows,
    where the file's time starts again or repeats (``symbol,date,price``: each stock's dates;
    ``year,source,value``: every year once per source) — or, without a time column, where each
    value fills one block of rows: the table is read as one series per value (rows grouped by key
    in the order the keys first appear, keeping each key's own row order), and no training window
    crosses from one key to the next. A label beside times that only rise (a season, a weekday)
    is no key, nor one under which a time comes twice (a continent above its countries); of
    several keys, the one with the most series.
Grid of numbers
    A file without a header whose rows hold 12 numbers (months) or 4 (quarters), optionally after
    a first column of years, is one series read row by row when the values change less from one
    number to the next along the rows than down the columns.
"""

from __future__ import annotations

import numpy as np

ROW_NAMES = frozenset({"", "rownames", "row.names", "row names", "row_names", "rowname", "unnamed: 0", "index"})
INDEX_NAMES = ROW_NAMES | {"idx", "id", "row", "rownum", "row number", "obs", "#", "no", "no."}
TIME_NAMES = frozenset({"time", "date", "year", "yr", "years", "period", "decimal year", "decimal_year", "dec_year",
                        "year.decimal", "yearfrac", "datetime", "timestamp", "when"})

_OTHER_TIME_NAMES = frozenset({"month", "mon", "monat", "mois", "mes", "quarter", "qtr", "week", "day", "hour",
                               "datum", "zeit", "fecha", "jahr", "année", "annee", "año", "date_time", "date time"})

#: The share of rows in the training part when the loader has to guess before the split is known.
TRAIN_SHARE = 0.8

GRID_WIDTHS = frozenset({12, 4})               # numbers a line: months, quarters
MIN_KEY_ROWS = 3


def _norm(name) -> str:
    return str(name).strip().strip('"').strip().lower()


def is_index_column(name: str, values: np.ndarray, first: bool, blank: bool = False) -> bool:
    """Whether a numeric column is a row index (see the module's rules)."""
    row_names = blank or _norm(name) in ROW_NAMES
    if not (first or row_names or _norm(name) in INDEX_NAMES):
        return False
    v = np.asarray(values, dtype=np.float64)
    rows = np.flatnonzero(np.isfinite(v))
    if rows.size < 2:
        return False
    if row_names and np.all(v[rows] == np.round(v[rows])) and np.all(np.diff(v[rows]) > 0) and v[rows[0]] >= 0:
        return True                               # R's row names of a subset: 3, 7, 12 …
    start = v[rows[0]] - rows[0]
    return bool(start in (0.0, 1.0) and np.all(v[rows] == start + rows))


def is_time_name(name: str) -> bool:
    """A column named for the time (``time``, ``Date``, ``Monat``, ``year`` …): never the default
    target, whatever its values."""
    return _norm(name) in TIME_NAMES or _norm(name) in _OTHER_TIME_NAMES


def is_decimal_year_column(name: str, values: np.ndarray, named_only: bool = True, restarts: bool = False) -> bool:
    """Whether a numeric column holds the time in (decimal) years (see the module's rules);
    ``named_only=False`` also takes a column without a time word in its name when its values rise
    by a constant step of a year, a quarter, a month, a week or a day; ``restarts``: a column
    named for the time may start again (each series of a long table has its own times)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2 or v.min() < 1000 or v.max() >= 3000:
        return False
    d = np.diff(v)
    whole = bool(np.all(v == np.round(v)))
    rising = bool(np.all(d >= 0) if whole else np.all(d > 0))
    named = _norm(name) in TIME_NAMES
    if named and restarts and not rising:
        return bool(np.mean(d > 0) >= 0.8)
    if not rising:
        return False
    if named:
        return True
    if named_only or whole and not np.all(d == 1):
        return False
    step = float(np.median(d))
    per_year = 1.0 / step if step > 0 else 0.0
    regular = np.all(np.abs(d - step) <= 0.1 * step + 1e-9)
    k = round(per_year)
    return bool(regular and 1 <= k <= 366 and abs(step * k - 1.0) < 0.05)


def epoch_unit(name: str, values: np.ndarray) -> float | None:
    """Seconds per unit of a column of POSIX timestamps named for the time (``timestamp``, ``time``
    …) whose values rise within 1980–2100: 1 (seconds) or 0.001 (milliseconds); None otherwise."""
    if not is_time_name(name):
        return None
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2 or not np.all(np.diff(v) > 0):
        return None
    for unit in (1.0, 0.001):
        if 3.15e8 <= v.min() * unit and v.max() * unit <= 4.1e9:
            return unit
    return None


def column_traits(values: np.ndarray, train_share: float = TRAIN_SHARE) -> str:
    """``"constant"`` (one value in the first ``train_share`` of the rows), ``"dummy"`` (only 0 and
    1), ``"empty"`` (no values) or ``""`` (a column of values)."""
    v = np.asarray(values, dtype=np.float64)
    head = v[:max(2, int(round(v.size * train_share)))]
    head = head[np.isfinite(head)]
    if head.size == 0:
        return "empty"
    if head.min() == head.max():
        return "constant"
    allv = v[np.isfinite(v)]
    if np.all((allv == 0) | (allv == 1)):
        return "dummy"
    return ""


_OHLC = ("open", "high", "low", "close")


def choose_target(names: list, traits: list) -> tuple[int, str]:
    """(position in ``names`` of the default target, why in a few words) from each candidate's
    :func:`column_traits`."""
    low = [_norm(n) for n in names]
    if all(w in low for w in _OHLC) and traits[low.index("close")] == "":
        return low.index("close"), "the Close of a table of Open, High, Low and Close prices"
    skipped = []
    for j, t in enumerate(traits):
        if t == "":
            if skipped:
                return j, "the first column of values (" + "; ".join(skipped) + ")"
            return j, "the first column of values"
        skipped.append(f"{names[j]!r} is " + {"constant": "constant in the training part", "dummy": "a 0/1 dummy",
                                              "empty": "empty"}[t])
    j = next((j for j, t in enumerate(traits) if t == "dummy"), 0)
    return j, "every column of values is a dummy or constant"


def find_key(strings: np.ndarray, strict: bool = True, time=None) -> tuple[np.ndarray, np.ndarray, list] | None:
    """For a text column that holds several series' names: (row order grouping the keys, start
    row of each key's block in that order plus the end, the keys in order of first appearance);
    None when the column is not a key (see the module's rules; ``strict=False``, for a key the
    person chose: any column without an empty value). ``time``: the rows' times, if the file
    has them — a column of labels beside times that only rise (a season, a weekday) is no key."""
    s = np.char.strip(np.char.strip(np.asarray(strings, dtype=str)), "\"'")
    n = s.size
    if n == 0 or (strict and n < 2 * MIN_KEY_ROWS):
        return None
    uniq, first, inverse, counts = np.unique(s, return_index=True, return_inverse=True, return_counts=True)
    k = uniq.size
    if (uniq == "").any():
        return None
    if strict and (k < 2 or k > n / 3 or counts.min() < MIN_KEY_ROWS):
        return None
    if strict:
        if time is not None and np.all(np.diff(np.asarray(time, dtype=np.float64)) > 0):
            return None                                # one time line: the labels describe its rows
        if time is None and np.count_nonzero(s[1:] != s[:-1]) + 1 > k:
            return None                                # interleaved labels with no time to order them
    rank = np.empty(k, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(k)      # keys in order of first appearance
    code = rank[inverse.reshape(-1)]
    if strict and time is not None:
        t = np.asarray(time, dtype=np.float64)
        by = np.lexsort((t, code))
        if np.any((code[by][1:] == code[by][:-1]) & (t[by][1:] == t[by][:-1])):
            return None                                # a time twice in one group: a coarser label (a continent)
    order = np.argsort(code, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(code, minlength=k))]).astype(np.int64)
    keys = [str(uniq[i]) for i in np.argsort(first, kind="stable")]
    return order.astype(np.int64), bounds, keys


def grid_reads_as_series(values: np.ndarray) -> bool:
    """Whether a table of numbers (rows × 12 or 4) is one series written row by row: neighbours
    along a row differ less, on average, than neighbours down a column (a table of several
    measurements is the other way round)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] < 2 or v.shape[1] not in GRID_WIDTHS:
        return False
    along = np.abs(np.diff(v.reshape(-1)))
    down = np.abs(np.diff(v, axis=0)).reshape(-1)
    along, down = along[np.isfinite(along)], down[np.isfinite(down)]
    return bool(along.size and down.size and along.mean() < down.mean())

"""The time axis of a file: date and time columns, year (and month) columns, year × month tables.

NumPy and the standard library only. Every function here is forgiving: a time column that cannot
be read gives no time axis (``None``), never an error, because the values still train.

Units of :attr:`SequenceData.time <explorer.data.loading.SequenceData.time>`
----------------------------------------------------------------------------
``"year"``
    decimal years (a YEAR column; YEAR + MONTH → year + (month − 1)/12; a year × month table; a
    column of decimal years such as R's ``time(x)``: 1949.000, 1949.083 …).
``"date"``
    POSIX seconds (UTC; an offset such as ``+02:00`` is applied, a ``Z`` means UTC) of a date or
    date-time column: ISO ``2024-01-03``, ``2024-01-03 10:00``, ``2024-01-03T10:00:00Z``,
    ``2024/01/03``, ``1949-01`` (a month), ``03/01/2024`` (day/month or month/day: decided by the
    values over 12, day first when undecided and the separator is ``.``, month first otherwise),
    with a month's name (``Jan 1949``, ``01-Jan-2020``, ``Jan 1, 2020``) or as a quarter
    (``1959 Q1``, ``1959Q1``, ``Q1 1959``: the quarter's first day); clock times may end in
    ``AM``/``PM`` and the date-time in ``UTC``/``GMT``. A numeric column of POSIX timestamps
    (:func:`explorer.data.guess.epoch_unit`) gives the same unit.
``"time of day"``
    seconds since the first midnight (``10:30``; a time that goes backwards starts the next day).
"""

from __future__ import annotations

import calendar
import re
import warnings
from datetime import datetime, timedelta, timezone

import numpy as np

YEAR_NAMES = frozenset({"year", "yr", "years", "yyyy", "jahr", "année", "annee", "año", "ano"})
MONTH_NAMES = frozenset({"month", "mon", "mo", "mm", "monat", "mois", "mes"})

_MONTHS = {}
for _k in range(1, 13):
    for _n in (calendar.month_abbr[_k], calendar.month_name[_k]):
        _MONTHS[_n.lower()] = _k
_MONTHS["sept"] = 9


def _norm_name(name: str) -> str:
    return str(name).strip().strip(".").strip().lower()


def is_year_name(name: str) -> bool:
    """``YEAR``, ``Year``, ``yr`` …: a column that may hold the year of each row."""
    return _norm_name(name) in YEAR_NAMES


def is_month_name(name: str) -> bool:
    """``Month``, ``MON`` …: a column that may hold the month number of each row."""
    return _norm_name(name) in MONTH_NAMES


def month_of(name: str) -> int | None:
    """1..12 for ``JAN``, ``jan.``, ``January``, ``Sept`` …; None otherwise."""
    return _MONTHS.get(_norm_name(name))


def year_month_layout(names: list) -> tuple[int, list] | None:
    """``(year column, [January column, …, December column])`` when ``names`` hold a YEAR column
    and twelve distinct month columns (any case, abbreviated or full); None otherwise."""
    year = next((j for j, n in enumerate(names) if is_year_name(n)), None)
    if year is None:
        return None
    months = {}
    for j, n in enumerate(names):
        m = month_of(n)
        if m is not None and m not in months:
            months[m] = j
    if len(months) != 12:
        return None
    return year, [months[m] for m in range(1, 13)]


def plausible_years(values: np.ndarray, ordered: bool = True) -> bool:
    """Finite values are whole numbers between 1 and 9999 that never go backwards (with
    ``ordered=False`` they may: a long table starts each series' years again)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return False
    return bool(np.all((v >= 1) & (v <= 9999)) and np.all(v == np.round(v))
                and (not ordered or np.all(np.diff(v) >= 0)))


def plausible_months(values: np.ndarray) -> bool:
    """Finite values are whole numbers 1..12."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return bool(v.size and np.all((v >= 1) & (v <= 12)) and np.all(v == np.round(v)))


def fill_nan_linear(t: np.ndarray) -> np.ndarray | None:
    """Missing time values filled linearly between (and beyond) the known ones; None if none known."""
    t = np.asarray(t, dtype=np.float64)
    bad = ~np.isfinite(t)
    if not bad.any():
        return t
    good = ~bad
    if good.sum() == 0:
        return None
    idx = np.arange(t.size, dtype=np.float64)
    out = t.copy()
    if good.sum() == 1:
        out[bad] = t[good][0]
        return out
    # extrapolate with the mean step instead of repeating the edge value
    gi = idx[good]
    slope = (t[good][-1] - t[good][0]) / (gi[-1] - gi[0])
    out[bad] = np.interp(idx[bad], gi, t[good])
    lo, hi = bad & (idx < gi[0]), bad & (idx > gi[-1])
    out[lo] = t[good][0] + (idx[lo] - gi[0]) * slope
    out[hi] = t[good][-1] + (idx[hi] - gi[-1]) * slope
    return out


# --------------------------------------------------------------------------- dates

_MISSING = {"", "na", "n/a", "nan", "null", "nat"}
_TZ_RE = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
_ISO_RE = re.compile(
    r"^(\d{4})[-/.](\d{1,2})(?:[-/.](\d{1,2}))?(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?$")
_DMY_RE = re.compile(r"^(\d{1,2})([-/.])(\d{1,2})[-/.](\d{2,4})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?$")
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(?:\s?([AaPp])[Mm])?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MON = (r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
        r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_HMS = r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?)?"
_NAMED = [  # (pattern, order of the groups: y year, m month name, d day, q quarter)
    (re.compile(rf"^{_MON}[\s\-/.,]*(\d{{4}}|\d{{2}})$", re.I), "my"),                       # Jan 1949, Jan-49
    (re.compile(rf"^(\d{{4}})[\s\-/.]*{_MON}$", re.I), "ym"),                                 # 1949 Jan
    (re.compile(rf"^(\d{{1,2}})[\s\-/.]*{_MON}[\s\-/.,]*(\d{{4}}|\d{{2}}){_HMS}$", re.I), "dmy"),  # 01-Jan-2020
    (re.compile(rf"^{_MON}[\s\-/.]*(\d{{1,2}})(?:st|nd|rd|th)?,?[\s\-/.]*(\d{{4}}){_HMS}$", re.I), "mdy"),  # Jan 1, 2020
    (re.compile(r"^(\d{4})[\s\-/.]*Q([1-4])$", re.I), "yq"),                                  # 1949 Q1, 1949Q1
    (re.compile(r"^Q([1-4])[\s\-/.]*(\d{4})$", re.I), "qy"),                                  # Q1 1949
]


def is_named_date(text: str) -> bool:
    """A date written with a month's name or as a quarter: ``Jan 1949``, ``01-Jan-2020``,
    ``Jan 1, 2020``, ``1949 Q1`` …"""
    return any(rx.match(text) for rx, _ in _NAMED)


def _named_date(s: str) -> datetime | None:
    for rx, order in _NAMED:
        m = rx.match(s)
        if not m:
            continue
        g = dict(zip(order, m.groups()))
        y = int(g["y"])
        if len(g["y"]) == 2:
            y += 2000 if y < 70 else 1900
        mo = month_of(g["m"]) if "m" in g else 3 * (int(g["q"]) - 1) + 1
        hms = m.groups()[len(order):] if len(m.groups()) > len(order) else ()
        hh, mi, ss = (int(x or 0) for x in (tuple(hms) + (None, None, None))[:3])
        return datetime(y, mo, int(g.get("d", 1)), hh, mi, ss, tzinfo=timezone.utc)
    return None


def parse_times(tokens) -> tuple[np.ndarray, str] | None:
    """POSIX seconds (or seconds of the day) for a column of date/time strings, and the unit
    (``"date"`` or ``"time of day"``); None when the column cannot be read as times.
    Missing entries are filled linearly."""
    a = np.asarray(tokens, dtype=str)
    if a.size == 0:
        return None
    probe = a[:: max(1, a.size // 64)]
    if any(s != s.strip() for s in probe):
        a = np.char.strip(a)
    if any(s[:1] in "\"'" for s in probe):
        a = np.char.strip(np.char.strip(a, "\"'"))
    t = _parse_fast(a)
    label = "date"
    if t is None:
        uniq, inverse = np.unique(a, return_inverse=True)
        parsed = _parse_unique_slow(uniq)
        if parsed is None:
            return None
        vals, label = parsed
        t = vals[inverse.reshape(-1)]
    if label == "time of day":
        t = _unwrap_days(t)
    t = fill_nan_linear(t)
    if t is None:
        return None
    return t, label


def _parse_fast(a: np.ndarray) -> np.ndarray | None:
    """NumPy's own ISO parser (C speed) for ``YYYY-MM[-DD][ T]HH:MM[:SS[.f]]`` without zones;
    empty fields become NaN. None when any entry is something else."""
    probe = [s for s in a[:: max(1, a.size // 64)] if s]
    if not probe or not all(_ISO_RE.match(s) and "/" not in s and "." not in s[:10] for s in probe):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")      # numpy warns on time zones: those go the slow way
            d = a.astype("datetime64[ms]")
    except (ValueError, TypeError, OverflowError, Warning):
        return None
    out = d.astype(np.int64) / 1000.0
    out[np.isnat(d)] = np.nan
    return out


def _parse_unique_slow(uniq: np.ndarray):
    strs = [str(s) for s in uniq]
    present = [s for s in strs if s.lower() not in _MISSING]
    if not present:
        return None
    if all(_TIME_RE.match(s) for s in present):
        return np.array([_time_of_day(s) for s in strs]), "time of day"
    day_first = _day_first(present)
    out = np.full(len(strs), np.nan)
    for k, s in enumerate(strs):
        if s.lower() in _MISSING:
            continue
        v = _one_date(s, day_first)
        if v is None:
            return None
        out[k] = v
    return out, "date"


def _day_first(strs: list) -> bool:
    firsts, seconds, seps = [], [], set()
    for s in strs:
        m = _DMY_RE.match(_TZ_RE.sub("", s))
        if m:
            firsts.append(int(m.group(1)))
            seconds.append(int(m.group(3)))
            seps.add(m.group(2))
    if any(f > 12 for f in firsts):
        return True
    if any(v > 12 for v in seconds):
        return False
    return seps == {"."}


_AMPM_RE = re.compile(r"\s?([AaPp])\.?[Mm]\.?$")
_UTC_RE = re.compile(r"\s?(?:UTC|GMT)$")


def _one_date(s: str, day_first: bool) -> float | None:
    s = _UTC_RE.sub("Z", s)                           # 2024-01-03 10:00 UTC
    ampm = _AMPM_RE.search(s.removesuffix("Z"))
    if ampm:                                          # 1/3/2024 10:00 PM
        s = s[:ampm.start()] + ("Z" if s.endswith("Z") else "")
    tz = None
    m = _TZ_RE.search(s)
    body = s
    if m and (":" in s or "T" in s):
        z = m.group(1)
        body = s[: m.start()].rstrip()
        if z == "Z":
            tz = timezone.utc
        else:
            sign = 1 if z[0] == "+" else -1
            hh, mm = int(z[1:3]), int(z[-2:])
            tz = timezone(sign * timedelta(hours=hh, minutes=mm))
    iso = _ISO_RE.match(body)
    try:
        named = None if iso else _named_date(body)
        if named is not None:
            return (named - _EPOCH).total_seconds()
        if iso:
            y, mo, d = int(iso.group(1)), int(iso.group(2)), int(iso.group(3) or 1)
            hms = iso.groups()[3:]
        else:
            dmy = _DMY_RE.match(body)
            if not dmy:
                return None
            a, b, y = int(dmy.group(1)), int(dmy.group(3)), int(dmy.group(4))
            d, mo = (a, b) if day_first else (b, a)
            if len(dmy.group(4)) == 2:
                y += 2000 if y < 70 else 1900
            hms = dmy.groups()[4:]
        hh, mi, ss, frac = (hms[0], hms[1], hms[2], hms[3])
        hour = int(hh or 0)
        if ampm:
            hour = hour % 12 + (12 if ampm.group(1).lower() == "p" else 0)
        dt = datetime(y, mo, d, hour, int(mi or 0), int(ss or 0),
                      int(((frac or "0") + "000000")[:6]), tzinfo=tz or timezone.utc)
    except (ValueError, OverflowError):
        return None
    return (dt - _EPOCH).total_seconds()


def _time_of_day(s: str) -> float:
    if s.lower() in _MISSING:
        return np.nan
    m = _TIME_RE.match(s)
    h, mi, sec, frac, ampm = m.groups()
    h = int(h) % 24
    if ampm:
        h = h % 12 + (12 if ampm.lower() == "p" else 0)
    return h * 3600 + int(mi) * 60 + int(sec or 0) + float("0." + frac if frac else 0)


def _unwrap_days(t: np.ndarray) -> np.ndarray:
    """Times of day that go backwards start the next day."""
    out = t.copy()
    good = np.isfinite(out)
    v = out[good]
    if v.size > 1:
        back = np.concatenate([[0], np.cumsum(np.diff(v) < 0)])
        out[good] = v + 86400.0 * back
    return out


def time_format(label: str, values, decimals: int | None = None, monthly: bool = False) -> str:
    """How :func:`format_times` writes a time axis: ``"decimals:K"`` (decimal years as the file wrote
    them, K decimals; ``"decimals:K:trim"`` without trailing zeros, for a file whose rows have
    different numbers of decimals), ``"month"`` (``1949-01``), ``"quarter"`` (``1959-Q1``), ``"day"`` (ISO dates), ``"second"`` (ISO
    date-times) or ``"time of day"``; "" without a time axis."""
    if values is None or not label:
        return ""
    if label == "year":
        return "month" if monthly else f"decimals:{int(decimals or 0)}"
    if label == "date":
        v = np.asarray(values, dtype=np.float64)
        return "day" if v.size and np.all(np.mod(v, 86400.0) == 0) else "second"
    return label


def format_times(values, fmt: str) -> list:
    """The times ``values`` (units of :attr:`SequenceData.time`) as text in the form ``fmt`` of
    :func:`time_format`: the file's own decimals, or ISO dates and date-times."""
    v = np.asarray(values, dtype=np.float64)
    if fmt.startswith("decimals:"):
        k = int(fmt.split(":")[1])
        if fmt.endswith(":trim"):                 # the file wrote 1959, 1959.0833333 (R): no trailing zeros
            return [f"{x:.{k}f}".rstrip("0").rstrip(".") if k else f"{x:.0f}" for x in v]
        return [f"{x:.{k}f}" for x in v]
    if fmt == "month":
        years = np.floor(v + 1e-9)
        months = np.round((v - years) * 12).astype(np.int64) + 1
        return [f"{int(y):04d}-{int(m):02d}" for y, m in zip(years, months)]
    if fmt == "quarter":
        years = np.floor(v + 1e-9)
        quarters = np.round((v - years) * 4).astype(np.int64) + 1
        return [f"{int(y):04d}-Q{int(q)}" for y, q in zip(years, quarters)]
    if fmt in ("day", "second"):
        secs = np.round(v).astype(np.int64).astype("datetime64[s]")
        return [str(s) for s in (secs.astype("datetime64[D]") if fmt == "day" else secs)]
    if fmt == "time of day":
        s = np.round(v).astype(np.int64) % 86400
        return [f"{x // 3600:02d}:{x // 60 % 60:02d}:{x % 60:02d}" for x in s]
    return [f"{x:g}" for x in v]

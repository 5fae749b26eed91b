"""Axes for every plot: whole-number ticks for epochs, steps, timesteps and units; log axes with
one label per decade (or fewer) in one number format (10⁻³, 2×10⁻³); the scale decisions the
window and the command line share (:func:`loss_log_default`).

Timesteps are numbered 1..T wherever a person sees them: the plots draw timestep index ``t``
(0-based in the arrays) at x = t + 1.
"""

from __future__ import annotations

import html
import math
import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np  # noqa: E402
import PySide6  # noqa: E402,F401  (before pyqtgraph)

import pyqtgraph as pg  # noqa: E402

__all__ = ["PlotAxisItem", "format_log_value", "format_number", "log_tick_levels", "loss_log_default",
           "superscript"]

_SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def superscript(n: int) -> str:
    """``-3`` → ``⁻³``."""
    return str(int(n)).translate(_SUP)


def format_log_value(x: float) -> str:
    """A value on a log axis, always in one format: ``10⁻³`` for a power of ten, ``2×10⁻³``
    for a multiple of one (the mantissa to two significant digits)."""
    if not (x > 0 and math.isfinite(x)):
        return ""
    e = math.floor(math.log10(x) + 1e-9)
    m = round(x / 10.0 ** e, 1)
    if m >= 10:
        m, e = m / 10, e + 1
    if abs(m - 1) < 1e-9:
        return f"10{superscript(e)}"
    return f"{m:g}×10{superscript(e)}"


def format_number(v: float, spacing: float) -> str:
    """A value on a linear axis: whole numbers with thousands separators, others with as many
    decimals as the tick spacing needs; very small or very large ones in the log format."""
    if not math.isfinite(v):
        return ""
    if v == 0 or abs(v) < 1e-9 * abs(spacing):          # zero up to rounding of the tick arithmetic
        return "0"
    if spacing >= 1 and float(v).is_integer() and abs(v) < 1e9:
        return f"{int(v):,}"
    if abs(v) >= 1e6 or abs(v) < 1e-3:
        s = format_log_value(abs(v))
        return "−" + s if v < 0 else s
    places = max(0, math.ceil(-math.log10(spacing))) if spacing > 0 else 3
    s = f"{v:.{min(places, 6)}f}"
    return s.replace("-", "−")


def loss_log_default(*curves) -> bool:
    """Whether a loss axis starts in log scale: when the positive, finite values of ``curves``
    span more than one decade. The window's loss plot and the command line's use this one rule."""
    vals = [np.asarray(c, dtype=float).ravel() for c in curves if c is not None]
    v = np.concatenate(vals) if vals else np.zeros(0)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size < 2:
        return False
    return bool(v.max() / v.min() > 10.0)


_NICE_DECADE_STEPS = (1, 2, 3, 5, 10, 20, 25, 50, 100, 200, 500)


def log_tick_levels(lo: float, hi: float, size_px: float, min_px: float = 26.0):
    """Ticks of a log axis whose view runs from ``lo`` to ``hi`` (log10 units) over ``size_px``
    pixels: ``[(spacing, labelled values), (None, unlabelled minor values)]`` in log10 units.

    At most one label per ``min_px`` pixels: whole decades (every k-th when they crowd); when
    less than two decades are in view, 1-2-5 (or 1…9) multiples of the decade; when even those
    are too few, evenly spaced values."""
    lo, hi = sorted((float(lo), float(hi)))
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo <= 0 or hi - lo > 1000:
        return [(1.0, []), (None, [])]
    max_labels = max(2, int(size_px // min_px))
    d0, d1 = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
    if d1 - d0 + 1 >= 2:
        step = _NICE_DECADE_STEPS[-1]
        for s in _NICE_DECADE_STEPS:
            if math.floor(d1 / s) - math.ceil(d0 / s) + 1 <= max_labels:
                step = s
                break
        major = [float(k * step) for k in range(math.ceil(d0 / step), math.floor(d1 / step) + 1)]
        minor: list = []
        per_decade = size_px / (hi - lo)
        if step == 1 and len(major) <= 3 and per_decade >= 4 * min_px:   # room to label 2× and 5×
            major = [e + math.log10(m) for e in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)]
            major = [v for v in major if lo - 1e-12 <= v <= hi + 1e-12]
            minor = [e + math.log10(m) for e in range(math.floor(lo), math.ceil(hi)) for m in (3, 4, 6, 7, 8, 9)]
        elif step == 1 and per_decade >= 3 * min_px:                    # room for 2…9 between decades
            minor = [e + math.log10(m) for e in range(math.floor(lo), math.ceil(hi)) for m in range(2, 10)]
        elif step > 1:
            minor = [float(e) for e in range(d0, d1 + 1) if e % step]
        minor = [v for v in minor if lo <= v <= hi]
        return [(float(step), major), (None, minor)]  # spacing None: not a linear axis
    for mantissas in ((1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        vals = [e + math.log10(m) for e in range(math.floor(lo) - 1, math.ceil(hi) + 1) for m in mantissas]
        vals = [v for v in vals if lo - 1e-12 <= v <= hi + 1e-12]
        if 2 <= len(vals) <= max_labels:
            return [(None, vals), (None, [])]
        if mantissas == (1, 2, 5) and len(vals) > max_labels:     # a short axis: every k-th of them
            k = -(-(len(vals) - 1) // (max_labels - 1))
            return [(None, vals[::k]), (None, [v for v in vals if v not in vals[::k]])]
    # a narrow view: evenly spaced values in the data's own units
    a, b = 10.0 ** lo, 10.0 ** hi
    raw = (b - a) / 3
    if not 1e-300 < raw < math.inf:           # values near the ends of float64: one label, mid-view
        return [(None, [lo / 2 + hi / 2]), (None, [])]
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.ceil(a / step) * step
    vals = [math.log10(start + k * step) for k in range(int((b - start) / step) + 1) if start + k * step > 0]
    return [(None, vals), (None, [])]


def log_tick_strings(values) -> list[str]:
    """Labels of one log axis in one format: whole numbers (1, 20, 1,000) when every labelled value
    is a whole number from 1 to 10⁶ (unit counts, parameters), else 10ᵉ / m×10ᵉ for all."""
    vals = [10.0 ** v for v in values]
    if vals and all(1 <= x < 1e6 and abs(x - round(x)) < 1e-6 * x for x in vals):
        return [f"{int(round(x)):,}" for x in vals]
    return [format_log_value(x) for x in vals]


class PlotAxisItem(pg.AxisItem):
    """A pyqtgraph axis with the project's ticks.

    ``integer=True``: ticks only at whole numbers (epochs, steps, timesteps, units).
    ``labels``: with ``integer``, text for the tick at 1, 2, … (the characters of a text sample);
    shown wherever there is room for them.
    In log mode: :func:`log_tick_levels` and :func:`format_log_value`.
    """

    def __init__(self, orientation, integer: bool = False, labels=None, **kw):
        super().__init__(orientation, **kw)
        self.integer = bool(integer)
        #: values are decimal years of dates: ticks at calendar boundaries, labelled as dates (year,
        #: month, day or hour)
        self.dates = False
        #: whole values are years: written 2008, not 2,008
        self.years = False
        #: what the plotted values are measured from: a tick at v is labelled v + offset (the plot
        #: keeps its coordinates small, so that an SVG's six significant digits keep an hour's detail)
        self.offset = 0.0
        self._date_unit = ("Y", 1)
        self.labels = list(labels) if labels is not None else None
        self.enableAutoSIPrefix(False)

    def labelString(self) -> str:  # noqa: N802 - pyqtgraph's name
        """The axis title as the HTML pyqtgraph draws, its text escaped: a column's name such as
        ``<img src=…>`` is shown as written, never read as markup."""
        units = f" ({self.labelUnitPrefix}{self.labelUnits})" if self.labelUnits else ""
        style = ";".join(f"{k}: {v}" for k, v in self.labelStyle.items())
        return f"<span style='{html.escape(style)}'>{html.escape(str(self.labelText) + units)}</span>"

    def set_label_forms(self, *forms: str) -> None:
        """The axis title in forms from longest to shortest; the longest that fits along the axis is
        shown (a long y label in a short dock is never cut off)."""
        self._forms = [f for f in forms if f]
        if self._fit_label():
            pg.AxisItem.resizeEvent(self)             # places the new label


    _forms: list = []

    def _fit_label(self) -> bool:
        if not self._forms:
            return False
        from PySide6.QtGui import QFontMetricsF
        length = self.size().height() if self.orientation in ("left", "right") else self.size().width()
        metrics = QFontMetricsF(self.label.font())
        fits = [f for f in self._forms if metrics.horizontalAdvance(f) <= length - 6]
        if not fits and length > 0:                   # not even the shortest: no title rather than a cut one
            if not self.label.isVisible():
                return False
            self.showLabel(False)
            return True
        text = fits[0] if fits else self._forms[-1]
        if text == self.labelText and (self.label.isVisible() or length <= 0):
            return False
        self.setLabel(text)                           # (shows the label again)
        return True

    def resizeEvent(self, ev=None):  # noqa: N802
        self._fit_label()                             # before the label is placed for the new size
        super().resizeEvent(ev)

    def set_labels(self, labels) -> None:
        self.labels = list(labels) if labels is not None else None
        self.picture = None
        self.update()

    def _min_px(self, lo: float = 0.0, hi: float = 0.0) -> float:
        """Room one label needs along the axis: its height on a vertical axis, its width (about 7 px
        a character, from the widest value in view) on a horizontal one."""
        if self.orientation not in ("top", "bottom"):
            return 24.0
        if self.logMode:
            return 46.0
        if self.dates:
            return 7.0 * 12 + 16.0                    # "19 Jan 2014", "03 Mar 14:00"
        widest = max(len(format_number(v, 1.0)) for v in (lo, hi))
        return 7.0 * widest + 16.0

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802
        levels = super().tickSpacing(minVal, maxVal, size)
        if not self.integer or self.logMode:
            return levels
        span = abs(maxVal - minVal)
        if self.labels is not None and span > 0:
            # as many characters as fit (each needs about 11 px): every one, or every 2nd, 5th, …
            need = 11.0 / (size / span)
            step = next(m * 10 ** e for e in range(9) for m in (1, 2, 5) if m * 10 ** e >= need)
            return [(float(step), 0.0)] + ([(1.0, 0.0)] if step > 1 else [])
        whole = [(s, o) for s, o in levels if s >= 1]
        if span > 0 and size > 0:
            # labels at least min_px apart, however short the axis: a step of 1, 2, 5, 10, … units
            need = self._min_px(minVal, maxVal) / (size / span)
            step = next(m * 10 ** e for e in range(12) for m in (1, 2, 5) if m * 10 ** e >= max(need, 1))
            if not whole or whole[0][0] < step:    # pyqtgraph's major ticks would crowd: labels every step
                whole = [(float(step), 0.0)] + [(s, o) for s, o in whole if s < step]
        return whole or [(1.0, 0.0)]

    def tickValues(self, minVal, maxVal, size):  # noqa: N802
        if self.logMode:
            return log_tick_levels(minVal, maxVal, size, self._min_px())
        if self.dates and not self.integer and self.orientation in ("top", "bottom"):
            lo, hi = sorted((minVal + self.offset, maxVal + self.offset))
            self._date_unit, ticks = date_ticks(lo, hi, max(2, int(size // self._min_px())))
            return [(_UNIT_YEARS[self._date_unit[0]] * self._date_unit[1], [v - self.offset for v in ticks])]
        levels = super().tickValues(minVal, maxVal, size)
        if self.integer:
            levels = [(s, [v for v in vals if abs(v - round(v)) < 1e-6]) for s, vals in levels]
            # minor levels of whole numbers are drawn as ticks, labelled only at level 0
        return levels

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        if self.logMode:
            return log_tick_strings(values)
        if self.integer and self.labels is not None:
            out = []
            for v in values:
                k = int(round(v))
                out.append(_visible(self.labels[k - 1]) if 1 <= k <= len(self.labels) else "")
            return out
        if spacing is None:
            spacing = 1.0
        if self.dates and not self.integer:
            return [format_date_tick(v * scale + self.offset, self._date_unit[0]) for v in values]
        if self.years and spacing * scale >= 1:
            return [str(int(round(v * scale + self.offset))) for v in values]
        return [format_number(v * scale + self.offset, spacing * scale) for v in values]

    def generateDrawSpecs(self, p):  # noqa: N802
        # integer and log axes label one level only: minor ticks stay unlabelled (no piling up)
        self.style["maxTextLevel"] = 0 if (self.logMode or self.integer) else 2
        return super().generateDrawSpecs(p)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def decimal_years(values) -> np.ndarray:
    """datetime64 values as decimal years (2014.5 is the middle of 2014), to the second."""
    secs = np.asarray(values).astype("datetime64[s]")
    years = secs.astype("datetime64[Y]")
    start = years.astype("datetime64[s]")
    length = (years + 1).astype("datetime64[s]") - start
    frac = (secs - start).astype(np.float64) / length.astype(np.float64)
    return years.astype(np.int64).astype(np.float64) + 1970 + frac


#: Calendar units in years (a month, day, hour and minute on average).
_UNIT_YEARS = {"Y": 1.0, "M": 1 / 12, "D": 1 / 365.2425, "h": 1 / 8765.82, "m": 1 / 525949.2}
_DATE_STEPS = (("m", 1), ("m", 5), ("m", 10), ("m", 15), ("m", 30), ("h", 1), ("h", 2), ("h", 3), ("h", 6),
               ("h", 12), ("D", 1), ("D", 2), ("D", 7), ("D", 14), ("M", 1), ("M", 2), ("M", 3), ("M", 6),
               ("Y", 1), ("Y", 2), ("Y", 5), ("Y", 10), ("Y", 20), ("Y", 50), ("Y", 100), ("Y", 200), ("Y", 500))


def _from_decimal_year(v: float) -> np.datetime64:
    year = int(np.floor(v))
    start = np.datetime64(f"{year:04d}-01-01", "s")
    length = (np.datetime64(f"{year + 1:04d}-01-01", "s") - start).astype(np.int64)
    return start + np.timedelta64(int(round((v - year) * length)), "s")


def date_ticks(lo: float, hi: float, max_labels: int) -> tuple[tuple[str, int], list]:
    """Ticks of a date axis from decimal year ``lo`` to ``hi`` at calendar boundaries: year, month,
    day, hour or minute starts (every 1, 2, 5 … of them), the finest with at most ``max_labels`` in
    view. Returns ((unit, step), the ticks as decimal years)."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo or lo < 1 or hi > 9000:
        return ("Y", 1), []
    span = hi - lo
    for unit, step in _DATE_STEPS:
        if span / (_UNIT_YEARS[unit] * step) <= max_labels:
            break
    a, b = _from_decimal_year(lo).astype(f"datetime64[{unit}]"), _from_decimal_year(hi).astype(f"datetime64[{unit}]")
    k = np.arange(a.astype(np.int64), b.astype(np.int64) + 1)
    shift = {"Y": 1970, "D": 3}.get(unit, 0)     # years at multiples of the step, weeks from a Monday
    k = k[(k + shift) % step == 0]
    ticks = decimal_years(k.astype(f"datetime64[{unit}]"))
    return (unit, step), [float(t) for t in ticks if lo - 1e-12 <= t <= hi + 1e-12]


def format_date_tick(v: float, unit: str) -> str:
    """A tick at decimal year ``v`` labelled for its calendar ``unit``: ``2008`` (years),
    ``Mar 2008`` (months), ``19 Mar 2008`` (days), ``19 Mar 14:00`` (hours and minutes)."""
    if not np.isfinite(v) or v < 1 or v > 9000:
        return ""
    text = str(_from_decimal_year(v).astype("datetime64[m]"))              # YYYY-MM-DDTHH:MM
    y, mo, d, hm = text[:4].lstrip("0") or "0", _MONTHS[int(text[5:7]) - 1], text[8:10].lstrip("0"), text[11:16]
    if unit == "Y":
        return y
    if unit == "M":
        return f"{mo} {y}"
    if unit == "D":
        return f"{d} {mo} {y}"
    return f"{d} {mo} {hm}"


def _visible(c: str) -> str:
    """A character as a person can see it: space ␣, newline ⏎, tab ⇥."""
    return {" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "↵"}.get(c, c)

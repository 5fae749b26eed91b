"""The one colour scale of LSTM Explorer, shared by the cell diagram, the equations and the plots.

* :func:`diverging_color` maps a value to a colour on one diverging scale:
  negative = blue, 0 = neutral light grey, positive = orange/red (colour-blind safe:
  a blue-orange scale after ColorBrewer's PuOr/RdBu, distinguishable with deuteranopia
  and protanopia). Sigmoid gates live in [0, 1] (neutral .. orange), tanh values in
  [-1, 1] (blue .. neutral .. orange); values beyond ``vmax`` are clipped.
* :data:`GATE_COLORS` gives every quantity an identity colour (Okabe-Ito palette) used
  for chips, curves and outlines: "i", "f", "g", "o", "c", "h" (and "x").
"""

from __future__ import annotations

import math

from PySide6.QtGui import QColor

__all__ = [
    "DIVERGING_STOPS",
    "GATE_COLORS",
    "diverging_color",
    "diverging_rgb",
    "text_color_on",
]

#: (position in [-1, 1], (r, g, b)) stops of the diverging scale.
DIVERGING_STOPS: tuple[tuple[float, tuple[int, int, int]], ...] = (
    (-1.0, (33, 102, 172)),   # deep blue   #2166ac
    (-0.5, (120, 172, 214)),  # light blue
    (0.0, (238, 238, 236)),   # neutral
    (0.5, (250, 180, 100)),   # light orange
    (1.0, (214, 84, 16)),     # deep orange-red #d65410
)

#: Identity colours (Okabe-Ito, colour-blind friendly).
GATE_COLORS: dict[str, QColor] = {
    "f": QColor("#CC79A7"),  # reddish purple: forget
    "i": QColor("#009E73"),  # bluish green:   input
    "g": QColor("#E69F00"),  # orange:         candidate
    "o": QColor("#56B4E9"),  # sky blue:       output
    "c": QColor("#0072B2"),  # blue:           cell state
    "h": QColor("#D55E00"),  # vermillion:     hidden state
    "x": QColor("#7F7F7F"),  # grey:           input x
}

# 256-entry lookup table over [-1, 1]: fast and allocation-free per call.
_LUT_SIZE = 257


def _interp(u: float) -> tuple[int, int, int]:
    stops = DIVERGING_STOPS
    if u <= stops[0][0]:
        return stops[0][1]
    for (p0, c0), (p1, c1) in zip(stops, stops[1:]):
        if u <= p1:
            a = (u - p0) / (p1 - p0)
            return tuple(round(c0[k] + a * (c1[k] - c0[k])) for k in range(3))  # type: ignore[return-value]
    return stops[-1][1]


_LUT_RGB: list[tuple[int, int, int]] = [
    _interp(-1.0 + 2.0 * k / (_LUT_SIZE - 1)) for k in range(_LUT_SIZE)
]
_LUT_QCOLOR: list[QColor] = [QColor(*rgb) for rgb in _LUT_RGB]


def _index(value: float, vmax: float) -> int:
    v = float(value)
    if not math.isfinite(v):
        return (_LUT_SIZE - 1) // 2
    if vmax <= 0:
        vmax = 1.0
    u = max(-1.0, min(1.0, v / vmax))
    return int(round((u + 1.0) * 0.5 * (_LUT_SIZE - 1)))


def diverging_rgb(value: float, vmax: float = 1.0) -> tuple[int, int, int]:
    """``(r, g, b)`` of :func:`diverging_color` (for HTML and non-Qt users)."""
    return _LUT_RGB[_index(value, vmax)]


def diverging_color(value: float, vmax: float = 1.0) -> QColor:
    """Colour of ``value`` on the shared diverging scale ``[-vmax, vmax]`` (clipped).

    Returns a new QColor (callers may modify it).
    """
    return QColor(_LUT_QCOLOR[_index(value, vmax)])


def text_color_on(color: QColor) -> QColor:
    """Black or white, whichever reads better on ``color``."""
    lum = 0.2126 * color.redF() + 0.7152 * color.greenF() + 0.0722 * color.blueF()
    return QColor(20, 20, 20) if lum > 0.5 else QColor(250, 250, 250)

"""The diagram's frame: everything one paint of a cell shows, built from a trace (Qt-free).

:func:`frame_at` gives the :class:`Frame` of one unit at one step (the window's diagram, the
animation and the tests use it), :func:`backward_frame` what the backward drawing shows,
:class:`ValueScale` the symmetric scale of colour and width. :mod:`explorer.figures.cell_canvas`
only paints a frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .backward_view import backward_step
from .cell_view import CellView, as_view, fmt, input_column
from .layer_view import LayerPlace
from ..engine.describe import CellDescription

__all__ = ["Frame", "UNIT_SCALE", "ValueScale", "backward_frame", "belt_scale_of", "frame_at", "x_text"]


class ValueScale:
    """A symmetric scale ±vmax for colour and width (the belt's follows the run's range)."""

    def __init__(self, vmax: float = 1.0):
        self.vmax = float(vmax) if vmax and math.isfinite(vmax) and vmax > 0 else 1.0

    @classmethod
    def of(cls, *arrays) -> "ValueScale":
        """The scale that holds every finite value of ``arrays`` (rounded up to two significant
        digits, so the legend prints a number a person reads at a glance); ±1 when all are 0."""
        m = 0.0
        for a in arrays:
            a = np.asarray(a, dtype=float)
            a = a[np.isfinite(a)]
            if a.size:
                m = max(m, float(np.max(np.abs(a))))
        if m <= 0.0:
            return cls(1.0)
        if m < 1e-300:                # near float64's end (denormals): 10 ** -e would overflow
            return cls(m)
        e = math.floor(math.log10(m)) - 1
        k = math.ceil(m / 10.0 ** e * (1 - 1e-12))
        return cls(k * 10.0 ** e if e >= 0 else k / 10.0 ** -e)

    def width(self, v: float, base: float = 4.0, span: float = 14.0) -> float:
        """Line width: ``base`` at 0, ``base + span`` at ±vmax and beyond."""
        a = abs(float(v)) if math.isfinite(float(v)) else 0.0
        return base + span * min(a, self.vmax) / self.vmax

    def label(self) -> str:
        if self.vmax < 0.01:          # a tiny scale in two significant digits, never "0"
            return f"{self.vmax:.2g}"
        return fmt(self.vmax, 2 if self.vmax < 10 else 1).rstrip("0").rstrip(".")


UNIT_SCALE = ValueScale(1.0)


@dataclass
class Frame:
    """Everything one paint shows: which cell, the selected unit's numbers (``values``: the
    description's unit values plus ``x_text``, ``prev`` and ``preact``), the strip (``strip``:
    the bar quantity and every gate as (n,) arrays), the belt's scale and the header."""

    desc: CellView
    values: dict | None = None
    title: str = ""
    header: str = ""
    n_units: int = 0
    unit: int = 0
    strip: dict = field(default_factory=dict)
    belt_scale: ValueScale = field(default_factory=ValueScale)
    backward: dict | None = None      # the backward pass at this step (:func:`backward_frame`), or None
    held: dict = field(default_factory=dict)   # what an intervention holds here: {gate or "h": value}
    place: LayerPlace | None = None     # the layer and direction drawn (deep / bidirectional models)



def belt_scale_of(desc: CellDescription, trace, b: int = 0) -> ValueScale:
    """The belt's scale: ±(the largest |value| of the belt's state over sample ``b`` of ``trace``,
    its initial state included); ±1 for a cell without a belt."""
    if trace is None or not desc.has_belt:
        return ValueScale()
    name = desc.belt_name
    initial = getattr(trace, name + "0", None)              # c0 / h0: the belt's start at t = 1
    return ValueScale.of(getattr(trace, name)[b], [] if initial is None else initial[b])


def x_text(x, vocab=None, note: str = "") -> str:
    """How the diagram writes the input x_t: one-hot('word'), a token id, or its first values
    followed by ``note`` (what the values are: "z-scored")."""
    col = input_column(x)
    if col is not None and vocab is not None and col < len(vocab):
        return f"= one-hot('{vocab[col]}')"
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        return f"= token {int(a)}"
    m = int(a.shape[0])
    tail = f" {note}" if note else ""
    if m <= 2:
        return "= [" + ", ".join(fmt(e) for e in a) + "]" + tail
    if m <= 4:
        return "= [" + ", ".join(fmt(e, 2) for e in a) + "]" + tail
    return f"({m} values) = [" + ", ".join(fmt(e, 2) for e in a[:3]) + ", \u2026]" + tail


def frame_at(desc: CellDescription, trace, t: int, unit: int, *, b: int = 0, sample: int | str | None = None,
             vocab=None, belt_scale: ValueScale | None = None, layer: int = 0, direction: int = 0,
             num_layers: int = 1, num_directions: int = 1, x_note: str = "") -> Frame:
    """The :class:`Frame` that shows unit ``unit`` of sample ``b`` of ``trace`` (one layer and
    direction's trace, as ``Trace.layer(k, d)`` gives) at timestep ``t`` (0-based; clamped), with
    the header "sample S · t = 3 / 50 · unit 0 of 8" (plus, for a deeper or bidirectional model —
    ``num_layers``, ``num_directions`` of the whole trace — "layer 2 of 2 · reverse", and the values
    ``x_from`` (what x_t is: the layer below's h_t), ``h_to`` (where h_t goes) and ``time_note``
    (which way the direction's time runs) that the scene writes at its input and output; see :class:`~explorer.app.layer_view.LayerPlace`).
    ``x_note`` says what the data's input values are ("z-scored"), written after them."""
    desc = as_view(desc)
    if trace is None:
        return Frame(desc, title=f"{desc.title} cell")
    T, n = int(trace.T), int(trace.h.shape[-1])
    t, j = min(max(int(t), 0), T - 1), min(max(int(unit), 0), n - 1)
    place = LayerPlace(int(layer), int(direction), int(num_layers), int(num_directions), n, T)
    rec = desc.record(trace, b, t)
    v = desc.unit_values(rec, j)
    v["x"] = rec["x"]
    v["x_text"] = x_text(rec["x"], vocab, x_note if int(layer) == 0 else "")
    v["prev"] = place.prev_sub(t)                  # reverse direction: the previous state is t + 1's
    v["preact"] = {row.key: row.preact for row in desc.equation_rows(rec, None, j)}
    v["belt_text"] = desc.belt_labels(v)
    v["x_from"] = place.input_text if place.layer > 0 else ""
    v["h_to"] = place.output_text if place.stacked else ""
    where = "  \u00b7  " + place.name if place.stacked else ""
    v["time_note"] = place.time_text
    header = f"sample {b if sample is None else sample}  \u00b7  t = {t + 1} / {T}  \u00b7  unit {j} of {n}{where}"
    strip = {"bar": rec[desc.belt_name or "h"]}
    strip.update({g.name: rec[g.name] for g in desc.gates})
    return Frame(desc, v, title=f"{desc.title} cell", header=header, n_units=n, unit=j, strip=strip,
                 belt_scale=belt_scale if belt_scale is not None else belt_scale_of(desc, trace, b),
                 place=place)


def backward_frame(desc: CellDescription, trace, grads, t: int, unit: int, weights=None, *, layer: int = 0,
                   direction: int = 0) -> dict:
    """What the diagram's backward drawing shows at step ``t`` (0-based) of ``unit``: the
    description's :func:`~explorer.app.backward_view.backward_step` (``belt``: the gradient reaching
    the belt from the right and from h, scaled at the × by the keep gate, leaving to the left;
    ``shrink``: the plain RNN's factor and running product), the gradient's scale over the sample
    (``scale``), which state it is of (``quantity``) and the subscripts of the next and previous
    steps in the direction's order. ``trace`` is the whole model's (batch 1)."""
    desc = as_view(desc)
    step = backward_step(desc, trace, grads, t, unit, weights, layer=layer, direction=direction)
    g = grads.layer(layer, direction) if getattr(grads, "layers", ()) else grads
    quantity = desc.belt_name if desc.has_belt else "h"
    arr = g.dc if quantity == "c" and g.dc is not None else g.dh
    T = int(arr.shape[1])
    nxt, prv = ("t\u22121", "t+1") if direction else ("t+1", "t\u22121")
    first = t == (T - 1 if direction else 0)
    return {"quantity": quantity, "scale": ValueScale.of(arr[0]), "belt": step.belt, "shrink": step.shrink,
            "units": np.array(arr[0, t], copy=True),
            "dh": float(g.dh[0, t, unit]), "last": step.last, "next": nxt, "prev": "0" if first else prv,
            "t": int(t), "T": T}

"""Interventions: experiments on the live cell (hold a gate, silence a unit, set one weight).

>>> from explorer.engine import Clamp, SetWeight
>>> trace = model.forward(x, interventions=[Clamp("f", 1.0, units=[3], steps=range(10, 20))])

A :class:`Clamp` replaces an activation after the cell computed it, so everything downstream
(the cell state, h, the next steps, the head) sees the held value and the trace shows it. A
clamped value is a constant: no gradient flows through it to its pre-activation (its weights
get none from the clamped steps and units). A :class:`SetWeight` evaluates the model with one
number of its state dict changed; the model's own weights are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .cells import CellClamp


def _finite(iv, what: str) -> None:
    """Refuse a held value or a set weight that is not a finite number (NaN or an infinity would
    spread through every later step and the loss, silently)."""
    try:
        ok = bool(np.isfinite(float(iv.value)))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{what} {iv.value!r}: the value must be a finite number.")


@dataclass(frozen=True)
class Clamp:
    """Hold ``name`` at ``value`` for ``units`` (None: all) at ``steps`` (None: all; 0-based
    timesteps in the sequence's own order, also for the reverse direction) of layer ``layer``,
    direction ``direction``. ``name`` is a gate of the cell (lstm, peephole: i f g o; gru: r z)
    or ``"h"`` (hold a unit's hidden state; the plain RNN has only this)."""

    name: str
    value: float
    units: Any = None
    steps: Any = None
    layer: int = 0
    direction: int = 0

    def __post_init__(self):
        _finite(self, f"{self.name} cannot be held at")


@dataclass(frozen=True)
class SetWeight:
    """Evaluate with ``state_dict()[key][index] = value`` (``key`` a state-dict name such as
    ``"weight_hh_l0"``, ``index`` an int or a tuple into that array)."""

    key: str
    index: Any
    value: float

    def __post_init__(self):
        _finite(self, f"{self.key} cannot be set to")


def _indices(spec, size: int, what: str, clamp: Clamp) -> np.ndarray:
    if spec is None:
        return np.arange(size)
    if isinstance(spec, (int, np.integer)):
        spec = [spec]
    idx = np.asarray(list(spec), dtype=np.intp)
    if idx.ndim != 1:
        raise ValueError(f"{clamp!r}: {what} must be an int, a range or a list of ints")
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise ValueError(f"{clamp!r}: {what} must lie in 0..{size - 1}")
    return np.unique(idx)


def resolve(model, interventions, T: int):
    """``(params or None, {(layer, direction): [CellClamp, ...]} or None)`` for ``model`` on
    sequences of ``T`` steps; raises ValueError with one sentence for anything it cannot apply."""
    if not interventions:
        return None, None
    clamps: dict = {}
    params = None
    sets = []
    for iv in interventions:
        if isinstance(iv, Clamp):
            if not (0 <= iv.layer < model.num_layers):
                raise ValueError(f"{iv!r}: the model has layers 0..{model.num_layers - 1}")
            if not (0 <= iv.direction < model.num_directions):
                raise ValueError(f"{iv!r}: the model has direction{'s 0 and 1' if model.bidirectional else ' 0 only'}")
            cell = model.cells[iv.layer][iv.direction]
            if iv.name not in cell.clamp_names:
                raise ValueError(f"{iv!r}: the {cell.kind} cell can hold {', '.join(cell.clamp_names)}")
            units = _indices(iv.units, cell.n, "units", iv)
            steps = _indices(iv.steps, T, "steps", iv)
            if iv.direction == 1:
                steps = T - 1 - steps                 # the reverse cell runs in its own order
            clamps.setdefault((iv.layer, iv.direction), []).append(
                CellClamp(iv.name, units, steps, float(iv.value)))
        elif isinstance(iv, SetWeight):
            sets.append(iv)
        else:
            raise ValueError(f"{iv!r} is not an intervention; use Clamp(...) or SetWeight(...)")
    if sets:
        sd = model.state_dict()
        for iv in sets:
            if iv.key not in sd:
                raise ValueError(f"{iv!r}: the state dict has no {iv.key!r}")
            try:
                sd[iv.key][iv.index] = iv.value
            except (IndexError, TypeError, ValueError):
                raise ValueError(f"{iv!r}: index {iv.index!r} does not fit {iv.key!r} of shape "
                                 f"{sd[iv.key].shape}") from None
        params = model.params.copy()
        model.load_flat(sd, params)
    return params, clamps or None


__all__ = ["Clamp", "SetWeight", "resolve"]

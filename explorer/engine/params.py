"""How many parameters a model's recurrent layers hold, and that count written as a formula.

One registry per cell kind (:func:`register_param_formula`): the count of one direction of one
layer over m inputs, ``count(n, m)``, and the same count as text with the layer's inputs written
``{m}`` (``"4n({m}+n+1)"``). Everything that counts or prints the count — the model's sizes
checks, the description, the parameter plot — reads it here; a new cell family registers its own.
Layer 1 reads the m inputs, every deeper layer the D·n outputs of the one below; each direction
has its own weights.

>>> recurrent_param_count("peephole", 8, 1, layers=3)
1480
>>> param_formula("peephole", layers=3)
'4n(m+n+1)+3n + 2·[4n(n+n+1)+3n]'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .cells import gru_param_count, lstm_param_count, peephole_param_count, rnn_param_count

__all__ = ["PARAM_COUNTS", "PARAM_FORMULAS", "LayerFormula", "layer_formula", "param_formula",
           "recurrent_param_count", "register_param_formula"]


@dataclass(frozen=True)
class LayerFormula:
    """One direction of one layer: ``count(n, m)`` parameters, written ``text`` (``{m}``: the inputs)."""

    count: Callable[[int, int], int]
    text: str


PARAM_FORMULAS: dict[str, LayerFormula] = {}
#: ``{kind: count(n, m)}``: the counts alone (the same functions as :data:`PARAM_FORMULAS`).
PARAM_COUNTS: dict[str, Callable[[int, int], int]] = {}


def register_param_formula(kind: str, count: Callable[[int, int], int], text: str) -> None:
    """Make ``kind``'s layer count ``count(n, m)`` and its formula ``text`` (in n and ``{m}``)
    known to every count and every formula printed."""
    if "{m}" not in text:
        raise ValueError(f"the formula of {kind!r} must write the layer's inputs as {{m}}: {text!r}")
    PARAM_FORMULAS[kind] = LayerFormula(count, text)
    PARAM_COUNTS[kind] = count


register_param_formula("lstm", lstm_param_count, "4n({m}+n+1)")
register_param_formula("peephole", peephole_param_count, "4n({m}+n+1)+3n")
register_param_formula("rnn", rnn_param_count, "n({m}+n+1)")
register_param_formula("gru", gru_param_count, "3n({m}+n+2)")


def recurrent_param_count(kind: str, n_units: int, n_inputs: int = 1, layers: int = 1, directions: int = 1) -> int:
    """Parameters of every recurrent layer (the head excluded)."""
    count = PARAM_FORMULAS[kind].count
    n, D = int(n_units), int(directions)
    return D * (count(n, int(n_inputs)) + (int(layers) - 1) * count(n, D * n))


def _sum_at_top(text: str) -> bool:
    """Whether ``text`` is a sum outside every bracket (then a factor must bracket it)."""
    depth = 0
    for ch in text:
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == "+" and depth == 0:
            return True
    return False


def _times(k: int, text: str) -> str:
    return f"{k}·[{text}]" if _sum_at_top(text) else f"{k}·{text}"


def layer_formula(kind: str, inputs: str = "m", spaced: bool = False) -> str:
    """One direction of one layer over ``inputs`` (a name: "m", "n", "2n"); ``spaced``: the
    README's "4n(m + n + 1)"."""
    text = PARAM_FORMULAS[kind].text.format(m=inputs)
    return text.replace("+", " + ") if spaced else text


def param_formula(kind: str, layers: int = 1, directions: int = 1) -> str:
    """:func:`recurrent_param_count` as a formula in n and m, e.g. ``2·[3n(m+n+2) + 3n(2n+n+2)]``."""
    layers, D = int(layers), int(directions)
    first = layer_formula(kind)
    text = first
    if layers > 1:
        deeper = layer_formula(kind, "n" if D == 1 else f"{D}n")
        text = f"{first} + {deeper if layers == 2 else _times(layers - 1, deeper)}"
    return _times(D, text) if D > 1 else text

"""What each cell is: its gates, states, belt, trace fields and parameter count — the facts.

Everything that shows a cell reads a :class:`CellDescription` instead of knowing which cell it
shows; nothing outside this module asks ``kind == "lstm"``. The description owns no maths of its
own: the gate order, the state names and the trace fields come from the cells
(:mod:`explorer.engine.cells`), the parameter counts and their formulas from
:mod:`explorer.engine.params`, the values from the trace (through ``Trace.step``). How a cell is
*shown* — colours, labels, tooltips, number formats, the equation and backward rows — is the
presentation layer's (:mod:`explorer.app.cell_view`, :mod:`explorer.app.backward_view`).

>>> d = describe("gru")
>>> [g.name for g in d.gates], d.belt_name, d.param_count(8, 1)
(['r', 'z', 'g'], 'h', 264)

No Qt here (the engine layer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .cells import CELLS
from .gates import LSTM_GATES
from .params import layer_formula, param_formula, recurrent_param_count

__all__ = ["CellDescription", "GateInfo", "KINDS", "describe"]

#: every cell the engine builds, in the order menus offer them
KINDS = ("lstm", "peephole", "gru", "rnn")


@dataclass(frozen=True)
class GateInfo:
    """One gate (or the candidate) of a cell: its trace field ``name`` and its ``activation``
    ("sigmoid" or "tanh")."""

    name: str
    activation: str


@dataclass(frozen=True)
class CellDescription:
    """The facts of one kind of cell (see the module docstring).

    ``gates``: in the engine's gate order. ``state_names``: ("h", "c") or ("h",). ``has_belt`` and
    ``belt_name``: which state runs through the cell on a "belt" (the LSTMs: c; the GRU: h, kept
    z ⊙ h_{t−1}, written (1 − z) ⊙ g; the RNN: none). ``trace_names``: the trace's per-step
    fields. ``peepholes``: the gates that see the cell state.
    ``param_count_formula``: the count of one layer over m inputs, as written in README
    (:mod:`explorer.engine.params`, as the count).
    ``keep_gate``: the gate whose value is the share of the belt's previous value a step keeps (the
    LSTMs: f in c_t = f ⊙ c_{t−1} + …; the GRU: z in h_t = z ⊙ h_{t−1} + …; the RNN: None) — what
    :mod:`explorer.app.memory_view` multiplies along the belt.
    """

    kind: str
    title: str
    gates: tuple
    state_names: tuple
    has_belt: bool
    belt_name: str | None
    trace_names: tuple
    peepholes: tuple = ()
    kept_formula: str = ""
    written_formula: str = ""
    preact_field: str | None = None
    keep_gate: str | None = None
    _belt: Callable = field(default=None, repr=False, compare=False)

    def gate(self, name: str) -> GateInfo:
        for g in self.gates:
            if g.name == name:
                return g
        raise KeyError(f"the {self.title} has no gate {name!r}")

    @property
    def gate_names(self) -> tuple:
        return tuple(g.name for g in self.gates)

    @property
    def csv_columns(self) -> tuple:
        """The per-unit quantities of one step, as ``diagram.csv`` writes them (before t, unit
        and the inputs x…)."""
        has_c = "c" in self.state_names
        return (("h_prev",) + (("c_prev",) if has_c else ()) + self.gate_names
                + (("c",) if has_c else ()) + ("h",))

    def param_count(self, n_units: int, n_inputs: int = 1, layers: int = 1, directions: int = 1) -> int:
        """Parameters of the recurrent layers (the head excluded): layer 0 over m inputs, every
        later layer over the D·n outputs of the one below, each direction its own weights."""
        return recurrent_param_count(self.kind, n_units, n_inputs, layers, directions)

    @property
    def param_count_formula(self) -> str:
        """One layer's count over m inputs: "4n(m + n + 1)"."""
        return layer_formula(self.kind, spaced=True)

    def param_formula(self, layers: int = 1, directions: int = 1) -> str:
        """:meth:`param_count` as a formula in n and m."""
        return param_formula(self.kind, layers, directions)

    # -- one step ---------------------------------------------------------------------------------
    def record(self, trace, b: int, t: int) -> dict:
        """``trace.step(b, t)`` (x, h_prev, c_prev, the gates, c, h) with every field of
        :attr:`trace_names` present and the pre-activations as ``"preact"`` where the trace keeps
        them. The previous state comes from ``Trace.step`` alone."""
        rec = dict(trace.step(b, t))
        for name in self.trace_names:
            if name not in rec:
                rec[name] = getattr(trace, name)[b, t]
        if self.preact_field is not None and "preact" not in rec:
            rec["preact"] = getattr(trace, self.preact_field)[b, t]
        return rec

    def unit_values(self, record: dict, unit: int) -> dict:
        """The numbers of one unit in ``record``: h_prev (c_prev), every gate, c, h, and for cells
        with a belt ``kept`` and ``written`` (products of two trace values, nothing else)."""
        j = int(unit)
        out = {"h_prev": float(record["h_prev"][j])}
        if "c_prev" in record:
            out["c_prev"] = float(record["c_prev"][j])
        for g in self.gates:
            out[g.name] = float(record[g.name][j])
        for s in self.state_names:
            out[s] = float(record[s][j])
        if self._belt is not None:
            out.update(self._belt(out))
        return out


def _c_belt(v: dict) -> dict:
    return {"kept": v["f"] * v["c_prev"], "written": v["i"] * v["g"]}


def _h_belt(v: dict) -> dict:
    return {"kept": v["z"] * v["h_prev"], "written": (1.0 - v["z"]) * v["g"]}


_LSTM_ACT = {"i": "sigmoid", "f": "sigmoid", "g": "tanh", "o": "sigmoid"}
_GRU_GATES = (GateInfo("r", "sigmoid"), GateInfo("z", "sigmoid"), GateInfo("g", "tanh"))


def _build() -> dict:
    lstm_gates = tuple(GateInfo(k, _LSTM_ACT[k]) for k in LSTM_GATES)
    out = {}
    for kind, title, peeps in (("lstm", "LSTM", ()), ("peephole", "peephole LSTM", ("i", "f", "o"))):
        cell = CELLS[kind]
        out[kind] = CellDescription(
            kind=kind, title=title, gates=lstm_gates, state_names=tuple(cell.state_names), has_belt=True,
            belt_name="c", trace_names=tuple(cell.trace_names), peepholes=peeps,
            kept_formula="f \u2299 c_{t\u22121}", written_formula="i \u2299 g", preact_field="z",
            keep_gate="f", _belt=_c_belt)
    out["gru"] = CellDescription(
        kind="gru", title="GRU", gates=_GRU_GATES, state_names=tuple(CELLS["gru"].state_names),
        has_belt=True, belt_name="h", trace_names=tuple(CELLS["gru"].trace_names),
        kept_formula="z \u2299 h_{t\u22121}", written_formula="(1 \u2212 z) \u2299 g", preact_field=None,
        keep_gate="z", _belt=_h_belt)
    out["rnn"] = CellDescription(
        kind="rnn", title="plain RNN", gates=(), state_names=tuple(CELLS["rnn"].state_names),
        has_belt=False, belt_name=None, trace_names=tuple(CELLS["rnn"].trace_names), preact_field="z")
    return out


_DESCRIPTIONS = _build()


def describe(kind: str) -> CellDescription:
    """The :class:`CellDescription` of ``kind`` ("lstm", "peephole", "gru", "rnn")."""
    try:
        return _DESCRIPTIONS[kind]
    except KeyError:
        raise ValueError(f"unknown cell {kind!r}; choose one of {', '.join(KINDS)}") from None

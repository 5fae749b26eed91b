"""What each cell is, for everything that shows one: gates, states, belt, equations with numbers.

The window's diagram and equations, the command line and the tests read a
:class:`CellDescription` instead of knowing which cell they show; nothing outside this module
asks ``kind == "lstm"``. The description owns no maths of its own: the gate order, the state
names and the trace fields come from the cells (:mod:`explorer.engine.cells`), the parameter
counts and their formulas from :mod:`explorer.engine.params`, the values from the trace (through
``Trace.step``); :meth:`CellDescription.equation_rows` only splits a pre-activation into the
terms a person adds up by hand (W x, U h, the biases, the peepholes).

>>> d = describe("gru")
>>> [g.name for g in d.gates], d.belt_name, d.param_count(8, 1)
(['r', 'z', 'g'], 'h', 264)

No Qt here (the engine layer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..util.shown import checked, relation
from .cells import CELLS
from .params import layer_formula, param_formula, recurrent_param_count
from .gates import LSTM_GATES

__all__ = ["BackwardStep", "CellDescription", "EquationRow", "GateInfo", "KINDS", "backward_rows", "backward_step", "describe",
           "fmt", "formula_parts", "gfmt", "input_column"]

MINUS = "\u2212"
SIGMA = "\u03c3"
ODOT = "\u2299"

#: every cell the engine builds, in the order menus offer them
KINDS = ("lstm", "peephole", "gru", "rnn")


def fmt(value: float, nd: int = 3) -> str:
    """A number as the diagram and the equations show it: ``nd`` decimals, typographic minus,
    no "−0.000"."""
    s = f"{float(value):.{nd}f}"
    if s.startswith("-"):
        s = s[1:] if float(s) == 0.0 else MINUS + s[1:]
    return s


def _term(v: float, nd: int = 3) -> str:
    """A number as a later term of a sum: negative ones in parentheses."""
    s = fmt(v, nd)
    return f"({s})" if s.startswith(MINUS) else s


_SUBSCRIPT = re.compile(r"_\{([^}]*)\}|_([A-Za-z0-9]+)")


def formula_parts(text: str) -> list:
    """A formula as written here (``W_i x_t + U_i h_{t−1}``: ``_x`` and ``_{…}`` mark subscripts)
    as runs ``(text, is_subscript)``, for views that typeset it."""
    parts, pos = [], 0
    for m in _SUBSCRIPT.finditer(text):
        if m.start() > pos:
            parts.append((text[pos:m.start()], False))
        parts.append((m.group(1) or m.group(2), True))
        pos = m.end()
    if pos < len(text):
        parts.append((text[pos:], False))
    return parts


def input_column(x) -> int | None:
    """The column a one-hot input picks (a token id, or a vector with a single 1), else None."""
    a = np.asarray(x)
    if a.ndim == 0:
        return int(a) if np.issubdtype(a.dtype, np.integer) else None
    nz = np.flatnonzero(a)
    if nz.size == 1 and a[nz[0]] == 1.0 and a.size > 1:
        return int(nz[0])
    return None


@dataclass(frozen=True)
class GateInfo:
    """One gate (or the candidate) of a cell: its trace field ``name``, ``activation``
    ("sigmoid" or "tanh"), a one-sentence ``role``, an identity colour ``color_hex`` and the
    ``label`` a diagram writes under it ("forget f")."""

    name: str
    activation: str
    role: str
    color_hex: str
    label: str
    title: str = ""

    @property
    def symbol(self) -> str:
        """σ or tanh, as written in a formula."""
        return SIGMA if self.activation == "sigmoid" else "tanh"


@dataclass(frozen=True)
class EquationRow:
    """One equation of one unit at one step.

    ``formula`` is the symbolic right-hand side and ``numbers`` the same with this step's numbers,
    both plain text where ``_x`` / ``_{…}`` mark subscripts. ``terms`` holds every number
    ``numbers`` shows, by name (``wx``, ``uh``, ``b`` …); ``preact`` is the total inside the
    activation (the engine's own number where the trace keeps it) and ``value`` the trace's
    result. A view shows ``lhs = formula = numbers = act(preact) = value`` with the texts
    ``preact_text`` and ``value_text`` and their relations ``preact_rel`` and ``value_rel`` ("=",
    or "≈" where the shown numbers do not give the shown result: :mod:`explorer.util.shown`; the
    terms and results may carry more digits than usual where that makes them add up). ``block`` names the
    weight block of a gate row (``W_{block}``: "i" … for the LSTM, "r", "z", "n" for the GRU, ""
    for the RNN's single W); None for the state rows.
    """

    key: str
    lhs: str
    formula: str
    numbers: str
    value: float
    preact: float | None = None
    activation: str | None = None
    terms: dict = field(default_factory=dict)
    note: str = ""
    block: str | None = None
    preact_text: str = ""
    preact_rel: str = "="
    value_text: str = ""
    value_rel: str = "="


@dataclass(frozen=True)
class CellDescription:
    """Everything a view needs to know about one kind of cell (see the module docstring).

    ``gates``: in the engine's gate order. ``state_names``: ("h", "c") or ("h",). ``has_belt`` and
    ``belt_name``: which state runs through the cell on a "belt" (the LSTMs: c; the GRU: h, kept
    z ⊙ h_{t−1}, written (1 − z) ⊙ g; the RNN: none). ``trace_names``: the trace's per-step
    fields. ``peepholes``: the gates that see the cell state. ``tooltips``: a sentence for every
    part a diagram draws (each gate's name, "belt", "kept", "written", "h", "input", …).
    ``param_count_formula``: the count of one layer over m inputs, as written in README
    (:mod:`explorer.engine.params`, as the count).
    ``bias_note``: how the rows show torch's two biases (summed, or kept apart).
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
    tooltips: dict = field(compare=False)          # (a dict: the description stays hashable without it)
    bias_note: str = ""
    peepholes: tuple = ()
    kept_formula: str = ""
    written_formula: str = ""
    preact_field: str | None = None
    keep_gate: str | None = None
    _rows: Callable = field(default=None, repr=False, compare=False)
    _belt: Callable = field(default=None, repr=False, compare=False)

    # -- facts ------------------------------------------------------------------------------------
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

    def belt_labels(self, values: dict) -> dict:
        """The diagram's belt numbers of :meth:`unit_values` ``values`` as ``{"kept", "written",
        "new": (relation, text)}``: kept + written = new checks out on the shown texts (three
        decimals, or four where that makes it so, else "≈"), and kept and written are marked "≈"
        where the gate and state values the diagram shows (three decimals) do not multiply to
        them. {} for a cell without a belt."""
        if self._belt is None:
            return {}
        v, s = values, self.belt_name
        products = {"kept": f"{fmt(v[self.keep_gate])} \u00d7 {_term(v[s + '_prev'])}",
                    "written": (f"{fmt(v['i'])} \u00d7 {_term(v['g'])}" if s == "c"
                                else f"(1 \u2212 {fmt(v['z'])}) \u00d7 {_term(v['g'])}")}
        for nd in (3, 4):
            texts = {"kept": fmt(v["kept"], nd), "written": fmt(v["written"], nd), "new": fmt(v[s], nd)}
            rel = relation(f"{texts['kept']} + ({texts['written']})", texts["new"])
            if rel == "=":
                break
        else:
            texts = {"kept": fmt(v["kept"]), "written": fmt(v["written"]), "new": fmt(v[s])}
        out = {k: (relation(products[k], texts[k]), texts[k]) for k in products}
        out["new"] = (rel, texts["new"])
        return out

    def equation_rows(self, record: dict, weights: dict | None = None, unit: int = 0,
                      layer: int = 0, direction: int = 0, t: int | None = None,
                      T: int | None = None) -> list[EquationRow]:
        """Every equation of ``unit`` at the step of ``record`` (see :meth:`record`), with its numbers.

        ``weights`` is the state dict that computed the trace (torch's names); without it the rows
        show the pre-activations and results only. ``layer``/``direction`` pick the weight keys
        (``…_l{layer}`` and ``_reverse``). ``t`` = 0 writes h_0 (c_0) for the previous state; in
        the reverse direction the previous state is h_{t+1}, and h_0 at ``t`` = ``T`` − 1.
        """
        W = _WeightView(weights, layer, direction) if weights is not None else None
        if direction:
            prev = "0" if t is not None and T is not None and t == T - 1 else "{t+1}"
        else:
            prev = "0" if t == 0 else "{t\u22121}"
        return self._rows(self, record, W, int(unit), prev)


# -- weights ----------------------------------------------------------------------------------------
class _WeightView:
    """The rows of one unit in a state dict of torch's names (layer ``k``, direction ``d``)."""

    def __init__(self, weights: dict, layer: int, direction: int):
        sfx = f"_l{layer}" + ("_reverse" if direction else "")
        self.sfx = sfx
        self.d = weights
        self.W = np.asarray(weights["weight_ih" + sfx])
        self.U = np.asarray(weights["weight_hh" + sfx])
        self.b_ih = np.asarray(weights["bias_ih" + sfx])
        self.b_hh = np.asarray(weights["bias_hh" + sfx])
        self.first = layer == 0 and not direction

    def wx(self, row: int, x) -> float:
        """Row ``row`` of W times x (a token id picks a column)."""
        a = np.asarray(x)
        if a.ndim == 0:
            return float(self.W[row, int(a)])
        return float(self.W[row] @ a)

    def uh(self, row: int, h_prev) -> float:
        return float(self.U[row] @ np.asarray(h_prev))

    def peephole(self, gate: str, unit: int) -> float:
        key = f"peephole_{gate}{self.sfx}"
        if key not in self.d and self.first:
            key = f"peephole_{gate}"                  # round-1 names (layer 0)
        return float(np.asarray(self.d[key])[unit])


def _sum(*terms: float, nd: int = 3) -> str:
    return " + ".join([fmt(terms[0], nd)] + [_term(v, nd) for v in terms[1:]])


def _activated(key: str, lhs: str, formula: str, symbol: str, inner, total: float | None, value: float,
               terms: dict, note: str, block: str | None) -> EquationRow:
    """A row ``lhs = symbol(formula) = symbol(inner) = symbol(total) = value``: ``inner(nd)`` writes
    the terms with ``nd`` decimals (None: no terms, the total alone); the digits are those that
    make the terms add up to the total (:func:`explorer.util.shown.checked`)."""
    if total is None:
        return EquationRow(key=key, lhs=lhs, formula=f"{symbol}({formula})", numbers="", value=value,
                           activation=symbol, terms=terms, note=note, block=block, value_text=fmt(value))
    if inner is None:
        numbers, rel, pre = "", "=", fmt(total)
    else:
        numbers, rel, pre = checked(lambda k: (inner(3 + k), fmt(total, 3 + k)))
        numbers = f"{symbol}({numbers})"
    val = fmt(value)
    return EquationRow(key=key, lhs=lhs, formula=f"{symbol}({formula})", numbers=numbers, value=value,
                       preact=total, activation=symbol, terms=terms, note=note, block=block, preact_text=pre,
                       preact_rel=rel, value_text=val, value_rel=relation(f"{symbol}({pre})", val))


def _state_row(key: str, lhs: str, formula: str, numbers, value: float, terms: dict, note: str) -> EquationRow:
    """A row ``lhs = formula = numbers(nd) = value`` of products and sums, at the digits that check out."""
    text, rel, val = checked(lambda k: (numbers(3 + k), fmt(value, 3 + k)))
    return EquationRow(key=key, lhs=lhs, formula=formula, numbers=text, value=value, terms=terms, note=note,
                       value_text=val, value_rel=rel)


# -- the rows of each cell ----------------------------------------------------------------------------
def _gate_row(g: GateInfo, value: float, preact, terms: dict, formula: str, inner, block: str) -> EquationRow:
    total = float(preact) if preact is not None else (float(sum(terms.values())) if terms else None)
    return _activated(g.name, f"{g.name}_t", formula, g.symbol, inner if terms else None, total, value, terms,
                      g.title, block)


def _lstm_rows(desc: CellDescription, rec: dict, W: _WeightView | None, j: int, prev: str) -> list:
    n = int(np.asarray(rec["h"]).shape[0])
    v = desc.unit_values(rec, j)
    preact = rec.get("preact")
    rows = []
    for k, name in enumerate(LSTM_GATES):
        g = desc.gate(name)
        row = k * n + j
        formula = f"W_{name} x_t + U_{name} h_{prev}"
        peep = name in desc.peepholes
        c_seen = "c_t" if name == "o" else f"c_{prev}"
        if peep:
            formula += f" + p_{name} {ODOT} {c_seen}"
        formula += f" + b_{name}"
        terms: dict = {}
        parts: list = []
        if W is not None:
            terms = {"wx": W.wx(row, rec["x"]), "uh": W.uh(row, rec["h_prev"])}
            parts = [terms["wx"], terms["uh"]]
            if peep:
                c = v["c"] if name == "o" else v["c_prev"]
                terms["pc"] = W.peephole(name, j) * c
                parts.append(terms["pc"])
            terms["b"] = float(W.b_ih[row] + W.b_hh[row])
            parts.append(terms["b"])
        z = None if preact is None else float(preact[row])
        rows.append(_gate_row(g, v[name], z, terms, formula, lambda nd, p=tuple(parts): _sum(*p, nd=nd), name))
    rows.append(_state_row(
        "c", "c_t", f"f_t {ODOT} c_{prev} + i_t {ODOT} g_t",
        lambda nd: (f"{fmt(v['f'], nd)} \u00d7 {_term(v['c_prev'], nd)} + "
                    f"{fmt(v['i'], nd)} \u00d7 {_term(v['g'], nd)}"),
        v["c"], {"f": v["f"], "c_prev": v["c_prev"], "i": v["i"], "g": v["g"]}, "keep old + write new"))
    rows.append(_state_row(
        "h", "h_t", f"o_t {ODOT} tanh(c_t)", lambda nd: f"{fmt(v['o'], nd)} \u00d7 tanh({fmt(v['c'], nd)})",
        v["h"], {"o": v["o"], "c": v["c"]}, "the output"))
    return rows


def _gru_rows(desc: CellDescription, rec: dict, W: _WeightView | None, j: int, prev: str) -> list:
    n = int(np.asarray(rec["h"]).shape[0])
    v = desc.unit_values(rec, j)
    rows = []
    for k, name in enumerate(("r", "z")):          # torch's blocks r, z, n
        g = desc.gate(name)
        row = k * n + j
        formula = f"W_{name} x_t + b_i{name} + U_{name} h_{prev} + b_h{name}"
        terms: dict = {}
        if W is not None:
            terms = {"wx": W.wx(row, rec["x"]), "b_i": float(W.b_ih[row]),
                     "uh": W.uh(row, rec["h_prev"]), "b_h": float(W.b_hh[row])}
        p = tuple(terms.values())
        rows.append(_gate_row(g, v[name], None, terms, formula, lambda nd, p=p: _sum(*p, nd=nd), name))
    g = desc.gate("g")
    row = 2 * n + j
    formula = f"W_n x_t + b_in + r_t {ODOT} (U_n h_{prev} + b_hn)"
    terms, inner, total = {}, None, None
    if W is not None:
        terms = {"wx": W.wx(row, rec["x"]), "b_in": float(W.b_ih[row]), "r": v["r"],
                 "uh": W.uh(row, rec["h_prev"]), "b_hn": float(W.b_hh[row])}
        total = terms["wx"] + terms["b_in"] + terms["r"] * (terms["uh"] + terms["b_hn"])
        inner = lambda nd: (f"{fmt(terms['wx'], nd)} + {_term(terms['b_in'], nd)} + "  # noqa: E731
                            f"{fmt(terms['r'], nd)} \u00d7 ({_sum(terms['uh'], terms['b_hn'], nd=nd)})")
    rows.append(_activated("g", "g_t", formula, "tanh", inner, total, v["g"], terms, g.title, "n"))
    rows.append(_state_row(
        "h", "h_t", f"(1 \u2212 z_t) {ODOT} g_t + z_t {ODOT} h_{prev}",
        lambda nd: (f"(1 \u2212 {fmt(v['z'], nd)}) \u00d7 {_term(v['g'], nd)} + "
                    f"{fmt(v['z'], nd)} \u00d7 {_term(v['h_prev'], nd)}"),
        v["h"], {"z": v["z"], "g": v["g"], "h_prev": v["h_prev"]}, "write new + keep old"))
    return rows


def _rnn_rows(desc: CellDescription, rec: dict, W: _WeightView | None, j: int, prev: str) -> list:
    v = desc.unit_values(rec, j)
    preact = rec.get("preact")
    terms: dict = {}
    if W is not None:
        terms = {"wx": W.wx(j, rec["x"]), "uh": W.uh(j, rec["h_prev"]), "b": float(W.b_ih[j] + W.b_hh[j])}
    z = None if preact is None else float(preact[j])
    total = z if z is not None else (sum(terms.values()) if terms else None)
    p = tuple(terms.values())
    return [_activated("h", "h_t", f"W x_t + U h_{prev} + b", "tanh", (lambda nd: _sum(*p, nd=nd)) if p else None,
                       total, v["h"], terms, "the only path: no gates, no cell state", "")]


def _c_belt(v: dict) -> dict:
    return {"kept": v["f"] * v["c_prev"], "written": v["i"] * v["g"]}


def _h_belt(v: dict) -> dict:
    return {"kept": v["z"] * v["h_prev"], "written": (1.0 - v["z"]) * v["g"]}


# -- the four cells -----------------------------------------------------------------------------------
COLORS = {"i": "#009E73", "f": "#CC79A7", "g": "#E69F00", "o": "#56B4E9",
          "r": "#009E73", "z": "#CC79A7", "c": "#0072B2", "h": "#D55E00", "x": "#7F7F7F"}
"""Identity colours (Okabe-Ito, colour-blind friendly) of every quantity a cell shows."""

_LSTM_GATES = {
    "i": GateInfo("i", "sigmoid", "decides how much of the candidate to write into the cell state "
                  "(1 writes all of it, 0 writes nothing).", COLORS["i"], "input i", "input gate"),
    "f": GateInfo("f", "sigmoid", "decides how much of the old cell state to keep (1 keeps all, 0 erases).",
                  COLORS["f"], "forget f", "forget gate"),
    "g": GateInfo("g", "tanh", "is the new content, between \u22121 and 1, that the input gate may write "
                  "into the cell state.", COLORS["g"], "candidate g", "candidate"),
    "o": GateInfo("o", "sigmoid", "decides how much of tanh(c_t) leaves the cell as the hidden state h_t "
                  "(1 shows all, 0 hides it).", COLORS["o"], "output o", "output gate"),
}
_GRU_GATES = (
    GateInfo("r", "sigmoid", "decides how much of the recurrent part U_n h + b_hn reaches the candidate "
             "(0 makes the candidate forget h_{t\u22121}).", COLORS["r"], "reset r", "reset gate"),
    GateInfo("z", "sigmoid", "decides how much of h_{t\u22121} to keep (z) and how much of the candidate "
             "to write (1 \u2212 z).", COLORS["z"], "update z", "update gate"),
    GateInfo("g", "tanh", "is the new content, between \u22121 and 1, written onto h with weight 1 \u2212 z.",
             COLORS["g"], "candidate g", "candidate"),
)


def _lstm_tooltips(peephole: bool) -> dict:
    p = lambda g, c: f" + p_{g} \u2299 {c}" if peephole else ""  # noqa: E731
    forms = {
        "i": f"i = \u03c3(W_i x + U_i h{p('i', 'c_{t−1}')} + b_i)",
        "f": f"f = \u03c3(W_f x + U_f h{p('f', 'c_{t−1}')} + b_f)",
        "g": "g = tanh(W_g x + U_g h + b_g)",
        "o": f"o = \u03c3(W_o x + U_o h{p('o', 'c_t')} + b_o)",
    }
    names = {"i": "The input gate", "f": "The forget gate", "g": "The candidate", "o": "The output gate"}
    tips = {k: f"{names[k]} {forms[k]} {_LSTM_GATES[k].role}" for k in LSTM_GATES}
    tips.update({
        "belt": "The cell state c is the conveyor belt of memory: c_t = f \u2299 c_{t\u22121} + i \u2299 g "
                "keeps part of the old memory and adds the newly written part.",
        "kept": "kept = f \u2299 c_{t\u22121}: the part of the old memory that the forget gate lets through.",
        "written": "written = i \u2299 g: the part of the candidate that the input gate writes onto the belt.",
        "h": "The hidden state h_t = o \u2299 tanh(c_t) is the cell's output: it goes to the next layer "
             "and back into all four gates at the next step.",
        "input": "The input x_t and the previous hidden state h_{t\u22121} are joined and fed to all four gates.",
        "tanh": "tanh squashes the cell state c_t into (\u22121, 1) before the output gate scales it into h_t.",
    })
    if peephole:
        tips["peephole"] = ("Peepholes: the input and forget gates also see c_{t\u22121}, the output gate "
                            "sees c_t, each through its own weight per unit (p_i, p_f, p_o).")
    return tips


_GRU_TIPS = {
    "r": "The reset gate r = \u03c3(W_r x + b_ir + U_r h + b_hr) " + _GRU_GATES[0].role,
    "z": "The update gate z = \u03c3(W_z x + b_iz + U_z h + b_hz) " + _GRU_GATES[1].role,
    "g": "The candidate g = tanh(W_n x + b_in + r \u2299 (U_n h + b_hn)) " + _GRU_GATES[2].role,
    "belt": "The GRU's belt is h itself: h_t = z \u2299 h_{t\u22121} + (1 \u2212 z) \u2299 g keeps part of "
            "the old state and writes the rest from the candidate.",
    "kept": "kept = z \u2299 h_{t\u22121}: the part of the old state that the update gate keeps.",
    "written": "written = (1 \u2212 z) \u2299 g: the part of the candidate written in its place.",
    "one_minus": "1 \u2212 z: what the update gate does not keep is written from the candidate.",
    "reset": "r \u2299 (U_n h_{t\u22121} + b_hn): the reset gate scales the recurrent part of the candidate "
             "(torch's GRU; its two biases b_in and b_hn stay apart).",
    "h": "The hidden state h_t is the cell's output: it goes to the next layer and back into the gates "
         "at the next step.",
    "input": "The input x_t and the previous hidden state h_{t\u22121} feed both gates and the candidate.",
}

_RNN_TIPS = {
    "squash": "The plain RNN's only path: h_t = tanh(W x_t + U h_{t\u22121} + b). No gates and no cell "
              "state: the old state is squashed again at every step, so what it held fades.",
    "h": "The hidden state h_t is the cell's output and its only memory: it goes to the next layer and "
         "back into the tanh at the next step.",
    "input": "The input x_t and the previous hidden state h_{t\u22121} are weighted and added "
             "(W x_t + U h_{t\u22121} + b).",
}


_SUMMED = ("b = bias_ih + bias_hh (the engine keeps their sum). The total inside the brackets and the "
           "result are the engine's own numbers; the terms are shown with the digits that make them add up to the "
           "total (\u2248 where no digits do).")
_APART = ("b_i… are torch's bias_ih, b_h… its bias_hh, kept apart: b_hn sits inside r ⊙ (U_n h + b_hn), "
          "so the two cannot be summed. The results are the engine's own numbers; the terms are shown with the digits "
          "that make them add up (\u2248 where no digits do).")


def _build() -> dict:
    lstm_gates = tuple(_LSTM_GATES[k] for k in LSTM_GATES)
    out = {}
    for kind, title, peeps in (("lstm", "LSTM", ()), ("peephole", "peephole LSTM", ("i", "f", "o"))):
        cell = CELLS[kind]
        out[kind] = CellDescription(
            kind=kind, title=title, gates=lstm_gates, state_names=tuple(cell.state_names), has_belt=True,
            belt_name="c", trace_names=tuple(cell.trace_names), tooltips=_lstm_tooltips(bool(peeps)),
            bias_note=_SUMMED, peepholes=peeps, kept_formula="f \u2299 c_{t\u22121}",
            written_formula="i \u2299 g", preact_field="z", keep_gate="f", _rows=_lstm_rows, _belt=_c_belt)
    out["gru"] = CellDescription(
        kind="gru", title="GRU", gates=_GRU_GATES, state_names=tuple(CELLS["gru"].state_names),
        has_belt=True, belt_name="h", trace_names=tuple(CELLS["gru"].trace_names), tooltips=dict(_GRU_TIPS),
        bias_note=_APART, kept_formula="z \u2299 h_{t\u22121}",
        written_formula="(1 \u2212 z) \u2299 g", preact_field=None, keep_gate="z", _rows=_gru_rows,
        _belt=_h_belt)
    out["rnn"] = CellDescription(
        kind="rnn", title="plain RNN", gates=(), state_names=tuple(CELLS["rnn"].state_names),
        has_belt=False, belt_name=None, trace_names=tuple(CELLS["rnn"].trace_names),
        tooltips=dict(_RNN_TIPS), bias_note=_SUMMED, preact_field="z", _rows=_rnn_rows)
    return out


_DESCRIPTIONS = _build()


def describe(kind: str) -> CellDescription:
    """The :class:`CellDescription` of ``kind`` ("lstm", "peephole", "gru", "rnn")."""
    try:
        return _DESCRIPTIONS[kind]
    except KeyError:
        raise ValueError(f"unknown cell {kind!r}; choose one of {', '.join(KINDS)}") from None


# -- backward through time: the rows of a backward mode ------------------------------------------------
PARTIAL = "\u2202"


def gfmt(value: float, digits: int = 4) -> str:
    """A gradient as the backward rows show it: ``digits`` significant digits, small and large
    ones as ``1.234e−5`` (gradients span many orders of magnitude), typographic minus."""
    v = float(value)
    if v == 0.0 or not np.isfinite(v):
        return "0" if v == 0.0 else str(v)
    a = abs(v)
    if 1e-3 <= a < 1e4:
        decimals = max(0, digits - 1 - int(np.floor(np.log10(a))))
        s = f"{v:.{decimals}f}"
    else:
        m, e = f"{v:.{digits - 1}e}".split("e")
        s = f"{m}e{int(e)}"
    return s.replace("-", MINUS)


def _factor(v: float, k: int = 0) -> str:
    """A factor of a backward row (a gate, a slope such as 1 − tanh² c): three decimals, or the
    gradient's significant digits when it is nonzero but would read 0.000 (a saturated tanh);
    ``k`` more digits where the row needs them to check out."""
    v = float(v)
    return gfmt(v, 4 + k) if v != 0.0 and abs(v) < 0.0005 else fmt(v, 3 + k)


def _gterm(v: float, k: int = 0) -> str:
    s = gfmt(v, 4 + k)
    return f"({s})" if s.startswith(MINUS) else s


def _back_row(key: str, lhs: str, formula: str, numbers, value: float, terms: dict, note: str,
              block: str | None = None) -> EquationRow:
    """A backward row whose ``numbers(k)`` (``k`` more digits than usual) give ``value`` (shown as
    :func:`gfmt` does) at the first digits that check out (:func:`explorer.util.shown.checked`)."""
    text, rel, val = checked(lambda k: (numbers(k), gfmt(value, 4 + k)))
    return EquationRow(key=key, lhs=lhs, formula=formula, numbers=text, value=value, terms=terms, note=note,
                       block=block, value_text=val, value_rel=rel)


@dataclass(frozen=True)
class BackwardStep:
    """The backward pass at one step of one unit, for a backward mode of the equations and the diagram.

    ``rows``: :class:`EquationRow` s (``key``: "dh", "dc", "dc_prev", "dz_i" …; ``value`` the
    engine's number, ``terms`` every number the row shows, exact, so that the recursion can be
    checked from them). ``belt``: the numbers a backward drawing of the belt needs (None for a
    cell without one): ``in`` the gradient that reaches the belt's state at this step from the
    right, ``from_next`` the part that came along the belt from the next step, ``from_h`` the part
    that came through h_t, ``factor`` the gate that scales it at the × (f_t; the GRU's z_t), ``out``
    what leaves to the left (towards the previous state), ``to_write`` what flows into the written
    branch, ``kept_product`` ∏ of the factor from this step to the last (how much of a gradient at
    the last step reaches here along the belt alone), and ``units``: ``in`` and ``out`` of every
    unit ((n,) arrays) for a strip. ``shrink`` (the RNN): ``factor`` ‖Uᵀ(tanh′ ⊙ ∂L/∂h_{t+1})‖ /
    ‖∂L/∂h_{t+1}‖ over the units, the factor by which the recurrence shrinks the gradient from
    t+1 to t; ``running`` the product of those factors from the last step down to t; ``bound``
    ‖U‖₂ · max tanh′ (no gradient shrinks less); None for the gated cells. ``last``: t is the
    last step in the direction's order (nothing comes from a later step). Stepping "from T down
    to 1" is calling this with t descending.
    """

    t: int
    unit: int
    rows: tuple
    belt: dict | None = None
    shrink: dict | None = None
    last: bool = False


def backward_step(desc: CellDescription, trace, grads, t: int, unit: int, weights: dict | None = None,
                  b: int = 0, layer: int = 0, direction: int = 0) -> BackwardStep:
    """The backward numbers of ``unit`` at step ``t`` (0-based) of sample ``b``.

    ``trace``: the model's :class:`~explorer.engine.model.Trace` (any layer's: the ``layer`` and
    ``direction`` asked for are taken from it); ``grads``: ``model.state_grads(x, target)`` for
    the same input (a :class:`~explorer.engine.model.StateGrads`); ``weights``: the state dict
    that computed both (needed to split ∂L/∂h_t into what came from above and what came back
    through U; without it the rows show the totals). Every value is the engine's; the terms are
    computed here from the trace with the engine's own operations, so that (for the LSTM)
    ∂L/∂c_t = ∂L/∂h_t ⊙ o_t ⊙ (1 − tanh² c_t) + ∂L/∂c_{t+1} ⊙ f_{t+1} holds exactly in them.
    """
    tr = trace.layer(layer, direction) if hasattr(trace, "layer") else trace
    g = grads.layer(layer, direction) if getattr(grads, "layers", ()) else grads
    T, n = int(tr.T), int(tr.h.shape[-1])
    if not 0 <= t < T:
        raise IndexError(f"timestep {t} outside 0..{T - 1}")
    j = int(unit)
    if not 0 <= j < n:
        raise IndexError(f"unit {j} outside 0..{n - 1}")
    nxt = t - 1 if direction else t + 1
    last = not 0 <= nxt < T
    W = _WeightView(weights, layer, direction) if weights is not None else None
    ctx = _BackCtx(desc, tr, g, int(b), int(t), j, nxt, last, W, direction, T, n, layer)
    return _BACKWARD[desc.belt_name if desc.has_belt else None](ctx)


def backward_rows(desc: CellDescription, trace, grads, t: int, unit: int, weights: dict | None = None,
                  b: int = 0, layer: int = 0, direction: int = 0) -> list:
    """The rows of :func:`backward_step` (a backward mode of the equations panel shows them)."""
    return list(backward_step(desc, trace, grads, t, unit, weights, b, layer, direction).rows)


@dataclass
class _BackCtx:
    desc: CellDescription
    tr: object
    g: object
    b: int
    t: int
    j: int
    nxt: int
    last: bool
    W: _WeightView | None
    direction: int
    T: int
    n: int
    layer: int

    @property
    def lab(self) -> tuple:
        """(this step, the next in the direction's order, the previous) as subscripts."""
        return ("t", "{t\u22121}", "{t+1}") if self.direction else ("t", "{t+1}", "{t\u22121}")

    def rec(self, t: int) -> dict:
        return self.desc.record(self.tr, self.b, t)

    @property
    def prev(self) -> str:
        """The subscript of the previous state: 0 (the initial state) at the direction's first step."""
        first = self.t == (self.T - 1 if self.direction else 0)
        return "0" if first else self.lab[2]


def _dh_row(ctx: _BackCtx, paths: list, formula: str) -> EquationRow:
    """∂L/∂h_t: what came from above plus each path back from the next step (``paths``: (name,
    text, value) — value None when weights are missing)."""
    dh = float(ctx.g.dh[ctx.b, ctx.t, ctx.j])
    known = [p for p in paths if p[2] is not None]
    back = sum(p[2] for p in known) if known and len(known) == len(paths) else None
    _, nx, _ = ctx.lab
    if ctx.last:
        terms = {"from_above": dh}
        return EquationRow(key="dh", lhs=f"{PARTIAL}L/{PARTIAL}h_t", formula=f"{PARTIAL}L/{PARTIAL}h_t from above",
                           numbers=gfmt(dh), value=dh, terms=terms, value_text=gfmt(dh),
                           note="the last step: all of it comes from above (no later step)")
    if back is None:
        terms = {"total": dh}
        return EquationRow(key="dh", lhs=f"{PARTIAL}L/{PARTIAL}h_t", formula=f"from above + {formula}",
                           numbers=gfmt(dh), value=dh, terms=terms, value_text=gfmt(dh), note="weights not given: the total only")
    above = dh - back
    if abs(above) <= 1e-12 * (abs(dh) + sum(abs(v) for _, _, v in paths)):
        above = 0.0                                   # nothing from above here: rounding of the subtraction
    terms = {"from_above": above, **{name: v for name, _, v in paths}}
    return _back_row("dh", f"{PARTIAL}L/{PARTIAL}h_t", f"from above + {formula}",
                     lambda k: " + ".join([gfmt(terms["from_above"], 4 + k)] + [_gterm(v, k) for _, _, v in paths]),
                     dh, terms, f"back from step {nx.strip('{}')} and from above")


def _lstm_back(ctx: _BackCtx) -> BackwardStep:
    desc, g, b, t, j = ctx.desc, ctx.g, ctx.b, ctx.t, ctx.j
    _, nx, _ = ctx.lab
    r = ctx.rec(t)
    peep = desc.peepholes
    o, c, f, i, gg = (np.asarray(r[k]) for k in ("o", "c", "f", "i", "g"))
    c_prev = np.asarray(r["c_prev"])
    dh_all, dc_all = g.dh[b, t], g.dc[b, t]
    tc = np.tanh(c)
    odtc = o - tc * np.asarray(r["h"])                  # o ⊙ (1 − tanh² c) as the engine forms it: o − tanh(c) h
    through_h = dh_all * odtc
    p = {k: np.asarray(ctx.W.d[f"peephole_{k}{ctx.W.sfx}"] if f"peephole_{k}{ctx.W.sfx}" in ctx.W.d
                       else ctx.W.d[f"peephole_{k}"]) for k in peep} if peep and ctx.W is not None else {}
    if ctx.last:
        dc_next = np.zeros_like(dc_all)
        f_next = np.zeros_like(dc_all)
        from_next = np.zeros_like(dc_all)
        rn = None
    else:
        rn = ctx.rec(ctx.nxt)
        dc_next, f_next = g.dc[b, ctx.nxt], np.asarray(rn["f"])
        from_next = dc_next * f_next                    # along the belt, through × f_{t+1}
        if p:
            dzi_n = rn["i"] * rn["g"] * (1.0 - rn["i"]) * dc_next     # the engine's (i g)(1 − i) dc
            dzf_n = rn["f"] * c * (1.0 - rn["f"]) * dc_next           # and (f c_{t−1})(1 − f) dc
            from_next = from_next + dzi_n * p["i"]
            from_next = from_next + dzf_n * p["f"]
    dc_sum = through_h + from_next
    dzo = (1.0 - o) * np.asarray(r["h"]) * dh_all      # dh ⊙ tanh(c) ⊙ o(1 − o), as (1 − o) h dh
    if p:
        dc_sum = dc_sum + dzo * p["o"]                  # o peeps at c_t
    terms = {"dh": float(dh_all[j]), "o": float(o[j]), "tanh_prime": float(1.0 - tc[j] * tc[j]),
             "through_h": float(through_h[j]), "dc_next": float(dc_next[j]), "f_next": float(f_next[j]),
             "through_belt": float(dc_next[j] * f_next[j])}
    formula = (f"{PARTIAL}L/{PARTIAL}h_t {ODOT} o_t {ODOT} (1 \u2212 tanh\u00b2 c_t) + "
               f"{PARTIAL}L/{PARTIAL}c_{nx} {ODOT} f_{nx}")

    def numbers(k: int) -> str:
        out = (f"{gfmt(terms['dh'], 4 + k)} \u00d7 {_factor(terms['o'], k)} \u00d7 {_factor(terms['tanh_prime'], k)} + "
               + ("0 (no step after this one)" if ctx.last
                  else f"{_gterm(terms['dc_next'], k)} \u00d7 {_factor(terms['f_next'], k)}"))
        if p:
            out += f" + {_gterm(terms['dzo'], k)} \u00d7 {_term(terms['p_o'], 3 + k)}"
            if not ctx.last:
                out += f" + {_gterm(terms['through_pi'], k)} + {_gterm(terms['through_pf'], k)}"
        return out

    if p:
        terms["dzo"], terms["p_o"] = float(dzo[j]), float(p["o"][j])
        terms["through_po"] = float(dzo[j] * p["o"][j])
        formula += f" + {PARTIAL}L/{PARTIAL}z_o {ODOT} p_o"
        if not ctx.last:
            terms["through_pi"] = float(dzi_n[j] * p["i"][j])
            terms["through_pf"] = float(dzf_n[j] * p["f"][j])
            terms["through_belt"] = float(from_next[j])
            formula += f" + ({PARTIAL}L/{PARTIAL}z_i p_i + {PARTIAL}L/{PARTIAL}z_f p_f)_{nx}"
    terms["sum"] = float(dc_sum[j])
    dc = float(dc_all[j])
    rows = []
    # ∂L/∂h_t: from above and back through U from the four gates of the next step
    paths = []
    names = ("i", "f", "g", "o")
    if not ctx.last and ctx.W is not None:
        cn = np.asarray(rn["c"])
        dz_next = {"i": (1.0 - rn["i"]) * rn["i"] * rn["g"] * dc_next,
                   "f": (1.0 - rn["f"]) * rn["f"] * c * dc_next,
                   "g": (1.0 - rn["g"] * rn["g"]) * rn["i"] * dc_next,
                   "o": (1.0 - rn["o"]) * rn["o"] * np.tanh(cn) * g.dh[b, ctx.nxt]}
        for k, name in enumerate(names):
            U = ctx.W.U[k * ctx.n:(k + 1) * ctx.n, j]
            paths.append((f"U_{name}", "", float(U @ dz_next[name])))
    elif not ctx.last:
        paths = [(f"U_{name}", "", None) for name in names]
    rows.append(_dh_row(ctx, paths, f"\u03a3 U\u1d40 {PARTIAL}L/{PARTIAL}z_{nx} (i, f, g, o)"))
    rows.append(_back_row("dc", f"{PARTIAL}L/{PARTIAL}c_t", formula, numbers, dc, terms,
                          "through h_t, plus along the belt from the next step"))
    # what leaves to the left along the belt, and what each gate's pre-activation receives
    to_prev = dc_all * f
    dzi = i * gg * (1.0 - i) * dc_all                   # the engine's products, in its order
    dzf = f * c_prev * (1.0 - f) * dc_all
    out_terms = {"dc": dc, "f": float(f[j]), "through_f": float(to_prev[j])}
    out_formula = f"{PARTIAL}L/{PARTIAL}c_t {ODOT} f_t"
    left = to_prev
    if p:
        left = left + dzi * p["i"]
        left = left + dzf * p["f"]
        out_terms.update(through_pi=float(dzi[j] * p["i"][j]), through_pf=float(dzf[j] * p["f"][j]))
        out_formula += f" + {PARTIAL}L/{PARTIAL}z_i p_i + {PARTIAL}L/{PARTIAL}z_f p_f"

    def out_numbers(k: int) -> str:
        out = f"{gfmt(dc, 4 + k)} \u00d7 {_factor(f[j], k)}"
        if p:
            out += f" + {_gterm(out_terms['through_pi'], k)} + {_gterm(out_terms['through_pf'], k)}"
        return out

    rows.append(_back_row("dc_prev", f"{PARTIAL}L/{PARTIAL}c_{ctx.prev} (belt)", out_formula, out_numbers,
                          float(left[j]), out_terms, "what the belt carries back: scaled by f at the \u00d7"))
    dz = {"i": (dzi, f"{PARTIAL}L/{PARTIAL}c_t {ODOT} g_t {ODOT} i_t(1 \u2212 i_t)", (dc, gg[j], i[j] * (1 - i[j]))),
          "f": (dzf, f"{PARTIAL}L/{PARTIAL}c_t {ODOT} c_{ctx.prev} {ODOT} f_t(1 \u2212 f_t)", (dc, c_prev[j], f[j] * (1 - f[j]))),
          "g": ((i - gg * (i * gg)) * dc_all, f"{PARTIAL}L/{PARTIAL}c_t {ODOT} i_t {ODOT} (1 \u2212 g_t\u00b2)",
                (dc, i[j], 1 - gg[j] * gg[j])),
          "o": (dzo, f"{PARTIAL}L/{PARTIAL}h_t {ODOT} tanh(c_t) {ODOT} o_t(1 \u2212 o_t)",
                (float(dh_all[j]), tc[j], o[j] * (1 - o[j])))}
    for name in names:
        arr, form, (a, x, y) = dz[name]
        rows.append(_back_row(f"dz_{name}", f"{PARTIAL}L/{PARTIAL}z_{name}", form,
                              lambda k, a=a, x=x, y=y: f"{gfmt(a, 4 + k)} \u00d7 {_term(x, 3 + k)} \u00d7 {_factor(y, k)}",
                              float(arr[j]), {"grad": float(a), "factor": float(x), "slope": float(y)},
                              f"reaches W_{name}, U_{name}, b_{name}", block=name))
    f_all = np.asarray(ctx.tr.f[b])
    later = f_all[t + 1:, j] if not ctx.direction else f_all[:t, j][::-1]
    belt = {"name": "c", "in": dc, "from_h": float(dc_sum[j] - from_next[j]), "from_next": float(from_next[j]),
            "factor": float(f[j]), "out": float(left[j]), "to_write": dc,
            "kept_product": float(np.prod(later)) if later.size else 1.0,
            "units": {"in": np.array(dc_all, copy=True), "out": np.array(left, copy=True)}}
    return BackwardStep(t, j, tuple(rows), belt=belt, last=ctx.last)


def _gru_back(ctx: _BackCtx) -> BackwardStep:
    g, b, t, j, n = ctx.g, ctx.b, ctx.t, ctx.j, ctx.n
    _, nx, _ = ctx.lab
    r = ctx.rec(t)
    z, gg, rr = np.asarray(r["z"]), np.asarray(r["g"]), np.asarray(r["r"])
    h_prev = np.asarray(r["h_prev"])
    dh_all = g.dh[b, t]
    paths = []
    if not ctx.last:
        rn = ctx.rec(ctx.nxt)
        dh_n = g.dh[b, ctx.nxt]
        kept = dh_n * rn["z"]                                       # along the belt: z_{t+1} ⊙ ∂L/∂h_{t+1}
        paths.append(("kept", "", float(kept[j])))
        if ctx.W is not None:
            h_t = np.asarray(rn["h_prev"])
            dzz = dh_n * (h_t - rn["g"]) * rn["z"] * (1.0 - rn["z"])
            dzg = dh_n * (1.0 - rn["g"] * rn["g"]) * (1.0 - rn["z"])
            ghn = ctx.W.U[2 * n:] @ h_t + ctx.W.b_hh[2 * n:]
            dzr = dzg * ghn * rn["r"] * (1.0 - rn["r"])
            paths.append(("U_r", "", float(ctx.W.U[:n, j] @ dzr)))
            paths.append(("U_z", "", float(ctx.W.U[n:2 * n, j] @ dzz)))
            paths.append(("U_n", "", float(ctx.W.U[2 * n:, j] @ (dzg * rn["r"]))))
        else:
            paths += [("U_r", "", None), ("U_z", "", None), ("U_n", "", None)]
    row_dh = _dh_row(ctx, paths, f"z_{nx} {ODOT} {PARTIAL}L/{PARTIAL}h_{nx} + U_r\u1d40 {PARTIAL}L/{PARTIAL}z_r + "
                                 f"U_z\u1d40 {PARTIAL}L/{PARTIAL}z_z + U_n\u1d40 (r {ODOT} {PARTIAL}L/{PARTIAL}z_g)  (at {nx.strip('{}')})")
    dh = float(dh_all[j])
    to_prev = dh_all * z
    dzz = dh_all * (h_prev - gg) * z * (1.0 - z)
    dzg = dh_all * (1.0 - gg * gg) * (1.0 - z)
    rows = [row_dh,
            _back_row("dh_prev", f"{PARTIAL}L/{PARTIAL}h_{ctx.prev} (belt)", f"{PARTIAL}L/{PARTIAL}h_t {ODOT} z_t",
                      lambda k: f"{gfmt(dh, 4 + k)} \u00d7 {_factor(z[j], k)}", float(to_prev[j]),
                      {"dh": dh, "z": float(z[j])}, "the kept path: scaled by z at the \u00d7 (the gates add more through U)"),
            _back_row("dz_g", f"{PARTIAL}L/{PARTIAL}z_g", f"{PARTIAL}L/{PARTIAL}h_t {ODOT} (1 \u2212 z_t) {ODOT} (1 \u2212 g_t\u00b2)",
                      lambda k: f"{gfmt(dh, 4 + k)} \u00d7 {_factor(1.0 - z[j], k)} \u00d7 {_factor(1.0 - gg[j] * gg[j], k)}",
                      float(dzg[j]), {"dh": dh, "one_minus_z": float(1.0 - z[j]), "tanh_prime": float(1.0 - gg[j] * gg[j])},
                      "into the candidate (the written path)", block="n"),
            _back_row("dz_z", f"{PARTIAL}L/{PARTIAL}z_z", f"{PARTIAL}L/{PARTIAL}h_t {ODOT} (h_{ctx.prev} \u2212 g_t) {ODOT} z_t(1 \u2212 z_t)",
                      lambda k: f"{gfmt(dh, 4 + k)} \u00d7 {_term(h_prev[j] - gg[j], 3 + k)} \u00d7 {_factor(z[j] * (1.0 - z[j]), k)}",
                      float(dzz[j]), {"dh": dh, "diff": float(h_prev[j] - gg[j]), "gate": float(z[j] * (1 - z[j]))},
                      "into the update gate", block="z")]
    if ctx.W is not None:
        ghn = ctx.W.U[2 * n:] @ h_prev + ctx.W.b_hh[2 * n:]
        dzr = dzg * ghn * rr * (1.0 - rr)
        rows.append(_back_row("dz_r", f"{PARTIAL}L/{PARTIAL}z_r",
                              f"{PARTIAL}L/{PARTIAL}z_g {ODOT} (U_n h_{ctx.prev} + b_hn) {ODOT} r_t(1 \u2212 r_t)",
                              lambda k: f"{gfmt(dzg[j], 4 + k)} \u00d7 {_term(ghn[j], 3 + k)} \u00d7 {_factor(rr[j] * (1 - rr[j]), k)}",
                              float(dzr[j]), {"dz_g": float(dzg[j]), "uh_b": float(ghn[j]), "gate": float(rr[j] * (1 - rr[j]))},
                              "into the reset gate", block="r"))
    z_all = np.asarray(ctx.tr.z[b])
    later = z_all[t + 1:, j] if not ctx.direction else z_all[:t, j][::-1]
    from_next = paths[0][2] if paths else 0.0
    belt = {"name": "h", "in": dh, "from_next": float(from_next), "from_h": float(dh - from_next),
            "factor": float(z[j]), "out": float(to_prev[j]), "to_write": float(dh * (1.0 - z[j])),
            "kept_product": float(np.prod(later)) if later.size else 1.0,
            "units": {"in": np.array(dh_all, copy=True), "out": np.array(to_prev, copy=True)}}
    return BackwardStep(t, j, tuple(rows), belt=belt, last=ctx.last)


def _rnn_back(ctx: _BackCtx) -> BackwardStep:
    g, b, t, j = ctx.g, ctx.b, ctx.t, ctx.j
    _, nx, _ = ctx.lab
    H = np.asarray(ctx.tr.h[b])
    dH = g.dh[b]
    T = ctx.T
    paths = []
    if not ctx.last:
        dz_n = dH[ctx.nxt] * (1.0 - H[ctx.nxt] * H[ctx.nxt])
        paths.append(("U", "", None if ctx.W is None else float(ctx.W.U[:, j] @ dz_n)))
    rows = [_dh_row(ctx, paths, f"U\u1d40 ((1 \u2212 h\u00b2_{nx}) {ODOT} {PARTIAL}L/{PARTIAL}h_{nx})")]
    dh = float(dH[t, j])
    tp = float(1.0 - H[t, j] * H[t, j])
    rows.append(_back_row("dz", f"{PARTIAL}L/{PARTIAL}z_t", f"{PARTIAL}L/{PARTIAL}h_t {ODOT} (1 \u2212 h_t\u00b2)",
                          lambda k: f"{gfmt(dh, 4 + k)} \u00d7 {_factor(tp, k)}", float(dH[t, j] * (1.0 - H[t, j] * H[t, j])),
                          {"dh": dh, "tanh_prime": tp}, "through the tanh: reaches W, U, b", block=""))
    shrink = None
    if ctx.W is not None:
        U = ctx.W.U
        order = range(T - 1, 0, -1) if not ctx.direction else range(0, T - 1)
        factors = {}
        for s in order:                                  # from step s back to the one before it
            prev_s = s - 1 if not ctx.direction else s + 1
            dz = dH[s] * (1.0 - H[s] * H[s])
            back = dz @ U                                # Uᵀ (tanh′ ⊙ ∂L/∂h_s)
            norm = float(np.linalg.norm(dH[s]))
            factors[prev_s] = float(np.linalg.norm(back)) / norm if norm > 0 else 0.0
        running = 1.0
        for s in (range(T - 2, t - 1, -1) if not ctx.direction else range(1, t + 1)):
            running *= factors[s]
        u2 = float(np.linalg.norm(U, 2))
        if ctx.last:
            factor, tmax = 1.0, 0.0
        else:
            factor = factors[t]
            tmax = float(np.max(1.0 - H[ctx.nxt] * H[ctx.nxt]))
        shrink = {"factor": factor, "running": running, "U_norm": u2, "tanh_prime_max": tmax,
                  "bound": u2 * tmax, "factors": factors}
        if not ctx.last:
            dz = dH[ctx.nxt] * (1.0 - H[ctx.nxt] * H[ctx.nxt])
            num, den = float(np.linalg.norm(dz @ U)), float(np.linalg.norm(dH[ctx.nxt]))
            bound = f"{_factor(u2)} \u00d7 {_factor(tmax)}"
            rows.append(_back_row(
                "shrink", f"\u2016{PARTIAL}L/{PARTIAL}h\u2016 shrinks by",
                f"\u2016U\u1d40 ((1 \u2212 h\u00b2_{nx}) {ODOT} {PARTIAL}L/{PARTIAL}h_{nx})\u2016 / \u2016{PARTIAL}L/{PARTIAL}h_{nx}\u2016",
                lambda k: f"{gfmt(num, 4 + k)} / {gfmt(den, 4 + k)}", factor,
                {"back": num, "next": den, "U_norm": u2, "tanh_prime_max": tmax, "bound": u2 * tmax},
                f"at most \u2016U\u2016\u2082 \u00d7 max(1 \u2212 h\u00b2) = {bound} "
                f"{relation(bound, _factor(u2 * tmax))} {_factor(u2 * tmax)}: the factor from the next step back "
                "to this one; below 1 the gradient vanishes"))
        shown = list(range(T - 2, t - 1, -1))
        whole = not ctx.direction and not ctx.last and len(shown) <= 6
        if whole:
            rows.append(_back_row("running", "\u220f since the last step", "product of those factors from T down to t",
                                  lambda k: " \u00d7 ".join(fmt(factors[s], 3 + k) for s in shown), running,
                                  {"running": running}, "how much of a gradient at the last step is left here"))
        else:
            numbers = (" \u00d7 ".join(fmt(factors[s]) for s in shown[:6]) + " \u00d7 \u2026"
                       if not ctx.direction and not ctx.last else "")
            rows.append(EquationRow(key="running", lhs="\u220f since the last step",
                                    formula="product of those factors from T down to t", numbers=numbers,
                                    value=running, terms={"running": running}, value_text=gfmt(running),
                                    note="how much of a gradient at the last step is left here"))
    return BackwardStep(t, j, tuple(rows), shrink=shrink, last=ctx.last)


_BACKWARD = {"c": _lstm_back, "h": _gru_back, None: _rnn_back}

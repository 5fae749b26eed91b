"""How each cell is shown: colours, labels, tooltips, number formats, the equation rows.

The presentation of :mod:`explorer.engine.describe`'s facts. :func:`cell_view` gives a
:class:`CellView` — the cell's :class:`~explorer.engine.describe.CellDescription` plus what a
view writes and paints: each gate's role, colour and label, a tooltip for every part a diagram
draws, the bias note, and the rows of the equations panel with this step's numbers
(:meth:`CellView.equation_rows`, which only splits a pre-activation into the terms a person adds
up by hand: W x, U h, the biases, the peepholes). The diagram (:mod:`explorer.figures`), the
window's panels and the command line read it; the backward rows are
:mod:`explorer.app.backward_view`'s.

>>> v = cell_view("lstm")
>>> v.gate("f").label, v.belt_name, fmt(-0.0004)
('forget f', 'c', '0.000')

No Qt here (the app layer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Callable

import numpy as np

from ..engine.describe import CellDescription, GateInfo, describe
from ..engine.gates import LSTM_GATES
from ..util.shown import checked, relation

__all__ = ["COLORS", "CellView", "EquationRow", "GateView", "MINUS", "as_view", "cell_view", "fmt",
           "formula_parts", "gfmt", "input_column"]

MINUS = "\u2212"
SIGMA = "\u03c3"
ODOT = "\u2299"


def fmt(value: float, nd: int = 3) -> str:
    """A number as the diagram and the equations show it: ``nd`` decimals, typographic minus,
    no "−0.000"."""
    s = f"{float(value):.{nd}f}"
    if s.startswith("-"):
        s = s[1:] if float(s) == 0.0 else MINUS + s[1:]
    return s


def term(v: float, nd: int = 3) -> str:
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
class GateView(GateInfo):
    """A gate as shown: a one-sentence ``role``, an identity colour ``color_hex`` and the
    ``label`` a diagram writes under it ("forget f"), the ``title`` of its equation row."""

    role: str = ""
    color_hex: str = "#000000"
    label: str = ""
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
class CellView(CellDescription):
    """A :class:`~explorer.engine.describe.CellDescription` with what a view shows of it.

    ``gates``: :class:`GateView` s. ``tooltips``: a sentence for every part a diagram draws (each
    gate's name, "belt", "kept", "written", "h", "input", …). ``bias_note``: how the rows show
    torch's two biases (summed, or kept apart).
    """

    tooltips: dict = field(default_factory=dict, compare=False)
    bias_note: str = ""
    _rows: Callable = field(default=None, repr=False, compare=False)

    def belt_labels(self, values: dict) -> dict:
        """The diagram's belt numbers of :meth:`unit_values` ``values`` as ``{"kept", "written",
        "new": (relation, text)}``: kept + written = new checks out on the shown texts (three
        decimals, or four where that makes it so, else "≈"), and kept and written are marked "≈"
        where the gate and state values the diagram shows (three decimals) do not multiply to
        them. {} for a cell without a belt."""
        if self._belt is None:
            return {}
        v, s = values, self.belt_name
        products = {"kept": f"{fmt(v[self.keep_gate])} \u00d7 {term(v[s + '_prev'])}",
                    "written": (f"{fmt(v['i'])} \u00d7 {term(v['g'])}" if s == "c"
                                else f"(1 \u2212 {fmt(v['z'])}) \u00d7 {term(v['g'])}")}
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
        W = WeightView(weights, layer, direction) if weights is not None else None
        if direction:
            prev = "0" if t is not None and T is not None and t == T - 1 else "{t+1}"
        else:
            prev = "0" if t == 0 else "{t\u22121}"
        return self._rows(self, record, W, int(unit), prev)



# -- weights ----------------------------------------------------------------------------------------
class WeightView:
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
    return " + ".join([fmt(terms[0], nd)] + [term(v, nd) for v in terms[1:]])


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
def _gate_row(g: GateView, value: float, preact, terms: dict, formula: str, inner, block: str) -> EquationRow:
    total = float(preact) if preact is not None else (float(sum(terms.values())) if terms else None)
    return _activated(g.name, f"{g.name}_t", formula, g.symbol, inner if terms else None, total, value, terms,
                      g.title, block)


def _lstm_rows(desc: CellView, rec: dict, W: WeightView | None, j: int, prev: str) -> list:
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
        lambda nd: (f"{fmt(v['f'], nd)} \u00d7 {term(v['c_prev'], nd)} + "
                    f"{fmt(v['i'], nd)} \u00d7 {term(v['g'], nd)}"),
        v["c"], {"f": v["f"], "c_prev": v["c_prev"], "i": v["i"], "g": v["g"]}, "keep old + write new"))
    rows.append(_state_row(
        "h", "h_t", f"o_t {ODOT} tanh(c_t)", lambda nd: f"{fmt(v['o'], nd)} \u00d7 tanh({fmt(v['c'], nd)})",
        v["h"], {"o": v["o"], "c": v["c"]}, "the output"))
    return rows


def _gru_rows(desc: CellView, rec: dict, W: WeightView | None, j: int, prev: str) -> list:
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
        inner = lambda nd: (f"{fmt(terms['wx'], nd)} + {term(terms['b_in'], nd)} + "  # noqa: E731
                            f"{fmt(terms['r'], nd)} \u00d7 ({_sum(terms['uh'], terms['b_hn'], nd=nd)})")
    rows.append(_activated("g", "g_t", formula, "tanh", inner, total, v["g"], terms, g.title, "n"))
    rows.append(_state_row(
        "h", "h_t", f"(1 \u2212 z_t) {ODOT} g_t + z_t {ODOT} h_{prev}",
        lambda nd: (f"(1 \u2212 {fmt(v['z'], nd)}) \u00d7 {term(v['g'], nd)} + "
                    f"{fmt(v['z'], nd)} \u00d7 {term(v['h_prev'], nd)}"),
        v["h"], {"z": v["z"], "g": v["g"], "h_prev": v["h_prev"]}, "write new + keep old"))
    return rows


def _rnn_rows(desc: CellView, rec: dict, W: WeightView | None, j: int, prev: str) -> list:
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



# -- the four cells -----------------------------------------------------------------------------------
COLORS = {"i": "#009E73", "f": "#CC79A7", "g": "#E69F00", "o": "#56B4E9",
          "r": "#009E73", "z": "#CC79A7", "c": "#0072B2", "h": "#D55E00", "x": "#7F7F7F"}
"""Identity colours (Okabe-Ito, colour-blind friendly) of every quantity a cell shows."""

_LSTM_GATES = {
    "i": GateView("i", "sigmoid", "decides how much of the candidate to write into the cell state "
                  "(1 writes all of it, 0 writes nothing).", COLORS["i"], "input i", "input gate"),
    "f": GateView("f", "sigmoid", "decides how much of the old cell state to keep (1 keeps all, 0 erases).",
                  COLORS["f"], "forget f", "forget gate"),
    "g": GateView("g", "tanh", "is the new content, between \u22121 and 1, that the input gate may write "
                  "into the cell state.", COLORS["g"], "candidate g", "candidate"),
    "o": GateView("o", "sigmoid", "decides how much of tanh(c_t) leaves the cell as the hidden state h_t "
                  "(1 shows all, 0 hides it).", COLORS["o"], "output o", "output gate"),
}
_GRU_GATES = (
    GateView("r", "sigmoid", "decides how much of the recurrent part U_n h + b_hn reaches the candidate "
             "(0 makes the candidate forget h_{t\u22121}).", COLORS["r"], "reset r", "reset gate"),
    GateView("z", "sigmoid", "decides how much of h_{t\u22121} to keep (z) and how much of the candidate "
             "to write (1 \u2212 z).", COLORS["z"], "update z", "update gate"),
    GateView("g", "tanh", "is the new content, between \u22121 and 1, written onto h with weight 1 \u2212 z.",
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




def _view(desc: CellDescription, gates: tuple, tooltips: dict, bias_note: str, rows: Callable) -> CellView:
    facts = {f.name: getattr(desc, f.name) for f in fields(desc)}
    facts["gates"] = gates
    return CellView(**facts, tooltips=tooltips, bias_note=bias_note, _rows=rows)


def _build() -> dict:
    lstm_gates = tuple(_LSTM_GATES[k] for k in LSTM_GATES)
    return {
        "lstm": _view(describe("lstm"), lstm_gates, _lstm_tooltips(False), _SUMMED, _lstm_rows),
        "peephole": _view(describe("peephole"), lstm_gates, _lstm_tooltips(True), _SUMMED, _lstm_rows),
        "gru": _view(describe("gru"), _GRU_GATES, dict(_GRU_TIPS), _APART, _gru_rows),
        "rnn": _view(describe("rnn"), (), dict(_RNN_TIPS), _SUMMED, _rnn_rows),
    }


_VIEWS = _build()


def cell_view(kind: str) -> CellView:
    """The :class:`CellView` of ``kind`` ("lstm", "peephole", "gru", "rnn")."""
    if kind not in _VIEWS:
        describe(kind)                              # its one-sentence refusal
    return _VIEWS[kind]


def as_view(desc: CellDescription) -> CellView:
    """``desc`` as shown: itself when it is a :class:`CellView`, else its kind's view."""
    return desc if isinstance(desc, CellView) else cell_view(desc.kind)


# -- number formats of gradients ------------------------------------------------------------------------
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



"""Backward through time with numbers: the rows a backward mode of the equations and the diagram shows.

:func:`backward_step` gives, for one unit at one step, every row ∂L/∂h_t, ∂L/∂c_t, … with the
engine's values and the terms that add up to them (computed from the trace with the engine's own
operations, so that the recursion can be checked from the shown numbers), and the numbers a
backward drawing of the belt needs. Presentation of :mod:`explorer.engine`'s trace and state
gradients; no Qt here (the app layer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..util.shown import checked, relation
from .cell_view import MINUS, ODOT, CellView, EquationRow, term, WeightView, fmt, gfmt

__all__ = ["BackwardStep", "backward_rows", "backward_step"]

# -- backward through time: the rows of a backward mode ------------------------------------------------
PARTIAL = "\u2202"


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


def backward_step(desc: CellView, trace, grads, t: int, unit: int, weights: dict | None = None,
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
    W = WeightView(weights, layer, direction) if weights is not None else None
    ctx = _BackCtx(desc, tr, g, int(b), int(t), j, nxt, last, W, direction, T, n, layer)
    return _BACKWARD[desc.belt_name if desc.has_belt else None](ctx)


def backward_rows(desc: CellView, trace, grads, t: int, unit: int, weights: dict | None = None,
                  b: int = 0, layer: int = 0, direction: int = 0) -> list:
    """The rows of :func:`backward_step` (a backward mode of the equations panel shows them)."""
    return list(backward_step(desc, trace, grads, t, unit, weights, b, layer, direction).rows)


@dataclass
class _BackCtx:
    desc: CellView
    tr: object
    g: object
    b: int
    t: int
    j: int
    nxt: int
    last: bool
    W: WeightView | None
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
            out += f" + {_gterm(terms['dzo'], k)} \u00d7 {term(terms['p_o'], 3 + k)}"
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
                              lambda k, a=a, x=x, y=y: f"{gfmt(a, 4 + k)} \u00d7 {term(x, 3 + k)} \u00d7 {_factor(y, k)}",
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
                      lambda k: f"{gfmt(dh, 4 + k)} \u00d7 {term(h_prev[j] - gg[j], 3 + k)} \u00d7 {_factor(z[j] * (1.0 - z[j]), k)}",
                      float(dzz[j]), {"dh": dh, "diff": float(h_prev[j] - gg[j]), "gate": float(z[j] * (1 - z[j]))},
                      "into the update gate", block="z")]
    if ctx.W is not None:
        ghn = ctx.W.U[2 * n:] @ h_prev + ctx.W.b_hh[2 * n:]
        dzr = dzg * ghn * rr * (1.0 - rr)
        rows.append(_back_row("dz_r", f"{PARTIAL}L/{PARTIAL}z_r",
                              f"{PARTIAL}L/{PARTIAL}z_g {ODOT} (U_n h_{ctx.prev} + b_hn) {ODOT} r_t(1 \u2212 r_t)",
                              lambda k: f"{gfmt(dzg[j], 4 + k)} \u00d7 {term(ghn[j], 3 + k)} \u00d7 {_factor(rr[j] * (1 - rr[j]), k)}",
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


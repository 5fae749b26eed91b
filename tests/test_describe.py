"""The cell descriptions (Qt-free): facts from the engine, and their views (colours, tooltips, equation
rows with the step's numbers) from the app layer."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from explorer.engine import CELLS, LSTM_GATES, make_model
from explorer.app.cell_view import CellView, cell_view, fmt, input_column
from explorer.engine.describe import KINDS, CellDescription, describe

N, M, T = 3, 2, 6


def _sigmoid(a):
    return 1.0 / (1.0 + math.exp(-a))


def model_and_trace(kind, seed=0, n=N, m=M, steps=T):
    """A model whose every parameter is non-zero (both biases, the peepholes) and its trace."""
    model = make_model(kind, n_inputs=m, n_units=n, n_outputs=1, seed=seed)
    rng = np.random.default_rng(seed + 100)
    sd = model.state_dict()
    for k, v in sd.items():
        if k.startswith(("bias", "peephole")):
            sd[k] = rng.normal(0, 0.6, v.shape)
    model.load_state_dict(sd)
    weights = model.state_dict()
    if kind == "gru":            # the GRU keeps torch's two biases apart: both must be non-zero
        assert np.all(weights["bias_hh_l0"] != 0) and np.all(weights["bias_ih_l0"] != 0)
    x = rng.normal(0, 1.2, (1, steps, m))
    h0 = rng.normal(0, 0.4, (1, n))
    c0 = rng.normal(0, 0.6, (1, n))
    return model, model.forward(x, h0=h0, c0=c0), weights


def test_facts_come_from_the_engine():
    for kind in KINDS:
        d = cell_view(kind)
        assert d.kind == kind
        assert d.state_names == tuple(CELLS[kind].state_names)
        assert d.trace_names == tuple(CELLS[kind].trace_names)
        for g in d.gates:
            assert g.name in d.trace_names, (kind, g.name)
            assert g.activation in ("sigmoid", "tanh") and g.role.endswith(".") and g.color_hex.startswith("#")
            assert d.tooltips[g.name]
    assert cell_view("lstm").gate_names == LSTM_GATES == cell_view("peephole").gate_names
    assert cell_view("gru").gate_names == ("r", "z", "g")
    assert cell_view("rnn").gate_names == ()
    belts = {k: (cell_view(k).has_belt, cell_view(k).belt_name) for k in KINDS}
    assert belts == {"lstm": (True, "c"), "peephole": (True, "c"), "gru": (True, "h"), "rnn": (False, None)}
    assert cell_view("peephole").peepholes == ("i", "f", "o") and cell_view("lstm").peepholes == ()
    with pytest.raises(ValueError, match="unknown cell 'tree'"):
        cell_view("tree")


def _eval_formula(formula: str, n: int, m: int) -> int:
    expr = re.sub(r"(\d)\s*([nm(])", r"\1*\2", formula)
    expr = re.sub(r"([nm)])\s*\(", r"\1*(", expr)
    return eval(expr, {}, {"n": n, "m": m})  # noqa: S307 - our own formula text


@pytest.mark.parametrize("kind", KINDS)
def test_param_count_and_its_formula_agree_with_the_engine(kind):
    d = cell_view(kind)
    for n, m in ((1, 1), (3, 2), (8, 1), (32, 5)):
        layer = make_model(kind, n_inputs=m, n_units=n, n_outputs=1).param_count.layer
        assert d.param_count(n, m) == layer == _eval_formula(d.param_count_formula, n, m)
    # deeper and both directions: each later layer reads the D·n outputs below (4n(m+n+1) for the LSTM)
    if kind == "lstm":
        assert d.param_count(3, 2, layers=2, directions=2) == 2 * (4 * 3 * (2 + 3 + 1) + 4 * 3 * (6 + 3 + 1)) == 384
    for layers, D in ((2, 1), (3, 2)):
        deep = make_model(kind, n_inputs=2, n_units=3, n_outputs=1, num_layers=layers, bidirectional=D == 2)
        assert d.param_count(3, 2, layers=layers, directions=D) == deep.param_count.layer
    assert d.param_count(1, 1) == {"lstm": 12, "peephole": 15, "gru": 12, "rnn": 3}[kind]


def test_csv_columns_are_the_cells_own_quantities():
    assert cell_view("lstm").csv_columns == ("h_prev", "c_prev", "i", "f", "g", "o", "c", "h")
    assert cell_view("peephole").csv_columns == cell_view("lstm").csv_columns
    assert cell_view("gru").csv_columns == ("h_prev", "r", "z", "g", "h")
    assert cell_view("rnn").csv_columns == ("h_prev", "h")


@pytest.mark.parametrize("t", [0, 3, T - 1])
@pytest.mark.parametrize("kind", KINDS)
def test_record_and_unit_values_are_the_traces(kind, t):
    _, tr, _ = model_and_trace(kind)
    d = cell_view(kind)
    rec = d.record(tr, 0, t)
    j = 1
    v = d.unit_values(rec, j)
    assert v["h_prev"] == (tr.h0[0, j] if t == 0 else tr.h[0, t - 1, j])
    for g in d.gate_names:
        assert v[g] == getattr(tr, g)[0, t, j], g      # the GRU's update gate z included
    assert v["h"] == tr.h[0, t, j]
    if "c" in d.state_names:
        assert v["c_prev"] == (tr.c0[0, j] if t == 0 else tr.c[0, t - 1, j]) and v["c"] == tr.c[0, t, j]
    if d.belt_name == "c":
        assert v["kept"] == v["f"] * v["c_prev"] and v["written"] == v["i"] * v["g"]
        assert v["kept"] + v["written"] == pytest.approx(v["c"], abs=1e-14)
    elif d.belt_name == "h":
        assert v["kept"] == v["z"] * v["h_prev"] and v["written"] == (1 - v["z"]) * v["g"]
        assert v["kept"] + v["written"] == pytest.approx(v["h"], abs=1e-14)
    else:
        assert "kept" not in v


@pytest.mark.parametrize("kind", ["lstm", "peephole"])
def test_lstm_rows_add_up_to_the_engines_preactivations(kind):
    _, tr, w = model_and_trace(kind, seed=4)
    d = cell_view(kind)
    for t, j in ((0, 0), (2, 1), (T - 1, 2)):
        rows = {r.key: r for r in d.equation_rows(d.record(tr, 0, t), w, j, t=t)}
        assert list(rows) == ["i", "f", "g", "o", "c", "h"]
        for k, gate in enumerate(LSTM_GATES):
            r = rows[gate]
            assert r.preact == tr.z[0, t, k * N + j]                  # the engine's own number
            assert r.value == getattr(tr, gate)[0, t, j]
            assert sum(r.terms.values()) == pytest.approx(r.preact, abs=1e-12)
            assert r.terms["wx"] == pytest.approx(w["weight_ih_l0"][k * N + j] @ tr.x[0, t], abs=1e-15)
            assert r.terms["b"] == w["bias_ih_l0"][k * N + j] + w["bias_hh_l0"][k * N + j]
            act = math.tanh if gate == "g" else _sigmoid
            assert act(r.preact) == pytest.approx(r.value, abs=1e-14)
            nd = len(r.preact_text.split(".")[1])                       # the digits that check out: 3 to 5
            assert 3 <= nd <= 5 and r.preact_text == fmt(r.preact, nd)
            assert fmt(r.terms["wx"], nd) in r.numbers and fmt(r.terms["b"], nd).lstrip("\u2212") in r.numbers
        c_prev = tr.c0[0, j] if t == 0 else tr.c[0, t - 1, j]
        assert rows["c"].terms == {"f": tr.f[0, t, j], "c_prev": c_prev, "i": tr.i[0, t, j], "g": tr.g[0, t, j]}
        assert rows["h"].value == tr.h[0, t, j]
        assert ("c_0" in rows["c"].formula) == (t == 0) and ("h_0" in rows["i"].formula) == (t == 0)


def test_peephole_rows_include_p_times_c():
    _, tr, w = model_and_trace("peephole", seed=5)
    d = cell_view("peephole")
    t, j = 3, 2
    rows = {r.key: r for r in d.equation_rows(d.record(tr, 0, t), w, j, t=t)}
    assert "p_i \u2299 c_{t\u22121}" in rows["i"].formula and "p_f \u2299 c_{t\u22121}" in rows["f"].formula
    assert "p_o \u2299 c_t" in rows["o"].formula and "p_" not in rows["g"].formula
    assert rows["i"].terms["pc"] == w["peephole_i_l0"][j] * tr.c[0, t - 1, j] != 0
    assert rows["f"].terms["pc"] == w["peephole_f_l0"][j] * tr.c[0, t - 1, j]
    assert rows["o"].terms["pc"] == w["peephole_o_l0"][j] * tr.c[0, t, j]      # o sees the new c_t
    assert "pc" not in rows["g"].terms
    # the LSTM's rows without the peepholes would not reach the engine's pre-activation
    r = rows["o"]
    assert r.terms["wx"] + r.terms["uh"] + r.terms["b"] != pytest.approx(r.preact, abs=1e-6)


def _shown(numbers: str) -> float:
    """Evaluate a row's `numbers` text as a person would with a calculator (3-decimal numbers)."""
    expr = numbers.replace("\u2212", "-").replace("\u00d7", "*").replace("\u03c3", "sig")
    return eval(expr, {"sig": _sigmoid, "tanh": math.tanh})  # noqa: S307 - our own text


@pytest.mark.parametrize("t", [0, 2, T - 1])
def test_gru_rows_reproduce_h_from_the_shown_numbers(t):
    _, tr, w = model_and_trace("gru", seed=6)
    d = cell_view("gru")
    n = N
    for j in range(n):
        rows = {r.key: r for r in d.equation_rows(d.record(tr, 0, t), w, j, t=t)}
        assert list(rows) == ["r", "z", "g", "h"]
        r, z, g, h = rows["r"], rows["z"], rows["g"], rows["h"]
        # torch's GRU, term by term, with both biases of every block kept apart
        for k, row in enumerate((r, z)):
            assert row.terms["b_i"] == w["bias_ih_l0"][k * n + j] and row.terms["b_h"] == w["bias_hh_l0"][k * n + j]
            assert _sigmoid(sum(row.terms.values())) == pytest.approx(row.value, abs=1e-14)
        gt = g.terms
        assert gt["b_in"] == w["bias_ih_l0"][2 * n + j] and gt["b_hn"] == w["bias_hh_l0"][2 * n + j]
        assert gt["r"] == r.value == tr.r[0, t, j]
        assert math.tanh(gt["wx"] + gt["b_in"] + gt["r"] * (gt["uh"] + gt["b_hn"])) == pytest.approx(g.value, abs=1e-14)
        # summing the two biases as the LSTM's panel does would be wrong here
        summed = math.tanh(gt["wx"] + gt["b_in"] + gt["b_hn"] + gt["r"] * gt["uh"])
        assert abs(summed - g.value) > 1e-6
        # h_t from the numbers the row shows
        ht = h.terms
        assert (1 - ht["z"]) * ht["g"] + ht["z"] * ht["h_prev"] == pytest.approx(tr.h[0, t, j], abs=1e-14)
        assert h.value == tr.h[0, t, j] and ht["z"] == tr.z[0, t, j]
        assert _shown(h.numbers) == pytest.approx(h.value, abs=2e-3)
        assert _shown(g.numbers) == pytest.approx(g.value, abs=5e-3)
        assert _shown(r.numbers) == pytest.approx(r.value, abs=2e-3)
        assert "b_in" in g.formula and "b_hn" in g.formula and "r_t \u2299 (U_n h" in g.formula


def test_rnn_has_one_row_the_single_squashing_path():
    _, tr, w = model_and_trace("rnn", seed=7)
    d = cell_view("rnn")
    t, j = 4, 1
    (row,) = d.equation_rows(d.record(tr, 0, t), w, j, t=t)
    assert row.key == "h" and row.preact == tr.z[0, t, j] and row.value == tr.h[0, t, j]
    assert math.tanh(row.preact) == pytest.approx(row.value, abs=1e-14)
    assert row.terms["wx"] + row.terms["uh"] + row.terms["b"] == pytest.approx(row.preact, abs=1e-12)


def test_rows_without_weights_show_the_engines_numbers_only():
    for kind in KINDS:
        _, tr, _ = model_and_trace(kind, seed=8)
        d = cell_view(kind)
        rows = d.equation_rows(d.record(tr, 0, 2), None, 1)
        assert all(not r.terms or r.key in ("c", "h") for r in rows)
        assert [r.value for r in rows][-1] == tr.h[0, 2, 1]
    rows = cell_view("lstm").equation_rows(cell_view("lstm").record(tr := model_and_trace("lstm")[1], 0, 2), None, 1)
    assert rows[0].preact == tr.z[0, 2, 1] and rows[0].numbers == ""


def test_one_hot_input_picks_a_column():
    assert input_column(np.array([0.0, 1.0, 0.0])) == 1
    assert input_column(np.array([0.0, 0.5, 0.0])) is None
    assert input_column(np.array([1.0])) is None            # one value is a number, not a token
    assert input_column(np.int64(4)) == 4                     # a token id
    model = make_model("gru", n_inputs=4, n_units=2, n_outputs=4, seed=1)
    x = np.zeros((1, 3, 4))
    x[0, np.arange(3), [2, 0, 3]] = 1.0
    tr = model.forward(x)
    d = cell_view("gru")
    w = model.state_dict()
    rows = d.equation_rows(d.record(tr, 0, 1), w, 1)
    assert rows[0].terms["wx"] == w["weight_ih_l0"][1, 0] and rows[0].block == "r"


def test_fmt():
    assert fmt(-0.0001) == "0.000" and fmt(-1.5) == "\u22121.500" and fmt(2, 1) == "2.0"


def test_readme_example_runs_as_written(capsys):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if 'd = cell_view("gru")' in b]
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "GRU ['r', 'z', 'g'] h 3n(m + n + 2) 264" in out
    assert "g_t = tanh(W_n x_t + b_in + r_t \u2299 (U_n h_{t\u22121} + b_hn))" in out
    assert "h_t = (1 \u2212 z_t) \u2299 g_t + z_t \u2299 h_{t\u22121} = (1 \u2212 " in out


@pytest.mark.parametrize("kind", KINDS)
def test_rows_of_a_deeper_layer_and_the_reverse_direction(kind):
    """Layer 1, reverse direction of a 2-layer bidirectional model: its own weights (…_l1_reverse),
    its input (the D·n outputs below), its previous state (step t + 1), the engine's numbers."""
    model = make_model(kind, n_inputs=2, n_units=3, n_outputs=1, num_layers=2, bidirectional=True, seed=3)
    rng = np.random.default_rng(5)
    sd = {k: (rng.normal(0, 0.5, v.shape) if k.startswith(("bias", "peephole")) else v)
          for k, v in model.state_dict().items()}
    model.load_state_dict(sd)
    w = model.state_dict()
    tr = model.forward(rng.normal(0, 1, (1, T, 2)))
    sub = tr.layer(1, 1)
    d = cell_view(kind)
    for t in (0, 3, T - 1):
        rec = d.record(sub, 0, t)
        assert rec["x"].shape == (6,)
        np.testing.assert_array_equal(rec["h_prev"], sub.h0[0] if t == T - 1 else sub.h[0, t + 1])
        rows = d.equation_rows(rec, w, 2, layer=1, direction=1, t=t)
        for r in rows:
            if r.activation is None:
                continue
            act = math.tanh if r.activation == "tanh" else _sigmoid
            assert act(r.preact) == pytest.approx(r.value, abs=1e-13), (kind, r.key)
            if d.preact_field is not None:
                assert sum(r.terms.values()) == pytest.approx(r.preact, abs=1e-12)
        assert rows[-1].value == sub.h[0, t, 2]
        wx = rows[0].terms["wx"]
        assert wx == pytest.approx(w["weight_ih_l1_reverse"][2] @ rec["x"], abs=1e-15)


@pytest.mark.parametrize("kind", KINDS)
def test_the_engine_keeps_facts_and_the_view_adds_what_is_shown(kind):
    facts, view = describe(kind), cell_view(kind)
    assert isinstance(view, CellView) and not isinstance(facts, CellView)
    for name in ("kind", "title", "state_names", "has_belt", "belt_name", "trace_names", "peepholes",
                 "kept_formula", "written_formula", "preact_field", "keep_gate"):
        assert getattr(view, name) == getattr(facts, name), name
    assert [(g.name, g.activation) for g in view.gates] == [(g.name, g.activation) for g in facts.gates]
    assert view.param_count(7, 3, 2, 2) == facts.param_count(7, 3, 2, 2)
    # the engine's description holds no colour, tooltip, label or row text
    assert not any(hasattr(facts, a) for a in ("tooltips", "bias_note", "equation_rows", "belt_labels"))
    assert all(not hasattr(g, "color_hex") and not hasattr(g, "label") for g in facts.gates)
    assert all(g.color_hex.startswith("#") and g.label.endswith(g.name) for g in view.gates)
    assert set(CellDescription.__dataclass_fields__) < set(CellView.__dataclass_fields__)

"""Backward through time with numbers: the rows of a backward mode (explorer.engine.describe)."""

import numpy as np
import pytest

from explorer.engine import make_model
from explorer.app.backward_view import backward_rows, backward_step
from explorer.app.cell_view import cell_view, gfmt


def model_and_data(kind, seed=3, n=4, T=7, last_only=False, layers=1, bidirectional=False):
    rng = np.random.default_rng(seed)
    m = make_model(kind, 2, n, 1, seed=seed, num_layers=layers, bidirectional=bidirectional)
    if kind == "peephole":                      # open the peepholes (they start at 0)
        sd = m.state_dict()
        for g in "ifo":
            sd[f"peephole_{g}_l0"] = rng.normal(size=n) * 0.6
        m.load_state_dict(sd)
    x = rng.normal(size=(2, T, 2))
    y = rng.normal(size=(2, 1)) if last_only else rng.normal(size=(2, T, 1))
    return m, x, y


def head_part(m, x, y, b, t, j):
    """What reaches h_t from the head alone: ∂L/∂y_t · V (losses' own derivative, no backward pass)."""
    tr = m.forward(x)
    dy = 2.0 * (tr.y - y) / y.size                  # d/dy of mean((y − target)²), the loss on every step
    return float(dy[b, t] @ m.state_dict()["head.weight"][:, j])


@pytest.mark.parametrize("kind", ["lstm", "peephole"])
def test_lstm_rows_satisfy_the_recursion_exactly_and_match_state_grads(kind):
    m, x, y = model_and_data(kind)
    tr, sg, w = m.forward(x), m.state_grads(x, y), m.state_dict()
    desc = cell_view(kind)
    T = x.shape[1]
    carried = None
    for t in range(T - 1, -1, -1):                      # "from T down to 1": t descending
        for j in range(4):
            step = backward_step(desc, tr, sg, t, j, w, b=1)
            rows = {r.key: r for r in step.rows}
            dc, terms = rows["dc"], rows["dc"].terms
            # the row's value is the engine's, and the shown terms add up to it exactly
            assert dc.value == sg.dc[1, t, j]
            total = terms["through_h"] + terms["through_belt"]
            if kind == "peephole":
                total += terms["through_po"]
            assert total == dc.value
            # each term is the product it shows: ∂L/∂h_t ⊙ o_t ⊙ (1 − tanh² c_t) and ∂L/∂c_{t+1} ⊙ f_{t+1}
            assert terms["dh"] == sg.dh[1, t, j] and terms["o"] == tr.o[1, t, j]
            assert terms["tanh_prime"] == pytest.approx(1 - np.tanh(tr.c[1, t, j]) ** 2, rel=1e-15)
            assert terms["through_h"] == pytest.approx(terms["dh"] * terms["o"] * terms["tanh_prime"], rel=1e-14)
            if t == T - 1:
                assert step.last and terms["dc_next"] == 0.0 and "no step after this one" in dc.numbers
            else:
                assert terms["dc_next"] == sg.dc[1, t + 1, j] and terms["f_next"] == tr.f[1, t + 1, j]
                if kind == "lstm":
                    assert terms["through_belt"] == terms["dc_next"] * terms["f_next"]
            # the belt: what leaves to the left at t is what arrives from the right at t − 1
            if carried is not None and j == 0:
                assert carried == terms["through_belt"]
            if j == 0:
                carried = rows["dc_prev"].value
            # ∂L/∂h_t: the engine's total, split into what came from the head and back through U
            dh = rows["dh"]
            assert dh.value == sg.dh[1, t, j]
            assert dh.terms["from_above"] == pytest.approx(head_part(m, x, y, 1, t, j), abs=1e-15)
    # a row at t = 3 shows its numbers the way a person reads them
    row = {r.key: r for r in backward_rows(desc, tr, sg, 3, 2, w)}["dc"]
    assert row.lhs == "\u2202L/\u2202c_t"
    assert row.formula.startswith("\u2202L/\u2202h_t \u2299 o_t \u2299 (1 \u2212 tanh\u00b2 c_t) + \u2202L/\u2202c_{t+1} \u2299 f_{t+1}")
    assert row.numbers.startswith(f"{gfmt(sg.dh[0, 3, 2])} \u00d7 ")


def test_the_belt_values_for_a_backward_drawing():
    m, x, y = model_and_data("lstm", last_only=True, T=9)
    tr, sg, w = m.forward(x), m.state_grads(x, y), m.state_dict()
    desc = cell_view("lstm")
    for t in (8, 4, 0):
        belt = backward_step(desc, tr, sg, t, 1, w).belt
        assert belt["name"] == "c" and belt["in"] == sg.dc[0, t, 1]
        assert belt["factor"] == tr.f[0, t, 1]
        assert belt["out"] == sg.dc[0, t, 1] * tr.f[0, t, 1]            # right to left, scaled by f at the ×
        assert belt["from_h"] + belt["from_next"] == pytest.approx(belt["in"], rel=1e-14)
        assert belt["kept_product"] == pytest.approx(np.prod(tr.f[0, t + 1:, 1]), rel=1e-14)
        assert np.array_equal(belt["units"]["in"], sg.dc[0, t])
    assert backward_step(desc, tr, sg, 8, 1, w).belt["from_next"] == 0.0


def test_gru_rows_name_the_paths_through_z_and_the_candidate():
    m, x, y = model_and_data("gru")
    tr, sg, w = m.forward(x), m.state_grads(x, y), m.state_dict()
    desc = cell_view("gru")
    assert sg.dc is None
    for t in range(5, -1, -1):
        step = backward_step(desc, tr, sg, t, 2, w)
        rows = {r.key: r for r in step.rows}
        dh = rows["dh"]
        assert dh.value == sg.dh[0, t, 2]
        paths = ["kept", "U_r", "U_z", "U_n"]
        assert list(dh.terms) == ["from_above", *paths]
        # the kept path: z_{t+1} ⊙ ∂L/∂h_{t+1}; through the candidate: U_nᵀ (r ⊙ ∂L/∂z_g)
        assert dh.terms["kept"] == sg.dh[0, t + 1, 2] * tr.z[0, t + 1, 2]
        assert dh.terms["from_above"] == pytest.approx(head_part(m, x, y, 0, t, 2), abs=1e-14)
        assert sum(dh.terms.values()) == pytest.approx(dh.value, abs=1e-15)
        assert rows["dh_prev"].value == sg.dh[0, t, 2] * tr.z[0, t, 2]
        assert rows["dz_g"].value == pytest.approx(sg.dh[0, t, 2] * (1 - tr.z[0, t, 2]) * (1 - tr.g[0, t, 2] ** 2), rel=1e-14)
        assert step.belt["name"] == "h" and step.belt["factor"] == tr.z[0, t, 2]
        assert "z_{t+1} \u2299 \u2202L/\u2202h_{t+1}" in dh.formula


def test_rnn_rows_show_the_factor_that_makes_the_gradient_vanish():
    m, x, y = model_and_data("rnn", last_only=True, T=30, n=6)
    tr, sg, w = m.forward(x), m.state_grads(x, y), m.state_dict()
    desc = cell_view("rnn")
    U = w["weight_hh_l0"]
    norms = np.linalg.norm(sg.dh[0], axis=1)
    running = []
    for t in (28, 20, 11, 5, 0):
        step = backward_step(desc, tr, sg, t, 0, w)
        rows = {r.key: r for r in step.rows}
        # the factor: ‖Uᵀ (tanh′ ⊙ ∂L/∂h_{t+1})‖ / ‖∂L/∂h_{t+1}‖ — with the loss on the last step only,
        # exactly how much ‖∂L/∂h‖ shrinks from t + 1 to t, and the running product from T
        assert step.shrink["factor"] == pytest.approx(norms[t] / norms[t + 1], rel=1e-12)
        assert step.shrink["running"] == pytest.approx(norms[t] / norms[29], rel=1e-11)
        running.append(step.shrink["running"])
        assert rows["shrink"].value == step.shrink["factor"] and rows["running"].value == step.shrink["running"]
        tp = 1 - tr.h[0, t + 1] ** 2
        assert step.shrink["bound"] == pytest.approx(np.linalg.norm(U, 2) * tp.max(), rel=1e-14)
        assert step.shrink["factor"] <= step.shrink["bound"] + 1e-15
        assert rows["dh"].terms["U"] == pytest.approx(float(U[:, 0] @ (tp * sg.dh[0, t + 1])), rel=1e-13)
        assert rows["dh"].terms["from_above"] == 0.0          # the loss is on the last step only
        assert step.belt is None
    assert running == sorted(running, reverse=True) and running[-1] < 1e-2       # it vanishes on the way back


def test_deeper_and_reverse_directions_and_no_weights():
    m, x, y = model_and_data("lstm", layers=2, bidirectional=True)
    tr, sg, w = m.forward(x), m.state_grads(x, y), m.state_dict()
    desc = cell_view("lstm")
    for layer, direction in ((1, 1), (0, 1), (1, 0)):
        g = sg.layer(layer, direction)
        lt = tr.layer(layer, direction)
        for t in (0, 3, 6):
            rows = {r.key: r for r in backward_rows(desc, tr, sg, t, 1, w, layer=layer, direction=direction)}
            terms = rows["dc"].terms
            assert rows["dc"].value == g.dc[0, t, 1] == terms["through_h"] + terms["through_belt"]
            nxt = t - 1 if direction else t + 1
            if 0 <= nxt < 7:
                assert terms["f_next"] == lt.f[0, nxt, 1]
            else:
                assert terms["f_next"] == 0.0
            assert rows["dh"].value == g.dh[0, t, 1]
    # without weights the rows still show the engine's totals
    rows = {r.key: r for r in backward_rows(cell_view("rnn"), make_model("rnn", 2, 3, 1).forward(x),
                                            make_model("rnn", 2, 3, 1).state_grads(x, y), 2, 0)}
    assert set(rows) == {"dh", "dz"} and "total only" in rows["dh"].note


def test_gfmt_keeps_small_gradients_readable():
    assert gfmt(0.0) == "0"
    assert gfmt(0.012345678) == "0.01235"
    assert gfmt(-3.2e-7) == "\u22123.200e\u22127"
    assert gfmt(1234.5) == "1234"
    assert gfmt(12345.0) == "1.234e4"


def test_the_equations_view_has_a_backward_mode(qtbot):
    from explorer.app.session import Session
    from explorer.gui.equations import EquationsView

    m, x, y = model_and_data("lstm")
    x, y = x[:1], y[:1]
    tr, sg = m.forward(x), m.state_grads(x, y)
    session = Session()
    view = EquationsView(session)
    qtbot.addWidget(view)
    view.resize(1300, 600)
    session.set_trace(tr, m.state_dict())
    session.set_position(t=6, unit=3)
    assert not view.backward and "dc" not in view.equation_values()
    view.set_backward(sg)
    assert view.backward
    for t in (6, 3, 0):                                 # stepping from T down to 1
        session.set_position(t=t)
        vals = view.equation_values()
        assert vals["dc"]["value"] == sg.dc[0, t, 3] and vals["dh"]["value"] == sg.dh[0, t, 3]
        assert vals["dc"]["through_h"] + vals["dc"]["through_belt"] == vals["dc"]["value"]
        text = view.text()
        assert f"backward \u00b7 Unit 3 of 4 \u00b7 sample 0 \u00b7 t = {t + 1} / 7" in text.replace("\xa0", " ").replace("  ", " ")
        assert "\u2202L/\u2202ct" in text and gfmt(sg.dc[0, t, 3]) in text
    view.set_backward(None)
    assert "dc" not in view.equation_values() and "i" in view.equation_values()


def test_readme_backward_example_runs_as_written(capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "backward_step(" in b]
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("\u2202L/\u2202c_t = \u2202L/\u2202h_t \u2299 o_t \u2299 (1 \u2212 tanh\u00b2 c_t) + "
                             "\u2202L/\u2202c_{t+1} \u2299 f_{t+1} = ")
    assert out[0].startswith("\u2202L/\u2202h_t = from above + ") and "= 0 + " in out[0]   # the loss is at the end
    assert out[2].startswith("\u2202L/\u2202c_{t\u22121} (belt) = \u2202L/\u2202c_t \u2299 f_t = ")


def test_a_saturated_factor_is_written_with_its_digits_not_as_0_000():
    m, x, y = model_and_data("lstm", last_only=True, T=6)
    sd = m.state_dict()
    sd["bias_ih_l0"][2 * m.n_units:3 * m.n_units] = 12.0          # g and c saturate: 1 − tanh² c is tiny
    sd["bias_ih_l0"][:2 * m.n_units] = 12.0                       # i = f = 1 (almost)
    m.load_state_dict(sd)
    tr, sg = m.forward(x), m.state_grads(x, y)
    row = {r.key: r for r in backward_rows(cell_view("lstm"), tr, sg, 4, 1, m.state_dict())}["dc"]
    tp = row.terms["tanh_prime"]
    assert 0.0 < tp < 0.0005
    assert f"\u00d7 {gfmt(tp)} + " in row.numbers and "\u00d7 0.000 +" not in row.numbers

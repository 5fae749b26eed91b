"""Whatever a person can add or multiply on screen checks out to the digits shown, or carries ≈.

Property tests over random models and values: every forward row of every cell, every backward
row, the diagram's belt labels. The check here is done by hand on the shown texts: parse the
numbers, do the arithmetic exactly, round to the result's digits.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.engine import make_model
from explorer.app.backward_view import backward_rows
from explorer.app.cell_view import cell_view, fmt
from explorer.engine.describe import KINDS
from explorer.util.shown import APPROX, checked, evaluate, relation

MINUS = "\u2212"


def number(text: str) -> Decimal:
    return Decimal(text.strip().strip("()").replace(MINUS, "-"))


def rounds_to(exact: Decimal, shown: str) -> bool:
    """``exact`` rounded to the digits of ``shown`` is ``shown`` (either way on a tie)."""
    q = number(shown)
    return abs(exact - q) <= Decimal(1).scaleb(q.as_tuple().exponent) / 2


def is_plain_sum(expr: str) -> bool:
    return "\u00d7" not in expr and "/" not in expr and "tanh" not in expr and "\u03c3" not in expr


def check_claim(expr: str, rel: str, result: str) -> None:
    """"=" only when the shown arithmetic gives the shown result (exactly, for a sum of terms with
    the result's decimals); "≈" only when it does not."""
    assert rel in ("=", APPROX)
    exact = evaluate(expr)
    assert rounds_to(exact, result) == (rel == "="), (expr, rel, result, exact)
    if rel == "=" and is_plain_sum(expr) and "e" not in expr:
        decimals = {len(t.split(".")[1]) for t in expr.replace("(", " ").replace(")", " ").split() if "." in t}
        if decimals == {len(result.split(".")[1])}:
            assert exact == number(result), (expr, result)


def test_evaluate_reads_what_the_rows_write():
    assert evaluate("0.412 + (\u22120.031) + 0.000") == Decimal("0.381")
    assert evaluate("(1 \u2212 0.250) \u00d7 (\u22120.400) + 0.250 \u00d7 0.800") == Decimal("-0.1")
    assert evaluate("1.5e\u22123 \u00d7 2") == Decimal("0.003")
    assert evaluate("2.000 \u00d7 0.500 + 0 (no step after this one)") == Decimal("1")
    assert float(evaluate("\u03c3(0.000)")) == 0.5 and float(evaluate("tanh(0)")) == 0.0
    with pytest.raises(ValueError):
        evaluate("0.5 \u00d7 \u2026")


def test_the_issues_example_is_marked_or_given_digits():
    # kept 0.0873 + written 0.0012 is c 0.0885 (true 0.08852): the shown 0.087 + 0.001 is not 0.089
    assert relation("0.087 + 0.001", "0.089") == APPROX
    assert relation("0.0873 + 0.0012", "0.0885") == "="
    expr, rel, result = checked(lambda k: (f"{0.08731:.{3 + k}f} + {0.00121:.{3 + k}f}", f"{0.08852:.{3 + k}f}"))
    assert (expr, rel, result) == ("0.0873 + 0.0012", "=", "0.0885")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-50, 50, allow_nan=False), min_size=2, max_size=5))
def test_checked_sums_add_up_or_say_approx(terms):
    total = math.fsum(terms)
    expr, rel, result = checked(lambda k: (" + ".join(f"({fmt(v, 3 + k)})" for v in terms), fmt(total, 3 + k)))
    check_claim(expr, rel, result)
    if rel == "=":                                  # the result is still the true total, rounded
        nd = len(result.split(".")[1])
        assert result == fmt(total, nd)
    else:
        assert result == fmt(total) and expr == " + ".join(f"({fmt(v)})" for v in terms)


def _model(kind: str, seed: int, scale: float, n: int = 3, steps: int = 5):
    rng = np.random.default_rng(seed)
    model = make_model(kind, n_inputs=2, n_units=n, n_outputs=1, seed=seed)
    sd = {k: (rng.normal(0, scale, v.shape) if k.startswith(("weight", "bias", "peephole")) else v)
          for k, v in model.state_dict().items()}
    model.load_state_dict(sd)
    x = rng.normal(0, 1.5, (1, steps, 2))
    y = rng.normal(size=(1, steps, 1))
    return model, x, y


def _check_row(r) -> None:
    if r.activation is not None:
        if r.numbers:
            inner = r.numbers[len(r.activation) + 1:-1]
            check_claim(inner, r.preact_rel, r.preact_text)
        check_claim(f"{r.activation}({r.preact_text})", r.value_rel, r.value_text)
    elif r.numbers and "\u2026" not in r.numbers:
        check_claim(r.numbers, r.value_rel, r.value_text)


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 10**6), scale=st.sampled_from([0.05, 0.4, 1.0, 2.5]))
def test_every_forward_row_checks_out(kind, seed, scale):
    model, x, _ = _model(kind, seed, scale)
    tr, w, desc = model.forward(x), model.state_dict(), cell_view(kind)
    for t in range(tr.T):
        rec = desc.record(tr, 0, t)
        for j in range(3):
            rows = desc.equation_rows(rec, w, j, t=t)
            for r in rows:
                _check_row(r)
            if desc.has_belt:                       # the diagram's kept + written = new state
                v = desc.unit_values(rec, j)
                labels = desc.belt_labels(v)
                (_, kept), (_, written), (rel, new) = labels["kept"], labels["written"], labels["new"]
                check_claim(f"{kept} + ({written})", rel, new)
                assert new == fmt(v[desc.belt_name], len(new.split(".")[1]))
                gate, state = desc.keep_gate, desc.belt_name + "_prev"
                check_claim(f"{fmt(v[gate])} \u00d7 ({fmt(v[state])})", labels["kept"][0], kept)


@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 10**6), scale=st.sampled_from([0.3, 1.0, 2.0]))
def test_every_backward_row_checks_out(kind, seed, scale):
    model, x, y = _model(kind, seed, scale)
    tr, sg, w, desc = model.forward(x), model.state_grads(x, y), model.state_dict(), cell_view(kind)
    for t in range(tr.T):
        for j in range(3):
            for r in backward_rows(desc, tr, sg, t, j, w):
                _check_row(r)


def test_equations_view_writes_the_rows_relations(qtbot):
    from explorer.app.session import Session
    from explorer.gui.equations import EquationsView

    model, x, _ = _model("lstm", 11, 1.0)
    s = Session()
    s.set_trace(model.forward(x), weights=model.state_dict())
    view = EquationsView(s)
    qtbot.addWidget(view)
    view.resize(1200, 500)
    desc = cell_view("lstm")
    seen = set()
    for t in range(5):
        s.set_position(t=t, unit=1)
        text = re.sub(r"\s+", " ", view.toPlainText().replace("\u00a0", " "))
        rows = desc.equation_rows(desc.record(s.trace, 0, t), model.state_dict(), 1, t=t)
        for r in rows:
            if r.activation:
                assert f"{r.preact_rel} {r.activation}({r.preact_text})" in text
                seen.add(r.preact_rel)
            assert f"{r.value_rel} {r.value_text}" in text
            seen.add(r.value_rel)
    assert seen == {"=", APPROX}                    # both kinds of claims occur and are written

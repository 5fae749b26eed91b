"""The parameter count and its formula text come from one registry and agree for every cell kind,
depth and direction (issue 18 §3): the text's arithmetic, evaluated, is the engine's count."""

import re

import pytest

from explorer.engine import make_model, param_formula, recurrent_param_count, register_param_formula
from explorer.engine.describe import KINDS, describe
from explorer.engine.params import PARAM_COUNTS, PARAM_FORMULAS


def evaluate(text: str, n: int, m: int) -> int:
    """The formula text's arithmetic: implicit products (4n, 2·[…], n(…)) made explicit."""
    expr = text.replace("\u00b7", "*").replace("[", "(").replace("]", ")")
    expr = re.sub(r"(\d)\s*([nm(])", r"\1*\2", expr)
    expr = re.sub(r"([nm)])\s*\(", r"\1*(", expr)
    assert re.fullmatch(r"[0-9nm+*() ]+", expr), expr
    return eval(expr, {"__builtins__": {}}, {"n": n, "m": m})  # noqa: S307 - checked to be arithmetic


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm", "peephole"])
@pytest.mark.parametrize("layers", [1, 2, 3, 4])
@pytest.mark.parametrize("directions", [1, 2])
def test_the_formula_text_equals_the_models_count(kind, layers, directions):
    text = param_formula(kind, layers, directions)
    assert describe(kind).param_formula(layers, directions) == text
    for n, m in ((8, 1), (3, 2), (5, 7)):
        model = make_model(kind, n_inputs=m, n_units=n, n_outputs=1, num_layers=layers,
                           bidirectional=directions == 2)
        count = model.param_count.layer
        assert evaluate(text, n, m) == count == recurrent_param_count(kind, n, m, layers, directions)
        assert describe(kind).param_count(n, m, layers, directions) == count


def test_a_three_layer_peephole_reads_its_count():
    text = param_formula("peephole", layers=3)
    assert text == "4n(m+n+1)+3n + 2\u00b7[4n(n+n+1)+3n]"
    assert evaluate(text, 8, 1) == 1480 == recurrent_param_count("peephole", 8, 1, layers=3)


def test_the_descriptions_layer_formula_is_the_registrys_spaced():
    assert {k: describe(k).param_count_formula for k in KINDS} == {
        "lstm": "4n(m + n + 1)", "peephole": "4n(m + n + 1) + 3n", "gru": "3n(m + n + 2)", "rnn": "n(m + n + 1)"}


def test_a_new_cell_family_registers_its_count_and_formula():
    try:
        register_param_formula("scaled", lambda n, m: 2 * n * (m + n) + n, "2n({m}+n)+n")
        text = param_formula("scaled", layers=3, directions=2)
        assert text == "2\u00b7[2n(m+n)+n + 2\u00b7[2n(2n+n)+n]]"
        assert evaluate(text, 4, 3) == recurrent_param_count("scaled", 4, 3, 3, 2) == 2 * (
            (2 * 4 * 7 + 4) + 2 * (2 * 4 * 12 + 4))
        with pytest.raises(ValueError, match=r"\{m\}"):
            register_param_formula("bad", lambda n, m: n, "n(m+n)")
    finally:
        PARAM_FORMULAS.pop("scaled", None)
        PARAM_COUNTS.pop("scaled", None)

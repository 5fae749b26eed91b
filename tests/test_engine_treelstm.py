"""The Tree-LSTMs (child-sum and N-ary) against torch, node by node: forward and every gradient to
1e-10 in float64, through the golden file (no torch needed) and directly (with torch)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from explorer.engine.model import make_model
from explorer.engine.treelstm import Forest, TreeError, TreeLSTMModel, join_forest, tree_param_count

_TOOL = Path(__file__).resolve().parents[1] / "tools" / "treelstm_golden.py"
_spec = importlib.util.spec_from_file_location("treelstm_golden", _TOOL)
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)

CASES = [c[0] for c in golden.cases()]
TOL = 1e-10


def _check(model, case, ref, children, loss):
    trace = model.forward(case["x"], children=children)
    for name in ("h", "c", "i", "o", "u", "f", "y"):
        np.testing.assert_allclose(getattr(trace, name), ref[name], rtol=0, atol=TOL, err_msg=name)
    value, grads = model.loss_and_grads(case["x"], case["target"], loss=loss, children=children,
                                        with_input_grads=True)
    assert abs(value - float(ref["loss"])) < TOL
    keys = {k.split("/", 1)[1] for k in ref if k.startswith("grad/")}
    assert keys >= {name for name, _ in model.layout}
    for key in keys:
        np.testing.assert_allclose(grads[key], ref["grad/" + key], rtol=0, atol=TOL, err_msg=key)


@pytest.fixture(scope="module")
def stored():
    with np.load(golden.GOLDEN, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("name", CASES)
def test_golden_parity(stored, name):
    """Weights in the ioux/iouh/fx/fh layout, loaded, reproduce torch's trace, loss and gradients."""
    kind, loss = str(stored[f"{name}/kind"]), str(stored[f"{name}/loss_name"])
    children = golden.children_of(stored[f"{name}/counts"], stored[f"{name}/flat"])
    model = make_model(kind, golden.M, golden.N_UNITS, golden.K)
    model.load_state_dict({k.split("/state/")[1]: v for k, v in stored.items() if k.startswith(f"{name}/state/")})
    case = {"x": stored[f"{name}/x"], "target": stored[f"{name}/target"]}
    ref = {k.split("/ref/")[1]: v for k, v in stored.items() if k.startswith(f"{name}/ref/")}
    _check(model, case, ref, children, loss)


def test_golden_covers_both_kinds_and_shapes(stored):
    kinds = {str(stored[f"{n}/kind"]) for n in CASES}
    assert kinds == {"treelstm", "nary-treelstm"}
    sizes = [stored[f"{n}/counts"].size for n in CASES]
    assert min(sizes) == 1 and max(sizes) >= 40
    assert any((stored[f"{n}/counts"] > 2).any() for n in CASES)          # a node with 5 children


@pytest.mark.parametrize("kind", ["treelstm", "nary-treelstm"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_torch_random_forests(kind, seed):
    """Fresh random forests and targets against torch run now (the engine's own initial weights)."""
    pytest.importorskip("torch")
    rng = np.random.default_rng(100 + seed)
    children = golden.random_forest(rng, 25 + 10 * seed, kind == "nary-treelstm")
    loss = "mse" if seed % 2 else "cross_entropy"
    case = golden.make_case(seed, kind, children, "floats", loss, "some")
    model = make_model(kind, golden.M, golden.N_UNITS, golden.K, seed=seed)
    ref = golden.reference(kind, model.state_dict(), case["x"], children, case["target"], loss)
    _check(model, case, ref, children, loss)


def test_torch_reference_matches_golden(stored):
    """The stored file is what the reference computes now."""
    pytest.importorskip("torch")
    for name in ("forest_cs", "balanced_nary"):
        children = golden.children_of(stored[f"{name}/counts"], stored[f"{name}/flat"])
        state = {k.split("/state/")[1]: v for k, v in stored.items() if k.startswith(f"{name}/state/")}
        ref = golden.reference(str(stored[f"{name}/kind"]), state, stored[f"{name}/x"], children,
                               stored[f"{name}/target"], str(stored[f"{name}/loss_name"]))
        np.testing.assert_allclose(ref["grad/fh.weight"], stored[f"{name}/ref/grad/fh.weight"], atol=1e-14)


def test_torch_module_state_dict_loads():
    """A torch module named as treelstm.pytorch's (ioux, iouh, fx, fh, head) loads as is."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    mods = nn.ModuleDict({"ioux": nn.Linear(3, 12), "iouh": nn.Linear(4, 12), "fx": nn.Linear(3, 4),
                          "fh": nn.Linear(4, 4), "head": nn.Linear(4, 2)}).double()
    sd = {k: v.detach().numpy() for k, v in mods.state_dict().items()}
    model = make_model("treelstm", 3, 4, 2)
    model.load_state_dict(sd)
    children = [[], [], [0, 1], [], [2, 3]]
    x = np.random.default_rng(0).standard_normal((5, 3))
    ref = golden.reference("treelstm", sd, x, children, np.zeros((5, 2)), "mse")
    np.testing.assert_allclose(model.forward(x, children=children).h, ref["h"], atol=TOL, rtol=0)


def test_levels_one_product_per_height():
    """A balanced tree of 1024 leaves is 11 levels; a forest's levels gather nodes of every tree."""
    fo = Forest(golden.balanced(10))
    assert len(fo.levels) == 11
    assert [lv.nodes.size for lv in fo.levels] == [2 ** (10 - d) for d in range(11)]
    x, children = join_forest([(np.zeros((7, 1)), golden.chain(7)), (np.zeros((3, 1)), [[], [], [0, 1]])])
    fo = Forest(children)
    assert x.shape == (10, 1) and children[9] == [7, 8]
    assert fo.levels[0].nodes.tolist() == [0, 7, 8] and fo.levels[1].nodes.tolist() == [1, 9]
    assert fo.roots.tolist() == [6, 9] and fo.height.max() == 6


def test_deep_chain_has_no_recursion_limit():
    """A chain of 20,000 nodes (far past Python's recursion limit) runs forward and backward."""
    n = 20_000
    model = make_model("treelstm", 2, 3, 1, seed=1)
    x = np.random.default_rng(0).standard_normal((n, 2))
    target = np.full((n, 1), np.nan)
    target[-1] = 0.5
    value, grads = model.loss_and_grads(x, target, loss="mse", children=golden.chain(n))
    assert np.isfinite(value) and np.isfinite(grads["fh.weight"]).all()


@pytest.mark.parametrize("children, words", [
    ([[1], []], "not an earlier node"),
    ([[], [0], [0]], "child of 2 parents"),
    ([[], [5]], "not an earlier node"),
    ([[], [-1]], "not an earlier node"),
    ([[], [0.5]], "integer node indices"),
    ([[], 3], "one list of child indices"),
])
def test_bad_children_refused_in_one_sentence(children, words):
    with pytest.raises(TreeError) as err:
        make_model("treelstm", 1, 2, 1).forward(np.zeros((len(children), 1)), children=children)
    msg = str(err.value)
    assert words in msg and msg.count(". ") == 0 and "\n" not in msg


def test_nary_refuses_a_node_with_one_child():
    with pytest.raises(TreeError, match=r"binarised trees, but node 1 has 1 child"):
        make_model("nary-treelstm", 1, 2, 1).forward(np.zeros((2, 1)), children=[[], [0]])
    with pytest.raises(TreeError, match=r"node 3 has 3 child"):
        make_model("nary-treelstm", 1, 2, 1).forward(np.zeros((4, 1)), children=[[], [], [], [0, 1, 2]])
    with pytest.raises(ValueError, match="children has 2 lists for 3 nodes"):
        make_model("treelstm", 1, 2, 1).forward(np.zeros((3, 1)), children=[[], []])


@pytest.mark.parametrize("kind, m, n, k", [("treelstm", 5, 4, 3), ("nary-treelstm", 5, 4, 3),
                                           ("treelstm", 1, 7, 2), ("nary-treelstm", 30, 16, 5)])
def test_param_count_formula(kind, m, n, k):
    model = make_model(kind, m, n, k)
    count = model.param_count
    assert count.total == model.params.size == tree_param_count(kind, m, n, k)
    assert count.head == k * (n + 1)
    if kind == "treelstm":
        assert count.total == 4 * n * (m + n + 2) + k * (n + 1)
    else:
        assert count.total == 5 * n * m + 10 * n * n + 10 * n + k * (n + 1)


def test_state_dict_layout_and_round_trip():
    model = make_model("treelstm", 5, 4, 3, seed=3)
    sd = model.state_dict()
    assert list(sd) == ["ioux.weight", "ioux.bias", "iouh.weight", "iouh.bias", "fx.weight", "fx.bias",
                        "fh.weight", "fh.bias", "head.weight", "head.bias"]
    assert sd["ioux.weight"].shape == (12, 5) and sd["iouh.weight"].shape == (12, 4)
    assert sd["fx.weight"].shape == (4, 5) and sd["fh.weight"].shape == (4, 4) and sd["head.weight"].shape == (3, 4)
    nary = make_model("nary-treelstm", 5, 4, 3).state_dict()
    assert nary["iouh.weight"].shape == (12, 8) and nary["fh.weight"].shape == (8, 8)
    assert nary["fx.weight"].shape == (8, 5) and nary["fx.bias"].shape == (8,)
    other = make_model("treelstm", 5, 4, 3, seed=4)
    other.load_state_dict(sd)
    np.testing.assert_array_equal(other.params, model.params)
    before = other.params.copy()
    with pytest.raises(ValueError, match="'fh.weight' has shape"):
        other.load_state_dict({**sd, "fh.weight": np.zeros((4, 5))})
    with pytest.raises(ValueError, match="does not hold"):
        other.load_state_dict({**sd, "extra": np.zeros(1)})
    np.testing.assert_array_equal(other.params, before)


def test_i_o_u_rows_in_that_order():
    """A bias on the u rows alone moves u, not i or o (rows i, o, u of ioux/iouh)."""
    model = make_model("treelstm", 1, 2, 1)
    sd = {k: np.zeros_like(v) for k, v in model.state_dict().items()}
    sd["ioux.bias"] = np.array([0, 0, 1, 1, 3, 3], float)          # i = σ(0), o = σ(1), u = tanh(3)
    model.load_state_dict(sd)
    tr = model.forward(np.zeros((1, 1)), children=[[]])
    np.testing.assert_allclose(tr.i[0], 0.5)
    np.testing.assert_allclose(tr.o[0], 1 / (1 + np.exp(-1)))
    np.testing.assert_allclose(tr.u[0], np.tanh(3))
    np.testing.assert_allclose(tr.c[0], 0.5 * np.tanh(3))


def test_edges_parent_by_parent_and_node_record():
    model = make_model("treelstm", 2, 3, 2, seed=5)
    children = [[], [], [], [1, 0], [2, 3]]
    x = np.random.default_rng(1).standard_normal((5, 2))
    tr = model.forward(x, children=children)
    assert tr.edges.tolist() == [[3, 1], [3, 0], [4, 2], [4, 3]]
    rec = tr.node(3)
    assert rec["children"].tolist() == [1, 0]
    np.testing.assert_allclose(rec["c"], rec["i"] * rec["u"] + (rec["f"] * rec["c_children"]).sum(axis=0))
    np.testing.assert_allclose(tr.h_children[3], tr.h[0] + tr.h[1])
    with pytest.raises(ValueError):
        tr.h[0, 0] = 1.0


def test_loss_masks_and_refusals():
    model = make_model("treelstm", 2, 3, 2, seed=5)
    children = [[], [], [0, 1]]
    x = np.ones((3, 2))
    y = model.predict(x, children=children)
    t = np.full((3, 2), np.nan)
    t[2] = [0.5, -1.0]
    assert model.evaluate(x, t, "mse", children=children) == pytest.approx(np.mean((y[2] - t[2]) ** 2), abs=1e-15)
    with pytest.raises(ValueError, match="no node has a label"):
        model.loss_and_grads(x, np.full((3, 2), np.nan), "mse", children=children)
    with pytest.raises(ValueError, match="class targets must lie in 0..1"):
        model.loss_and_grads(x, np.array([0, 2, 1]), "cross_entropy", children=children)
    t_ids = np.array([1, -1, 0])
    v_ids, g_ids = model.loss_and_grads(x, t_ids, "cross_entropy", children=children)
    v_f, g_f = model.loss_and_grads(x, np.array([1.0, np.nan, 0.0]), "cross_entropy", children=children)
    assert v_f == v_ids and np.array_equal(g_f["fh.weight"], g_ids["fh.weight"])
    with pytest.raises(ValueError, match="whole class ids"):
        model.loss_and_grads(x, np.array([0.5, 1.0, 0.0]), "cross_entropy", children=children)
    one = make_model("treelstm", 2, 3, 1, seed=5)
    assert one.evaluate(x, np.array([np.nan, 1.0, 2.0]), "mse", children=children) == \
        one.evaluate(x, np.array([[np.nan], [1.0], [2.0]]), "mse", children=children)
    with pytest.raises(ValueError, match="one layer and one direction"):
        make_model("treelstm", 2, 3, 2, num_layers=2)


def test_float32_close_to_float64():
    children = golden.random_forest(np.random.default_rng(4), 30, False)
    x = np.random.default_rng(5).standard_normal((30, 3))
    m64 = make_model("treelstm", 3, 5, 2, seed=2)
    m32 = make_model("treelstm", 3, 5, 2, seed=2, dtype=np.float32)
    h32 = m32.forward(x, children=children).h
    assert h32.dtype == np.float32
    np.testing.assert_allclose(h32, m64.forward(x, children=children).h, atol=1e-5)
    assert isinstance(m32, TreeLSTMModel)


def test_readme_example_runs_as_written(capsys):
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if '"treelstm"' in b)
    exec(compile(block, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == "(2, 8) (24, 8) 507"

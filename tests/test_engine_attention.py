"""Whole-sequence models (pool="last" / "attention") against torch, golden files and finite
differences, for every cell, depth and direction, with sequences of unequal lengths."""

from pathlib import Path

import numpy as np
import pytest

from explorer.engine import make_model
from explorer.engine.attention import SequenceModel, reverse_index

TOL = 1e-10
KINDS = ["rnn", "gru", "lstm", "peephole"]
GOLDEN = Path(__file__).parent / "data" / "attention_golden.npz"


def make_case(kind, layers, bidirectional, pool, loss, seed=0):
    """A perturbed model and a batch of 4 sequences of lengths 6, 2, 4, 1 (T = 6)."""
    n, m, k, T = 3, 2, 3, 6
    model = make_model(kind, m, n, k, num_layers=layers, bidirectional=bidirectional, pool=pool, seed=seed)
    rng = np.random.default_rng(100 + seed)
    model.params[...] += 0.3 * rng.standard_normal(model.params.size)
    lengths = np.array([6, 2, 4, 1])
    x = rng.standard_normal((4, T, m))
    target = rng.integers(0, k, 4) if loss == "cross_entropy" else rng.standard_normal((4, k))
    return model, x, lengths, target


def assert_close(ours, theirs, what, tol=TOL):
    theirs = np.asarray(theirs)
    assert ours.shape == theirs.shape, what
    err = float(np.max(np.abs(ours - theirs))) if ours.size else 0.0
    assert err <= tol, f"{what}: max |diff| {err:.3e}"


CASES = [(kind, layers, bi, pool, loss) for kind in KINDS for layers in (1, 2) for bi in (False, True)
         for pool, loss in (("attention", "cross_entropy"), ("last", "cross_entropy"), ("attention", "mse"))]


@pytest.mark.parametrize("kind, layers, bi, pool, loss", CASES)
def test_forward_and_every_gradient_match_torch(kind, layers, bi, pool, loss):
    torch = pytest.importorskip("torch")
    from torch_attention import torch_reference

    model, x, lengths, target = make_case(kind, layers, bi, pool, loss)
    trace = model.forward(x, lengths)
    value, grads = model.loss_and_grads(x, target, loss, lengths, with_input_grads=True)
    t_value, t_y, t_alpha, t_grads = torch_reference(torch, model, x, lengths, target, loss)
    assert abs(value - t_value) <= TOL
    assert_close(trace.y, t_y, "y")
    if pool == "attention":
        assert_close(trace.attention, t_alpha, "alpha")
    assert set(grads) - {"h0", "c0"} == set(t_grads)
    for key in t_grads:
        assert_close(grads[key], t_grads[key], key)


def test_golden_files_match_without_torch():
    """tools/attention_golden.py wrote torch's numbers for every case above; the engine equals them."""
    with np.load(GOLDEN, allow_pickle=False) as z:
        data = {key: z[key] for key in z.files}
    checked = 0
    for kind, layers, bi, pool, loss in CASES:
        name = f"{kind}-{layers}-{int(bi)}-{pool}-{loss}"
        model, x, lengths, target = make_case(kind, layers, bi, pool, loss)
        model.params[...] = data[name + "/params"]
        assert_close(x, data[name + "/x"], "x")
        value, grads = model.loss_and_grads(x, data[name + "/target"], loss, data[name + "/lengths"],
                                            with_input_grads=True)
        trace = model.forward(x, data[name + "/lengths"])
        assert abs(value - float(data[name + "/loss"])) <= TOL
        assert_close(trace.y, data[name + "/y"], f"{name} y")
        if pool == "attention":
            assert_close(trace.attention, data[name + "/alpha"], f"{name} alpha")
        keys = [str(k) for k in data[name + "/grad_keys"]]
        assert set(keys) == set(grads) - {"h0", "c0"}
        assert_close(np.concatenate([grads[k].ravel() for k in keys]), data[name + "/grads"], f"{name} gradients")
        checked += 1
    assert checked == len(CASES) == 48


@pytest.mark.parametrize("kind, layers, bi, pool", [("lstm", 2, True, "attention"), ("gru", 1, True, "last"),
                                                    ("peephole", 2, False, "attention"), ("rnn", 1, True, "attention")])
def test_gradients_equal_finite_differences(kind, layers, bi, pool):
    model, x, lengths, target = make_case(kind, layers, bi, pool, "cross_entropy", seed=3)
    _, grads = model.loss_and_grads(x, target, "cross_entropy", lengths, with_input_grads=True)
    flat = model.grad.copy()
    rng = np.random.default_rng(5)
    idx = rng.choice(model.params.size, 60, replace=False)
    idx = np.union1d(idx, np.arange(model.n_recurrent, model.params.size))   # all of attention and head
    eps = 1e-6
    for i in idx:
        keep = model.params[i]
        model.params[i] = keep + eps
        up = model.evaluate(x, target, "cross_entropy", lengths=lengths)
        model.params[i] = keep - eps
        down = model.evaluate(x, target, "cross_entropy", lengths=lengths)
        model.params[i] = keep
        assert abs((up - down) / (2 * eps) - flat[i]) <= 1e-7 * max(1.0, abs(flat[i])), i
    for b, t, j in [(0, 5, 0), (1, 1, 1), (2, 0, 0), (3, 0, 1)]:
        xp, xm = x.copy(), x.copy()
        xp[b, t, j] += eps
        xm[b, t, j] -= eps
        num = (model.evaluate(xp, target, "cross_entropy", lengths=lengths)
               - model.evaluate(xm, target, "cross_entropy", lengths=lengths)) / (2 * eps)
        assert abs(num - grads["x"][b, t, j]) <= 1e-7


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bi", [False, True])
def test_attention_sums_to_one_over_real_steps_and_is_zero_past_the_end(kind, bi):
    model, x, lengths, _ = make_case(kind, 2, bi, "attention", "cross_entropy")
    tr = model.forward(x, lengths)
    assert tr.attention.shape == tr.scores.shape == (4, 6)
    assert tr.context.shape == (4, model.num_directions * model.n_units)
    np.testing.assert_allclose(tr.attention.sum(axis=1), 1.0, atol=1e-14)
    for b, n in enumerate(lengths):
        assert np.all(tr.attention[b, n:] == 0.0)
        assert np.all(tr.attention[b, :n] > 0.0)
    assert tr.attention[3, 0] == 1.0                          # one real step takes all the weight
    np.testing.assert_allclose(tr.context, np.einsum("bt,btj->bj", tr.attention,
                                                     np.concatenate([tr.layer(1, d).h for d in range(
                                                         model.num_directions)], axis=2)), atol=1e-14)


@pytest.mark.parametrize("pool", ["last", "attention"])
def test_steps_past_the_end_change_nothing(pool):
    """What lies past a sequence's length reaches neither its output nor any gradient."""
    model, x, lengths, target = make_case("lstm", 2, True, pool, "cross_entropy")
    v1, g1 = model.loss_and_grads(x, target, "cross_entropy", lengths, with_input_grads=True)
    y1 = model.predict(x, lengths)
    x2 = x.copy()
    for b, n in enumerate(lengths):
        x2[b, n:] = 1e3
    v2, g2 = model.loss_and_grads(x2, target, "cross_entropy", lengths, with_input_grads=True)
    assert abs(v1 - v2) <= 1e-12
    np.testing.assert_allclose(model.predict(x2, lengths), y1, atol=1e-12)
    for key in g1:
        np.testing.assert_allclose(g1[key], g2[key], atol=1e-12, err_msg=key)
    for b, n in enumerate(lengths):
        assert np.all(g1["x"][b, n:] == 0.0)


def test_padding_may_hold_nan_or_a_pad_id():
    model, x, lengths, target = make_case("lstm", 2, True, "attention", "cross_entropy")
    v1, g1 = model.loss_and_grads(x, target, "cross_entropy", lengths, with_input_grads=True)
    x2 = x.copy()
    for b, n in enumerate(lengths):
        x2[b, n:] = np.nan
    v2, g2 = model.loss_and_grads(x2, target, "cross_entropy", lengths, with_input_grads=True)
    assert v1 == v2 and all(np.array_equal(g1[k], g2[k]) for k in g1)
    assert np.array_equal(model.forward(x2, lengths).y, model.forward(x, lengths).y)
    tok = make_model("gru", 5, 3, 2, bidirectional=True, pool="attention")
    ids = np.array([[1, 2, 3], [4, -1, -1]])
    y = tok.predict(ids, np.array([3, 1]))
    np.testing.assert_allclose(y[1], tok.predict(ids[1:, :1])[0], atol=1e-14)
    with pytest.raises(ValueError, match="token ids"):
        tok.predict(ids)                                  # without lengths -1 is a real step: refused


def test_full_lengths_equal_no_lengths_and_single_sequences():
    model, x, _, target = make_case("gru", 2, True, "attention", "cross_entropy")
    full = model.forward(x, np.full(4, 6))
    none = model.forward(x)
    np.testing.assert_array_equal(full.y, none.y)
    lengths = np.array([6, 2, 4, 1])
    batch = model.predict(x, lengths)
    for b, n in enumerate(lengths):                           # a sequence cut to its length, alone
        np.testing.assert_allclose(model.predict(x[b:b + 1, :n]), batch[b:b + 1], atol=1e-13)


def test_state_dict_names_shapes_and_parameter_count():
    model = make_model("lstm", 3, 5, 4, num_layers=2, bidirectional=True, pool="attention")
    sd = model.state_dict()
    keys = list(sd)
    assert keys[-5:] == ["attention.weight", "attention.bias", "attention.v", "head.weight", "head.bias"]
    assert sd["attention.weight"].shape == (10, 10) and sd["attention.bias"].shape == (10,)
    assert sd["attention.v"].shape == (10,) and sd["head.weight"].shape == (4, 10)
    pc = model.param_count
    assert pc.attention == 10 * 10 + 2 * 10
    assert pc.total == pc.layer + pc.head + pc.attention == model.params.size
    small = make_model("gru", 2, 4, 2, pool="attention", attention_size=3)
    assert small.state_dict()["attention.weight"].shape == (3, 4)
    assert small.param_count.attention == 3 * 4 + 6
    last = make_model("rnn", 2, 4, 2, pool="last")
    assert "attention.v" not in last.state_dict() and last.param_count.attention == 0
    other = make_model("lstm", 3, 5, 4, num_layers=2, bidirectional=True, pool="attention", seed=9)
    other.load_state_dict(sd)
    np.testing.assert_array_equal(other.params, model.params)
    with pytest.raises(KeyError, match="attention.v"):
        other.load_state_dict({k: v for k, v in sd.items() if k != "attention.v"})
    with pytest.raises(ValueError, match="attention.weight"):
        last.load_state_dict({**last.state_dict(), "attention.weight": np.zeros((4, 4))})
    clone = model.clone()
    np.testing.assert_array_equal(clone.params, model.params)
    assert clone.pool == "attention" and clone.gate_names() == ("i", "f", "g", "o", "attention", "head")


def test_token_ids_equal_one_hot_inputs():
    model = make_model("lstm", 7, 4, 2, bidirectional=True, pool="attention", seed=2)
    ids = np.random.default_rng(0).integers(0, 7, (3, 5))
    lengths = np.array([5, 3, 2])
    onehot = np.eye(7)[ids]
    a, b = model.forward(ids, lengths), model.forward(onehot, lengths)
    np.testing.assert_allclose(a.y, b.y, atol=1e-13)
    np.testing.assert_allclose(a.attention, b.attention, atol=1e-13)
    va, ga = model.loss_and_grads(ids, np.array([0, 1, 1]), "cross_entropy", lengths)
    vb, gb = model.loss_and_grads(onehot, np.array([0, 1, 1]), "cross_entropy", lengths)
    assert abs(va - vb) <= 1e-13
    np.testing.assert_allclose(ga["weight_ih_l0_reverse"], gb["weight_ih_l0_reverse"], atol=1e-13)


def test_bad_lengths_and_targets_are_refused():
    model = make_model("lstm", 2, 3, 2, pool="attention")
    x = np.zeros((2, 4, 2))
    for lengths in ([0, 4], [4, 5], [4], [1.5, 2.0]):
        with pytest.raises(ValueError, match="lengths"):
            model.forward(x, np.array(lengths))
    with pytest.raises(ValueError, match="cross_entropy target"):
        model.loss_and_grads(x, np.zeros((2, 4), dtype=int), "cross_entropy")
    with pytest.raises(ValueError, match="mse target"):
        model.loss_and_grads(x, np.zeros((2, 3)), "mse")
    with pytest.raises(ValueError, match="pool"):
        make_model("lstm", 2, 3, 2, pool="mean")


def test_reverse_index_reverses_within_each_length_and_is_its_own_inverse():
    rev = reverse_index(np.array([4, 2, 1]), 4)
    np.testing.assert_array_equal(rev.T, [[3, 2, 1, 0], [1, 0, 2, 3], [0, 1, 2, 3]])
    np.testing.assert_array_equal(np.take_along_axis(rev, rev, axis=0), np.arange(4)[:, None] + 0 * rev)


def test_sample_and_layer_traces_keep_the_attention():
    model, x, lengths, _ = make_case("gru", 2, True, "attention", "cross_entropy")
    tr = model.forward(x, lengths)
    one = tr.sample(2)
    np.testing.assert_array_equal(one.attention[0], tr.attention[2])
    assert one.lengths[0] == 4 and one.y.shape == (1, 3)
    np.testing.assert_array_equal(tr.layer(1, 1).attention, tr.attention)
    rec = tr.step(1, 0)
    np.testing.assert_array_equal(rec["y"], tr.y[1])
    np.testing.assert_allclose(tr.probabilities().sum(axis=1), 1.0)
    assert isinstance(model, SequenceModel) and model.predict_classes(x, lengths).shape == (4,)


@pytest.mark.parametrize("kind, pool, bi", [("lstm", "attention", True), ("gru", "last", False),
                                             ("peephole", "attention", False)])
def test_saved_and_loaded_by_the_interop_layer(tmp_path, kind, pool, bi):
    pytest.importorskip("safetensors")
    from explorer.interop import load_model, save_model

    model, x, lengths, _ = make_case(kind, 2, bi, pool, "cross_entropy")
    paths = [tmp_path / "m.safetensors"] + ([tmp_path / "model.npz"] if pool == "attention" else [])
    for path in paths:                  # an .npz has no metadata: its attention.* tensors say the pool
        if path.suffix == ".npz":
            model.save(path)
        else:
            save_model(model, path)
        loaded = load_model(path).model
        assert isinstance(loaded, SequenceModel) and loaded.pool == pool and loaded.kind == kind
        np.testing.assert_array_equal(loaded.params, model.params)
        np.testing.assert_array_equal(loaded.predict(x, lengths), model.predict(x, lengths))

"""Exact backpropagation through time: analytic gradients against centred finite differences."""

import numpy as np
import pytest

from explorer.engine import LSTMModel

SHAPES = [  # (batch, T, m, n, k)
    (1, 1, 1, 1, 1),
    (2, 4, 1, 3, 1),
    (3, 5, 2, 4, 3),
    (2, 7, 3, 2, 4),
]
CASES = ["mse_all", "mse_last", "ce_all", "ce_last"]


def make_case(shape, case, seed):
    B, T, m, n, k = shape
    rng = np.random.default_rng(seed)
    model = LSTMModel(n_inputs=m, n_units=n, n_outputs=k, seed=seed)
    model.params[:] = rng.normal(0.0, 0.6, model.params.size)   # non-zero biases everywhere
    x = rng.normal(size=(B, T, m))
    h0, c0 = rng.normal(size=(B, n)), rng.normal(size=(B, n))   # non-zero initial state
    loss, target = {
        "mse_all": ("mse", rng.normal(size=(B, T, k))),
        "mse_last": ("mse", rng.normal(size=(B, k))),
        "ce_all": ("cross_entropy", rng.integers(0, k, size=(B, T))),
        "ce_last": ("cross_entropy", rng.integers(0, k, size=(B,))),
    }[case]
    return model, x, h0, c0, loss, target


def numeric(f, arr, eps=1e-6):
    g = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + eps
        lp = f()
        arr[idx] = old - eps
        lm = f()
        arr[idx] = old
        g[idx] = (lp - lm) / (2 * eps)
    return g


def rel_err(a, b):
    return np.abs(a - b).max() / max(np.abs(a).max(), np.abs(b).max(), 1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("case", CASES)
def test_every_parameter_and_input_matches_finite_differences(shape, case):
    model, x, h0, c0, loss, target = make_case(shape, case, seed=sum(shape))
    value, grads = model.loss_and_grads(x, target, loss=loss, h0=h0, c0=c0, with_input_grads=True)

    def f():
        return model.loss_and_grads(x, target, loss=loss, h0=h0, c0=c0)[0]

    # every parameter, through the flat vector (layer block with one bias per gate, then head)
    num_flat = numeric(f, model.params)
    model.compute_grads(x, target, loss, h0, c0)
    assert rel_err(num_flat, model.grad) < 1e-6
    # the state-dict-keyed grads are the same numbers
    sd = model.state_dict()
    for key in sd:
        assert grads[key].shape == sd[key].shape
    n = model.n_units
    num_dict = model.grads_dict(num_flat)
    for key in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "head.weight", "head.bias"):
        assert rel_err(num_dict[key], grads[key]) < 1e-6, key
    np.testing.assert_array_equal(grads["bias_hh_l0"], grads["bias_ih_l0"])
    assert grads["weight_hh_l0"].shape == (4 * n, n)
    # the input and the initial state
    assert rel_err(numeric(f, x), grads["x"]) < 1e-6
    assert rel_err(numeric(f, h0), grads["h0"]) < 1e-6
    assert rel_err(numeric(f, c0), grads["c0"]) < 1e-6


def test_norms_through_time_are_the_norms_of_the_total_gradients():
    """||dL/dh_t|| equals the finite-difference gradient of L with respect to a perturbation of h_t."""
    B, T, m, n, k = 2, 6, 1, 3, 1
    model, x, h0, c0, loss, target = make_case((B, T, m, n, k), "mse_all", seed=7)
    _, _, norms = model.loss_and_grads(x, target, loss=loss, h0=h0, c0=c0, with_norms=True)
    assert norms.dh.shape == (T,) and norms.dc.shape == (T,)
    # dL/dh_{T-1}... at t = 0 the total gradient w.r.t. c_0-of-the-sequence is what a
    # perturbation of the initial state passes through f: check the last step directly.
    tr = model.forward(x, h0, c0)
    # at the last step, dL/dh_T comes from the head only: 2 (y - target) V / size
    dy = 2 * (tr.y[:, -1] - target[:, -1]) / target.size
    expected = np.linalg.norm(dy @ model.state_dict()["head.weight"])
    assert norms.dh[-1] == pytest.approx(expected, rel=1e-12)
    # and dL/dc_T = dL/dh_T ⊙ o ⊙ (1 − tanh² c)
    dc_last = (dy @ model.state_dict()["head.weight"]) * tr.o[:, -1] * (1 - np.tanh(tr.c[:, -1]) ** 2)
    assert norms.dc[-1] == pytest.approx(np.linalg.norm(dc_last), rel=1e-12)


@pytest.mark.parametrize("t", [0, 2, 4])
def test_norms_through_time_equal_gradient_of_the_rest_of_the_sequence(t):
    """With the loss on the last step, dL/dh_t is the gradient of the loss of the remaining steps
    with respect to their initial h; dL/dc_t (total, as BPTT carries it) is the belt's part, the
    gradient w.r.t. their initial c, plus the part through h_t = o ⊙ tanh(c_t)."""
    B, T, m, n, k = 2, 6, 2, 3, 2
    model, x, h0, c0, loss, target = make_case((B, T, m, n, k), "mse_last", seed=11)
    _, _, norms = model.loss_and_grads(x, target, loss=loss, h0=h0, c0=c0, with_norms=True)
    first = model.forward(x[:, :t + 1], h0, c0)
    _, rest = model.loss_and_grads(x[:, t + 1:], target, loss=loss, h0=first.h[:, -1],
                                   c0=first.c[:, -1], with_input_grads=True)
    assert norms.dh[t] == pytest.approx(np.linalg.norm(rest["h0"]), rel=1e-10)
    through_h = rest["h0"] * first.o[:, -1] * (1 - np.tanh(first.c[:, -1]) ** 2)
    assert norms.dc[t] == pytest.approx(np.linalg.norm(rest["c0"] + through_h), rel=1e-10)


def test_float32_runs_and_agrees_with_float64():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 10, 1))
    t = rng.normal(size=(4, 10, 1))
    m64 = LSTMModel(1, 8, 1, seed=0)
    m32 = LSTMModel(1, 8, 1, seed=0, dtype=np.float32)
    assert m32.params.dtype == np.float32 and m64.params.dtype == np.float64
    l64, g64 = m64.loss_and_grads(x, t)
    l32, g32 = m32.loss_and_grads(x, t)
    assert g32["weight_hh_l0"].dtype == np.float32
    assert l32 == pytest.approx(l64, rel=1e-5)
    np.testing.assert_allclose(g32["weight_hh_l0"], g64["weight_hh_l0"], rtol=1e-3, atol=1e-6)


# -- every cell, stacked and bidirectional -------------------------------------------------------
DEEP_KINDS = ["rnn", "gru", "lstm", "peephole"]


def random_case(kind, B=2, T=4, m=2, n=2, k=2, layers=1, bidirectional=False, seed=0):
    """A model with random weights everywhere (non-zero biases), inputs and initial states
    (L·D, B, n); the generator for the targets."""
    from explorer.engine import make_model

    rng = np.random.default_rng(seed)
    model = make_model(kind, m, n, k, num_layers=layers, bidirectional=bidirectional, seed=seed)
    model.params[:] = rng.normal(0.0, 0.6, model.params.size)
    LD = layers * model.num_directions
    x = rng.normal(size=(B, T, m))
    h0, c0 = rng.normal(size=(LD, B, n)), rng.normal(size=(LD, B, n))
    return model, rng, x, h0, c0


def make_deep_case(kind, layers, bidirectional, case, seed):
    B, T, k = 2, 4, 2
    model, rng, x, h0, c0 = random_case(kind, B, T, k=k, layers=layers, bidirectional=bidirectional, seed=seed)
    loss, target = {
        "mse_all": ("mse", rng.normal(size=(B, T, k))),
        "mse_last": ("mse", rng.normal(size=(B, k))),
        "ce_last": ("cross_entropy", rng.integers(0, k, size=(B,))),
    }[case]
    return model, x, h0, c0, loss, target


@pytest.mark.parametrize("kind", DEEP_KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers, case", [(L, c) for L in (1, 2, 3) for c in ("mse_all", "mse_last")]
                         + [(2, "ce_last")])   # the head's loss is shared by all depths
def test_deep_and_bidirectional_match_finite_differences(kind, layers, bidirectional, case):
    model, x, h0, c0, loss, target = make_deep_case(kind, layers, bidirectional, case,
                                                    seed=layers * 7 + bidirectional + len(kind))
    has_c = kind in ("lstm", "peephole")
    c0 = c0 if has_c else None
    _, grads = model.loss_and_grads(x, target, loss=loss, h0=h0, c0=c0, with_input_grads=True)

    def f():
        return model.evaluate(x, target, loss, h0=h0, c0=c0)

    num = numeric(f, model.params)
    model.compute_grads(x, target, loss, h0, c0)
    assert rel_err(num, model.grad) < 1e-6
    # the state-dict keys carry the same numbers, the reverse twins included
    num_dict = model.grads_dict(num)
    scale = np.abs(num).max()
    for key, g in grads.items():
        if key in num_dict:      # per key, against the scale of the whole gradient
            assert np.abs(num_dict[key] - g).max() < 1e-6 * scale, key
    assert bidirectional == any(key.endswith("_reverse") for key in grads)
    assert rel_err(numeric(f, x), grads["x"]) < 1e-6
    LD = layers * model.num_directions
    gh0 = grads["h0"] if LD > 1 else grads["h0"][None]
    assert rel_err(numeric(f, h0), gh0) < 1e-6
    if has_c:
        gc0 = grads["c0"] if LD > 1 else grads["c0"][None]
        assert rel_err(numeric(f, c0), gc0) < 1e-6

"""The plain RNN, the GRU and the peephole LSTM beside the LSTM: exact BPTT, counts, state dicts."""

import numpy as np
import pytest

from explorer.engine import (GRUModel, LSTMModel, PeepholeLSTMModel, RNNModel, TrainData, Trainer,
                             make_model)
from tests.test_engine_gradcheck import CASES, numeric, rel_err

KINDS = ["rnn", "gru", "peephole"]
SHAPES = [(1, 1, 1, 1, 1), (2, 4, 1, 3, 1), (3, 5, 2, 4, 3)]


def make_case(kind, shape, case, seed):
    B, T, m, n, k = shape
    rng = np.random.default_rng(seed)
    model = make_model(kind, n_inputs=m, n_units=n, n_outputs=k, seed=seed)
    model.params[:] = rng.normal(0.0, 0.6, model.params.size)
    x = rng.normal(size=(B, T, m))
    h0, c0 = rng.normal(size=(B, n)), rng.normal(size=(B, n))
    loss, target = {
        "mse_all": ("mse", rng.normal(size=(B, T, k))),
        "mse_last": ("mse", rng.normal(size=(B, k))),
        "ce_all": ("cross_entropy", rng.integers(0, k, size=(B, T))),
        "ce_last": ("cross_entropy", rng.integers(0, k, size=(B,))),
    }[case]
    return model, x, h0, c0, loss, target


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("case", CASES)
def test_finite_differences(kind, shape, case):
    model, x, h0, c0, loss, target = make_case(kind, shape, case, seed=sum(shape) + len(kind))
    _, grads = model.loss_and_grads(x, target, loss=loss, h0=h0, c0=c0, with_input_grads=True)

    def f():
        return model.loss_and_grads(x, target, loss=loss, h0=h0, c0=c0)[0]

    num = numeric(f, model.params)
    model.compute_grads(x, target, loss, h0, c0)
    assert rel_err(num, model.grad) < 1e-6
    assert rel_err(numeric(f, x), grads["x"]) < 1e-6
    assert rel_err(numeric(f, h0), grads["h0"]) < 1e-6
    if kind == "peephole":
        assert rel_err(numeric(f, c0), grads["c0"]) < 1e-6
    else:
        assert "c0" not in grads


@pytest.mark.parametrize("n,m", [(1, 1), (3, 2), (8, 5), (32, 1)])
def test_parameter_counts(n, m):
    rnn, gru = RNNModel(m, n, 1), GRUModel(m, n, 1)
    peep, lstm = PeepholeLSTMModel(m, n, 1), LSTMModel(m, n, 1)
    assert rnn.param_count.layer == n * (m + n + 1)
    assert gru.param_count.layer == 3 * n * (m + n + 2)
    assert peep.param_count.layer == 4 * n * (m + n + 1) + 3 * n
    assert lstm.param_count.layer == 4 * n * (m + n + 1)
    for model in (rnn, gru, peep):
        sd = model.state_dict()
        layer = sum(v.size for key, v in sd.items() if not key.startswith("head"))
        if model.kind != "gru":
            layer -= sd["bias_hh_l0"].size    # zeros in the state dict, not held (one bias)
        assert layer == model.param_count.layer


def test_state_dict_names_and_shapes_follow_torch():
    n, m = 4, 3
    rnn = RNNModel(m, n, 2).state_dict()
    assert rnn["weight_ih_l0"].shape == (n, m) and rnn["weight_hh_l0"].shape == (n, n)
    assert rnn["bias_ih_l0"].shape == rnn["bias_hh_l0"].shape == (n,)
    gru = GRUModel(m, n, 2).state_dict()
    assert gru["weight_ih_l0"].shape == (3 * n, m) and gru["weight_hh_l0"].shape == (3 * n, n)
    assert gru["bias_ih_l0"].shape == gru["bias_hh_l0"].shape == (3 * n,)
    peep = PeepholeLSTMModel(m, n, 2).state_dict()
    for g in "ifo":
        assert peep[f"peephole_{g}_l0"].shape == (n,)
    assert not any(key.startswith("peephole_") and not key.endswith("_l0") for key in peep)


def test_peephole_round_one_names_still_load():
    """Run folders of round 1 hold ``peephole_i`` … for the one layer: they load as layer 0."""
    rng = np.random.default_rng(8)
    src = PeepholeLSTMModel(2, 3, 1, seed=1)
    src.params[:] = rng.normal(size=src.params.size)
    old = {(k[:-3] if k.startswith("peephole_") else k): v for k, v in src.state_dict().items()}
    assert "peephole_i" in old and "peephole_i_l0" not in old
    dst = PeepholeLSTMModel(2, 3, 1, seed=2)
    dst.load_state_dict(old)
    assert dst.params.tobytes() == src.params.tobytes()


def test_gru_keeps_both_biases_and_round_trips():
    rng = np.random.default_rng(1)
    a = GRUModel(2, 3, 1, seed=0)
    a.params[:] = rng.normal(size=a.params.size)
    b = GRUModel(2, 3, 1, seed=5)
    b.load_state_dict(a.state_dict())
    assert a.params.tobytes() == b.params.tobytes()
    # b_hn sits inside the reset: moving it into b_in changes the output
    sd = a.state_dict()
    sd["bias_ih_l0"][6:] += sd["bias_hh_l0"][6:]
    sd["bias_hh_l0"][6:] = 0
    b.load_state_dict(sd)
    x = rng.normal(size=(1, 4, 2))
    assert not np.allclose(a.forward(x).h, b.forward(x).h)


def test_gru_equations_in_trace():
    rng = np.random.default_rng(2)
    n, m = 3, 2
    model = GRUModel(m, n, 1, seed=1)
    model.params[:] = rng.normal(0, 0.5, model.params.size)
    x, h0 = rng.normal(size=(2, 4, m)), rng.normal(size=(2, n))
    tr = model.forward(x, h0=h0)
    sd = model.state_dict()
    Wi, Wh, bi, bh = sd["weight_ih_l0"], sd["weight_hh_l0"], sd["bias_ih_l0"], sd["bias_hh_l0"]
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h = h0
    for t in range(4):
        gi, gh = x[:, t] @ Wi.T + bi, h @ Wh.T + bh
        r = sig(gi[:, :n] + gh[:, :n])
        z = sig(gi[:, n:2 * n] + gh[:, n:2 * n])
        g = np.tanh(gi[:, 2 * n:] + r * gh[:, 2 * n:])
        h = (1 - z) * g + z * h
        np.testing.assert_allclose(tr.r[:, t], r, atol=1e-14)
        np.testing.assert_allclose(tr.z[:, t], z, atol=1e-14)
        np.testing.assert_allclose(tr.g[:, t], g, atol=1e-14)
        np.testing.assert_allclose(tr.h[:, t], h, atol=1e-14)


def test_peephole_with_closed_peepholes_is_the_lstm():
    rng = np.random.default_rng(3)
    lstm = LSTMModel(2, 4, 1, seed=9)
    peep = PeepholeLSTMModel(2, 4, 1, seed=9)
    x = rng.normal(size=(3, 6, 2))
    assert not peep.state_dict()["peephole_f_l0"].any()

    sd = lstm.state_dict()
    sd.update(peephole_i_l0=np.zeros(4), peephole_f_l0=np.zeros(4), peephole_o_l0=np.zeros(4))
    peep.load_state_dict(sd)
    np.testing.assert_allclose(peep.forward(x).h, lstm.forward(x).h, atol=1e-15)


def test_norms_for_cells_without_cell_state():
    rng = np.random.default_rng(4)
    for kind in ("rnn", "gru"):
        model = make_model(kind, n_inputs=1, n_units=3, n_outputs=1)
        _, _, norms = model.loss_and_grads(rng.normal(size=(2, 5, 1)), rng.normal(size=(2, 1)), with_norms=True)
        assert norms.dc is None and norms.dh.shape == (5,)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm", "peephole"])
def test_every_cell_trains_through_the_shared_trainer(kind):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6, 1))
    y = x[:, -2] * 0.8
    model = make_model(kind, n_inputs=1, n_units=6, n_outputs=1, seed=0)
    tr = Trainer(model, TrainData(x[:48], y[:48], x[48:], y[48:]), lr=0.02, batch_size=16, epochs=12)
    snaps = list(tr.steps())
    assert set(snaps[0].gate_norms) == set(model.cell.gates) | {"head"}
    assert tr.history[-1]["val_loss"] < tr.history[0]["val_loss"]

"""model.connectivity(x, t, of): ‖∂h_t/∂x_s‖ against torch autograd's Jacobian and against
finite differences, for every cell kind, depth and direction."""

import numpy as np
import pytest

from explorer.engine import make_model


def _model(kind, m, n, k, L=1, bi=False, seed=0):
    model = make_model(kind, m, n, k, num_layers=L, bidirectional=bi, seed=seed)
    rng = np.random.default_rng(seed + 7)
    model.params[...] += 0.3 * rng.standard_normal(model.params.size)
    return model


def _fd_connectivity(model, x, t, of="h", eps=1e-6):
    """Central differences of the top output at t over every x_s entry."""
    B, T, m = x.shape

    def out(xx):
        tr = model.forward(xx)
        if of == "y":
            return tr.y[:, t, :]
        top = tr.layer(model.num_layers - 1, 0).h
        if model.num_directions == 2:
            top = np.concatenate([top, tr.layer(model.num_layers - 1, 1).h], axis=2)
        return top[:, t, :]

    sq = np.zeros((B, T))
    for s in range(T):
        for j in range(m):
            xp, xm = x.copy(), x.copy()
            xp[:, s, j] += eps
            xm[:, s, j] -= eps
            d = (out(xp) - out(xm)) / (2 * eps)
            sq[:, s] += np.sum(d * d, axis=1)
    return np.sqrt(sq)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm", "peephole"])
@pytest.mark.parametrize("L, bi", [(1, False), (2, False), (1, True), (2, True)])
@pytest.mark.parametrize("of", ["h", "y"])
def test_connectivity_equals_finite_differences(kind, L, bi, of):
    model = _model(kind, 2, 3, 2, L, bi)
    x = np.random.default_rng(1).standard_normal((2, 6, 2))
    t = 3
    got = model.connectivity(x, t, of=of)
    assert got.shape == (2, 6)
    want = _fd_connectivity(model, x, t, of)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    if not bi:
        assert np.all(got[:, t + 1:] == 0.0)         # the future does not reach h_t: exactly 0
        assert np.all(got[:, :t + 1] > 0)
    else:
        assert np.all(got > 0)                        # the reverse direction sees every step


def test_lstm_remembers_longer_than_rnn_at_init():
    """Distill's picture: the plain RNN's connectivity fades within a few steps."""
    x = np.random.default_rng(2).standard_normal((4, 40, 1))
    rnn = make_model("rnn", 1, 8, 1, seed=3)
    lstm = make_model("lstm", 1, 8, 1, seed=3)
    c_rnn = rnn.connectivity(x, 39).mean(axis=0)
    c_lstm = lstm.connectivity(x, 39).mean(axis=0)
    assert c_lstm[0] / c_lstm[39] > c_rnn[0] / c_rnn[39]


def test_token_ids_are_one_hot_inputs():
    model = _model("lstm", 5, 4, 5)
    ids = np.array([[0, 3, 1, 4, 2]])
    onehot = np.eye(5)[ids]
    np.testing.assert_array_equal(model.connectivity(ids, 4), model.connectivity(onehot, 4))


def test_bad_arguments_are_refused():
    model = _model("lstm", 1, 2, 1)
    x = np.zeros((1, 4, 1))
    with pytest.raises(ValueError, match="t must lie in 0..3"):
        model.connectivity(x, 4)
    with pytest.raises(ValueError, match="of must be"):
        model.connectivity(x, 1, of="c")
    np.testing.assert_array_equal(model.connectivity(x, -1), model.connectivity(x, 3))



@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("L, bi", [(1, False), (2, True)])
@pytest.mark.parametrize("of", ["h", "y"])
def test_connectivity_equals_torch_jacobian_norms(kind, L, bi, of):
    torch = pytest.importorskip("torch")
    from torch.autograd.functional import jacobian
    model = _model(kind, 3, 4, 2, L, bi)
    B, T, t = 2, 7, 4
    x = np.random.default_rng(5).standard_normal((B, T, 3))
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
    rec = cls(3, 4, num_layers=L, bidirectional=bi, batch_first=True).double()
    head = torch.nn.Linear(model.num_directions * 4, 2).double()
    sd = {key: torch.from_numpy(np.ascontiguousarray(v)) for key, v in model.state_dict().items()}
    rec.load_state_dict({key: v for key, v in sd.items() if not key.startswith("head.")})
    head.load_state_dict({"weight": sd["head.weight"], "bias": sd["head.bias"]})

    want = np.zeros((B, T))
    for b in range(B):
        def f(xb):
            out, _ = rec(xb[None])
            return (head(out) if of == "y" else out)[0, t]
        J = jacobian(f, torch.from_numpy(x[b].copy())).numpy()        # (outputs, T, m)
        want[b] = np.sqrt(np.einsum("jsm,jsm->s", J, J))
    got = model.connectivity(x, t, of=of)
    assert np.max(np.abs(got - want)) <= 1e-10


def test_per_unit_rows_add_up_to_the_total():
    model = _model("lstm", 2, 3, 2, 2, True)
    x = np.random.default_rng(4).standard_normal((2, 6, 2))
    rows = model.connectivity(x, 2, per_unit=True)
    assert rows.shape == (2, 6, 6)                       # D·n = 6 output units
    np.testing.assert_allclose(np.sqrt((rows ** 2).sum(axis=1)), model.connectivity(x, 2), rtol=1e-13)
    assert model.connectivity(x, 2, of="y", per_unit=True).shape == (2, 2, 6)

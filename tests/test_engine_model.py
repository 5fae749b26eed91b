"""Parameter counts, initialisation, determinism, the state dict and the import boundary."""

import subprocess
import sys

import numpy as np
import pytest

from explorer.engine import LSTM_GATES, LSTMModel, lstm_param_count, make_model


@pytest.mark.parametrize("n", [1, 2, 3, 8, 50])
def test_layer_count_is_seed_formula_for_one_input(n):
    assert lstm_param_count(n, 1) == 12 * n + 4 * n * (n - 1)
    assert LSTMModel(1, n, 1).param_count.layer == 12 * n + 4 * n * (n - 1)


def test_seed_numbers():
    assert lstm_param_count(1, 1) == 12
    assert lstm_param_count(2, 1) == 32


@pytest.mark.parametrize("n,m,k", [(1, 1, 1), (3, 2, 1), (8, 5, 3), (17, 4, 2), (64, 1, 1)])
def test_counts_equal_sizes_of_w_u_and_one_bias(n, m, k):
    model = LSTMModel(n_inputs=m, n_units=n, n_outputs=k)
    sd = model.state_dict()
    layer = sd["weight_ih_l0"].size + sd["weight_hh_l0"].size + sd["bias_ih_l0"].size
    assert model.param_count.layer == layer == 4 * n * (m + n + 1)
    assert model.param_count.head == sd["head.weight"].size + sd["head.bias"].size == k * (n + 1)
    assert model.param_count.total == model.params.size


def test_state_dict_has_pytorch_names_and_shapes():
    n, m, k = 5, 3, 2
    sd = LSTMModel(m, n, k, seed=1).state_dict()
    assert set(sd) == {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "head.weight", "head.bias"}
    assert sd["weight_ih_l0"].shape == (4 * n, m)
    assert sd["weight_hh_l0"].shape == (4 * n, n)
    assert sd["bias_ih_l0"].shape == sd["bias_hh_l0"].shape == (4 * n,)
    assert not sd["bias_hh_l0"].any()
    assert sd["head.weight"].shape == (k, n) and sd["head.bias"].shape == (k,)


def test_initialisation_xavier_orthogonal_forget_bias():
    n, m = 16, 3
    sd = LSTMModel(m, n, 1, seed=4).state_dict()
    for k, gate in enumerate(LSTM_GATES):
        U = sd["weight_hh_l0"][k * n:(k + 1) * n]
        np.testing.assert_allclose(U @ U.T, np.eye(n), atol=1e-12)          # orthogonal
        W = sd["weight_ih_l0"][k * n:(k + 1) * n]
        assert np.abs(W).max() <= np.sqrt(6 / (n + m))                       # Glorot bound
        b = sd["bias_ih_l0"][k * n:(k + 1) * n]
        np.testing.assert_array_equal(b, 1.0 if gate == "f" else 0.0)
    # the four gates are not initialised alike (no reseeding inside the initialiser)
    blocks = sd["weight_hh_l0"].reshape(4, n, n)
    assert not np.allclose(blocks[0], blocks[1])


def test_forget_bias_option():
    sd = LSTMModel(1, 4, 1, forget_bias=0.0).state_dict()
    assert not sd["bias_ih_l0"].any()


def test_same_seed_same_numbers_bit_for_bit():
    rng = np.random.default_rng(5)
    x, t = rng.normal(size=(3, 9, 2)), rng.normal(size=(3, 1))
    a, b, c = LSTMModel(2, 6, 1, seed=3), LSTMModel(2, 6, 1, seed=3), LSTMModel(2, 6, 1, seed=4)
    assert a.params.tobytes() == b.params.tobytes()
    assert a.params.tobytes() != c.params.tobytes()
    la, ga = a.loss_and_grads(x, t)
    lb, gb = b.loss_and_grads(x, t)
    assert la == lb
    for key in ga:
        assert ga[key].tobytes() == gb[key].tobytes()


def test_state_dict_round_trip_and_bias_sum(tmp_path):
    rng = np.random.default_rng(0)
    src = LSTMModel(2, 4, 3, seed=1)
    sd = src.state_dict()
    sd["bias_hh_l0"] = rng.normal(size=16)           # as torch would have it: two biases
    dst = LSTMModel(2, 4, 3, seed=99)
    dst.load_state_dict(sd)
    x = rng.normal(size=(2, 5, 2))
    out = dst.state_dict()
    np.testing.assert_allclose(out["bias_ih_l0"], sd["bias_ih_l0"] + sd["bias_hh_l0"])
    assert not out["bias_hh_l0"].any()
    # the model with summed biases computes what two biases compute
    z_manual = x[:, 0] @ sd["weight_ih_l0"].T + sd["bias_ih_l0"] + sd["bias_hh_l0"]
    np.testing.assert_allclose(dst.forward(x).z[:, 0], z_manual, atol=1e-14)
    path = tmp_path / "model.npz"
    dst.save(path)
    back = LSTMModel(2, 4, 3, seed=7)
    back.load(path)
    assert back.params.tobytes() == dst.params.tobytes()


def test_load_rejects_wrong_shapes():
    sd = LSTMModel(1, 4, 1).state_dict()
    with pytest.raises(ValueError, match="has shape"):
        LSTMModel(1, 5, 1).load_state_dict(sd)


def test_trace_holds_every_gate_and_the_equations_hold():
    rng = np.random.default_rng(2)
    B, T, m, n, k = 2, 6, 3, 4, 2
    model = LSTMModel(m, n, k, seed=2)
    model.params[:] = rng.normal(0, 0.5, model.params.size)
    x, h0, c0 = rng.normal(size=(B, T, m)), rng.normal(size=(B, n)), rng.normal(size=(B, n))
    tr = model.forward(x, h0=h0, c0=c0)
    for name in ("i", "f", "g", "o", "c", "h"):
        assert getattr(tr, name).shape == (B, T, n)
    assert tr.z.shape == (B, T, 4 * n) and tr.y.shape == (B, T, k)
    np.testing.assert_array_equal(tr.x, x)
    np.testing.assert_array_equal(tr.h0, h0)
    np.testing.assert_array_equal(tr.c0, c0)
    sd = model.state_dict()
    Wx, Uh, b = sd["weight_ih_l0"], sd["weight_hh_l0"], sd["bias_ih_l0"]
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h, c = h0, c0
    for t in range(T):
        z = x[:, t] @ Wx.T + h @ Uh.T + b
        np.testing.assert_allclose(tr.z[:, t], z, atol=1e-13)
        i, f, g, o = sig(z[:, :n]), sig(z[:, n:2 * n]), np.tanh(z[:, 2 * n:3 * n]), sig(z[:, 3 * n:])
        c = f * c + i * g
        h = o * np.tanh(c)
        for name, val in zip("ifgo", (i, f, g, o)):
            np.testing.assert_allclose(getattr(tr, name)[:, t], val, atol=1e-14)
        np.testing.assert_allclose(tr.c[:, t], c, atol=1e-13)
        np.testing.assert_allclose(tr.h[:, t], h, atol=1e-13)
        np.testing.assert_allclose(tr.y[:, t], h @ sd["head.weight"].T + sd["head.bias"], atol=1e-13)
    rec = tr.step(1, 0)
    np.testing.assert_array_equal(rec["h_prev"], h0[1])
    np.testing.assert_array_equal(rec["c_prev"], c0[1])
    np.testing.assert_array_equal(tr.step(1, 3)["c_prev"], tr.c[1, 2])


def test_traces_are_independent_and_read_only():
    rng = np.random.default_rng(3)
    model = LSTMModel(1, 3, 1)
    x1, x2 = rng.normal(size=(1, 5, 1)), rng.normal(size=(1, 5, 1))
    t1 = model.forward(x1)
    saved = t1.h.copy()
    model.forward(x2)                       # same shape: reuses the engine's buffers
    model.loss_and_grads(x2, rng.normal(size=(1, 1)))
    np.testing.assert_array_equal(t1.h, saved)
    with pytest.raises(ValueError):
        t1.h[0, 0, 0] = 1.0


def test_sigmoid_is_stable_for_huge_pre_activations():
    model = LSTMModel(1, 2, 1)
    x = np.array([[[1e6], [-1e6], [0.0]]])
    tr = model.forward(x)
    assert np.all(np.isfinite(tr.h)) and tr.i.min() >= 0 and tr.i.max() <= 1


def test_make_model_lstm_is_lstm_model():
    a = make_model("lstm", n_inputs=2, n_units=3, n_outputs=1, seed=0)
    b = LSTMModel(n_inputs=2, n_units=3, n_outputs=1, seed=0)
    assert type(a) is LSTMModel
    assert a.params.tobytes() == b.params.tobytes()
    with pytest.raises(ValueError):
        make_model("transformer")


def test_engine_does_not_import_qt():
    code = ("import sys, explorer.engine, explorer.data; "
            "bad = [m for m in ('PySide6', 'pyqtgraph', 'PyQt6', 'PyQt5') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


# -- stacked and bidirectional models --------------------------------------------------------
def _sig(v):
    return 1 / (1 + np.exp(-v))


def _lstm_steps(sd, suffix, x, h, c, order):
    """The LSTM equations by hand over the timesteps in ``order``; h and c at each step."""
    Wi, Wh = sd["weight_ih" + suffix], sd["weight_hh" + suffix]
    b = sd["bias_ih" + suffix] + sd["bias_hh" + suffix]
    n = h.shape[1]
    hs, cs = {}, {}
    for t in order:
        z = x[:, t] @ Wi.T + h @ Wh.T + b
        i, f, g, o = _sig(z[:, :n]), _sig(z[:, n:2 * n]), np.tanh(z[:, 2 * n:3 * n]), _sig(z[:, 3 * n:])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs[t], cs[t] = h, c
    return hs, cs


def test_bidirectional_two_layer_trace_follows_the_equations():
    rng = np.random.default_rng(12)
    B, T, m, n, k = 2, 5, 3, 4, 2
    model = make_model("lstm", m, n, k, num_layers=2, bidirectional=True, seed=3)
    model.params[:] = rng.normal(0, 0.5, model.params.size)
    x = rng.normal(size=(B, T, m))
    h0, c0 = rng.normal(size=(4, B, n)), rng.normal(size=(4, B, n))
    tr = model.forward(x, h0, c0)
    sd = model.state_dict()
    assert (tr.num_layers, tr.num_directions) == (2, 2)
    fwd = _lstm_steps(sd, "_l0", x, h0[0], c0[0], range(T))
    rev = _lstm_steps(sd, "_l0_reverse", x, h0[1], c0[1], range(T - 1, -1, -1))
    out0 = np.stack([np.concatenate([fwd[0][t], rev[0][t]], axis=1) for t in range(T)], axis=1)
    fwd1 = _lstm_steps(sd, "_l1", out0, h0[2], c0[2], range(T))
    rev1 = _lstm_steps(sd, "_l1_reverse", out0, h0[3], c0[3], range(T - 1, -1, -1))
    for t in range(T):
        np.testing.assert_allclose(tr.h[:, t], fwd[0][t], atol=1e-13)           # layer 0 forward
        np.testing.assert_allclose(tr.layer(0, 1).h[:, t], rev[0][t], atol=1e-13)
        np.testing.assert_allclose(tr.layer(0, 1).c[:, t], rev[1][t], atol=1e-13)
        np.testing.assert_allclose(tr.layer(1, 0).h[:, t], fwd1[0][t], atol=1e-13)
        np.testing.assert_allclose(tr.layer(1, 1).h[:, t], rev1[0][t], atol=1e-13)
        top = np.concatenate([fwd1[0][t], rev1[0][t]], axis=1)
        np.testing.assert_allclose(tr.y[:, t], top @ sd["head.weight"].T + sd["head.bias"], atol=1e-13)
    # layer 1 reads [h_fwd; h_bwd] of layer 0; every layer's trace has the same names
    np.testing.assert_allclose(tr.layer(1, 0).x, out0, atol=1e-13)
    np.testing.assert_array_equal(tr.layer(1, 1).h0, h0[3])
    np.testing.assert_array_equal(tr.x, x)
    assert tr.layer(1, 1).fields == tr.fields
    # stacked: (L, D, B, T, n); attribute access is layer 0 forward
    assert tr.stacked("f").shape == (2, 2, B, T, n)
    np.testing.assert_array_equal(tr.stacked("h")[1, 1], tr.layer(1, 1).h)
    np.testing.assert_array_equal(tr.stacked("c")[0, 0], tr.c)
    assert tr.stacked("z").shape == (2, 2, B, T, 4 * n)
    with pytest.raises(ValueError, match="layer"):
        tr.stacked("x")                              # m inputs below, D·n above
    with pytest.raises(IndexError):
        tr.layer(2, 0)


def test_step_knows_the_previous_state_of_each_direction():
    rng = np.random.default_rng(13)
    B, T, n = 2, 4, 3
    model = make_model("lstm", 1, n, 1, bidirectional=True, seed=0)
    x = rng.normal(size=(B, T, 1))
    h0, c0 = rng.normal(size=(2, B, n)), rng.normal(size=(2, B, n))
    tr = model.forward(x, h0, c0)
    fw, bw = tr.layer(0, 0), tr.layer(0, 1)
    np.testing.assert_array_equal(fw.step(1, 0)["h_prev"], h0[0, 1])
    np.testing.assert_array_equal(fw.step(1, 2)["c_prev"], fw.c[1, 1])
    np.testing.assert_array_equal(bw.step(1, T - 1)["h_prev"], h0[1, 1])   # reverse starts at the end
    np.testing.assert_array_equal(bw.step(1, T - 1)["c_prev"], c0[1, 1])
    np.testing.assert_array_equal(bw.step(0, 1)["h_prev"], bw.h[0, 2])     # ... and comes from t + 1
    np.testing.assert_array_equal(bw.step(0, 1)["c_prev"], bw.c[0, 2])
    np.testing.assert_array_equal(bw.step(0, 1)["f"], bw.f[0, 1])
    np.testing.assert_array_equal(bw.step(0, 1)["y"], tr.y[0, 1])
    with pytest.raises(IndexError):
        bw.step(0, T)
    one = tr.sample(1)
    assert one.batch == 1 and one.num_directions == 2
    np.testing.assert_array_equal(one.layer(0, 1).h[0], bw.h[1])


def test_deep_param_counts_and_state_dict_names():
    n, m, k = 5, 3, 2
    model = make_model("lstm", m, n, k, num_layers=3, bidirectional=True)
    pc = model.param_count
    assert pc.layers == (2 * 4 * n * (m + n + 1), 2 * 4 * n * (2 * n + n + 1), 2 * 4 * n * (2 * n + n + 1))
    assert pc.layer == sum(pc.layers)
    assert pc.head == k * (2 * n + 1)
    assert pc.total == model.params.size == pc.layer + pc.head
    sd = model.state_dict()
    for layer in range(3):
        for suffix in (f"_l{layer}", f"_l{layer}_reverse"):
            assert sd["weight_ih" + suffix].shape == (4 * n, m if layer == 0 else 2 * n)
            assert sd["weight_hh" + suffix].shape == (4 * n, n)
            assert sd["bias_ih" + suffix].shape == sd["bias_hh" + suffix].shape == (4 * n,)
    assert sd["head.weight"].shape == (k, 2 * n)
    assert len(sd) == 3 * 2 * 4 + 2
    # one layer keeps round 1's numbers bit for bit (the head is drawn after every layer)
    assert make_model("lstm", m, n, k).params.tobytes() == LSTMModel(m, n, k).params.tobytes()


def test_state_dict_of_another_depth_is_refused():
    deep = make_model("gru", 2, 3, 1, num_layers=2).state_dict()
    with pytest.raises(ValueError, match="_l1.*1-layer gru"):
        make_model("gru", 2, 3, 1).load_state_dict(deep)
    bi = make_model("rnn", 2, 3, 1, bidirectional=True).state_dict()
    with pytest.raises(ValueError, match="_reverse"):
        make_model("rnn", 2, 3, 1).load_state_dict(bi)
    with pytest.raises(KeyError, match="weight_ih_l1"):
        make_model("rnn", 2, 3, 1, num_layers=2).load_state_dict(make_model("rnn", 2, 3, 1).state_dict())


def test_norms_per_layer():
    rng = np.random.default_rng(14)
    B, T, n, k = 3, 6, 4, 1
    model = make_model("lstm", 1, n, k, num_layers=2, seed=1)
    x, target = rng.normal(size=(B, T, 1)), rng.normal(size=(B, k))
    _, _, norms = model.loss_and_grads(x, target, with_norms=True)
    assert norms.dh_layers.shape == norms.dc_layers.shape == (2, T)
    np.testing.assert_array_equal(norms.dh, norms.dh_layers[0])
    np.testing.assert_array_equal(norms.dc, norms.dc_layers[0])
    tr = model.forward(x)
    dy = 2 * (tr.y[:, -1] - target) / target.size       # a last-step loss reaches the top at T only
    assert norms.dh_layers[1, -1] == pytest.approx(np.linalg.norm(dy @ model.state_dict()["head.weight"]), rel=1e-12)
    gru = make_model("gru", 1, n, k, num_layers=3, bidirectional=True)
    _, _, gn = gru.loss_and_grads(x, target, with_norms=True)
    assert gn.dh_layers.shape == (3, T) and gn.dc is None and gn.dc_layers is None


def test_initial_state_shapes():
    model = make_model("lstm", 1, 3, 1, num_layers=2)
    x = np.zeros((4, 5, 1))
    with pytest.raises(ValueError, match=r"\(2, batch, 3\)"):
        model.forward(x, h0=np.zeros((4, 3)))
    tr = model.forward(x, h0=np.ones((2, 4, 3)))
    np.testing.assert_array_equal(tr.layer(1).h0, np.ones((4, 3)))


def test_step_record_holds_every_per_unit_field_of_each_cell():
    """The GRU's update gate is called z like the LSTM's pre-activations: the record keeps the gate."""
    from explorer.engine import make_model

    x = np.random.default_rng(1).normal(size=(2, 5, 2))
    gru = make_model("gru", 2, 3, 1, seed=0).forward(x)
    rec = gru.step(1, 3)
    assert sorted(rec) == ["g", "h", "h_prev", "r", "x", "y", "z"]
    np.testing.assert_array_equal(rec["z"], gru.z[1, 3])
    lstm = make_model("lstm", 2, 3, 1, seed=0).forward(x)
    assert "z" not in lstm.step(0, 0) and lstm.z.shape == (2, 5, 12)

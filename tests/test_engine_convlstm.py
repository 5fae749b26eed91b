"""The ConvLSTM engine: equal to a torch conv2d reference (live, and through golden files without
torch), to finite differences, and its names, shapes, counts and refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explorer.engine import make_model
from explorer.engine.convlstm import ConvLSTMModel, col2im_add, im2col, param_count

GOLDEN = Path(__file__).parent / "data" / "convlstm_golden.npz"


def random_state(model, rng, scale=0.4):
    return {k: rng.normal(0, scale, v.shape) for k, v in model.state_dict().items()}


def golden_cases():
    with np.load(GOLDEN) as z:
        data = {k: z[k] for k in z.files}
    cases = {}
    for key, v in data.items():
        case, name = key.split(":", 1)
        cases.setdefault(case, {})[name] = v
    return [cases[c] for c in sorted(cases)]


@pytest.mark.parametrize("case", golden_cases(), ids=lambda c: "C{}-F{}-Co{}-k{}-L{}-peep{}-bce{}".format(*c["config"]))
def test_golden_parity_without_torch(case):
    C, F, Co, k, L, peep, bce = (int(v) for v in case["config"])
    x = case["x"]
    model = make_model("convlstm", n_inputs=C, n_units=F, n_outputs=Co, kernel=k, num_layers=L,
                       peephole=bool(peep), frame=x.shape[3:])
    state = {n[6:]: v for n, v in case.items() if n.startswith("state.")}
    model.load_state_dict(state)
    loss = "bce" if bce else "mse"
    value, grads = model.loss_and_grads(x, case["target"], loss=loss, with_input_grads=True)
    assert abs(value - float(case["loss"])) < 1e-10
    trace = model.forward(x)
    assert trace.y.shape == (x.shape[0], x.shape[1], Co) + x.shape[3:]
    np.testing.assert_allclose(trace.y, case["y"], rtol=0, atol=1e-10)
    for n in "ifgoch":
        assert getattr(trace, n).shape == (x.shape[1], x.shape[0], F) + x.shape[3:]
        np.testing.assert_allclose(getattr(trace, n), case[f"trace.{n}"], rtol=0, atol=1e-10)
    names = {n[5:] for n in case if n.startswith("grad.")}
    assert names == set(grads)
    for n in names:
        np.testing.assert_allclose(grads[n], case[f"grad.{n}"], rtol=0, atol=1e-10, err_msg=n)


TORCH_CONFIGS = [
    # C, F, C_out, k, L, peephole, loss, frame
    (1, 2, 1, 1, 1, False, "mse", (4, 4)),
    (1, 4, 1, 3, 1, False, "bce", (6, 5)),
    (2, 3, 2, 5, 1, True, "mse", (5, 7)),
    (3, 5, 1, 3, 2, False, "mse", (4, 6)),
    (2, 2, 3, 5, 2, True, "bce", (6, 6)),
    (1, 6, 1, 1, 2, True, "mse", (3, 4)),
]


@pytest.mark.parametrize("cfg", TORCH_CONFIGS, ids=str)
def test_equals_torch_conv2d_reference(cfg):
    torch = pytest.importorskip("torch")
    from convlstm_reference import reference

    C, F, Co, k, L, peep, loss, frame = cfg
    rng = np.random.default_rng(sum(map(hash, (C, F, k, L))) % 1000)
    model = make_model("convlstm", n_inputs=C, n_units=F, n_outputs=Co, kernel=k, num_layers=L,
                       peephole=peep, frame=frame, seed=3)
    state = random_state(model, rng)
    model.load_state_dict(state)
    x = rng.normal(0, 1, (3, 4, C) + frame)
    target = rng.uniform(0, 1, (3, 4, Co) + frame)
    ref = reference(state, x, target, loss, L, peep, torch)
    value, grads = model.loss_and_grads(x, target, loss=loss, with_input_grads=True)
    assert abs(value - ref["loss"]) < 1e-10
    trace = model.forward(x)
    np.testing.assert_allclose(trace.y, ref["y"], rtol=0, atol=1e-10)
    for n in "ifgoch":
        np.testing.assert_allclose(getattr(trace, n), ref[n], rtol=0, atol=1e-10)
    assert set(grads) == set(ref["grads"])
    for n, g in ref["grads"].items():
        assert grads[n].shape == g.shape
        np.testing.assert_allclose(grads[n], g, rtol=0, atol=1e-10, err_msg=n)


def test_default_weights_equal_torch_and_float32_is_close():
    torch = pytest.importorskip("torch")
    from convlstm_reference import reference

    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (2, 5, 1, 8, 8))
    target = rng.uniform(0, 1, (2, 5, 1, 8, 8))
    m64 = make_model("convlstm", n_inputs=1, n_units=4, n_outputs=1, kernel=3, frame=(8, 8), seed=7)
    ref = reference(m64.state_dict(), x, target, "bce", 1, False, torch)
    value, grads = m64.loss_and_grads(x, target, loss="bce")
    assert abs(value - ref["loss"]) < 1e-10
    np.testing.assert_allclose(grads["weight_hh_l0"], ref["grads"]["weight_hh_l0"], rtol=0, atol=1e-10)
    m32 = make_model("convlstm", n_inputs=1, n_units=4, n_outputs=1, kernel=3, seed=7, dtype=np.float32)
    v32, g32 = m32.loss_and_grads(x.astype(np.float32), target, loss="bce")
    assert g32["weight_hh_l0"].dtype == np.float32
    assert abs(v32 - value) < 1e-5
    np.testing.assert_allclose(g32["weight_hh_l0"], grads["weight_hh_l0"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("peephole,loss", [(False, "mse"), (True, "bce")])
def test_finite_differences(peephole, loss):
    rng = np.random.default_rng(11)
    model = ConvLSTMModel(2, 3, 2, kernel=3, num_layers=2, peephole=peephole, frame=(4, 5), seed=1)
    model.load_state_dict(random_state(model, rng, 0.5))
    x = rng.normal(0, 1, (2, 3, 2, 4, 5))
    target = rng.uniform(0, 1, (2, 3, 2, 4, 5))
    model.compute_grads(x, target, loss)
    analytic = model.grad.copy()
    eps = 1e-6
    picks = rng.choice(model.params.size, size=60, replace=False)
    for j in picks:
        keep = model.params[j]
        model.params[j] = keep + eps
        up = model.evaluate(x, target, loss)
        model.params[j] = keep - eps
        down = model.evaluate(x, target, loss)
        model.params[j] = keep
        assert abs((up - down) / (2 * eps) - analytic[j]) < 1e-7 * max(1.0, abs(analytic[j]))
    _, grads = model.loss_and_grads(x, target, loss, with_input_grads=True)
    for idx in [(0, 0, 0, 0, 0), (1, 2, 1, 3, 4), (0, 1, 1, 2, 2)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num = (model.evaluate(xp, target, loss) - model.evaluate(xm, target, loss)) / (2 * eps)
        assert abs(num - grads["x"][idx]) < 1e-8


@pytest.mark.parametrize("C,F,k,L,peep", [(1, 8, 3, 1, False), (3, 4, 5, 2, True), (2, 16, 1, 1, False)])
def test_state_dict_names_shapes_and_count(C, F, k, L, peep):
    H, W = 7, 9
    model = make_model("convlstm", n_inputs=C, n_units=F, n_outputs=2, kernel=k, num_layers=L, peephole=peep,
                       frame=(H, W))
    sd = model.state_dict()
    want = {}
    for layer in range(L):
        cin = C if layer == 0 else F
        want[f"weight_ih_l{layer}"] = (4 * F, cin, k, k)
        want[f"weight_hh_l{layer}"] = (4 * F, F, k, k)
        want[f"bias_ih_l{layer}"] = (4 * F,)
        want[f"bias_hh_l{layer}"] = (4 * F,)
        if peep:
            want.update({f"peephole_{g}_l{layer}": (F, H, W) for g in "ifo"})
    want["head.weight"] = (2, F, 1, 1)
    want["head.bias"] = (2,)
    assert {n: v.shape for n, v in sd.items()} == want
    per_layer = [4 * F * (k * k * ((C if j == 0 else F) + F) + 1) + (3 * H * W * F if peep else 0) for j in range(L)]
    count = model.param_count
    assert count.layers == tuple(per_layer)
    assert count.head == 2 * (F + 1)
    assert count.total == sum(per_layer) + 2 * (F + 1) == model.params.size
    assert param_count(C, F, k, L, peep, (H, W), 2) == count.total
    np.testing.assert_array_equal(sd["bias_hh_l0"], 0.0)
    np.testing.assert_array_equal(sd["bias_ih_l0"][F:2 * F], 1.0)     # the forget bias


def test_state_dict_round_trip_and_refusals():
    rng = np.random.default_rng(2)
    a = make_model("convlstm", n_inputs=1, n_units=3, n_outputs=1, kernel=3, num_layers=2, seed=1)
    sd = random_state(a, rng)
    a.load_state_dict(sd)
    b = make_model("convlstm", n_inputs=1, n_units=3, n_outputs=1, kernel=3, num_layers=2, seed=9)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_allclose(b.state_dict()["bias_ih_l1"], sd["bias_ih_l1"] + sd["bias_hh_l1"], atol=1e-15)
    before = b.params.copy()
    bad = dict(sd, weight_hh_l1=np.zeros((12, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"weight_hh_l1 has shape \(12, 3, 5, 5\); expected \(12, 3, 3, 3\)"):
        b.load_state_dict(bad)
    with pytest.raises(ValueError, match="'peephole_i_l0', which this 2-layer convlstm"):
        b.load_state_dict(dict(sd, peephole_i_l0=np.zeros((3, 4, 4))))
    with pytest.raises(KeyError, match="head.bias"):
        b.load_state_dict({k: v for k, v in sd.items() if k != "head.bias"})
    np.testing.assert_array_equal(b.params, before)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="odd"):
        make_model("convlstm", n_inputs=1, n_units=2, kernel=4)
    with pytest.raises(ValueError, match="frame"):
        make_model("convlstm", n_inputs=1, n_units=2, peephole=True)
    with pytest.raises(ValueError, match="reverse direction"):
        make_model("convlstm", bidirectional=True)
    model = make_model("convlstm", n_inputs=2, n_units=2, frame=(4, 4))
    with pytest.raises(ValueError, match=r"x must be \(batch, T, 2, H, W\)"):
        model.forward(np.zeros((1, 3, 1, 4, 4)))
    with pytest.raises(ValueError, match="frames must be 4×4"):
        model.forward(np.zeros((1, 3, 2, 5, 4)))
    with pytest.raises(ValueError, match=r"target must be \(1, 3, 1, 4, 4\)"):
        model.loss_and_grads(np.zeros((1, 3, 2, 4, 4)), np.zeros((1, 3, 4, 4)))
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        model.loss_and_grads(np.zeros((1, 3, 2, 4, 4)), np.zeros((1, 3, 1, 4, 4)), loss="l1")


def test_im2col_is_a_convolution_and_col2im_its_adjoint():
    rng = np.random.default_rng(0)
    k, H, W, C = 3, 5, 4, 2
    xp = rng.normal(size=(2, H + k - 1, W + k - 1, C))
    cols = im2col(xp, k, H, W)
    assert cols.shape == (2 * H * W, k * k * C)
    # row (n=1, y=2, x=3), column (dy=1, dx=2, c=1) is xp[1, 2 + 1, 3 + 2, 1]
    assert cols[1 * H * W + 2 * W + 3, (1 * k + 2) * C + 1] == xp[1, 3, 5, 1]
    d = rng.normal(size=cols.shape)
    back = np.zeros_like(xp)
    col2im_add(d, back, k, H, W)
    assert abs(np.vdot(cols, d) - np.vdot(xp, back)) < 1e-10        # <Ax, d> = <x, Aᵀd>


def test_trace_layers_samples_and_norms():
    rng = np.random.default_rng(4)
    model = make_model("convlstm", n_inputs=1, n_units=3, n_outputs=1, kernel=3, num_layers=2)
    x = rng.uniform(0, 1, (3, 4, 1, 6, 6))
    trace = model.forward(x)
    assert trace.num_layers == 2 and trace.T == 4 and trace.batch == 3
    top = trace.layer(1)
    np.testing.assert_array_equal(top.x, trace.h.transpose(1, 0, 2, 3, 4))
    np.testing.assert_allclose(top.c[1], top.f[1] * top.c[0] + top.i[1] * top.g[1], atol=1e-15)
    np.testing.assert_allclose(top.h, top.o * np.tanh(top.c), atol=1e-15)
    one = trace.sample(2)
    np.testing.assert_array_equal(one.y[0], trace.y[2])
    np.testing.assert_array_equal(one.layer(1).h[:, 0], top.h[:, 2])
    with pytest.raises(IndexError):
        trace.layer(2)
    _, grads, norms = model.loss_and_grads(x, x, with_norms=True)
    assert norms.dh.shape == (4,) and norms.dh_layers.shape == (2, 4)
    assert np.all(norms.dc > 0)
    np.testing.assert_allclose(model.predict(x, batch_size=2), trace.y, atol=1e-15)


@pytest.mark.parametrize("C,F,k,L,B,T,H", [(1, 8, 3, 1, 16, 10, 16), (1, 16, 5, 2, 8, 6, 24), (3, 4, 3, 1, 4, 12, 40)])
def test_step_bytes_bounds_what_a_training_step_allocates(C, F, k, L, B, T, H):
    import tracemalloc

    from explorer.engine.convlstm import step_bytes

    model = make_model("convlstm", n_inputs=C, n_units=F, n_outputs=C, kernel=k, num_layers=L)
    x = np.random.default_rng(0).uniform(size=(B, T, C, H, H))
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        model.compute_grads(x, x, "mse")
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    estimate = step_bytes(C, F, C, k, L, B, T, (H, H))
    assert peak <= estimate <= 3 * peak


def test_gate_blocks_clone_and_npz_round_trip(tmp_path):
    rng = np.random.default_rng(6)
    model = make_model("convlstm", n_inputs=2, n_units=3, n_outputs=1, kernel=3, num_layers=2, peephole=True,
                       frame=(4, 4), seed=5)
    x = rng.uniform(0, 1, (2, 3, 2, 4, 4))
    model.compute_grads(x, x[:, :, :1], "mse")
    slices, sq = model.gate_slices(), model.gate_sq_norms()
    assert sorted(np.concatenate(list(slices.values()))) == list(range(model.params.size))   # a partition
    for gate, idx in slices.items():
        assert sq[gate] == pytest.approx(float(np.dot(model.grad[idx], model.grad[idx])), rel=1e-12)
    grads = model.grads_dict()
    assert sq["o"] == pytest.approx(float(np.sum(grads["weight_ih_l1"][9:] ** 2) + np.sum(grads["weight_hh_l1"][9:] ** 2)
                                          + np.sum(grads["weight_ih_l0"][9:] ** 2) + np.sum(grads["weight_hh_l0"][9:] ** 2)
                                          + np.sum(grads["bias_ih_l0"][9:] ** 2) + np.sum(grads["bias_ih_l1"][9:] ** 2)
                                          + np.sum(grads["peephole_o_l0"] ** 2) + np.sum(grads["peephole_o_l1"] ** 2)),
                                    rel=1e-12)
    twin = model.clone()
    np.testing.assert_array_equal(twin.params, model.params)
    twin.params[0] += 1.0
    assert twin.params[0] != model.params[0]
    model.save(tmp_path / "m.npz")
    other = make_model("convlstm", n_inputs=2, n_units=3, n_outputs=1, kernel=3, num_layers=2, peephole=True,
                       frame=(4, 4), seed=99)
    other.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(other.params, model.params)

"""The engine against PyTorch: same state dict, same outputs, same gradients (float64).

The LSTM against torch.nn.LSTM, the plain RNN and the GRU against torch.nn.RNN (tanh) and
torch.nn.GRU. Skipped when torch is not installed; torch is never a dependency of the engine.
"""

import numpy as np
import pytest

from explorer.engine import LSTMModel, make_model

torch = pytest.importorskip("torch")

TOL = 1e-10


TORCH_CLASSES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def to_torch_deep(model):
    """The torch module of ``model``'s kind, layers and direction + ``Linear``, loaded strictly."""
    m, n, k = model.n_inputs, model.n_units, model.n_outputs
    kw = {"nonlinearity": "tanh"} if model.kind == "rnn" else {}
    rec = getattr(torch.nn, TORCH_CLASSES[model.kind])(
        m, n, num_layers=model.num_layers, bidirectional=model.bidirectional, batch_first=True, **kw).double()
    head = torch.nn.Linear(model.num_directions * n, k).double()
    sd = {key: torch.from_numpy(np.ascontiguousarray(v)) for key, v in model.state_dict().items()}
    rec.load_state_dict({key: v for key, v in sd.items() if not key.startswith("head.")}, strict=True)
    head.load_state_dict({"weight": sd["head.weight"], "bias": sd["head.bias"]}, strict=True)
    return rec, head


to_torch = to_torch_deep


def make_case(n, m, k, T, B, seed=0):
    model = LSTMModel(n_inputs=m, n_units=n, n_outputs=k, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    model.params[...] += 0.2 * rng.standard_normal(model.params.size)    # away from the init
    x = rng.standard_normal((B, T, m))
    h0 = 0.5 * rng.standard_normal((B, n))
    c0 = 0.5 * rng.standard_normal((B, n))
    return model, rng, x, h0, c0


def torch_run(lstm, head, x, h0, c0):
    tx = torch.from_numpy(x).requires_grad_(True)
    th0 = torch.from_numpy(h0.copy())[None].requires_grad_(True)
    tc0 = torch.from_numpy(c0.copy())[None].requires_grad_(True)
    out, (hT, cT) = lstm(tx, (th0, tc0))
    return tx, th0, tc0, out, head(out)


def assert_close(ours, theirs, what):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert ours.shape == theirs.shape, what
    err = np.max(np.abs(ours - theirs))
    assert err <= TOL, f"{what}: max |diff| {err:.3e}"


def test_state_dict_names_and_shapes_match_torch():
    model = LSTMModel(n_inputs=3, n_units=5, n_outputs=2, seed=0)
    lstm, head = to_torch(model)
    ours = model.state_dict()
    theirs = {**{k: v for k, v in lstm.state_dict().items()},
              **{f"head.{k}": v for k, v in head.state_dict().items()}}
    assert set(ours) == set(theirs)
    for key in ours:
        assert ours[key].shape == tuple(theirs[key].shape), key


@pytest.mark.parametrize("n, m, k, T, B", [(1, 1, 1, 5, 1), (4, 1, 1, 9, 3), (7, 3, 2, 6, 4), (16, 2, 3, 12, 5)])
@pytest.mark.parametrize("last_only", [False, True])
def test_mse_outputs_and_all_gradients_match_torch(n, m, k, T, B, last_only):
    model, rng, x, h0, c0 = make_case(n, m, k, T, B)
    target = rng.standard_normal((B, k) if last_only else (B, T, k))
    trace = model.forward(x, h0, c0)
    loss, grads = model.loss_and_grads(x, target, "mse", h0, c0, with_input_grads=True)

    lstm, head = to_torch(model)
    tx, th0, tc0, out, ty = torch_run(lstm, head, x, h0, c0)
    pred = ty[:, -1] if last_only else ty
    tloss = torch.nn.functional.mse_loss(pred, torch.from_numpy(target))
    tloss.backward()

    assert_close(trace.y, ty, "y")
    assert_close(trace.h, out, "h")
    assert abs(loss - tloss.item()) <= TOL
    for key, p in lstm.named_parameters():
        assert_close(grads[key], p.grad, key)          # both bias keys carry dL/db
    assert_close(grads["head.weight"], head.weight.grad, "head.weight")
    assert_close(grads["head.bias"], head.bias.grad, "head.bias")
    assert_close(grads["x"], tx.grad, "dx")
    assert_close(grads["h0"], th0.grad[0], "dh0")
    assert_close(grads["c0"], tc0.grad[0], "dc0")


@pytest.mark.parametrize("last_only", [False, True])
def test_cross_entropy_gradients_match_torch(last_only):
    n, m, k, T, B = 6, 2, 4, 8, 5
    model, rng, x, h0, c0 = make_case(n, m, k, T, B, seed=3)
    cls = rng.integers(0, k, size=(B,) if last_only else (B, T))
    loss, grads = model.loss_and_grads(x, cls, "cross_entropy", h0, c0)

    lstm, head = to_torch(model)
    _, _, _, _, ty = torch_run(lstm, head, x, h0, c0)
    logits = ty[:, -1] if last_only else ty.reshape(B * T, k)
    tloss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(cls.reshape(-1)))
    tloss.backward()

    assert abs(loss - tloss.item()) <= TOL
    for key, p in lstm.named_parameters():
        assert_close(grads[key], p.grad, key)
    assert_close(grads["head.weight"], head.weight.grad, "head.weight")
    assert_close(grads["head.bias"], head.bias.grad, "head.bias")


def test_torch_state_dict_with_two_biases_loads_into_engine():
    """A torch model's own weights (bias_hh non-zero) give the same outputs in the engine."""
    torch.manual_seed(0)
    n, m, k, T, B = 5, 2, 3, 7, 4
    lstm = torch.nn.LSTM(m, n, batch_first=True).double()
    head = torch.nn.Linear(n, k).double()
    sd = {key: v.detach().numpy().copy() for key, v in lstm.state_dict().items()}
    sd.update({f"head.{key}": v.detach().numpy().copy() for key, v in head.state_dict().items()})
    model = LSTMModel(n_inputs=m, n_units=n, n_outputs=k, seed=1)
    model.load_state_dict(sd)
    x = np.random.default_rng(2).standard_normal((B, T, m))
    with torch.no_grad():
        out, _ = lstm(torch.from_numpy(x))
        ty = head(out)
    assert_close(model.predict(x), ty, "y")


# -- the plain RNN and the GRU against torch.nn.RNN(nonlinearity="tanh") / torch.nn.GRU -----------
to_torch_cell = to_torch_deep


def make_cell_case(kind, n, m, k, T, B, seed=0):
    model = make_model(kind, n_inputs=m, n_units=n, n_outputs=k, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    model.params[...] += 0.2 * rng.standard_normal(model.params.size)    # away from the init (GRU: b_hn ≠ 0)
    x = rng.standard_normal((B, T, m))
    h0 = 0.5 * rng.standard_normal((B, n))
    return model, rng, x, h0


@pytest.mark.parametrize("kind", ["rnn", "gru"])
def test_cell_state_dict_names_and_shapes_match_torch(kind):
    model = make_model(kind, n_inputs=3, n_units=5, n_outputs=2, seed=0)
    rec, head = to_torch_cell(model)
    ours = model.state_dict()
    theirs = {**dict(rec.state_dict()), **{f"head.{k}": v for k, v in head.state_dict().items()}}
    assert set(ours) == set(theirs)
    for key in ours:
        assert ours[key].shape == tuple(theirs[key].shape), key


@pytest.mark.parametrize("kind", ["rnn", "gru"])
@pytest.mark.parametrize("n, m, k, T, B", [(1, 1, 1, 5, 1), (4, 1, 1, 9, 3), (7, 3, 2, 6, 4), (16, 2, 3, 12, 5)])
@pytest.mark.parametrize("last_only", [False, True])
def test_cell_mse_outputs_and_all_gradients_match_torch(kind, n, m, k, T, B, last_only):
    model, rng, x, h0 = make_cell_case(kind, n, m, k, T, B)
    target = rng.standard_normal((B, k) if last_only else (B, T, k))
    trace = model.forward(x, h0)
    loss, grads = model.loss_and_grads(x, target, "mse", h0, with_input_grads=True)
    assert "c0" not in grads

    rec, head = to_torch_cell(model)
    tx = torch.from_numpy(x).requires_grad_(True)
    th0 = torch.from_numpy(h0.copy())[None].requires_grad_(True)
    out, hT = rec(tx, th0)
    ty = head(out)
    pred = ty[:, -1] if last_only else ty
    tloss = torch.nn.functional.mse_loss(pred, torch.from_numpy(target))
    tloss.backward()

    assert_close(trace.y, ty, "y")
    assert_close(trace.h, out, "h")
    assert abs(loss - tloss.item()) <= TOL
    named = dict(rec.named_parameters())
    assert set(named) == {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}
    for key, p in named.items():
        assert_close(grads[key], p.grad, key)
    assert_close(grads["head.weight"], head.weight.grad, "head.weight")
    assert_close(grads["head.bias"], head.bias.grad, "head.bias")
    assert_close(grads["x"], tx.grad, "dx")
    assert_close(grads["h0"], th0.grad[0], "dh0")


@pytest.mark.parametrize("kind", ["rnn", "gru"])
def test_torch_cell_state_dict_loads_into_engine(kind):
    """A torch RNN's / GRU's own weights (both biases non-zero) give the same outputs in the engine."""
    torch.manual_seed(0)
    n, m, k, T, B = 5, 2, 3, 7, 4
    model = make_model(kind, n_inputs=m, n_units=n, n_outputs=k, seed=1)
    rec, head = to_torch_cell(model)
    for p in list(rec.parameters()) + list(head.parameters()):
        torch.nn.init.normal_(p, std=0.5)
    sd = {key: v.detach().numpy().copy() for key, v in rec.state_dict().items()}
    sd.update({f"head.{key}": v.detach().numpy().copy() for key, v in head.state_dict().items()})
    model.load_state_dict(sd)
    x = np.random.default_rng(2).standard_normal((B, T, m))
    with torch.no_grad():
        out, _ = rec(torch.from_numpy(x))
        ty = head(out)
    assert_close(model.predict(x), ty, "y")


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("last_only", [False, True])
def test_deep_and_bidirectional_match_torch(kind, layers, bidirectional, last_only):
    n, m, k, T, B = 4, 3, 2, 6, 3
    model = make_model(kind, m, n, k, num_layers=layers, bidirectional=bidirectional, seed=layers)
    rng = np.random.default_rng(10 * layers + bidirectional)
    model.params[...] += 0.2 * rng.standard_normal(model.params.size)
    LD = layers * model.num_directions
    x = rng.standard_normal((B, T, m))
    h0 = 0.5 * rng.standard_normal((LD, B, n))
    c0 = 0.5 * rng.standard_normal((LD, B, n))
    target = rng.standard_normal((B, k) if last_only else (B, T, k))
    has_c = kind == "lstm"
    trace = model.forward(x, h0, c0 if has_c else None)
    loss, grads = model.loss_and_grads(x, target, "mse", h0, c0 if has_c else None, with_input_grads=True)

    rec, head = to_torch_deep(model)
    tx = torch.from_numpy(x).requires_grad_(True)
    th0 = torch.from_numpy(h0.copy()).requires_grad_(True)
    tc0 = torch.from_numpy(c0.copy()).requires_grad_(True)
    out, _ = rec(tx, (th0, tc0) if has_c else th0)
    ty = head(out)
    tloss = torch.nn.functional.mse_loss(ty[:, -1] if last_only else ty, torch.from_numpy(target))
    tloss.backward()

    assert trace.num_layers == layers and trace.num_directions == model.num_directions
    assert_close(trace.y, ty, "y")
    top = [trace.layer(layers - 1, d).h for d in range(model.num_directions)]
    assert_close(np.concatenate(top, axis=2), out, "top layer h")
    assert abs(loss - tloss.item()) <= TOL
    named = dict(rec.named_parameters())
    assert set(grads) - {"x", "h0", "c0"} == set(named) | {"head.weight", "head.bias"}
    for key, p in named.items():
        assert_close(grads[key], p.grad, key)
    assert_close(grads["head.weight"], head.weight.grad, "head.weight")
    assert_close(grads["head.bias"], head.bias.grad, "head.bias")
    assert_close(grads["x"], tx.grad, "dx")
    h0_grad = grads["h0"] if LD > 1 else grads["h0"][None]
    assert_close(h0_grad, th0.grad, "dh0")
    if has_c:
        assert_close(grads["c0"] if LD > 1 else grads["c0"][None], tc0.grad, "dc0")


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize("last_only", [False, True])
def test_deep_bidirectional_cross_entropy_matches_torch(kind, last_only):
    n, m, k, T, B = 5, 2, 4, 7, 3
    model = make_model(kind, m, n, k, num_layers=2, bidirectional=True, seed=4)
    rng = np.random.default_rng(4)
    model.params[...] += 0.2 * rng.standard_normal(model.params.size)
    x = rng.standard_normal((B, T, m))
    cls = rng.integers(0, k, size=(B,) if last_only else (B, T))
    loss, grads = model.loss_and_grads(x, cls, "cross_entropy")
    rec, head = to_torch_deep(model)
    out, _ = rec(torch.from_numpy(x))
    ty = head(out)
    logits = ty[:, -1] if last_only else ty.reshape(B * T, k)
    tloss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(cls.reshape(-1)))
    tloss.backward()
    assert abs(loss - tloss.item()) <= TOL
    for key, p in rec.named_parameters():
        assert_close(grads[key], p.grad, key)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_torch_deep_bidirectional_weights_load_into_engine(kind):
    """A torch module's own weights (two biases, every layer and direction) give its outputs."""
    torch.manual_seed(3)
    n, m, k, T, B = 5, 2, 3, 6, 4
    model = make_model(kind, m, n, k, num_layers=3, bidirectional=True, seed=1)
    rec, head = to_torch_deep(model)
    for p in list(rec.parameters()) + list(head.parameters()):
        torch.nn.init.normal_(p, std=0.4)
    sd = {key: v.detach().numpy().copy() for key, v in rec.state_dict().items()}
    sd.update({f"head.{key}": v.detach().numpy().copy() for key, v in head.state_dict().items()})
    model.load_state_dict(sd)
    x = np.random.default_rng(2).standard_normal((B, T, m))
    with torch.no_grad():
        ty = head(rec(torch.from_numpy(x))[0])
    assert_close(model.predict(x), ty, "y")

"""Token ids as inputs: a gather of W's columns forward, a scatter-add backward, exact against
the one-hot product; big vocabularies in memory that grows with the text; the chunked head."""

import tracemalloc

import numpy as np
import pytest

from explorer.engine import TrainData, Trainer, make_model
from explorer.engine import cells as cells_module
from explorer.engine import model as model_module
from tests.test_engine_gradcheck import numeric, rel_err

KINDS = ["rnn", "gru", "lstm", "peephole"]


def case(kind, V=7, n=3, k=4, T=5, B=3, layers=1, bidirectional=False, seed=0):
    rng = np.random.default_rng(seed)
    model = make_model(kind, V, n, k, num_layers=layers, bidirectional=bidirectional, seed=seed)
    model.params[:] = rng.normal(0.0, 0.5, model.params.size)
    ids = rng.integers(0, V, size=(B, T))
    ids[0, :3] = 2                                   # repeated ids: the scatter must add them up
    onehot = np.eye(V)[ids]                          # (B, T, V)
    return model, rng, ids, onehot


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layers, bidirectional", [(1, False), (2, True)])
@pytest.mark.parametrize("loss", ["mse_all", "ce_all", "ce_last"])
def test_ids_equal_the_one_hot_product(kind, layers, bidirectional, loss):
    model, rng, ids, onehot = case(kind, layers=layers, bidirectional=bidirectional, seed=layers)
    B, T = ids.shape
    name, target = {"mse_all": ("mse", rng.normal(size=(B, T, 4))),
                    "ce_all": ("cross_entropy", rng.integers(0, 4, size=(B, T))),
                    "ce_last": ("cross_entropy", rng.integers(0, 4, size=(B,)))}[loss]
    a, b = model.forward(ids), model.forward(onehot)
    for field in b.fields:
        if field != "x":
            np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=0, atol=1e-14, err_msg=field)
    np.testing.assert_allclose(a.stacked("h"), b.stacked("h"), rtol=0, atol=1e-14)
    la, ga, na = model.loss_and_grads(ids, target, name, with_norms=True)
    lb, gb, nb = model.loss_and_grads(onehot, target, name, with_norms=True)
    assert la == pytest.approx(lb, rel=1e-14)
    assert set(ga) == set(gb)
    for key in ga:
        np.testing.assert_allclose(ga[key], gb[key], rtol=0, atol=1e-14, err_msg=key)
    np.testing.assert_allclose(na.dh_layers, nb.dh_layers, rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("limit", [0, 1 << 30])          # np.add.at and the one-hot product
def test_token_gradients_match_finite_differences(kind, limit, monkeypatch):
    monkeypatch.setattr(cells_module, "ONE_HOT_SCATTER_LIMIT", limit)
    model, rng, ids, _ = case(kind, layers=2, bidirectional=True, seed=5)
    target = rng.integers(0, 4, size=ids.shape)

    def f():
        return model.evaluate(ids, target, "cross_entropy")

    num = numeric(f, model.params)
    model.compute_grads(ids, target, "cross_entropy")
    assert rel_err(num, model.grad) < 1e-6
    # rows of tokens that never occur get exactly no gradient
    unused = sorted(set(range(7)) - set(ids.ravel().tolist()))
    g = model.grads_dict()
    for u in unused:
        assert not g["weight_ih_l0"][:, u].any() and not g["weight_ih_l0_reverse"][:, u].any()


def test_trace_keeps_the_ids():
    model, _, ids, _ = case("lstm", layers=2, bidirectional=True)
    tr = model.forward(ids)
    assert tr.x.dtype.kind == "i" and tr.x.shape == ids.shape
    np.testing.assert_array_equal(tr.x, ids)
    np.testing.assert_array_equal(tr.tokens, ids)
    assert tr.step(0, 1)["token"] == ids[0, 1]
    up = tr.layer(1, 1)
    assert up.x.dtype == np.float64 and up.x.shape == (3, 5, 6)      # layer 1 reads [h_fwd; h_bwd]
    np.testing.assert_array_equal(up.tokens, ids)
    assert model.forward(np.zeros((2, 5, 7))).tokens is None
    one = tr.sample(2)
    np.testing.assert_array_equal(one.tokens, ids[2:3])


def test_bad_ids_are_refused():
    model = make_model("gru", 5, 3, 2)
    with pytest.raises(ValueError, match=r"token ids must lie in 0\.\.4"):
        model.forward(np.array([[0, 5, 1]]))
    with pytest.raises(ValueError, match=r"token ids must lie in 0\.\.4"):
        model.forward(np.array([[0, -1, 1]]))
    with pytest.raises(ValueError, match=r"token ids must be \(batch, T\)"):
        model.forward(np.zeros((2, 3, 5), dtype=np.int64))


def test_torch_embedding_and_lstm_give_the_same_numbers():
    torch = pytest.importorskip("torch")
    V, n, k, T, B = 9, 4, 3, 6, 3
    model, rng, ids, _ = case("lstm", V=V, n=n, k=k, T=T, B=B, layers=2, bidirectional=True, seed=3)
    target = rng.integers(0, k, size=(B, T))
    loss, grads = model.loss_and_grads(ids, target, "cross_entropy")
    emb = torch.nn.Embedding(V, V).double()                       # an identity embedding = one-hot
    with torch.no_grad():
        emb.weight.copy_(torch.eye(V, dtype=torch.float64))
    emb.weight.requires_grad_(False)
    lstm = torch.nn.LSTM(V, n, num_layers=2, bidirectional=True, batch_first=True).double()
    head = torch.nn.Linear(2 * n, k).double()
    sd = {key: torch.from_numpy(np.ascontiguousarray(v)) for key, v in model.state_dict().items()}
    lstm.load_state_dict({key: v for key, v in sd.items() if not key.startswith("head.")}, strict=True)
    head.load_state_dict({"weight": sd["head.weight"], "bias": sd["head.bias"]}, strict=True)
    out, _ = lstm(emb(torch.from_numpy(ids)))
    logits = head(out)
    tloss = torch.nn.functional.cross_entropy(logits.reshape(B * T, k), torch.from_numpy(target.reshape(-1)))
    tloss.backward()
    assert abs(loss - tloss.item()) <= 1e-12
    np.testing.assert_allclose(model.forward(ids).y, logits.detach().numpy(), rtol=0, atol=1e-12)
    for key, p in lstm.named_parameters():
        np.testing.assert_allclose(grads[key], p.grad.numpy(), rtol=0, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_chunked_head_equals_the_whole_head(loss, monkeypatch):
    model, rng, ids, _ = case("lstm", T=9, layers=1, bidirectional=True, seed=9)
    B, T = ids.shape
    target = rng.normal(size=(B, T, 4)) if loss == "mse" else rng.integers(0, 4, size=(B, T))
    whole = model.loss_and_grads(ids, target, loss)
    whole_eval = model.evaluate(ids, target, loss)
    monkeypatch.setattr(model_module, "HEAD_CHUNK", 2 * B * 4)      # two steps at a time: 5 chunks
    chunked = model.loss_and_grads(ids, target, loss)
    assert chunked[0] == pytest.approx(whole[0], rel=1e-14)
    assert model.evaluate(ids, target, loss) == pytest.approx(whole_eval, rel=1e-14)
    for key in whole[1]:
        np.testing.assert_allclose(chunked[1][key], whole[1][key], rtol=1e-13, atol=1e-16, err_msg=key)


def test_thirty_thousand_word_vocabulary_trains_in_memory_that_grows_with_the_text():
    """Next-word prediction over 30,000 words: a step allocates what the ids, the workspace and
    the head's logits need, never a (text × vocabulary) or even a (batch × T × vocabulary) input."""
    V, n, T, B, N = 30_000, 16, 20, 16, 48
    rng = np.random.default_rng(0)
    ids = rng.integers(0, V, size=(N, T + 1))
    model = make_model("lstm", V, n, V, seed=0)
    tr = Trainer(model, TrainData(ids[:, :-1], ids[:, 1:], loss="cross_entropy"), optimizer="adam",
                 lr=0.01, batch_size=B, epochs=1, seed=0, sampled=0)   # the full softmax, in chunks
    steps = tr.steps()
    first = next(steps).loss                                # Adam's moments are allocated here
    tracemalloc.start()
    losses = [snap.loss for snap in steps]                  # (the snapshots' weights are copies)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(losses) == N // B - 1 and np.isfinite(losses[-1])
    assert losses[-1] < first                               # it learns
    one_hot_batch = B * T * V * 8                           # 38 MB: what one-hot inputs would take
    params = model.params.nbytes                            # 19 MB: Adam, the snapshot's weights
    step = model.estimate_bytes(B, T, trace=False, tokens=True)
    assert step < 20e6                                      # the head's logits in 1M-entry chunks
    assert peak < 2 * params + step + 6e6                   # + the sample's trace (T × V logits)
    assert peak < params + one_hot_batch                    # an input of one-hot floats would not fit


def test_predict_classes_is_the_argmax_of_predict(monkeypatch):
    model, _, ids, _ = case("gru", T=7, layers=2, bidirectional=True, seed=2)
    want = model.predict(ids).argmax(axis=-1)
    monkeypatch.setattr(model_module, "HEAD_CHUNK", 3 * 4)      # one step of 3 samples at a time
    np.testing.assert_array_equal(model.predict_classes(ids, batch_size=2), want)

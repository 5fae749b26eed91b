"""Sampled softmax in next-word training: with every class it is the full softmax (loss and
gradient to 1e-12), its partition estimate is unbiased and its gradient consistent, its own
gradient is exact for the drawn classes, training with it lowers the exact validation loss, and
evaluation never samples."""

import numpy as np
import pytest

from explorer.engine import make_model
from explorer.engine.sampled import (SampledSettingError, SampledSoftmax, get_sampled, sampler_for,
                                     set_sampled)
from explorer.engine.trainer import TrainData, Trainer

V = 300


def _case(seed=0, B=6, T=9, n=8):
    rng = np.random.default_rng(seed)
    model = make_model("lstm", V, n, V, seed=seed + 1)
    model.params[:] += 0.2 * rng.standard_normal(model.params.size)     # logits far from uniform
    ids = np.minimum(rng.zipf(1.3, B * (T + 1)) - 1, V - 1).reshape(B, T + 1)
    return model, ids[:, :-1], ids[:, 1:]


def _full(model, x, y):
    value, _, _ = model.compute_grads(x, y, "cross_entropy")
    return value, model.grad.copy()


def test_every_class_drawn_is_the_full_softmax_to_1e12():
    model, x, y = _case()
    full, g_full = _full(model, x, y)
    sampler = SampledSoftmax(np.bincount(y.ravel(), minlength=V), V, seed=3)
    cand = sampler.candidates(y, step=0)
    assert cand[0].size == V and cand[2] == V and not np.any(cand[1])
    value, _, _ = model.compute_grads(x, y, "cross_entropy", sampled=cand)
    assert abs(value - full) < 1e-12
    assert np.max(np.abs(model.grad - g_full)) < 1e-12
    assert np.max(np.abs(g_full)) > 1e-3


def test_the_partition_estimate_is_unbiased():
    _, _, y = _case()
    sampler = SampledSoftmax(np.bincount(y.ravel(), minlength=V), 40, seed=5)
    f = np.random.default_rng(9).uniform(0.1, 3.0, V)             # any positive e^{s_j}
    true = np.unique(y)
    others = f.sum() - f[true].sum()
    estimates = []
    for step in range(4000):
        classes, logw, m = sampler.candidates(y, step)
        assert np.array_equal(classes[:m], true) and not np.any(logw[:m])
        estimates.append(np.sum(np.exp(logw[m:]) * f[classes[m:]]))
    mean, sem = np.mean(estimates), np.std(estimates) / np.sqrt(len(estimates))
    assert abs(mean - others) < 4 * sem
    assert abs(mean - others) / others < 0.02


def test_the_sampled_gradient_is_consistent():
    model, x, y = _case()
    _, g_full = _full(model, x, y)
    counts = np.bincount(y.ravel(), minlength=V)
    errors = {}
    for S in (16, 64, 200):
        sampler = SampledSoftmax(counts, S, seed=1)
        grads = []
        for step in range(60):
            model.compute_grads(x, y, "cross_entropy", sampled=sampler.candidates(y, step))
            grads.append(model.grad.copy())
        errors[S] = np.linalg.norm(np.mean(grads, axis=0) - g_full) / np.linalg.norm(g_full)
    assert errors[200] < errors[64] < errors[16]
    assert errors[200] < 0.05


def test_the_sampled_loss_has_its_own_exact_gradient():
    model, x, y = _case(B=3, T=4, n=5)
    sampler = SampledSoftmax(np.bincount(y.ravel(), minlength=V), 30, seed=2)
    cand = sampler.candidates(y, step=7)
    assert cand[0].size < V
    model.compute_grads(x, y, "cross_entropy", sampled=cand)
    g = model.grad.copy()
    rng = np.random.default_rng(4)
    P = model.n_recurrent
    picks = np.concatenate([rng.choice(P, 12, replace=False),            # the layer
                            P + (cand[0][:6] % V),                       # the head, drawn classes (row 0)
                            [model.params.size - V + int(cand[0][0])]])  # a drawn class's bias
    for i in picks:
        old = model.params[i]
        vals = []
        for h in (1e-6, -1e-6):
            model.params[i] = old + h
            vals.append(model.compute_grads(x, y, "cross_entropy", sampled=cand)[0])
        model.params[i] = old
        assert abs((vals[0] - vals[1]) / 2e-6 - g[i]) < 1e-7 * max(1.0, abs(g[i]))
    outside = np.setdiff1d(np.arange(V), cand[0])
    V_grad = g[P:P + model.n_units * V].reshape(model.n_units, V)
    assert not np.any(V_grad[:, outside]) and not np.any(g[-V:][outside])


def _word_data(V_words=200, T=10, N=240, seed=0):
    """A deterministic next-word rule (w → 7w + 3 mod V) over a text of V_words words."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, V_words, N)
    seq = np.empty((N, T + 1), dtype=np.int64)
    seq[:, 0] = start
    for t in range(T):
        seq[:, t + 1] = (7 * seq[:, t] + 3) % V_words
    cut = N * 3 // 4
    return TrainData(seq[:cut, :-1], seq[:cut, 1:], seq[cut:, :-1], seq[cut:, 1:], loss="cross_entropy")


def test_training_with_it_lowers_the_exact_validation_loss():
    data = _word_data()
    model = make_model("lstm", 200, 24, 200, seed=0)
    trainer = Trainer(model, data, lr=0.02, batch_size=16, epochs=12, sampled=16)
    assert trainer.sampler is not None and trainer.sampler.num_sampled == 16
    start = trainer.val_loss()
    for _ in trainer.steps():
        pass
    end = trainer.val_loss()
    assert start > np.log(200) - 0.3 and end < 0.5 * start
    # the validation loss is the full softmax's cross-entropy of the model's outputs
    y = model.predict(data.x_val)
    logz = np.log(np.exp(y - y.max(-1, keepdims=True)).sum(-1)) + y.max(-1)
    exact = np.mean(logz - np.take_along_axis(y, data.y_val[..., None], -1)[..., 0])
    assert abs(end - exact) < 1e-12
    assert trainer.history[-1]["val_loss"] == pytest.approx(end, abs=0)


def test_steps_draw_by_step_number_so_a_resumed_run_draws_the_same():
    data = _word_data()
    a = Trainer(make_model("lstm", 200, 8, 200, seed=0), data, batch_size=16, epochs=2, sampled=16)
    for _ in a.steps(max_steps=5):
        pass
    b = Trainer(make_model("lstm", 200, 8, 200, seed=0), data, batch_size=16, epochs=2, sampled=16)
    b.load_state_dict(a.state_dict())
    b.model.params[:] = a.model.params
    for _ in a.steps(max_steps=3):
        pass
    for _ in b.steps(max_steps=3):
        pass
    assert np.array_equal(a.model.params, b.model.params)


def test_which_runs_sample():
    ys = np.zeros((4, 5), dtype=np.int64)
    assert sampler_for(3000, "cross_entropy", ys, 512) is not None
    assert sampler_for(2048, "cross_entropy", ys, 512) is None            # vocabulary ≤ 4 · S
    assert sampler_for(3000, "cross_entropy", ys, 0) is None              # turned off
    assert sampler_for(3000, "cross_entropy", ys[:, 0], 512) is None      # one class per sequence
    assert sampler_for(3000, "mse", ys, 512) is None


def test_the_setting(monkeypatch):
    monkeypatch.delenv("LSTM_EXPLORER_SAMPLED_SOFTMAX", raising=False)
    set_sampled(None)
    assert get_sampled() == 512
    monkeypatch.setenv("LSTM_EXPLORER_SAMPLED_SOFTMAX", "64")
    assert get_sampled() == 64
    set_sampled(0)
    try:
        assert get_sampled() == 0
    finally:
        set_sampled(None)
    monkeypatch.setenv("LSTM_EXPLORER_SAMPLED_SOFTMAX", "many")
    with pytest.raises(SampledSettingError, match="^LSTM_EXPLORER_SAMPLED_SOFTMAX='many' is not a number"):
        get_sampled()


def _prose(path, words=3000):
    rng = np.random.default_rng(0)
    vocab = [f"w{k}" for k in range(2500)]
    ids = np.minimum(rng.zipf(1.2, words) - 1, len(vocab) - 1)
    path.write_text(" ".join(vocab[i] for i in ids) + ".\n", encoding="utf-8")
    return path


def test_the_command_line_says_it_and_turns_it_off(tmp_path, capsys, monkeypatch):
    from explorer.cli import main

    monkeypatch.delenv("LSTM_EXPLORER_SAMPLED_SOFTMAX", raising=False)
    prose = _prose(tmp_path / "p.txt")
    try:
        assert main(["train", str(prose), "--words", "--epochs", "1", "--no-plots", "--quiet",
                     "--sampled-softmax", "64", "--out", str(tmp_path / "a")]) == 0
        err = capsys.readouterr().err
        assert "sampled softmax in training" not in err                   # --quiet
        assert main(["train", str(prose), "--words", "--epochs", "1", "--no-plots",
                     "--sampled-softmax", "64", "--out", str(tmp_path / "b")]) == 0
        err = capsys.readouterr().err
        assert "sampled softmax in training: each step's targets and 64 sampled words of" in err
        assert main(["train", str(prose), "--words", "--epochs", "1", "--no-plots",
                     "--sampled-softmax", "0", "--out", str(tmp_path / "c")]) == 0
        assert "sampled softmax" not in capsys.readouterr().err
        assert main(["train", str(prose), "--words", "--epochs", "1", "--no-plots",
                     "--sampled-softmax", "x", "--out", str(tmp_path / "d")]) == 2
        assert capsys.readouterr().err.strip() == (
            "lstm-explorer: --sampled-softmax='x' is not a number of sampled words (a whole number from 1, or 0 for "
            "the full softmax at every step); set it to one or unset it.")
        assert not (tmp_path / "d").exists()
    finally:
        set_sampled(None)


def test_a_sampled_step_over_thirty_thousand_words_needs_a_fifth_of_the_full_ones_memory():
    import tracemalloc

    V_big, n, T, B = 30_000, 16, 20, 16
    ids = np.random.default_rng(0).integers(0, V_big, size=(2 * B, T + 1))
    data = TrainData(ids[:, :-1], ids[:, 1:], loss="cross_entropy")
    peaks = {}
    for S in (0, 512):
        tr = Trainer(make_model("lstm", V_big, n, V_big, seed=0), data, batch_size=B, epochs=1, sampled=S)
        steps = tr.steps()
        next(steps)                                          # Adam's moments are allocated here
        tracemalloc.start()
        next(steps)
        peaks[S] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    params = 8 * (4 * n * (V_big + n + 1) + (n + 1) * V_big)
    assert peaks[512] < 0.3 * peaks[0], peaks                 # measured: 4.6 MB vs 23.1 MB
    assert peaks[512] < 0.5 * params                         # no temporary the size of the weights (Adam's)

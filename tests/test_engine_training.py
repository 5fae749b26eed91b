"""Optimisers, clipping and the training generator."""

import math

import numpy as np
import pytest

from explorer.engine import (SGD, Adam, LSTMModel, Momentum, TrainData, Trainer,
                             clip_by_global_norm, make_optimizer)


def test_sgd_and_momentum_follow_their_formulas():
    p = np.array([1.0, -2.0])
    g = np.array([0.5, 0.25])
    SGD(0.1).step(p, g)
    np.testing.assert_allclose(p, [0.95, -2.025])
    p = np.zeros(2)
    opt = Momentum(0.1, momentum=0.9)
    opt.step(p, g)
    opt.step(p, g)                      # v = 0.9 g + g
    np.testing.assert_allclose(p, -0.1 * g - 0.1 * 1.9 * g)


def test_adam_matches_textbook_formula():
    rng = np.random.default_rng(0)
    p = rng.normal(size=5)
    ref = p.copy()
    m = np.zeros(5)
    v = np.zeros(5)
    opt = Adam(0.01)
    for t in range(1, 6):
        g = rng.normal(size=5)
        opt.step(p, g)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        ref -= 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-15)


def test_clip_by_global_norm_returns_norm_before_clipping():
    g = np.array([3.0, 4.0])
    norm, clipped = clip_by_global_norm(g, 1.0)
    assert norm == 5.0 and clipped
    assert np.linalg.norm(g) == pytest.approx(1.0)
    g = np.array([0.3, 0.4])
    assert clip_by_global_norm(g, 1.0) == (pytest.approx(0.5), False)
    np.testing.assert_array_equal(g, [0.3, 0.4])
    with pytest.raises(ValueError):
        make_optimizer("rmsprop", 0.1)


def sine_data(N=96, T=12, seed=0):
    rng = np.random.default_rng(seed)
    start = rng.uniform(0, 2 * np.pi, N)
    t = start[:, None] + 0.3 * np.arange(T + 1)
    s = np.sin(t)
    x, y = s[:, :T, None], s[:, T:T + 1]
    return TrainData(x[:64], y[:64], x[64:], y[64:], loss="mse")


def make_trainer(**kw):
    model = LSTMModel(1, 6, 1, seed=1)
    args = dict(optimizer="adam", lr=0.02, clip=1.0, batch_size=16, epochs=3, seed=0)
    args.update(kw)
    return Trainer(model, sine_data(), **args)


def test_training_reduces_loss_and_snapshots_are_complete():
    tr = make_trainer(epochs=8)
    snaps = list(tr.steps())
    assert len(snaps) == 8 * 4 == tr.total_steps
    assert [s.step for s in snaps] == list(range(1, 33))
    ends = [s for s in snaps if s.epoch_end]
    assert [s.epoch for s in ends] == list(range(1, 9))
    assert ends[-1].done and not any(s.done for s in snaps[:-1])
    assert ends[-1].val_loss < ends[0].val_loss / 2
    s = snaps[5]
    assert set(s.gate_norms) == {"i", "f", "g", "o", "head"}
    # per-gate norms partition the gradient: their squares sum to the global norm's square
    assert sum(v * v for v in s.gate_norms.values()) == pytest.approx(s.grad_norm ** 2, rel=1e-10)
    assert s.norms_dh.shape == (12,) and s.norms_dc.shape == (12,)
    assert tr.sample_trace().x.shape == (1, 12, 1)
    # history: one row per epoch, means over the epoch's steps
    assert len(tr.history) == 8
    first = tr.history[0]
    assert first["train_loss"] == pytest.approx(np.mean([x.loss for x in snaps[:4]]))
    assert first["grad_norm"] == pytest.approx(np.mean([x.grad_norm for x in snaps[:4]]))
    assert first["clipped_fraction"] == np.mean([x.clipped for x in snaps[:4]])


def test_snapshots_hold_copies_not_views():
    tr = make_trainer()
    gen = tr.steps()
    a = next(gen)
    dh, gates = a.norms_dh.copy(), dict(a.gate_norms)
    for _ in range(5):
        next(gen)
    np.testing.assert_array_equal(a.norms_dh, dh)
    assert a.gate_norms == gates


def test_trace_is_of_the_chosen_sample_with_current_weights():
    tr = make_trainer(sample_index=3)
    s = next(tr.steps())
    assert not hasattr(s, "trace")                 # the trainer builds no traces while training
    expect = tr.model.forward(tr.data.x_val[3:4])
    np.testing.assert_array_equal(tr.sample_trace().h, expect.h)


def test_clipping_is_reported():
    tr = make_trainer(clip=1e-3, epochs=1)
    snaps = list(tr.steps())
    assert all(s.clipped for s in snaps)
    assert tr.history[0]["clipped_fraction"] == 1.0


def test_same_seed_same_training_bit_for_bit():
    a, b = make_trainer(), make_trainer()
    la = [s.loss for s in a.steps()]
    lb = [s.loss for s in b.steps()]
    assert la == lb
    assert a.model.params.tobytes() == b.model.params.tobytes()
    c = make_trainer(seed=1)
    list(c.steps())
    assert c.model.params.tobytes() != a.model.params.tobytes()


@pytest.mark.parametrize("stop_at", [2, 4, 7])
def test_interrupted_and_resumed_equals_uninterrupted(stop_at):
    ref = make_trainer()
    ref_losses = [s.loss for s in ref.steps()]
    first = make_trainer()
    losses = [s.loss for s in first.steps(max_steps=stop_at)]
    state = first.state_dict()
    weights = first.model.state_dict()
    second = make_trainer()
    second.model.load_state_dict(weights)
    second.load_state_dict(state)
    losses += [s.loss for s in second.steps()]
    assert losses == ref_losses
    assert second.model.params.tobytes() == ref.model.params.tobytes()
    assert second.history == ref.history


def test_non_finite_loss_refuses_the_step_and_keeps_weights():
    data = sine_data()
    data.x_train = data.x_train.copy()
    data.x_train[:] = np.nan
    model = LSTMModel(1, 4, 1, seed=0)
    before = model.params.copy()
    snaps = list(Trainer(model, data, batch_size=16, epochs=2).steps())
    assert len(snaps) == 1 and snaps[0].refused
    assert "learning rate" in snaps[0].message
    assert math.isnan(snaps[0].grad_norm)
    np.testing.assert_array_equal(model.params, before)


def test_extend_continues_from_current_weights():
    tr = make_trainer(epochs=1)
    list(tr.steps())
    w = tr.model.params.copy()
    tr.extend(2)
    snaps = list(tr.steps())
    assert len(snaps) == 8 and snaps[0].step == 5 and snaps[0].epoch == 2
    assert not np.array_equal(w, tr.model.params)


def test_loss_scale_reports_target_units():
    data = sine_data()
    data.loss_scale = 4.0
    a = Trainer(LSTMModel(1, 4, 1, seed=0), data, epochs=1, batch_size=16)
    b = Trainer(LSTMModel(1, 4, 1, seed=0), sine_data(), epochs=1, batch_size=16)
    la, lb = [s.loss for s in a.steps()], [s.loss for s in b.steps()]
    np.testing.assert_allclose(la, 4.0 * np.array(lb), rtol=1e-12)


def test_cross_entropy_training_learns_first_symbol():
    rng = np.random.default_rng(0)
    N, T, V = 512, 6, 3
    sym = rng.integers(0, V, size=(N, T))
    x = np.eye(V)[sym]
    y = sym[:, 0]
    data = TrainData(x[:400], y[:400], x[400:], y[400:], loss="cross_entropy")
    model = LSTMModel(V, 8, V, seed=0)
    tr = Trainer(model, data, lr=0.03, batch_size=32, epochs=15)
    list(tr.steps())
    pred = model.predict(x[400:])[:, -1].argmax(axis=1)
    assert (pred == y[400:]).mean() > 0.9


def test_stop_during_the_epoch_end_validation_leaves_its_loss_empty_at_once():
    """A stop asked while the validation loss is computed ends that evaluation at once: the epoch
    is recorded with val_loss NaN and the weights of its last step stay."""
    import math

    from explorer.engine import LSTMModel, TrainData, Trainer

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 6, 1)), rng.normal(size=(8, 1))
    tr = Trainer(LSTMModel(1, 3, 1, seed=0), TrainData(x, y, x[:4], y[:4]), batch_size=8, epochs=1)
    # False during the training step (step 0), True once it is taken: inside the evaluation
    snaps = list(tr.steps(interrupt=lambda: tr.step >= 1))
    assert len(snaps) == 1 and snaps[0].epoch_end and math.isnan(snaps[0].val_loss)
    assert math.isnan(tr.history[0]["val_loss"]) and tr.step == 1

"""Evaluation (validation, predictions, the window's display) runs in chunks sized by the memory a
training batch needs: its peak stays within a small factor of a training step's, its numbers equal
those of one pass over every sequence, and the run's memory check counts it with the same chunks."""

import tracemalloc

import numpy as np
import pytest

import explorer.engine.model as engine_model
from explorer.data.examples import load_example
from explorer.engine.model import make_model
from explorer.engine.trainer import Trainer, TrainData
from explorer.runs.store import ModelSettings, Run, check_run_memory, estimate_run_bytes
from explorer.util.ram import MemoryBudgetError


def peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def series(n, T, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, T, 1))
    return x, x.sum(axis=1)


def test_the_evaluation_chunk_fits_the_budget_or_a_training_batch():
    m = make_model("lstm", 1, 512, 1)
    budget = engine_model.EVAL_BYTES
    chunk = m.eval_batch_size(100)
    assert chunk > 1
    assert m.estimate_bytes(chunk, 100, trace=False) <= budget < m.estimate_bytes(chunk + 1, 100, trace=False)
    assert m.eval_batch_size(500) == 1                 # one sequence alone is over the floor: one at a time
    # a training batch that needs more than the floor: evaluation may use as much, no more
    train = m.estimate_bytes(8, 500, trace=False)
    assert train > budget
    assert m.eval_batch_size(500, train_batch=8) == 8
    # small models evaluate up to 256 at once, and never more rows than asked for
    small = make_model("lstm", 1, 8, 1)
    assert small.eval_batch_size(20) == 256
    assert small.eval_batch_size(20, rows=7) == 7


def test_evaluate_and_predict_in_chunks_equal_one_pass():
    m = make_model("gru", 1, 16, 1, num_layers=2, bidirectional=True, seed=3)
    x, y = series(37, 30)
    whole = m.evaluate(x, y, "mse", batch_size=37)
    assert m.evaluate(x, y, "mse", batch_size=5) == pytest.approx(whole, rel=1e-12)
    np.testing.assert_allclose(m.predict(x, batch_size=4), m.predict(x, batch_size=37), rtol=0, atol=1e-12)
    ids = np.random.default_rng(1).integers(0, 50, (23, 12))
    t = make_model("lstm", 50, 8, 50, seed=2)
    np.testing.assert_array_equal(t.predict_classes(ids, batch_size=3), t.predict_classes(ids, batch_size=23))


def test_validation_peak_stays_within_twice_a_training_step(monkeypatch):
    # long sequences, small batches, many validation sequences: 256 at once would need ~60× a step
    monkeypatch.setattr(engine_model, "EVAL_BYTES", 1 << 20)
    x, y = series(8, 300)
    xv, yv = series(120, 300, seed=1)
    model = make_model("lstm", 1, 32, 1)
    tr = Trainer(model, TrainData(x, y, xv, yv, loss="mse"), batch_size=2, epochs=1)
    step = peak_bytes(lambda: next(tr.steps()))
    assert tr.eval_batch_size() == 2
    val = peak_bytes(tr.val_loss)
    assert val <= 2 * step, (val, step)
    assert model.estimate_bytes(120, 300, trace=False) > 20 * step
    assert tr.val_loss() == pytest.approx(model.evaluate(xv, yv, "mse", batch_size=120), rel=1e-12)


def test_display_predictions_use_the_validation_chunk(monkeypatch):
    monkeypatch.setattr(engine_model, "EVAL_BYTES", 1 << 20)
    ds = load_example("sine", n_points=2000, seq_len=300)
    run = Run(ds, ModelSettings(units=32, batch=2, epochs=1))
    next(run.trainer.steps())
    step = peak_bytes(lambda: next(run.trainer.steps()))
    calls = []
    real = run.model.predict
    monkeypatch.setattr(run.model, "predict", lambda x, **kw: calls.append(len(x)) or real(x, **kw))
    val = peak_bytes(lambda: run.predictions())
    assert max(calls) == 2 and sum(calls) == ds.n_val
    assert val <= 2 * step + ds.n_val * 8 * 4, (val, step)


def test_1024_units_at_length_500_with_batch_2_fits_where_training_fits(monkeypatch):
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", str(int(24 * 1024**3 * 0.6)))
    ds = load_example("sine", n_points=20000, seq_len=500)
    check_run_memory(ds, ModelSettings(units=1024, batch=2))
    need = estimate_run_bytes("lstm", 1, 1024, 1, 500, 2, n_train=ds.n_train, n_val=ds.n_val)
    # validation runs in chunks of the training batch: it shares the batch's workspace, adds none
    assert need == estimate_run_bytes("lstm", 1, 1024, 1, 500, 2, n_train=ds.n_train, n_val=0)
    assert need < 1024**3
    with pytest.raises(MemoryBudgetError, match="needs about"):
        check_run_memory(ds, ModelSettings(units=1024, batch=256))

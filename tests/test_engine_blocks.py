"""The LSTM's backward a block of steps at a time (its factors, its weight gradient and dx) gives
the numbers of one block over the whole sequence, clamps across block boundaries included."""

import numpy as np
import pytest

from explorer.engine import cells, make_model
from explorer.engine.interventions import Clamp

B, T, M, N, K = 4, 23, 3, 6, 2


def grads(model, x, y, interventions=None):
    """``(loss, {key: gradient copy}, norms)``, dx, dh0 and dc0 included."""
    value, g, norms = model.loss_and_grads(x, y, "mse", with_norms=True, with_input_grads=True,
                                           interventions=interventions)
    return value, {k: np.array(v, copy=True) for k, v in g.items()}, norms


@pytest.mark.parametrize("kind", ["lstm", "peephole"])
@pytest.mark.parametrize("layers, bi", [(1, False), (2, True)])
@pytest.mark.parametrize("clamped", [False, True])
def test_blocks_of_steps_give_the_whole_sequence_numbers(monkeypatch, kind, layers, bi, clamped):
    rng = np.random.default_rng(7)
    model = make_model(kind, M, N, K, num_layers=layers, bidirectional=bi, seed=3)
    model.params[...] += 0.2 * rng.standard_normal(model.params.size)
    x, y = rng.standard_normal((B, T, M)), rng.standard_normal((B, T, K))
    ivs = [Clamp("f", 0.9, units=[1, 4], steps=list(range(2, 9))), Clamp("h", 0.1, units=[0], steps=[5, 6, 7])] \
        if clamped else None
    monkeypatch.setattr(cells, "FACTOR_BLOCK_BYTES", 1 << 30)          # one block: the whole sequence
    monkeypatch.setattr(cells, "CONTRACT_MIN_COLUMNS", 1 << 30)
    whole = grads(model, x, y, ivs)
    assert model.cell._factor_steps(B) >= T
    monkeypatch.setattr(cells, "FACTOR_BLOCK_BYTES", 12 * N * B * 8 * 3)   # 3 steps of factors at a time
    monkeypatch.setattr(cells, "CONTRACT_MIN_COLUMNS", 5 * B)             # the weight gradient every 6 steps
    assert model.cell._factor_steps(B) == 3
    blocked = grads(model, x, y, ivs)
    assert blocked[0] == pytest.approx(whole[0], abs=1e-14)
    assert blocked[1].keys() == whole[1].keys()
    for key, g in whole[1].items():
        assert np.max(np.abs(blocked[1][key] - g)) <= 1e-12 * max(1.0, np.max(np.abs(g))), key
        assert np.any(g != 0.0), key
    np.testing.assert_allclose(blocked[2].dh_layers, whole[2].dh_layers, rtol=1e-12, atol=0)
    np.testing.assert_allclose(blocked[2].dc_layers, whole[2].dc_layers, rtol=1e-12, atol=0)
    if clamped:                                 # a held f passes no gradient to its weights' rows
        free = make_model(kind, M, N, K, num_layers=layers, bidirectional=bi, seed=3)
        free.params[...] = model.params
        assert not np.allclose(grads(free, x, y)[1]["weight_hh_l0"], whole[1]["weight_hh_l0"])


def test_blocks_of_steps_with_token_ids(monkeypatch):
    rng = np.random.default_rng(8)
    model = make_model("lstm", 11, N, K, num_layers=2, bidirectional=True, seed=4)
    x, y = rng.integers(0, 11, (B, T)), rng.standard_normal((B, T, K))
    monkeypatch.setattr(cells, "FACTOR_BLOCK_BYTES", 1 << 30)
    whole = grads(model, x, y)
    monkeypatch.setattr(cells, "FACTOR_BLOCK_BYTES", 12 * N * B * 8 * 2)   # 2 steps of factors at a time
    monkeypatch.setattr(cells, "CONTRACT_MIN_COLUMNS", 3 * B)
    blocked = grads(model, x, y)
    assert "x" not in whole[1] and blocked[1].keys() == whole[1].keys()
    for key, g in whole[1].items():
        assert np.max(np.abs(blocked[1][key] - g)) <= 1e-12 * max(1.0, np.max(np.abs(g))), key

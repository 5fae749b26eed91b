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


@pytest.mark.parametrize("rows, K, N, limit, expected", [
    (512, 130, 32, 10**6, ((0, 176), (176, 344), (344, 512))),     # n = 128: three blocks of ≤ 240 rows
    (1024, 258, 32, 10**6, ((0, 120), (120, 240)) + tuple(zip(range(240, 1024, 112), range(352, 1025, 112)))),
    (128, 512, 32, 10**6, ((0, 48), (48, 88), (88, 128))),           # the backward's U @ dz at n = 128
    (256, 66, 32, 10**6, ((0, 256),)),                               # n = 64 fits whole
    (256, 1024, 64, 10**6, ((0, 256),)),                             # blocks of < 24 rows: whole
    (1024, 258, 64, 10**6, tuple(zip(range(0, 784, 56), range(56, 785, 56))) + tuple(zip(range(784, 1024, 48), range(832, 1025, 48)))),
    (512, 130, 32, None, ((0, 512),)),                               # a BLAS without small kernels
])
def test_product_blocks_fit_the_small_kernels(rows, K, N, limit, expected):
    got = cells.product_blocks(rows, K, N, limit)
    assert got == expected
    if N > cells.SMALL_BLOCK_MAX_N32:                                    # single precision: packed
        assert cells.product_blocks(rows, K, N, limit, itemsize=4) == ((0, rows),)
    assert got[0][0] == 0 and got[-1][1] == rows
    assert all(a[1] == b[0] for a, b in zip(got, got[1:]))               # contiguous, no overlap
    if len(got) > 1:
        assert all((r1 - r0) * K * N <= limit and r1 - r0 >= cells.SMALL_BLOCK_MIN_ROWS for r0, r1 in got)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-13), (np.float32, 1e-5)])
@pytest.mark.parametrize("rows, K", [(512, 130), (128, 512), (40, 7)])
def test_row_product_is_the_product(monkeypatch, dtype, tol, rows, K):
    monkeypatch.setattr(cells.blas, "small_product_limit", lambda: 10**6)
    rng = np.random.default_rng(1)
    M = rng.standard_normal((rows, K)).astype(dtype)
    X = rng.standard_normal((3, K, 32)).astype(dtype)[1]                  # a per-step view
    out = np.full((rows, 32), np.nan, dtype)
    cells.row_product(M, 32)(X, out)
    want = M.astype(np.float64) @ X.astype(np.float64)
    assert np.max(np.abs(out - want)) <= tol * np.max(np.abs(want))


@pytest.mark.parametrize("kind, tokens, clamped, batch, limit, split", [
    ("lstm", False, False, B, 40_000, {(256, 68): 2, (64, 256): 2}),      # both products in two
    ("lstm", False, True, B, 40_000, {(256, 68): 2, (64, 256): 2}),       # a clamp across both
    ("peephole", False, True, B, 40_000, {(256, 68): 2, (64, 256): 2}),
    ("lstm", True, False, B, 40_000, {(256, 64): 2, (64, 256): 2}),       # token ids: U h alone
    ("lstm", False, False, 1, 5_000, {(256, 68): 4, (64, 256): 1}),       # batch 1: the forward's
])
def test_lstm_gradients_do_not_depend_on_the_product_blocks(monkeypatch, kind, tokens, clamped, batch, limit,
                                                            split):
    """Forced row blocks (any BLAS) give the numbers of whole products: forward, every gradient,
    dx, the state norms — one layer and two bidirectional ones, clamps and token ids included."""
    rng = np.random.default_rng(5)
    vocab = 11
    model = make_model(kind, vocab if tokens else M, 64, K, num_layers=2, bidirectional=True, seed=2)
    model.params[...] += 0.1 * rng.standard_normal(model.params.size)
    x = rng.integers(0, vocab, (batch, T)) if tokens else rng.standard_normal((batch, T, M))
    y = rng.standard_normal((batch, T, K))
    ivs = [Clamp("i", 0.7, units=[1, 40], steps=list(range(3, 12)))] if clamped else None
    monkeypatch.setattr(cells.blas, "small_product_limit", lambda: None)
    whole = grads(model, x, y, ivs)
    monkeypatch.setattr(cells.blas, "small_product_limit", lambda: limit)
    for (rows, k), count in split.items():                 # layer 0's products are really split
        assert len(cells.product_blocks(rows, k, batch)) == count
    blocked = grads(model, x, y, ivs)
    assert blocked[0] == pytest.approx(whole[0], rel=1e-14)
    assert blocked[1].keys() == whole[1].keys()
    for key, g in whole[1].items():
        assert np.max(np.abs(blocked[1][key] - g)) <= 1e-12 * max(1.0, np.max(np.abs(g))), key
    np.testing.assert_allclose(blocked[2].dh_layers, whole[2].dh_layers, rtol=1e-12, atol=0)


def test_numpys_blas_is_looked_up_once_not_at_every_call(monkeypatch):
    """Every forward and backward asks which BLAS NumPy runs (for the product blocks): the answer
    is found once; asking again touches no file."""
    first = cells.blas.numpy_library()

    def looked_again(self):
        raise AssertionError("the BLAS was looked up again")
    monkeypatch.setattr(cells.blas.Path, "resolve", looked_again)
    assert cells.blas.numpy_library() is first
    cells.product_blocks(512, 130, 32)
    model = make_model("lstm", M, N, K, seed=1)
    rng = np.random.default_rng(3)
    model.compute_grads(rng.standard_normal((B, T, M)), rng.standard_normal((B, T, K)))

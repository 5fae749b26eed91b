"""The divergence guard's copies of the weights fit in GUARD_BYTES: a word model (tens of MB of
weights and Adam moments a copy) keeps one sane copy, a small model its eight; a blow-up still
goes back to sane weights."""

import numpy as np

from explorer.app.tasks import GUARD_BYTES, DivergenceGuard
from explorer.engine import make_model
from explorer.engine.trainer import TrainData, Trainer


def _trainer(vocab, units):
    ids = np.arange(40).reshape(4, 10) % vocab
    model = make_model("lstm", vocab, units, vocab, seed=0)
    return Trainer(model, TrainData(ids, (ids + 1) % vocab, loss="cross_entropy"), batch_size=2, epochs=3)


def test_a_word_models_guard_keeps_one_copy_and_a_small_models_eight():
    big = _trainer(10_000, 32)
    per_copy = 3 * big.model.params.nbytes                     # weights + Adam's two moments (after a step)
    assert per_copy > GUARD_BYTES // 2
    for _ in big.steps(max_steps=1):
        pass
    guard = DivergenceGuard(big)
    assert guard.sane.maxlen == 1
    small = DivergenceGuard(_trainer(20, 8))
    assert small.sane.maxlen == 8


def test_a_blow_up_goes_back_to_the_last_sane_weights_with_one_copy():
    tr = _trainer(10_000, 32)
    for _ in tr.steps(max_steps=1):
        pass
    guard = DivergenceGuard(tr)
    kept = tr.model.params.copy()
    for _ in tr.steps(max_steps=1):
        pass
    assert not guard.observe(9.0)                            # sane: the weights before this step are kept
    after = tr.model.params.copy()
    for _ in tr.steps(max_steps=1):
        pass
    assert not guard.observe(9.1)
    assert guard.observe(float("inf"))
    assert guard.restore() == 2
    assert np.array_equal(tr.model.params, after) and not np.array_equal(after, kept)

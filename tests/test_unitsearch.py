"""Select and match (LSTMVis) and the unit finder on models with planted units."""

import numpy as np
import pytest

from explorer.app.tasks import TaskState
from explorer.app.unitsearch import (Match, activations_task, auto_features, find_units, match_ranges,
                                     rank_units, regex_feature, select_units, unit_scores)
from explorer.data import Dataset, load_example
from explorer.data.loading import TextCorpus
from explorer.data.dataset import text_windows
from explorer.engine import make_model


def _marker_model(n=6):
    """An LSTM whose unit 0 fires (h ≈ 0.76) exactly at the adding problem's marked steps."""
    model = make_model("lstm", 2, n, 1, seed=0)
    sd = model.state_dict()
    rng = np.random.default_rng(0)
    W = 0.1 * rng.standard_normal(sd["weight_ih_l0"].shape)
    U = 0.1 * rng.standard_normal(sd["weight_hh_l0"].shape)
    b = np.zeros(4 * n)
    i, f, g, o = (slice(k * n, (k + 1) * n) for k in range(4))
    W[[0, n, 2 * n, 3 * n]] = 0.0
    U[[0, n, 2 * n, 3 * n]] = 0.0
    W[i.start, 1], b[i.start] = 20.0, -10.0          # write only on a marker
    W[g.start, 1], b[g.start] = 20.0, -10.0          # g = +1 on a marker, -1 elsewhere
    b[f.start] = -20.0                               # forget at once: on only at the marked step
    b[o.start] = 20.0
    sd.update(weight_ih_l0=W, weight_hh_l0=U, bias_ih_l0=b, bias_hh_l0=np.zeros(4 * n))
    model.load_state_dict(sd)
    return model


def test_select_and_match_find_the_planted_marker_unit():
    ds = load_example("adding", n_train=50, n_val=40, seq_len=30)
    model = _marker_model()
    x = ds.x_val
    A = activations_task(TaskState(), model, x, "h")
    assert A.shape == (40, 30, 6) and A.dtype == np.float32
    markers = np.argwhere(x[:, :, 1] == 1)           # (sample, t) of every marker
    s, t = markers[0]
    units = select_units(A[s], t, t, threshold=0.5)
    assert list(units) == [0]
    matches = match_ranges(A, units, 0.5, length=1, top=len(markers))
    covered = {(m.sample, t) for m in matches for t in range(m.t0, m.t1 + 1)}
    assert covered == {(int(a), int(b)) for a, b in markers}        # every marker, nothing else
    singles = [m for m in matches if m.t1 == m.t0]
    assert len(singles) >= len(matches) - 2 and all(m.score == pytest.approx(1.0) for m in singles)
    assert matches[0].score == pytest.approx(1.0) and matches[-1].score <= matches[0].score


def test_match_scores_purity_and_length():
    A = np.zeros((2, 10, 3), np.float32)
    A[0, 2:5, 0] = 1            # unit 0 alone, 3 steps: the selection
    A[1, 1:4, 0] = 1            # same length, unit 1 also on for one step: purity (1 + 1/2 + 1)/3
    A[1, 2, 1] = 1
    A[1, 6:12, 0] = 1           # 4 steps (to the end): length 3/4
    units = select_units(A[0], 2, 4, 0.5)
    assert list(units) == [0]
    m = match_ranges(A, units, 0.5, length=3)
    assert m[0] == Match(0, 2, 4, 1.0)
    assert m[1] == Match(1, 1, 3, pytest.approx((1 + 0.5 + 1) / 3))
    assert m[2] == Match(1, 6, 9, pytest.approx(0.75))
    with pytest.raises(ValueError, match="range must lie in 0..9"):
        select_units(A[0], 5, 10, 0.5)


def test_unit_finder_ranks_a_planted_digit_unit_first_on_text():
    text = "the 3 cats ate 12 fish; 7 dogs ran 40 miles and 5 birds sang 9 songs. " * 20
    ds = text_windows(TextCorpus.from_string(text, "char", "t.txt"), seq_len=40)
    V = ds.n_inputs
    model = make_model("rnn", V, 5, V, seed=1)
    sd = model.state_dict()
    sd["weight_ih_l0"] = 0.05 * np.random.default_rng(2).standard_normal((5, V))
    sd["weight_hh_l0"] = 0.05 * np.random.default_rng(3).standard_normal((5, 5))
    digits = [k for k, ch in enumerate(ds.vocab) if ch.isdigit()]
    sd["weight_ih_l0"][3, :] = -2.0
    sd["weight_ih_l0"][3, digits] = 2.0             # unit 3 is the digit detector
    model.load_state_dict(sd)
    A = activations_task(TaskState(), model, ds.x_val, "h")
    f = regex_feature(ds.x_val, ds.vocab, "char", r"\d")
    assert f.sum() == sum(ch.isdigit() for s in ds.x_val for ch in (ds.vocab[i] for i in s))
    ranked = rank_units(A, f, "digit")
    assert ranked[0].unit == 3 and ranked[0].r > 0.95 and ranked[0].rho == pytest.approx(1.0)
    auto = find_units(A, auto_features(ds, ds.x_val))
    assert (auto[0].unit, auto[0].feature) == (3, "digit")


def test_unit_finder_on_a_series_names_the_column():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((60, 25, 2))
    ds = Dataset.from_arrays(x[:40], rng.standard_normal((40, 1)), x[40:], rng.standard_normal((20, 1)),
                             columns=["wind", "temp"])
    model = make_model("rnn", 2, 4, 1, seed=2)
    sd = model.state_dict()
    sd["weight_ih_l0"] = np.zeros((4, 2))
    sd["weight_hh_l0"] = np.zeros((4, 4))
    sd["weight_ih_l0"][2, 1] = 0.5                   # unit 2 follows temp
    sd["weight_ih_l0"][0, 0] = 3.0                   # unit 0 saturates on wind: a lower r
    model.load_state_dict(sd)
    A = activations_task(TaskState(), model, ds.x_val, "h")
    best = find_units(A, auto_features(ds, ds.x_val))
    assert (best[0].unit, best[0].feature) == (2, "temp") and best[0].r > 0.99
    r, rho = unit_scores(A, np.broadcast_to(np.arange(25) % 3, (20, 25)))
    assert np.all(np.abs(r) < 0.3)


def test_a_bad_regex_is_one_sentence():
    with pytest.raises(ValueError, match=r"is not valid .*; fix it and search again"):
        regex_feature(np.zeros((1, 3), int), ["a"], "char", "(")

"""Whole-sequence classes on frames: the ConvLSTM classifier equals a torch reference (golden files
without torch), its data (.npz of frames and labels, the built-in example) and its runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explorer.engine import make_model
from explorer.engine.convlstm_classes import ConvLSTMClassifier

GOLDEN = Path(__file__).parent / "data" / "convlstm_classes_golden.npz"


def golden_cases():
    with np.load(GOLDEN) as z:
        cases = {}
        for key in z.files:
            j, name = key.split(":", 1)
            cases.setdefault(j, {})[name] = z[key]
    return [cases[j] for j in sorted(cases)]


def model_of(state: dict, C, F, K, k, L, peep, frame) -> ConvLSTMClassifier:
    m = make_model("convlstm", n_inputs=C, n_units=F, n_outputs=K, kernel=k, num_layers=L, peephole=bool(peep),
                   frame=frame if peep else None, pool="mean")
    m.load_state_dict(state)
    return m


def check(m, x, labels, loss, logits, grads):
    value, got = m.loss_and_grads(x, labels, with_input_grads=True)
    assert value == pytest.approx(loss, abs=1e-12, rel=1e-12)
    np.testing.assert_allclose(m.forward(x).y, logits, rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.predict(x, batch_size=2), logits, rtol=0, atol=1e-12)
    assert set(got) == set(grads)
    for key, g in grads.items():
        np.testing.assert_allclose(got[key], g, rtol=0, atol=1e-10, err_msg=key)


@pytest.mark.parametrize("case", golden_cases(), ids=lambda c: "C{}-F{}-K{}-k{}-L{}-peep{}".format(*c["config"]))
def test_golden_parity_without_torch(case):
    C, F, K, k, L, peep = (int(v) for v in case["config"])
    state = {n[6:]: v for n, v in case.items() if n.startswith("state.")}
    grads = {n[5:]: v for n, v in case.items() if n.startswith("grad.")}
    m = model_of(state, C, F, K, k, L, peep, case["x"].shape[3:])
    check(m, case["x"], case["labels"], float(case["loss"]), case["logits"], grads)
    assert float(np.abs(grads["weight_hh_l0"]).max()) > 1e-4          # the recurrent path carries gradient


@pytest.mark.parametrize("cfg", [(1, 2, 2, 3, 1, False), (2, 3, 3, 3, 2, True), (1, 4, 5, 5, 1, False),
                                 (3, 2, 2, 1, 3, True)])
def test_torch_parity(cfg):
    torch = pytest.importorskip("torch")
    from convlstm_reference import classifier_reference

    C, F, K, k, L, peep = cfg
    rng = np.random.default_rng(sum(cfg))
    frame = (4, 7)
    m = make_model("convlstm", n_inputs=C, n_units=F, n_outputs=K, kernel=k, num_layers=L, peephole=peep,
                   frame=frame, pool="mean", seed=3)
    m.params[...] = rng.normal(0, 0.5, m.params.shape)
    state = m.state_dict()
    x = rng.normal(0, 1, (4, 5, C, *frame))
    labels = rng.integers(0, K, 4)
    ref = classifier_reference(state, x, labels, L, peep, torch)
    check(m, x, labels, ref["loss"], ref["logits"], ref["grads"])


def test_classifier_contract():
    m = make_model("convlstm", n_inputs=1, n_units=3, n_outputs=4, kernel=3, pool="mean")
    x = np.random.default_rng(0).normal(size=(2, 3, 1, 5, 5))
    tr = m.forward(x)
    assert tr.y.shape == (2, 4) and tr.pooled.shape == (2, 3) and tr.h.shape == (3, 2, 3, 5, 5)
    np.testing.assert_allclose(tr.pooled, tr.h[-1].mean(axis=(2, 3)), atol=1e-15)
    assert m.param_count.total == 4 * 3 * (9 * (1 + 3) + 1) + 4 * (3 + 1)
    assert type(m.clone()) is ConvLSTMClassifier
    np.testing.assert_array_equal(m.predict_classes(x), tr.y.argmax(axis=1))
    with pytest.raises(ValueError, match="class ids must lie in 0 … 3"):
        m.loss_and_grads(x, np.array([0, 4]))
    with pytest.raises(ValueError, match=r"target must be class ids of shape \(2,\)"):
        m.loss_and_grads(x, np.zeros((2, 3, 4, 5, 5)))
    with pytest.raises(ValueError, match="loss is cross_entropy, not 'mse'"):
        m.evaluate(x, np.array([0, 1]), "mse")
    with pytest.raises(ValueError, match="pools with pool='mean'"):
        make_model("convlstm", n_inputs=1, n_units=3, n_outputs=4, pool="attention")

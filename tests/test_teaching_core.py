"""The Qt-free side of the window's teaching instruments (explorer.app.teaching), with values."""

import numpy as np
import pytest

from explorer.app.tasks import TaskState
from explorer.app.teaching import (backward_grads, intervention_effect_task, continuing, grad_norms_of, held_at, intervention_text,
                                   is_small, shown_trace, steps_text)
from explorer.data.examples import load_example
from explorer.engine import Clamp, Interrupted, SetWeight
from explorer.runs.store import Run, settings_for_example


@pytest.fixture(scope="module")
def run():
    r = Run(load_example("sine"), settings_for_example("sine", units=4, epochs=1))
    for _ in r.trainer.steps():
        pass
    return r


def test_texts_are_one_based():
    assert steps_text(None) == "every step"
    assert steps_text(range(9, 20)) == "t = 10\u202620"
    assert steps_text([4]) == "t = 5"
    assert intervention_text(Clamp("f", 1.0, units=[3], steps=range(9, 20))) == "f held at 1 \u00b7 unit 3 \u00b7 t = 10\u202620"
    assert intervention_text(Clamp("h", 0.0, units=[1])) == "h zeroed \u00b7 unit 1 \u00b7 every step"
    assert intervention_text(Clamp("o", 0.25)) == "o held at 0.25 \u00b7 every unit \u00b7 every step"
    assert intervention_text(SetWeight("weight_hh_l0", (5, 2), 0.0)) == "weight_hh_l0[5, 2] set to 0"
    assert continuing([Clamp("f", 1.0), Clamp("i", 0.0, steps=[2]), SetWeight("head.bias", 0, 1.0)]) == \
        [Clamp("f", 1.0), SetWeight("head.bias", 0, 1.0)]


def test_held_at_names_what_is_held_for_one_unit_and_step():
    ivs = [Clamp("f", 1.0, units=[3], steps=range(9, 20)), Clamp("i", 0.0, units=3), Clamp("h", 0.0, steps=[4]),
           Clamp("o", 0.5, layer=1), Clamp("f", 0.25, units=[3], steps=[12]), SetWeight("head.bias", 0, 1.0)]
    assert held_at(ivs, 0, 0, 3, 10) == {"f": 1.0, "i": 0.0}
    assert held_at(ivs, 0, 0, 3, 12) == {"f": 0.25, "i": 0.0}          # the later clamp, as the engine applies them
    assert held_at(ivs, 0, 0, 3, 8) == {"i": 0.0}                       # before t = 10 (0-based 9)
    assert held_at(ivs, 0, 0, 2, 4) == {"h": 0.0}
    assert held_at(ivs, 1, 0, 0, 0) == {"o": 0.5} and held_at(ivs, 0, 1, 3, 10) == {}
    assert held_at([], 0, 0, 0, 0) == {}


def test_frozen_belt_keeps_c0_exactly_and_other_units_move(run):
    w = run.model.state_dict()
    tr = shown_trace(run, w, 2, [Clamp("f", 1.0, units=[3]), Clamp("i", 0.0, units=[3])])
    assert np.all(tr.c[0, :, 3] == tr.c0[0, 3]) and np.all(tr.f[0, :, 3] == 1.0) and np.all(tr.i[0, :, 3] == 0.0)
    free = shown_trace(run, w, 2)
    assert np.array_equal(tr.c[0, 0, :3], free.c[0, 0, :3])                      # step 1: nothing has reached them
    assert np.ptp(free.c[0, :, 3]) > 0.01                                         # without it, the belt moves


def test_silencing_every_unit_leaves_the_bias(run):
    w = run.model.state_dict()
    ds = run.dataset
    cmp = intervention_effect_task(TaskState(), run, w, 1, [Clamp("o", 0.0)], forecast=20)
    # o = 0 everywhere: h = 0, so every output is the head's bias (in the target's units)
    bias = ds.normalizer.inverse(np.array([run.model.state_dict()["head.bias"][0]]), column=ds.target_index)[0]
    assert np.allclose(cmp.predictions_with["prediction"], bias, rtol=0, atol=1e-12)
    assert np.allclose(cmp.predictions_with["forecast"], bias, rtol=0, atol=1e-12)
    assert np.allclose(cmp.sample_with, bias, rtol=0, atol=1e-12)
    assert len(cmp.sample_t) == ds.seq_len and cmp.sample_t[0] == 1
    expect = run.model.evaluate(ds.x_val, ds.y_val, ds.loss) * ds.target_scale ** 2
    assert cmp.loss_without == pytest.approx(expect, rel=1e-12)
    assert cmp.loss_with > 3 * cmp.loss_without
    assert cmp.loss_text().startswith(f"validation loss {cmp.loss_without:.4g} without \u00b7 {cmp.loss_with:.4g} with (")


def test_comparison_of_nothing_is_the_same_and_stops_when_asked(run):
    w = run.model.state_dict()
    cmp = intervention_effect_task(TaskState(), run, w, 0, [])
    assert cmp.loss_with == cmp.loss_without and cmp.loss_text().endswith("(the same)")
    st = TaskState()
    st.request_interruption()
    with pytest.raises(Interrupted):
        intervention_effect_task(st, run, w, 0, [Clamp("f", 1.0)])


def test_backward_grads_are_the_engines(run):
    w = run.model.state_dict()
    x, y = run.sample_pair(1)
    ivs = [Clamp("f", 1.0, units=[0])]
    g = backward_grads(run, w, 1, ivs)
    m = run.model.clone()
    ref = m.state_grads(x, y, loss=run.dataset.loss, interventions=ivs)
    assert np.array_equal(g.dh, ref.dh) and np.array_equal(g.dc, ref.dc)
    assert is_small(run)


@pytest.mark.parametrize("kind, layers, bidirectional", [("lstm", 1, False), ("gru", 2, True), ("rnn", 1, True)])
def test_grad_norms_of_state_grads_are_the_engines_norms_through_time(kind, layers, bidirectional):
    from explorer.engine import make_model

    m = make_model(kind, 2, 5, 1, num_layers=layers, bidirectional=bidirectional, seed=3)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3, 7, 2)), rng.normal(size=(3, 1))
    _, gn, _ = m.compute_grads(x, y, "mse")
    dh, dc = grad_norms_of(m.state_grads(x, y, "mse"))
    np.testing.assert_allclose(dh, gn.dh, rtol=1e-12)
    assert (dc is None) == (gn.dc is None) and (dc is None or np.allclose(dc, gn.dc, rtol=1e-12))
    assert dh.shape == (7,)

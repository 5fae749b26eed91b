"""Interventions on the live cell (Clamp, SetWeight) and the state gradients of BPTT, with exact values."""

import numpy as np
import pytest

from explorer.engine import Clamp, SetWeight
from tests.test_engine_gradcheck import numeric, random_case, rel_err


def setup(kind, n=4, m=2, k=2, T=8, B=3, layers=1, bidirectional=False, seed=0):
    model, rng, x, h0, c0 = random_case(kind, B, T, m, n, k, layers, bidirectional, seed)
    if layers * model.num_directions == 1:
        h0, c0 = h0[0], c0[0]
    return model, rng, x, h0, c0


@pytest.mark.parametrize("kind", ["lstm", "peephole"])
def test_forget_one_input_zero_freezes_the_belt_bit_for_bit(kind):
    model, _, x, h0, c0 = setup(kind)
    tr = model.forward(x, h0, c0, interventions=[Clamp("f", 1.0), Clamp("i", 0.0)])
    for t in range(x.shape[1]):
        np.testing.assert_array_equal(tr.c[:, t], c0)        # exactly c0, every step
    assert (tr.f == 1.0).all() and (tr.i == 0.0).all()      # the trace shows the held values
    free = model.forward(x, h0, c0)
    assert not np.array_equal(free.c, tr.c)


def test_output_gate_zero_silences_a_unit_only_where_held():
    model, _, x, h0, c0 = setup("lstm", T=9)
    u, steps = 2, range(3, 6)
    free = model.forward(x, h0, c0)
    tr = model.forward(x, h0, c0, interventions=[Clamp("o", 0.0, units=[u], steps=steps)])
    assert (tr.h[:, 3:6, u] == 0.0).all() and (tr.o[:, 3:6, u] == 0.0).all()
    np.testing.assert_array_equal(tr.h[:, :3], free.h[:, :3])          # earlier steps untouched
    np.testing.assert_array_equal(tr.c[:, :3], free.c[:, :3])
    np.testing.assert_array_equal(tr.y[:, :3], free.y[:, :3])
    others = [j for j in range(4) if j != u]
    np.testing.assert_array_equal(tr.h[:, 3, others], free.h[:, 3, others])   # other units at the first held step
    np.testing.assert_array_equal(tr.c[:, 3], free.c[:, 3])            # o does not touch the belt there
    assert not np.array_equal(tr.h[:, 6:], free.h[:, 6:])              # later steps feel it
    assert (tr.o[:, 6:, u] != 0.0).all()                               # and the gate is free again


def test_gru_update_gate_one_keeps_h0_bit_for_bit():
    model, _, x, h0, _ = setup("gru")
    tr = model.forward(x, h0, interventions=[Clamp("z", 1.0)])
    for t in range(x.shape[1]):
        np.testing.assert_array_equal(tr.h[:, t], h0)
    assert (tr.z == 1.0).all()


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm", "peephole"])
def test_zeroing_a_units_h(kind):
    model, _, x, h0, c0 = setup(kind, layers=2)
    tr = model.forward(x, h0, c0, interventions=[Clamp("h", 0.0, units=[1])])
    assert (tr.h[:, :, 1] == 0.0).all()
    assert (tr.layer(1).x[:, :, 1] == 0.0).all()             # the layer above reads the zero
    assert (tr.layer(1).h[:, :, 1] != 0.0).all()             # layer 1 itself is free (layer=0 held)
    up = model.forward(x, h0, c0, interventions=[Clamp("h", 0.0, units=1, layer=1)])
    assert (up.layer(1).h[:, :, 1] == 0.0).all() and (up.h[:, :, 1] != 0.0).all()


def test_reverse_direction_clamps_use_the_sequences_steps():
    model, _, x, h0, c0 = setup("lstm", bidirectional=True)
    tr = model.forward(x, h0, c0, interventions=[Clamp("o", 0.0, units=[0], steps=[5, 6], direction=1)])
    rev = tr.layer(0, 1)
    assert (rev.o[:, 5:7, 0] == 0.0).all() and (rev.o[:, :5, 0] != 0.0).all() and (rev.o[:, 7:, 0] != 0.0).all()
    free = model.forward(x, h0, c0).layer(0, 1)
    np.testing.assert_array_equal(rev.h[:, 7:], free.h[:, 7:])   # the reverse direction's earlier steps
    np.testing.assert_array_equal(tr.h, model.forward(x, h0, c0).h)   # the forward direction is untouched


@pytest.mark.parametrize("kind, clamps", [
    ("lstm", [Clamp("f", 1.0, units=[0, 2], steps=range(2, 6)), Clamp("g", -0.3, units=[1])]),
    ("lstm", [Clamp("i", 0.7, steps=[0, 4]), Clamp("h", 0.0, units=[3], steps=range(1, 7))]),
    ("peephole", [Clamp("o", 0.2, units=[1]), Clamp("f", 0.9, steps=range(3)), Clamp("h", 0.5, units=[2])]),
    ("gru", [Clamp("z", 1.0, units=[0]), Clamp("r", 0.4, steps=range(2, 5)), Clamp("h", 0.0, units=[3], steps=[4])]),
    ("rnn", [Clamp("h", 0.0, units=[1], steps=range(3, 7)), Clamp("h", 0.8, units=[2], steps=[0])]),
])
@pytest.mark.parametrize("layers, bidirectional", [(1, False), (2, True)])
def test_gradients_with_interventions_match_finite_differences(kind, clamps, layers, bidirectional):
    model, rng, x, h0, c0 = setup(kind, T=7, B=2, layers=layers, bidirectional=bidirectional, seed=4)
    ivs = clamps + ([Clamp(clamps[0].name, 0.5, units=[0], layer=1, direction=1)] if layers == 2 else [])
    target = rng.normal(size=(2, 7, 2))
    c0 = c0 if kind in ("lstm", "peephole") else None
    _, grads = model.loss_and_grads(x, target, h0=h0, c0=c0, with_input_grads=True, interventions=ivs)

    def f():
        return model.evaluate(x, target, h0=h0, c0=c0, interventions=ivs)

    num = numeric(f, model.params)
    model.compute_grads(x, target, h0=h0, c0=c0, interventions=ivs)
    assert rel_err(num, model.grad) < 1e-6
    assert rel_err(numeric(f, x), grads["x"]) < 1e-6
    assert rel_err(numeric(f, h0), grads["h0"]) < 1e-6


def test_a_gate_held_everywhere_gets_no_gradient():
    """The forget gate of unit 1 held at 1 at every step: its weights and bias get exactly zero."""
    model, rng, x, h0, c0 = setup("lstm")
    n = 4
    _, grads = model.loss_and_grads(x, rng.normal(size=(3, 8, 2)), h0=h0, c0=c0,
                                    interventions=[Clamp("f", 1.0, units=[1])])
    row = n + 1                                              # gate order i, f, g, o: f of unit 1
    assert not grads["weight_ih_l0"][row].any() and not grads["weight_hh_l0"][row].any()
    assert grads["bias_ih_l0"][row] == 0.0
    assert grads["weight_hh_l0"][row + 1].any()              # unit 2's forget gate is free


def test_set_weight_evaluates_a_changed_copy():
    model, _, x, h0, c0 = setup("gru")
    before = model.params.copy()
    tr = model.forward(x, h0, interventions=[SetWeight("weight_hh_l0", (5, 2), 3.0),
                                             SetWeight("head.bias", 1, -2.0)])
    np.testing.assert_array_equal(model.params, before)      # the model's weights are untouched
    other = model.clone()
    sd = other.state_dict()
    sd["weight_hh_l0"][5, 2], sd["head.bias"][1] = 3.0, -2.0
    other.load_state_dict(sd)
    np.testing.assert_array_equal(tr.y, other.forward(x, h0).y)
    assert model.evaluate(x, x[:, -1], interventions=[SetWeight("head.bias", 1, -2.0)]) != model.evaluate(x, x[:, -1])
    # gradients are those at the changed weights
    changed = model.clone()
    sd = changed.state_dict()
    sd["weight_hh_l0"][5, 2] = 3.0
    changed.load_state_dict(sd)
    _, g = model.loss_and_grads(x, x[:, -1], h0=h0, interventions=[SetWeight("weight_hh_l0", (5, 2), 3.0)])
    _, g_changed = changed.loss_and_grads(x, x[:, -1], h0=h0)
    for key in g:
        np.testing.assert_array_equal(g[key], g_changed[key])


@pytest.mark.parametrize("bad, message", [
    (Clamp("o", 1.0), "the gru cell can hold r, z, h"),
    (Clamp("z", 1.0, units=[4]), r"units must lie in 0\.\.3"),
    (Clamp("z", 1.0, steps=range(5, 9)), r"steps must lie in 0\.\.7"),
    (Clamp("z", 1.0, layer=1), r"the model has layers 0\.\.0"),
    (Clamp("z", 1.0, direction=1), "the model has direction 0 only"),
    (SetWeight("weight_hh_l1", 0, 1.0), "the state dict has no 'weight_hh_l1'"),
    (SetWeight("weight_hh_l0", (12, 0), 1.0), r"index \(12, 0\) does not fit 'weight_hh_l0' of shape \(12, 4\)"),
    ("f=1", "is not an intervention"),
])
def test_bad_interventions_are_one_sentence(bad, message):
    model, _, x, h0, _ = setup("gru")
    with pytest.raises(ValueError, match=message):
        model.forward(x, interventions=[bad])


def test_the_fast_path_is_the_same_without_interventions():
    model, _, x, h0, c0 = setup("lstm")
    a, b, c = model.forward(x, h0, c0), model.forward(x, h0, c0, interventions=[]), \
        model.forward(x, h0, c0, interventions=[Clamp("f", 0.5, steps=[])])
    np.testing.assert_array_equal(a.h, b.h)
    np.testing.assert_array_equal(a.h, c.h)


# -- state gradients ----------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["every", "last"])
def test_state_grads_follow_the_belt_recursion_and_match_the_norms(loss):
    model, rng, x, h0, c0 = setup("lstm", T=7)
    target = rng.normal(size=(3, 7, 2) if loss == "every" else (3, 2))
    before = model.grad.copy()
    sg = model.state_grads(x, target, h0=h0, c0=c0)
    np.testing.assert_array_equal(model.grad, before)         # the model's gradient buffer is untouched
    tr = model.forward(x, h0, c0)
    T = 7
    assert sg.dh.shape == sg.dc.shape == (3, T, 4)
    dtanh = 1 - np.tanh(tr.c) ** 2
    for t in range(T):
        expected = sg.dh[:, t] * tr.o[:, t] * dtanh[:, t]
        if t + 1 < T:
            expected = expected + sg.dc[:, t + 1] * tr.f[:, t + 1]
        np.testing.assert_allclose(sg.dc[:, t], expected, rtol=1e-12, atol=1e-15)
    _, _, norms = model.loss_and_grads(x, target, h0=h0, c0=c0, with_norms=True)
    np.testing.assert_allclose(np.sqrt((sg.dh ** 2).sum(axis=(0, 2))), norms.dh, rtol=1e-12)
    np.testing.assert_allclose(np.sqrt((sg.dc ** 2).sum(axis=(0, 2))), norms.dc, rtol=1e-12)


def test_state_grads_are_the_gradient_of_the_rest_of_the_sequence():
    """dL/dh_t is the gradient of the loss of steps t+1.. with respect to their initial state h_t."""
    model, rng, x, h0, c0 = setup("lstm", T=6)
    target = rng.normal(size=(3, 2))                          # last step only
    sg = model.state_grads(x, target, h0=h0, c0=c0)
    t = 2
    first = model.forward(x[:, :t + 1], h0, c0)
    _, rest = model.loss_and_grads(x[:, t + 1:], target, h0=first.h[:, -1], c0=first.c[:, -1],
                                   with_input_grads=True)
    np.testing.assert_allclose(sg.dh[:, t], rest["h0"], rtol=1e-10, atol=1e-15)


def test_state_grads_of_every_layer_and_direction():
    model, rng, x, h0, c0 = setup("gru", layers=2, bidirectional=True)
    target = rng.normal(size=(3, 8, 2))
    sg = model.state_grads(x, target, h0=h0)
    assert sg.dc is None and sg.layer(1, 1).dh.shape == (3, 8, 4)
    _, _, norms = model.loss_and_grads(x, target, h0=h0, with_norms=True)
    for k in range(2):
        both = sg.layer(k, 0).dh ** 2 + sg.layer(k, 1).dh ** 2
        np.testing.assert_allclose(np.sqrt(both.sum(axis=(0, 2))), norms.dh_layers[k], rtol=1e-12)
    # the reverse direction's gradient at its last step (t = 0) comes from the head alone there
    y = model.forward(x, h0).y
    V = model.state_dict()["head.weight"]
    dtop0 = (2 * (y[:, 0] - target[:, 0]) / target.size) @ V
    np.testing.assert_allclose(sg.layer(1, 1).dh[:, 0], dtop0[:, 4:], rtol=1e-12)


def test_state_grads_with_a_held_output_gate():
    """o = 0 at a unit and step: the belt there gets nothing through h (dc = the belt's part)."""
    model, rng, x, h0, c0 = setup("lstm", T=6)
    target = rng.normal(size=(3, 6, 2))
    ivs = [Clamp("o", 0.0, units=[1], steps=[3])]
    sg = model.state_grads(x, target, h0=h0, c0=c0, interventions=ivs)
    tr = model.forward(x, h0, c0, interventions=ivs)
    np.testing.assert_allclose(sg.dc[:, 3, 1], sg.dc[:, 4, 1] * tr.f[:, 4, 1], rtol=1e-12)

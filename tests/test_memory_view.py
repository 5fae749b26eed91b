"""Memory made visible (explorer.app.memory_view): the products of the keep gate along the belt, exact on
made-up gates, right for every cell and direction, and on the adding problem after training: the unit that
holds the first marked value keeps it to the end, and the comparison's table shows the RNN failing."""

import numpy as np
import pytest

from explorer.app import memory_view as mv
from explorer.app.compare import Comparison, comparison_task
from explorer.data.examples import load_example
from explorer.engine import Trace, make_model
from explorer.runs.store import settings_for_example


def made_up(keep, kind="lstm", direction=0):
    """A trace of one sample whose keep gate is ``keep`` (T, n)."""
    keep = np.asarray(keep, dtype=float)
    name = "z" if kind == "gru" else "f"
    return Trace(kind, {"x": np.zeros((1, keep.shape[0], 1)), name: keep[None].copy()}, direction=direction)


def test_products_on_made_up_gates():
    keep = np.array([[0.5, 1.0], [0.5, 0.9], [0.5, 0.0], [0.5, 0.8]])
    tr = made_up(keep)
    np.testing.assert_allclose(mv.memory_products(tr), [[0.5, 1.0], [0.25, 0.9], [0.125, 0.0], [0.0625, 0.0]])
    p = mv.memory_products(tr, since=1)          # written at index 1 (step 2): whole there, then × keep
    assert np.isnan(p[0]).all()
    np.testing.assert_allclose(p[1:], [[1.0, 1.0], [0.5, 0.0], [0.25, 0.0]])
    np.testing.assert_allclose(mv.memory_products(tr, since=-1)[-1], [1.0, 1.0])
    r = mv.memory_to_end(tr)                     # R[t] = keep[t+1] ⋯ keep[T−1]
    np.testing.assert_allclose(r, [[0.125, 0.0], [0.25, 0.0], [0.5, 0.8], [1.0, 1.0]])
    np.testing.assert_allclose(mv.memory_spans(tr), [1.875, 1.8])
    assert mv.memory_unit(tr) == 0
    with pytest.raises(IndexError):
        mv.memory_products(tr, since=4)


def test_a_constant_keep_gives_its_time_constant():
    T, a = 200, 0.9
    tr = made_up(np.full((T, 3), [a, 0.5, 0.99]))
    np.testing.assert_allclose(mv.memory_spans(tr), [(1 - a ** T) / (1 - a), (1 - 0.5 ** T) / 0.5,
                                                     (1 - 0.99 ** T) / 0.01])
    assert mv.memory_unit(tr) == 2
    assert mv.memory_spans(made_up(np.ones((T, 1))))[0] == T          # keeps everything: T steps
    assert mv.memory_spans(made_up(np.zeros((T, 1))))[0] == 1         # forgets at once: its own step


def test_reverse_direction_keeps_along_its_own_order():
    keep = np.array([[0.5], [0.25], [0.1], [0.8]])
    tr = made_up(keep, direction=1)
    # the reverse belt runs from index 3 to 0: from the initial state, index 3 keeps 0.8 first
    np.testing.assert_allclose(mv.memory_products(tr)[:, 0], [0.8 * 0.1 * 0.25 * 0.5, 0.8 * 0.1 * 0.25, 0.8 * 0.1, 0.8])
    p = mv.memory_products(tr, since=2)[:, 0]
    assert np.isnan(p[3]) and np.allclose(p[:3], [0.25 * 0.5, 0.25, 1.0])
    np.testing.assert_allclose(mv.memory_to_end(tr)[:, 0], [1.0, 0.5, 0.5 * 0.25, 0.5 * 0.25 * 0.1])


@pytest.mark.parametrize("kind, gate", [("lstm", "f"), ("peephole", "f"), ("gru", "z"), ("rnn", None)])
def test_every_cell_uses_its_keep_gate(kind, gate):
    x = np.random.default_rng(1).normal(size=(3, 12, 2))
    model = make_model(kind, 2, 5, 1, num_layers=2, bidirectional=True, seed=4)
    trace = model.forward(x)
    assert mv.keep_gate(kind) == gate
    for k, d in ((0, 0), (1, 1)):
        sub = trace.layer(k, d)
        if gate is None:
            assert mv.memory_products(sub) is None and mv.memory_unit(sub) is None
            continue
        keep = getattr(sub, gate)[2]                       # sample 2, (T, n)
        order = range(11, -1, -1) if d else range(12)
        expected, run = np.empty((12, 5)), np.ones(5)
        for t in order:                                    # the running product, step by step
            run = run * keep[t]
            expected[t] = run
        np.testing.assert_allclose(mv.memory_products(sub, sample=2), expected, rtol=1e-13)
        assert mv.memory_to_end(sub, sample=None).shape == (3, 12, 5)
        spans = mv.memory_spans(sub)
        assert spans.shape == (5,) and np.all((spans >= 1) & (spans <= 12))


@pytest.mark.parametrize("kind", ["lstm", "peephole", "gru", "rnn"])
def test_the_keep_gate_is_what_the_description_keeps_on_its_belt(kind):
    from explorer.engine.describe import describe

    d = describe(kind)
    assert mv.keep_gate(kind) == d.keep_gate and (d.keep_gate is None) == (not d.has_belt)
    if not d.has_belt:
        return
    trace = make_model(kind, 2, 4, 1, seed=3).forward(np.random.default_rng(0).normal(size=(1, 5, 2)))
    for t in range(5):
        v = d.unit_values(d.record(trace, 0, t), 2)
        assert v["kept"] == v[d.keep_gate] * v[d.belt_name + "_prev"]     # kept = keep ⊙ belt_{t−1}


# -- the adding problem ------------------------------------------------------------------------------
class Quiet:
    def is_interruption_requested(self):
        return False

    def set_partial_result(self, value):
        pass

    def set_progress(self, fraction):
        pass


@pytest.fixture(scope="module")
def adding():
    """rnn and lstm (8 units, the example's Adam 0.01, batch 32, clipping 1) trained 700 steps side by side."""
    ds = load_example("adding")
    comp = Comparison(ds, settings_for_example("adding", units=8), ["rnn", "lstm"], max_steps=700, eval_every=50)
    result = comparison_task(Quiet(), comp, traces=False)
    return ds, comp, result


def test_adding_the_rnn_stays_at_the_baseline_and_the_lstm_solves_it(adding):
    ds, comp, res = adding
    rnn, lstm = res.of("rnn")[0], res.of("lstm")[0]
    assert rnn.steps_to_target is None and rnn.final_val_loss > 0.15         # predicting the mean: 0.17
    below = [s for s, v in zip(lstm.eval_steps, lstm.eval_losses) if s > 0 and v < 0.01]
    assert lstm.steps_to_target == below[0] and 300 <= below[0] <= 700
    assert lstm.final_val_loss < 0.01
    rows = {r.cell: r for r in res.rows()}
    assert (rows["rnn"].parameters, rows["lstm"].parameters) == (8 * (2 + 8 + 1), 4 * 8 * (2 + 8 + 1))
    assert rows["rnn"].reached_text == "0/1" and rows["lstm"].reached_text == "1/1"
    # the vanishing gradient seen: after training, the RNN's ||dL/dh_t|| spans over ten orders of
    # magnitude from the last step back to the first, the LSTM's ||dL/dc_t|| stays level
    span = lambda n: n.min() / n.max()  # noqa: E731
    assert lstm.norms_step == rnn.norms_step == 700
    assert span(rnn.norms_dh_last) < 1e-10 and span(lstm.norms_dc_last) > 0.3
    assert rnn.norms_dh[-1] / rnn.norms_dh[0] > 1e3                    # already at the first step


def test_adding_one_unit_holds_the_marked_value_to_the_end(adding):
    ds, comp, _ = adding
    model = comp.runs[1].run.model
    x = ds.x_val[:100]
    trace = model.forward(x)
    first = x[:, :, 1].argmax(axis=1)                     # where the first mark is, per sample
    kept = np.array([mv.memory_products(trace, since=first[b], sample=b)[-1] for b in range(len(x))])
    unit = mv.memory_unit(trace)
    # that unit keeps most of what it wrote at the first mark until the last step; the others do not
    assert kept[:, unit].mean() > 0.6
    assert np.delete(kept.mean(axis=0), unit).max() < 0.1
    # and what it holds is the marked value: its cell state right after the first mark follows it
    rows = np.arange(len(x))
    marked = x[rows, first, 0]
    assert abs(np.corrcoef(trace.c[rows, first, unit], marked)[0, 1]) > 0.9
    # untrained, no unit keeps anything that long
    fresh = make_model("lstm", 2, 8, 1, seed=0).forward(x)
    kept0 = np.array([mv.memory_products(fresh, since=first[b], sample=b)[-1] for b in range(len(x))])
    assert kept0.mean(axis=0).max() < 0.01
    rnn_trace = comp.runs[0].run.model.forward(x[:1])
    assert mv.memory_products(rnn_trace) is None

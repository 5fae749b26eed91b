"""The worked example of seed 003: its weights, its exact t = 1 numbers, its notes, its listing."""

import numpy as np
import pytest

from explorer.data import worked_example as we
from explorer.data.examples import example_notes, example_weights, list_examples, load_example
from explorer.engine import make_model
from explorer.runs.store import Run, settings_for_example


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def test_t1_sums_computed_from_the_articles_weights_are_the_seed_readmes():
    z = we.t1_sums()
    # seeds/README.md: f_1 = σ([0.0, −0.5, 0.5]), i_1 = σ([−0.5, −0.5, 0.4]), g_1 = tanh([0.2, 0.1, 0.0]),
    # o_1 = σ([0.5, 0.5, 0.2]) — not the article's printed [−0.1, 0.3, −0.1] for f_1
    np.testing.assert_allclose(z["f"], [0.0, -0.5, 0.5], atol=1e-15)
    np.testing.assert_allclose(z["i"], [-0.5, -0.5, 0.4], atol=1e-15)
    np.testing.assert_allclose(z["g"], [0.2, 0.1, 0.0], atol=1e-15)
    np.testing.assert_allclose(z["o"], [0.5, 0.5, 0.2], atol=1e-15)
    assert not np.allclose(z["f"], we.ARTICLE_PRINTED_T1["f"][0])


def test_a_run_of_the_example_starts_with_exactly_the_articles_weights_and_its_t1_numbers():
    ds = load_example("worked-example")
    assert ds.vocab == ["the", "cat", "sat", "on", "dog"] and ds.n_inputs == 5 and ds.n_outputs == 5
    assert ds.x_train.shape == (1, 5, 5) and ds.y_train.tolist() == [[1, 2, 3, 0, 4]]
    assert ds.x_train[0].argmax(axis=1).tolist() == [0, 1, 2, 3, 0]          # the cat sat on the
    run = Run(ds, settings_for_example("worked-example"))
    sd, want = run.model.state_dict(), we.state_dict()
    assert sorted(sd) == sorted(want)
    for k in want:
        assert np.array_equal(sd[k], want[k]), k
    # the forget gate's block of W is the article's W_f (rows 3..5 in torch's order i, f, g, o)
    assert sd["weight_ih_l0"][3:6].tolist() == [list(r) for r in we.ARTICLE_WEIGHTS["f"][0]]
    tr = run.model.forward(ds.x_train)
    np.testing.assert_allclose(tr.f[0, 0], [0.5, 0.3775406687981454, 0.6224593312018546], rtol=0, atol=1e-15)
    np.testing.assert_allclose(tr.i[0, 0], sigmoid([-0.5, -0.5, 0.4]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(tr.g[0, 0], np.tanh([0.2, 0.1, 0.0]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(tr.o[0, 0], sigmoid([0.5, 0.5, 0.2]), rtol=0, atol=1e-15)
    c1 = sigmoid([-0.5, -0.5, 0.4]) * np.tanh([0.2, 0.1, 0.0])
    np.testing.assert_allclose(tr.c[0, 0], c1, rtol=0, atol=1e-15)
    np.testing.assert_allclose(tr.h[0, 0], sigmoid([0.5, 0.5, 0.2]) * np.tanh(c1), rtol=0, atol=1e-15)
    np.testing.assert_allclose(tr.c[0, 0], [0.07451721, 0.03762872, 0.0], atol=5e-9)
    for name in ("f", "i", "g", "o", "c", "h"):
        np.testing.assert_allclose(we.t1_values()[name], getattr(tr, name)[0, 0], rtol=0, atol=1e-15)
    # the same weights at every step: t = 2 uses the t = 1 W_i column of "cat", not the article's new one
    Wi = np.array(we.ARTICLE_WEIGHTS["i"][0])
    Ui = np.array(we.ARTICLE_WEIGHTS["i"][1])
    bi = np.array(we.ARTICLE_WEIGHTS["i"][2])
    np.testing.assert_allclose(tr.i[0, 1], sigmoid(Wi[:, 1] + Ui @ tr.h[0, 0] + bi), rtol=0, atol=1e-15)


def test_the_preset_is_for_the_model_it_was_made_for_only():
    assert example_weights("worked-example", cell="lstm", units=3) is not None
    assert example_weights("worked-example", cell="gru", units=3) is None
    assert example_weights("worked-example", cell="lstm", units=4) is None
    assert example_weights("adding") is None
    ds = load_example("worked-example")
    run = Run(ds, settings_for_example("worked-example", units=4))
    fresh = make_model("lstm", 5, 4, 5, seed=0).state_dict()
    assert np.array_equal(run.model.state_dict()["weight_ih_l0"], fresh["weight_ih_l0"])


def test_the_notes_mark_the_articles_slips_with_numbers_computed_from_its_weights():
    t1 = example_notes("worked-example", 0)
    assert t1[0] == we.WEIGHTS_NOTE and "t = 2" in t1[0]
    f_note = next(n for n in t1 if n.startswith("The article prints f_1"))
    assert f_note == ("The article prints f_1 = \u03c3([\u22120.1, 0.3, \u22120.1]) = [0.475, 0.574, 0.475]; its own "
                      "weights give \u03c3([0.0, \u22120.5, 0.5]) = [0.500, 0.378, 0.622].")
    assert any("i_1 = \u03c3([\u22120.1, 0.3, 0.3])" in n and "\u03c3([\u22120.5, \u22120.5, 0.4]) = [0.378, 0.378, 0.599]" in n
               for n in t1)
    assert any(n.startswith("The article prints c_1 = [0.052, 0.146, \u22120.005]") and n.endswith("[0.075, 0.038, 0.000].")
               for n in t1)
    t2 = example_notes("worked-example", 1)
    assert any("W_i[:, cat] = [0.3, \u22120.2, 0.3]" in n for n in t2)
    assert any(n.endswith("that product is [0.111, \u22120.107, \u22120.019, 0.013, 0.082].") for n in t2)
    assert example_notes("worked-example", 3) == [we.WEIGHTS_NOTE]
    assert example_notes("adding", 0) == []


def test_examples_lists_it(capsys):
    from explorer.cli import main

    assert "worked-example" in dict(list_examples())
    assert main(["examples"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("worked-example") and "the cat sat on the" in line for line in out.splitlines())


def test_training_it_is_allowed_and_a_saved_run_reopens_with_its_weights(tmp_path):
    run = Run(load_example("worked-example"), settings_for_example("worked-example", epochs=3))
    losses = [s.loss for s in run.trainer.steps()]
    assert len(losses) == 3 and losses[-1] < losses[0]
    run.save(tmp_path / "we")
    back = Run.load(tmp_path / "we")
    for k, v in run.model.state_dict().items():
        assert np.array_equal(back.model.state_dict()[k], v)
    assert back.epoch_weights() == [0, 1, 2, 3]
    for k, v in we.state_dict().items():
        assert np.array_equal(back.epoch_state(0)[k], v)


@pytest.mark.parametrize("t", [0, 1])
def test_the_equations_view_shows_the_correct_numbers_and_the_notes(qtbot, t):
    from explorer.app.session import Session
    from explorer.gui.equations import EquationsView

    run = Run(load_example("worked-example"), settings_for_example("worked-example"))
    session = Session()
    view = EquationsView(session)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    session.set_run(run)
    trace = run.model.forward(run.dataset.x_train)
    session.set_trace(trace, run.model.state_dict())
    session.set_position(t=t, unit=1)
    vals = view.equation_values()
    assert vals["f"]["value"] == trace.f[0, t, 1]
    if t == 0:
        assert vals["f"]["wx"] == -0.3 and vals["f"]["b"] == -0.2 and vals["f"]["preact"] == pytest.approx(-0.5, abs=1e-15)
        assert "0.378" in view.text()
    assert view.notes() == example_notes("worked-example", t)
    text = view.text()
    assert "Notes on this example" in text
    assert ("The article prints f1 = " in text) == (t == 0)           # subscripts drawn as subscripts
    run.trainer.extend(1)
    for _ in run.trainer.steps():
        pass
    session.set_trace(run.model.forward(run.dataset.x_train), run.model.state_dict())
    assert view.notes() == [we.TRAINED_NOTE] and "no longer the article's" in view.text()
    session.set_run(Run(load_example("sine"), settings_for_example("sine")))
    assert view.notes() == [] and "Notes on this example" not in view.text()

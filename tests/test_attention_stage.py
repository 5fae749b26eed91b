"""The attention stage after the last cell: the numbers it draws are the trace's e, α, context and
y; its bars are α tall; in the attention window and in a run's exports."""

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtGui import QImage  # noqa: E402

from explorer.app.labelled import LabelledRun, labelled_settings, labelled_view  # noqa: E402
from explorer.data.examples import load_example  # noqa: E402
from explorer.figures import attention_stage as st  # noqa: E402
from explorer.figures.attention_stage import Stage, export_attention_stage, num  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    run = LabelledRun(load_example("find-the-marker", n_train=300, n_val=40), labelled_settings("find-the-marker",
                                                                                            epochs=4))
    for _ in run.trainer.steps():
        pass
    return run


def own_trace(run, b):
    ds = run.dataset
    return run.model.forward(ds.x_val[b:b + 1], ds.lengths_val[b:b + 1])


def test_the_window_draws_the_stage_with_the_traces_numbers(qtbot, trained):
    from explorer.gui.attention_window import AttentionWindow

    win = AttentionWindow(trained)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.resize(1600, 1000)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.view is not None and win.aux_worker is None, timeout=30000)
    win.sample_spin.setValue(3)
    qtbot.waitUntil(lambda: win.view is not None and win.view.sample == 2 and win.aux_worker is None, timeout=30000)
    stage = win.stage
    stage.record_texts = True
    stage.repaint()
    texts = [t for _, _, t in stage.painted_texts]
    tr = own_trace(trained, 2)
    n = int(trained.dataset.lengths_val[2])
    shown = Stage.of_view(win.view).shown_steps()
    assert len(shown) == min(n, st.MAX_STEPS)
    for t in shown:
        assert num(tr.scores[0, t], st.SCORE_DIGITS) in texts and num(tr.attention[0, t]) in texts
    for v in tr.context[0, :st.MOST_NUMBERS]:
        assert num(v) in texts
    probs = tr.probabilities()[0]
    names = trained.dataset.class_names
    for k in range(2):
        assert f"{names[k]}: y = {num(tr.y[0, k])}  p = {num(probs[k])}" in texts
    best = int(np.argmax(tr.attention[0, :n]))
    assert any(t.endswith(f"largest \u03b1 at t = {best + 1}") for t in texts)
    assert stage.width() >= 700 and stage.height() >= 200           # visible at 1600×1000


def test_the_bars_are_alpha_tall_and_svg_png_and_csv_agree(qtbot, trained, tmp_path):
    view = labelled_view(trained, 5, with_confusion=False)
    stage = Stage.of_view(view)
    files = export_attention_stage(stage, tmp_path)
    assert [f.name for f in files] == ["attention_stage.png", "attention_stage.svg", "attention_stage.csv"]
    img = QImage(str(tmp_path / "attention_stage.png"))
    assert stage.cell is not None and (img.width(), img.height()) == (1900, 340)     # the cell, then the stage
    steps = stage.shown_steps()
    col = (st.COL_X1 - st.COL_X0) / len(steps)
    for k, t in enumerate(steps):
        x = int(st.CELL_W + st.COL_X0 + (k + 0.5) * col)
        top = int(st.BAR_BASE - st.BAR_MAX) - 2
        filled = sum(1 for y in range(top, int(st.BAR_BASE) - 1)
                     if img.pixelColor(x, y).lightness() < 235)
        assert abs(filled - st.BAR_MAX * stage.alpha[t]) <= 2.5, (t, filled, stage.alpha[t])
    svg = (tmp_path / "attention_stage.svg").read_text(encoding="utf-8")
    assert 'viewBox="0 0 1900 340"' in svg and num(stage.alpha[int(np.argmax(stage.alpha))]) in svg
    rows = (tmp_path / "attention_stage.csv").read_text().splitlines()
    assert rows[0] == "t,e,alpha" and len(rows) == 1 + len(stage.alpha)
    t, e, a = rows[1 + int(np.argmax(stage.alpha))].split(",")
    assert float(a) == pytest.approx(stage.alpha.max(), abs=1e-12) and float(e) == pytest.approx(
        stage.scores[int(t)], abs=1e-12)


def test_a_long_sequence_shows_the_steps_around_the_largest_alpha():
    T = 50
    alpha = np.full(T, 0.5 / (T - 1))
    alpha[37] = 0.5
    s = Stage(np.zeros(T), alpha, np.zeros(4), np.zeros(2), np.array([0.5, 0.5]), ["a", "b"])
    shown = s.shown_steps()
    assert len(shown) == st.MAX_STEPS and 37 in shown and shown.start == 37 - st.MAX_STEPS // 2
    alpha = np.roll(alpha, 12)                 # largest at 49: the last steps
    assert Stage(np.zeros(T), alpha, np.zeros(4), np.zeros(2), np.zeros(2), None).shown_steps() == range(T - st.MAX_STEPS, T)


def test_the_cell_before_the_stage_is_the_top_layers_at_the_largest_alpha(trained):
    from explorer.engine import make_model

    view = labelled_view(trained, 7, with_confusion=False)
    stage = Stage.of_view(view)
    tr, n = own_trace(trained, 7), int(trained.dataset.lengths_val[7])
    best = int(np.argmax(tr.attention[0, :n]))
    assert f"t = {best + 1} / {tr.T}" in stage.cell.header
    np.testing.assert_allclose(stage.cell.strip["bar"], tr.h[0, best], rtol=0, atol=1e-12)
    model = make_model("lstm", 2, 3, 2, num_layers=2, bidirectional=True, pool="attention", seed=1)
    x = np.random.default_rng(2).normal(size=(1, 9, 2))
    deep = model.forward(x, np.array([7]))
    frame = st.cell_frame(deep, 4, 1)
    assert "layer 2 of 2" in frame.header and frame.n_units == 3
    np.testing.assert_allclose(frame.strip["bar"], deep.layer(1, 0).c[0, 4], rtol=0, atol=1e-12)


def test_a_text_models_cell_names_its_word():
    run = LabelledRun(load_example("sentiment", n_train=60, n_val=10), labelled_settings("sentiment", epochs=1))
    view = labelled_view(run, 2, with_confusion=False)
    stage = Stage.of_view(view)
    best = int(np.argmax(view.alpha))
    assert stage.cell.values["x_text"] == f"= one-hot({view.tokens[best]!r})"
    assert f"t = {best + 1} / " in stage.cell.header and "forward" in stage.cell.header     # bidirectional

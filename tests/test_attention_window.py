"""The attention window: trains live, draws the selected sample's α, the probabilities and the
confusion matrix from the worker's views; names stay plain text."""

import numpy as np
import pytest

pytest.importorskip("PySide6")

from explorer.app.labelled import LabelledRun, labelled_settings  # noqa: E402
from explorer.data.examples import load_example  # noqa: E402
from explorer.gui.attention_window import EQUATIONS, AttentionWindow  # noqa: E402


def _close(w):
    w.close()
    w.after_close()


def _window(qtbot, run):
    win = AttentionWindow(run)
    qtbot.addWidget(win, before_close_func=_close)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def marker_run():
    return LabelledRun(load_example("find-the-marker", n_train=400, n_val=100),
                       labelled_settings("find-the-marker", epochs=3))


def test_training_draws_attention_probabilities_and_confusion(qtbot, marker_run, tmp_path):
    win = _window(qtbot, marker_run)
    qtbot.waitUntil(lambda: win.view is not None and win.aux_worker is None, timeout=30000)
    with qtbot.waitSignal(win.sigFinished, timeout=120000) as fin:
        assert win.start() or win._start_after_aux
    view = fin.args[0]
    ds = marker_run.dataset
    assert view.epoch == 3 and view.confusion.sum() == ds.n_val
    assert view.alpha.shape == (ds.lengths_val[0],)
    assert abs(view.alpha.sum() - 1.0) < 1e-12
    np.testing.assert_allclose(win.strip.alpha, view.alpha)
    assert win.confusion.counts.sum() == ds.n_val
    assert win.prob_table.rowCount() == 2
    probs = [float(win.prob_table.item(i, 1).text()) for i in range(2)]
    assert abs(sum(probs) - 1.0) < 2e-3
    assert win.true_label.text().startswith(f"true class: {ds.class_names[ds.y_val[0]]}")
    assert win.equations.text().startswith(EQUATIONS["attention"])
    t = int(np.argmax(view.alpha))
    assert f"largest α at t = {t + 1}: e_t = {view.scores[t]:.3f}, α_t = {view.alpha[t]:.3f}" in win.equations.text()
    e = view.scores - view.scores.max()
    np.testing.assert_allclose(view.alpha, np.exp(e) / np.exp(e).sum(), atol=1e-12)   # α is softmax(e)
    assert win.curves.curve("validation")[1][-1] == pytest.approx(view.accuracy)
    with qtbot.waitSignal(win.sigView, timeout=30000, check_params_cb=lambda v: v.sample == 4):
        win.sample_spin.setValue(5)
    assert len(win.strip.alpha) == ds.lengths_val[4]
    assert int(np.argmax(win.strip.alpha)) == int(np.argmax(marker_run.attention("val")[4]))
    for size in ((1600, 1000), (1024, 700)):
        win.resize(*size)
        win.strip.export_png(tmp_path / f"strip{size[0]}.png")
        win.strip.export_svg(tmp_path / f"strip{size[0]}.svg")
        assert (tmp_path / f"strip{size[0]}.png").stat().st_size > 5000
        assert "<svg" in (tmp_path / f"strip{size[0]}.svg").read_text(encoding="utf-8")


def test_stop_keeps_the_weights_and_train_continues(qtbot):
    run = LabelledRun(load_example("sentiment", n_train=300, n_val=60), labelled_settings("sentiment", epochs=200))
    win = _window(qtbot, run)
    qtbot.waitUntil(lambda: win.view is not None and win.aux_worker is None, timeout=30000)
    with qtbot.waitSignal(win.sigView, timeout=60000, check_params_cb=lambda v: v.epoch >= 1):
        win.start()
    with qtbot.waitSignal(win.sigFinished, timeout=30000):
        win.stop()
    qtbot.waitUntil(lambda: win.aux_worker is None, timeout=30000)     # the stopped weights' view
    stopped = run.trainer.step
    assert 0 < stopped < run.trainer.total_steps and not win.training
    assert win.view.step == stopped
    assert win.strip.tokens is not None and len(win.strip.tokens) == run.dataset.lengths_val[0]
    with qtbot.waitSignal(win.sigView, timeout=60000, check_params_cb=lambda v: v.step > stopped):
        assert win.start()
    with qtbot.waitSignal(win.sigFinished, timeout=30000):
        win.stop()
    qtbot.waitUntil(lambda: win.aux_worker is None, timeout=30000)


def test_class_names_with_markup_stay_plain_text(qtbot):
    ds = load_example("find-the-marker", n_train=60, n_val=20)
    ds.class_names = ["<b>low</b>", "<i>high</i>"]
    run = LabelledRun(ds, labelled_settings("find-the-marker", epochs=1))
    win = _window(qtbot, run)
    qtbot.waitUntil(lambda: win.view is not None, timeout=30000)
    assert win.true_label.textFormat() == win.true_label.textFormat().PlainText
    assert "<b>low</b>" in win.true_label.text() or "<i>high</i>" in win.true_label.text()
    assert {win.prob_table.item(i, 0).text() for i in range(2)} == {"<b>low</b>", "<i>high</i>"}
    assert "&lt;" in win.strip._title                  # the plot title is rich text: escaped


def test_the_main_window_opens_labelled_data_in_an_attention_window(qtbot, tmp_path, qsettings):
    from explorer.gui.app import build_window

    win = build_window(settings=qsettings)
    qtbot.addWidget(win, before_close_func=_close)
    (tmp_path / "T_TRAIN.tsv").write_text("".join(f"{k % 2}\t{k % 2}\t{k}\t1\n" for k in range(20)), encoding="utf-8")
    assert win.open_file(tmp_path / "T_TRAIN.tsv")
    att = win.files.attention_windows[-1]
    qtbot.addWidget(att, before_close_func=_close)
    qtbot.waitUntil(lambda: att.view is not None and att.aux_worker is None, timeout=30000)
    assert att.run.dataset.class_names == ["0", "1"] and att.run.dataset.n_train == 16
    assert win.open_example("sentiment")
    second = win.files.attention_windows[-1]
    qtbot.addWidget(second, before_close_func=_close)
    qtbot.waitUntil(lambda: second.view is not None and second.aux_worker is None, timeout=30000)
    assert second.strip.tokens is not None and second.run.settings.bidirectional


def test_the_pool_comparison_trains_both_in_turns_and_says_when_each_reached_95(qtbot):
    run = LabelledRun(load_example("find-the-marker", n_train=640, n_val=200), labelled_settings("find-the-marker",
                                                                                                epochs=6))
    win = _window(qtbot, run)
    qtbot.waitUntil(lambda: win.view is not None and win.aux_worker is None, timeout=30000)
    cmp = win.compare_pools()
    qtbot.addWidget(cmp, before_close_func=_close)
    with qtbot.waitSignal(cmp.sigFinished, timeout=180000) as fin:
        pass
    res = fin.args[0]
    assert res.done and res.steps == {"last": 120, "attention": 120}
    for i, name in enumerate(("last", "attention")):
        hist = res.histories[name]
        assert [h["epoch"] for h in hist] == [1, 2, 3, 4, 5, 6]
        accs = [h["val_accuracy"] for h in hist]
        reached = next((20 * (k + 1) for k, a in enumerate(accs) if a >= 0.95), None)
        assert res.reached[name] == reached
        assert cmp.table.item(i, 3).text() == ("not yet" if reached is None else str(reached))
        np.testing.assert_allclose(cmp.curves.curve(name)[1], accs)
    assert int(cmp.table.item(1, 1).text()) - int(cmp.table.item(0, 1).text()) == 16 * 16 + 2 * 16
    assert run.trainer.step == 0                               # the window's own run is left as it was


def test_the_command_opens_the_attention_window_for_labelled_data(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "T_TRAIN.tsv").write_text("".join(f"{k % 2}\t{k % 2}\t{k}\n" for k in range(12)), encoding="utf-8")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    for args in (["--example", "sentiment"], [str(tmp_path / "T_TRAIN.tsv")]):
        done = subprocess.run([sys.executable, "-m", "explorer", *args, "--quit-after-paint"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

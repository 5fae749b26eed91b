"""The text strip draws words as words, and never under the "next:" text on its right."""

import numpy as np
import pytest

from example_window import shown_example_window
from explorer.gui.text_strip import strip_window


def test_strip_window_keeps_the_current_token_in_the_middle_and_fits():
    assert strip_window([10] * 20, 10, 55) == (8, 13)          # 5 fit, t = 10 in the middle
    assert strip_window([10] * 20, 0, 55) == (0, 5)             # at an end: the rest from one side
    assert strip_window([10] * 20, 19, 55) == (15, 20)
    assert strip_window([30, 40, 50, 20], 2, 100) == (1, 3)     # 40 + 50 fit, 20 more does not
    assert strip_window([300], 0, 100) == (0, 1)                # the current token is always drawn
    widths = [13, 7, 22, 5, 31, 9, 14]
    for t in range(7):
        for avail in (20, 45, 70, 200):
            a, b = strip_window(widths, t, avail)
            assert a <= t < b and (sum(widths[a:b]) <= avail or b - a == 1)


@pytest.fixture
def word_window(qtbot, qsettings, app_paths):
    return shown_example_window(qtbot, qsettings, "worked-example", 3, (1600, 1000))


def test_the_worked_example_strip_shows_its_words(word_window, qtbot):
    strip = word_window.text_strip
    assert strip.level == "word" and strip.chars == ["the", "cat", "sat", "on", "the"]
    assert word_window.settings_panel.level_combo.currentText() == "word"
    tokens, right_edge, text_left = strip.drawn_tokens()
    assert tokens == ["the", "cat", "sat", "on", "the"] and right_edge < text_left
    for w in (700, 420):                             # narrow: fewer words, still clear of "next:"
        strip.setFixedWidth(w)
        qtbot.waitUntil(lambda w=w: strip.width() == w)
        tokens, right_edge, text_left = strip.drawn_tokens()
        assert tokens and right_edge < text_left


def test_the_probability_axis_fits_the_bars(qtbot, tmp_path):
    import csv

    from explorer.figures.plots import PredictionPlotWidget, probability_axis

    assert probability_axis(0.02)[0] == 0.05 and probability_axis(0.15)[0] == 0.2
    assert probability_axis(0.5)[0] == 1.0 and probability_axis(0.9)[0] == 1.15
    assert [lab for _, lab in probability_axis(0.18)[1]] == ["0%", "5%", "10%", "15%", "20%", "25%"]
    w = PredictionPlotWidget()
    qtbot.addWidget(w)
    w.set_top_k(["e", "a", "t", "o", "i"], [0.03, 0.025, 0.02, 0.02, 0.018], t=6, before="The cat", level="char")
    lo, hi = w.plot.getViewBox().viewRange()[0]
    assert lo == 0 and hi == pytest.approx(0.05)                  # a 3 % bar fills 60 % of the axis
    assert "after \u201cThe\u2423cat\u201d (t = 7)" in w._title_text
    w.export_csv(tmp_path / "top.csv")
    with open(tmp_path / "top.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["token", "probability", "t", "after"] and rows[1] == ["e", "0.03", "7", "The cat"]


def test_the_worked_example_predictions_name_words_and_the_step(word_window, qtbot):
    word_window.timebar.set_t(2)
    plot = word_window.prediction_plot
    qtbot.waitUntil(lambda: plot.top_k_context[0] == 2)
    assert plot.top_k_context == (2, "the cat sat")
    assert "next words after \u201cthe cat sat\u201d (t = 3)" in plot._title_text


@pytest.mark.parametrize("values,said", [([0.0, 0.0, 0.0], "every value is 0"),
                                         ([np.inf, np.nan, np.inf], "every value is infinite or not a number"),
                                         ([0.5, 0.0, 0.2], "")])
def test_a_plot_with_nothing_to_draw_says_so(qtbot, values, said):
    from explorer.figures.plots import GradNormPlotWidget, GradThroughTimePlotWidget, LossPlotWidget

    loss, grad, through = LossPlotWidget(), GradNormPlotWidget(), GradThroughTimePlotWidget()
    for w in (loss, grad, through):
        qtbot.addWidget(w)
        w.show()
    loss.set_history([1, 2, 3], values, [])
    grad.set_steps([1, 2, 3], values, {"i": values}, [False] * 3, [1], None)
    through.set_norms(values)
    for w in (loss, grad, through):
        label = w._empty_items[0][1]
        assert w.nothing_to_draw() == said
        assert label.isVisible() == bool(said) and (not said or label.textItem.toPlainText() == said)
        assert (w.plot.getAxis("left")._tickLevels == [[]]) == bool(said)   # no ticks when nothing is drawn

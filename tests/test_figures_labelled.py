"""The attention strip and the confusion matrix: the same picture in PNG and SVG, plain-text names,
the CSV of what is drawn."""

import csv

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtGui import QImage  # noqa: E402

from explorer.figures.labelled import AttentionStripWidget, ConfusionMatrixWidget  # noqa: E402
from test_figures_export import _blocks, _gray, _svg_as_png  # noqa: E402

ALPHA = np.array([0.02, 0.05, 0.6, 0.2, 0.1, 0.03])


def strip_series():
    w = AttentionStripWidget()
    t = np.arange(6)
    w.set_sample(ALPHA, series=np.stack([np.sin(t), (t == 2) * 1.0], axis=1), heading="validation sample 1")
    return w


def strip_text():
    w = AttentionStripWidget()
    w.set_sample(ALPHA, tokens=["the", "<b>film</b>", "great", " ", "and", "fun"], heading="true <pos>")
    return w


def confusion():
    w = ConfusionMatrixWidget()
    w.set_matrix([[30, 2, 0], [4, 25, 1], [0, 3, 35]], ["1", "<i>2</i>", "three"], "Confusion matrix")
    return w


@pytest.mark.parametrize("make", [strip_series, strip_text, confusion])
def test_svg_shows_the_pngs_picture(qtbot, tmp_path, make):
    w = make()
    qtbot.addWidget(w)
    w.export_png(tmp_path / "p.png")
    w.export_svg(tmp_path / "p.svg")
    png = QImage(str(tmp_path / "p.png"))
    svg = _svg_as_png(tmp_path / "p.svg", png.width(), png.height())
    diff = np.abs(_blocks(_gray(png)) - _blocks(_gray(svg)))
    assert diff.mean() < 3.0 and np.percentile(diff, 99) < 40, diff.mean()


def read(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_the_csvs_hold_what_is_drawn(qtbot, tmp_path):
    s, t, c = strip_series(), strip_text(), confusion()
    for w in (s, t, c):
        qtbot.addWidget(w)
    s.export_csv(tmp_path / "s.csv")
    rows = read(tmp_path / "s.csv")
    assert rows[0] == ["t", "alpha", "input 1", "input 2"] and len(rows) == 7
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], ALPHA)
    t.export_csv(tmp_path / "t.csv")
    rows = read(tmp_path / "t.csv")
    assert [r[2] for r in rows[1:]] == ["the", "<b>film</b>", "great", " ", "and", "fun"]
    c.export_csv(tmp_path / "c.csv")
    rows = read(tmp_path / "c.csv")
    assert rows[0] == ["true \\ predicted", "1", "<i>2</i>", "three"] and rows[2] == ["<i>2</i>", "4", "25", "1"]
    assert "&lt;pos&gt;" in t._title and "largest α = 0.600 at t = 3" in t._title

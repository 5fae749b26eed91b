"""The tree window: stepping in evaluation order, the equations of the current node, live training,
exports (PNG = SVG, CSV of every node), opening a tree run folder."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

from explorer.app.tree_train import TreeData, TreeRun, TreeSettings  # noqa: E402
from explorer.app.tree_view import show_tree, tree_layout  # noqa: E402
from explorer.cli import main  # noqa: E402
from explorer.data.trees import make_bank, parse_trees, sentiment_trees  # noqa: E402
from explorer.figures.tree_diagram import TreePicture  # noqa: E402
from explorer.gui.tree_window import TreeWindow, tree_run_from  # noqa: E402


def _run(n=40, cell="nary-treelstm", units=4):
    bank = make_bank(sentiment_trees(n, seed=7), "classes")
    return TreeRun(TreeData.split(bank, 0.25), TreeSettings(cell=cell, units=units, epochs=0, batch=10))


@pytest.fixture
def window(qtbot):
    win = TreeWindow(_run(), "test")
    qtbot.addWidget(win)
    win.resize(1024, 700)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def test_layout_leaves_left_to_right_parents_centred():
    x, depth = tree_layout([[], [], [0, 1], [], [2, 3]])
    assert x.tolist() == [0, 1, 0.5, 2, 1.25] and depth.tolist() == [2, 2, 1, 1, 0]
    x, depth = tree_layout([[], [], [0], [1]])                  # a forest of two chains
    assert x.tolist() == [0, 1, 0, 1] and depth.tolist() == [1, 1, 0, 0]


def test_steps_through_nodes_in_evaluation_order(qtbot, window):
    n = window.current.n_nodes
    assert window.node == n - 1 and window.bar.maximum() == n - 1     # opens on the root
    window.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert window.node == 0 and window.bar.value() == 0
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.node == 2 and window.canvas.picture.step == 2
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert window.node == 1
    window.bar.setValue(n - 1)
    assert window.node == n - 1
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert window.node == n - 1
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert window.tree == 1 and window.node == window.current.n_nodes - 1


def test_equations_show_the_nodes_numbers(window):
    tr = window.current.trace
    root = window.current.n_nodes - 1
    kids = tr.node(root)["children"].tolist()
    text = window.equations.toPlainText().splitlines()
    assert text[0] == f"Node {root}, children {kids}, unit 0"
    assert text[4].startswith(f"f1 (child {kids[0]}) = {tr.f[tr.forest.offsets[root], 0]:+.3f}")
    assert text[6].endswith(f"= {tr.c[root, 0]:+.3f}") and text[7].endswith(f"= {tr.h[root, 0]:+.3f}")
    window.unit_box.setValue(3)
    window.set_node(0)                                            # a leaf: no f term
    text = window.equations.toPlainText().splitlines()
    assert "a leaf, unit 3" in text[0] and not any(t.startswith("f1") for t in text)
    assert text[4] == f"c = i*u = {tr.i[0, 3]:+.3f}*{tr.u[0, 3]:+.3f} = {tr.c[0, 3]:+.3f}"


def test_click_on_a_node_selects_it(qtbot, window):
    pic = window.canvas.picture
    scale, dx, dy = pic.transform(window.canvas.width(), window.canvas.height())
    c = pic.centre(0)
    qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton,
                     pos=QPoint(round(dx + c.x() * scale), round(dy + c.y() * scale)))
    assert window.node == 0 and window.bar.value() == 0


def test_live_training_follows_every_epoch(qtbot, window):
    before = window.model.params.copy()
    window.epochs_per_train = 2
    rows = []
    window.sigTrained.connect(rows.append)
    window.train_button.click()
    qtbot.waitUntil(lambda: len(rows) == 2 and window.worker is None, timeout=60000)
    assert [r["epoch"] for r in rows] == [1, 2]
    np.testing.assert_array_equal(window.model.params, window.run.model.params)
    assert not np.array_equal(window.model.params, before)
    np.testing.assert_allclose(window.current.trace.h, window.model.forward(
        *window.run.data.forest([window.trees[window.tree]])[:1],
        children=window.trees[window.tree].children).h)
    assert window.train_button.text() == "Train" and "epoch 2" in window.status.text()


def _svg_as_png(path, w, h) -> QImage:
    r = QSvgRenderer(str(path))
    assert r.isValid()
    img = QImage(w, h, QImage.Format.Format_ARGB32)
    img.fill(QColor("white"))
    p = QPainter(img)
    r.render(p, QRectF(0, 0, w, h))
    p.end()
    return img


def _gray(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_Grayscale8)
    a = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, :img.width()]
    return a.astype(float)


def test_exports_png_equals_svg_and_csv_has_every_node(tmp_path, window):
    window.set_node(5)
    window.export_png(tmp_path / "t.png")
    window.export_svg(tmp_path / "t.svg")
    window.export_csv(tmp_path / "t.csv")
    w, h = window.picture().size()
    png = QImage(str(tmp_path / "t.png"))
    assert (png.width(), png.height()) == (2 * w, 2 * h)
    svg = _svg_as_png(tmp_path / "t.svg", png.width(), png.height())
    a, b = _gray(png), _gray(svg)
    blocks = [x[: x.shape[0] // 16 * 16, : x.shape[1] // 16 * 16].reshape(x.shape[0] // 16, 16, -1, 16).mean(axis=(1, 3))
              for x in (a, b)]
    diff = np.abs(blocks[0] - blocks[1])
    assert diff.mean() < 3.0 and np.percentile(diff, 99) < 40
    assert ET.parse(tmp_path / "t.svg").getroot().get("viewBox") == f"0 0 {w} {h}"
    with open(tmp_path / "t.csv") as fh:
        rows = list(csv.DictReader(fh))
    tr = window.current.trace
    assert len(rows) == tr.n_nodes
    root = rows[-1]
    assert int(root["parent"]) == -1 and float(root["c_2"]) == pytest.approx(tr.c[-1, 2], abs=1e-5)
    e = tr.forest.offsets[tr.n_nodes - 1]
    assert float(root["f2_1"]) == pytest.approx(tr.f[e + 1, 1], abs=1e-5)
    assert rows[0]["f1_0"] == "" and rows[0]["word"] == window.current.words[0]


def test_picture_fades_nodes_after_the_step(qtbot):
    """At step 0 only the first node is drawn at full strength: the root's area is paler."""
    show = show_tree(_run().model, _run().data, parse_trees("(1 (0 a) (2 b))")[0])
    dark = []
    for step in (0, 2):
        img = TreePicture(show, step=step).render_image(1.0)
        c = TreePicture(show).centre(2)
        g = _gray(img)[round(c.y()) - 20:round(c.y()) + 20, round(c.x()) - 30:round(c.x()) + 30]
        dark.append((g < 128).sum())
    assert dark[1] > 2 * dark[0]


def test_window_opens_a_tree_run_folder(qtbot, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--example", "sentiment-trees", "--cell", "treelstm", "--units", "3", "--epochs", "1",
                 "--out", str(out), "--quiet"]) == 0
    run, title = tree_run_from(str(out))
    assert title == "run" and run.settings.cell == "treelstm" and len(run.history) == 1
    with np.load(out / "model.npz") as z:
        np.testing.assert_array_equal(run.model.state_dict()["fh.weight"], z["fh.weight"])
    win = TreeWindow(run, title)
    qtbot.addWidget(win)
    assert "after 1 epoch" in win.current.title
    win.close()


def test_gui_refuses_a_bad_tree_file_in_one_sentence(qtbot, tmp_path, capsys):
    from explorer.gui.app import main as gui_main

    bad = tmp_path / "bad.trees"
    bad.write_text("(1 (0 a) (1 b)\n")
    assert gui_main(["--trees", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["lstm-explorer: Line 1 of bad.trees leaves 1 bracket(s) open; balance the brackets."]


def test_heatmap_by_node_and_unit(qtbot, window):
    from explorer.figures.colors import diverging_rgb

    tr = window.current.trace
    img = window.heatmap.image
    assert (img.width(), img.height()) == (tr.c.shape[1], tr.n_nodes)
    top = np.abs(tr.c).max()
    for j, u in ((0, 0), (tr.n_nodes - 1, 3), (2, 1)):
        px = img.pixelColor(u, j)
        assert (px.red(), px.green(), px.blue()) == diverging_rgb(tr.c[j, u], top)
    window.quantity.setCurrentText("o")
    px = window.heatmap.image.pixelColor(1, 0)
    assert (px.red(), px.green(), px.blue()) == diverging_rgb(tr.o[0, 1], np.abs(tr.o).max())
    h = window.heatmap.height() / tr.n_nodes
    qtbot.mouseClick(window.heatmap, Qt.MouseButton.LeftButton, pos=QPoint(5, round(2.5 * h)))
    assert window.node == 2 and window.heatmap.row == 2


def test_live_comparison_with_the_sequence_lstm(qtbot, window):
    """Compare trains both side by side; the line shows both validation root errors and this
    tree's root by each model, read from the display copies (the worker trains others)."""
    window.epochs_per_train = 2
    rows = []
    window.sigTrained.connect(rows.append)
    window.compare_button.click()
    assert not window.compare_button.isEnabled()
    qtbot.waitUntil(lambda: len(rows) == 2 and window.worker is None, timeout=60000)
    flat = window.flat
    assert len(flat.history) == 2 and len(window.run.history) == 2
    np.testing.assert_array_equal(window.flat_model.params, flat.model.params)
    tree = window.trees[window.tree]
    text = window.compare_label.text()
    assert f"sequence LSTM {flat.history[-1]['val_root_error']:.4g} after 2" in text
    assert f"Tree-LSTM {window.run.history[-1]['val_root_error']:.4g} after 2 epochs" in text
    assert f"sequence LSTM {flat.predict_root(tree)} (reading" in text  # classes: ids as they are
    assert window.compare_button.isEnabled() and window.compare_label.isVisible()
    window.tree_box.setValue(1)
    assert f"sequence LSTM {flat.predict_root(window.trees[1])} (reading" in window.compare_label.text()


def test_gui_refuses_a_damaged_tree_run_in_one_sentence(qtbot, tmp_path, capsys):
    from explorer.gui.app import main as gui_main

    run = tmp_path / "run"
    run.mkdir()
    (run / "tree_run.json").write_text("{}")
    assert gui_main(["--trees", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["lstm-explorer: The tree run in run cannot be read (KeyError); it is damaged: start a new run."]

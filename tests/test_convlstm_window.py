"""The ConvLSTM picture and window: the images are the engine's trace, the belt's equation holds on
them, the window steps through time and exports PNG and SVG; ``lstm-explorer RUN`` opens it."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from explorer.app.convlstm_view import ConvLSTMView
from explorer.app.frames_run import FramesRun, FrameSettings
from explorer.data.frames import load_frames_dataset, moving_squares, next_frame_dataset
from explorer.engine import make_model
from explorer.figures.convlstm_picture import to_rgb
from explorer.gui.convlstm_window import ConvLSTMWindow


def small_run(loss="bce"):
    frames = moving_squares(6, 5, 8, np.random.default_rng(3))
    ds = next_frame_dataset(frames, "squares", val_fraction=0.34, loss=loss)
    return FramesRun(ds, FrameSettings(channels=3, kernel=3, layers=2, seed=4))


def test_view_images_are_the_trace_and_the_belt_holds():
    rng = np.random.default_rng(0)
    model = make_model("convlstm", n_inputs=2, n_units=3, n_outputs=1, kernel=3, num_layers=2, seed=1)
    x = rng.uniform(0, 1, (1, 4, 2, 5, 6))
    target = rng.uniform(0, 1, (1, 4, 1, 5, 6))
    view = ConvLSTMView(model, x, target, "bce")
    trace = model.forward(x)
    im = view.at(2, channel=1, layer=1, in_channel=1)
    top = trace.layer(1)
    np.testing.assert_array_equal(im.x, x[0, 2, 1])
    np.testing.assert_array_equal(im.f, top.f[2, 0, 1])
    np.testing.assert_array_equal(im.c_prev, top.c[1, 0, 1])
    np.testing.assert_allclose(im.c, im.f * im.c_prev + im.i * im.g, rtol=0, atol=1e-15)
    np.testing.assert_allclose(im.h, im.o * im.tanh_c, rtol=0, atol=1e-15)
    np.testing.assert_allclose(im.prediction, 1 / (1 + np.exp(-trace.y[0, 2, 0])), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(im.truth, target[0, 2, 0])
    first = view.at(0)
    np.testing.assert_array_equal(first.c_prev, 0.0)
    assert view.state_range(1) == np.abs(top.c).max()
    with pytest.raises(IndexError, match="step 4 outside 0..3"):
        view.at(4)
    with pytest.raises(IndexError, match="channel 3 outside 0..2"):
        view.at(0, channel=3)


def test_colour_scales():
    a = np.array([[0.0, 1.0, 0.5, 2.0]])
    np.testing.assert_array_equal(to_rgb(a, "frame")[0, :, 0], [0, 255, 128, 255])
    np.testing.assert_array_equal(to_rgb(a, "gate")[0, 1], [16, 78, 139])
    np.testing.assert_array_equal(to_rgb(a, "gate")[0, 0], [255, 255, 255])
    s = to_rgb(np.array([[-3.0, 0.0, 3.0]]), "state", vmax=3.0)
    np.testing.assert_array_equal(s[0], [[33, 102, 172], [238, 238, 236], [214, 84, 16]])


def test_window_steps_and_exports(qtbot, tmp_path):
    run = small_run()
    win = ConvLSTMWindow(run, "squares")
    qtbot.addWidget(win)
    win.resize(1024, 700)
    win.show()
    qtbot.waitExposed(win)
    assert win.sample.maximum() == 2 and win.step.maximum() == 4 and win.channel.maximum() == 3
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Right)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Right)
    assert win.step.value() == 3 and win.step_label.text() == "3 of 4"
    win.channel.setValue(2)
    win.layer.setValue(2)
    win.sample.setValue(2)
    im, title, vmax = win.picture()
    assert title == "squares · validation sequence 2 · step 3 of 4"
    want = ConvLSTMView(run.model, run.dataset.x_val[1:2], run.dataset.y_val[1:2], "bce").at(2, 1, 1)
    np.testing.assert_array_equal(im.h, want.h)
    np.testing.assert_array_equal(im.truth, run.dataset.y_val[1, 2, 0])
    assert win.export_png(tmp_path / "c.png")
    png = QImage(str(tmp_path / "c.png"))
    assert (png.width(), png.height()) == (2000, 1280)
    win.export_svg(tmp_path / "c.svg")
    svg = (tmp_path / "c.svg").read_text()
    assert 'width="1000"' in svg.replace("px", "") or "width=\"1000" in svg
    assert "validation sequence 2" in svg and "forget f" in svg
    qtbot.waitUntil(lambda: win.canvas.isVisible())
    shot = win.canvas.grab().toImage()
    assert shot.width() > 500 and shot.height() > 300


def test_lstm_explorer_run_opens_the_convlstm_window(tmp_path):
    np.save(tmp_path / "squares.npy", moving_squares(6, 5, 8, np.random.default_rng(3))[:, :, 0])
    run = FramesRun(load_frames_dataset(tmp_path / "squares.npy"), FrameSettings(channels=2))
    run.save(tmp_path / "run")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "c"),
               XDG_DATA_HOME=str(tmp_path / "d"), XDG_STATE_HOME=str(tmp_path / "s"))
    res = subprocess.run([sys.executable, "-m", "explorer", str(tmp_path / "run"), "--quit-after-paint"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    (tmp_path / "run" / ".current" / "history.csv").write_text("epoch\n")
    res = subprocess.run([sys.executable, "-m", "explorer", str(tmp_path / "run")], capture_output=True, text=True,
                         timeout=120, env=env)
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "history.csv is not the file this run saved" in res.stderr


@pytest.mark.parametrize("peephole", [False, True])
def test_pixel_sums_are_the_gates(peephole):
    rng = np.random.default_rng(8)
    model = make_model("convlstm", n_inputs=2, n_units=3, n_outputs=1, kernel=5, num_layers=2, peephole=peephole,
                       frame=(6, 7), seed=2)
    model.load_state_dict({k: rng.normal(0, 0.4, v.shape) for k, v in model.state_dict().items()})
    view = ConvLSTMView(model, rng.uniform(0, 1, (1, 3, 2, 6, 7)))
    for t, ch, layer, y, x in [(0, 0, 0, 0, 0), (2, 2, 1, 5, 6), (1, 1, 0, 3, 2)]:
        s = view.pixel_sums(t, ch, layer, y, x)
        im = view.at(t, ch, layer)
        for gate in "ifgo":
            assert s[gate][5] == pytest.approx(getattr(im, gate)[y, x], abs=1e-12)
            assert s[gate][4] == pytest.approx(sum(s[gate][:4]), abs=1e-12)
        assert s["c"] == pytest.approx(s["f"][5] * s["c_prev"] + s["i"][5] * s["g"][5], abs=1e-12)
    assert view.pixel_sums(0, 0, 0, 0, 0)["window"] == (0, 0, 3, 3)
    assert view.pixel_sums(0, 0, 0, 3, 3)["window"] == (1, 1, 6, 6)
    lines = view.pixel_lines(1, 1, 0, 3, 2)
    assert lines[0].startswith("pixel (row 4, column 3) of channel 2, layer 1, step 2; receptive field rows 2–6, "
                               "columns 1–5")
    assert lines[1].startswith("i = σ(W_x∗x ") and ("+ p⊙c" in lines[1]) == peephole
    assert lines[-1].startswith("h = o·tanh(c) = ")


def test_hovering_a_pixel_shows_its_equations(qtbot):
    from PySide6.QtCore import QPoint

    from explorer.figures.convlstm_picture import _image_rect, _transform, layout

    run = small_run()
    win = ConvLSTMWindow(run, "squares")
    qtbot.addWidget(win)
    win.resize(1024, 700)
    win.show()
    qtbot.waitExposed(win)
    win.step.setValue(3)
    canvas = win.canvas
    k, ox, oy = _transform(canvas.width(), canvas.height())
    name, x, y, side, *_ = next(item for item in layout() if item[0] == "f")
    r = _image_rect(x, y, side, (8, 8))
    cell = r.width() / 8
    point = QPoint(round(ox + k * (r.x() + 5.5 * cell)), round(oy + k * (r.y() + 2.5 * cell)))
    assert canvas.pixel_at(point.x(), point.y()) == ("f", 2, 5)
    qtbot.mouseMove(canvas, point)
    qtbot.waitUntil(lambda: canvas.hover == (2, 5))
    lines = win.pixel_lines(2, 5)
    assert lines == win.view.pixel_lines(2, 0, 0, 2, 5)
    assert lines[0].startswith("pixel (row 3, column 6) of channel 1, layer 1, step 3; receptive field rows 2–4, "
                               "columns 5–7")
    assert canvas.toolTip() == "\n".join(lines)
    assert canvas.pixel_at(2, 2) is None


def test_frame_strips(qtbot, tmp_path):
    run = small_run()
    win = ConvLSTMWindow(run, "squares")
    qtbot.addWidget(win)
    win.resize(1600, 1000)
    win.show()
    qtbot.waitExposed(win)
    win.show_box.setCurrentIndex(win.show_box.findData("f"))
    assert win.strip() == "f"
    assert win.strip_title() == "squares · validation sequence 1 · f of layer 1, every channel and step"
    assert win.canvas.pixel_at(500, 400) is None
    win.export_png(tmp_path / "strip.png")
    img = QImage(str(tmp_path / "strip.png"))
    assert (img.width(), img.height()) == (2000, 1280)
    win.export_svg(tmp_path / "strip.svg")
    svg = (tmp_path / "strip.svg").read_text()
    assert "channel 3" in svg and ">4<" in svg.replace(" ", "") and "channel 4" not in svg
    # the image of channel 2 at step 3 is that gate's, pixel for pixel
    from explorer.figures.convlstm_picture import strip_cell

    img = QImage(str(tmp_path / "strip.png"))
    r = strip_cell(4, 3, (8, 8), 2, 1)
    want = to_rgb(win.view.trace.f[2, 0, 1], "gate")
    for row, col in [(0, 0), (3, 5), (7, 2)]:
        c = img.pixelColor(round(2 * (r.x() + (col + 0.5) * r.width() / 8)), round(2 * (r.y() + (row + 0.5) * r.height() / 8)))
        assert (c.red(), c.green(), c.blue()) == tuple(want[row, col])
    shot = win.canvas.grab().toImage()
    assert shot.width() > 800


def test_main_window_open_run_opens_a_convlstm_run_in_its_own_window(qtbot, qsettings, app_paths, tmp_path):
    from explorer.gui.main_window import MainWindow

    np.save(tmp_path / "squares.npy", moving_squares(6, 5, 8, np.random.default_rng(3))[:, :, 0])
    FramesRun(load_frames_dataset(tmp_path / "squares.npy"), FrameSettings(channels=2)).save(tmp_path / "frames")
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    before = win.run
    assert win.open_run(tmp_path / "frames")
    qtbot.waitUntil(lambda: bool(getattr(win, "convlstm_windows", [])), timeout=10000)
    frames_win = win.convlstm_windows[-1]
    qtbot.addWidget(frames_win)
    assert frames_win.isVisible() and frames_win.windowTitle() == "LSTM Explorer — ConvLSTM — frames"
    assert frames_win.run.model.n_units == 2
    assert win.run is before                                   # the main window's run stays


def test_clicked_pixel_exports_its_values_at_every_step(qtbot, tmp_path):
    import csv

    from PySide6.QtCore import QPoint

    from explorer.figures.convlstm_picture import _image_rect, _transform, layout

    run = small_run()
    win = ConvLSTMWindow(run, "squares")
    qtbot.addWidget(win)
    win.resize(1024, 700)
    win.show()
    qtbot.waitExposed(win)
    assert not win.csv_button.isEnabled()
    canvas = win.canvas
    k, ox, oy = _transform(canvas.width(), canvas.height())
    _, x, y, side, *_ = next(item for item in layout() if item[0] == "x")
    r = _image_rect(x, y, side, (8, 8))
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton,
                     pos=QPoint(round(ox + k * (r.x() + 4.5 * r.width() / 8)), round(oy + k * (r.y() + 1.5 * r.height() / 8))))
    assert win.selected == (1, 4) and win.csv_button.isEnabled()
    assert win.csv_button.text() == "Export pixel (2, 5) CSV…"
    win.channel.setValue(3)
    win.export_pixel_csv(tmp_path / "p.csv")
    rows = list(csv.DictReader((tmp_path / "p.csv").read_text().splitlines()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    tr = win.view.trace
    for t, row in enumerate(rows):
        assert float(row["h"]) == tr.h[t, 0, 2, 1, 4] and float(row["f"]) == pytest.approx(tr.f[t, 0, 2, 1, 4], abs=1e-15)
        assert float(row["x"]) == run.dataset.x_val[0, t, 0, 1, 4]
        assert float(row["truth"]) == run.dataset.y_val[0, t, 0, 1, 4]
    assert float(rows[2]["c_prev"]) == tr.c[1, 0, 2, 1, 4]


def test_train_in_the_window_redraws_each_epoch_and_saves(qtbot, tmp_path):
    np.save(tmp_path / "squares.npy", moving_squares(8, 5, 8, np.random.default_rng(3))[:, :, 0])
    run = FramesRun(load_frames_dataset(tmp_path / "squares.npy"), FrameSettings(channels=2, batch=4, epochs=0))
    run.save(tmp_path / "run")
    win = ConvLSTMWindow(FramesRun.load(tmp_path / "run"), "run", folder=tmp_path / "run")
    qtbot.addWidget(win, before_close_func=lambda w: w.after_close())
    win.show()
    before = win.view.at(0).h.copy()
    win.epochs.setValue(2)
    win.train()
    assert not win.train_button.isEnabled() and win.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not win.training, timeout=60000)
    assert win.status.text() == f"trained 2 epochs (4 steps); saved in {tmp_path / 'run'}"
    np.testing.assert_array_equal(win.model.params, win.run.model.params)
    assert not np.array_equal(win.view.at(0).h, before)                 # the picture shows the new weights
    again = FramesRun.load(tmp_path / "run")
    assert again.trainer.epoch == 2
    np.testing.assert_array_equal(again.model.params, win.run.model.params)
    # Stop: a long training ends within a step, the run saved at the last whole step
    win.epochs.setValue(1000)
    win.train()
    qtbot.waitUntil(lambda: win.run.trainer.step > 4, timeout=60000)
    win.stop()
    qtbot.waitUntil(lambda: not win.training, timeout=60000)
    assert win.train_button.isEnabled()
    assert FramesRun.load(tmp_path / "run").trainer.step == win.run.trainer.step

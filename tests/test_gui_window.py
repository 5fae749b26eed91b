"""The explorer window, offscreen: loading, training in the background, stepping, plots, export."""

import csv
import time
from pathlib import Path
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PySide6.QtCore import Qt

from explorer.gui.main_window import MainWindow
from explorer.runs import Run, latest_autosave, settings_for_example
from explorer.data.examples import load_example


@pytest.fixture
def window(qtbot, qsettings, app_paths):
    win = MainWindow(settings=qsettings)
    win.set_run(Run(load_example("sine"), settings_for_example("sine", units=4, epochs=2)))
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.trace is not None, timeout=10000)    # drawn by a worker
    win.diagram.setFocus()
    yield win
    if win.training:
        win.stop_and_wait(3000)


def write_series(path, n=200):
    t = np.arange(n)
    path.write_text("t,value\n" + "".join(f"{i},{np.sin(i / 5) + 0.1 * np.cos(i / 3):.6f}\n" for i in t))
    return path


def assert_shows_trace(win, t, unit):
    tr = win.trace
    shown = win.diagram.displayed_values()
    assert shown["i"] == tr.i[0, t, unit] and shown["f"] == tr.f[0, t, unit]
    assert shown["g"] == tr.g[0, t, unit] and shown["o"] == tr.o[0, t, unit]
    assert shown["c"] == tr.c[0, t, unit] and shown["h"] == tr.h[0, t, unit]
    prev_c = tr.c0[0, unit] if t == 0 else tr.c[0, t - 1, unit]
    assert shown["c_prev"] == prev_c
    eq = win.equations.equation_values()
    assert eq["i"]["value"] == tr.i[0, t, unit]
    assert eq["o"]["z"] == tr.z[0, t, 3 * tr.h.shape[2] + unit]
    assert f"{tr.h[0, t, unit]:.3f}".replace("-", "\u2212") in win.equations.text() or \
        f"{tr.h[0, t, unit]:.3f}" in win.equations.text()


def test_opens_with_a_working_diagram(window):
    assert window.trace is not None
    assert window.diagram.displayed_values()
    assert window.timebar.slider.maximum() == window.trace.T - 1
    assert window.focusWidget() is window.diagram or window.diagram.hasFocus()


def test_load_file_through_the_dialog_code(window, qtbot, tmp_path):
    path = write_series(tmp_path / "my series.csv")
    with qtbot.waitSignal(window.sigDataLoaded, timeout=10000):
        window.open_file(str(path))
    assert window.run.dataset.source == str(path)
    assert str(path) in window.recent_files()
    assert window.trace is not None


def test_bad_file_shows_message_and_keeps_previous_data(window, qtbot, tmp_path):
    before = window.run
    bad = tmp_path / "broken.csv"
    bad.write_text("a,b\n1,2\n3\n4,5\n")
    with qtbot.waitSignal(window.sigLoadFailed, timeout=10000) as sig:
        window.open_file(str(bad))
    msg = sig.args[0]
    assert "broken.csv" in msg and "line 3" in msg.lower()
    assert window.banner.isVisible() and "broken.csv" in window.banner.label.text()
    assert window.run is before


def test_text_file_goes_to_next_character_mode(window, qtbot, tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("The cat sat on the mat. " * 40)
    with qtbot.waitSignal(window.sigDataLoaded, timeout=10000):
        window.open_file(str(path))
    ds = window.run.dataset
    assert ds.kind == "text" and ds.loss == "cross_entropy"
    assert window.equations.vocab == ds.vocab


def test_train_in_background_then_step_with_keys(window, qtbot):
    with qtbot.waitSignal(window.sigTrainingFinished, timeout=60000) as sig:
        window.start_training(epochs=2)
        assert window.training
    assert sig.args[0] == "done"
    tr = window.run.trainer
    assert tr.epoch == 2 and len(tr.history) == 2
    # the loss plot holds the history, the grad plot every step
    window.diagram.setFocus()
    qtbot.keyClick(window.diagram, Qt.Key.Key_End)
    T = window.trace.T
    assert window.timebar.t == T - 1
    assert_shows_trace(window, T - 1, window.unit_spin.value())
    qtbot.keyClick(window.diagram, Qt.Key.Key_Home)
    assert window.timebar.t == 0
    assert_shows_trace(window, 0, 0)
    for _ in range(3):
        qtbot.keyClick(window.diagram, Qt.Key.Key_Right)
    assert window.timebar.t == 3
    window.unit_spin.setValue(2)
    window.diagram.setFocus()
    qtbot.keyClick(window.diagram, Qt.Key.Key_Left)
    assert window.timebar.t == 2
    assert_shows_trace(window, 2, 2)
    # the trace shown is the engine's trace of the selected sample with the final weights
    expect = window.run.model.forward(window.run.dataset.x_val[0:1])
    np.testing.assert_array_equal(window.trace.h, expect.h)


def test_keys_edit_a_field_while_it_has_focus(window, qtbot):
    window.timebar.set_t(5)
    spin = window.settings_panel.units_spin
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Left)
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Home)
    assert window.timebar.t == 5
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Escape)
    assert window.diagram.hasFocus()
    qtbot.keyClick(window.diagram, Qt.Key.Key_Left)
    assert window.timebar.t == 4


def test_space_plays_and_pauses(window, qtbot):
    window.timebar.set_t(0)
    qtbot.keyClick(window.diagram, Qt.Key.Key_Space)
    assert window.timebar.playing
    qtbot.waitUntil(lambda: window.timebar.t >= 2, timeout=5000)
    qtbot.keyClick(window.diagram, Qt.Key.Key_Space)
    assert not window.timebar.playing


def test_units_change_moves_the_param_count_marker(window):
    spin = window.settings_panel.units_spin
    spin.setValue(10)
    m = window.run.dataset.n_inputs
    assert window.param_plot.marker_position() == (10, 4 * 10 * (m + 10 + 1))
    assert window.run.model.n_units == 10
    assert "10" in window.param_plot.label_text()


def test_export_all_formats(window, qtbot, tmp_path):
    with qtbot.waitSignal(window.sigTrainingFinished, timeout=60000):
        window.start_training(epochs=1)
    files = window.export_all(tmp_path / "export")
    names = {p.name for p in files}
    for key in ("loss", "grad_norms", "grad_through_time", "gates", "param_count", "predictions", "diagram"):
        for ext in ("png", "svg", "csv"):
            assert f"{key}.{ext}" in names
            assert (tmp_path / "export" / f"{key}.{ext}").stat().st_size > 0
    root = ET.parse(tmp_path / "export" / "loss.svg").getroot()
    assert root.tag.endswith("svg")
    with open(tmp_path / "export" / "diagram.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == window.trace.T
    u = window.diagram.unit
    assert float(rows[3]["f"]) == window.trace.f[0, 3, u]


def test_close_during_training_stops_fast_and_autosaves(qtbot, qsettings, app_paths):
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win)
    # an older autosave of a session that ended (its process is gone)
    import subprocess
    import sys
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    stale = win.files.autosave_root() / f"{dead}-0badcafe"
    Run(load_example("sine"), settings_for_example("sine", units=2)).save(stale)
    win.set_run(Run(load_example("adding"), settings_for_example("adding", epochs=50)))
    win.show()
    win.start_training()
    qtbot.waitUntil(lambda: win.session.progress.step > 3, timeout=20000)
    t0 = time.perf_counter()
    win.close()
    assert time.perf_counter() - t0 < 2.0
    win.after_close()
    assert not win.training
    pending = qsettings.value("autosave/pending")
    assert pending and Path(pending) == stale.parent
    back = Run.load(latest_autosave(pending))
    assert back.trainer.step == win.run.trainer.step
    # the next launch offers to reopen the newest and removes the stale one (no pile of folders)
    win2 = MainWindow(settings=qsettings)
    qtbot.addWidget(win2)
    assert win2.offer_autosave()
    assert not stale.exists() and latest_autosave(pending) is not None
    instances = [p.name for p in Path(pending).iterdir() if p.name.split("-")[0].isdigit()]
    assert latest_autosave(pending).name in instances               # ours (running) stays, and
    from explorer.runs import _process_alive
    assert all(_process_alive(int(n.split("-")[0])) for n in instances)   # only running apps' folders


def test_pause_resume_and_stop_continue_from_weights(window, qtbot):
    window.run.trainer.epochs = 0
    window.settings_panel.epochs_spin.setValue(5000)           # runs until stopped, however fast the machine
    window.start_training()
    progress = lambda: window.session.progress.step          # noqa: E731 - what the task sent
    qtbot.waitUntil(lambda: progress() > 2, timeout=20000)
    with qtbot.waitSignal(window.sigRedrawn, timeout=5000):
        window.toggle_pause()                      # the task flushes its steps and the current trace
    qtbot.wait(100)
    s1 = progress()
    qtbot.wait(400)
    assert progress() == s1                       # paused: nothing more arrives
    assert window.session.training == "paused"
    window.toggle_pause()
    qtbot.waitUntil(lambda: progress() > s1 + 2, timeout=20000)
    with qtbot.waitSignal(window.sigTrainingFinished, timeout=10000) as sig:
        window.stop_training()
    assert sig.args[0] == "stopped"
    w = window.run.model.params.copy()
    step = window.run.trainer.step
    with qtbot.waitSignal(window.sigTrainingFinished, timeout=60000):
        window.start_training(epochs=1)
    assert window.run.trainer.step > step               # continued, not restarted
    assert not np.array_equal(w, window.run.model.params)


def test_divergence_stops_with_a_message(window, qtbot):
    data = window.run.trainer.data
    data.x_train = np.full(data.x_train.shape, np.nan)         # (windows may be read-only views)
    with qtbot.waitSignal(window.sigTrainingFinished, timeout=20000) as sig:
        window.start_training(epochs=1)
    assert sig.args[0] == "diverged"
    assert "learning rate" in window.banner.label.text()


def test_save_and_open_run(window, qtbot, tmp_path):
    with qtbot.waitSignal(window.sigTrainingFinished, timeout=60000):
        window.start_training(epochs=1)
    assert window.save_run(tmp_path / "run")
    params = window.run.model.params.copy()
    window.reset_weights()
    assert not np.array_equal(params, window.run.model.params)
    with qtbot.waitSignal(window.sigRunOpened, timeout=10000):
        assert window.open_run(tmp_path / "run")         # read off the GUI thread
    np.testing.assert_array_equal(params, window.run.model.params)
    assert len(window.run.trainer.history) == 1


def test_closing_after_training_autosaves_unsaved_results(qtbot, qsettings, app_paths):
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win)
    win.set_run(Run(load_example("sine"), settings_for_example("sine", units=3, epochs=1)))
    win.show()
    with qtbot.waitSignal(win.sigTrainingFinished, timeout=60000):
        win.start_training(epochs=1)
    win.close()
    win.after_close()
    folder = latest_autosave(qsettings.value("autosave/pending"))
    assert folder is not None and Run.load(folder).trainer.step == win.run.trainer.step


def test_saved_run_clears_the_offer(window, qtbot, qsettings, tmp_path):
    with qtbot.waitSignal(window.sigTrainingFinished, timeout=60000):
        window.start_training(epochs=1)
    assert window.save_run(tmp_path / "saved")
    window.close()
    window.after_close()
    assert not qsettings.value("autosave/pending")


def test_drop_a_file_on_the_window(window, qtbot, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    path = write_series(tmp_path / "dropped.csv")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.sigDataLoaded, timeout=10000):
        window.dropEvent(event)
    assert window.run.dataset.source == str(path)


def test_layout_recent_files_and_last_folder_persist(qtbot, qsettings, app_paths, tmp_path):
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win)
    win.set_run(Run(load_example("sine"), settings_for_example("sine", units=3)))
    win.show()
    path = write_series(tmp_path / "remember me.csv")
    with qtbot.waitSignal(win.sigDataLoaded, timeout=10000):
        win.open_file(str(path))
    win.settings_dock.hide()
    win.close()
    win.after_close()
    assert qsettings.value("window/geometry") is not None
    again = MainWindow(settings=qsettings)
    qtbot.addWidget(again)
    assert again.recent_files()[0] == str(path)
    assert again.last_folder() == str(tmp_path)
    assert [a.text() for a in again.recent_menu.actions()][0] == str(path)
    assert again.saveGeometry() is not None    # geometry restored (offscreen clamps sizes to its screen)
    assert again.settings_dock.isHidden()


def test_changing_units_during_training_asks_to_stop_first(window, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    asked = []

    def answer(*args, **kwargs):
        asked.append(args[2] if len(args) > 2 else "")
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer)
    window.settings_panel.epochs_spin.setValue(100)
    window.start_training()
    qtbot.waitUntil(lambda: window.session.progress.step > 2, timeout=20000)
    window.settings_panel.units_spin.setValue(6)
    assert asked and "Stop training" in asked[0]
    assert "Discard" in asked[1]                      # then: the trained weights go
    assert not window.training
    assert window.run.model.n_units == 6 and window.run.trainer.step == 0


def test_text_mode_shows_top_five_next_characters(window, qtbot, tmp_path):
    from explorer.engine import softmax

    path = tmp_path / "story.txt"
    path.write_text("The cat sat on the mat. The dog sat on the log. " * 20)
    with qtbot.waitSignal(window.sigDataLoaded, timeout=10000):
        window.open_file(str(path))
    assert window.trace is not None and window.text_strip.isVisible()
    window.timebar.set_t(4)
    chars, probs = window.prediction_plot.top_k
    p = softmax(window.trace.y[0, 4])
    top = np.argsort(p)[::-1][:5]
    assert chars == [window.run.dataset.vocab[j] for j in top]
    np.testing.assert_allclose(probs, p[top])
    assert window.equations.vocab == window.run.dataset.vocab


def test_failed_save_tells_the_person_and_keeps_the_previous_run(window, qtbot, tmp_path, monkeypatch):
    with qtbot.waitSignal(window.sigTrainingFinished, timeout=60000):
        window.start_training(epochs=1)
    folder = tmp_path / "run"
    assert window.save_run(folder)
    before = (folder / "model.npz").read_bytes()
    with qtbot.waitSignal(window.sigTrainingFinished, timeout=60000):
        window.start_training(epochs=1)
    import os as _os

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    real_fsync = _os.fsync
    monkeypatch.setattr(_os, "fsync", full_disk)
    assert not window.save_run(folder)
    assert "No space left" in window.banner.label.text()
    assert (folder / "model.npz").read_bytes() == before
    assert not list(folder.glob(".*.tmp"))                                  # no temporary left
    assert len(list((folder / ".versions").iterdir())) == 1                 # no partial version
    monkeypatch.setattr(_os, "fsync", real_fsync)     # room again: closing autosaves (no question asked)

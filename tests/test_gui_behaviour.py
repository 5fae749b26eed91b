"""The window as a person meets it (issue 9 §1, §3 window side, §4; issue 14's GUI thread rules),
offscreen, asserting values."""

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QMessageBox

from explorer.app.tasks import SANE_FACTOR
from explorer.data.examples import load_example
from explorer.engine import softmax
from explorer.gui.main_window import MainWindow
from explorer.runs.store import Run, settings_for_example

ROOT = Path(__file__).resolve().parents[1]


def make_window(qtbot, qsettings, run=None, size=(1500, 950)):
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=close_and_wait)
    win.resize(*size)
    win.set_run(run or Run(load_example("sine"), settings_for_example("sine", units=4, epochs=2)))
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.trace is not None and not win.display.busy, timeout=20000)
    return win


def close_and_wait(win):
    """Close as the app does, then wait for the tasks still finishing (``app.main`` does this
    after its event loop)."""
    win.close()
    win.after_close()


@pytest.fixture
def window(qtbot, qsettings, app_paths):
    win = make_window(qtbot, qsettings)
    yield win
    if win.training:
        win.stop_and_wait(3000)


def train(win, qtbot, epochs=1, timeout=60000):
    with qtbot.waitSignal(win.sigTrainingFinished, timeout=timeout) as sig:
        win.start_training(epochs=epochs)
    return sig.args[0]


def answer_questions(monkeypatch, answer):
    asked = []

    def question(*args, **kwargs):
        asked.append(args[2] if len(args) > 2 else "")
        return answer

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


# -- §1 structure: one position, in the session --------------------------------------------------
def test_views_follow_the_session_position_and_keep_no_copy(window, qtbot):
    s = window.session
    s.set_position(t=5, unit=2)
    assert window.timebar.slider.value() == 5 and window.timebar.label.text() == f"t = 6 / {window.trace.T}"
    assert window.unit_spin.value() == 2
    shown = window.diagram.displayed_values()
    assert shown["c"] == window.trace.c[0, 5, 2] and shown["f"] == window.trace.f[0, 5, 2]
    # every control moves the session, not a copy of its own
    window.unit_spin.setValue(3)
    window.timebar.next()
    assert (s.position.t, s.position.unit) == (6, 3)
    assert window.diagram.displayed_values()["h"] == window.trace.h[0, 6, 3]
    window.timebar.slider.setValue(1)
    assert s.position.t == 1 and window.equations.equation_values()["i"]["value"] == window.trace.i[0, 1, 3]


def test_choosing_a_sample_redraws_it_from_a_worker(window, qtbot):
    with qtbot.waitSignal(window.display.sigDisplayed, timeout=10000):
        window.sample_spin.setValue(7)
    assert window.session.position.sample == 7
    np.testing.assert_array_equal(window.trace.h, window.run.model.forward(window.run.dataset.x_val[7:8]).h)


def _guard(obj, allowed, reads, busy):
    """Record every attribute the GUI thread reads from ``obj`` while ``busy()``."""
    cls = type(obj)

    class Guarded(cls):
        def __getattribute__(self, name):
            if (threading.current_thread() is threading.main_thread() and name not in allowed
                    and not name.startswith("__") and busy()):
                reads.append(f"{cls.__name__}.{name}")
            return super().__getattribute__(name)

    obj.__class__ = Guarded
    return lambda: setattr(obj, "__class__", cls)


def test_the_window_never_reads_the_trainer_or_model_while_a_task_owns_them(window, qtbot):
    run = window.run
    reads = []
    window.start_training(epochs=200)
    worker = window.training_ctl.worker
    busy = lambda: not worker.done.is_set()                      # noqa: E731
    sizes = {"kind", "n_inputs", "n_units", "n_outputs", "dtype", "num_layers", "bidirectional", "num_directions"}
    undo = [_guard(run.trainer, set(), reads, busy), _guard(run.model, sizes, reads, busy)]
    try:
        qtbot.waitUntil(lambda: window.session.progress.step > 20, timeout=30000)
        window.timebar.set_t(3)
        window.sample_spin.setValue(2)                            # the task builds that sample's trace
        with qtbot.waitSignal(window.sigRedrawn, timeout=5000):
            window.toggle_pause()
        window.unit_spin.setValue(1)
        window.toggle_pause()
        qtbot.waitUntil(lambda: window.session.progress.epoch >= 2, timeout=60000)
        with qtbot.waitSignal(window.sigTrainingFinished, timeout=60000):
            window.stop_training()
    finally:
        for u in undo:
            u()
    assert reads == []
    assert window.session.position.sample == 2
    # what arrived equals what the trainer kept
    np.testing.assert_array_equal(window.session.steps.table()["loss"], run.trainer.log.loss)
    assert window.session.history == run.trainer.history


# -- §3 the person's data (window side) ------------------------------------------------------------
def test_every_column_is_offered_as_input_and_target(window, qtbot):
    ds = window.run.dataset
    ds.all_columns = ["date", "a", "b", "value", "d"]          # what the data layer reports (contract)
    ds.numeric_columns = ["a", "b", "value", "d"]
    window.set_run(Run(ds, window.run.settings))
    lst = window.settings_panel.columns_list
    assert [lst.item(i).text() for i in range(lst.count())] == ["date", "a", "b", "value", "d"]
    assert not lst.item(0).flags() & lst.item(0).flags().ItemIsEnabled          # dates cannot be inputs
    combo = window.settings_panel.target_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["a", "b", "value", "d"]
    assert combo.currentText() == "value"
    for i in (1, 2):
        lst.item(i).setCheckState(lst.item(i).checkState().Checked)
    combo.setCurrentText("b")
    opts = window.settings_panel.data_options()
    assert opts["columns"] == ["a", "b", "value"] and opts["target"] == "b"


def test_data_options_reach_the_loader_and_its_decisions_reach_the_status(window, qtbot, tmp_path, monkeypatch):
    import explorer.gui.files as files

    calls = []
    real = files.load_dataset

    def spy(path, **opts):
        calls.append(opts)
        ds = real(path, **{k: v for k, v in opts.items() if v is not None})
        ds.seq_len_chosen = True                    # as the data layer says when it chose the length
        return ds

    monkeypatch.setattr(files, "load_dataset", spy)
    path = tmp_path / "nile.csv"
    rows = [f"{1871 + i},{'' if i in (3, 4, 9) else f'{1000 + 100 * np.sin(i / 3):.1f}'}\n" for i in range(120)]
    path.write_text("year,flow\n" + "".join(rows))                    # three gaps
    window.settings_panel.year_month_combo.setCurrentIndex(1)
    with qtbot.waitSignal(window.sigDataLoaded, timeout=10000):
        window.open_file(str(path))
    assert calls[0]["year_month"] == "columns"
    assert calls[0]["columns"] is None and calls[0]["target"] is None
    assert calls[0].get("seq_len") is None                   # a new file: the loader chooses
    status = window.statusBar().full_message()
    assert f"sequence length {window.run.dataset.seq_len} chosen to fit the file" in status
    assert "3 missing value" in status and "filled by interpolation" in status
    # the person sets a length: it is passed as theirs
    window.settings_panel.seq_spin.setValue(12)
    answer_questions(monkeypatch, QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(window.sigDataLoaded, timeout=10000):
        window.settings_panel.apply_button.click()
    assert calls[-1]["seq_len"] == 12 and window.run.dataset.seq_len == 12


def test_predictions_use_the_files_years_and_the_target_name(window, qtbot):
    ds = window.run.dataset
    n = len(ds.series)
    ds.time_values = 1800.0 + np.arange(n)                     # years of the rows (data contract)
    ds.time_label = "year"
    ds.columns = ["flow"]
    with qtbot.waitSignal(window.display.sigDisplayed, timeout=10000):
        window.set_run(Run(ds, window.run.settings))
    plot = window.prediction_plot
    p = window.session.predictions
    x, y = plot.target_curve.getData()
    np.testing.assert_array_equal(x + plot.x_origin, 1800.0 + p["t"])
    np.testing.assert_allclose(y, p["target"])
    assert plot.plot.getAxis("left").labelText == "flow"
    assert plot.plot.getAxis("bottom").labelText == "year"


def test_dates_reach_the_predictions_plot_as_dates(window, qtbot):
    from explorer.gui.main_window import time_axis

    ds = window.run.dataset
    n = len(ds.series)
    day0 = np.datetime64("2020-01-01T00:00:00", "s").astype(np.int64)
    ds.time_values = (day0 + 86400 * np.arange(n)).astype(float)        # POSIX seconds, one a day
    ds.time_label = "date"
    tv, label = time_axis(ds)
    assert tv.dtype.kind == "M" and str(tv[31]) == "2020-02-01T00:00:00" and label == "date"
    with qtbot.waitSignal(window.display.sigDisplayed, timeout=10000):
        window.set_run(Run(ds, window.run.settings))
    qtbot.waitUntil(lambda: window.session.predictions is not None and window.turns.pending == 0, timeout=10000)
    plot = window.prediction_plot                       # (drawn: a held plot draws in its own turn)
    np.testing.assert_array_equal(plot.x_values, tv)
    axis = plot.plot.getAxis("bottom")
    assert plot.x_label == "date" and axis.labelText == "date" and axis.dates and not axis.integer
    x = plot.target_curve.xData                                          # at the rows' dates, as years
    rows = window.session.predictions["t"]
    import datetime as dt

    def year_fraction(d):
        a, b = dt.datetime(d.year, 1, 1), dt.datetime(d.year + 1, 1, 1)
        return d.year + (d - a) / (b - a)

    want = [year_fraction(v.astype("datetime64[s]").item()) for v in tv[rows]]
    assert len(x) == len(rows) and want[0] > 2022                         # rows 800… are in 2022
    np.testing.assert_allclose(x + plot.x_origin, want, rtol=0, atol=1e-9)
    # ticks are labelled as dates, as fine as their calendar unit
    from explorer.figures.axes import format_date_tick

    assert [format_date_tick(v, u) for v, u in ((2020.0, "Y"), (2020 + 31 / 366, "M"), (2020 + 59 / 366, "D"),
                                                (2020 + (59 + 14 / 24) / 366, "h"))] == \
        ["2020", "Feb 2020", "29 Feb 2020", "29 Feb 14:00"]


def test_hourly_rows_keep_their_own_places_on_the_date_axis():
    from explorer.figures.plots import _as_axis_values

    hours = np.datetime64("2014-03-01T00:00:00", "s") + np.arange(48) * np.timedelta64(3600, "s")
    x = _as_axis_values(hours)
    assert len(np.unique(x)) == 48                                      # not 24 rows on one day's x
    np.testing.assert_allclose(np.diff(x), 1 / (365 * 24), rtol=1e-6)   # 2014 has 365 days


def test_text_mode_strip_shows_the_text_the_true_next_and_top_five(window, qtbot, tmp_path):
    path = tmp_path / "story.txt"
    text = "The cat sat on the mat. The dog sat on the log. " * 20
    path.write_text(text)
    with qtbot.waitSignal(window.sigDataLoaded, timeout=10000):
        window.open_file(str(path))
    strip, ds = window.text_strip, window.run.dataset
    assert strip.isVisible()
    panel = window.settings_panel                      # series options off, the text level on
    assert panel.level_combo.isEnabled() and not panel.year_month_combo.isEnabled()
    assert not panel.target_combo.isEnabled()
    window.session.set_position(sample=1, t=6)
    qtbot.waitUntil(lambda: not window.display.busy, timeout=10000)
    x = ds.x_val[1]
    ids = x if x.ndim == 1 else x.argmax(axis=-1)
    assert "".join(strip.chars) == "".join(ds.vocab[j] for j in ids)
    assert "".join(strip.chars) in text                       # the sample is a piece of the file
    assert strip.current == 6
    assert strip.next_char == ds.vocab[ds.y_val[1, 6]]
    p = softmax(window.trace.y[0, 6])
    top = np.argsort(p)[::-1][:5]
    assert [c for c, _ in strip.top_k] == [ds.vocab[j] for j in top]
    np.testing.assert_allclose([q for _, q in strip.top_k], p[top])
    img = strip.grab().toImage()
    assert img.width() > 300 and img.height() >= 30
    # a series hides the strip again
    with qtbot.waitSignal(window.sigDataLoaded, timeout=10000):
        window.open_example("sine")
    assert not strip.isVisible()


# -- §4 the window behaves --------------------------------------------------------------------------------
def test_banners_go_once_what_they_reported_is_resolved(window, qtbot, tmp_path):
    data = window.run.trainer.data
    data.x_train = np.full(data.x_train.shape, np.nan)         # (windows may be read-only views)
    assert train(window, qtbot) == "diverged"
    assert window.banner.showing and window.banner.topic == "training"
    window.set_run(Run(load_example("sine"), settings_for_example("sine", units=4, epochs=1)))
    assert train(window, qtbot) == "done"
    assert not window.banner.showing                          # the healthy run resolved it
    bad = tmp_path / "broken.csv"
    bad.write_text("a,b\n1,2\n3\n")
    with qtbot.waitSignal(window.sigLoadFailed, timeout=10000):
        window.open_file(str(bad))
    assert window.banner.showing and "broken.csv" in window.banner.label.text()
    with qtbot.waitSignal(window.sigDataLoaded, timeout=10000):
        window.open_example("sine")
    assert not window.banner.showing


def test_divergence_keeps_the_weights_from_before_the_blow_up(window, qtbot):
    s = window.settings_panel
    s.optimizer_combo.setCurrentText("sgd")
    s.lr_spin.setValue(10.0)
    s.clip_spin.setValue(0.0)
    assert train(window, qtbot, epochs=5) == "diverged"        # warnings are errors: none escaped
    text = window.banner.label.text()
    assert "Back to the weights" in text and "learning rate" in text
    run = window.run
    base = float(np.mean(run.dataset.y_train ** 2)) * run.train_data().loss_scale
    assert run.trainer.val_loss() < SANE_FACTOR * base        # not the 3.6e304 of the last finite weights
    # no epoch finished: the loss tab shows the loss of every step
    assert window.session.history == []
    np.testing.assert_array_equal(window.loss_plot.train, run.trainer.log.loss)
    np.testing.assert_array_equal(window.loss_plot.epochs, run.trainer.log.step)
    assert window.loss_plot.plot.getAxis("bottom").labelText.startswith("step")
    assert np.isnan(window.loss_plot.val).all()
    # huge numbers in scientific notation
    assert "e+" in window.progress_label.text()
    # and the display shows the kept weights
    np.testing.assert_array_equal(window.session.trace_weights["weight_hh_l0"], run.model.state_dict()["weight_hh_l0"])


def test_changing_units_after_training_asks_before_discarding(window, qtbot, monkeypatch):
    assert train(window, qtbot) == "done"
    params = window.run.model.params.copy()
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.No)
    window.settings_panel.units_spin.setValue(7)
    assert asked and "discarded" in asked[0]
    assert window.run.model.n_units == 4 and np.array_equal(window.run.model.params, params)
    assert window.settings_panel.units_spin.value() == 4
    answer_questions(monkeypatch, QMessageBox.StandardButton.Yes)
    window.settings_panel.units_spin.setValue(7)
    assert window.run.model.n_units == 7 and window.run.trainer.step == 0
    # untrained: no question
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.No)
    window.settings_panel.units_spin.setValue(5)
    assert not asked and window.run.model.n_units == 5


def test_relaunch_offer_says_why_the_run_was_saved(qtbot, qsettings, app_paths):
    win = make_window(qtbot, qsettings)
    assert train(win, qtbot) == "done"
    close_and_wait(win)
    again = MainWindow(settings=qsettings)
    qtbot.addWidget(again)
    assert again.offer_autosave()
    assert "not saved" in again.banner.label.text() and "while training" not in again.banner.label.text()
    again.close()
    # closing while training says so
    win3 = make_window(qtbot, qsettings, Run(load_example("adding"), settings_for_example("adding", epochs=20)))
    win3.start_training()
    qtbot.waitUntil(lambda: win3.session.progress.step > 2, timeout=20000)
    close_and_wait(win3)
    win4 = MainWindow(settings=qsettings)
    qtbot.addWidget(win4)
    assert win4.offer_autosave() and "closed while training" in win4.banner.label.text()


def test_a_reopened_run_draws_every_plot_and_shows_its_source(window, qtbot, tmp_path):
    assert train(window, qtbot, epochs=2) == "done"
    window.save_run(tmp_path / "my run")
    window.reset_weights()
    qtbot.waitUntil(lambda: not window.display.busy, timeout=10000)
    window.through_time_plot.clear()
    with qtbot.waitSignal(window.sigRunOpened, timeout=20000):          # the run with its trace
        window.open_run(tmp_path / "my run")
    qtbot.waitUntil(lambda: window.session.predictions is not None, timeout=20000)    # then its predictions
    run = window.run
    x, y = run.dataset.x_val[0:1], run.dataset.y_val[0:1]
    _, norms, _ = run.model.compute_grads(x, y, run.dataset.loss)
    dh_curve = window.through_time_plot.csv_rows()
    rows = list(dh_curve[1])
    assert len(rows) == run.dataset.seq_len
    np.testing.assert_allclose([float(r[1]) for r in rows], norms.dh)
    np.testing.assert_array_equal(window.loss_plot.epochs, [1, 2])
    assert window.prediction_plot.data["pred"].size == run.dataset.n_val
    assert window.heatmap_plot.csv_rows() is not None
    src = window.settings_panel.source_label.text()
    assert "my run" in src and "sine" in src
    assert window.windowTitle() == "LSTM Explorer — my run"


def test_title_names_the_file_once(window, qtbot, tmp_path):
    path = tmp_path / "flows.csv"
    path.write_text("v\n" + "".join(f"{np.sin(i / 4):.4f}\n" for i in range(300)))
    with qtbot.waitSignal(window.sigDataLoaded, timeout=10000):
        window.open_file(str(path), seq_len=20)
    assert window.windowTitle() == "LSTM Explorer — flows.csv"
    assert window.windowTitle().count("LSTM Explorer") == 1


def test_most_memory_unit_keeps_its_writes_longest(window, qtbot, monkeypatch):
    from explorer.app.memory_view import memory_spans

    assert train(window, qtbot) == "done"
    window.session.set_position(unit=0)
    u = window.select_memory_unit()
    spans = memory_spans(window.trace, sample=0)
    assert u == int(np.argmax(spans)) and window.session.position.unit == u and window.unit_spin.value() == u
    assert f"Unit {u} carries the most memory" in window.statusBar().full_message()
    # a plain RNN keeps no belt: the unit whose h varies most
    answer_questions(monkeypatch, QMessageBox.StandardButton.Yes)
    window.settings_panel.cell_combo.setCurrentText("rnn")
    qtbot.waitUntil(lambda: window.trace is not None and window.trace.kind == "rnn", timeout=20000)
    u = window.select_memory_unit()
    assert u == int(np.argmax(np.var(window.trace.h[0], axis=0)))


def test_one_autosave_folder_level(qtbot, qapp, app_paths):
    from explorer.gui.files import autosave_dir

    org, name = qapp.organizationName(), qapp.applicationName()
    try:
        qapp.setOrganizationName("LSTM Explorer")
        qapp.setApplicationName("LSTM Explorer")
        p = autosave_dir()
        assert p.name == "autosave" and p.parent.name == "LSTM Explorer"
        assert p.parent.parent.name != "LSTM Explorer"
        qapp.setOrganizationName("")
        assert autosave_dir() == p
    finally:
        qapp.setOrganizationName(org)
        qapp.setApplicationName(name)


def test_every_file_the_window_writes_has_the_same_mode(window, qtbot, tmp_path):
    old = os.umask(0o022)
    try:
        assert train(window, qtbot) == "done"
        assert window.save_run(tmp_path / "run")
        window.export_all(tmp_path / "export")
        folder = window.autosave()
        files = [p for d in (tmp_path / "run", tmp_path / "export", folder) for p in Path(d).rglob("*") if p.is_file()]
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
        assert len(files) > 20 and set(modes.values()) == {0o644}, modes
    finally:
        os.umask(old)


def test_at_1024_by_700_nothing_is_clipped(qtbot, qsettings, app_paths):
    from explorer.gui.timestep_bar import SLIDER_MIN_WIDTH

    win = make_window(qtbot, qsettings, size=(1024, 700))
    assert (win.width(), win.height()) == (1024, 700)
    frame = QRect(QPoint(0, 0), win.size())
    # narrower than 1200 px: the settings are a tab among the plots (shown when their tab is raised)
    assert win.settings_dock in win.tabifiedDockWidgets(win.plot_docks["loss"])
    win.settings_dock.raise_()
    qtbot.waitUntil(lambda: not win.settings_dock.visibleRegion().isEmpty(), timeout=5000)
    for w in (win.diagram, win.equations, win.timebar, win.timebar.slider, win.timebar.speed_combo,
              win.memory_button, win.unit_spin, win.sample_spin, win.settings_dock, win.progress):
        r = QRect(w.mapTo(win, QPoint(0, 0)), w.size())
        assert frame.contains(r), (type(w).__name__, r, frame)
        assert w.width() >= w.minimumSizeHint().width() - 1, type(w).__name__
    assert win.timebar.slider.width() >= SLIDER_MIN_WIDTH
    scroll = win.settings_dock.widget()
    assert win.settings_panel.width() <= scroll.viewport().width()       # no sideways scrolling
    label = win.data_label                                                # the data line shortens with …
    assert label.fontMetrics().horizontalAdvance(label.text()) <= label.width()
    assert label.full_text() == win.run.dataset.describe()
    assert win.diagram.width() >= 360 and win.diagram.height() >= 200
    assert win.equations.width() >= 200


# -- issue 14: nothing big on the GUI thread; stop and close in time --------------------------------------
def test_opening_a_big_run_returns_at_once_and_draws_when_ready(window, qtbot, tmp_path):
    big = Run(load_example("adding", seq_len=200), settings_for_example("adding", units=64, epochs=1))
    big.save(tmp_path / "big")
    shown = []                                              # the status bar's progress as it moves
    window.progress.valueChanged.connect(lambda v: shown.append((window.progress.format(), v)))
    t0 = time.perf_counter()
    with qtbot.waitSignal(window.sigRunOpened, timeout=120000):
        window.open_run(tmp_path / "big")
        returned = time.perf_counter() - t0
    assert returned < 0.1                                   # nothing read or computed on the GUI thread
    assert window.run.model.n_units == 64 and window.trace.T == 200
    assert window.session.predictions is None               # drawn when they arrive
    qtbot.waitUntil(lambda: window.session.predictions is not None, timeout=120000)
    steps = [v for f, v in shown if f.startswith("Computing predictions")]
    assert len(steps) >= 3 and steps == sorted(steps)       # progress shown while they are computed
    assert window.progress.format() == "%p%"
    shown = window.session.predictions["n_shown"]
    assert shown == min(big.dataset.n_val, big.prediction_windows())     # the bounded display set
    assert window.session.predictions["prediction"].shape == (shown,)


def _engine_steps_are_interruptible() -> bool:
    import inspect

    from explorer.engine import Trainer

    return "interrupt" in inspect.signature(Trainer.steps).parameters


@pytest.mark.skipif(not _engine_steps_are_interruptible(),
                    reason="needs the engine's Trainer.steps(interrupt=...) (helper 'engine'); until then "
                           "Stop waits for the step under way")
def test_stop_takes_effect_within_two_seconds_on_a_slow_model(window, qtbot):
    run = Run(load_example("adding", seq_len=200), settings_for_example("adding", units=128, epochs=1, batch=64))
    window.set_run(run)
    window.start_training()
    qtbot.waitUntil(lambda: window.session.progress.step >= 1, timeout=60000)
    t0 = time.perf_counter()
    with qtbot.waitSignal(window.sigTrainingFinished, timeout=10000) as sig:
        window.stop_training()
    assert sig.args[0] == "stopped"
    assert time.perf_counter() - t0 < 2.0


QUIT_WHILE_LOADING = r"""
import sys, threading
import explorer.gui.files as files
from explorer.data.examples import load_example
release = threading.Event()
def slow(path, **opts):                 # a file that takes a while to read
    release.wait(2.0)
    return load_example("sine")
files.load_dataset = slow
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from explorer.gui import app as gui_app
app = gui_app.create_app()
def close_all():
    for w in QApplication.topLevelWidgets():
        w.close()
QTimer.singleShot(600, close_all)        # quit while the file is still loading
sys.exit(gui_app.main([sys.argv[1]]))
"""


def test_quitting_while_a_file_loads_exits_cleanly(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "c"),
               XDG_DATA_HOME=str(tmp_path / "d"), XDG_STATE_HOME=str(tmp_path / "s"))
    path = tmp_path / "big.csv"
    path.write_text("v\n1\n2\n")
    r = subprocess.run([sys.executable, "-c", QUIT_WHILE_LOADING, str(path)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "QThread: Destroyed" not in r.stderr and "Abort" not in r.stderr


def test_a_window_without_a_run_loads_a_file_with_the_default_model(qtbot, qsettings, app_paths, tmp_path):
    from explorer.runs.store import ModelSettings
    from explorer.runs.store import settings_for_data

    win = MainWindow(settings=qsettings)             # as the tour and outside scripts make it
    qtbot.addWidget(win, before_close_func=close_and_wait)
    path = tmp_path / "series.csv"
    path.write_text("v\n" + "".join(f"{np.sin(i / 4):.4f}\n" for i in range(300)))
    with qtbot.waitSignal(win.sigDataLoaded, timeout=20000):
        win.open_file(str(path))
    d = settings_for_data("series")                  # a file's settings, as on the command line
    s = win.run.settings
    assert (s.units, s.lr, s.batch, s.epochs, s.clip) == (d.units, d.lr, d.batch, d.epochs, d.clip)
    assert win.run.model.n_units == d.units


def test_memory_tab_shows_the_product_of_the_forget_gate_to_the_end(window, qtbot):
    from explorer.gui.main_window import memory_kept

    def shown():
        header, rows = window.memory_plot.csv_rows()
        return np.array([float(r[-1]) for r in rows])

    title, kept = memory_kept(window.trace)
    f = window.trace.f[0]                      # of what unit j wrote at step t: ∏ f_s for s > t
    np.testing.assert_allclose(kept, [np.prod(f[t + 1:], axis=0) for t in range(len(f))])
    assert title.startswith("Memory kept: ∏ fₛ, s > t") and kept.shape == f.shape
    assert window.plot_docks["memory"].windowTitle() == "Memory"
    window.plot_docks["memory"].raise_()
    qtbot.waitUntil(lambda: window.memory_plot.has_data() and np.allclose(shown(), kept.ravel()), timeout=5000)
    # behind another tab it is fed only when raised again
    window.plot_docks["loss"].raise_()
    with qtbot.waitSignal(window.display.sigDisplayed, timeout=10000):
        window.sample_spin.setValue(5)
    np.testing.assert_allclose(shown(), kept.ravel())                 # still the old sample's
    window.plot_docks["memory"].raise_()
    new = memory_kept(window.trace)[1]
    qtbot.waitUntil(lambda: np.allclose(shown(), new.ravel()), timeout=5000)


def test_an_example_of_sequences_shows_its_fixed_inputs_and_what_it_predicts(window, qtbot):
    from PySide6.QtCore import Qt

    sp = window.settings_panel

    def listed():
        return [(sp.columns_list.item(i).text(), sp.columns_list.item(i).checkState() == Qt.CheckState.Checked)
                for i in range(sp.columns_list.count())]

    window.set_run(Run(load_example("adding"), settings_for_example("adding", units=4)))
    assert listed() == [("value", True), ("marker", True)]
    assert [sp.target_combo.itemText(i) for i in range(sp.target_combo.count())] == ["the marked sum"]
    assert not sp.columns_list.isEnabled() and not sp.target_combo.isEnabled()   # fixed by the example
    window.set_run(Run(load_example("sine"), settings_for_example("sine", units=4)))
    assert listed() == [("value", True)] and sp.target_combo.currentText() == "value"


def test_after_training_the_through_time_plot_shows_the_selected_sample(window, qtbot):
    from explorer.app.tasks import sample_of

    window.session.set_position(sample=3)
    qtbot.waitUntil(lambda: not window.display.busy, timeout=10000)
    assert train(window, qtbot) == "done"
    qtbot.waitUntil(lambda: not window.display.busy and window.session.predictions is not None, timeout=20000)
    run = window.run
    model = run.model.clone()
    x, y = sample_of(run.dataset, 3)
    _, gn, _ = model.compute_grads(x, y, run.dataset.loss)           # the sample's own, not the last batch's
    dh, dc = window.session.norms
    np.testing.assert_allclose(dh, gn.dh, rtol=1e-12)
    np.testing.assert_allclose(dc, gn.dc, rtol=1e-12)
    window.plot_docks["grad_through_time"].raise_()
    plot = window.through_time_plot
    qtbot.waitUntil(lambda: plot.dh_curve.yData is not None and len(plot.dh_curve.yData) == len(gn.dh), timeout=5000)
    np.testing.assert_allclose(plot.dh_curve.yData, gn.dh, rtol=1e-12)      # what the plot draws
    np.testing.assert_array_equal(plot.dh_curve.xData, np.arange(1, len(gn.dh) + 1))


def test_a_plot_is_never_squashed_flat_by_a_saved_layout(window, qtbot):
    from PySide6.QtCore import Qt

    from explorer.gui.main_window import PLOT_MIN_HEIGHT

    window.resize(1600, 1000)
    loss = window.plot_docks["loss"]
    loss.raise_()
    window.resizeDocks([loss], [40], Qt.Orientation.Vertical)     # what a layout from a taller screen did
    qtbot.waitUntil(lambda: window.loss_plot.height() >= PLOT_MIN_HEIGHT, timeout=5000)
    assert window.loss_plot.height() >= 150
    assert window.diagram.height() >= 200                           # and the diagram still has its room

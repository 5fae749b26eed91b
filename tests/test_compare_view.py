"""The comparison view: cells trained side by side in one worker, one shared timestep, the core's numbers."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtGui import QImage  # noqa: E402

from explorer.app.memory_view import memory_to_end  # noqa: E402
from explorer.data.examples import load_example  # noqa: E402
from explorer.engine.describe import describe  # noqa: E402
from explorer.gui.app import _args  # noqa: E402
from explorer.gui.comparison import (MORE_STEPS, CompareDialog, ComparisonWindow, build_comparison,  # noqa: E402
                                     open_comparison, parse_cells)
from explorer.runs.store import settings_for_example  # noqa: E402


def _close(w):
    w.close()
    w.after_close()


@pytest.fixture(scope="module")
def adding():
    return load_example("adding")


def _window(qtbot, ds, cells, **kw):
    cw = ComparisonWindow(ds, settings_for_example("adding", units=4), cells, **kw)
    qtbot.addWidget(cw, before_close_func=_close)
    cw.show()
    qtbot.waitExposed(cw)
    return cw


def test_the_view_trains_rnn_and_lstm_side_by_side_and_draws_the_cores_numbers(qtbot, adding, tmp_path):
    cw = _window(qtbot, adding, ["rnn", "lstm"], max_steps=60, eval_every=20)
    drawn = []
    cw.sigResult.connect(drawn.append)
    with qtbot.waitSignal(cw.sigFinished, timeout=180000) as fin:
        assert cw.start()
        assert cw.training and cw.threads.count() == 1          # ONE worker trains both cells
    assert fin.args == ["done"]
    assert not cw.training and cw.threads.count() == 0
    res = cw.result
    assert res is drawn[-1] and res.reason == "done" and len(drawn) >= 2       # partials arrived before the end
    rnn, lstm = res.of("rnn")[0], res.of("lstm")[0]
    # both loss curves arrived, with the core's values (validation loss at steps 0, 20, 40, 60)
    for r, name in ((rnn, "plain RNN"), (lstm, "LSTM")):
        x, y = cw.loss_plot.curve(name)
        assert x.tolist() == [0, 20, 40, 60] and r.step == 60
        np.testing.assert_array_equal(y, r.eval_losses)
        assert np.all(np.isfinite(y)) and np.all(y > 0)
    # the gradient through time at the LATEST step, t = 1..T, ‖∂L/∂c‖ for the LSTM only
    x, y = cw.through_time_plot.curve("plain RNN ‖∂L/∂hₜ‖")
    assert x.tolist() == list(range(1, 51)) and rnn.norms_step == 60
    np.testing.assert_array_equal(y, rnn.norms_dh_last)
    np.testing.assert_array_equal(cw.through_time_plot.curve("LSTM ‖∂L/∂cₜ‖")[1], lstm.norms_dc_last)
    assert cw.through_time_plot.curve("plain RNN ‖∂L/∂cₜ‖") is None
    legend = [label.text for _, label in cw.through_time_plot.legend.items]   # cells by colour, one dashed entry
    assert legend == ["plain RNN", "LSTM", "‖∂L/∂cₜ‖"]
    assert "step 60" in cw.through_time_plot._title
    # the table rows are the core's rows
    rows = res.rows()
    assert cw.table_rows == rows
    texts = cw.table_texts()
    for row, shown in zip(rows, texts):
        assert shown[0] == describe(row.cell).title
        assert shown[1] == row.parameters_text            # as the command prints it: layers + head = total
        assert shown[2] == (str(row.steps_to_target) if row.steps_to_target is not None else "not within 60")
        assert shown[3] == f"{row.seconds:.1f}" and shown[4] == f"{row.final_val_loss:.4g}"
        assert shown[5] == "60 / 60"
    assert [t[1] for t in texts] == ["28 + 5 = 33", "112 + 5 = 117"]   # rnn n(m+n+1), lstm 4n(m+n+1); n = 4, m = 2
    fm = cw.table.fontMetrics()                         # every text fits its column on one line
    assert not cw.table.wordWrap()
    for r, shown in enumerate(texts):
        for c, text in enumerate(shown):
            assert cw.table.columnWidth(c) >= fm.horizontalAdvance(text), (r, c, text)
    # the memory heatmap holds memory_to_end of the LSTM's trace; the RNN has none, and says why
    col = cw.columns["lstm"]
    assert col.session.trace is lstm.trace and lstm.trace is not None
    np.testing.assert_array_equal(col.memory.values["memory"], memory_to_end(lstm.trace))
    assert cw.columns["rnn"].memory is None and "keeps no belt" in cw.columns["rnn"].no_memory.text()
    assert "memory_rnn" not in cw.widgets and "memory_lstm" in cw.widgets

    # one timestep control moves every diagram; the unit too
    cw.timebar.first()
    for _ in range(3):
        cw.timebar.next()
    cw.unit_spin.setValue(2)
    for cell, c in cw.columns.items():
        assert (c.session.position.t, c.session.position.unit) == (3, 2)
        shown, tr = c.diagram.displayed_values(), c.session.trace
        assert shown["h"] == tr.h[0, 3, 2] and shown["h_prev"] == tr.h[0, 2, 2]
        if cell == "lstm":
            assert shown["f"] == tr.f[0, 3, 2] and shown["c"] == tr.c[0, 3, 2]
    assert cw.timebar.label.text() == "t = 4 / 50"
    assert cw.through_time_plot._marker.value() == 4 and col.memory.markers["memory"].value() == 4
    # a click on a unit in one diagram selects it in all
    cw.columns["lstm"].session.set_position(unit=1)
    assert [c.session.position.unit for c in cw.columns.values()] == [1, 1] and cw.unit_spin.value() == 1
    # another sample (idle: a small task traces it) is followed by every diagram, with that sample's numbers
    with qtbot.waitSignal(cw.sigResult, timeout=60000) as got:
        cw.sample_spin.setValue(2)
    for cr, c in zip(cw.comparison.runs, cw.columns.values()):
        r = got.args[0].of(cr.cell)[0]
        assert c.session.position.sample == 2 and r.sample == 2 and c.session.trace is r.trace
        own = cr.run.model.forward(adding.x_val[2:3])              # the cell's model on sample 2, here
        np.testing.assert_array_equal(c.session.trace.h[0], own.h[0])
        assert c.diagram.displayed_values()["h"] == own.h[0, 3, 1]
        assert not np.array_equal(own.h[0], res.of(cr.cell)[0].trace.h[0])    # not sample 0's numbers
    assert [cr.cell for cr in cw.comparison.runs] == ["rnn", "lstm"]

    # export: every plot and diagram as PNG, SVG, CSV and the table as the command writes it
    files = cw.export_all(tmp_path / "out")
    names = {p.name for p in files}
    assert {"loss_curves.png", "grad_through_time.svg", "diagram_rnn.csv", "diagram_lstm.png", "memory_lstm.csv",
            "comparison.csv", "comparison_seeds.csv"} <= names
    assert QImage(str(tmp_path / "out" / "loss_curves.png")).size().toTuple() == (1800, 1040)
    with open(tmp_path / "out" / "loss_curves.csv") as fh:
        loss_rows = [r for r in csv.DictReader(fh) if r["series"] == "LSTM"]
    assert [float(r["y"]) for r in loss_rows] == lstm.eval_losses.tolist()
    with open(tmp_path / "out" / "diagram_rnn.csv") as fh:
        d = list(csv.DictReader(fh))
    assert list(d[0])[:4] == ["t", "unit", "h_prev", "h"] and len(d) == 50
    assert float(d[3]["h"]) == cw.columns["rnn"].session.trace.h[0, 3, 1]          # sample 2 now
    with open(tmp_path / "out" / "comparison.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [(t["cell"], int(t["parameters"])) for t in table] == [(r.cell, r.parameters) for r in rows]


def test_stop_then_continue_goes_on_from_where_it_stopped(qtbot, adding):
    cw = _window(qtbot, adding, ["gru", "lstm"], max_steps=100000, eval_every=10)
    with qtbot.waitSignal(cw.sigResult, timeout=60000, check_params_cb=lambda r: r.steps_done > 0):
        cw.start()
    with qtbot.waitSignal(cw.sigFinished, timeout=30000) as fin:
        cw.stop()
    assert fin.args == ["stopped"] and cw.train_action.text() == "&Continue"
    comp, stopped_at = cw.comparison, [r.step for r in cw.result.results]
    with qtbot.waitSignal(cw.sigResult, timeout=60000,
                          check_params_cb=lambda r: min(x.step for x in r.results) > max(stopped_at)):
        assert cw.start()
    assert cw.comparison is comp                    # the same runs, continued
    with qtbot.waitSignal(cw.sigFinished, timeout=30000):
        cw.stop()
    # a finished comparison continues with MORE_STEPS more per cell; Start Over builds new runs
    assert MORE_STEPS > 0
    cw.start_over()
    assert cw.comparison is not comp and cw.training
    with qtbot.waitSignal(cw.sigFinished, timeout=30000):
        cw.stop()


def test_a_finished_comparison_continues_with_more_steps(qtbot, adding):
    cw = _window(qtbot, adding, ["rnn", "gru"], max_steps=20, eval_every=10)
    with qtbot.waitSignal(cw.sigFinished, timeout=60000):
        cw.start()
    assert cw.result.reason == "done" and cw.comparison.max_steps == 20
    with qtbot.waitSignal(cw.sigResult, timeout=60000, check_params_cb=lambda r: r.steps_done > 40):
        cw.start()
    assert cw.comparison.max_steps == 20 + MORE_STEPS
    with qtbot.waitSignal(cw.sigFinished, timeout=30000):
        cw.stop()


def test_parse_cells_and_the_compare_option(capsys):
    assert parse_cells("rnn,gru,lstm") == ["rnn", "gru", "lstm"]
    assert parse_cells(" LSTM , peephole ") == ["lstm", "peephole"]
    a = _args(["--compare", "rnn,gru,lstm", "--example", "adding"])
    assert a.compare == ["rnn", "gru", "lstm"] and a.example == "adding"
    assert _args(["--compare", "rnn,lstm", "data.csv"]).file == "data.csv"
    assert _args(["--example", "sine"]).compare is None
    bad = {"rnn": "gives 1 cell", "rnn,tree": "unknown cell 'tree'", "rnn,rnn": "names rnn twice",
           "rnn,gru,lstm,peephole,rnn": "names rnn twice", ",": "gives 0 cells"}
    for text, why in bad.items():
        with pytest.raises(SystemExit) as exc:
            _args(["--compare", text])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert why in err and "--compare" in err and len(err.splitlines()) == 1
    for argv, why in ((["--compare", "rnn,gru", "--cell", "gru"], "leave out --cell"),
                      (["--compare", "rnn,gru", "--example", "nope"], "'nope' is not a built-in example")):
        with pytest.raises(SystemExit) as exc:
            _args(argv)
        assert exc.value.code == 2 and why in capsys.readouterr().err


def test_compare_option_opens_the_view_on_the_example(qtbot, adding):
    cw = build_comparison(["rnn", "gru"], example="adding", start=False)
    qtbot.addWidget(cw, before_close_func=_close)
    if cw.dataset is None:
        qtbot.waitSignal(cw.sigDataLoaded, timeout=30000).wait()
    assert cw.dataset.source == adding.source and cw.dataset.x_val.shape == adding.x_val.shape
    assert cw.settings == settings_for_example("adding")
    assert cw.windowTitle() == "Compare plain RNN · GRU — adding"
    assert "32 units" in cw.cells_label.text() and cw.unit_spin.maximum() == 31


def test_compare_on_a_file_that_cannot_be_read_says_why(qtbot, tmp_path):
    bad = tmp_path / "empty.csv"
    bad.write_text("")
    cw = build_comparison(["rnn", "lstm"], file=str(bad))
    qtbot.addWidget(cw, before_close_func=_close)
    with qtbot.waitSignal(cw.sigLoadFailed, timeout=30000) as failed:
        pass
    assert "empty.csv" in failed.args[0] and cw.banner.showing and not cw.training
    assert cw.start() is False                      # nothing to train on


def test_lstm_explorer_compare_paints_and_refuses_bad_lists(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "c"),
               XDG_DATA_HOME=str(tmp_path / "d"), XDG_STATE_HOME=str(tmp_path / "s"))
    res = subprocess.run([sys.executable, "-m", "explorer", "--compare", "rnn,lstm", "--example", "sine",
                          "--quit-after-paint"], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    res = subprocess.run([sys.executable, "-m", "explorer", "--compare", "rnn,lsmt"], capture_output=True,
                         text=True, timeout=120, env=env)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        "lstm-explorer: --compare 'rnn,lsmt' names an unknown cell 'lsmt'; choose two to four of lstm, peephole, "
        "gru, rnn, separated by commas (e.g. rnn,gru,lstm)."]


def test_the_menu_opens_a_comparison_on_the_windows_data(qtbot, qsettings, app_paths, monkeypatch):
    from explorer.gui.main_window import MainWindow

    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.show()
    with qtbot.waitSignal(win.sigDataLoaded, timeout=30000):
        win.open_example("adding")
    assert win.compare_action.text() == "&Compare Cells…"
    assert win.compare_action in win.menuBar().actions()[1].menu().actions()       # Training › Compare Cells…
    win.settings_panel.units_spin.setValue(5)
    # Training › Compare Cells…: the dialog (answered here) opens the comparison, training at once
    monkeypatch.setattr(CompareDialog, "exec", lambda self: (self.boxes["lstm"].setChecked(False),
                                                             self.steps_spin.setValue(10), 1)[-1])
    win.compare_action.trigger()
    first = win.comparison_windows[-1]
    assert first.cells == ["gru", "rnn"] and first.max_steps == 10 and first.settings.units == 5
    qtbot.waitUntil(lambda: first.result is not None and first.result.reason == "done", timeout=60000)
    first.close()
    cw = open_comparison(win, ["rnn", "lstm"], max_steps=20, start=False)
    assert cw.dataset is win.run.dataset and cw.settings.units == 5 and cw.threads is win.threads
    assert cw.isWindow() and cw.parent() is win
    with qtbot.waitSignal(cw.sigFinished, timeout=60000):
        cw.start()
    assert [r.step for r in cw.result.results] == [20, 20]
    # the main window closing closes the comparison first (its thread is the main window's)
    with qtbot.waitSignal(cw.sigResult, timeout=60000):
        cw.start()
    win.close()
    assert cw.closing                               # closed with it (deleted later)
    win.after_close()
    assert not win.threads.count()


def test_the_dialog_offers_two_to_four_cells(qtbot):
    from PySide6.QtWidgets import QDialogButtonBox

    dlg = CompareDialog(None, data_text="adding", settings=settings_for_example("adding"))
    qtbot.addWidget(dlg)
    ok = dlg.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert dlg.cells() == ["lstm", "gru", "rnn"] and ok.isEnabled()
    dlg.boxes["gru"].setChecked(False)
    dlg.boxes["lstm"].setChecked(False)
    assert dlg.cells() == ["rnn"] and not ok.isEnabled() and "two to four" in dlg.hint.text()
    dlg.boxes["peephole"].setChecked(True)
    assert dlg.cells() == ["peephole", "rnn"] and ok.isEnabled()
    assert any("32 units, adam lr 0.01, batch 32" in lab.text() for lab in dlg.findChildren(type(dlg.hint)))


def test_a_narrow_plot_keeps_its_legend_and_data_inside_its_view(qtbot):
    """Four cells at 1024 px give each plot ~330 px: the legend takes as many rows as it needs and the
    data stays inside the view (a legend fitted to the data's own width used to widen the layout)."""
    from explorer.gui.comparison import LiveCurvesPlotWidget

    w = LiveCurvesPlotWidget("Validation loss of each cell", "step", "validation loss", log_y=True)
    qtbot.addWidget(w)
    w.resize(900, 300)                        # wide first: the legend takes one row of five columns
    w.show()
    qtbot.waitExposed(w)
    names = ["plain RNN", "GRU", "LSTM", "peephole LSTM", "‖∂L/∂cₜ‖ of the peephole LSTM"]
    for k, name in enumerate(names):
        w.set_curve(name, [0, 50, 100], [1.0, 0.5, 0.1 * (k + 1)], "#336699")
    qtbot.waitUntil(lambda: w.legend.columnCount == len(names), timeout=5000)
    w.resize(330, 300)                        # then narrow (the splitter gives it a third of 1024 px)
    qtbot.waitUntil(lambda: w.view.viewport().width() < 340, timeout=5000)
    room = w.view.viewport().width()

    def inside():
        vb, labels = w.plot.vb.sceneBoundingRect(), [label.sceneBoundingRect() for _, label in w.legend.items]
        return (vb.right() <= room and max(r.right() for r in labels) <= room
                and max(r.bottom() for r in labels) <= vb.top())          # the legend above the data, not on it

    qtbot.waitUntil(inside, timeout=5000)
    assert w.legend.entries() == names and w.legend.columnCount < len(names)


def test_connectivity_of_every_cell_is_the_engines(qtbot, adding):
    from explorer.engine import make_model

    cw = _window(qtbot, adding, ["rnn", "lstm"], max_steps=40, eval_every=20)
    with qtbot.waitSignal(cw.sigFinished, timeout=180000):
        assert cw.start()
    cw.sessions[0].set_position(sample=2, t=45)
    qtbot.waitUntil(lambda: all(v[:2] == (2, 45) for v in cw.connectivity.values()) and len(cw.connectivity) == 2,
                    timeout=30000)
    x = adding.x_val[2:3]
    for cell, name in (("rnn", "plain RNN"), ("lstm", "LSTM")):
        r = cw.result.of(cell)[0]
        model = make_model(cell, adding.n_inputs, 4, adding.n_outputs)
        model.load_state_dict(r.weights)
        want = model.connectivity(x, 45)[0]
        _, _, got = cw.connectivity[cell]
        np.testing.assert_array_equal(got, want)
        assert np.all(got[46:] == 0) and np.all(got[:46] > 0)
        xs, ys = cw.connectivity_plot.curve(name)
        assert xs.tolist() == list(range(1, 51))
        np.testing.assert_array_equal(ys[:46], want[:46])
    assert "sample 2 at t = 46" in cw.connectivity_plot._title

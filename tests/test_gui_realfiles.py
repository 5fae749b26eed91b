"""The window on real files: the same units as the command line, the Series by box, z-scored inputs."""

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt

from explorer.data.examples import load_example
from explorer.gui.main_window import MainWindow
from explorer.runs.store import FILE_SETTINGS, Run, settings_for_example


@pytest.fixture
def window(qtbot, qsettings, app_paths):
    win = MainWindow(settings=qsettings)
    win.set_run(Run(load_example("sine"), settings_for_example("sine", units=8, epochs=2, cell="gru")))
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.trace is not None, timeout=10000)
    yield win
    if win.training:
        win.stop_and_wait(3000)


def _stocks(path, n=60):
    d0 = np.datetime64("2020-01-01")
    rows = [f"{s},{d0 + i},{1000 * (k + 1) + i:.1f}" for k, s in enumerate(("A", "B", "C")) for i in range(n)]
    path.write_text("symbol,date,price\n" + "\n".join(rows) + "\n")


def test_a_file_gets_the_same_units_in_the_window_as_on_the_command_line(window, qtbot, tmp_path):
    from explorer.cli import main

    p = tmp_path / "stocks.csv"
    _stocks(p)
    assert main(["train", str(p), "--epochs", "1", "--out", str(tmp_path / "r"), "--no-plots", "--quiet"]) == 0
    cli_units = json.loads((tmp_path / "r" / "config.json").read_text())["model"]["units"]
    with qtbot.waitSignal(window.sigDataLoaded, timeout=20000):
        window.open_file(str(p))
    assert window.run.settings.units == cli_units == FILE_SETTINGS["series"]["units"]
    assert window.run.settings.cell == "gru"                # the cell the person chose stays
    # the long table's series, said in the status and offered in the Series by box
    assert window.data_label.text().startswith("stocks.csv (3 series by symbol): ")
    box = window.settings_panel.key_combo
    assert box.currentData() == "symbol" and [box.itemData(i) for i in range(box.count())] == [None, "none", "symbol"]
    plot = window.prediction_plot                   # the predictions of every series' validation part, in pieces
    qtbot.waitUntil(lambda: plot._title == "Predictions on the validation parts of the 3 series by symbol"
                    and window.turns.pending == 0, timeout=20000)           # (drawn in its own turn)
    x = plot.target_curve.xData                     # every point (the drawing is downsampled)
    assert np.isnan(x).sum() == 2 and len(x) == 3 * 12 + 2
    box.setCurrentIndex(1)
    assert window.settings_panel.data_options()["key"] == "none"
    with qtbot.waitSignal(window.sigDataLoaded, timeout=20000):
        window.open_file(str(p), **window.settings_panel.data_options())
    assert window.run.dataset.segments is None and "series by" not in window.data_label.full_text()
    # the inputs the diagram and the equations show are z-scored, and they say so
    assert window.run.dataset.input_scaling == "z-scored"
    assert window.diagram._frame().values["x_text"].endswith("] z-scored")
    assert "(z-scored)" in window.equations.toPlainText()



def test_row_names_and_time_are_offered_as_what_they_are(window, qtbot, tmp_path):
    p = tmp_path / "AirPassengers.csv"
    p.write_text('"","time","value"\n' + "".join(f'"{k + 1}",{1949 + k / 12:.3f},{100 + k}\n' for k in range(60)))
    with qtbot.waitSignal(window.sigDataLoaded, timeout=20000):
        window.open_file(str(p))
    items = window.settings_panel.columns_list
    from PySide6.QtGui import QTextDocument

    def shown(tip):                                   # tooltips are rich text: what a person reads
        doc = QTextDocument()
        doc.setHtml(tip)
        return doc.toPlainText()
    tips = [shown(items.item(i).toolTip()) for i in range(items.count())]
    assert tips[0] == "column 1 numbers the rows (an index): it is not an input"
    assert tips[1] == "time is the time of each row: the x axis of the plots, not an input"
    assert items.item(2).checkState() == Qt.CheckState.Checked and window.run.dataset.columns == ["value"]
    # the predictions (computed after the load) are drawn against the time, labelled at year starts
    axis = window.prediction_plot.plot.getAxis("bottom")
    qtbot.waitUntil(lambda: axis.labelText == "year", timeout=20000)
    assert axis.dates and window.prediction_plot.x_origin == 1949


def test_a_constant_target_is_warned_about_on_the_banner(window, qtbot, tmp_path):
    p = tmp_path / "law.csv"
    p.write_text("deaths,law\n" + "".join(f"{100 + k % 7},{int(k >= 90)}\n" for k in range(100)))
    with qtbot.waitSignal(window.sigDataLoaded, timeout=20000):
        window.open_file(str(p), columns=["law"])
    assert window.banner.showing and window.banner.label.text().startswith(
        "The target 'law' is constant (0) in the training part, so the loss there is 0 and nothing is learned")
    with qtbot.waitSignal(window.sigDataLoaded, timeout=20000):
        window.open_file(str(p), columns=["deaths"], target="deaths")
    assert not window.banner.showing


def test_animation_frames_say_the_inputs_are_z_scored():
    from explorer.app.cell_view import cell_view
    from explorer.figures.animation import animation_frames

    run = Run(load_example("sine"), settings_for_example("sine", units=2))
    x, _ = run.sample_pair(0)
    frames = list(animation_frames(run.model.forward(x), cell_view("lstm"), x_note=run.dataset.input_scaling))
    assert run.dataset.input_scaling == "z-scored"
    assert len(frames) == x.shape[1] and all(f.values["x_text"].endswith("] z-scored") for f in frames)


def test_cli_predictions_csv_has_the_files_time_beside_t(tmp_path):
    import csv

    from explorer.cli import main

    p = tmp_path / "AirPassengers.csv"
    p.write_text("rownames,time,value\n" + "".join(f"{k + 1},{1949 + k / 12:.3f},{100 + k + 10 * np.sin(k):.1f}\n"
                                                  for k in range(144)))
    out = tmp_path / "run"
    assert main(["train", str(p), "--epochs", "1", "--units", "3", "--out", str(out), "--quiet", "--forecast", "0"]) == 0
    with open(out / "predictions.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:3] == ["t", "year", "target"]
    # the validation part: rows 116..144 (t is 1-based), each with its time as the file wrote it
    assert rows[1][:2] == ["116", "1958.583"] and rows[-1][:2] == ["144", "1960.917"]
    assert float(rows[-1][2]) == pytest.approx(100 + 143 + 10 * np.sin(143), abs=0.051)


def test_cli_predictions_csv_of_several_series_names_each_rows_series(tmp_path):
    import csv

    from explorer.cli import main

    p = tmp_path / "stocks.csv"
    _stocks(p, n=60)
    out = tmp_path / "run"
    assert main(["train", str(p), "--epochs", "1", "--units", "3", "--out", str(out), "--quiet"]) == 0
    with open(out / "predictions.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:4] == ["t", "symbol", "date", "target"]
    # each stock's last 12 days are its validation part: A's rows 49..60, then B's 109..120
    assert [r[:3] for r in rows[1:3]] == [["49", "A", "2020-02-18"], ["50", "A", "2020-02-19"]]
    assert rows[13][:3] == ["109", "B", "2020-02-18"] and float(rows[13][3]) == 2048.0
    assert [r[1] for r in rows[1:]].count("C") == 12

"""Every cell in the window: `--cell`, the Cell box, runs of any cell open, step and export their own quantities."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

pytest.importorskip("PySide6")

from explorer.data.examples import load_example  # noqa: E402
from explorer.app.cell_view import cell_view  # noqa: E402
from explorer.engine.describe import KINDS  # noqa: E402
from explorer.gui.app import _args, build_window  # noqa: E402
from explorer.gui.main_window import MainWindow  # noqa: E402
from explorer.runs.store import ModelSettings, Run  # noqa: E402


def _shows_the_trace(win, t, unit):
    tr, desc = win.trace, cell_view(win.trace.kind)
    shown = win.diagram.displayed_values()
    for g in desc.gate_names:
        assert shown[g] == getattr(tr, g)[0, t, unit], g
    assert shown["h"] == tr.h[0, t, unit]
    assert shown["h_prev"] == (tr.h0[0, unit] if t == 0 else tr.h[0, t - 1, unit])
    eq = win.equations.equation_values()
    assert eq["h"]["value"] == tr.h[0, t, unit]
    assert set(eq) - {"h_prev", "c_prev", "onehot_col"} == set(desc.gate_names) | {"h"} | (
        {"c"} if "c" in desc.state_names else set())


@pytest.mark.parametrize("kind", KINDS)
def test_a_run_of_every_cell_opens_steps_and_exports_its_quantities(qtbot, qsettings, app_paths, tmp_path, kind):
    run = Run(load_example("sine"), ModelSettings(cell=kind, units=3, epochs=1))
    for _ in run.trainer.steps(max_steps=5):          # trained headless
        pass
    run.save(tmp_path / "run")
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.show()
    qtbot.waitExposed(win)
    with qtbot.waitSignal(win.sigRunOpened, timeout=20000):     # read and drawn off the GUI thread
        assert win.open_run(tmp_path / "run")
    assert win.run.model.kind == kind and win.trace.kind == kind
    assert win.diagram.description is cell_view(kind)
    assert win.settings_panel.cell_combo.currentText() == kind
    win.unit_spin.setValue(2)
    win.timebar.set_t(4)
    _shows_the_trace(win, 4, 2)
    files = win.export_all(tmp_path / "export")
    assert tmp_path / "export" / "diagram.csv" in files
    with open(tmp_path / "export" / "diagram.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0])[:2 + len(cell_view(kind).csv_columns)] == ("t", "unit", *cell_view(kind).csv_columns)
    assert len(rows) == win.trace.T and rows[0]["t"] == "1"
    for g in cell_view(kind).gate_names:
        assert float(rows[4][g]) == getattr(win.trace, g)[0, 4, 2]
    assert float(rows[4]["h"]) == win.trace.h[0, 4, 2]
    if kind == "rnn":
        assert "r" not in rows[0] and "i" not in rows[0] and "c" not in rows[0]


def test_cell_option_opens_the_window_with_that_cell(qtbot, qsettings, app_paths, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    assert _args(["--cell", "gru", "--example", "adding"]).cell == "gru"
    assert _args(["data.csv", "--cell", "rnn"]).file == "data.csv"
    assert _args([]).cell is None
    win = build_window(example="sine", cell="gru", settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.trace is not None, timeout=20000)     # computed off the GUI thread
    combo = win.settings_panel.cell_combo
    assert [combo.itemText(k) for k in range(combo.count())] == list(KINDS)
    assert combo.currentText() == "gru" and win.run.model.kind == "gru"
    assert win.diagram.description.title == "GRU" and "GRU" in win.equations.text()
    # it trains in the window and the diagram follows the GRU's trace
    with qtbot.waitSignal(win.sigTrainingFinished, timeout=60000) as done:
        win.start_training(epochs=1)
    assert done.args == ["done"]
    win.timebar.set_t(3)
    _shows_the_trace(win, 3, win.diagram.unit)
    # the Cell box changes the cell: new weights of that cell (after asking to discard the trained
    # ones), drawn by its own diagram
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    combo.setCurrentText("rnn")
    qtbot.waitUntil(lambda: win.run.model.kind == "rnn" and win.trace is not None and win.trace.kind == "rnn",
                    timeout=20000)
    assert win.diagram.description.gates == () and set(win.diagram.displayed_values()) == {"x", "h_prev", "h"}


def test_bad_cell_option_is_refused_with_one_sentence(capsys):
    with pytest.raises(SystemExit) as exc:
        _args(["--cell", "tree"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--cell" in err and "'tree'" in err and "gru" in err


def test_lstm_explorer_cell_gru_paints_the_window(tmp_path):
    """The real command: `lstm-explorer --cell gru --example sine` opens and paints (then quits)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "c"),
               XDG_DATA_HOME=str(tmp_path / "d"), XDG_STATE_HOME=str(tmp_path / "s"))
    res = subprocess.run([sys.executable, "-m", "explorer", "--cell", "gru", "--example", "sine",
                          "--quit-after-paint"], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    res = subprocess.run([sys.executable, "-m", "explorer", "--cell", "lsmt"], capture_output=True, text=True,
                         timeout=120, env=env)
    assert res.returncode == 2 and "--cell" in res.stderr and "lsmt" in res.stderr
    assert res.stdout == ""

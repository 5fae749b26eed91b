"""Issue 11's outside check: runs of every cell (and a stacked bidirectional LSTM) trained headless with
`lstm-explorer train` open in the window through `open_run` and export their diagram with the cell's
own quantities as diagram.csv columns (GRU: r, z, h; RNN: h without gates)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

pytest.importorskip("PySide6")

from explorer.cli import main as cli_main  # noqa: E402
from explorer.engine.describe import describe  # noqa: E402
from explorer.gui.main_window import MainWindow  # noqa: E402

COLUMNS = {
    "rnn": ["h_prev", "h"],
    "gru": ["h_prev", "r", "z", "g", "h"],
    "lstm": ["h_prev", "c_prev", "i", "f", "g", "o", "c", "h"],
    "peephole": ["h_prev", "c_prev", "i", "f", "g", "o", "c", "h"],
}
RUNS = [("rnn", []), ("gru", []), ("lstm", []), ("peephole", []), ("lstm", ["--layers", "2", "--bidirectional"])]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The five runs, trained by the command line (one epoch of the sine example, 3 units)."""
    root = tmp_path_factory.mktemp("runs")
    folders = {}
    for cell, extra in RUNS:
        out = root / (cell + ("-deep" if extra else ""))
        rc = cli_main(["train", "--example", "sine", "--cell", cell, "--units", "3", "--epochs", "1", "--batch", "64",
                       *extra, "--no-plots", "--quiet", "--out", str(out)])
        assert rc == 0
        folders[out.name] = out
    return folders


def _read(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("name", ["rnn", "gru", "lstm", "peephole", "lstm-deep"])
def test_a_headless_run_opens_in_the_window_and_exports_its_cells_quantities(qtbot, qsettings, app_paths, tmp_path,
                                                                           trained, name):
    cell = name.split("-")[0]
    win = MainWindow(settings=qsettings)
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.show()
    with qtbot.waitSignal(win.sigRunOpened, timeout=60000):
        assert win.open_run(trained[name])
    qtbot.waitUntil(lambda: win.trace is not None, timeout=60000)
    run, tr = win.run, win.trace
    assert run.model.kind == cell and tr.kind == cell and run.trainer.step > 0
    deep = name.endswith("deep")
    assert (run.model.num_layers, run.model.num_directions) == ((2, 2) if deep else (1, 1))
    win.session.set_position(unit=1)
    out = tmp_path / "diagram.csv"
    win.export_one("diagram", out)
    rows = _read(out)
    cols = COLUMNS[cell]
    assert list(rows[0])[:2 + len(cols)] == ["t", "unit", *cols]
    assert list(rows[0])[2 + len(cols):] == ["x0"]                 # then the input (sine: one column)
    assert describe(cell).csv_columns == tuple(cols)
    if cell == "rnn":
        assert not {"i", "f", "o", "r", "z", "c"} & set(rows[0])
    if cell == "gru":                                               # Export All writes the same diagram.csv
        files = win.export_all(tmp_path / "all")
        assert tmp_path / "all" / "diagram.csv" in files
        assert (tmp_path / "all" / "diagram.csv").read_text() == out.read_text()
    assert len(rows) == tr.T and [r["t"] for r in rows[:3]] == ["1", "2", "3"] and rows[0]["unit"] == "1"
    sub = tr.layer(0, 0) if deep else tr
    for t in (0, 4, tr.T - 1):
        for q in cols:                                              # the exact numbers of the trace
            if not q.endswith("_prev"):
                assert float(rows[t][q]) == getattr(sub, q)[0, t, 1], (q, t)
    assert float(rows[0]["h_prev"]) == sub.h0[0, 1] and float(rows[4]["h_prev"]) == sub.h[0, 3, 1]
    if "c_prev" in cols:
        assert float(rows[4]["c_prev"]) == sub.c[0, 3, 1]
    if deep:
        # the deep model's last layer, reverse direction: its own quantities, its own "previous" step
        win.session.set_position(layer=1, direction=1)
        win.export_one("diagram", out)
        rows = _read(out)
        top = tr.layer(1, 1)
        assert list(rows[0])[:2 + len(cols)] == ["t", "unit", *cols]
        assert [k for k in rows[0] if k.startswith("x")] == ["x0", "x1", "x2", "x3", "x4", "x5"]   # D·n inputs
        for t in (0, 7):
            assert float(rows[t]["f"]) == top.f[0, t, 1] and float(rows[t]["c"]) == top.c[0, t, 1]
        assert float(rows[3]["h_prev"]) == top.h[0, 4, 1]           # reverse: step t's previous is t + 1
        assert not np.allclose(top.h[0], sub.h[0])

"""README pictures of the instruments (the Units dock and the comparison view's connectivity).

    .venv/bin/python tools/instrument_shots.py [OUT]     (default: docs/)

Trains a small character LSTM on the shipped prose (resources/examples/text.txt) for a few hundred
steps, opens the window on it at 1600×1000, and saves the Units dock's three tabs: the units found
for the pattern "inside quotes or parentheses" coloured over the text, a selection matched across
the text, and the connectivity of one step. Then the comparison view of an RNN and an LSTM on the
adding problem, with their connectivity side by side.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def wait(cond, seconds=120.0):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > seconds:
            raise TimeoutError("the window did not get there in time")
        QTest.qWait(20)


def main(out: Path) -> None:
    from explorer.app.ingest import load_dataset
    from explorer.gui.main_window import MainWindow
    from explorer.runs.store import ModelSettings, Run

    app = QApplication.instance() or QApplication(sys.argv[:1])
    out.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(str(ROOT / "resources" / "examples" / "text.txt"), seq_len=60)
    run = Run(ds, ModelSettings(cell="lstm", units=24, lr=0.01, batch=16, epochs=40, seed=1))
    for _ in run.trainer.steps(max_steps=600):
        pass
    win = MainWindow(QSettings(str(out / ".shots.ini"), QSettings.Format.IniFormat))
    win.resize(1600, 1000)
    win.show()
    win.set_run(run)
    wait(lambda: win.trace is not None)
    units = win.units
    units.dock.show()
    win.resizeDocks([units.dock], [720], Qt.Orientation.Horizontal)
    found = []
    units.sigFound.connect(found.append)
    units.find(feature="Pattern (regular expression)", pattern=r"[.,;]")
    wait(lambda: found)
    QTest.qWait(200)
    units.dock.grab().save(str(out / "units-find.png"))
    units.tabs.setCurrentIndex(1)
    QTest.qWait(100)
    best = found[0][0].unit
    a = win.session.view_trace().h[0][:, best]
    t = int(abs(a).argmax())
    units.select(t, t, float(a[t]) * 0.8 if a[t] > 0 else 0.3)
    matched = []
    units.sigMatched.connect(matched.append)
    if units.match():
        wait(lambda: matched)
    QTest.qWait(200)
    units.dock.grab().save(str(out / "units-match.png"))
    got = []
    units.sigConnectivity.connect(got.append)
    win.session.set_position(t=50)
    units.tabs.setCurrentIndex(2)
    wait(lambda: got)
    QTest.qWait(200)
    units.dock.grab().save(str(out / "units-connectivity.png"))
    win.close()
    win.after_close()

    from explorer.data import load_example
    from explorer.gui.comparison import ComparisonWindow
    from explorer.runs.store import settings_for_example

    cw = ComparisonWindow(load_example("adding"), settings_for_example("adding", units=16), ["rnn", "lstm"],
                          max_steps=300, eval_every=50)
    cw.resize(1600, 1000)
    cw.show()
    done = []
    cw.sigFinished.connect(done.append)
    cw.start()
    wait(lambda: done, 600)
    cw.sessions[0].set_position(t=49)
    wait(lambda: all(v[1] == 49 for v in cw.connectivity.values()) and len(cw.connectivity) == 2)
    QTest.qWait(200)
    cw.grab().save(str(out / "comparison-connectivity.png"))
    cw.close()
    cw.after_close()
    (out / ".shots.ini").unlink(missing_ok=True)
    app.processEvents()
    for name in ("units-find", "units-match", "units-connectivity", "comparison-connectivity"):
        print(out / f"{name}.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs")

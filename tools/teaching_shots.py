"""The README's pictures of the teaching instruments, made by the real window offscreen through its
public API (no sleeps: each step waits on the window's own signals).

    .venv/bin/python tools/teaching_shots.py OUT [--epochs N]

Writes OUT/intervention.png (the sine example trained, f held at 1 and i at 0 on every unit: the
belt frozen in the diagram, the interventions panel with the loss both ways, the predictions tab
with the forecast with and without; f = 1 and i = 0 from t = 8 on, shown at t = 13), OUT/backward.png (the adding problem in backward mode at a
middle step, the gradient numbers in the equations and on the belt) and OUT/presenter.png
(presenter mode at 1024×700, forward), and prints their paths. Open every one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("out")
ap.add_argument("--epochs", type=int, default=20, help="epochs of the sine example before the intervention")
ap.add_argument("--check", action="store_true", help="also OUT/presenter-backward.png (not in README)")
ap.add_argument("--only", default="", help="comma-separated: intervention, backward, presenter")
a = ap.parse_args()
only = {s for s in a.only.split(",") if s}

from explorer.gui.main_window import MainWindow  # noqa: E402

app = QApplication.instance() or QApplication(sys.argv[:1])
os.makedirs(a.out, exist_ok=True)
tmp = tempfile.mkdtemp(prefix="teaching-shots-")


def wait(signal, seconds: float) -> tuple | None:
    """Process events until ``signal`` fires (its arguments) or ``seconds`` pass (None)."""
    got = []
    signal.connect(lambda *x: got.append(x))
    timer = QTimer()
    timer.setSingleShot(True)
    timer.start(int(seconds * 1000))
    while not got and timer.isActive():
        app.processEvents()
    return got[0] if got else None


def settle(win) -> None:
    """Until the display task is done and every pending event is handled."""
    timer = QTimer()
    timer.setSingleShot(True)
    timer.start(60000)
    while win.display.busy and timer.isActive():
        app.processEvents()
    for _ in range(20):
        app.processEvents()


def window(size, name: str) -> MainWindow:
    win = MainWindow(QSettings(os.path.join(tmp, f"{name}.ini"), QSettings.Format.IniFormat))
    win.resize(*size)
    win.show()
    app.processEvents()
    return win


def save(win, name: str) -> None:
    path = os.path.join(a.out, name)
    win.diagram.setFocus()
    app.processEvents()
    win.grab().save(path)
    print(path)


def opened(size, name: str, example: str, epochs: int) -> MainWindow:
    """A window of ``size`` with ``example`` loaded and trained ``epochs``."""
    win = window(size, name)
    load(win, example, epochs)
    return win


def done(win, name: str) -> None:
    """Save the screenshot OUT/NAME.png once everything settled, then close the window."""
    settle(win)
    save(win, name + ".png")
    win.close()
    win.after_close()


def load(win, example: str, epochs: int) -> None:
    win.open_example(example)
    if wait(win.sigDataLoaded, 120) is None:
        sys.exit(f"{example} did not load within 120 s")
    settle(win)
    if epochs:
        win.start_training(epochs)
        if wait(win.sigTrainingFinished, 1800) is None:
            sys.exit("training did not finish within 30 min")
    settle(win)


if not only or "intervention" in only:
    win = opened((1600, 1000), "intervention", "sine", a.epochs)
    win.plot_docks["predictions"].raise_()
    s = win.session
    s.set_position(sample=0, unit=3)
    settle(win)
    T = win.trace.T
    s.set_position(t=12)                               # t = 13: five steps into the frozen stretch
    win.interventions.hold("f", 1.0, units="all", steps=range(7, T))     # t = 8 … T
    win.interventions.hold("i", 0.0, units="all", steps=range(7, T))
    if wait(win.interventions.sigCompared, 120) is None:
        sys.exit("the comparison did not arrive within 120 s")
    done(win, "intervention")

if not only or "backward" in only:
    win = opened((1600, 1000), "backward", "adding", 2)
    win.plot_docks["grad_through_time"].raise_()
    win.session.set_position(sample=0, unit=0)
    settle(win)
    win.backward.set_enabled(True)
    settle(win)
    t = win.trace.T // 2 - 1
    unit = int(abs(win.backward.grads.dc[0, t]).argmax())      # the unit the most gradient reaches there
    win.session.set_position(t=t, unit=unit)
    done(win, "backward")

if not only or "presenter" in only:
    win = opened((1024, 700), "presenter", "sine", 4)
    win.session.set_position(sample=0, unit=3, t=11)
    win.presenter.set_enabled(True, fullscreen=False)
    win.resize(1024, 700)
    if a.check:                                         # then the backward view in presenter mode too
        settle(win)
        save(win, "presenter.png")
        win.backward.set_enabled(True)
        win.session.set_position(t=9)
    done(win, "presenter-backward" if a.check else "presenter")

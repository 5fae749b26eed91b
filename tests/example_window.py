"""The main window shown on a built-in example, its first trace drawn: the fixture body many GUI
tests share."""

from __future__ import annotations

from explorer.data.examples import load_example
from explorer.gui.main_window import MainWindow
from explorer.runs.store import Run, settings_for_example


def shown_example_window(qtbot, qsettings, name: str, units: int, size: tuple[int, int]) -> MainWindow:
    """A :class:`MainWindow` on example ``name`` (``units`` units, one epoch), resized to ``size``,
    shown, with its trace computed; closed by qtbot at the test's end."""
    win = MainWindow(settings=qsettings)
    win.set_run(Run(load_example(name), settings_for_example(name, units=units, epochs=1)))
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.trace is not None, timeout=10000)
    return win

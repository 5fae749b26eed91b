"""Export all as a task: the same files as before (names, PNG/SVG/CSV contents checked), the window
handles events throughout (a 5 ms heartbeat's longest gap is bounded), and Cancel stops it leaving
only whole files."""

import csv
import time
import xml.etree.ElementTree as ET

import pytest
from PySide6.QtGui import QImage

from explorer.data.examples import load_example
from explorer.runs.store import Run, settings_for_example

PNG = b"\x89PNG\r\n\x1a\n"
KEYS = ("loss", "grad_norms", "grad_through_time", "gates", "memory", "param_count", "predictions", "diagram")


@pytest.fixture
def window(qtbot, qsettings, app_paths):
    from explorer.gui.main_window import MainWindow

    win = MainWindow(settings=qsettings)
    win.set_run(Run(load_example("sine"), settings_for_example("sine", units=3, epochs=1)))
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.show()
    qtbot.waitUntil(lambda: win.trace is not None, timeout=20000)
    return win


def pixels(image) -> bytes:
    img = image.convertToFormat(QImage.Format.Format_ARGB32)
    assert not img.isNull()
    return bytes(img.constBits())


class Heartbeat:
    """A 5 ms timer recording the gaps between its ticks (the GUI thread's blocks) and the GUI
    thread's own CPU time at each: a block is work the GUI thread did, not time the machine's load
    kept it waiting."""

    def __init__(self):
        from PySide6.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._on_timeout)
        self.ticks = []

    def _on_timeout(self):
        self.ticks.append(time.thread_time())

    def start(self):
        self.ticks = [time.thread_time()]
        self.timer.start(5)

    def longest_gap(self) -> float:
        """The most CPU time the GUI thread spent between two ticks (seconds)."""
        self.timer.stop()
        t = self.ticks + [time.thread_time()]
        return max(b - a for a, b in zip(t, t[1:]))


def test_export_all_writes_every_file_while_the_window_handles_events(window, tmp_path):
    beat = Heartbeat()
    beat.start()
    files = window.export_all(tmp_path / "export")
    gap = beat.longest_gap()
    names = [p.name for p in files]
    assert names == [f"{k}.{e}" for k in KEYS for e in ("png", "svg", "csv")] + ["equations.png", "equations.svg"]
    for p in files:
        data = p.read_bytes()
        assert len(data) > 0
        if p.suffix == ".png":
            assert data.startswith(PNG)
        elif p.suffix == ".svg":
            assert ET.fromstring(data).tag.endswith("svg")
    with open(tmp_path / "export" / "diagram.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == window.trace.T
    assert float(rows[2]["h"]) == window.trace.h[0, 2, window.diagram.unit]
    with open(tmp_path / "export" / "gates.csv") as fh:
        gates = list(csv.DictReader(fh))
    assert len(gates) == len(window.heatmap_plot.values) * window.trace.T * 3
    for key in ("loss", "predictions", "gates"):        # rasterised in the helper process: the same pixels
        assert pixels(QImage(str(tmp_path / "export" / f"{key}.png"))) == \
            pixels(window.plot_widgets[key].render_image(2))
    assert gap < 0.25, f"the GUI thread was blocked {gap * 1000:.0f} ms"
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == sorted(names)
    assert window.exporter.task is None and window.exporter.cancel_button.isHidden()


def test_export_all_as_a_task_shows_progress_and_cancels_leaving_whole_files(window, qtbot, tmp_path):
    folder = tmp_path / "export"
    task = window.exporter.start_export_all(folder)
    assert window.exporter.start_export_all(tmp_path / "other") is None          # one at a time
    assert not window.exporter.cancel_button.isHidden()
    with qtbot.waitSignal(task.progress, timeout=20000) as progress:
        pass
    assert progress.args == [1, task.total] and task.total == 26
    with qtbot.waitSignal(task.cancelled, timeout=20000) as done:
        window.exporter.cancel_button.click()
    written = done.args[0]
    assert 1 <= len(written) < task.total
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in written)     # no .tmp left
    assert written[0].read_bytes().startswith(PNG)
    assert window.exporter.task is None and window.exporter.cancel_button.isHidden()
    assert window.statusBar().currentMessage().startswith(f"Export cancelled: {len(written)} files written")

"""The GUI thread's longest block while raising the Gates tab and during Export all.

    python benchmarks/export_bench.py [--setting small|large]

small: the adding example, 32 units; large: 256 units, sequence length 500. The run is saved and
opened in the window (offscreen unless QT_QPA_PLATFORM says otherwise), its display computed; then
a 5 ms heartbeat (``gui_bench.Pinger``) records how late each tick comes while the Gates tab is
raised and while ``MainWindow.export_all`` writes its 26 files. ``max`` is the longest block;
``max_cpu`` the GUI thread's own CPU time in it (the rest it waited for a core).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import gui_bench as gb  # noqa: E402


def spin(ms: int) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--setting", choices=("small", "large"), default="small")
    args = p.parse_args()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])  # noqa: F841
    from explorer.data.examples import load_example
    from explorer.runs.store import Run, settings_for_example

    tmp = Path(tempfile.mkdtemp())
    os.environ.update(gb.isolated_env(tmp))
    if args.setting == "large":
        run = Run(load_example("adding", seq_len=500), settings_for_example("adding", units=256, epochs=1))
    else:
        run = Run(load_example("adding"), settings_for_example("adding", units=32, epochs=1))
    run.save(tmp / "run")
    del run
    win = gb.make_window(tmp)
    win.resize(1500, 950)
    win.show()
    gb.wait_exposed(win)
    win.open_run(tmp / "run")
    gb.wait_for(win.sigRunOpened, 600)
    if win.display.busy:
        gb.wait_for(win.display.sigDisplayed, 600)
    spin(200)
    print(gb.load_text())
    ping = gb.Pinger(5)
    ping.start()
    spin(50)
    win.plot_docks["gates"].show()
    win.plot_docks["gates"].raise_()
    spin(1500)
    print(args.setting, "raise the Gates tab:", {k: round(v, 1) for k, v in ping.summary_ms().items()})
    ping.start()
    t0 = time.perf_counter()
    files = win.export_all(tmp / "export")
    spin(20)
    print(args.setting, f"Export all: {len(files)} files in {time.perf_counter() - t0:.2f} s",
          {k: round(v, 1) for k, v in ping.summary_ms().items()})
    ping.stop()
    win.close()
    win.after_close()
    print(gb.load_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

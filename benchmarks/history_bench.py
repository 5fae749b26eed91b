"""Opening a long run: time, memory and the window's longest block against the run's steps.

    python benchmarks/history_bench.py [--steps 250000] [--epochs 100] [--window]

Builds a synthetic run of ``--steps`` steps (a small sine model whose per-step log and per-epoch
history are filled with random numbers as training would leave them) and saves it with whatever
``explorer`` is imported (to measure another tree, set PYTHONPATH to it and copy this script,
``gui_bench.py`` and ``explorer/bench/longrun.py`` into one folder).
Then, in a fresh process each: ``Run.load`` (wall time, peak memory above the imports, the
history's rows held) and with ``--window`` the window opening it (``MainWindow.open_run`` until
``sigRunOpened``; the longest late tick of a 5 ms heartbeat, ``gui_bench.Pinger``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(folder: Path, steps: int, epochs: int = 100) -> None:
    """A run of ``steps`` steps in about ``epochs`` epochs (:func:`explorer.bench.longrun.long_run`)
    saved into ``folder``."""
    try:
        from explorer.bench.longrun import long_run
    except ImportError:                         # a tree from before it: longrun.py copied beside this script
        sys.path.insert(0, str(HERE))
        from longrun import long_run
    long_run(steps, epochs=epochs).save(folder)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ``ru_maxrss`` it starts anew at exec, not
    at the parent's size)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure_load(folder: Path) -> dict:
    import tracemalloc

    from explorer.runs.store import Run

    rss0 = peak_rss_mb()
    t0 = time.perf_counter()
    run = Run.load(folder)
    seconds = time.perf_counter() - t0
    rss1 = peak_rss_mb()
    del run
    tracemalloc.start()                         # again, counting every allocation (slower)
    run = Run.load(folder)
    traced, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    held = len(run.history) if hasattr(run, "history") and hasattr(run.history, "chunks") else len(run.trainer.log.step)
    return {"load_s": round(seconds, 3), "peak_mb_allocated": round(peak / 1e6, 1),
            "kept_mb_allocated": round(traced / 1e6, 1),
            "peak_rss_mb_imports": round(rss0, 1), "peak_rss_mb_loaded": round(rss1, 1),
            "history_rows_held": held, "trainer_log_rows": len(run.trainer.log.step),
            "steps": run.trainer.step}


def measure_window(folder: Path) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(HERE))
    import gui_bench as gb
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])  # noqa: F841
    tmp = Path(tempfile.mkdtemp())
    os.environ.update(gb.isolated_env(tmp))
    win = gb.make_window(tmp)
    win.resize(1500, 950)
    win.show()
    gb.wait_exposed(win)
    win.plot_docks["grad_norms"].show()
    win.plot_docks["grad_norms"].raise_()
    ping = gb.Pinger(5)
    ping.start()
    t0 = time.perf_counter()
    win.open_run(folder)
    gb.wait_for(win.sigRunOpened, 600)
    opened = time.perf_counter() - t0
    win.grad_plot._draw()                       # what the plot draws of the run's history
    ping.stop()
    out = {"open_to_opened_s": round(opened, 3),
           "longest_gui_block_ms": round(ping.summary_ms()["max"], 1),
           "most_gui_cpu_between_ticks_ms": round(ping.summary_ms()["max_work"], 1),
           "grad_plot_points_drawn": 0 if win.grad_plot.global_curve.xData is None else
           len(win.grad_plot.global_curve.xData)}
    win.close()
    win.after_close()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=250_000)
    p.add_argument("--epochs", type=int, default=100, help="about this many epochs (their size sets the data's)")
    p.add_argument("--window", action="store_true")
    p.add_argument("--measure", choices=("load", "window"), help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        fn = measure_load if args.measure == "load" else measure_window
        print(json.dumps(fn(args.folder)))
        return 0
    folder = Path(tempfile.mkdtemp()) / "run"
    t0 = time.perf_counter()
    build(folder, args.steps, args.epochs)
    size = sum(p.stat().st_size for p in (folder / ".versions").rglob("*") if p.is_file())
    print(f"load average {os.getloadavg()[0]:.1f}; built {args.steps} steps in {time.perf_counter() - t0:.1f} s, {size / 1e6:.2f} MB on disk")
    for what in ("load",) + (("window",) if args.window else ()):
        res = subprocess.run([sys.executable, __file__, "--measure", what, "--folder", str(folder)],
                             capture_output=True, text=True, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
        if res.returncode:
            print(res.stderr[-3000:])
            return 1
        print(what, res.stdout.strip().splitlines()[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())

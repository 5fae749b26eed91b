#!/usr/bin/env python
"""Soak the explorer window: 10,000 training steps with the window shown and the diagram following.

    python benchmarks/soak.py [--steps 10000] [--example sine] [--limit-minutes 30] [--onscreen]

Trains the example in a shown window (repeating Train until the steps are done), prints the
resident memory (VmRSS from /proc/self/status) at the start, every 1,000 steps and at the end
(goal: growth under 50 MB), and the event-loop latency over the whole soak: a precise
single-shot QTimer re-armed every 10 ms, lateness per tick (goal: p99 under 50 ms).
Not a test. Settings and autosaves go to a temporary folder. Offscreen unless ``--onscreen``
is given and DISPLAY is set.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from explorer.util.threads import limit_blas_threads  # noqa: E402

limit_blas_threads()                # as the app's own processes do (unless the variables are set)


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--example", default="sine")
    p.add_argument("--every", type=int, default=1000, help="print memory every this many steps")
    p.add_argument("--limit-minutes", type=float, default=30.0, help="stop the soak after this long")
    p.add_argument("--onscreen", action="store_true")
    args = p.parse_args()
    if not (args.onscreen and os.environ.get("DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import gui_bench as gb

    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    os.environ.update(gb.isolated_env(tmp))
    from PySide6.QtCore import QEventLoop, QStandardPaths, QTimer

    from explorer.gui.app import create_app
    from explorer.runs.store import Run, settings_for_example
    from explorer.data.examples import load_example as example_dataset

    QStandardPaths.setTestModeEnabled(True)
    app = create_app()
    win = gb.make_window(tmp)
    win.resize(1500, 950)
    win.show()
    gb.wait_exposed(win)
    win.plot_docks["grad_norms"].raise_()
    run = Run(example_dataset(args.example), settings_for_example(args.example))
    win.set_run(run)
    gb.wait_exposed(win)
    tr = run.trainer
    spe = tr.steps_per_epoch

    print(f"LSTM Explorer soak: {args.steps} steps of the {args.example} example "
          f"({run.model.n_units} units, {spe} steps per epoch), window shown, diagram following; "
          f"platform {app.platformName()}")
    print(f"  start: {gb.load_text()}")
    rss0 = rss_mb()
    print(f"  step {tr.step:6d}  RSS {rss0:7.1f} MB  (start)", flush=True)
    samples = [(tr.step, rss0)]
    next_mark = [args.every]
    t_start = time.perf_counter()

    def on_redrawn():
        step = win.session.progress.step          # what the training task sent (the trainer is its own)
        if step >= next_mark[0]:
            r = rss_mb()
            samples.append((step, r))
            el = time.perf_counter() - t_start
            print(f"  step {step:6d}  RSS {r:7.1f} MB  ({r - rss0:+6.1f} MB)  {el:6.1f} s  "
                  f"{step / el:6.1f} steps/s  redraw every {win.training_ctl.runner.redraw_interval * 1000:4.0f} ms",
                  flush=True)
            while next_mark[0] <= step:
                next_mark[0] += args.every

    win.sigRedrawn.connect(on_redrawn)
    pinger = gb.Pinger(10)
    loop = QEventLoop()
    state = {"runs": 0, "reasons": []}
    deadline = t_start + args.limit_minutes * 60

    def go_on(reason=None):
        if reason is not None:
            state["reasons"].append(reason)
        left = args.steps - tr.step
        if left <= 0 or time.perf_counter() > deadline or reason in ("diverged", "error"):
            loop.quit()
            return
        state["runs"] += 1
        win.start_training(epochs=math.ceil(left / spe))

    win.sigTrainingFinished.connect(lambda reason: QTimer.singleShot(0, lambda: go_on(reason)))
    pinger.start()
    QTimer.singleShot(0, go_on)
    loop.exec()
    pinger.stop()
    if win.training:
        win.stop_and_wait(3000)
    el = time.perf_counter() - t_start
    for _ in range(20):
        app.processEvents()
    rss1 = rss_mb()
    samples.append((tr.step, rss1))
    print(f"  step {tr.step:6d}  RSS {rss1:7.1f} MB  ({rss1 - rss0:+6.1f} MB)  {el:6.1f} s  (end)")
    lat = pinger.summary_ms()
    growth = rss1 - rss0
    peak = max(r for _, r in samples)
    print()
    print(f"  {tr.step} steps in {el:.1f} s = {tr.step / el:.1f} steps/s; Train pressed {state['runs']} time(s); "
          f"finished: {', '.join(state['reasons'])}")
    print(f"  event loop over the soak: {lat['n']} ticks, median {lat['median']:.2f} ms, p99 {lat['p99']:.2f} ms, "
          f"max {lat['max']:.2f} ms")
    print(f"  end: {gb.load_text()}")
    print()
    print("Summary")
    print(f"  {'ok  ' if growth < 50 else 'MISS'} RSS growth {growth:+.1f} MB (start {rss0:.1f}, end {rss1:.1f}, "
          f"peak {peak:.1f} MB)   goal < 50 MB")
    print(f"  {'ok  ' if lat['p99'] < 50 else 'MISS'} event-loop p99 {lat['p99']:.2f} ms   goal < 50 ms   "
          f"(median {lat['median']:.2f}, max {lat['max']:.2f})")
    print(f"  {'ok  ' if tr.step >= args.steps else 'MISS'} steps done {tr.step} of {args.steps}")
    win.close()
    win.after_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""How the explorer window behaves while an LSTM trains live.

    python benchmarks/gui_bench.py [--epochs 2] [--launches 5] [--onscreen]

a. event-loop latency while training the adding example (32 units) in the window: a
   precise single-shot QTimer re-armed every 10 ms; lateness = fire time − due time.
b. training speed, steps per second, of the same run (same steps) headless — Trainer.steps
   in a plain loop, asking for a trace as often as the worker would — and in the shown
   window (diagram following, plots updating). Headless runs before and after the window
   run; the ratio is against their mean. The GUI thread's CPU time and the window's redraw
   numbers say where the GIL time went.
c. one timestep of the cell diagram: set_position + a paint into a 1200×700 QImage, over
   200 timesteps; the equations view's update (and update + paint).
d. launch to first painted window: ``python -m explorer --quit-after-paint`` N times
   (wall time to exit), and a probe that runs the same ``main`` with an application-wide
   event filter to time the first widget paint and check the flag waits for it.

Runs offscreen (QT_QPA_PLATFORM=offscreen) unless ``--onscreen`` is given and DISPLAY is
set. Settings, autosave and logs go to a temporary folder, never the person's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOALS = dict(p99_ms=50.0, ratio=0.90, diagram_ms=16.0, launch_s=2.0)


def _args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=2, help="epochs of the adding example per run (313 steps each)")
    p.add_argument("--launches", type=int, default=5, help="launches timed in d")
    p.add_argument("--timesteps", type=int, default=200, help="diagram redraws timed in c")
    p.add_argument("--onscreen", action="store_true", help="use the real display when DISPLAY is set")
    return p.parse_args()


def isolated_env(tmp: Path) -> dict:
    """Environment variables that keep settings/autosave/logs in ``tmp``."""
    return {"XDG_CONFIG_HOME": str(tmp / "config"), "XDG_DATA_HOME": str(tmp / "data"),
            "XDG_STATE_HOME": str(tmp / "state"), "XDG_CACHE_HOME": str(tmp / "cache"),
            "PYQTGRAPH_QT_LIB": "PySide6"}


def cpu_s() -> float:
    """CPU seconds of this process, every thread (BLAS's too)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pct(values, q) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def load_text() -> str:
    la = os.getloadavg()
    return f"load average {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} on {os.cpu_count()} cores"


class Pinger:
    """A precise single-shot QTimer re-armed every ``interval_ms``; records how late each tick is."""

    def __init__(self, interval_ms: int = 10):
        from PySide6.QtCore import Qt, QTimer

        self.interval = interval_ms / 1000.0
        self.timer = QTimer()
        self.timer.setSingleShot(True)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.late: list[float] = []
        self._due = 0.0
        self._ms = interval_ms

    def start(self):
        self.late = []
        self._due = time.perf_counter() + self.interval
        self.timer.start(self._ms)

    def stop(self):
        self.timer.stop()

    def _tick(self):
        now = time.perf_counter()
        self.late.append(max(0.0, now - self._due))
        self._due = now + self.interval
        self.timer.start(self._ms)

    def summary_ms(self) -> dict:
        v = [x * 1000 for x in self.late]
        return dict(n=len(v), median=pct(v, 50), p99=pct(v, 99), max=max(v) if v else float("nan"))


def make_window(tmp: Path):
    from PySide6.QtCore import QSettings

    from explorer.gui.main_window import MainWindow

    qs = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=qs)
    return win


def wait_exposed(win, timeout=5.0):
    from PySide6.QtWidgets import QApplication

    t_end = time.perf_counter() + timeout
    while time.perf_counter() < t_end:
        QApplication.processEvents()
        h = win.windowHandle()
        if h is not None and h.isExposed():
            break
        time.sleep(0.005)
    for _ in range(5):
        QApplication.processEvents()


def adding_run(epochs: int):
    from explorer.runs import Run, settings_for_example
    from explorer.data.examples import load_example as example_dataset

    run = Run(example_dataset("adding"), settings_for_example("adding", units=32, epochs=epochs))
    return run


def headless(epochs: int) -> dict:
    """Trainer.steps in a plain loop, traces as often as the worker asks for them (EMIT_INTERVAL)."""
    from explorer.gui.worker import EMIT_INTERVAL

    run = adding_run(epochs)
    tr = run.trainer
    tr.epochs = epochs
    last = [0.0]
    tr.want_trace = lambda: time.perf_counter() - last[0] >= EMIT_INTERVAL
    n = 0
    c0 = cpu_s()
    t0 = time.perf_counter()
    for snap in tr.steps():
        if snap.trace is not None:
            last[0] = time.perf_counter()
        n += 1
    dt = time.perf_counter() - t0
    return dict(steps=n, seconds=dt, rate=n / dt, cpu_per_step=(cpu_s() - c0) / n)


def windowed(win, epochs: int, pinger: Pinger) -> dict:
    """Train ``epochs`` of a fresh adding run in the shown window, pinging the event loop."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    run = adding_run(epochs)
    win.set_run(run)
    wait_exposed(win)
    redraws = []
    costs = []
    win.sigRedrawn.connect(lambda: (redraws.append(time.perf_counter()), costs.append(win._redraw_cost)))
    loop = QEventLoop()
    finished = {}
    win.sigTrainingFinished.connect(lambda reason: (finished.setdefault("reason", reason), loop.quit()))
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(loop.quit)
    guard.start(30 * 60 * 1000)
    step0 = run.trainer.step
    pinger.start()
    cpu0 = time.thread_time()
    pcpu0 = cpu_s()
    t0 = time.perf_counter()
    win.start_training(epochs=epochs)
    # the worker's own end of training, timed in its thread (the window's wrap-up after it is not training)
    win._worker.sigFinished.connect(lambda _r: (finished.setdefault("t_end", time.perf_counter()),
                                                finished.setdefault("pcpu", cpu_s())),
                                    Qt.ConnectionType.DirectConnection)
    loop.exec()
    t_done = time.perf_counter()
    cpu = time.thread_time() - cpu0
    pinger.stop()
    steps = run.trainer.step - step0
    t_end = finished.get("t_end", t_done)
    dt = t_end - t0
    gaps = [b - a for a, b in zip(redraws, redraws[1:])]
    return dict(steps=steps, seconds=dt, rate=steps / dt, reason=finished.get("reason"),
                cpu_per_step=(finished.get("pcpu", cpu_s()) - pcpu0) / max(steps, 1),
                gui_cpu=cpu, gui_wall=t_done - t0, redraws=len(redraws),
                redraw_gap_ms=pct(gaps, 50) * 1000, redraw_cost_ms=pct(costs, 50) * 1000,
                redraw_interval_ms=win._redraw_interval * 1000, paint_ms=win.diagram.paint_ms())


def diagram_times(win, n: int) -> dict:
    """set_position + paint into a 1200×700 QImage, over ``n`` timesteps; the equations view's update."""
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    from explorer.gui.diagram import CellDiagramView
    from explorer.gui.equations import EquationsView

    trace, weights = win.trace, win.run.model.state_dict()
    T, units = trace.T, trace.h.shape[2]
    d = CellDiagramView()
    d.resize(1200, 700)
    d.set_trace(trace, weights)
    img = QImage(1200, 700, QImage.Format.Format_ARGB32_Premultiplied)
    d.render(img)                                          # warm the fonts and caches
    full, inner = [], []
    for k in range(n):
        t0 = time.perf_counter()
        d.set_position(t=k % T, unit=(k // T) % units)
        d.render(img)
        full.append(time.perf_counter() - t0)
        inner.append(d.paint_ms() / 1000.0)

    eq = EquationsView()
    eq.resize(380, 700)
    eq.set_trace(trace, weights)
    eq_img = QImage(380, 700, QImage.Format.Format_ARGB32_Premultiplied)
    eq.render(eq_img)
    upd, upd_paint = [], []
    for k in range(n):
        t0 = time.perf_counter()
        eq.set_position(t=k % T, unit=(k // T) % units)
        t1 = time.perf_counter()
        eq.render(eq_img)
        t2 = time.perf_counter()
        upd.append(t1 - t0)
        upd_paint.append(t2 - t0)

    # in the window: one Right-key step (timebar → diagram, equations, plot markers) and the repaint
    win.timebar.set_t(0)
    QApplication.processEvents()
    step = []
    for k in range(min(n, 4 * T)):
        t0 = time.perf_counter()
        if win.timebar.t >= T - 1:
            win.timebar.first()
        else:
            win.timebar.next()
        QApplication.processEvents()
        step.append(time.perf_counter() - t0)
    ms = lambda v, q: pct(v, q) * 1000  # noqa: E731
    return dict(T=T, n=n, diagram_median=ms(full, 50), diagram_p99=ms(full, 99), diagram_paint_median=ms(inner, 50),
                eq_update_median=ms(upd, 50), eq_update_p99=ms(upd, 99), eq_paint_median=ms(upd_paint, 50),
                window_step_median=ms(step, 50), window_step_p99=ms(step, 99), window_size=(win.diagram.width(),
                                                                                          win.diagram.height()))


PROBE = textwrap.dedent("""
    import json, sys, time
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QWidget
    from explorer.gui.app import create_app, main
    app = create_app()
    seen = {"first_widget_paint": None, "widget_paints": 0, "diagram_paints": 0}
    class Watch(QObject):
        def eventFilter(self, obj, e):
            if e.type() == QEvent.Type.Paint and isinstance(obj, QWidget):
                seen["widget_paints"] += 1
                if seen["first_widget_paint"] is None:
                    seen["first_widget_paint"] = time.time()
                if type(obj).__name__ == "CellDiagramView":
                    seen["diagram_paints"] += 1
            return False
    w = Watch()
    app.installEventFilter(w)
    rc = main(["--quit-after-paint"])
    seen["rc"] = rc
    seen["quit"] = time.time()
    print("PROBE " + json.dumps(seen))
""")


def launches(n: int, tmp: Path) -> dict:
    env = {**os.environ, **isolated_env(tmp / "launch")}
    env["QT_QPA_PLATFORM"] = os.environ.get("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "explorer", "--quit-after-paint"]
    walls, rcs = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=120)
        walls.append(time.perf_counter() - t0)
        rcs.append(r.returncode)
    probe = tmp / "probe.py"
    probe.write_text(PROBE)
    paint, painted, diag = [], [], []
    for _ in range(n):
        t0 = time.time()
        r = subprocess.run([sys.executable, str(probe)], env=env, cwd=str(ROOT), capture_output=True, text=True,
                           timeout=120)
        line = next((ln for ln in r.stdout.splitlines() if ln.startswith("PROBE ")), None)
        if line is None:
            painted.append(False)
            continue
        seen = json.loads(line[6:])
        painted.append(seen["widget_paints"] > 0)
        diag.append(seen["diagram_paints"])
        if seen["first_widget_paint"] is not None:
            paint.append(seen["first_widget_paint"] - t0)
    return dict(walls=walls, rcs=rcs, median=pct(walls, 50), max=max(walls), paint=paint,
                paint_median=pct(paint, 50) if paint else float("nan"), painted=painted, diagram_paints=diag)


def main() -> int:
    args = _args()
    if not (args.onscreen and os.environ.get("DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    tmp = Path(tempfile.mkdtemp(prefix="gui_bench-"))
    os.environ.update(isolated_env(tmp))
    sys.path.insert(0, str(ROOT))
    from explorer._threads import limit_blas_threads

    limit_blas_threads()            # as the app's own processes do (unless the variables are set)

    from PySide6.QtCore import QStandardPaths

    from explorer.gui.app import create_app

    QStandardPaths.setTestModeEnabled(True)
    app = create_app()
    import numpy as np
    import PySide6

    print("LSTM Explorer GUI benchmark")
    print(f"  python {sys.version.split()[0]}, PySide6 {PySide6.__version__}, numpy {np.__version__}, "
          f"platform {app.platformName()}")
    print(f"  start: {load_text()}")
    blas = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    print(f"  BLAS threads: {blas or 'library default (not set)'}")
    print(f"  adding example, 32 units, batch 32, {args.epochs} epoch(s) per run")
    print(flush=True)

    win = make_window(tmp)
    win.resize(1500, 950)
    win.show()
    wait_exposed(win)
    win.plot_docks["grad_norms"].raise_()     # the plot that changes every redraw is the one shown
    pinger = Pinger(10)

    print("b. training speed (steps/s), headless vs in the window", flush=True)
    h1 = headless(args.epochs)
    print(f"  headless (before): {h1['steps']} steps in {h1['seconds']:.1f} s = {h1['rate']:.1f} steps/s", flush=True)
    w = windowed(win, args.epochs, pinger)
    print(f"  window:            {w['steps']} steps in {w['seconds']:.1f} s = {w['rate']:.1f} steps/s "
          f"({w['reason']})", flush=True)
    h2 = headless(args.epochs)
    print(f"  headless (after):  {h2['steps']} steps in {h2['seconds']:.1f} s = {h2['rate']:.1f} steps/s", flush=True)
    h_rate = (h1["rate"] + h2["rate"]) / 2
    ratio = w["rate"] / h_rate
    print(f"  ratio window / headless = {ratio:.1%}  (goal ≥ {GOALS['ratio']:.0%}); wall-clock rates on a loaded "
          f"machine swing with the load, so also:")
    h_cpu = (h1["cpu_per_step"] + h2["cpu_per_step"]) / 2
    cpu_ratio = h_cpu / w["cpu_per_step"]
    print(f"  process CPU per step (all threads): headless {h1['cpu_per_step'] * 1000:.1f} / "
          f"{h2['cpu_per_step'] * 1000:.1f} ms, window {w['cpu_per_step'] * 1000:.1f} ms → CPU-bound speed ratio "
          f"{cpu_ratio:.1%}")
    print(f"  GUI thread CPU {w['gui_cpu']:.2f} s over {w['gui_wall']:.1f} s = {w['gui_cpu'] / w['gui_wall']:.1%} "
          f"of one core; {w['redraws']} redraws, median gap {w['redraw_gap_ms']:.0f} ms, "
          f"median measured redraw cost {w['redraw_cost_ms']:.1f} ms, final _redraw_interval "
          f"{w['redraw_interval_ms']:.0f} ms, last diagram paint {w['paint_ms']:.1f} ms")
    lat = pinger.summary_ms()
    print()
    print("a. event-loop latency while training (10 ms QTimer, lateness per tick, same run as b)")
    print(f"  {lat['n']} ticks: median {lat['median']:.2f} ms, p99 {lat['p99']:.2f} ms, max {lat['max']:.2f} ms "
          f"(goal p99 < {GOALS['p99_ms']:.0f} ms)")
    print(flush=True)

    print("c. redraw for one timestep", flush=True)
    c = diagram_times(win, args.timesteps)
    print(f"  cell diagram 1200×700, set_position + paint into a QImage, {c['n']} timesteps (T = {c['T']}): "
          f"median {c['diagram_median']:.2f} ms, p99 {c['diagram_p99']:.2f} ms (paint alone: median "
          f"{c['diagram_paint_median']:.2f} ms) (goal < {GOALS['diagram_ms']:.0f} ms)")
    print(f"  equations view 380×700: set_position median {c['eq_update_median']:.2f} ms, p99 "
          f"{c['eq_update_p99']:.2f} ms; with its paint median {c['eq_paint_median']:.2f} ms")
    print(f"  in the window (diagram {c['window_size'][0]}×{c['window_size'][1]}): one timestep via the timebar "
          f"+ the window's repaint: median {c['window_step_median']:.2f} ms, p99 {c['window_step_p99']:.2f} ms")
    print(flush=True)
    win.close()

    print(f"d. launch to first painted window, {args.launches} launches", flush=True)
    d = launches(args.launches, tmp)
    print("  python -m explorer --quit-after-paint, wall time to exit: "
          + ", ".join(f"{x:.2f}" for x in d["walls"]) + f" s (exit codes {sorted(set(d['rcs']))})")
    print(f"  median {d['median']:.2f} s, max {d['max']:.2f} s")
    print("  probe (same main, application event filter): launch → first widget paint: "
          + ", ".join(f"{x:.2f}" for x in d["paint"]) + " s")
    print(f"  painted before quitting: {d['painted']}; diagram paints: {d['diagram_paints']}")
    print()

    def ok(good):
        return "ok  " if good else "MISS"

    print("Summary")
    print(f"  {ok(lat['p99'] < GOALS['p99_ms'])} a. event-loop p99 while training  {lat['p99']:8.2f} ms   "
          f"goal < {GOALS['p99_ms']:.0f} ms   (median {lat['median']:.2f}, max {lat['max']:.2f})")
    print(f"  {ok(ratio >= GOALS['ratio'])} b. window / headless steps/s        {ratio:8.1%}      goal ≥ "
          f"{GOALS['ratio']:.0%}    ({w['rate']:.1f} vs {h_rate:.1f} steps/s; by CPU per step {cpu_ratio:.1%})")
    print(f"  {ok(c['diagram_median'] < GOALS['diagram_ms'])} c. diagram timestep 1200×700      "
          f"{c['diagram_median']:8.2f} ms   goal < {GOALS['diagram_ms']:.0f} ms   (equations update "
          f"{c['eq_update_median']:.2f} ms)")
    launch_ok = d["median"] < GOALS["launch_s"] and all(d["painted"])
    print(f"  {ok(launch_ok)} d. launch to painted window          {d['median']:8.2f} s    goal < "
          f"{GOALS['launch_s']:.0f} s      (to first paint {d['paint_median']:.2f} s; painted every time: "
          f"{all(d['painted'])})")
    print(f"  end: {load_text()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

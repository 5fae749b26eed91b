"""Look at every figure as its reader will: each plot widget filled with real data (a short training
run per cell on the built-in examples), exported from a hidden dock tab of a window the size of
the app's, PNG on the left and its SVG rendered by Qt's own renderer on the right.

    .venv/bin/python tools/look_figures.py /tmp/fig-look [--dark] [--quick]

Writes OUT/NAME.png/.svg/.csv and OUT/pair-NAME.png for every figure, and prints their paths.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QRectF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QImage, QPainter, QPalette  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QMainWindow  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("out")
ap.add_argument("--dark", action="store_true", help="a dark palette")
ap.add_argument("--quick", action="store_true", help="fewer training steps")
a = ap.parse_args()
app = QApplication.instance() or QApplication(sys.argv[:1])
if a.dark:
    pal = QPalette()
    for role, c in ((QPalette.ColorRole.Window, "#2b2b2b"), (QPalette.ColorRole.Base, "#1e1e1e"),
                    (QPalette.ColorRole.Text, "#e8e8e8"), (QPalette.ColorRole.WindowText, "#e8e8e8")):
        pal.setColor(role, QColor(c))
    app.setPalette(pal)

from explorer.data.examples import load_example as example_dataset  # noqa: E402
from explorer.app.compare import compare_cells  # noqa: E402
from explorer.figures import plots, report  # noqa: E402
from explorer.runs.store import Run, settings_for_example  # noqa: E402

os.makedirs(a.out, exist_ok=True)
epochs = 2 if a.quick else 6


def trained(example, cell="lstm", **kw):
    ds = example_dataset(example)
    run = Run(ds, settings_for_example(example, cell=cell, epochs=epochs, **kw))
    for _ in run.trainer.steps():
        pass
    return run


figures: dict = {}
sine = trained("sine")
for stem, w in report.fill_run_plots(sine).items():
    figures[f"sine-{stem}"] = w
tr = sine.model.forward(sine.trainer.sample_pair()[0])
heat = plots.GateHeatmapWidget()
heat.set_trace({k: getattr(tr, k)[0] for k in ("i", "f", "g", "o", "c", "h")})
heat.set_time_marker(7)
figures["sine-gates"] = heat
mem = plots.MemoryHeatmapWidget()
mem.set_memory(np.cumprod(tr.f[0], axis=0), "Memory: running product of the forget gate ∏f per unit")
figures["sine-memory"] = mem
for cell in ("gru", "rnn"):
    run = trained("sine", cell=cell)
    t2 = run.model.forward(run.trainer.sample_pair()[0])
    names = {"gru": ("r", "z", "g", "h"), "rnn": ("h",)}[cell]
    w = plots.GateHeatmapWidget()
    w.set_trace({k: getattr(t2, k)[0] for k in names})
    figures[f"{cell}-gates"] = w
    if cell == "gru":
        m2 = plots.MemoryHeatmapWidget()
        m2.set_memory(np.cumprod(t2.z[0], axis=0), "Memory: running product of the update gate ∏z per unit")
        figures["gru-memory"] = m2

# 64 units: the units axis must stay readable
wide = trained("sine", units=64)
t3 = wide.model.forward(wide.trainer.sample_pair()[0])
w = plots.GateHeatmapWidget()
w.set_trace({k: getattr(t3, k)[0] for k in ("i", "f", "g", "o", "c", "h")})
figures["sine64-gates"] = w

text = trained("text")
xs, _ = text.trainer.sample_pair()
t4 = text.model.forward(xs)
chars = [text.dataset.vocab[j] for j in (xs[0] if xs.ndim == 2 else xs[0].argmax(-1))]
w = plots.GateHeatmapWidget()
w.set_trace({k: getattr(t4, k)[0] for k in ("i", "f", "g", "o", "c", "h")}, time_labels=chars)
figures["text-gates"] = w
for stem, wdg in report.fill_run_plots(text).items():
    if stem in ("predictions", "loss"):
        figures[f"text-{stem}"] = wdg

# predictions on a time axis with interpolated rows
nile_years = np.arange(1871, 1971)
rng = np.random.default_rng(1)
flow = 900 + 150 * np.sin(np.arange(100) / 6) + rng.normal(0, 60, 100)
w = plots.PredictionPlotWidget()
w.set_series(np.arange(100), flow, np.arange(80, 100), flow[80:] + rng.normal(0, 40, 20),
             np.arange(80, 110), flow[80:].mean() + 100 * np.sin(np.arange(30) / 6), split_t=80,
             x_values=nile_years, x_label="year", y_label="Flow", gaps=[12, 13, 57, 85])
figures["nile-predictions"] = w

# parameter plots: a GRU of 2 bidirectional layers, linear
w = plots.ParamCountPlotWidget()
w.set_config(3, 1, n_range=(1, 256), n_current=48, kind="gru", layers=2, bidirectional=True)
w.log_box.setChecked(False)
figures["gru2bi-param_count-linear"] = w

# a million steps of gradient norms
n = 1_000_000
g = plots.GradNormPlotWidget()
base = np.exp(rng.normal(-1, 0.4, n)) * np.linspace(3, 0.3, n)
g.set_steps(np.arange(1, n + 1), base, {k: base * f for k, f in zip("ifgo", (0.5, 0.3, 0.6, 0.4))}, base > 1.5,
            np.arange(1, n + 1, 31250), 1.5)
figures["million-grad_norms"] = g

# the comparison (short)
ds = example_dataset("adding")
comp = compare_cells(ds, settings_for_example("adding", epochs=1), ["rnn", "lstm"], seeds=1,
                     max_steps=60 if a.quick else 300, eval_every=20)
comp_plots = report.comparison_plots(comp)
for stem, wdg in comp_plots.items():
    figures[f"compare-{stem}"] = wdg

# empty ones
for cls in (plots.LossPlotWidget, plots.GradNormPlotWidget, plots.GradThroughTimePlotWidget, plots.GateHeatmapWidget,
            plots.PredictionPlotWidget):
    figures[f"empty-{cls.__name__}"] = cls()

# every widget in a tab of a window the app's size; the first tab raised, all others hidden
win = QMainWindow()
win.setCentralWidget(QLabel("centre"))
win.resize(1600, 1000)
docks = []
for name, w in figures.items():
    d = QDockWidget(name)
    d.setWidget(w)
    win.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, d)
    if docks:
        win.tabifyDockWidget(docks[0], d)
    docks.append(d)
docks[0].raise_()
win.show()
for _ in range(5):
    app.processEvents()

for name, w in figures.items():
    t0 = time.perf_counter()
    paths = plots.export_plot(w, a.out, name)
    secs = time.perf_counter() - t0
    png = QImage(str(paths[0]))
    r = QSvgRenderer(str(paths[1]))
    pair = QImage(png.width() * 2 + 20, png.height(), QImage.Format.Format_ARGB32)
    pair.fill(QColor("magenta"))
    q = QPainter(pair)
    q.drawImage(0, 0, png)
    r.render(q, QRectF(png.width() + 20, 0, png.width(), png.height()))
    q.end()
    p = os.path.join(a.out, f"pair-{name}.png")
    pair.save(p)
    size = os.path.getsize(paths[1])
    print(f"{p}  PNG {png.width()}x{png.height()}, SVG {size / 1e3:.0f} kB, on screen {w.width()}x{w.height()}"
          f"{' (hidden tab)' if not w.isVisible() else ''}, {secs:.2f} s")
win.close()

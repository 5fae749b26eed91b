#!/usr/bin/env python
"""Make README's pictures of issue 11 again from the code as it is now (offscreen Qt).

    python tools/docs_images.py [--out docs] [--steps 800] [--only comparison|gru]

- ``comparison.png``: the comparison view (a shown window, 1600 × 1000, grabbed) after the plain
  RNN, the GRU and the LSTM trained side by side on the adding example (32 units, Adam 0.01, batch
  32, clipping 1, seed 0; ``--steps`` each), at the first marked value's timestep, the unit the
  LSTM keeps its memory in (``memory_unit``) selected in every diagram.
- ``gru-diagram.png``: the GRU's diagram (exported at its own size, 1200 px wide) of a GRU of 16
  units after 600 steps on the adding problem, sample 0 at its first marked value, unit 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def first_mark(ds, sample: int = 0) -> int:
    """The timestep (0-based) of the first marked value of a validation sample of the adding problem."""
    import numpy as np

    marks = np.flatnonzero(ds.x_val[sample, :, 1] > 0.5)
    return int(marks[0])


def comparison(out: Path, steps: int) -> Path:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from explorer.app.memory_view import memory_unit
    from explorer.data.examples import load_example
    from explorer.gui.comparison import ComparisonWindow
    from explorer.runs.store import settings_for_example

    ds = load_example("adding")
    cw = ComparisonWindow(ds, settings_for_example("adding"), ["rnn", "gru", "lstm"], max_steps=steps)
    cw.resize(1600, 1000)
    cw.show()
    loop = QEventLoop()
    cw.sigFinished.connect(lambda _r: loop.quit())
    t0 = time.perf_counter()
    cw.start()
    loop.exec()
    print(f"trained {steps} steps per cell in {time.perf_counter() - t0:.0f} s")
    for row in cw.result.rows():
        print(f"  {row.cell:5s} parameters {row.parameters:5d}  steps to {cw.target_loss:g}: "
              f"{row.steps_to_target}  seconds {row.seconds:.1f}  val loss {row.final_val_loss:.4g}")
    for r in cw.result.results:               # the numbers README's caption quotes
        dh = r.norms_dh_last
        line = f"  {r.cell:5s} through time at step {r.norms_step}: ‖dL/dh‖ t=1 {dh[0]:.3g}, t=T {dh[-1]:.3g}"
        if r.norms_dc_last is not None:
            dc = r.norms_dc_last
            line += f"; ‖dL/dc‖ min {dc.min():.3g}, max {dc.max():.3g}"
        print(line)
    lstm = cw.result.of("lstm")[0]
    unit = memory_unit(lstm.trace, sample=0)
    cw.sessions[0].set_position(t=first_mark(ds), unit=unit)
    print(f"  first marked value of sample 0 at t = {first_mark(ds) + 1}; the LSTM's memory unit {unit}")
    for _ in range(3):                       # let the deferred drawing and the paints happen
        QTimer.singleShot(50, loop.quit)
        loop.exec()
        QApplication.processEvents()
    path = out / "comparison.png"
    cw.grab().save(str(path))
    cw.close()
    cw.after_close()
    return path


def gru_diagram(out: Path) -> Path:
    from explorer.app import Session
    from explorer.data.examples import load_example
    from explorer.gui.diagram import CellDiagramView
    from explorer.runs.store import Run, settings_for_example

    ds = load_example("adding")
    run = Run(ds, settings_for_example("adding", cell="gru", units=16))
    for _ in run.trainer.steps(max_steps=600):
        pass
    tr = run.trainer
    tr.sample_index = 0
    s = Session()
    view = CellDiagramView(s)
    s.set_trace(tr.sample_trace(), run.model.state_dict())
    s.set_position(t=first_mark(ds), unit=0)
    view.resize(1200, 750)
    path = out / "gru-diagram.png"
    view.export_png(str(path), scale=1)
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "docs"))
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--only", choices=("comparison", "gru"))
    args = p.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    from explorer.util.threads import limit_blas_threads

    limit_blas_threads()
    from explorer.gui.app import create_app

    app = create_app()  # noqa: F841
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "gru"):
        print(gru_diagram(out))
    if args.only in (None, "comparison"):
        print(comparison(out, args.steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())

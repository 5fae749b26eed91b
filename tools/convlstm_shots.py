"""README's ConvLSTM pictures: train a ConvLSTM on moving squares, then shoot its window at 1600×1000
and 1024×700 and export the picture as PNG and SVG.

    QT_QPA_PLATFORM=offscreen python tools/convlstm_shots.py [--epochs 25] [--channels 16] [--kernel 5]
        [--loss bce] [--run DIR] [--out docs]

With --run DIR the trained run is saved there, and a later call with the same DIR reuses it.

Writes OUT/convlstm.png (the window, 1600×1000), OUT/convlstm_1024.png (1024×700),
OUT/convlstm_picture.svg (the exported picture), OUT/convlstm_strip.png and .svg (the frame strip
of h) and prints the losses it reached.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--kernel", type=int, default=5)
    ap.add_argument("--loss", default="bce")
    ap.add_argument("--out", default=str(ROOT / "docs"))
    ap.add_argument("--run", default=None)
    a = ap.parse_args()
    import explorer.gui  # noqa: F401  (PySide6 before pyqtgraph)
    from explorer.app.frames_run import FramesRun, FrameSettings, is_frames_run
    from explorer.data.examples import load_example
    from explorer.figures.panel import ensure_app
    from explorer.gui.convlstm_window import ConvLSTMWindow

    app = ensure_app()
    if a.run and is_frames_run(a.run):
        run = FramesRun.load(a.run)
    else:
        run = FramesRun(load_example("moving-squares", loss=a.loss),
                        FrameSettings(channels=a.channels, kernel=a.kernel, epochs=a.epochs))
        for snap in run.trainer.steps():
            if snap.epoch_end:
                base, pred = run.scores[snap.epoch]
                print(f"epoch {snap.epoch}: validation {a.loss} {snap.val_loss:.4f}, prediction MSE {pred:.4f}, "
                      f"copy-the-last-frame MSE {base:.4f}", flush=True)
        if a.run:
            run.save(a.run)
    out = Path(a.out)
    win = ConvLSTMWindow(run, "moving-squares")
    win.step.setValue(6)
    h = win.view.trace.h[5, 0]                          # step 6: the channel whose h varies most over the frame
    win.channel.setValue(int(h.reshape(h.shape[0], -1).std(axis=1).argmax()) + 1)
    print(f"channel {win.channel.value()}")
    for (w, h), name in (((1600, 1000), "convlstm.png"), ((1024, 700), "convlstm_1024.png")):
        win.resize(w, h)
        win.show()
        app.processEvents()
        win.grab().save(str(out / name))
    win.export_svg(out / "convlstm_picture.svg")
    win.show_box.setCurrentIndex(win.show_box.findData("h"))
    win.resize(1600, 1000)
    app.processEvents()
    win.grab().save(str(out / "convlstm_strip.png"))
    win.export_svg(out / "convlstm_strip.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())

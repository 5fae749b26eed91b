#!/usr/bin/env python
"""Make README's pictures of the main window again from the code as it is now (offscreen Qt).

    python tools/window_shots.py FILE [--columns A,B,C] [--target A] [--epochs 3] [--out docs]
    python tools/window_shots.py --text FILE [--epochs 3] [--out docs]

- ``screenshot.png`` (or ``--name``): the window at 1600 × 1000 after training ``--epochs`` on
  FILE (README's: the shipped ``resources/examples/sine.csv``; ``--columns``/``--target`` choose a
  multi-column file's inputs and target), the Predictions tab raised,
  the sample's middle timestep and the unit that carries the most memory selected.
- ``text-mode.png`` with ``--text``: the window in text mode on a text FILE (the strip of the
  sample's characters, the true next character and the top five predictions).

Everything goes through the window's public methods (``open_file``, ``start_training``) and its
signals, as a person's clicks would; the picture is the window grabbed at its own size.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _wait(app, signal, timeout_ms: int) -> list:
    from PySide6.QtCore import QEventLoop, QTimer

    got: list = []
    loop = QEventLoop()

    def done(*args):
        got.append(args)
        loop.quit()

    signal.connect(done)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(done)
    if not got:
        raise SystemExit(f"timed out after {timeout_ms / 1000:.0f} s waiting for {signal}")
    return got[0]


def _settle(app, ms: int = 400) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    for _ in range(4):
        loop = QEventLoop()
        QTimer.singleShot(ms // 4, loop.quit)
        loop.exec()
        app.processEvents()


def shoot(args) -> Path:
    from PySide6.QtCore import QSettings

    from explorer.gui.app import create_app
    from explorer.gui.main_window import MainWindow

    app = create_app()
    import tempfile

    scratch = tempfile.mkdtemp(prefix="window-shots-")       # a clean settings file, never the person's
    settings = QSettings(str(Path(scratch) / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings)
    win.resize(1600, 1000)
    win.show()
    options = {}
    if args.text:
        options["text"] = True
    else:
        if args.columns:
            options["columns"] = [c.strip() for c in args.columns.split(",") if c.strip()]
        if args.target:
            options["target"] = args.target
    win.open_file(args.file, **options)
    _wait(app, win.sigDataLoaded, 120_000)
    _settle(app)
    win.start_training(epochs=args.epochs)
    reason = _wait(app, win.sigTrainingFinished, 900_000)
    print(f"training finished ({reason[0]}): step {win.run.trainer.step}, "
          f"val loss {win.run.trainer.history[-1]['val_loss']:.4g}")
    _settle(app, 1500)                               # predictions arrive from a worker
    dock = win.plot_docks.get("predictions")
    if dock is not None:
        dock.raise_()
    s = win.session
    tr = s.view_trace()
    if tr is not None:
        s.set_position(t=tr.T // 2)
    if hasattr(win, "select_most_memory"):
        win.select_most_memory()
    elif hasattr(win, "memory_button"):
        win.memory_button.click()
    _settle(app, 1200)
    out = Path(args.out) / (args.name or ("text-mode.png" if args.text else "screenshot.png"))
    win.grab().save(str(out))
    print(f"{out}  {win.width()}x{win.height()}  {win.run.dataset.describe()}")
    win.close()
    if hasattr(win, "after_close"):
        win.after_close()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("file")
    p.add_argument("--text", action="store_true", help="open FILE in text mode")
    p.add_argument("--columns", help="input columns, comma-separated")
    p.add_argument("--target", help="the target column")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--out", default=str(ROOT / "docs"))
    p.add_argument("--name", help="the picture's file name")
    args = p.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    from explorer.util.threads import limit_blas_threads

    limit_blas_threads()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    shoot(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

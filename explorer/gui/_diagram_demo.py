"""Render the cell diagram and the equations of a random LSTM to PNG files (to look at them).

    python -m explorer.gui._diagram_demo OUT.png [--n 3] [--m 2] [--t 2] [--unit 1] [--dark] [--vocab]

Writes OUT.png (diagram above equations) plus OUT-diagram.png / OUT-equations.png
(and .svg of the diagram). Uses its own tiny NumPy LSTM, not the engine.
"""

from __future__ import annotations

import argparse
import os
import sys
from types import SimpleNamespace

import numpy as np


def random_lstm_trace(n: int = 3, m: int = 2, T: int = 5, batch: int = 2, seed: int = 0,
                      onehot: bool = False):
    """A forward pass of a random LSTM in NumPy: (trace, weights in PyTorch naming)."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0, 0.8, (4 * n, m))
    U = rng.normal(0, 0.6, (4 * n, n))
    b_ih = rng.normal(0, 0.3, 4 * n)
    b_hh = rng.normal(0, 0.3, 4 * n)
    if onehot:
        x = np.zeros((batch, T, m))
        idx = rng.integers(0, m, (batch, T))
        for bi in range(batch):
            x[bi, np.arange(T), idx[bi]] = 1.0
    else:
        x = rng.normal(0, 1.0, (batch, T, m))
    h0 = rng.normal(0, 0.3, (batch, n))
    c0 = rng.normal(0, 0.5, (batch, n))
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    z = np.zeros((batch, T, 4 * n))
    gates = {k: np.zeros((batch, T, n)) for k in "ifgo"}
    c = np.zeros((batch, T, n))
    h = np.zeros((batch, T, n))
    hp, cp = h0, c0
    for t in range(T):
        zt = x[:, t] @ W.T + hp @ U.T + b_ih + b_hh
        z[:, t] = zt
        i, f, g, o = sig(zt[:, :n]), sig(zt[:, n:2 * n]), np.tanh(zt[:, 2 * n:3 * n]), sig(zt[:, 3 * n:])
        cp = f * cp + i * g
        hp = o * np.tanh(cp)
        for k, a in zip("ifgo", (i, f, g, o)):
            gates[k][:, t] = a
        c[:, t], h[:, t] = cp, hp
    trace = SimpleNamespace(x=x, h0=h0, c0=c0, z=z, c=c, h=h, **gates)
    weights = {"weight_ih_l0": W, "weight_hh_l0": U, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}
    return trace, weights


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--m", type=int, default=2)
    ap.add_argument("--T", type=int, default=5)
    ap.add_argument("--t", type=int, default=2)
    ap.add_argument("--unit", type=int, default=1)
    ap.add_argument("--sample", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dark", action="store_true")
    ap.add_argument("--eq-width", type=int, default=1200, help="equations width (< 900: stacked layout)")
    ap.add_argument("--vocab", action="store_true", help="one-hot input over a small vocabulary")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtGui import QColor, QImage, QPainter, QPalette
    from PySide6.QtWidgets import QApplication

    from explorer.gui.diagram import CellDiagramView
    from explorer.gui.equations import EquationsView

    app = QApplication.instance() or QApplication([sys.argv[0]])
    if args.dark:
        pal = QPalette()
        for role, col in (
            (QPalette.ColorRole.Window, "#1e1f22"), (QPalette.ColorRole.WindowText, "#e8e8e8"),
            (QPalette.ColorRole.Base, "#17181a"), (QPalette.ColorRole.Text, "#e8e8e8"),
            (QPalette.ColorRole.Highlight, "#3d8fd6"),
        ):
            pal.setColor(role, QColor(col))
        app.setPalette(pal)
    vocab = None
    m = args.m
    if args.vocab:
        vocab = list("the cat")[: max(2, m)] if m <= 7 else [f"w{k}" for k in range(m)]
        vocab = ["t", "h", "e", " ", "c", "a"][:m] if m <= 6 else vocab
    trace, weights = random_lstm_trace(args.n, m, args.T, 2, args.seed, onehot=args.vocab)

    view = CellDiagramView()
    view.vocab = vocab
    view.resize(1200, 730 if args.n > 1 else 600)
    view.set_trace(trace, weights)
    view.set_position(sample=args.sample, t=args.t, unit=args.unit)
    eq = EquationsView()
    eq.vocab = vocab
    eq.resize(args.eq_width, 420)
    eq.set_trace(trace, weights)
    eq.set_position(sample=args.sample, t=args.t, unit=args.unit)

    base, _ = os.path.splitext(args.out)
    view.export_png(base + "-diagram.png", scale=1)
    view.export_svg(base + "-diagram.svg")
    eq.export_png(base + "-equations.png", scale=1)
    a, b = QImage(base + "-diagram.png"), QImage(base + "-equations.png")
    out = QImage(max(a.width(), b.width()), a.height() + b.height(), QImage.Format.Format_ARGB32)
    out.fill(view.palette().color(QPalette.ColorRole.Window))
    p = QPainter(out)
    p.drawImage(0, 0, a)
    p.drawImage(0, a.height(), b)
    p.end()
    out.save(args.out)
    print(f"wrote {args.out}  (diagram paint {view.paint_ms():.2f} ms)")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Pictures of whole-sequence models: where attention looks, and which classes are confused.

- :class:`AttentionStripWidget`: one sample's attention weights α aligned with its input — a
  numeric series above bars of α, or characters / words shaded by α (the attention-over-words
  picture); the step with the largest α marked; the true and predicted class in the title.
- :class:`ConfusionMatrixWidget`: counts of (true, predicted) classes, shaded by the share of
  each true class.
- :func:`export_labelled_plots`: both, and the accuracy per epoch, as PNG, SVG and CSV.
"""

from __future__ import annotations


import numpy as np
from PySide6.QtCore import QRectF

import pyqtgraph as pg

from explorer.figures.axes import PlotAxisItem
from explorer.figures.panel import PlotPanelWidget, ensure_app, marker_line
from explorer.figures.plots import CurvesPlotWidget, export_plot

MARK = "#C0392B"
BAR = (41, 128, 185)
STRIP_TOKENS = 120
"""A text strip shows at most this many tokens (the first ones)."""


def _shade(a: float) -> tuple:
    """White (α = 0) to the bar colour (α = 1)."""
    a = float(np.clip(a, 0.0, 1.0))
    return tuple(int(round(255 + (c - 255) * a)) for c in BAR)


def _token_text(tok: str) -> str:
    return {" ": "␣", "\n": "↵", "\t": "⇥"}.get(tok, tok)


class AttentionStripWidget(PlotPanelWidget):
    """One sample's α aligned with its input; see the module's text."""

    title = "Attention"
    empty_text = "no attention weights yet"

    def _make_view(self):
        w = pg.GraphicsLayoutWidget()
        self.plot = pg.PlotItem(axisItems={"bottom": PlotAxisItem("bottom", integer=True),
                                           "left": PlotAxisItem("left")})
        self.alpha_plot = pg.PlotItem(axisItems={"bottom": PlotAxisItem("bottom", integer=True),
                                                 "left": PlotAxisItem("left")})
        for p in (self.plot, self.alpha_plot):
            p.setMenuEnabled(False)
            p.setMouseEnabled(x=False, y=False)
        w.ci.addItem(self.plot, row=0, col=0)
        w.ci.addItem(self.alpha_plot, row=1, col=0)
        w.ci.layout.setRowStretchFactor(0, 3)
        w.ci.layout.setRowStretchFactor(1, 2)
        self.alpha_plot.setXLink(self.plot)
        self.alpha_plot.setLabel("left", "attention α")
        self.alpha_plot.setLabel("bottom", "timestep t")
        self._add_empty_label(self.plot)
        self.alpha = None
        self.series = None
        self.tokens = None
        return w

    def _plot_items(self):
        return [self.plot, self.alpha_plot] if hasattr(self, "alpha_plot") else []

    def set_sample(self, alpha, series=None, tokens=None, heading: str = "") -> None:
        """``alpha`` (T,) over the sample's real steps; ``series`` (T, m) values or ``tokens`` (T
        strings); ``heading`` plain text (true and predicted class)."""
        self.alpha = np.asarray(alpha, dtype=float)
        self.series = None if series is None else np.asarray(series, dtype=float).reshape(len(self.alpha), -1)
        self.tokens = None if tokens is None else [str(t) for t in tokens]
        text = self.tokens is not None
        self.set_fixed_ticks("left", [[]] if text else None)
        self.set_grid(x=0 if text else 0.15, y=0 if text else 0.15)
        self.view.ci.layout.setRowStretchFactor(0, 1 if text else 3)
        t = int(np.argmax(self.alpha)) if self.alpha.size else 0
        self.set_title(f"{heading}{' · ' if heading else ''}largest α = {self.alpha.max():.3f} "
                       f"at t = {t + 1}" if self.alpha.size else heading)      # set_title shows it as plain text
        self._request_draw()

    def show_view(self, view) -> None:
        """Draw a :class:`~explorer.app.labelled.LabelledView` (its first :data:`STRIP_TOKENS` tokens)."""
        if view.tokens is not None:
            self.set_sample(view.alpha[:STRIP_TOKENS], tokens=view.tokens[:STRIP_TOKENS], heading=view.heading())
        else:
            self.set_sample(view.alpha, series=view.inputs, heading=view.heading())

    def has_data(self) -> bool:
        return self.alpha is not None and self.alpha.size > 0

    def _draw(self):
        for p in (self.plot, self.alpha_plot):
            p.clear()
        if not self.has_data():
            self._add_empty_label(self.plot)
            return
        T = len(self.alpha)
        t = np.arange(1, T + 1)
        best = int(np.argmax(self.alpha)) + 1
        self.alpha_plot.addItem(pg.BarGraphItem(x=t, height=self.alpha, width=0.8,
                                                brushes=[pg.mkBrush(*_shade(0.35 + 0.65 * a / self.alpha.max()))
                                                         for a in self.alpha], pen=pg.mkPen(None)))
        self.alpha_plot.setYRange(0, max(1e-6, float(self.alpha.max())) * 1.08, padding=0)
        for p in (self.plot, self.alpha_plot):
            line = marker_line(MARK)
            line.setPos(best)
            p.addItem(line, ignoreBounds=True)
        if self.tokens is not None:
            self._draw_tokens(T)
        else:
            colors = ["#2C3E50", "#E67E22", "#16A085", "#8E44AD", "#7F8C8D"]
            for j in range(self.series.shape[1]):
                self.plot.plot(t, self.series[:, j], pen=pg.mkPen(colors[j % len(colors)], width=1.6))
            self.plot.setLabel("left", "input")
        self.plot.setXRange(0.5, T + 0.5, padding=0)

    def _draw_tokens(self, T: int) -> None:
        """Each token in a box shaded by its α (the classic picture), on one row."""
        img = pg.ImageItem(np.array([[_shade(a / max(self.alpha.max(), 1e-12)) for a in self.alpha]],
                                    dtype=np.uint8), axisOrder="row-major")
        img.setRect(QRectF(0.5, 0.0, T, 1.0))
        self.plot.addItem(img)
        top = max(float(self.alpha.max()), 1e-12)
        for k, tok in enumerate(self.tokens[:T]):
            dark = self.alpha[k] / top > 0.6
            item = pg.TextItem(_token_text(tok), color=(255, 255, 255) if dark else (20, 20, 20), anchor=(0.5, 0.5))
            item.setPos(k + 1, 0.5)
            self.plot.addItem(item)
        self.plot.setYRange(0, 1, padding=0)
        self.plot.setLabel("left", "input")

    def csv_columns(self):
        T = 0 if self.alpha is None else len(self.alpha)
        cols = [list(range(1, T + 1)), [] if self.alpha is None else self.alpha.tolist()]
        header = ["t", "alpha"]
        if self.tokens is not None:
            header.append("token")
            cols.append(self.tokens[:T])
        elif self.series is not None:
            for j in range(self.series.shape[1]):
                header.append(f"input {j + 1}")
                cols.append(self.series[:, j].tolist())
        return header, cols


class ConfusionMatrixWidget(PlotPanelWidget):
    """counts[true, predicted] with the class names on both axes."""

    title = "Confusion matrix"
    empty_text = "no classes yet"

    def __init__(self, parent=None):
        self.counts = None
        self.names: list = []
        super().__init__(parent)
        self.plot.setLabel("bottom", "predicted class")
        self.plot.setLabel("left", "true class")
        self.plot.invertY(True)
        self.plot.setMouseEnabled(x=False, y=False)
        self.set_grid(x=0, y=0)

    def set_matrix(self, counts, names, heading: str = "") -> None:
        self.counts = np.asarray(counts, dtype=np.int64)
        self.names = [str(n) for n in names]
        if heading:
            self.set_title(heading)
        k = len(self.names)
        ticks = [[(j, n if len(n) <= 14 else n[:13] + "…") for j, n in enumerate(self.names)]]
        self.set_fixed_ticks("bottom", ticks if k <= 30 else None)
        self.set_fixed_ticks("left", ticks if k <= 30 else None)
        self._request_draw()

    def has_data(self) -> bool:
        return self.counts is not None and self.counts.size > 0

    def _draw(self):
        self.plot.clear()
        if not self.has_data():
            return
        k = len(self.names)
        share = self.counts / np.maximum(self.counts.sum(axis=1, keepdims=True), 1)
        rgb = np.array([[_shade(v) for v in row] for row in share], dtype=np.uint8)
        img = pg.ImageItem(rgb, axisOrder="row-major")
        img.setRect(QRectF(-0.5, -0.5, k, k))
        self.plot.addItem(img)
        if k <= 30:
            for i in range(k):
                for j in range(k):
                    c = (255, 255, 255) if share[i, j] > 0.6 else (20, 20, 20)
                    item = pg.TextItem(str(int(self.counts[i, j])), color=c, anchor=(0.5, 0.5))
                    item.setPos(j, i)
                    self.plot.addItem(item)
        self.plot.setXRange(-0.5, k - 0.5, padding=0)
        self.plot.setYRange(-0.5, k - 0.5, padding=0)

    def csv_rows(self):
        """The matrix as confusion.csv holds it: a row per true class, a column per predicted one."""
        return ["true \\ predicted"] + self.names, [[n] + self.counts[i].tolist() for i, n in enumerate(self.names)]


def strip_for(run, sample: int = 0) -> AttentionStripWidget:
    """The attention strip of ``sample`` (of the validation part, else the training part) of a
    :class:`~explorer.app.labelled.LabelledRun` with attention."""
    from explorer.app.labelled import labelled_view

    w = AttentionStripWidget()
    w.show_view(labelled_view(run, sample, with_confusion=False))
    return w


def export_labelled_plots(run, out_dir, sample: int = 0) -> list:
    """confusion (classes), attention_strip and attention_stage (attention pool) and accuracy (classes)
    as PNG, SVG, CSV."""
    from explorer.figures.report import _quiet_offscreen

    written = []
    part = "val" if run.dataset.n_val else "train"
    with _quiet_offscreen():
        ensure_app()
        if run.classes:
            cm = ConfusionMatrixWidget()
            acc = run.accuracy(part)
            cm.set_matrix(run.confusion(part), run.dataset.class_names,
                          f"Confusion matrix ({'validation' if part == 'val' else 'training'}, accuracy {acc:.1%})")
            written += export_plot(cm, out_dir, "confusion")
            hist = run.trainer.history
            if hist:
                curves = CurvesPlotWidget("Accuracy per epoch", "epoch", "accuracy", log_y=False)
                epochs = [h["epoch"] for h in hist]
                curves.add_curve("training", epochs, [h.get("train_accuracy", np.nan) for h in hist], "#2980B9")
                curves.add_curve("validation", epochs, [h.get("val_accuracy", np.nan) for h in hist], "#C0392B")
                written += export_plot(curves, out_dir, "accuracy")
        if run.model.pool == "attention" and len(run.part_arrays(part)[0]):
            written += export_plot(strip_for(run, sample), out_dir, "attention_strip")
            from explorer.app.labelled import labelled_view
            from explorer.figures.attention_stage import Stage, export_attention_stage

            written += export_attention_stage(Stage.of_view(labelled_view(run, sample, with_confusion=False)), out_dir)
    return written


def export_pool_comparison(named_runs, out_dir, first_norms: dict | None = None) -> list:
    """The validation accuracy (classes) or loss per epoch of every run, overlaid (pool_comparison),
    and with ``first_norms`` ({name: ‖∂L/∂h_t‖ (T,)}) the gradient norm through time at the first
    step (pool_grad_through_time); PNG, SVG and CSV each."""
    from explorer.figures.report import _quiet_offscreen

    colors = ["#2980B9", "#C0392B", "#27AE60", "#8E44AD", "#E67E22", "#16A085", "#7F8C8D", "#2C3E50"]
    with _quiet_offscreen():
        ensure_app()
        classes = all(run.classes for _, run in named_runs)
        what = "val_accuracy" if classes else "val_loss"
        curves = CurvesPlotWidget("Validation accuracy per epoch" if classes else "Validation loss per epoch",
                                  "epoch", "validation accuracy" if classes else "validation loss", log_y=not classes)
        for k, (name, run) in enumerate(named_runs):
            hist = run.trainer.history
            curves.add_curve(name, [h["epoch"] for h in hist], [h.get(what, np.nan) for h in hist],
                             colors[k % len(colors)])
        written = export_plot(curves, out_dir, "pool_comparison")
        if first_norms:
            through = CurvesPlotWidget("Gradient norm through time at the first step", "timestep t",
                                       "‖∂L/∂hₜ‖", log_y=True)
            for k, (name, norms) in enumerate(first_norms.items()):
                through.add_curve(name, np.arange(1, len(norms) + 1), norms, colors[k % len(colors)])
            written += export_plot(through, out_dir, "pool_grad_through_time")
        return written


__all__ = ["AttentionStripWidget", "ConfusionMatrixWidget", "export_labelled_plots", "export_pool_comparison",
           "strip_for"]

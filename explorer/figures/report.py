"""Headless export for the command line: the same plot widgets as the window, offscreen."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from explorer.figures import plots  # noqa: E402

PLOT_STEMS = ("loss", "grad_norms", "grad_through_time", "param_count", "predictions")
CELL_COLORS = {"rnn": "#7F7F7F", "gru": "#009E73", "lstm": "#0072B2", "peephole": "#CC79A7"}


_QUIET = ("This plugin does not support propagateSizeHints",)


@contextlib.contextmanager
def _quiet_offscreen():
    """Mute the offscreen plugin's harmless size-hint notice while exporting; restore after."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(mode, context, message):
        if not message.startswith(_QUIET):
            print(message, file=sys.stderr)

    previous = qInstallMessageHandler(handler)
    try:
        yield plots.ensure_app()
    finally:
        qInstallMessageHandler(previous)


def fill_run_plots(run, forecast: int = 50) -> dict:
    """Build and fill every plot widget for ``run``; ``{stem: widget}``."""
    plots.ensure_app()
    tr, ds, model = run.trainer, run.dataset, run.model
    loss = plots.LossPlotWidget()
    loss.set_history_rows(tr.history)
    grad = plots.GradNormPlotWidget()
    grad.set_step_table(run.step_table(), tr.log.gates, tr.clip)
    through = plots.GradThroughTimePlotWidget()
    xs, ys = tr.sample_pair()
    _, _, norms = model.loss_and_grads(xs, ys, loss=ds.loss, with_norms=True)
    through.set_norms(norms.dh, norms.dc)
    which, n = ("validation", len(tr.data.x_val)) if tr.data.has_val else ("training", len(tr.data.x_train))
    through.set_of(f"{which} sample {min(max(tr.sample_index, 0), n - 1)}, weights after step {tr.step}")
    params = plots.ParamCountPlotWidget()
    params.set_config(ds.n_inputs, ds.n_outputs, n_range=(1, 256), n_current=model.n_units, kind=model.kind,
                      layers=getattr(model, "num_layers", 1), bidirectional=getattr(model, "bidirectional", False))
    pred = plots.PredictionPlotWidget()
    p = run.predictions(forecast=forecast if ds.kind == "series" else 0)
    if ds.kind == "text":
        from explorer.engine import softmax
        trace = model.forward(xs)
        probs = softmax(trace.y[0, -1])
        top = np.argsort(probs)[::-1][:5]
        x = np.asarray(xs[0])
        ids = x if x.ndim == 1 else x.argmax(axis=-1)           # token ids, or one-hot rows
        level = "word" if getattr(getattr(ds, "corpus", None), "level", "char") == "word" else "char"
        before = (" " if level == "word" else "").join(ds.vocab[int(j)] for j in ids)
        pred.set_top_k([ds.vocab[j] for j in top], [float(probs[j]) for j in top], t=len(ids) - 1,
                       before=before, level=level)
    elif "t" in p:
        pred.set_series(p["t"], p["target"], p["t"], p["prediction"], p.get("t_forecast"), p.get("forecast"),
                        split_t=p["t"][0] if ds.kind == "series" else None, **series_axes(ds))
    return {"loss": loss, "grad_norms": grad, "grad_through_time": through, "param_count": params,
            "predictions": pred}


def time_axis(ds) -> tuple:
    """(values, label) of the series rows' times for the predictions plot, or (None, "row"): the
    data layer gives decimal years ("year"), POSIX seconds ("date": handed on as datetime64, which
    the plot labels as dates) or seconds of the day ("time of day")."""
    tv = getattr(ds, "time_values", None)
    if tv is None or not len(tv):
        return None, "row"
    label = getattr(ds, "time_label", "") or "year"
    tv = np.asarray(tv)
    if label == "date" and tv.dtype.kind in "fiu":
        return np.round(tv.astype(float)).astype(np.int64).astype("datetime64[s]"), "date"
    if label == "time of day":
        return tv.astype(float), "time of day (s)"
    return tv, label


def series_axes(ds) -> dict:
    """The predictions plot's axes from a dataset, the same in the window and in files: a series'
    time values (dates or years) and their name, the target column's name and the rows filled by
    interpolation, where it has them; whole sequences (the adding problem) are numbered as the
    validation sequences they are."""
    kind = getattr(ds, "kind", "series")
    if kind in ("regression", "classification"):
        return {"x_label": "validation sequence", "y_label": "target"}
    if kind != "series":
        return {}
    out = {}
    tv, label = time_axis(ds)
    if tv is not None:
        out["x_values"], out["x_label"] = tv, label
        if callable(getattr(ds, "time_text", None)):
            out["x_text"] = ds.time_text
    name = getattr(ds, "target_name", None)
    if name:
        out["y_label"] = str(name)
    gaps = getattr(ds, "gap_rows", None)
    if gaps is not None and len(gaps):
        out["gaps"] = gaps
    keys = getattr(ds, "keys", None)
    if keys:
        out["title"] = f"Predictions on the validation parts of the {len(keys)} series by {ds.key_column}"
        out["series_of"] = (ds.key_column, ds.series_names)
    return out


#: Plots whose CSV repeats the run's per-step history (left out of a run folder, which holds it once).
HISTORY_STEMS = ("grad_norms",)


def export_run_plots(run, out_dir, forecast: int = 50, history_csv: bool = True) -> list[Path]:
    """Every plot of ``run`` as PNG, SVG and CSV into ``out_dir`` (stems :data:`PLOT_STEMS`);
    without ``history_csv`` no CSV of the per-step history (:data:`HISTORY_STEMS`)."""
    written = []
    with _quiet_offscreen():
        for stem, widget in fill_run_plots(run, forecast).items():
            written += plots.export_plot(widget, out_dir, stem, csv=history_csv or stem not in HISTORY_STEMS)
    return written


def comparison_plots(comp) -> dict:
    """``{"loss_curves": …, "grad_through_time": …}``: every cell's validation loss per step overlaid,
    and every cell's gradient norm through time at the first step on one log axis."""
    plots.ensure_app()
    curves = plots.LossCurvesPlotWidget()
    for cell in comp.cells:
        for k, r in enumerate(comp.of(cell)):           # one legend entry per cell; its seeds share the colour
            name = f"{cell}" if comp.seeds == 1 else f"{cell} seed {r.seed}"
            curves.add_curve(name, r.eval_steps, r.eval_losses, CELL_COLORS.get(cell, "#444"),
                             legend=cell if k == 0 else None)
    if comp.seeds > 1:
        curves.set_title(f"Validation loss of each cell ({comp.seeds} seeds each)")
    curves.add_level(comp.target_loss, f"target {comp.target_loss:g}")
    through = plots.CurvesPlotWidget("Gradient norm through time at the first step", "timestep t",
                                     "gradient norm ‖∂L/∂hₜ‖ (solid), ‖∂L/∂cₜ‖ (dashed)", log_y=True)
    for cell in comp.cells:
        r = comp.of(cell)[0]
        t = np.arange(1, len(r.norms_dh) + 1)
        through.add_curve(f"{cell} ‖∂L/∂hₜ‖", t, r.norms_dh, CELL_COLORS.get(cell, "#444"))
        if r.norms_dc is not None:
            through.add_curve(f"{cell} ‖∂L/∂cₜ‖", t, r.norms_dc, CELL_COLORS.get(cell, "#444"),
                              Qt.PenStyle.DashLine)
    return {"loss_curves": curves, "grad_through_time": through}


def export_comparison_plots(comp, out_dir) -> list[Path]:
    """The loss curves overlaid, and the gradient norm through time at the first step per cell."""
    written = []
    with _quiet_offscreen():
        for stem, widget in comparison_plots(comp).items():
            written += plots.export_plot(widget, out_dir, stem)
    return written

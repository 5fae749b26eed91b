"""The window's plots as views of the session: loss, gradient norms, norms through time, the
cell's quantities and the memory kept over time (heatmaps), the parameter count and the
predictions. The plot widgets are the figures module's (:mod:`explorer.figures.plots`); this
controller makes them and feeds them from the session's events (``_on_session_<event>``), so the
window only places them in docks.
"""

from __future__ import annotations

import inspect

import numpy as np
from PySide6.QtCore import QObject

from explorer.engine import softmax
from explorer.figures import plots

HEATMAP_FIELDS = ("i", "f", "g", "o", "c", "h")


def heatmap_fields(trace) -> tuple:
    """The fields of ``trace`` the gate heatmap shows (its cell's description when there is one)."""
    try:
        from explorer.engine.describe import describe        # helper "cells"
        return tuple(describe(trace.kind).trace_names)
    except (ImportError, AttributeError, KeyError, ValueError):
        fields = getattr(trace, "fields", {})
        return tuple(k for k in HEATMAP_FIELDS if k in fields)
def memory_kept(trace):
    """(title, (T, n) array) of what each unit still keeps of its initial state: the running
    product of the forget gate ∏f (LSTMs) or of the update gate ∏z (GRU); None for a plain RNN."""
    fields = getattr(trace, "fields", {})
    for gate, title in (("f", "Memory kept: ∏ f over time (the share of c₀ each unit still holds)"),
                        ("z", "Memory kept: ∏ z over time (the share of h₀ each unit still holds)")):
        if gate in fields:
            return title, np.cumprod(np.asarray(getattr(trace, gate)[0], dtype=float), axis=0)
    return None


def time_axis(ds) -> tuple:
    """(values, label) of the series rows' times for the predictions plot, or (None, "row"): the
    data layer gives decimal years ("year"), POSIX seconds ("date": handed on as datetime64, which
    the plot shows as years) or seconds of the day ("time of day")."""
    tv = getattr(ds, "time_values", None)
    if tv is None:
        return None, "row"
    label = getattr(ds, "time_label", "") or "year"
    tv = np.asarray(tv)
    if label == "date" and tv.dtype.kind in "fiu":
        return np.round(tv.astype(float)).astype(np.int64).astype("datetime64[s]"), "date (year)"
    if label == "time of day":
        return tv.astype(float), "time of day (s)"
    return tv, label


def decimal_years(dates) -> np.ndarray:
    """datetime64 values as decimal years (2020-07-02 → 2020.5)."""
    days = np.asarray(dates).astype("datetime64[D]")
    years = days.astype("datetime64[Y]")
    start = years.astype("datetime64[D]")
    length = (years + 1).astype("datetime64[D]") - start
    return years.astype(np.int64) + 1970 + (days - start).astype(float) / length.astype(float)


def _takes(fn, name: str) -> bool:
    import inspect

    return name in inspect.signature(fn).parameters


class PlotsController(QObject):
    """Makes the plot widgets and keeps them in step with ``session``; ``text_strip`` gives the
    characters a text sample's heatmaps are labelled with."""

    def __init__(self, session, text_strip, units_range, parent=None):
        super().__init__(parent)
        self.session = session
        self.text_strip = text_strip
        self.units_range = units_range
        self.loss_plot = plots.LossPlotWidget()
        self.grad_plot = plots.GradNormPlotWidget()
        self.through_time_plot = plots.GradThroughTimePlotWidget()
        self.heatmap_plot = plots.GateHeatmapWidget()
        self.param_plot = plots.ParamCountPlotWidget()
        self.prediction_plot = plots.PredictionPlotWidget()
        # the memory heatmap (∏f per unit over time) where the figures module has it
        self.memory_plot = plots.MemoryHeatmapWidget() if hasattr(plots, "MemoryHeatmapWidget") else None
        self.widgets = {"loss": self.loss_plot, "grad_norms": self.grad_plot,
                        "grad_through_time": self.through_time_plot, "gates": self.heatmap_plot}
        if self.memory_plot is not None:
            self.widgets["memory"] = self.memory_plot
        self.widgets.update(param_count=self.param_plot, predictions=self.prediction_plot)
        self._heatmap_labels = _takes(self.heatmap_plot.set_trace, "time_labels")
        session.subscribe(self, "run", "trace", "position", "steps", "history", "norms", "predictions")

    def _on_session_run(self, run) -> None:
        if run is None:
            return
        ds = run.dataset
        self.param_plot.set_config(ds.n_inputs, ds.n_outputs, n_range=self.units_range,
                                   n_current=run.model.n_units)
        self._show_loss()
        self.grad_plot.set_step_table(self.session.steps.table(), run.trainer.log.gates, run.settings.clip)
        for w in (self.through_time_plot, self.heatmap_plot, self.memory_plot, self.prediction_plot):
            if w is not None:
                w.clear()

    def _on_session_trace(self, trace) -> None:
        tr = self.session.view_trace()
        if tr is None:
            return
        values = {k: getattr(tr, k)[0] for k in heatmap_fields(tr)}
        labels = self.text_strip.chars or None          # text mode: the sample's characters along time
        if self._heatmap_labels:
            self.heatmap_plot.set_trace(values, time_labels=labels)
        else:
            self.heatmap_plot.set_trace(values)
        if self.memory_plot is not None:
            kept = memory_kept(tr)
            if kept is None:
                self.memory_plot.clear()
            else:
                self.memory_plot.set_memory(kept[1], title=kept[0], time_labels=labels)
        self._on_session_position(self.session.position)

    def _on_session_position(self, pos) -> None:
        for w in (self.through_time_plot, self.heatmap_plot, self.memory_plot):
            if w is not None:
                w.set_time_marker(pos.t)
        self._show_top_k()

    def _on_session_steps(self, update) -> None:
        if len(update):
            self.grad_plot.append_steps(update.step, update.grad_norm, update.gate_norms, update.clipped,
                                        plots.epoch_starts(update.step, update.epoch), self.session.run.settings.clip)
        if not self.session.history:
            self._show_loss()

    def _on_session_history(self, history) -> None:
        self._show_loss()

    def _show_loss(self) -> None:
        """Loss per epoch; before any epoch finished, the loss of every step."""
        s = self.session
        axis = self.loss_plot.plot
        if s.history or s.run is None or not len(s.steps):
            axis.setLabel("bottom", "epoch")
            self.loss_plot.set_history_rows(s.history)
            return
        step, loss = s.step_losses()
        axis.setLabel("bottom", "step (no epoch has finished yet)")
        self.loss_plot.set_history(step, loss, np.full(len(loss), np.nan))

    def _on_session_norms(self, norms) -> None:
        dh, dc = norms
        self.through_time_plot.set_norms(dh, dc)
        self.through_time_plot.set_time_marker(self.session.position.t)

    def _on_session_predictions(self, p) -> None:
        ds = self.session.run.dataset
        if ds.kind == "text":
            self._show_top_k()
            return
        if not p or "prediction" not in p or "t" not in p:
            self.prediction_plot.clear()
            return
        t, tf = p["t"], p.get("t_forecast")
        series = ds.kind == "series"
        split = t[0] if series else None
        axes = self._prediction_axes(ds) if series else {}
        self.prediction_plot.set_series(t, p["target"], t, p["prediction"], tf, p.get("forecast"), split_t=split,
                                        **axes)
        if series and not axes:
            self._label_predictions_fallback(ds, p)

    def _prediction_axes(self, ds) -> dict:
        """What the dataset carries for the predictions plot's axes, in the figures helper's
        ``set_series`` keywords: ``x_values`` (the time of every series row — dates or years —
        indexed by the plotted rows) and its ``x_label``, ``y_label`` (the target's name),
        ``gaps`` (the rows filled by interpolation). Empty when the plot does not take them yet."""
        import inspect

        params = inspect.signature(self.prediction_plot.set_series).parameters
        kw = {}
        tv, label = time_axis(ds)
        name = "x_values" if "x_values" in params else "time_values" if "time_values" in params else None
        if name and tv is not None:
            kw[name] = tv
        if "x_label" in params:
            kw["x_label"] = label if tv is not None else "row"
        if "y_label" in params and ds.target_name:
            kw["y_label"] = ds.target_name
        if "gaps" in params:
            kw["gaps"] = getattr(ds, "gap_rows", None)
        return kw

    def _label_predictions_fallback(self, ds, p) -> None:
        """Until the plot takes axes: years (dates as decimal years) on x, the target's name on y."""
        plot = self.prediction_plot.plot
        if ds.target_name:
            plot.setLabel("left", ds.target_name)
        tv, label = time_axis(ds)
        if tv is None:
            return
        tv = decimal_years(tv) if np.asarray(tv).dtype.kind == "M" else np.asarray(tv, dtype=float)
        t, tf = p["t"], p.get("t_forecast")
        if len(tv) < t[-1] + 1:
            return
        self.prediction_plot.set_series(tv[t], p["target"], tv[t], p["prediction"],
                                        None if tf is None else tv[np.minimum(tf, len(tv) - 1)],
                                        p.get("forecast"), split_t=tv[t[0]])
        plot.setLabel("bottom", label)
        plot.setLabel("left", ds.target_name)

    def _show_top_k(self) -> None:
        s = self.session
        run = s.run
        tr = s.view_trace()
        if run is None or tr is None or run.dataset.kind != "text":
            return
        vocab = run.dataset.vocab
        t = min(s.position.t, tr.T - 1)
        probs = softmax(tr.y[0, t])
        top = np.argsort(probs)[::-1][:5]
        self.prediction_plot.set_top_k([vocab[j] for j in top], [float(probs[j]) for j in top])


"""The window's plots as views of the session: loss, gradient norms, norms through time, the
cell's quantities and the memory kept over time (heatmaps), the parameter count and the
predictions. The plot widgets are the figures module's (:mod:`explorer.figures.plots`); this
controller makes them and feeds them from the session's events (``_on_session_<event>``), so the
window only places them in docks.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject

from explorer.app.layer_view import LayerPlace
from explorer.app.memory_view import memory_title, memory_to_end
from explorer.engine import softmax
from explorer.engine.describe import describe
from explorer.figures import plots
from explorer.figures.report import series_axes, time_axis  # noqa: F401 - time_axis: main_window re-exports it
from explorer.gui.turns import on_screen


def memory_kept(trace):
    """(title, (T, n) array) of what "Memory" means in every window: of what each unit wrote at
    step t, the share still on the belt at the last step, ∏ of the keep gate after t (∏ f for the
    LSTMs, ∏ z for the GRU, :func:`explorer.app.memory_view.memory_to_end`, as the comparison
    view and "Most memory" use it); None for a cell without a belt (the plain RNN)."""
    title = memory_title(trace.kind)
    return None if title is None else (title, memory_to_end(trace))


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
        self.memory_plot = plots.MemoryHeatmapWidget()          # ∏ f (or ∏ z) per unit over time
        for w in (self.heatmap_plot, self.memory_plot):         # raising their tab never waits for a whole grid
            w.build_in_steps = True
        self._pending_heatmaps = None                           # (trace, labels) not drawn yet
        self.widgets = {"loss": self.loss_plot, "grad_norms": self.grad_plot,
                        "grad_through_time": self.through_time_plot, "gates": self.heatmap_plot,
                        "memory": self.memory_plot, "param_count": self.param_plot,
                        "predictions": self.prediction_plot}
        session.subscribe(self, "run", "trace", "position", "steps", "history", "norms", "predictions")

    def _on_session_run(self, run) -> None:
        if run is None:
            return
        ds = run.dataset
        model = run.model
        self.param_plot.set_config(ds.n_inputs, ds.n_outputs, n_range=self.units_range, n_current=model.n_units,
                                   kind=model.kind, layers=int(getattr(model, "num_layers", 1)),
                                   bidirectional=bool(getattr(model, "bidirectional", False)))
        self._show_loss()
        self.grad_plot.set_step_table(self.session.steps.table(), run.trainer.log.gates, run.settings.clip)
        # (the heatmaps keep their panels until the new run's trace replaces their values: rebuilding
        # them costs the GUI thread ~0.3 s, and the same cell has the same panels)
        for w in (self.through_time_plot, self.prediction_plot):
            w.clear()
        self._pending_heatmaps = None
        if getattr(self, "_kind", None) != run.model.kind:
            self.heatmap_plot.clear()
            self.memory_plot.clear()
        self._kind = run.model.kind

    def _on_session_trace(self, trace) -> None:
        tr = self.session.view_trace()
        pos = self.session.position
        self._drawn_place = (pos.layer, pos.direction)
        if tr is None:
            return
        labels = self.text_strip.chars or None          # text mode: the sample's characters along time
        self._pending_heatmaps = (tr, labels, self._place_title())
        self.flush(only_visible=True)
        self._on_session_position(pos)

    _drawn_place = (0, 0)           # the layer and direction the heatmaps show
    _norms_layer = 0                # the layer the norms through time are of

    def _place_title(self) -> str:
        """"layer 2 of 2 · reverse" for a deep or bidirectional model (exports carry it), else ""."""
        full = self.session.trace
        if full is None:
            return ""
        pos = self.session.position
        place = LayerPlace.of(full, pos.layer, pos.direction)
        return place.name if place.stacked else ""

    def flush(self, only_visible: bool = False) -> None:
        """Hand the latest trace to the heatmaps — at once when they are on screen, else when
        their tab is raised or an export needs them (their panels cost the GUI thread to build
        and redraw; a tab behind others need not pay while training)."""
        if self._pending_heatmaps is None:
            return
        tr, labels, where = self._pending_heatmaps
        if only_visible and not any(on_screen(w) for w in (self.heatmap_plot, self.memory_plot)):
            return
        self._pending_heatmaps = None
        self.heatmap_plot.set_place(where)
        self.heatmap_plot.set_trace({k: getattr(tr, k)[0] for k in describe(tr.kind).trace_names},
                                    time_labels=labels)
        kept = memory_kept(tr)
        if kept is None:
            self.memory_plot.clear()
        else:
            self.memory_plot.set_memory(kept[1], title=kept[0] + (f" \u2014 {where}" if where else ""),
                                        time_labels=labels)
        for w in (self.heatmap_plot, self.memory_plot):
            w.set_time_marker(self.session.position.t)

    def follow_dock(self, dock) -> None:
        """Feed ``dock``'s plot when its tab is raised (a heatmap behind a tab is not drawn until then)."""
        dock.visibilityChanged.connect(self._on_dock_visibility_changed)

    def _on_dock_visibility_changed(self, visible: bool) -> None:
        if visible:                 # a tab was raised (or a dock shown): draw what it missed
            self.flush()

    def _on_session_position(self, pos) -> None:
        if (pos.layer, pos.direction) != self._drawn_place:     # another layer or direction: its heatmaps
            self._on_session_trace(self.session.trace)
            return
        if pos.layer != self._norms_layer and self.session.norms is not None:
            self._on_session_norms(self.session.norms)
        for w in (self.through_time_plot, self.heatmap_plot, self.memory_plot):
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
        self.loss_plot.set_step_losses(step, loss)

    def _on_session_norms(self, norms) -> None:
        """The norms through time of the selected layer (layer 0's until every layer's arrived)."""
        dh, dc, layer = self.session.view_norms()
        self._norms_layer = self.session.position.layer
        s = self.session
        src = s.norms_source
        what = plots.GradThroughTimePlotWidget.LATEST_BATCH if src is None else src.norms_text(s.progress.step)
        L = int(getattr(s.trace, "num_layers", 1) or 1)
        extra = f" \u00b7 layer {layer + 1} of {L}, both directions" if L > 1 else ""
        self.through_time_plot.set_of(what, extra)
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
        axes = series_axes(ds)
        self.prediction_plot.set_series(t, p["target"], t, p["prediction"], tf, p.get("forecast"), split_t=split,
                                        **axes)

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
        level = self.text_strip.level
        tokens = self.text_strip.chars[:t + 1]
        before = " ".join(tokens) if level == "word" else "".join(tokens)
        self.prediction_plot.set_top_k([vocab[j] for j in top], [float(probs[j]) for j in top], t=t,
                                       before=before, level=level)


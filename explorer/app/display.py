"""What the views draw beside the position, and the one request that computes it (no Qt).

A :class:`Source` names what a trace on screen is computed from: the sample, the weights
(``"latest"``: the run's own; ``"epoch"``: the replay store's epoch ``epoch``; ``"training"``: the
snapshot a running or paused training task sent) and the interventions held. The session holds
the source the person asked for (:meth:`explorer.app.session.Session.source`) and the source of
the trace it has (``Session.trace_source``); a view whose two differ is waiting and says so.

:func:`display_request` is the one computation of what is drawn for a source: the trace with the
interventions held, the gradient norms through time of that pass, and, with interventions, their
effect (:class:`~explorer.app.teaching.InterventionEffect`: losses and predictions with and without,
the sample's outputs both ways — the clamped pass of the sample is the trace's own). Results are
kept in a :class:`DisplayCache` per weights × sample × interventions, so going back to a sample
or an epoch costs nothing.

>>> cache = DisplayCache()
>>> d = shown_display(TaskState(), run, run.model.state_dict(), Source(sample=3), cache=cache,
...                   weights_key=("latest", run.trainer.step))
>>> cache.get(("latest", run.trainer.step), Source(sample=3)) is d
True
"""

from __future__ import annotations

import copy
import threading

import numpy as np

from .edit import edited_pair
from .source import Source
from .tasks import Display, TaskState, _Interruptible, clone_model

__all__ = ["DisplayCache", "Source", "display_request", "predictions_of", "shown_display"]


class DisplayCache:
    """The last few :class:`~explorer.app.tasks.Display` results, per weights × sample ×
    interventions (``weights_key`` says which weights: e.g. ("latest", step) or ("epoch", k))."""

    def __init__(self, size: int = 6):
        self.size = int(size)
        self._items: list = []          # [(weights_key, Source, Display)], most recent last
        self._lock = threading.Lock()   # workers put, the GUI thread gets

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def get(self, weights_key, source: Source) -> Display | None:
        with self._lock:
            for k, (wk, src, d) in enumerate(self._items):
                if wk == weights_key and src == source:
                    self._items.append(self._items.pop(k))
                    return d
        return None

    def put(self, weights_key, source: Source, display: Display) -> None:
        with self._lock:
            self._items = [it for it in self._items if not (it[0] == weights_key and it[1] == source)]
            self._items.append((weights_key, source, display))
            del self._items[:-self.size]


def shown_display(state: TaskState, run, weights: dict | None, source: Source, *, trace: bool = True,
                  norms: bool = True, cache: DisplayCache | None = None, weights_key=None) -> Display:
    """The trace of ``source`` (its sample — or its edited input — under ``weights`` — None: the
    run's own — with its interventions held, one forward pass) and, if asked, the gradient norms through time of that
    same pass. Raises :class:`~explorer.app.tasks.Interrupted` when interrupted."""
    if cache is not None and weights_key is not None:
        hit = cache.get(weights_key, source)
        if hit is not None and (hit.norms_dh is not None or not norms):
            return hit
    model = clone_model(run.model, weights)
    x, y = edited_pair(run.dataset, source)
    ivs = list(source.interventions) or None
    interrupt = state.is_interruption_requested
    state.set_progress(0.0, "Computing the trace")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        out = Display(sample=int(source.sample), weights=model.state_dict() if weights is None else weights,
                      trace=model.forward(x, interventions=ivs, interrupt=interrupt) if trace else None,
                      source=source)
        state.check()
        if norms:
            _, gn, _ = model.compute_grads(x, y, run.dataset.loss, interrupt=interrupt, interventions=ivs)
            out.norms_dh = np.array(gn.dh, copy=True)
            out.norms_dc = None if gn.dc is None else np.array(gn.dc, copy=True)
            if gn.dh_layers is not None:
                out.norms_layers = (np.array(gn.dh_layers, copy=True),
                                    None if gn.dc_layers is None else np.array(gn.dc_layers, copy=True))
    if cache is not None and weights_key is not None and trace:
        cache.put(weights_key, source, out)
    return out


def predictions_of(state: TaskState, run, weights: dict | None, forecast: int = 100, span=(0.1, 1.0)) -> dict:
    """``Run.predictions`` (one step ahead, and a free-running forecast of a series) under
    ``weights``, in interruptible batches with progress over ``span``."""
    ds = run.dataset
    view = copy.copy(run)                   # the run's own predictions code, on a copy of the model
    view.model = _Interruptible(clone_model(run.model, weights), state, span=span, total=run.prediction_windows())
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return view.predictions(forecast=min(forecast, ds.n_val) if ds.kind == "series" else 0)


def display_request(state: TaskState, run, weights: dict | None, source: Source, *, trace: bool = True,
                    norms: bool = True, predictions: bool = False, forecast: int = 100, compare: bool = True,
                    cache: DisplayCache | None = None, weights_key=None, shown: Display | None = None,
                    send_trace: bool = True) -> Display:
    """Everything drawn for ``source``: :func:`shown_display` (``shown`` when it is already there;
    with ``send_trace`` sent at once as a partial result when more follows, so the views draw it
    meanwhile), the predictions when asked (of the weights, without interventions: the plot's own
    curves), and, with interventions and ``compare``, their effect in ``Display.comparison``.
    Raises :class:`~explorer.app.tasks.Interrupted` when interrupted."""
    from .teaching import intervention_effect_task

    d = shown if shown is not None else shown_display(state, run, weights, source, trace=trace, norms=norms,
                                                      cache=cache, weights_key=weights_key)
    compare = compare and bool(source.interventions) and d.comparison is None and d.trace is not None
    if send_trace and d.trace is not None and (predictions or compare):
        state.set_partial_result(d)
    if predictions:
        d.predictions = predictions_of(state, run, d.weights, forecast)
    if compare:
        plain = cache.get(weights_key, source.plain()) if cache is not None and weights_key is not None else None
        d.comparison = intervention_effect_task(state, run, d.weights, source.sample, source.interventions,
                                                y_with=d.trace.y, y_without=None if plain is None else plain.trace.y,
                                                pair=edited_pair(run.dataset, source))
    state.set_progress(1.0, "")
    return d

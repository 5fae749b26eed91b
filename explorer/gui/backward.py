"""The backward mode (View › Backward pass, key B): the equations panel writes the backward rows
and the diagram draws the gradient flowing right to left along the belt, for the selected sample.

The gradients are ``model.state_grads`` of the shown trace's sample under the shown weights
(with the interventions held, if any); the "Through time" plot shows their norms: :func:`explorer.app.teaching.backward_grads`, at once for
a small model, on a worker for a large one. Stepping runs from T down to 1: the timestep bar is
reversed (Right steps back in time, Home is t = T, the slider runs right to left).
"""

from __future__ import annotations

from functools import partial

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence

from explorer.app.teaching import backward_grads, grad_norms_of, is_small
from explorer.gui.worker import LatestTask


class BackwardController(QObject):
    """Turns the backward mode on and off and keeps its gradients those of the shown trace."""

    sigGrads = Signal(object)           # new gradients reached the views (None: forward again)

    def __init__(self, session, threads, status, *, timebar, views, parent=None):
        """``timebar`` steps backwards while on; ``views`` (the equations, the diagram) draw the
        gradients (``set_backward``)."""
        super().__init__(parent)
        self.session, self.status, self.timebar, self.views = session, status, timebar, tuple(views)
        self.grads = None
        self._for = None                 # the trace the gradients belong to
        self.task = LatestTask(threads, current_tag=lambda: self.session.run, parent=self)
        self.task.sigResult.connect(self._done)
        self.task.sigError.connect(self._failed)
        self.action = QAction("&Backward pass", self, checkable=True)
        self.action.setShortcut(QKeySequence("B"))
        self.action.setToolTip("Show the backward pass: the gradients flowing back through time (B)")
        self.action.toggled.connect(self.set_enabled)
        self.session.subscribe(self, "trace", "run")

    @property
    def enabled(self) -> bool:
        return self.action.isChecked()

    def set_enabled(self, on: bool) -> None:
        """Backward mode on (start at the last step, step towards 1) or off."""
        if self.action.isChecked() != on:
            self.action.setChecked(on)           # comes back here through toggled
            return
        self.timebar.set_reversed(on)
        if on:
            tr = self.session.view_trace()
            if tr is not None:
                self.session.set_position(t=tr.T - 1)
            self.refresh()
            self.status.show_status("Backward pass: Right steps back in time, from t = T down to 1; B returns.", 8000)
        else:
            self.task.cancel()
            self._apply(None, None)

    # -- the session -------------------------------------------------------------------------------
    def _on_session_trace(self, trace) -> None:
        if self.enabled and trace is not None and trace is not self._for:
            self.refresh()

    def _on_session_run(self, run) -> None:
        self._apply(None, None)

    # -- computing ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        s = self.session
        run, trace = s.run, s.trace
        if run is None or trace is None:
            return
        weights = s.trace_weights if s.trace_weights is not None else run.model.state_dict()
        src = s.trace_source
        fn = partial(_grads_task, run=run, weights=weights, sample=s.position.sample if src is None else src.sample,
                     interventions=s.shown_interventions(), trace=trace, edit=None if src is None else src.edit)
        self.task.start(fn, tag=run, direct=is_small(run))

    def _failed(self, text: str) -> None:
        self.status.show_message(f"Could not compute the backward pass: {text}", "error", topic="backward")

    def _done(self, result) -> None:
        trace, grads = result
        if not self.enabled or trace is not self.session.trace:
            return                                   # another trace is shown by now
        self._apply(grads, trace)

    def _apply(self, grads, trace) -> None:
        self.grads, self._for = grads, trace
        if grads is not None:                    # "Through time" shows the norms of the same gradients
            self.session.set_norms(*grad_norms_of(grads), source=self.session.trace_source)
        for view in self.views:
            view.set_backward(grads)
        self.sigGrads.emit(grads)


def _grads_task(state, run, weights, sample, interventions, trace, edit=None):
    g = backward_grads(run, weights, sample, interventions, interrupt=state.is_interruption_requested, edit=edit)
    assert np.shape(g.dh)[1] == trace.T
    return trace, g

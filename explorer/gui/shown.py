"""Which trace the views show when it is not simply the current weights': a replayed epoch's, or
one with interventions held (or both).

:class:`ShownTraceController` owns the replayed epoch (None: the latest weights) and follows the
session's interventions. Whenever either is set it computes the selected sample's trace with
:func:`explorer.app.teaching.shown_trace` — at once on the GUI thread for a small model (a few
milliseconds), else on a worker — and hands it to the session, so the diagram, the equations,
the heatmaps and the backward mode all show it. A trace that arrives from elsewhere (another
sample chosen, a display task) is recomputed the same way. While training runs, training's
traces are shown and neither replay nor interventions apply.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QObject, Signal

from explorer.app.teaching import is_small, shown_trace
from explorer.gui.worker import LatestTask


class ShownTraceController(QObject):
    """The replayed epoch and the interventions, applied to what the session shows."""

    sigShown = Signal()             # a trace of this controller's reached the session

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.session = win.session
        self.epoch: int | None = None
        self._own = None                # the last trace this controller gave the session
        self.task = LatestTask(win.threads, current_tag=lambda: self.session.run, parent=self)
        self.task.sigResult.connect(self._show)
        self.task.sigError.connect(self._failed)
        self.session.subscribe(self, "trace", "run", "interventions", "training")

    @property
    def active(self) -> bool:
        """Whether what is shown differs from the current weights' plain trace."""
        return self.epoch is not None or bool(self.session.interventions)

    def weights(self) -> dict | None:
        """The state dict the shown trace is computed with (the replayed epoch's or the run's)."""
        run = self.session.run
        if run is None:
            return None
        if self.epoch is not None:
            return run.epoch_state(self.epoch)
        if self.session.training != "idle":
            return self.session.trace_weights
        return run.model.state_dict()

    def set_epoch(self, epoch: int | None) -> None:
        """Replay ``epoch`` (None: back to the latest weights)."""
        if epoch == self.epoch:
            return
        self.epoch = None if epoch is None else int(epoch)
        self.refresh()

    # -- the session -------------------------------------------------------------------------------
    def _on_session_run(self, run) -> None:
        self.epoch = None
        self._own = None
        self.task.cancel()

    def _on_session_trace(self, trace) -> None:
        if trace is None or trace is self._own or self.session.training == "running":
            return
        if self.active:
            self.refresh()

    def _on_session_interventions(self, ivs) -> None:
        self.refresh()

    def _on_session_training(self, state) -> None:
        if state == "running":
            self.epoch = None
            self._own = None

    # -- computing ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Recompute the shown trace for the session's sample (or go back to the plain one)."""
        s, win = self.session, self.win
        run = s.run
        if run is None or s.training == "running":
            return
        if not self.active:
            if self._own is not None:
                self._own = None
                win.display.request(predictions=False, norms=True)      # the plain trace again
            return
        weights = self.weights()
        fn = partial(_shown_task, run=run, weights=weights, sample=s.position.sample,
                     interventions=tuple(s.interventions))
        self.task.start(fn, tag=run, direct=is_small(run))

    def _failed(self, text: str) -> None:
        self.win.banner.show_message(f"The intervention cannot be applied: {text}", "error", topic="interventions")

    def _show(self, result) -> None:
        sample, trace, weights, ivs = result
        s = self.session
        if sample != s.position.sample or ivs != tuple(s.interventions) or not self.active:
            return                                          # the person moved on meanwhile
        self.win.banner.resolve("interventions")
        self._own = trace
        s.set_trace(trace, weights)
        self.sigShown.emit()


def _shown_task(state, run, weights, sample, interventions):
    trace = shown_trace(run, weights, sample, interventions, interrupt=state.is_interruption_requested)
    return sample, trace, weights, tuple(interventions)

"""The window's training and display controllers.

:class:`TrainingController` starts :func:`explorer.app.tasks.train_task` on a
:class:`~explorer.gui.worker.TaskWorker`, applies what arrives to the session at an adaptive
rate (about 30 × what a redraw costs the GUI thread, so training keeps its speed), pauses,
stops and reports. It never reads the trainer while a task owns it: steps, history, norms and
traces arrive in the task's partial results.

:class:`DisplayController` is the one producer of the session's trace outside training: it
computes what the session's source asks for (sample, weights, interventions) with
:func:`explorer.app.display.display_request`, and the latest weights' predictions with the same
request (a newer request interrupts an older one).
"""

from __future__ import annotations

import time
from functools import partial

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox

from explorer.app import CheckpointPolicy
from explorer.app.display import DisplayCache, display_request, shown_display
from explorer.app.pacing import RedrawPacer
from explorer.app.source import Source
from explorer.app.tasks import TaskState, TrainingUpdate, display_task, train_task
from explorer.app.teaching import is_small
from explorer.gui.status import StatusSink
from explorer.gui.worker import LatestTask, TaskWorker
from explorer.runs.store import write_autosave

FINISHED_TEXT = {"done": "Training finished.", "stopped": "Training stopped; Train continues from here.",
                 "diverged": "Training diverged; the weights from before the blow-up are kept.",
                 "error": "Training stopped by an error."}
STOP_TIMEOUT_S = 1.5          # closing waits at most this long for the step under way


class DisplayController(QObject):
    """The one producer of the session's trace: whenever the source of what is drawn changes (the
    sample, the interventions, the replayed epoch; :meth:`explorer.app.session.Session.source`) it
    computes that source (with the sample's input as edited, if it is) with :func:`explorer.app.display.display_request` — at once on the GUI
    thread for a small model, else on a worker whose newer request cancels the older — and hands
    the trace, its norms and the interventions' effect to the session only while they are still
    what the session asks for. Results are cached per weights × sample × interventions. The
    predictions (of the latest weights) are a separate request: a new sample does not cancel them.
    While training runs, training's own traces are drawn."""

    sigDisplayed = Signal()            # a result reached the session

    def __init__(self, session, threads, status: StatusSink, parent=None):
        super().__init__(parent)
        self.session, self.status = session, status
        self.cache = DisplayCache()
        self._computing: Source | None = None     # the source the running request computes
        current = lambda: self.session.run  # noqa: E731 - read in the GUI thread
        self.task = LatestTask(threads, current_tag=current, progress=status.task_progress, parent=self)
        self.task.sigPartial.connect(self.apply)
        self.task.sigResult.connect(self.apply)
        self.task.sigError.connect(self._failed)
        self.predictions_task = LatestTask(threads, current_tag=current, progress=status.task_progress,
                                           parent=self)
        self.predictions_task.sigResult.connect(self.apply)
        self.predictions_task.sigError.connect(self._failed)
        s = self.session
        s.events.run.connect(self._on_session_run)
        s.events.sample.connect(self._on_source_changed)
        s.events.interventions.connect(self._on_source_changed)
        s.events.replay_epoch.connect(self._on_source_changed)
        s.events.edit.connect(self._on_source_changed)
        s.events.training.connect(self._on_session_training)

    @property
    def busy(self) -> bool:
        return self.task.busy or self.predictions_task.busy

    def _on_session_run(self, run) -> None:
        self.cache.clear()
        self.task.cancel()
        self.predictions_task.cancel()

    def _on_session_training(self, state) -> None:
        if state == "running":
            self.task.cancel()
            self.cache.clear()          # new weights under the same step numbers after a rollback

    def _on_source_changed(self, _value) -> None:
        self.refresh()

    def _weights_key(self, src: Source):
        if src.weights == "epoch":
            return ("epoch", src.epoch)
        if src.weights == "training":
            return ("training", self.session.progress.step)
        return ("latest", self.session.progress.step)

    def _weights(self, src: Source):
        run, s = self.session.run, self.session
        if src.weights == "epoch":
            return run.epoch_state(src.epoch)
        if src.weights == "training":
            return s.training_weights if s.training_weights is not None else s.trace_weights
        return run.model.state_dict()

    def refresh(self, *, norms: bool = True) -> None:
        """Compute what the session asks to be drawn (nothing while training runs: it sends its own)."""
        s = self.session
        run = s.run
        if run is None or s.training == "running":
            return
        src = s.source()
        key = self._weights_key(src)
        want_compare = bool(src.interventions)
        hit = self.cache.get(key, src)
        if hit is not None and norms and hit.norms_dh is None:
            hit = None
        weights = self._weights(src) if hit is None else hit.weights
        if weights is None:
            return
        if hit is None and is_small(run):
            try:
                hit = shown_display(TaskState(), run, weights, src, norms=norms, cache=self.cache, weights_key=key)
            except ValueError as exc:
                self._failed(str(exc))
                return
        if hit is not None:
            self.task.cancel()
            self.apply(hit)
            if not want_compare or hit.comparison is not None:
                return
        fn = partial(display_request, run=run, weights=weights, source=src, norms=norms, cache=self.cache,
                     weights_key=key, shown=hit)
        self._computing = src
        self.task.start(fn, tag=run)

    def request(self, *, predictions: bool = True, norms: bool = True) -> None:
        """Recompute what is drawn for the session's source and, with ``predictions`` (idle only),
        the latest weights' predictions — with the latest weights' plain trace in the same request
        when that is what is drawn."""
        s = self.session
        run = s.run
        if run is None:
            return
        if not (predictions and s.training == "idle"):
            self.refresh(norms=norms)
            return
        src = s.source()
        plain = src == Source(src.sample)
        if not plain:
            self.refresh(norms=norms)
        fn = partial(display_request, run=run, weights=run.model.state_dict(), source=Source(src.sample),
                     trace=plain, norms=plain and norms, predictions=True, compare=False, send_trace=False)
        self.predictions_task.start(fn, tag=run)

    def _failed(self, text: str) -> None:
        topic = "interventions" if self.session.interventions else "display"
        what = "The intervention cannot be applied" if self.session.interventions else "Could not compute the display"
        self.status.show_message(f"{what}: {text}", "error", topic=topic)

    def apply(self, d) -> None:
        """Hand a :class:`~explorer.app.tasks.Display` to the session (the views follow) — its trace
        only while it is of what the session asks for."""
        s = self.session
        if d is None:
            return
        applied = False
        if d.trace is not None and d.source == s.source():
            if self.task.busy and self._computing == d.source and not d.source.interventions:
                self.task.cancel()                  # it was computing this very trace (a first display)
            if s.trace is not d.trace:
                if d.source.weights == "latest":
                    self.cache.put(self._weights_key(d.source), d.source, d)
                s.set_trace(d.trace, d.weights, d.source)
                if d.norms_dh is not None:
                    s.set_norms(d.norms_dh, d.norms_dc, layers=d.norms_layers, source=d.source)
            if d.source.interventions:
                self.status.resolve("interventions")
            if d.comparison is not None:
                s.set_comparison(d.comparison)
            applied = True
        if d.predictions is not None:              # the same for every sample
            s.set_predictions(d.predictions)
            applied = True
        if applied:
            self.sigDisplayed.emit()


class TrainingRunner(QObject):
    """One training task on a worker, what it sends applied at the pace of
    :class:`~explorer.app.pacing.RedrawPacer` (about 30 × what a redraw costs the GUI thread, so
    training keeps its speed) — the same for the main window and the comparison view.

    ``apply(update)`` draws what arrived since the last redraw (``merge`` makes one update of
    them: by default the latest, for tasks whose partial results are whole snapshots);
    ``paint_s()`` is the seconds the views' last paint took; ``accept(value)`` may take a partial
    result for itself (False: it is not an update); ``current_tag()`` is the tag a worker's results
    must carry to be drawn. :attr:`sigDone` carries the worker once its task has ended."""

    sigDone = Signal(object)
    sigRedrawn = Signal()

    def __init__(self, threads, apply, *, paint_s=lambda: 0.0, merge=None, accept=None, current_tag=None,
                 progress=None, parent=None):
        super().__init__(parent)
        self.threads, self.apply, self.paint_s = threads, apply, paint_s
        self.merge = merge if merge is not None else (lambda updates: updates[-1])
        self.accept, self.current_tag, self.progress = accept, current_tag, progress
        self.worker: TaskWorker | None = None
        self._pending: list = []
        self.pacer = RedrawPacer()
        self.redraws = 0
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.redraw)

    @property
    def running(self) -> bool:
        return self.worker is not None

    @property
    def redraw_interval(self) -> float:
        """Seconds between live redraws now (the pacer's)."""
        return self.pacer.interval

    @property
    def redraw_cost(self) -> float:
        """Seconds a redraw costs the GUI thread (the pacer's measure)."""
        return self.pacer.cost

    @property
    def paused(self) -> bool:
        return self.worker is not None and self.worker.state.paused

    def start(self, fn, tag=None, sample: int = 0) -> TaskWorker:
        """Run ``fn(state)`` on a worker; the state's ``sample`` is the one channel to the sample
        shown (:meth:`set_sample`)."""
        worker = TaskWorker(fn, tag=tag)
        worker.state.sample = int(sample)
        self.pacer.tell(worker.state)
        worker.sigPartial.connect(self._on_worker_partial)
        worker.sigDone.connect(self._on_worker_done)
        if self.progress is not None:
            worker.sigProgress.connect(self.progress)
        self.worker = worker
        self._pending = []
        self.threads.start(worker)
        return worker

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.state.request_interruption()

    def pause(self, paused: bool) -> None:
        if self.worker is not None:
            (self.worker.state.pause if paused else self.worker.state.resume)()

    def set_sample(self, sample: int) -> None:
        """The person chose another sample: the task builds its traces of it from its next emission on."""
        if self.worker is not None:
            self.worker.state.sample = int(sample)

    def stop_and_wait(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Stop and wait for the task (closing, or before replacing what it trains). The worker quits
        its own thread, so this returns as soon as the step under way has ended; its end is handled
        now, not when the queued signal arrives."""
        worker = self.worker
        if worker is None:
            return True
        worker.state.request_interruption()
        ok = worker.done.wait(timeout_s)
        if ok:
            self._on_worker_done(worker)
        return ok

    def finish(self) -> None:
        """Handle the end of a task whose thread has ended (after the event loop stopped)."""
        if self.worker is not None and self.worker.done.is_set():
            self._on_worker_done(self.worker)

    def _on_worker_partial(self, value) -> None:
        worker = self.sender()
        if worker is not self.worker or (self.current_tag is not None and worker.tag is not self.current_tag()):
            return                            # an older task's, or from something no longer shown
        if self.accept is not None and not self.accept(value):
            return
        self._pending.append(value)
        if not self.timer.isActive():
            self.timer.start(int(self.pacer.wait() * 1000))

    def redraw(self) -> None:
        """Apply everything that arrived since the last redraw at once; adapt the rate."""
        if not self._pending:
            return
        mark = self.pacer.begin()
        updates, self._pending = self._pending, []
        self.apply(self.merge(updates))
        self.pacer.end(mark, paint_s=self.paint_s())
        if self.worker is not None:          # no traces the views will not show
            self.pacer.tell(self.worker.state)
        self.redraws += 1
        self.sigRedrawn.emit()

    def _on_worker_done(self, worker) -> None:
        if worker is not self.worker:
            return                            # handled already (stop_and_wait) or an old one
        self.worker = None
        self.timer.stop()
        self.redraw()
        self.sigDone.emit(worker)


class TrainingController(QObject):
    """Train / stop / pause the session's run; live redraws from the task's updates.

    Collaborators, all explicit: the ``session`` (its run, position and training state), the
    ``threads`` to run on, the ``status`` sink, ``settings(base)`` (the training settings the
    person chose), ``files`` (``autosave_root()``, ``training_started(root)``,
    ``training_finished()``), the ``display`` controller (``apply``, ``request``), ``paint_s()``
    (the views' last paint, for the pacing), ``closing()`` and the ``dialog_parent`` of its question.
    :attr:`sigFinished` says how training ended, :attr:`sigRedrawn` follows every live redraw."""

    sigFinished = Signal(str)            # "done" | "stopped" | "diverged" | "error"
    sigRedrawn = Signal()

    def __init__(self, session, threads, status: StatusSink, *, settings, files, display, paint_s=lambda: 0.0,
                 closing=lambda: False, dialog_parent=None, parent=None):
        super().__init__(parent)
        self.session, self.status, self.settings = session, status, settings
        self.files, self.display, self.closing, self.dialog_parent = files, display, closing, dialog_parent
        self.runner = TrainingRunner(threads, self._apply_update, paint_s=paint_s, merge=TrainingUpdate.merge,
                                     accept=self._accept, current_tag=lambda: session.run,
                                     progress=status.task_progress, parent=self)
        self.runner.sigDone.connect(self._on_runner_done)
        self.runner.sigRedrawn.connect(self.sigRedrawn)
        self._t0 = 0.0
        self._step0 = 0

    @property
    def worker(self) -> TaskWorker | None:
        return self.runner.worker

    @property
    def training(self) -> bool:
        return self.runner.running

    @property
    def paused(self) -> bool:
        return self.runner.paused

    # -- start / stop / pause ---------------------------------------------------------------------
    def start(self, epochs: int | None = None) -> None:
        run = self.session.run
        if run is None or self.training:
            return
        chosen = self._apply_training_settings(run)
        tr = run.trainer
        tr.extend(epochs if epochs is not None else chosen.epochs)
        self._t0, self._step0 = time.perf_counter(), tr.step
        root = self.files.autosave_root()
        fn = partial(train_task, trainer=tr, checkpoint=partial(write_autosave, run, root),
                     policy=CheckpointPolicy(),
                     # the through-time plot then shows the selected sample, not the last training batch
                     display=lambda st: display_task(st, run, None, st.sample or 0, norms=True))
        self.files.training_started(root)
        self.status.resolve("training", "display")
        self.session.set_training("running")
        self.runner.start(fn, tag=run, sample=self.session.position.sample)
        self.status.show_status("Training…")
        self.status.update_progress()

    def _apply_training_settings(self, run):
        """Settings that may change between runs without new weights (the run is idle)."""
        s = self.settings(run.settings)
        tr = run.trainer
        if s.optimizer != run.settings.optimizer:
            from explorer.engine import make_optimizer
            tr.optimizer = make_optimizer(s.optimizer, s.lr)
        tr.optimizer.lr = s.lr
        tr.clip = s.clip
        if s.batch != tr.batch_size and tr.epoch_step == 0:
            tr.batch_size = s.batch
        rs = run.settings
        rs.optimizer, rs.lr, rs.clip, rs.batch, rs.epochs = s.optimizer, s.lr, s.clip, tr.batch_size, s.epochs
        return s

    def stop(self) -> None:
        self.runner.stop()

    def toggle_pause(self) -> None:
        if not self.training:
            return
        if self.runner.paused:
            self.runner.pause(False)
            self.session.set_training("running")
            self.status.show_status("Training…")
        else:
            self.runner.pause(True)
            self.session.set_training("paused")
            self.status.show_status("Paused: step through time with Left/Right; Resume to go on.")

    def set_sample(self, sample: int) -> None:
        """The person chose another sample: the task builds its trace from the next emission on."""
        self.runner.set_sample(sample)

    def stop_and_wait(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Stop and wait for the task's thread (closing, or before replacing the run)."""
        return self.runner.stop_and_wait(timeout_s)

    def finish(self) -> None:
        """After the event loop ended: handle a task that ended only now."""
        self.runner.finish()

    # -- what arrives ---------------------------------------------------------------------------------
    def _accept(self, value) -> bool:
        if isinstance(value, tuple) and value and value[0] == "message":
            self.status.show_message(value[1], "warn", topic="autosave")
            return False
        return True

    def _apply_update(self, update) -> None:
        self.session.apply_update(update)

    def redraw(self) -> None:
        """Apply everything that arrived since the last redraw at once."""
        self.runner.redraw()

    def _on_runner_done(self, worker) -> None:
        result = worker.result
        reason = "error" if worker.error or result is None else result.reason
        message = worker.error or (result.message if result is not None else "")
        self.session.set_training("idle")
        self.status.task_progress((1.0, ""))
        self.files.training_finished()
        if self.closing():
            self.sigFinished.emit(reason)
            return
        s = self.session
        shown = result is not None and result.display is not None
        if shown:
            self.display.apply(result.display)
        if not shown or s.waiting:                  # (another sample was chosen as training ended)
            self.display.request(predictions=not shown, norms=True)
        if reason in ("diverged", "error"):
            self.status.show_message(message or FINISHED_TEXT[reason], "error", topic="training")
        else:
            self.status.resolve("training")
        self.status.update_progress()
        self.status.show_status(FINISHED_TEXT[reason], 10000)
        self.sigFinished.emit(reason)

    # -- asking ---------------------------------------------------------------------------------------
    def confirm_stop(self, why: str) -> bool:
        """Ask to stop training (a modal question); True when training is no longer running."""
        if not self.training:
            return True
        answer = QMessageBox.question(self.dialog_parent, "Stop training?", f"{why} Stop training first?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        if answer == QMessageBox.StandardButton.Yes:
            self.stop_and_wait()
        return not self.training

    def seconds_left(self) -> float | None:
        p = self.session.progress
        if not self.training or p.step <= self._step0:
            return None
        rate = (time.perf_counter() - self._t0) / (p.step - self._step0)
        return rate * max(p.total_steps - p.step, 0)

"""The window's training and display controllers.

:class:`TrainingController` starts :func:`explorer.app.tasks.train_task` on a
:class:`~explorer.gui.worker.TaskWorker`, applies what arrives to the session at an adaptive
rate (about 30 × what a redraw costs the GUI thread, so training keeps its speed), pauses,
stops and reports. It never reads the trainer while a task owns it: steps, history, norms and
traces arrive in the task's partial results.

:class:`DisplayController` computes what the views draw for the current weights — the selected
sample's trace, the gradient norms through time, the predictions and forecast — with
:func:`explorer.app.tasks.display_task` in a worker, and hands the result to the session when it
arrives (a newer request interrupts an older one).
"""

from __future__ import annotations

import time
from functools import partial

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QStyle

from explorer.app import CheckpointPolicy
from explorer.app.tasks import TrainingUpdate, display_task, train_task
from explorer.gui.worker import TaskWorker
from explorer.runs.store import write_autosave

FINISHED_TEXT = {"done": "Training finished.", "stopped": "Training stopped; Train continues from here.",
                 "diverged": "Training diverged; the weights from before the blow-up are kept.",
                 "error": "Training stopped by an error."}
STOP_TIMEOUT_S = 1.5          # closing waits at most this long for the step under way


class DisplayController(QObject):
    """Trace, norms and predictions for the views, computed off the GUI thread."""

    sigDisplayed = Signal()            # a result reached the session

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.worker: TaskWorker | None = None

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def request(self, *, predictions: bool = True, norms: bool = True, weights=None) -> None:
        """Recompute for the session's sample with ``weights`` (default: the idle run's own)."""
        win = self.win
        run = win.run
        if run is None:
            return
        if self.worker is not None:
            self.worker.state.request_interruption()      # its result is dropped
        if weights is None:
            weights = win.session.trace_weights if win.training else run.model.state_dict()
        if weights is None:
            return
        fn = partial(display_task, run=run, weights=weights, sample=win.session.position.sample,
                     predictions=predictions and not win.training, norms=norms)
        worker = TaskWorker(fn, tag=run)
        worker.sigDone.connect(self._on_worker_done)
        worker.sigProgress.connect(win._on_task_progress)
        self.worker = worker
        win.threads.start(worker)

    def _on_worker_done(self, worker) -> None:
        if worker is not self.worker:
            return                                     # superseded
        self.worker = None
        self.win._on_task_progress((1.0, ""))
        if worker.error:
            self.win.banner.show_message(f"Could not compute the display: {worker.error}", "error", topic="display")
            return
        if worker.interrupted or worker.tag is not self.win.run:
            return
        self.apply(worker.result)

    def apply(self, d) -> None:
        """Hand a :class:`~explorer.app.tasks.Display` to the session (the views follow)."""
        s = self.win.session
        if d is None:
            return
        if d.sample == s.position.sample:          # (a trace of a sample since left is dropped)
            if d.trace is not None:
                s.set_trace(d.trace, d.weights)
            if d.norms_dh is not None:
                s.set_norms(d.norms_dh, d.norms_dc, layers=d.norms_layers)
        if d.predictions is not None:              # the same for every sample
            s.set_predictions(d.predictions)
        self.sigDisplayed.emit()


class TrainingController(QObject):
    """Train / stop / pause; live redraws from the task's updates."""

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.worker: TaskWorker | None = None
        self._pending: list = []
        self._last_redraw = 0.0
        self.redraw_cost = 0.0
        self.redraw_interval = 1.0 / 30
        self._redraw_cpu_mark = 0.0        # the GUI thread's CPU clock when the last redraw began
        self._t0 = 0.0
        self._step0 = 0
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.redraw)

    @property
    def training(self) -> bool:
        return self.worker is not None

    @property
    def paused(self) -> bool:
        return self.worker is not None and self.worker.state.paused

    # -- start / stop / pause ---------------------------------------------------------------------
    def start(self, epochs: int | None = None) -> None:
        win = self.win
        run = win.run
        if run is None or self.training:
            return
        self._apply_training_settings()
        tr = run.trainer
        tr.extend(epochs if epochs is not None else win.settings_panel.epochs_spin.value())
        self._t0, self._step0 = time.perf_counter(), tr.step
        root = win.files.autosave_root()
        sample = win.session.position.sample
        fn = partial(train_task, trainer=tr, checkpoint=partial(write_autosave, run, root),
                     policy=CheckpointPolicy(),
                     # the through-time plot then shows the selected sample, not the last training batch
                     display=lambda st: display_task(st, run, None, st.sample or 0, norms=True))
        worker = TaskWorker(fn, tag=run)
        worker.state.sample = sample
        worker.state.trace_interval = 0.8 * self.redraw_interval
        worker.sigPartial.connect(self._on_worker_partial)
        worker.sigDone.connect(self._on_worker_done)
        worker.sigProgress.connect(win._on_task_progress)
        self.worker = worker
        win.files.training_started(root)
        win.banner.resolve("training", "display")
        win.session.set_training("running")
        win.threads.start(worker)
        win.train_action.setText("&Stop")
        win.train_action.setIcon(win.style().standardIcon(QStyle.StandardPixmap.SP_MediaStop))
        win.pause_action.setEnabled(True)
        win.statusBar().showMessage("Training…")
        win._update_progress()

    def _apply_training_settings(self) -> None:
        """Settings that may change between runs without new weights (the run is idle)."""
        win = self.win
        s = win.settings_panel.model_settings(win.run.settings)
        tr = win.run.trainer
        if s.optimizer != win.run.settings.optimizer:
            from explorer.engine import make_optimizer
            tr.optimizer = make_optimizer(s.optimizer, s.lr)
        tr.optimizer.lr = s.lr
        tr.clip = s.clip
        if s.batch != tr.batch_size and tr.epoch_step == 0:
            tr.batch_size = s.batch
        rs = win.run.settings
        rs.optimizer, rs.lr, rs.clip, rs.batch, rs.epochs = s.optimizer, s.lr, s.clip, tr.batch_size, s.epochs

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.state.request_interruption()

    def toggle_pause(self) -> None:
        if self.worker is None:
            return
        win = self.win
        if self.worker.state.paused:
            self.worker.state.resume()
            win.pause_action.setText("&Pause")
            win.session.set_training("running")
            win.statusBar().showMessage("Training…")
        else:
            self.worker.state.pause()
            win.pause_action.setText("&Resume")
            win.session.set_training("paused")
            win.statusBar().showMessage("Paused: step through time with Left/Right; Resume to go on.")

    def set_sample(self, sample: int) -> None:
        """The person chose another sample: the task builds its trace from the next emission on."""
        if self.worker is not None:
            self.worker.state.sample = int(sample)

    def stop_and_wait(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Stop and wait for the task's thread (closing, or before replacing the run). The worker
        quits its own thread, so this returns as soon as the step under way has ended."""
        worker = self.worker
        if worker is None:
            return True
        worker.state.request_interruption()
        ok = worker.done.wait(timeout_s)
        if ok:
            self._on_worker_done(worker)      # now, not when the queued signal arrives
        return ok

    # -- what arrives ---------------------------------------------------------------------------------
    def _on_worker_partial(self, value) -> None:
        sender = self.sender()
        if getattr(sender, "tag", None) is not self.win.run:
            return                            # from a run no longer shown
        if isinstance(value, tuple) and value and value[0] == "message":
            self.win.banner.show_message(value[1], "warn", topic="autosave")
            return
        self._pending.append(value)
        if not self.timer.isActive():
            wait = max(0.0, self.redraw_interval - (time.perf_counter() - self._last_redraw))
            self.timer.start(int(wait * 1000))

    def redraw(self) -> None:
        """Apply everything that arrived since the last redraw at once; adapt the rate."""
        if not self._pending:
            return
        win = self.win
        t0, cpu0 = time.perf_counter(), time.thread_time()
        updates, self._pending = self._pending, []
        win.session.apply_update(TrainingUpdate.merge(updates))
        paint = win.diagram.paint_ms() / 1000.0
        cost = time.perf_counter() - t0 + paint
        if self._redraw_cpu_mark and t0 - self._last_redraw < 2.0:
            # the GUI thread's CPU over the whole last cycle: that redraw, the paints it caused and
            # the slots since — the interpreter time training gives up
            cost = max(cost - paint, cpu0 - self._redraw_cpu_mark)
        self._redraw_cpu_mark = cpu0
        # slow to rise, quick to fall: a one-off cost (a first paint, a tab shown) does not hold the
        # interval at its cap for many cycles
        self.redraw_cost = cost if not self.redraw_cost or cost < self.redraw_cost else \
            0.8 * self.redraw_cost + 0.2 * cost
        # keep the GUI's share of the interpreter near 3 %: training keeps ≥ 90 % of its headless speed
        self.redraw_interval = min(2.0, max(1.0 / 30, 30.0 * self.redraw_cost))
        if self.worker is not None:          # no traces the diagram will not show
            self.worker.state.trace_interval = 0.8 * self.redraw_interval
        self._last_redraw = time.perf_counter()
        win.sigRedrawn.emit()

    def _on_worker_done(self, worker) -> None:
        if worker is not self.worker:
            return                            # handled already (stop_and_wait) or an old one
        win = self.win
        self.worker = None
        self.timer.stop()
        self.redraw()
        result = worker.result
        reason = "error" if worker.error or result is None else result.reason
        message = worker.error or (result.message if result is not None else "")
        win.session.set_training("idle")
        win.train_action.setText("&Train")
        win.train_action.setIcon(win.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        win.pause_action.setEnabled(False)
        win.pause_action.setText("&Pause")
        win._on_task_progress((1.0, ""))
        win.files.training_finished()
        if win.closing:
            win.sigTrainingFinished.emit(reason)
            return
        s = win.session
        if result is not None and result.trace is not None:
            if result.display is not None:
                win.display.apply(result.display)
            else:
                s.set_trace(result.trace, result.weights)
        if result is None or result.display is None:
            win.display.request(predictions=True, norms=True)
        if reason in ("diverged", "error"):
            win.banner.show_message(message or FINISHED_TEXT[reason], "error", topic="training")
        else:
            win.banner.resolve("training")
        win._update_progress()
        win.statusBar().showMessage(FINISHED_TEXT[reason], 10000)
        win.sigTrainingFinished.emit(reason)

    # -- asking ---------------------------------------------------------------------------------------
    def confirm_stop(self, why: str) -> bool:
        """Ask to stop training (a modal question); True when training is no longer running."""
        if not self.training:
            return True
        answer = QMessageBox.question(self.win, "Stop training?", f"{why} Stop training first?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        if answer == QMessageBox.StandardButton.Yes:
            self.stop_and_wait()
        return not self.training

    def seconds_left(self) -> float | None:
        p = self.win.session.progress
        if not self.training or p.step <= self._step0:
            return None
        rate = (time.perf_counter() - self._t0) / (p.step - self._step0)
        return rate * max(p.total_steps - p.step, 0)

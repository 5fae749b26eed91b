"""Background work as plain functions over a state object (Orange3's ``TaskState``), without Qt.

A task runs in whatever thread calls it: the window's QThread adapter
(:class:`explorer.gui.worker.TaskWorker`) or a test calling it directly. It never touches a
widget; it reports through :meth:`TaskState.set_partial_result` / :meth:`TaskState.set_progress`
(callbacks the adapter turns into queued Qt signals), checks
:meth:`TaskState.is_interruption_requested`, and returns its result.

- :func:`train_task` is the one training driver (the window, the command line and the cell
  comparison all run it). It drives ``Trainer.steps()`` with policies: a checkpoint
  (:class:`~explorer.app.checkpoint.CheckpointPolicy`), the divergence guard
  (:class:`DivergenceGuard`: what "diverged" means everywhere), a validation loss every
  ``eval_every`` steps (:class:`EvalCadence`), stopping once the validation loss is below
  ``stop_at_loss``; and it reports: about 30 emissions a second of the step records merged
  since the last one (no more often than ``state.update_interval``: each wakes the window, which
  draws them only at its redraws), the sample's trace only as often as the window redraws
  (``state.trace_interval``, a plain float the window sets; ``state.sample``: which sample),
  ``on_step`` for a printer in the task's thread; it pauses and stops when the state asks.
- :func:`display_task` computes what the window draws from a set of weights: the selected
  sample's trace, the gradient norms through time, the predictions and the forecast — on a
  copy of the model, in batches, interruptible, with progress.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from explorer.engine import Interrupted

from .checkpoint import CheckpointPolicy
from .source import Source

EMIT_INTERVAL = 1.0 / 30.0              # partial results per second: about 30
SANE_FACTOR = 10.0                      # a step is sane while its loss ≤ 10 × the baseline loss
BLOWUP_FACTOR = 1.0e4                   # and the run has blown up beyond 10^4 × the baseline
GUARD_BYTES = 64 << 20                  # the sane copies a guard keeps fit in this (at least one is kept)


class TaskState:
    """What a task sees of the thread that runs it.

    The controlling thread calls :meth:`request_interruption`, :meth:`pause`, :meth:`resume`
    and sets the plain attributes ``trace_interval`` (seconds between traces), ``update_interval``
    (seconds between partial results at least; 0: the task's own pace) and ``sample`` (which
    sample's trace to build); the task calls the rest.

    >>> seen = []
    >>> state = TaskState(on_partial=seen.append)
    >>> state.set_partial_result(1); seen
    [1]
    >>> state.request_interruption(); state.is_interruption_requested()
    True
    """

    def __init__(self, on_partial=None, on_progress=None):
        self._interrupt = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._on_partial = on_partial
        self._on_progress = on_progress
        self.trace_interval = 0.0
        self.update_interval = 0.0
        self.sample: int | None = None

    # -- the controlling thread ------------------------------------------------------------------
    def request_interruption(self) -> None:
        self._interrupt.set()
        self._resume.set()              # a paused task wakes up to see it

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    # -- the task ----------------------------------------------------------------------------------
    def is_interruption_requested(self) -> bool:
        return self._interrupt.is_set()

    def check(self) -> None:
        """Raise :class:`Interrupted` if the task was asked to stop."""
        if self._interrupt.is_set():
            raise Interrupted()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused (until resumed or interrupted); True when no longer paused."""
        return self._resume.wait(timeout)

    def set_partial_result(self, value) -> None:
        if self._on_partial is not None:
            self._on_partial(value)

    def set_progress(self, fraction: float, text: str = "") -> None:
        if self._on_progress is not None:
            self._on_progress((float(fraction), text))


# -- training ------------------------------------------------------------------------------------
@dataclass
class Progress:
    """Where training stands (copied into every update; the window shows it)."""

    step: int = 0
    epoch: int = 0                      # completed epochs
    epochs: int = 0                     # planned epochs
    total_steps: int = 0
    loss: float = float("nan")          # the latest step's loss
    val_loss: float = float("nan")      # the latest epoch's validation loss


@dataclass
class TrainingUpdate:
    """The steps done since the last emission, as arrays, plus the latest state for the views."""

    step: np.ndarray
    epoch: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    clipped: np.ndarray
    gate_norms: dict                    # {gate: array}
    history: list                       # per-epoch rows (dicts) finished since the last emission
    progress: Progress
    norms_dh: np.ndarray | None = None  # of the latest step
    norms_dc: np.ndarray | None = None
    norms_layers: tuple | None = None   # (dh (L, T), dc (L, T) or None) of every layer
    trace: object = None                # the selected sample's trace with ``weights`` (or None)
    weights: dict | None = None
    sample: int = 0

    @classmethod
    def from_snapshots(cls, snaps: list, history: list, progress: Progress, gates) -> TrainingUpdate:
        last = snaps[-1] if snaps else None
        return cls(
            step=np.array([s.step for s in snaps], dtype=np.int64),
            epoch=np.array([s.epoch for s in snaps], dtype=np.int64),
            loss=np.array([s.loss for s in snaps], dtype=float),
            grad_norm=np.array([s.grad_norm for s in snaps], dtype=float),
            clipped=np.array([s.clipped for s in snaps], dtype=bool),
            gate_norms={g: np.array([s.gate_norms[g] for s in snaps], dtype=float) for g in gates},
            history=list(history), progress=copy.copy(progress),
            norms_dh=None if last is None else last.norms_dh,
            norms_dc=None if last is None else last.norms_dc,
            norms_layers=None if last is None else last.norms_layers)

    def __len__(self) -> int:
        return len(self.step)

    @classmethod
    def merge(cls, updates: list) -> TrainingUpdate:
        """One update from several in order: every step, the latest progress, norms and trace."""
        if len(updates) == 1:
            return updates[0]
        cat = lambda name: np.concatenate([getattr(u, name) for u in updates])  # noqa: E731
        last = updates[-1]
        with_trace = next((u for u in reversed(updates) if u.trace is not None), None)
        with_norms = next((u for u in reversed(updates) if u.norms_dh is not None), None)
        gates = list(updates[0].gate_norms)
        return cls(step=cat("step"), epoch=cat("epoch"), loss=cat("loss"), grad_norm=cat("grad_norm"),
                   clipped=cat("clipped"),
                   gate_norms={g: np.concatenate([u.gate_norms[g] for u in updates]) for g in gates},
                   history=[h for u in updates for h in u.history], progress=last.progress,
                   norms_dh=None if with_norms is None else with_norms.norms_dh,
                   norms_dc=None if with_norms is None else with_norms.norms_dc,
                   norms_layers=None if with_norms is None else with_norms.norms_layers,
                   trace=None if with_trace is None else with_trace.trace,
                   weights=None if with_trace is None else with_trace.weights,
                   sample=last.sample if with_trace is None else with_trace.sample)


@dataclass
class TrainingResult:
    reason: str                         # "done" | "stopped" | "diverged" | "error"
    message: str = ""
    trace: object = None                # the final weights' trace of the selected sample (not when stopped)
    weights: dict | None = None
    display: object = None              # a Display (predictions …) when training ran to its end
    kept_step: int | None = None        # after a blow-up: the step whose weights were kept
    reached: tuple | None = None        # (step, seconds of training, validation loss) below ``stop_at_loss``
    seconds: float = 0.0                # of training: without validation losses and checkpoints
    checkpoint_seconds: float = 0.0


class EvalCadence:
    """When ``eval_every`` evaluates. A validation loss over a big validation part (200,000
    windows of a million-row file) costs as much as some 2,000 training steps: every 50 steps would
    spend 97 % of the time validating. So a validation loss that falls due is skipped while the
    time spent validating exceeds :attr:`SHARE` of the time spent training so far (the first one
    always runs, and the trainer computes one at every epoch's end); :meth:`summary` says how
    many ran and how many were skipped."""

    SHARE = 0.25

    def __init__(self):
        self.spent = 0.0            # seconds spent validating
        self.done = 0
        self.skipped = 0

    def due(self, train_s: float) -> bool:
        """Whether a validation loss that falls due after ``train_s`` seconds of training runs."""
        if self.done and self.spent > self.SHARE * train_s:
            self.skipped += 1
            return False
        return True

    def record(self, seconds: float) -> None:
        self.spent += seconds
        self.done += 1

    def summary(self, n_val: int) -> str:
        text = (f"plus {self.spent:.1f} s for {self.done} validation loss{'es' if self.done > 1 else ''} of "
                f"--eval-every ({n_val} windows each), not counted as training")
        if self.skipped:
            text += (f"; {self.skipped} more fell due and were skipped to keep validating under "
                     f"{self.SHARE:.0%} of the training time")
        return text


class DivergenceGuard:
    """Detects a blown-up loss and keeps the weights (and optimiser state) from before the blow-up:
    what "diverged" means for every way of training (window, command line, cell comparison).

    The baseline is the loss of predicting zero (mean of the squared target, in the loss's
    units) for MSE or ln(classes) for cross-entropy. A step whose loss is at most
    ``SANE_FACTOR`` × baseline is sane; a non-finite loss or one above ``BLOWUP_FACTOR`` ×
    baseline is a blow-up. A step's loss is computed with the weights before its update, so the
    guard holds those (a copy taken after the previous step) until the loss confirms them, and
    keeps the last ``keep`` sane ones — fewer when they would hold more than :data:`GUARD_BYTES`
    (a word model's weights and Adam's moments are tens of MB a copy), never none: on a blow-up
    the one with the lowest loss goes back (the loss often climbs for a few steps before it
    explodes).
    """

    def __init__(self, trainer, keep: int = 8):
        self.trainer = trainer
        self.baseline = _baseline_loss(trainer)
        self._pending = self._copy()        # the weights the next step's loss is computed with
        self._pending_step = trainer.step
        per_copy = sum(a.nbytes for a in (self._pending[0], *self._pending[1].values()) if isinstance(a, np.ndarray))
        keep = max(1, min(keep, GUARD_BYTES // max(1, per_copy)))
        self.sane: deque = deque(maxlen=keep)   # (loss, step, params, optimiser state)
        self.sane_loss = float("nan")
        self.kept_step: int | None = None     # after :meth:`back`: the step whose weights went back

    def _copy(self):
        tr = self.trainer
        return tr.model.params.copy(), tr.optimizer.state_dict()

    def observe(self, loss: float) -> bool:
        """After a step: True when the run has blown up (then call :meth:`restore`)."""
        if not math.isfinite(self.baseline) or self.baseline <= 0:
            self.baseline = abs(loss) if math.isfinite(loss) and loss > 0 else 1.0
        if math.isfinite(loss) and loss <= SANE_FACTOR * self.baseline:
            self.sane.append((loss, self._pending_step, *self._pending))
        blown = not math.isfinite(loss) or loss > BLOWUP_FACTOR * self.baseline
        if not blown:
            self._pending = self._copy()
            self._pending_step = self.trainer.step
        return blown

    def message(self, snap) -> str:
        """Why ``snap`` (a step :meth:`observe` found blown up, or one the trainer refused) diverged."""
        if snap.refused or not math.isfinite(snap.loss):
            return snap.message or "The loss is not a finite number."
        return (f"Training diverged at step {snap.step}: the loss reached {snap.loss:.3g}, over "
                f"{BLOWUP_FACTOR:,.0f} times the loss of predicting zero ({self.baseline:.3g}).")

    def back(self) -> str:
        """:meth:`restore` and the sentence saying what it kept."""
        step = self.kept_step = self.restore()
        if step is None:
            return " Try a smaller learning rate or gradient clipping."
        which = f"the weights after step {step}" if step else "the weights training started from"
        return (f" Back to {which} (loss {self.sane_loss:.4g}); try a smaller learning rate or "
                "gradient clipping.")

    def restore(self) -> int | None:
        """Put the best recent sane weights back; the step they belong to (None if there were none)."""
        if not self.sane:
            return None
        loss, step, params, opt = min(self.sane, key=lambda s: s[0])
        tr = self.trainer
        tr.model.params[...] = params
        tr.optimizer.load_state_dict(copy.deepcopy(opt))
        tr.optimizer.t = tr.step                # the steps taken stay counted (a saved run's files agree)
        self.sane_loss = loss
        return step


def _baseline_loss(trainer) -> float:
    d = trainer.data
    if d.loss == "cross_entropy":
        k = trainer.model.n_outputs
        return math.log(max(k, 2))
    y = np.asarray(d.y_train, dtype=float)
    return float(np.mean(y * y)) * float(d.loss_scale) if y.size else float("nan")


def train_task(state: TaskState, trainer, *, emit_interval: float = EMIT_INTERVAL, checkpoint=None,
               policy: CheckpointPolicy | None = None, guard: bool | DivergenceGuard = True, display=None,
               stop_at_loss: float | None = None, eval_every: int = 0, cadence: EvalCadence | None = None,
               max_steps: int | None = None, on_step=None, final_trace: bool = True, catch_errors: bool = True,
               clock=time.perf_counter) -> TrainingResult:
    """Train until the planned epochs (or ``max_steps`` more steps) are done, the state asks to stop,
    the validation loss is below ``stop_at_loss``, or the run diverges.

    Policies: ``checkpoint()`` (called in this thread when ``policy`` says so) saves the run; its
    failure is reported as a partial message ``("message", text)``, never stops training.
    ``guard``: a :class:`DivergenceGuard` (True: a new one; one may be passed to carry on across
    calls; False: none) — on a blow-up the weights from before it go back and the reason is
    "diverged". ``eval_every``: a validation loss every that many steps (as ``cadence`` allows).
    ``on_step(snap, val_loss or None)`` is called in this thread after every step taken.
    ``display(state)``, when given, is called once training ran to its end or diverged; its value
    goes into the result; ``final_trace``: the selected sample's trace with the final weights
    too. Partial results: :class:`TrainingUpdate`. ``catch_errors=False`` lets an exception out
    (the command line's own handling); else it ends training with reason "error".
    """
    gates = list(trainer.log.gates)
    policy = policy or CheckpointPolicy()
    sentinel = guard if isinstance(guard, DivergenceGuard) else DivergenceGuard(trainer) if guard else None
    cadence = cadence if cadence is not None else EvalCadence()
    snaps: list = []
    history: list = []
    progress = Progress(step=trainer.step, epoch=trainer.epoch, epochs=trainer.epochs,
                        total_steps=trainer.total_steps)
    if trainer.history:
        progress.val_loss = trainer.history[-1]["val_loss"]
    last_emit = last_trace = -math.inf
    result = TrainingResult("done")
    t0 = clock()
    spent0 = cadence.spent

    def training_seconds() -> float:
        return clock() - t0 - (cadence.spent - spent0) - result.checkpoint_seconds

    def emit(with_trace: bool) -> None:
        nonlocal snaps, history, last_emit, last_trace
        upd = TrainingUpdate.from_snapshots(snaps, history, progress, gates)
        if with_trace:
            upd.trace, upd.weights, upd.sample = _sample_trace(trainer, state)
            last_trace = clock()
        state.set_partial_result(upd)
        snaps, history = [], []
        last_emit = clock()

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            gen = _steps(trainer, state, max_steps)
            while True:
                if state.paused:
                    emit(with_trace=True)           # the person steps through the current weights
                    state.wait_while_paused()
                if state.is_interruption_requested():
                    result.reason = "stopped"
                    break
                snap = next(gen, None)
                if snap is None:
                    break
                if (sentinel is not None and sentinel.observe(snap.loss)) or snap.refused:
                    result.reason = "diverged"
                    result.message = (sentinel.message(snap) if sentinel is not None
                                      else snap.message or "The loss is not a finite number.")
                    if not snap.refused:
                        snaps.append(snap)
                        _progress(progress, snap, trainer)
                    break
                snaps.append(snap)
                _progress(progress, snap, trainer)
                if snap.epoch_end:
                    history.append(dict(trainer.history[-1]))
                val = snap.val_loss
                if (eval_every and snap.step % eval_every == 0 and not snap.epoch_end
                        and cadence.due(training_seconds())):
                    e0 = clock()
                    val = trainer.val_loss()
                    cadence.record(clock() - e0)
                if on_step is not None:
                    on_step(snap, val)
                if val is not None and stop_at_loss is not None and val < stop_at_loss:
                    result.reached = (snap.step, training_seconds(), val)
                    break
                if checkpoint is not None and policy.due(snap.epoch_end):
                    s0 = clock()
                    try:
                        checkpoint()
                    except Exception as exc:  # noqa: BLE001 - a failed checkpoint must not stop training
                        state.set_partial_result(("message", f"Autosave failed: {exc}"))
                    policy.saved()
                    result.checkpoint_seconds += clock() - s0
                now = clock()
                if now - last_emit >= max(emit_interval, state.update_interval) or snap.done:
                    emit(with_trace=final_trace and now - last_trace >= max(emit_interval, state.trace_interval))
        except Interrupted:
            result.reason = "stopped"
        except Exception as exc:
            if not catch_errors:
                raise
            result.reason = "error"
            result.message = f"Training stopped by an error: {type(exc).__name__}: {exc}"
        result.seconds = training_seconds()
        if result.reason == "diverged" and sentinel is not None:
            result.message += sentinel.back()
            result.kept_step = sentinel.kept_step
        if snaps or history:
            emit(with_trace=False)
        if final_trace and result.reason != "stopped" and not state.is_interruption_requested():
            try:
                result.trace, result.weights, _ = _sample_trace(trainer, state)
                if display is not None and result.reason in ("done", "diverged"):
                    result.display = display(state)
            except Interrupted:
                pass
    return result


def _steps(trainer, state, max_steps=None):
    """``trainer.steps()``, interruptible inside a step."""
    return trainer.steps(max_steps=max_steps, interrupt=state.is_interruption_requested)


def _progress(progress: Progress, snap, trainer) -> None:
    progress.step = snap.step
    progress.loss = snap.loss
    progress.epoch = trainer.epoch
    progress.epochs = trainer.epochs
    progress.total_steps = trainer.total_steps
    if snap.epoch_end and snap.val_loss is not None:
        progress.val_loss = snap.val_loss


def _sample_trace(trainer, state: TaskState):
    if state.sample is not None:
        trainer.sample_index = int(state.sample)
    return trainer.sample_trace(), trainer.model.state_dict(), trainer.sample_index


# -- what the window draws -------------------------------------------------------------------------
@dataclass
class Display:
    """What the views draw for one set of weights and one sample."""

    sample: int
    weights: dict
    trace: object = None
    predictions: dict | None = None
    norms_dh: np.ndarray | None = None
    norms_dc: np.ndarray | None = None
    norms_layers: tuple | None = None   # (dh (L, T), dc (L, T) or None) of every layer
    source: Source | None = None        # what the trace is of; None: the sample under the latest weights
    comparison: object = None           # with interventions: their effect (explorer.app.teaching.InterventionEffect)

    def __post_init__(self):
        if self.source is None:
            self.source = Source(sample=int(self.sample))


def clone_model(model, weights: dict | None = None):
    """A new model of ``model``'s kind and sizes holding ``weights`` (default: its own). Reads only
    the model's sizes when ``weights`` is given, so the copy can be made while another thread trains."""
    from explorer.engine import make_model

    twin = make_model(model.kind, n_inputs=model.n_inputs, n_units=model.n_units, n_outputs=model.n_outputs,
                      dtype=model.dtype, num_layers=model.num_layers, bidirectional=model.bidirectional)
    twin.load_state_dict(model.state_dict() if weights is None else weights)
    return twin


def sample_of(dataset, sample: int):
    """The inputs (1, T, m) and target of ``sample`` (validation if there is one, else training)."""
    xs, ys = (dataset.x_val, dataset.y_val) if dataset.n_val else (dataset.x_train, dataset.y_train)
    b = min(max(int(sample), 0), len(xs) - 1)
    return xs[b:b + 1], ys[b:b + 1]


class _Interruptible:
    """A model whose ``predict`` runs in small batches, reports progress and can be interrupted
    (everything else is the model's own)."""

    FLOPS_PER_BATCH = 1.5e9           # about 0.3–0.5 s of one core: interruption stays prompt

    def __init__(self, model, state: TaskState, span=(0.0, 1.0), batch_size: int | None = None,
                 total: int | None = None):
        self._model, self._state, self._span = model, state, span
        self._batch = batch_size
        # progress over ``total`` sequences in all, however many calls the caller splits them into
        # (Run.predictions asks chunk by chunk); None: each call is the whole job
        self._total, self._done = total, 0

    def _report(self, n: int, of: int) -> None:
        a, b = self._span
        if self._total:
            self._done += n
            frac = min(1.0, self._done / self._total)
        else:
            frac = of
        self._state.set_progress(a + (b - a) * frac, "Computing predictions")

    def _batch_size(self, x) -> int:
        if self._batch:
            return self._batch
        m = self._model
        n, k = int(m.n_units), int(m.n_inputs)
        layers = int(m.num_layers) * int(m.num_directions)
        per_sample = 8.0 * x.shape[1] * n * (n + k + 1) * layers
        return int(min(256, max(1, self.FLOPS_PER_BATCH // max(per_sample, 1.0))))

    def __getattr__(self, name):
        return getattr(self._model, name)

    def forward(self, *args, **kwargs):
        self._state.check()
        return self._model.forward(*args, **kwargs)

    def predict(self, x, *args, **kwargs):
        x = np.asarray(x)
        out = None
        size = self._batch_size(x)
        for s in range(0, len(x), size):
            self._state.check()
            y = self._model.predict(x[s:s + size], *args, **kwargs)
            if out is None:
                out = np.empty((len(x),) + y.shape[1:], dtype=y.dtype)
            out[s:s + len(y)] = y
            self._report(len(y), (s + len(y)) / len(x))
        if out is None:
            out = self._model.predict(x, *args, **kwargs)
        return out

    def predict_classes(self, x, *args, **kwargs):
        x = np.asarray(x)
        size = self._batch_size(x)
        parts = []
        for s in range(0, len(x), size):
            self._state.check()
            parts.append(self._model.predict_classes(x[s:s + size], *args, **kwargs))
            self._report(len(parts[-1]), (s + len(parts[-1])) / len(x))
        return np.concatenate(parts) if parts else self._model.predict_classes(x, *args, **kwargs)


def display_task(state: TaskState, run, weights: dict | None, sample: int, *, predictions: bool = True,
                 norms: bool = False, forecast: int = 100, trace: bool = True) -> Display:
    """What is drawn for ``sample`` under ``weights`` (None: the run's own), no interventions: the
    trace and, if asked, the predictions and forecast (``Run.predictions``) and the gradient norms
    through time — :func:`explorer.app.display.display_request` without partial results (a
    loader's task sends its own). Raises :class:`Interrupted` when interrupted."""
    from .display import display_request

    return display_request(state, run, weights, Source(int(sample)), trace=trace, norms=norms,
                           predictions=predictions, forecast=forecast, compare=False, send_trace=False)

"""Several cells trained side by side on the same data, seed, sizes and optimiser (no Qt).

The one comparison behind both the headless ``lstm-explorer compare`` command and the window's
comparison view. It measures the seeds' claim: a plain RNN forgets because its gradient vanishes
through time; the gates of an LSTM or a GRU keep it alive.

>>> comp = Comparison(dataset, settings, ["rnn", "lstm"], max_steps=600)   # builds nothing yet
>>> result = comparison_task(state, comp)       # in a worker thread: state is a TaskState
>>> [(r.cell, r.steps_to_target) for r in result.rows()]

- :class:`Comparison` is steppable: :meth:`Comparison.start` builds one :class:`~explorer.runs.store.Run`
  per cell and seed (the settings with only ``cell`` and ``seed`` replaced) and evaluates each at
  step 0; :meth:`Comparison.advance` trains every unfinished run a chunk of steps in turn
  (round-robin, so two to four cells progress together in ONE thread), evaluating the validation
  loss every ``eval_every`` steps and at the last step; :meth:`Comparison.snapshot` copies
  everything so far into a :class:`ComparisonResult`.
- :func:`comparison_task` is the background task (Orange3's ``TaskState`` protocol, as
  :mod:`explorer.app.tasks`): it runs the comparison to its end, sends a
  :class:`ComparisonResult` as partial result about ten times a second, honours pause and
  interruption, and returns the last one (``reason`` "done" or "stopped").
- :func:`compare_cells` and :func:`format_table` are the command line's (seeds one after another,
  the cells of each seed side by side); :func:`explorer.figures.comparison_files.write_comparison` writes the files.

Definitions: "steps to target" is the first evaluated step whose validation loss is below the
target (evaluations every ``eval_every`` steps); "seconds" is training time only (evaluation
excluded), counted per run; gradient norms through time ‖dL/dh_t‖ (and ‖dL/dc_t‖ for the LSTMs) are
those of layer 0 on the training batch, kept at the first step (the initial weights) and at the
latest step. A dataset without a validation part is evaluated on its training part
(``ComparisonResult.evaluated_on`` says which).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from explorer.engine import CELLS, Interrupted

from .tasks import DivergenceGuard, TaskState, train_task

EMIT_INTERVAL = 0.1          # seconds between partial results (the curves need no more than 10/s)
CHUNK_STEPS = 10             # steps each run takes per turn of the round-robin


@dataclass(frozen=True)
class TableRow:
    """One cell's line of the table: medians over the seeds that reached the target."""

    cell: str
    parameters: int                  # of the recurrent layers (the head excluded), as the table prints
    steps_to_target: int | None      # median over the seeds that reached it; None: none did (yet)
    reached: int                     # seeds that reached the target
    seeds: int
    seconds: float                   # median seconds to the target over those seeds, else mean seconds so far
    final_val_loss: float            # mean over the seeds of the latest evaluation
    layer_parameters: tuple = ()     # per recurrent layer (both directions), as `train` prints them
    head_parameters: int = 0

    @property
    def reached_text(self) -> str:
        return f"{self.reached}/{self.seeds}"

    @property
    def total_parameters(self) -> int:
        """Every parameter: the recurrent layers and the head."""
        return self.parameters + self.head_parameters

    @property
    def parameters_text(self) -> str:
        """``layer 1 + … + head = total`` as numbers, e.g. ``120 + 240 + 7 = 367``."""
        terms = [*(self.layer_parameters or (self.parameters,)), self.head_parameters]
        return f"{' + '.join(str(t) for t in terms)} = {self.total_parameters}"


@dataclass(frozen=True)
class CellResult:
    """One cell with one seed: where it stands. Safe to hand to another thread: its arrays are
    read-only and never change afterwards (copies, or views of append-only series).

    ``eval_steps``/``eval_losses`` the validation curve (step 0 first); ``step_losses`` the training
    loss of every step 1..``step``; ``norms_dh``/``norms_dc`` (T,) the gradient norms through time at
    the first step, ``norms_dh_last``/``norms_dc_last`` at step ``norms_step`` (the latest); the
    ``dc`` ones are None for cells without a cell state. ``trace``/``weights``: the chosen
    sample's trace and the weights that made it, when the snapshot was asked for traces.
    """

    cell: str
    seed: int
    parameters: int
    steps_to_target: int | None      # first evaluated step with validation loss below the target
    seconds_to_target: float | None  # training seconds (evaluation excluded) until then
    seconds: float                   # training seconds so far (the whole budget once done)
    final_val_loss: float            # the latest evaluation
    eval_steps: np.ndarray
    eval_losses: np.ndarray
    norms_dh: np.ndarray             # ||dL/dh_t|| at the first step
    norms_dc: np.ndarray | None      # ||dL/dc_t|| at the first step (LSTMs)
    step: int = 0
    max_steps: int = 0
    done: bool = False
    message: str = ""                # why a run ended early (it diverged: DivergenceGuard's sentence)
    step_losses: np.ndarray = field(default_factory=lambda: np.zeros(0))
    norms_dh_last: np.ndarray | None = None
    norms_dc_last: np.ndarray | None = None
    norms_step: int = 0
    total_parameters: int = 0        # layers and head
    layer_parameters: tuple = ()     # per recurrent layer (both directions)
    trace: object = None
    weights: dict | None = None
    sample: int = 0


@dataclass
class ComparisonResult:
    """A comparison so far (a partial result) or finished: every cell and seed, and the table."""

    cells: list
    seeds: int                       # seeds per cell
    max_steps: int
    target_loss: float
    loss_units: str
    results: list = field(default_factory=list)      # CellResult, cell by cell, seeds in order
    eval_every: int = 50
    evaluated_on: str = "validation"                 # or "training" (a dataset without validation)
    reason: str = "running"                          # "running" | "done" | "stopped"

    def of(self, cell: str) -> list[CellResult]:
        return [r for r in self.results if r.cell == cell]

    @property
    def steps_done(self) -> int:
        return sum(r.step for r in self.results)

    @property
    def fraction(self) -> float:
        """Share of the planned steps trained (0..1)."""
        total = sum(r.max_steps for r in self.results)
        return self.steps_done / total if total else 0.0

    def rows(self) -> list[TableRow]:
        """One :class:`TableRow` per cell, in the order of ``cells``."""
        rows = []
        for cell in self.cells:
            rs = self.of(cell)
            if not rs:
                continue
            hit = [r for r in rs if r.steps_to_target is not None]
            steps = int(np.median([r.steps_to_target for r in hit])) if hit else None
            secs = (float(np.median([r.seconds_to_target for r in hit])) if hit
                    else float(np.mean([r.seconds for r in rs])))
            rows.append(TableRow(cell, rs[0].parameters, steps, len(hit), len(rs), secs,
                                 float(np.mean([r.final_val_loss for r in rs])),
                                 tuple(rs[0].layer_parameters), rs[0].total_parameters - rs[0].parameters))
        return rows

    @classmethod
    def merge(cls, parts: list[ComparisonResult]) -> ComparisonResult:
        """One result from comparisons of the same cells with different seeds."""
        first = parts[0]
        results = [r for cell in first.cells for p in parts for r in p.of(cell)]
        reason = "done" if all(p.reason == "done" for p in parts) else first.reason
        return replace(first, seeds=sum(p.seeds for p in parts), results=results, reason=reason)


class _Series:
    """An append-only float series whose snapshots are read-only views, never copies: what was
    appended never changes, later values go past the end (a new buffer when full), so a view handed
    to another thread stays valid and cheap however long the run."""

    def __init__(self, dtype=float):
        self._buf = np.empty(256, dtype=dtype)
        self._n = 0

    def append(self, value) -> None:
        if self._n == len(self._buf):
            grown = np.empty(2 * len(self._buf), dtype=self._buf.dtype)
            grown[:self._n] = self._buf[:self._n]
            self._buf = grown
        self._buf[self._n] = value
        self._n += 1

    def __len__(self) -> int:
        return self._n

    def view(self) -> np.ndarray:
        v = self._buf[:self._n]
        v.flags.writeable = False
        return v


class _Asked(TaskState):
    """A task state asked to stop by ``interrupt()`` (a callable, or None: never)."""

    def __init__(self, interrupt=None):
        super().__init__()
        self._asked = interrupt

    def is_interruption_requested(self) -> bool:
        return bool(self._asked is not None and self._asked())


class CellRun:
    """One cell with one seed: its :class:`~explorer.runs.store.Run`, validation curve, timing and norms."""

    def __init__(self, dataset, settings, max_steps: int, target_loss: float, eval_every: int,
                 clock=time.perf_counter, run=None, name: str | None = None):
        """``run``: a run of another family already built from ``dataset`` and ``settings`` (default
        a :class:`~explorer.runs.store.Run`); ``name``: what the table calls it (default the cell)."""
        from explorer.runs.store import Run

        self.run = run if run is not None else Run(dataset, settings)
        tr = self.run.trainer
        tr.epochs = max(1, math.ceil(max_steps / tr.steps_per_epoch))
        self.cell, self.seed = name or settings.cell, settings.seed
        self.max_steps, self.target_loss, self.eval_every = int(max_steps), float(target_loss), int(eval_every)
        self.clock = clock
        pc = self.run.model.param_count
        self.parameters, self.total_parameters = int(pc.layer), int(pc.total)
        self.layer_parameters = tuple(int(c) for c in pc.layers)
        self.eval_steps, self.eval_losses, self.step_losses = _Series(np.int64), _Series(), _Series()
        self.steps_to_target: int | None = None
        self.seconds_to_target: float | None = None
        self.seconds = 0.0
        self.first_dh = self.first_dc = self.last_dh = self.last_dc = None
        self.norms_step = 0
        self.message = ""
        self.stopped = False          # ended early: diverged (explorer.app.tasks.DivergenceGuard)
        self.guard: DivergenceGuard | None = None

    @property
    def step(self) -> int:
        return self.run.trainer.step

    @property
    def done(self) -> bool:
        return self.stopped or (self.step >= self.max_steps and not self.evaluation_due)

    @property
    def evaluation_due(self) -> bool:
        """The current step is an evaluation point (step 0, every ``eval_every`` steps, the last
        step) not evaluated yet (e.g. an interruption came during its evaluation)."""
        s = self.step
        if not (s % self.eval_every == 0 or s >= self.max_steps) or self.stopped:
            return False
        return len(self.eval_steps) == 0 or int(self.eval_steps.view()[-1]) != s

    def evaluate_if_due(self, interrupt=None) -> None:
        if self.evaluation_due:
            self.evaluate(interrupt)

    @property
    def evaluated_on(self) -> str:
        return "validation" if self.run.trainer.data.has_val else "training"

    def extend_to(self, max_steps: int) -> None:
        self.max_steps = int(max_steps)
        tr = self.run.trainer
        tr.epochs = max(tr.epochs, math.ceil(self.max_steps / tr.steps_per_epoch))

    def evaluate(self, interrupt=None) -> float:
        """The loss over the validation part (the training part if there is none), recorded at
        the current step; the first one below the target records the steps and seconds to it."""
        tr = self.run.trainer
        d = tr.data
        x, y = (d.x_val, d.y_val) if d.has_val else (d.x_train, d.y_train)
        loss = float(tr.model.evaluate(x, y, d.loss, interrupt=interrupt) * d.loss_scale)
        self.eval_steps.append(tr.step)
        self.eval_losses.append(loss)
        if tr.step > 0 and self.steps_to_target is None and loss < self.target_loss:
            self.steps_to_target, self.seconds_to_target = tr.step, self.seconds
        return loss

    def advance(self, steps: int, interrupt=None) -> int:
        """Train up to ``steps`` steps, never past the next evaluation or the budget; evaluate
        when one is due. Returns the steps taken. ``interrupt`` (a callable) can abandon a step
        (:class:`~explorer.engine.Interrupted` propagates; the run is as before that step)."""
        self.evaluate_if_due(interrupt)
        if self.done:
            return 0
        tr = self.run.trainer
        k = min(int(steps), self.max_steps - tr.step, self.eval_every - tr.step % self.eval_every)
        taken = 0

        def record(snap, _val) -> None:
            nonlocal taken
            taken += 1
            self.step_losses.append(snap.loss)
            if self.first_dh is None:
                self.first_dh, self.first_dc = snap.norms_dh, snap.norms_dc
            self.last_dh, self.last_dc, self.norms_step = snap.norms_dh, snap.norms_dc, snap.step

        if self.guard is None:
            self.guard = DivergenceGuard(tr)
        state = _Asked(interrupt)
        t0 = self.clock()
        try:
            result = train_task(state, tr, emit_interval=math.inf, guard=self.guard, max_steps=k, on_step=record,
                                final_trace=False, catch_errors=False)
        finally:
            self.seconds += self.clock() - t0
        if result.reason == "diverged":
            self.stopped, self.message = True, result.message
        elif result.reason == "stopped":
            raise Interrupted()
        if taken:
            self.evaluate_if_due(interrupt)
        return taken

    def result(self, trace: bool = False, sample: int | None = None) -> CellResult:
        """A copy of where this run stands; with ``trace`` the chosen sample's trace and weights."""
        tr = self.run.trainer
        empty = np.zeros(0)
        tr_obj = weights = None
        if trace:
            if sample is not None:
                tr.sample_index = int(sample)
            tr_obj, weights = tr.sample_trace(), tr.model.state_dict()
        return CellResult(
            cell=self.cell, seed=self.seed, parameters=self.parameters,
            steps_to_target=self.steps_to_target, seconds_to_target=self.seconds_to_target,
            seconds=self.seconds, final_val_loss=float(self.eval_losses.view()[-1]) if len(self.eval_losses) else float("nan"),
            eval_steps=self.eval_steps.view(), eval_losses=self.eval_losses.view(),
            norms_dh=empty if self.first_dh is None else self.first_dh, norms_dc=self.first_dc,
            step=tr.step, max_steps=self.max_steps, done=self.done, message=self.message,
            step_losses=self.step_losses.view(),
            norms_dh_last=self.last_dh, norms_dc_last=self.last_dc, norms_step=self.norms_step,
            total_parameters=self.total_parameters, layer_parameters=self.layer_parameters, trace=tr_obj, weights=weights, sample=tr.sample_index)


class Comparison:
    """Cells trained side by side: the same dataset and settings, only ``cell`` (and the seed) differ.

    Parameters
    ----------
    dataset : explorer.data.Dataset
    settings : explorer.runs.store.ModelSettings
        Units, layers, bidirectional, optimiser, learning rate, clipping, batch: shared by every cell.
    cells : sequence of "rnn" | "gru" | "lstm" | "peephole"
    seeds : sequence of int, optional
        The seeds every cell is trained with (default: ``settings.seed`` alone).
    max_steps, target_loss, eval_every
        The budget per run, the target validation loss, the evaluation interval (steps).

    Nothing is built until :meth:`start` (so the window can make one in the GUI thread and hand
    it to a worker). While a task runs it, only the task touches it; views read the snapshots.
    """

    def __init__(self, dataset, settings, cells, seeds=None, max_steps: int = 3000, target_loss: float = 0.01,
                 eval_every: int = 50):
        cells = list(cells)
        bad = [c for c in cells if c not in CELLS]
        if bad or not cells:
            raise ValueError(f"unknown cell {bad[0] if bad else '(none)'}; choose from {', '.join(CELLS)}.")
        if len(set(cells)) != len(cells):
            raise ValueError(f"a cell is named twice in {', '.join(cells)}; name each once.")
        if int(max_steps) < 1 or int(eval_every) < 1:
            raise ValueError("max_steps and eval_every must be at least 1.")
        self.dataset, self.settings, self.cells = dataset, settings, cells
        self.seeds = [int(s) for s in (seeds if seeds is not None else (settings.seed,))]
        self.max_steps, self.target_loss, self.eval_every = int(max_steps), float(target_loss), int(eval_every)
        self.runs: list[CellRun] = []
        self.stopped = False

    def check_memory(self) -> None:
        """Refuse, with one sentence (``MemoryBudgetError``, a ValueError), a comparison whose runs
        cannot fit in memory together (an estimate only: cheap, allocates nothing)."""
        from explorer.util.ram import check_budget
        from explorer.runs.store import check_run_memory, estimate_run_bytes

        ds, s = self.dataset, self.settings
        for cell in self.cells:
            check_run_memory(ds, replace(s, cell=cell))          # each alone first: the plainer sentence
        x = ds.x_train
        seq_len = x.shape[1] if getattr(x, "ndim", 0) >= 2 else 1
        need = len(self.seeds) * sum(
            estimate_run_bytes(cell, ds.n_inputs, s.units, ds.n_outputs, seq_len, s.batch, s.layers,
                               2 if s.bidirectional else 1, s.optimizer, tokens=bool(ds.token_inputs),
                               n_train=ds.n_train, n_val=ds.n_val) for cell in self.cells)
        check_budget(need, f"Training {', '.join(self.cells)} side by side with {s.units} units on sequences of "
                     f"{seq_len} steps", "compare fewer cells at once, or use fewer units or a smaller batch")

    def start(self, interrupt=None) -> None:
        """Build every run (cell by cell, seeds in order) and evaluate each at step 0 (or wherever
        an evaluation is due: an interrupted start continues)."""
        if not self.runs:
            self.check_memory()
            self.runs = [CellRun(self.dataset, replace(self.settings, cell=cell, seed=seed), self.max_steps,
                                 self.target_loss, self.eval_every)
                         for cell in self.cells for seed in self.seeds]
        for r in self.runs:
            r.evaluate_if_due(interrupt)

    @property
    def done(self) -> bool:
        return bool(self.runs) and all(r.done for r in self.runs)

    def extend(self, steps: int) -> None:
        """Plan ``steps`` more steps per run (then run the task again; not while it runs)."""
        self.max_steps += int(steps)
        for r in self.runs:
            r.extend_to(self.max_steps)

    def advance(self, steps: int = CHUNK_STEPS, interrupt=None) -> int:
        """One turn of the round-robin: every unfinished run trains up to ``steps`` steps.
        Returns the steps taken in all."""
        self.start(interrupt)
        return sum(r.advance(steps, interrupt) for r in self.runs if not r.done)

    def snapshot(self, traces: bool = False, sample: int | None = None) -> ComparisonResult:
        """Everything so far as a :class:`ComparisonResult` of copies (``traces``: with each
        run's trace of ``sample``)."""
        runs = self.runs
        reason = "stopped" if self.stopped else ("done" if self.done else "running")
        return ComparisonResult(
            cells=list(self.cells), seeds=len(self.seeds), max_steps=self.max_steps, target_loss=self.target_loss,
            loss_units=runs[0].run.loss_units if runs else "", eval_every=self.eval_every,
            results=[r.result(traces, sample) for r in runs],
            evaluated_on=runs[0].evaluated_on if runs else "validation", reason=reason)


def comparison_task(state, comparison: Comparison, *, chunk: int = CHUNK_STEPS, emit_interval: float = EMIT_INTERVAL,
                    traces: bool = True, clock=time.perf_counter) -> ComparisonResult:
    """Run ``comparison`` to its end in the calling thread; returns the final :class:`ComparisonResult`.

    ``state`` follows Orange3's ``TaskState`` (as :class:`explorer.app.tasks.TaskState`):
    ``is_interruption_requested()``, ``set_partial_result(obj)``, ``set_progress(fraction)``; and,
    when it has them, ``paused`` with ``wait_while_paused()``, ``trace_interval`` (seconds between
    traces) and ``sample`` (which sample's trace). Partial results are :class:`ComparisonResult`
    snapshots about every ``emit_interval`` seconds (or ``state.update_interval`` if longer), with
    traces when ``traces`` (then no more often than ``state.trace_interval``: each snapshot sent
    carries them), one when paused and the last one. Interrupted (even inside a step), it
    sends and returns the comparison so far with ``reason == "stopped"``; running the task again on
    it continues from there (the numbers are those of a run never stopped).
    """
    interrupt = state.is_interruption_requested
    last_emit = last_trace = -math.inf

    def emit(with_trace: bool) -> ComparisonResult:
        nonlocal last_emit, last_trace
        snap = comparison.snapshot(traces=with_trace, sample=getattr(state, "sample", None))
        state.set_partial_result(snap)
        state.set_progress(snap.fraction)
        last_emit = clock()
        if with_trace:
            last_trace = last_emit
        return snap

    def asked(name: str) -> float:
        return float(getattr(state, name, 0.0) or 0.0)

    def trace_due(now: float) -> bool:
        return traces and now - last_trace >= max(emit_interval, asked("trace_interval"))

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # a diverging cell says so itself
        comparison.stopped = False                     # a stopped comparison continues where it was
        try:
            comparison.start(interrupt)
            emit(traces)
            while not comparison.done:
                if getattr(state, "paused", False):
                    emit(traces)                       # the person steps through the current weights
                    state.wait_while_paused()
                if interrupt():
                    raise Interrupted()
                comparison.advance(chunk, interrupt)
                now = clock()
                # a view draws the latest snapshot only: each one it is sent carries the traces
                every = max(emit_interval, asked("update_interval"), asked("trace_interval") if traces else 0.0)
                if not comparison.done and now - last_emit >= every:      # the last one follows
                    emit(trace_due(now))
        except Interrupted:
            comparison.stopped = True
        return emit(traces and bool(comparison.runs))


# -- the command line -----------------------------------------------------------------------------
class _LogState:
    """The command line's task state: never interrupted (Ctrl+C raises), one line per finished run."""

    def __init__(self, log=None):
        self.log = log
        self.logged: set = set()

    def is_interruption_requested(self) -> bool:
        return False

    def set_progress(self, fraction: float) -> None:
        pass

    def set_partial_result(self, comp: ComparisonResult) -> None:
        if self.log is None:
            return
        for r in comp.results:
            if r.done and (r.cell, r.seed) not in self.logged:
                self.logged.add((r.cell, r.seed))
                where = (f"reached {comp.target_loss:g} at step {r.steps_to_target}" if r.steps_to_target
                         else f"not within {comp.max_steps}")
                self.log(f"{r.cell:9s} seed {r.seed}: {where}; final validation loss {r.final_val_loss:.4g}, "
                         f"{r.seconds:.1f} s" + (f" ({r.message})" if r.message else ""))


def compare_cells(dataset, settings, cells, seeds: int = 3, max_steps: int = 3000, target_loss: float = 0.01,
                  eval_every: int = 50, log=None) -> ComparisonResult:
    """Train every cell with seeds ``settings.seed`` … ``settings.seed + seeds − 1`` for
    ``max_steps`` steps each: the seeds one after another, the cells of each seed side by side
    (:func:`comparison_task`). ``log`` gets one line per finished run."""
    state = _LogState(log)
    parts = []
    for seed in range(settings.seed, settings.seed + int(seeds)):
        comp = Comparison(dataset, settings, cells, seeds=(seed,), max_steps=max_steps, target_loss=target_loss,
                          eval_every=eval_every)
        parts.append(comparison_task(state, comp, traces=False))
    return ComparisonResult.merge(parts)


def format_table(comp: ComparisonResult) -> str:
    """The comparison as the command prints it: per cell the parameters of every recurrent layer,
    the head and the total (as `train` prints them), steps and seconds to the target, the final loss."""
    rows = comp.rows()
    layers = max((len(r.layer_parameters) for r in rows), default=1) or 1
    what = " + ".join([f"layer {k + 1}" for k in range(layers)] if layers > 1 else ["layers"]) + " + head = total"
    params = [r.parameters_text for r in rows]
    width = max([len("parameters"), *(len(p) for p in params)])
    head = (f"{'cell':10s} {'parameters':>{width}s}  {'steps to ' + format(comp.target_loss, 'g'):>16s} "
            f"{'reached':>8s} {'seconds':>8s}  {'final val loss':>14s}")
    lines = [head, "-" * len(head)]
    for r, p in zip(rows, params):
        steps = str(r.steps_to_target) if r.steps_to_target is not None else f"not within {comp.max_steps}"
        lines.append(f"{r.cell:10s} {p:>{width}s}  {steps:>16s} {r.reached_text:>8s} "
                     f"{r.seconds:>8.1f}  {r.final_val_loss:>14.4g}")
    lines.append(f"(parameters: {what}; median over the seeds that reached it; {comp.evaluated_on} "
                 f"{comp.loss_units}, {comp.seeds} seeds, {comp.max_steps} steps each)")
    return "\n".join(lines)

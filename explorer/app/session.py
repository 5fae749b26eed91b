"""The session: the run on screen, the selected position and the trace, with events (no Qt).

The window's views subscribe to ``session.events.<name>`` with ``_on_session_<name>`` slots and
read ``session.position`` / ``session.trace`` when they draw; they keep no copy of the position.
Beside the position the session holds the *source* of what is drawn: which weights (the latest,
a replayed epoch — ``replay_epoch`` —, or training's snapshot while training runs or is paused),
the interventions held, the sample and an edit of its input (:meth:`Session.source`;
:mod:`explorer.app.edit`), each with its own event. The
trace comes with the source it was computed from (``trace_source``); while the two differ the
session is :attr:`~Session.waiting` and views say so instead of labelling old numbers as new.

A session is owned by one thread (the GUI thread in the window, the main thread on the command
line); workers hand their results to that thread, which calls the setters.

>>> s = Session()
>>> s.events.position.connect(lambda pos: print(pos.t))
>>> s.set_position(t=3)        # no trace yet: nothing to clamp against, t stays 3
3
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from psygnal import Signal, SignalGroup

from .source import Edit, Source
from .tasks import Progress, TrainingUpdate, sample_of


@dataclass(frozen=True)
class Position:
    """Where the person looks: a sample of the dataset, a timestep (0-based inside the code,
    shown 1-based), a unit, and for deep or bidirectional models a layer and a direction
    (0 forward, 1 reverse)."""

    sample: int = 0
    t: int = 0
    unit: int = 0
    layer: int = 0
    direction: int = 0


class SessionEvents(SignalGroup):
    """Everything a view may subscribe to. Payloads are the new values."""

    run = Signal(object)            # the Run now shown (or None)
    position = Signal(object)       # Position
    sample = Signal(int)            # the sample of the position changed (after ``position``)
    replay_epoch = Signal(object)   # the replayed epoch (None: the latest weights)
    trace = Signal(object)          # the selected sample's Trace (batch 1), or None
    training = Signal(str)          # "idle" | "running" | "paused"
    steps = Signal(object)          # per-step numbers that arrived since the last emission
    history = Signal(object)        # per-epoch rows (list of dicts)
    norms = Signal(object)          # gradient norms through time (see ``Session.norms_source``)
    comparison = Signal(object)     # the interventions' effect (teaching.InterventionEffect) or None
    predictions = Signal(object)    # predictions / forecast for the plots (dict)
    interventions = Signal(object)  # the active interventions (list)
    edit = Signal(object)           # the edited input of the selected sample (an Edit), or None
    progress = Signal(object)       # Progress: step, epochs, latest loss and validation loss


class StepTable:
    """The per-step log as growing arrays (step, epoch, loss, grad_norm, clipped, norm_<gate>),
    the same columns as ``Trainer.step_table()``; appended to from training updates."""

    def __init__(self, table: dict | None = None):
        self._cols: dict = {}
        self.n = 0
        if table:
            self.extend({k: np.asarray(v) for k, v in table.items()})

    def extend(self, cols: dict) -> None:
        k = len(next(iter(cols.values()))) if cols else 0
        need = self.n + k
        for name, values in cols.items():
            buf = self._cols.get(name)
            if buf is None:
                buf = self._cols[name] = np.zeros(max(256, 2 * need), dtype=np.asarray(values).dtype)
            elif need > len(buf):
                grown = np.zeros(2 * need, dtype=buf.dtype)
                grown[:self.n] = buf[:self.n]
                buf = self._cols[name] = grown
            buf[self.n:need] = values
        self.n = need

    def table(self) -> dict:
        """Views of the filled part (valid until the next ``extend``)."""
        return {name: buf[:self.n] for name, buf in self._cols.items()}

    def __len__(self) -> int:
        return self.n


class Session:
    """The run, position and trace shown by the window (or written by the command line)."""

    def __init__(self):
        self.events = SessionEvents()
        self.run = None
        self.trace = None
        self.trace_weights = None       # the state dict that computed ``trace`` (None: the run's)
        self.trace_source: Source | None = None     # what ``trace`` is of
        self.position = Position()
        self.training = "idle"
        self.interventions: list = []
        self.replay_epoch: int | None = None
        self.edit: Edit | None = None            # the selected sample's input as the person edited it
        self.training_weights: dict | None = None   # the latest snapshot a training task sent
        self.comparison = None
        # what training produced, as the session's thread knows it (workers send updates)
        self.history: list[dict] = []
        self.steps = StepTable()
        self.norms: tuple | None = None          # (dh, dc) through time
        self.norms_source: Source | None = None  # of a sample (a display), or None: the latest training batch
        self.norms_layers: tuple | None = None   # (dh (L, T), dc (L, T)) of every layer, if known
        self.predictions: dict | None = None
        self.progress = Progress()

    def subscribe(self, view, *names: str) -> None:
        """Connect ``view._on_session_<name>`` to ``events.<name>`` for every name given."""
        for name in names:
            getattr(self.events, name).connect(getattr(view, f"_on_session_{name}"))

    # -- limits ---------------------------------------------------------------------------------
    def n_samples(self) -> int:
        """How many samples the sample selector offers (validation if any, else training)."""
        if self.run is None:
            return 0
        ds = self.run.dataset
        return int(ds.n_val or ds.n_train)

    def _limits(self) -> dict:
        lim = {}
        n = self.n_samples()
        if n:
            lim["sample"] = n
        tr = self.trace
        if tr is not None:
            lim["t"] = tr.T
            lim["unit"] = int(tr.h.shape[-1])
            lim["layer"] = int(tr.num_layers)
            lim["direction"] = int(tr.num_directions)
        return lim

    def _clamped(self, pos: Position) -> Position:
        changes = {}
        for name, size in self._limits().items():
            v = getattr(pos, name)
            c = min(max(int(v), 0), max(int(size) - 1, 0))
            if c != v:
                changes[name] = c
        for name in ("sample", "t", "unit", "layer", "direction"):
            if getattr(pos, name) < 0:
                changes.setdefault(name, 0)
        return replace(pos, **changes) if changes else pos

    # -- setters (each emits only when something changed) ----------------------------------------
    def set_position(self, **changes) -> Position:
        """Move to any of sample, t, unit, layer, direction; clamped into the trace and the data."""
        pos = self._clamped(replace(self.position, **{k: int(v) for k, v in changes.items()}))
        if pos != self.position:
            moved = pos.sample != self.position.sample
            self.position = pos
            dropped = moved and self.edit is not None        # an edit belongs to its sample
            if dropped:
                self.edit = None
            self.events.position.emit(pos)
            if moved:
                self.events.sample.emit(pos.sample)
            if dropped:
                self.events.edit.emit(None)
        return pos

    def source(self) -> Source:
        """What the views should draw now: the selected sample under the weights asked for (training's
        snapshot while training runs or is paused, else the replayed epoch or the latest) with the
        interventions held, with its input as edited if it is."""
        if self.training != "idle":
            weights, epoch = "training", None
        elif self.replay_epoch is not None:
            weights, epoch = "epoch", self.replay_epoch
        else:
            weights, epoch = "latest", None
        return Source(self.position.sample, weights, epoch, tuple(self.interventions), self.edit)

    @property
    def waiting(self) -> bool:
        """Whether the trace drawn is not yet that of :meth:`source` (a display is being computed)."""
        return self.run is not None and self.trace_source != self.source()

    def waiting_text(self) -> str:
        """'' when the trace is the one asked for, else what is being computed ('computing sample 4 ·
        epoch 2…')."""
        return f"computing {self.source().text()}\u2026" if self.waiting else ""

    def shown_interventions(self) -> tuple:
        """The interventions held in the trace drawn (not those asked for while it is computed)."""
        src = self.trace_source
        return () if src is None else tuple(src.interventions)

    def set_run(self, run) -> None:
        """Show ``run``; the trace is dropped until the new one arrives. The run's history and step
        log are copied from its trainer (the run must not be training)."""
        self.run = run
        self.trace = None
        self.trace_weights = None
        self.trace_source = None
        self.training_weights = None
        self.comparison = None
        self.predictions = None
        self.norms = None
        self.norms_layers = None
        self.norms_source = None
        self.replay_epoch = None                # (views follow the ``run`` event)
        self.edit = None
        tr = None if run is None else run.trainer
        self.history = [dict(h) for h in tr.history] if tr is not None else []
        steps = getattr(run, "step_table", None) or (tr.step_table if tr is not None else None)
        self.steps = StepTable(steps() if steps is not None else None)     # a loaded run's: thinned, bounded
        self.progress = _progress_of(tr)
        self.events.run.emit(run)
        self.events.trace.emit(None)
        self.set_position(sample=0 if run is None else run.settings.sample_index)

    def set_trace(self, trace, weights=None, source: Source | None = None) -> None:
        """The selected sample's trace (batch 1), the weights that computed it and what it is of
        (``source``; None: what :meth:`source` asks for now)."""
        self.trace = trace
        self.trace_weights = weights
        self.trace_source = None if trace is None else (source if source is not None else self.source())
        pos = self._clamped(self.position)        # before the views draw: a layer the trace lacks is never asked for
        moved, self.position = pos != self.position, pos
        self.events.trace.emit(trace)
        if moved:
            self.events.position.emit(pos)

    def apply_update(self, update: TrainingUpdate) -> None:
        """Take a training task's partial result: steps, finished epochs, norms, progress, trace."""
        if len(update):
            cols = {"step": update.step, "epoch": update.epoch, "loss": update.loss,
                    "grad_norm": update.grad_norm, "clipped": update.clipped}
            cols.update({f"norm_{g}": v for g, v in update.gate_norms.items()})
            self.steps.extend(cols)
            self.events.steps.emit(update)
        if update.history:
            self.history.extend(dict(h) for h in update.history)
            self.events.history.emit(self.history)
        if update.norms_dh is not None:
            self.set_norms(update.norms_dh, update.norms_dc, layers=update.norms_layers)
        self.progress = update.progress
        self.events.progress.emit(self.progress)
        if update.weights is not None:
            self.training_weights = update.weights
        if update.trace is not None and update.sample == self.position.sample:
            self.set_trace(update.trace, update.weights, Source(update.sample, "training"))

    def set_norms(self, dh, dc=None, layers=None, source: Source | None = None) -> None:
        """The gradient norms through time of layer 0 (``dh``, ``dc``: (T,)) and, for a deeper
        model, ``layers`` = (dh (L, T), dc (L, T) or None) of every layer (:meth:`view_norms`);
        ``source``: the sample and weights they are of (None: training's latest batch)."""
        self.norms = (dh, dc)
        self.norms_layers = layers
        self.norms_source = source
        self.events.norms.emit(self.norms)

    def set_predictions(self, predictions: dict | None) -> None:
        self.predictions = predictions
        self.events.predictions.emit(predictions)

    def set_training(self, state: str) -> None:
        if state not in ("idle", "running", "paused"):
            raise ValueError(f"unknown training state {state!r}")
        if state != self.training:
            self.training = state
            if state == "running":
                self.set_edit(None)             # training draws its own traces of the samples themselves
            self.events.training.emit(state)

    def set_interventions(self, interventions) -> None:
        self.interventions = list(interventions)
        if self.comparison is not None and self.comparison.interventions != tuple(self.interventions):
            self.set_comparison(None)
        self.events.interventions.emit(list(self.interventions))

    def set_edit(self, edit: Edit | None) -> None:
        """Draw the selected sample with the input ``edit`` (an :class:`~explorer.app.source.Edit`),
        or with its own input (None). Moving to another sample or training drops the edit."""
        if edit != self.edit:
            self.edit = edit
            self.events.edit.emit(edit)

    def shown_input(self):
        """The input (1, T, …) of the trace drawn: its edit's, else its sample's; None without one."""
        src = self.trace_source
        if self.run is None or src is None:
            return None
        if src.edit is not None:
            return np.asarray(src.edit.x)[None]
        return sample_of(self.run.dataset, src.sample)[0]

    def set_replay_epoch(self, epoch: int | None) -> None:
        """Draw the weights of ``epoch`` (one the run keeps) or, with None, the latest weights."""
        epoch = None if epoch is None else int(epoch)
        if epoch != self.replay_epoch:
            self.replay_epoch = epoch
            self.events.replay_epoch.emit(epoch)

    def set_comparison(self, comparison) -> None:
        """The interventions' effect (a :class:`~explorer.app.teaching.InterventionEffect`), or None."""
        self.comparison = comparison
        self.events.comparison.emit(comparison)

    # -- what views read ---------------------------------------------------------------------------
    def step_losses(self) -> tuple:
        """(step, loss) arrays of every step so far."""
        t = self.steps.table()
        return t.get("step", np.zeros(0, np.int64)), t.get("loss", np.zeros(0))

    def view_trace(self):
        """The trace of the selected layer and direction (batch 1), or None."""
        tr = self.trace
        if tr is None:
            return None
        pos = self.position
        if hasattr(tr, "layer") and callable(tr.layer):
            return tr.layer(pos.layer, pos.direction)
        return tr

    def view_norms(self) -> tuple | None:
        """(dh, dc, layer) — the norms through time of the selected layer (both directions
        together, as the engine sums them) and the layer they are of; layer 0's while the per-layer
        norms are not known. None before any norms arrived."""
        if self.norms is None:
            return None
        k = self.position.layer
        layers = self.norms_layers
        if k and layers is not None and layers[0] is not None and k < len(layers[0]):
            dc = layers[1]
            return layers[0][k], None if dc is None else dc[k], k
        dh, dc = self.norms
        return dh, dc, 0

    def step_record(self) -> dict | None:
        """The selected layer's record at the selected timestep (see ``Trace.step``)."""
        tr = self.view_trace()
        return None if tr is None else tr.step(0, self.position.t)


def _progress_of(trainer) -> Progress:
    if trainer is None:
        return Progress()
    p = Progress(step=trainer.step, epoch=trainer.epoch, epochs=trainer.epochs,
                 total_steps=trainer.total_steps)
    if trainer.log.loss:
        p.loss = float(trainer.log.loss[-1])
    if trainer.history:
        p.val_loss = float(trainer.history[-1]["val_loss"])
    return p

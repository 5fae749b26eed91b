"""Training as a generator of step snapshots. No threads: pausing is not pulling.

>>> trainer = Trainer(model, TrainData(x_train, y_train, x_val, y_val, loss="mse"))
>>> for snap in trainer.steps():
...     print(snap.epoch, snap.step, snap.loss)

Every snapshot holds copies (norms), never views into buffers the next step overwrites. The
trainer builds no traces while it trains: :meth:`Trainer.sample_trace` gives the chosen sample's
trace on request (the window's training task asks as often as it redraws). A non-finite loss
or gradient refuses the step: the weights stay the last finite ones, the snapshot says so
(``refused``, ``message``) and the generator ends. The trainer's whole state (weights, optimiser moments, position in the epoch, shuffling
generator, history) round-trips through :meth:`Trainer.state_dict`, so a run saved, loaded
and continued gives bit-for-bit the same numbers as one never interrupted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .cells import Interrupted
from .model import RecurrentModel, Trace
from .optim import clip_by_global_norm, make_optimizer
from .sampled import get_sampled, sampler_for

@dataclass
class TrainData:
    """Training pairs. ``x`` (N, T, m) floats or (N, T) token ids; targets as
    :meth:`RecurrentModel.loss_and_grads` takes them.

    ``loss_scale`` turns the loss into the target's own units (z-score MSE × σ²); 1 otherwise.
    ``lengths_train``/``lengths_val`` (N,): the real steps of each sequence, for whole-sequence
    models (:class:`~explorer.engine.attention.SequenceModel`); None: every step is real.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    loss: str = "mse"
    loss_scale: float = 1.0
    lengths_train: np.ndarray | None = None
    lengths_val: np.ndarray | None = None

    def lengths(self, part: str, idx=None) -> dict:
        """``{"lengths": …}`` of the ``"train"`` or ``"val"`` part (rows ``idx``), or {} without lengths."""
        lengths = self.lengths_train if part == "train" else self.lengths_val
        if lengths is None:
            return {}
        return {"lengths": lengths if idx is None else lengths[idx]}

    @property
    def has_val(self) -> bool:
        return self.x_val is not None and len(self.x_val) > 0


@dataclass(frozen=True)
class StepSnapshot:
    """What one training step did. Norms are before clipping; losses in the target's own units."""

    epoch: int                       # 1-based epoch this step belongs to
    step: int                        # global step count, 1-based
    epoch_step: int                  # step within the epoch, 1-based
    steps_per_epoch: int
    loss: float
    grad_norm: float
    gate_norms: dict                 # {"i", "f", "g", "o", "head"} (the cell's blocks and the head)
    clipped: bool
    norms_dh: np.ndarray             # (T,) ||dL/dh_t||
    norms_dc: np.ndarray | None      # (T,) ||dL/dc_t||, None for cells without a cell state
    epoch_end: bool = False
    train_loss_epoch: float | None = None   # mean over the epoch's steps, at the epoch's end
    val_loss: float | None = None           # at the epoch's end
    done: bool = False               # the last step of the planned epochs
    refused: bool = False            # non-finite loss or gradient: step not taken
    message: str = ""
    norms_layers: tuple | None = None   # (dh (L, T), dc (L, T) or None): every layer's norms


def _layer_norms(norms) -> tuple | None:
    """Copies of every layer's norms through time, (dh (L, T), dc (L, T) or None), or None."""
    dh = getattr(norms, "dh_layers", None)
    if dh is None:
        return None
    dc = getattr(norms, "dc_layers", None)
    return np.array(dh, copy=True), None if dc is None else np.array(dc, copy=True)


@dataclass
class _StepLog:
    step: list = field(default_factory=list)
    epoch: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)
    clipped: list = field(default_factory=list)
    gates: dict = field(default_factory=dict)


class Trainer:
    """Drives a model over :class:`TrainData` with mini-batches, an optimiser and clipping.

    Parameters
    ----------
    model : RecurrentModel
    data : TrainData
    optimizer : "adam" | "sgd" | "momentum"
    lr : float
    clip : float or None
        Clip the global gradient norm to this value (None or 0: no clipping).
    batch_size, epochs, seed : int
        ``seed`` seeds the shuffling generator.
    sample_index : int
        Which sample :meth:`sample_trace` follows (from the validation set if there is one,
        else the training set), so the diagram does not jump between samples.
    sampled : int or None
        Words a next-word step samples for its softmax (:mod:`.sampled`; 0: the full softmax;
        None: :func:`~explorer.engine.sampled.get_sampled`). :attr:`sampler` is the
        :class:`~explorer.engine.sampled.SampledSoftmax` in use, or None.
    """

    def __init__(self, model: RecurrentModel, data: TrainData, optimizer: str = "adam",
                 lr: float = 0.01, clip: float | None = 1.0, batch_size: int = 32, epochs: int = 10,
                 seed: int = 0, sample_index: int = 0, sampled: int | None = None):
        if len(data.x_train) == 0:
            raise ValueError("no training samples")
        self.model = model
        self.data = data
        self.optimizer = make_optimizer(optimizer, lr)
        self.clip = clip
        self.batch_size = max(1, int(batch_size))
        self.epochs = int(epochs)
        self.seed = seed
        self.sample_index = int(sample_index)
        self.rng = np.random.default_rng(seed)
        self.sampler = sampler_for(getattr(model, "n_outputs", 0), data.loss, data.y_train,
                                   get_sampled() if sampled is None else sampled, seed)
        self.epoch = 0            # completed epochs
        self.step = 0             # completed steps
        self.epoch_step = 0       # completed steps in the current epoch
        self.history: list[dict] = []
        self.on_epoch_end = None  # optional callable(epoch): 0 before the first step, then after each epoch
        self.log = _StepLog(gates={g: [] for g in model.gate_names()})
        self._epoch_rng_state = None
        self._perm = None

    # -- sizes ------------------------------------------------------------------------------
    @property
    def n_train(self) -> int:
        return len(self.data.x_train)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    # -- traces -------------------------------------------------------------------------------
    def sample_pair(self) -> tuple[np.ndarray, np.ndarray]:
        """The chosen sample's inputs (1, T, m) and target (from validation if there is one)."""
        d = self.data
        xs, ys = (d.x_val, d.y_val) if d.has_val else (d.x_train, d.y_train)
        b = min(max(self.sample_index, 0), len(xs) - 1)
        return xs[b:b + 1], ys[b:b + 1]

    def sample_inputs(self) -> np.ndarray:
        """The chosen sample's inputs (1, T, m)."""
        return self.sample_pair()[0]

    def sample_trace(self) -> Trace:
        d = self.data
        part = "val" if d.has_val else "train"
        b = min(max(self.sample_index, 0), len(d.x_val if d.has_val else d.x_train) - 1)
        return self.model.forward(self.sample_inputs(), **d.lengths(part, slice(b, b + 1)))

    def eval_batch_size(self) -> int:
        """Validation sequences evaluated at a time: within what a training batch needs
        (:meth:`RecurrentModel.eval_batch_size`), so validation adds no more than that."""
        x = self.data.x_val if self.data.has_val else self.data.x_train
        T = x.shape[1] if x.ndim >= 2 else 1
        return self.model.eval_batch_size(T, x.ndim == 2, train_batch=min(self.batch_size, self.n_train),
                                          rows=len(x))

    def val_loss(self, interrupt=None) -> float | None:
        """The validation loss in the target's units (None without validation data). With
        ``interrupt``, a stop asked for during the evaluation gives NaN (not computed) at once."""
        if not self.data.has_val:
            return None
        try:
            value = self.model.evaluate(self.data.x_val, self.data.y_val, self.data.loss,
                                        batch_size=self.eval_batch_size(), interrupt=interrupt,
                                        **self.data.lengths("val"))
        except Interrupted:
            return float("nan")
        return value * self.data.loss_scale

    # -- the loop -------------------------------------------------------------------------------
    def _start_epoch(self):
        self._epoch_rng_state = self.rng.bit_generator.state
        self._perm = self.rng.permutation(self.n_train)

    def steps(self, max_steps: int | None = None, interrupt=None):
        """Yield a :class:`StepSnapshot` per step until the planned epochs are done.

        ``max_steps`` ends this call after that many steps; calling again continues.
        ``interrupt`` (a callable, e.g. ``threading.Event().is_set``) is asked every few
        timesteps inside each step's forward and backward pass; when it returns True the step
        is abandoned, :class:`~explorer.engine.Interrupted` propagates out of the generator and
        the weights, the optimiser and the position in the epoch are as before the step (calling
        ``steps()`` again redoes it).
        """
        model, data, opt = self.model, self.data, self.optimizer
        gates = list(self.log.gates)
        taken = 0
        if self.step == 0 and self.on_epoch_end is not None:
            self.on_epoch_end(0)                       # the weights training starts from
        while self.epoch < self.epochs:
            if max_steps is not None and taken >= max_steps:
                return
            if self._perm is None:
                self._start_epoch()
            s = self.epoch_step * self.batch_size
            idx = self._perm[s:s + self.batch_size]
            xb, yb = data.x_train[idx], data.y_train[idx]
            extra = data.lengths("train", idx)
            if self.sampler is not None:
                extra["sampled"] = self.sampler.candidates(yb, self.step)
            raw, norms, _ = model.compute_grads(xb, yb, data.loss, interrupt=interrupt, **extra)
            grad = model.grad
            sq = model.gate_sq_norms()
            finite = math.isfinite(raw) and all(math.isfinite(v) for v in sq.values())
            loss = raw * data.loss_scale
            if not finite:
                yield StepSnapshot(
                    epoch=self.epoch + 1, step=self.step, epoch_step=self.epoch_step,
                    steps_per_epoch=self.steps_per_epoch, loss=loss, grad_norm=float("nan"),
                    gate_norms={g: math.sqrt(v) if math.isfinite(v) else float("nan") for g, v in sq.items()},
                    clipped=False, norms_dh=norms.dh.copy(),
                    norms_dc=None if norms.dc is None else norms.dc.copy(), refused=True,
                    message=(f"Training diverged at step {self.step + 1}: the loss or gradient is not "
                             "a finite number. The last finite weights are kept; try a smaller "
                             "learning rate or gradient clipping."))
                return
            gnorm, clipped = clip_by_global_norm(grad, self.clip)
            opt.step(model.params, grad)
            self.step += 1
            self.epoch_step += 1
            taken += 1
            gate_norms = {g: math.sqrt(sq[g]) for g in gates}
            lg = self.log
            lg.step.append(self.step); lg.epoch.append(self.epoch + 1); lg.loss.append(loss)
            lg.grad_norm.append(gnorm); lg.clipped.append(clipped)
            for g in gates:
                lg.gates[g].append(gate_norms[g])
            epoch_end = self.epoch_step >= self.steps_per_epoch
            train_epoch = val = None
            if epoch_end:
                k = self.epoch_step
                train_epoch = float(np.mean(lg.loss[-k:]))
                val = self.val_loss(interrupt)      # a stop during it leaves this epoch's val_loss empty
                self.history.append({
                    "epoch": self.epoch + 1, "train_loss": train_epoch,
                    "val_loss": float("nan") if val is None else val,
                    "grad_norm": float(np.mean(lg.grad_norm[-k:])),
                    "clipped_fraction": float(np.mean(lg.clipped[-k:])),
                })
                epoch_no = self.epoch + 1
                self.epoch += 1
                self.epoch_step = 0
                self._perm = None
                if self.on_epoch_end is not None:
                    self.on_epoch_end(self.epoch)      # e.g. the run keeps these weights for replay
            else:
                epoch_no = self.epoch + 1
            done = self.epoch >= self.epochs and epoch_end
            yield StepSnapshot(
                epoch=epoch_no, step=self.step, epoch_step=k if epoch_end else self.epoch_step,
                steps_per_epoch=self.steps_per_epoch, loss=loss, grad_norm=gnorm,
                gate_norms=gate_norms, clipped=clipped, norms_dh=norms.dh.copy(),
                norms_dc=None if norms.dc is None else norms.dc.copy(), epoch_end=epoch_end,
                train_loss_epoch=train_epoch, val_loss=val, done=done, norms_layers=_layer_norms(norms))

    def extend(self, epochs: int) -> None:
        """Plan ``epochs`` more epochs (Train after Stop continues from the current weights)."""
        self.epochs = self.epoch + int(epochs)

    # -- state ------------------------------------------------------------------------------
    def step_table(self) -> dict:
        """The per-step log as arrays: step, epoch, loss, grad_norm, clipped and one per gate."""
        lg = self.log
        out = {
            "step": np.asarray(lg.step, dtype=np.int64), "epoch": np.asarray(lg.epoch, dtype=np.int64),
            "loss": np.asarray(lg.loss, dtype=float), "grad_norm": np.asarray(lg.grad_norm, dtype=float),
            "clipped": np.asarray(lg.clipped, dtype=bool),
        }
        for g, vals in lg.gates.items():
            out[f"norm_{g}"] = np.asarray(vals, dtype=float)
        return out

    def state_dict(self) -> dict:
        """Everything needed to continue bit for bit (JSON-safe except the optimiser arrays)."""
        return {
            "epoch": self.epoch, "step": self.step, "epoch_step": self.epoch_step,
            "epochs": self.epochs, "seed": self.seed,
            "rng_state": self._epoch_rng_state if self._perm is not None else self.rng.bit_generator.state,
            "optimizer": self.optimizer.state_dict(),
            "history": [dict(h) for h in self.history],
            "steps": self.step_table(),
        }

    def load_state_dict(self, d: dict) -> None:
        self.epoch, self.step, self.epoch_step = int(d["epoch"]), int(d["step"]), int(d["epoch_step"])
        self.epochs = int(d.get("epochs", self.epochs))
        self.rng.bit_generator.state = d["rng_state"]
        self._perm = None
        if self.epoch_step > 0:
            self._start_epoch()          # the same permutation as before the save
        self.optimizer.load_state_dict(d["optimizer"])
        self.history = [dict(h) for h in d["history"]]
        st = d["steps"]
        lg = self.log
        lg.step = [int(v) for v in st["step"]]
        lg.epoch = [int(v) for v in st["epoch"]]
        lg.loss = [float(v) for v in st["loss"]]
        lg.grad_norm = [float(v) for v in st["grad_norm"]]
        lg.clipped = [bool(v) for v in st["clipped"]]
        for g in lg.gates:
            lg.gates[g] = [float(v) for v in st.get(f"norm_{g}", [])]

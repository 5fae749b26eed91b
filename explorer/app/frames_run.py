"""A ConvLSTM run on frames: a :class:`~explorer.data.frames.FrameDataset`, the model, its trainer,
and a run folder that continues bit for bit (no Qt).

The folder is saved as a whole new version and switched in one rename
(:mod:`explorer.runs.versioned`, the bookkeeping every trainer run folder shares). It holds::

    config.json     format, the data's config (rebuilt on --resume), the settings, sizes, counts
    model.npz       the state dict (explorer.engine.convlstm's names)
    optimizer.npz   the optimiser's moments
    state.json      epoch, step, position in the epoch, the shuffling generator, the history,
                    and the SHA-256 of every other file (damage is refused on loading)
    steps.npz       the per-step log (loss, gradient norm, clipped, per-gate norms)
    history.csv     one row per epoch: train and validation loss, the copy-the-last-frame
                    baseline and the prediction's MSE (what a person reads)

A run on whole-sequence classes (a :class:`~explorer.data.frames.FrameClassDataset`) trains a
:class:`~explorer.engine.convlstm_classes.ConvLSTMClassifier`; its history.csv holds
``epoch,train_loss,val_loss,train_accuracy,val_accuracy`` and the folder also ``confusion.csv``
(true \\ predicted counts) and ``predictions.csv`` (sample, true, predicted, p(class)…) of the
validation part (training without one).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from explorer.data import SequenceFileError, dataset_from_config
from explorer.data.frames import FrameDataset, prediction_mse
from explorer.engine import make_model
from explorer.engine.convlstm import param_count, step_bytes
from explorer.engine.convlstm_classes import POOL
from explorer.engine.losses import softmax
from explorer.engine.trainer import TrainData, Trainer
from explorer.util.ram import MemoryBudgetError, check_budget
from explorer.runs.folder import RunFileError, safe_name
from explorer.runs.store import SavedRun, SettingsRecord
from explorer.runs.versioned import TRAINER_FILES, is_run_of, read_run_files, restore_trainer, trainer_files

FORMAT = "lstm-explorer-frames 1"
FILES = TRAINER_FILES + ("history.csv",)
HISTORY_HEADER = ("epoch", "train_loss", "val_loss", "copy_baseline_mse", "prediction_mse")
CLASS_HISTORY_HEADER = ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy")


@dataclass
class FrameSettings(SettingsRecord):
    """Model and training settings of a ConvLSTM run."""

    channels: int = 8
    kernel: int = 3
    layers: int = 1
    peephole: bool = False
    optimizer: str = "adam"
    lr: float = 0.01
    clip: float | None = 1.0
    epochs: int = 10
    batch: int = 16
    seed: int = 0
    forget_bias: float = 1.0



def is_frames_run(folder) -> bool:
    """True when ``folder`` holds a ConvLSTM run (its config.json says this format)."""
    return is_run_of(folder, FORMAT)


class FramesRun(SavedRun):
    """A next-frame dataset, a ConvLSTM, its trainer; :meth:`save` and :meth:`load` a run folder."""

    FOLDER_FILES = FILES

    def __init__(self, dataset: FrameDataset, settings: FrameSettings | None = None, model=None):
        self.dataset = dataset
        self.settings = s = settings or FrameSettings()
        self.classes = getattr(dataset, "task", None) == "classes"
        if model is None:
            self.check_memory()
            model = make_model("convlstm", n_inputs=dataset.n_inputs, n_units=s.channels,
                               n_outputs=dataset.n_outputs, kernel=s.kernel, num_layers=s.layers,
                               peephole=s.peephole, frame=dataset.frame if s.peephole else None, seed=s.seed,
                               forget_bias=s.forget_bias, pool=POOL if self.classes else None)
        self.model = model
        self.trainer = Trainer(model, self.train_data(), optimizer=s.optimizer, lr=s.lr, clip=s.clip,
                               batch_size=s.batch, epochs=s.epochs, seed=s.seed)
        self.scores: dict = {}                       # epoch → (copy baseline MSE, prediction MSE)
        self._data_hash = self.data_sha256()
        self.trainer.on_epoch_end = self._score

    def train_data(self) -> TrainData:
        ds = self.dataset
        return TrainData(ds.x_train, ds.y_train, ds.x_val, ds.y_val, loss=ds.loss)

    @property
    def loss_units(self) -> str:
        if self.classes:
            return "cross-entropy (nats)"
        return "binary cross-entropy per pixel" if self.dataset.loss == "bce" else "MSE per pixel"

    # -- classes ----------------------------------------------------------------------------
    def check_drawable(self, name: str) -> None:
        """Refuse (:class:`RunFileError`, one sentence) a run on classes where next frames are drawn."""
        if self.classes:
            raise RunFileError(f"{safe_name(name)} holds a ConvLSTM run on whole-sequence classes; the ConvLSTM "
                               "window and animate draw next-frame runs (its confusion.png and accuracy.png show "
                               "the classes).")

    def part_arrays(self, part: str):
        """``(x, y)`` of the ``"train"`` or ``"val"`` part."""
        ds = self.dataset
        return (ds.x_train, ds.y_train) if part == "train" else (ds.x_val, ds.y_val)

    def accuracy(self, part: str = "val") -> float:
        """The share of the part's sequences whose most likely class is the true one (NaN if empty)."""
        x, y = self.part_arrays(part)
        return float(np.mean(self.model.predict_classes(x) == y)) if len(y) else math.nan

    def confusion(self, part: str = "val", logits: np.ndarray | None = None) -> np.ndarray:
        """counts[true, predicted] over the part (K, K)."""
        x, y = self.part_arrays(part)
        k = len(self.dataset.class_names)
        pred = (self.model.predict(x) if logits is None else logits).argmax(axis=1) if len(y) else y
        return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)

    def check_memory(self) -> None:
        """Refuse (one sentence) a run whose parameters, moments and workspace cannot fit."""
        self.check_settings_memory(self.dataset, self.settings)

    @staticmethod
    def check_settings_memory(ds: FrameDataset, s: FrameSettings) -> None:
        """:meth:`check_memory` of a run of ``s`` on ``ds`` before it is made."""
        H, W = ds.frame
        F, k = s.channels, s.kernel
        params = param_count(ds.n_inputs, F, k, s.layers, s.peephole, ds.frame, ds.n_outputs)
        T, B = ds.x_train.shape[1], min(s.batch, ds.n_train)
        work = max(step_bytes(ds.n_inputs, F, ds.n_outputs, k, s.layers, b, T, ds.frame) for b in (B, min(64, len(ds.x_val) or 1)))
        need = 8 * params * 5 + work               # parameters, gradient, two moments, a clipping copy
        check_budget(need, f"Training a ConvLSTM of {F} channels ({s.layers} layer(s), kernel {k}) on batches of "
                           f"{B} sequences of {T} frames of {H}×{W}",
                     "use fewer channels, a smaller batch or smaller frames")

    def _score(self, epoch: int) -> None:
        if epoch > 0 and self.classes:
            h = self.trainer.history[-1]
            h["train_accuracy"], h["val_accuracy"] = self.accuracy("train"), self.accuracy("val")
        elif epoch > 0:
            self.scores[epoch] = (self.dataset.copy_baseline(), prediction_mse(self.model, self.dataset))

    # -- saving ---------------------------------------------------------------------------
    def data_sha256(self) -> str:
        """SHA-256 of the training and validation frames as loaded (any file form, examples too)."""
        h = hashlib.sha256()
        ds = self.dataset
        for a in (ds.x_train, ds.y_train, ds.x_val, ds.y_val):
            h.update(str(a.shape).encode("ascii"))
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        return h.hexdigest()

    def config(self) -> dict:
        ds, tr = self.dataset, self.trainer
        return {"format": FORMAT, "cell": "convlstm", "data": ds.to_config(), "data_sha256": self._data_hash,
                "model": {**asdict(self.settings), "epochs": tr.epochs},
                "trained": {"epochs": tr.epoch, "steps": tr.step},
                "n_inputs": ds.n_inputs, "n_outputs": ds.n_outputs, "frame": list(ds.frame), "loss": ds.loss,
                "params": asdict(self.model.param_count)}

    def files(self) -> dict:
        header = CLASS_HISTORY_HEADER if self.classes else HISTORY_HEADER
        rows = []
        for h in self.trainer.history:
            base, pred = self.scores.get(h["epoch"], (math.nan, math.nan))
            more = {"copy_baseline_mse": base, "prediction_mse": pred}
            rows.append([h.get(c, more.get(c, math.nan)) for c in header])
        out = trainer_files(self.trainer, self.config(),
                            state_extra={"scores": {str(k): list(v) for k, v in self.scores.items()}},
                            hashed_extra={"history.csv": _csv(header, rows)})
        if self.classes:
            out.update(self._class_files())
        return out

    def _class_files(self) -> dict:
        """confusion.csv and predictions.csv of the validation part (training without one)."""
        part = "val" if self.dataset.n_val else "train"
        names = self.dataset.class_names
        logits = self.model.predict(self.part_arrays(part)[0])
        counts = self.confusion(part, logits)
        y = self.part_arrays(part)[1]
        prob = softmax(logits) if len(logits) else logits
        return {"confusion.csv": _csv(["true \\ predicted", *names], [[n, *counts[i]] for i, n in enumerate(names)]),
                "predictions.csv": _csv(["sample", "true", "predicted", *(f"p({n})" for n in names)],
                                        [[b, names[y[b]], names[int(prob[b].argmax())], *prob[b]]
                                         for b in range(len(prob))])}

    # -- loading --------------------------------------------------------------------------
    @classmethod
    def load(cls, folder, data_path=None, allow_changed_data: bool = False) -> FramesRun:
        """Read a run folder saved by :meth:`save` and rebuild its data (from ``data_path`` when
        the frames file moved); frames that differ from those the run was trained on are refused
        unless ``allow_changed_data``. Raises :class:`RunFileError` or ``SequenceFileError`` (one
        sentence)."""
        folder = Path(folder)
        name = safe_name(folder)
        raw, cfg, state = read_run_files(folder, FORMAT, "ConvLSTM", hashed_extra=("history.csv",))
        try:
            data_cfg = dict(cfg["data"])
            if data_path is not None:
                if data_cfg.get("type") != "frames":
                    raise RunFileError(f"{name} was trained on the example {data_cfg.get('example')!r}, not a file; "
                                       "leave FILE out.")
                data_cfg["source"] = str(Path(data_path).resolve())
            ds = dataset_from_config(data_cfg)
            settings = FrameSettings.from_dict(cfg["model"])
            run = cls(ds, settings)
            if run._data_hash != cfg["data_sha256"] and not allow_changed_data:
                raise RunFileError(f"The frames of {safe_name(data_cfg.get('source', data_cfg.get('example', '')))} "
                                   f"changed since the run in {name} was saved (their SHA-256 differs); continue "
                                   "on them anyway with --allow-changed-data, or train a new run.")
            restore_trainer(run.trainer, raw, state, folder, "ConvLSTM")
            run.scores = {int(k): tuple(v) for k, v in state.get("scores", {}).items()}
        except (SequenceFileError, RunFileError, MemoryBudgetError):
            raise
        except (KeyError, TypeError, ValueError, AttributeError, OSError) as exc:
            what = exc.args[0] if isinstance(exc, KeyError) and exc.args else type(exc).__name__
            raise RunFileError(f"{name} is not a readable ConvLSTM run folder ({safe_name(str(what))[:60]} is "
                               "missing or wrong); train a new run.") from None
        return run


def _csv(header, rows) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([f"{v:.10g}" if isinstance(v, float) else v for v in row] for row in rows)
    return buf.getvalue().encode("utf-8")


@dataclass(frozen=True)
class EpochReport:
    """What the training task sends after each epoch: a copy of the weights and the numbers."""

    epoch: int
    epochs: int
    params: np.ndarray
    train_loss: float
    val_loss: float
    copy_mse: float
    prediction_mse: float
    saved: str = ""                     # "" or why the checkpoint failed (one sentence)


def train_frames_task(state, run: FramesRun, epochs: int, folder=None):
    """Train ``run`` for ``epochs`` more epochs in a worker (``state`` a
    :class:`~explorer.app.tasks.TaskState`) with the one training driver
    (:func:`~explorer.app.tasks.train_task`: its divergence guard, pausing, stopping inside a
    step). After each epoch the run is saved into ``folder`` (when given; a checkpoint) and an
    :class:`EpochReport` goes out as a partial result; the driver's own step updates go out too
    (a :class:`~explorer.app.tasks.TrainingUpdate` each). Stopped or diverged (the weights from
    before the blow-up back), the run is saved once more. Returns the driver's
    :class:`~explorer.app.tasks.TrainingResult`. The run and its model belong to this task until
    it returns (the window draws a clone)."""
    from .checkpoint import CheckpointPolicy
    from .tasks import train_task

    tr = run.trainer
    tr.extend(epochs)

    def save() -> str:
        if folder is None:
            return ""
        try:
            run.save(folder)
        except RunFileError as exc:
            return str(exc)
        return ""

    def epoch_end() -> None:
        saved = save()
        last = tr.history[-1]
        base, pred = run.scores.get(tr.epoch, (math.nan, math.nan))
        state.set_partial_result(EpochReport(tr.epoch, tr.epochs, run.model.params.copy(), last["train_loss"],
                                             last["val_loss"],
                                             base, pred, saved))

    result = train_task(state, tr, emit_interval=math.inf, checkpoint=epoch_end,
                        policy=CheckpointPolicy(interval=math.inf, epoch_min=0.0), final_trace=False,
                        catch_errors=False)
    if result.reason in ("stopped", "diverged"):
        save()
    return result


__all__ = ["FramesRun", "FrameSettings", "EpochReport", "train_frames_task", "FORMAT", "FILES", "is_frames_run"]

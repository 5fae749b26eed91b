"""Training a whole-sequence model on labelled sequences, and what such a run exports. No Qt.

:class:`LabelledRun` pairs a :class:`~explorer.data.labelled.LabelledDataset` with a
:class:`~explorer.engine.attention.SequenceModel` (``pool="attention"`` or ``"last"``) and the
engine's :class:`~explorer.engine.trainer.Trainer`; for classes every epoch's history also holds
``train_accuracy`` and ``val_accuracy``. :meth:`LabelledRun.write` writes ``history.csv``,
``attention.csv`` (sample, t, alpha), ``confusion.csv``, ``predictions.csv``, ``model.npz`` (the
state dict) and ``summary.json``; the figures package draws the pictures. :meth:`LabelledRun.save`
writes all of it with the trainer's state (:mod:`explorer.runs.versioned`) as a new version of a
run folder, and :meth:`LabelledRun.load` continues such a run bit for bit.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from explorer.data.errors import check_budget
from explorer.engine import POOLS, TrainData, Trainer, make_model, softmax
from explorer.runs.store import atomic_write_bytes
from explorer.runs.versioned import (TRAINER_FILES, is_run_of, read_run_files, restore_trainer, save_run_version,
                                     trainer_files)

MIN_EPOCHS, MIN_STEPS, MAX_AUTO_EPOCHS = 20, 300, 500
"""Without --epochs: at least 20 epochs and 300 steps (a UCR training part of 28 sequences is one
step an epoch), at most 500 epochs."""
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy", "grad_norm",
                   "clipped_fraction")
ATTENTION_ROWS = 200_000
"""attention.csv holds at most this many rows (whole samples of the validation part, in order)."""
FORMAT = "lstm-explorer-labelled 1"
EXPORT_FILES = ("accuracy.csv", "accuracy.png", "accuracy.svg", "attention.csv", "attention_stage.csv",
                "attention_stage.png", "attention_stage.svg", "attention_strip.csv",
                "attention_strip.png", "attention_strip.svg", "confusion.csv", "confusion.png", "confusion.svg",
                "history.csv", "predictions.csv", "summary.json")
"""What a labelled run folder holds besides :data:`~explorer.runs.versioned.TRAINER_FILES` (the
pictures only when they were asked for)."""
RUN_FILES = tuple(sorted(set(TRAINER_FILES + EXPORT_FILES)))


@dataclass
class LabelledSettings:
    """The model and training of a labelled run (command-line flags of the same names)."""

    cell: str = "lstm"
    units: int = 32
    layers: int = 1
    bidirectional: bool = False
    pool: str = "attention"
    epochs: int | None = None     # None: at least MIN_EPOCHS and MIN_STEPS steps
    batch: int = 32
    lr: float = 0.01
    optimizer: str = "adam"
    clip: float | None = 1.0
    seed: int = 0


EXAMPLE_SETTINGS = {"find-the-marker": {"cell": "gru", "units": 16, "epochs": 10},
                    "sentiment": {"cell": "gru", "units": 16, "epochs": 10, "bidirectional": True}}
"""The settings a labelled example starts from (the command line's flags override them)."""


def labelled_settings(example: str | None = None, **overrides) -> LabelledSettings:
    """:class:`LabelledSettings` of ``example`` (or the defaults) with the given, non-None overrides."""
    base = {**asdict(LabelledSettings()), **EXAMPLE_SETTINGS.get(example or "", {})}
    base.update({k: v for k, v in overrides.items() if v is not None})
    return LabelledSettings(**base)


def data_source(path=None, example: str | None = None, seq_len: int | None = None, **options) -> dict:
    """What :func:`load_labelled_data` reads, as a JSON-safe dict a run folder keeps (None options left out)."""
    if example is not None:
        marker = example == "find-the-marker"
        return {"example": example, "seq_len": seq_len if marker else None,
                "task": options.get("task") if marker else None}
    return {"path": str(Path(path).resolve()), **{k: v for k, v in options.items() if v is not None}}


def load_from_source(source: dict, path=None):
    """The labelled sequences a :func:`data_source` names (``path``: the file's new place)."""
    if "example" in source:
        return load_labelled_data(example=source["example"], seq_len=source.get("seq_len"), task=source.get("task"))
    options = {k: v for k, v in source.items() if k != "path"}
    return load_labelled_data(path if path is not None else source["path"], **options)


def load_labelled_data(path=None, example: str | None = None, seq_len: int | None = None, **options):
    """The labelled sequences of a built-in example or of the file at ``path``
    (:func:`~explorer.data.labelled.load_labelled`'s ``options``, None ones left at their defaults);
    ``seq_len`` makes ``find-the-marker``'s sequences ``seq_len // 2`` to ``seq_len`` steps long and
    ``task="regression"`` its target the marked value."""
    from explorer.data.examples import load_example
    from explorer.data.labelled import load_labelled

    if example == "find-the-marker":
        over = {"min_len": max(1, seq_len // 2), "max_len": seq_len} if seq_len is not None else {}
        return load_example(example, task=options.get("task") or "classes", **over)
    if example is not None:
        return load_example(example)
    return load_labelled(path, **{k: v for k, v in options.items() if v is not None})


class LabelledRun:
    """A model, its trainer and a labelled dataset (see the module's text)."""

    def __init__(self, dataset, settings: LabelledSettings | None = None, source: dict | None = None):
        s = settings or LabelledSettings()
        self.source = source
        self.message = ""                 # why training diverged, when it did
        if s.pool not in POOLS:
            raise ValueError(f"--pool {s.pool} is not one of {', '.join(POOLS)}.")
        ds = dataset
        if s.epochs is None:
            per_epoch = -(-ds.n_train // max(1, s.batch))
            s = replace(s, epochs=min(MAX_AUTO_EPOCHS, max(MIN_EPOCHS, -(-MIN_STEPS // per_epoch))))
        self.dataset, self.settings = ds, s
        self.model = make_model(s.cell, ds.n_inputs, s.units, ds.n_outputs, num_layers=s.layers,
                                bidirectional=s.bidirectional, seed=s.seed, pool=s.pool)
        T = ds.x_train.shape[1]
        need = self.model.estimate_bytes(min(s.batch, ds.n_train), T, trace=True, tokens=ds.token_inputs)
        need += 4 * self.model.params.nbytes + 8 * T * (ds.n_train + ds.n_val) * 3
        check_budget(need, f"training {s.units} units over sequences of {T} steps",
                     "use fewer units, a smaller batch or shorter sequences")
        self.classes = ds.task == "classes"
        data = TrainData(ds.x_train, ds.y_train, ds.x_val, ds.y_val, loss=ds.loss,
                         loss_scale=1.0 if self.classes else ds.target_std ** 2,
                         lengths_train=ds.lengths_train, lengths_val=ds.lengths_val)
        self.trainer = Trainer(self.model, data, optimizer=s.optimizer, lr=s.lr, clip=s.clip, batch_size=s.batch,
                               epochs=s.epochs, seed=s.seed)
        self.trainer.on_epoch_end = self._epoch_end

    @property
    def loss_units(self) -> str:
        return "cross-entropy" if self.classes else "MSE in the label's units"

    def data_sha256(self) -> str:
        """SHA-256 of the sequences, lengths and labels as loaded."""
        h = hashlib.sha256()
        ds = self.dataset
        for a in (ds.x_train, ds.y_train, ds.lengths_train, ds.x_val, ds.y_val, ds.lengths_val):
            h.update(str(a.shape).encode("ascii"))
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        return h.hexdigest()

    def config(self) -> dict:
        ds, m = self.dataset, self.model
        return {"format": FORMAT, "data": self.source, "data_sha256": self.data_sha256(),
                "settings": {**asdict(self.settings), "epochs": self.trainer.epochs}, "task": ds.task,
                "classes": list(ds.class_names), "n_inputs": ds.n_inputs, "n_outputs": m.n_outputs,
                "pool": m.pool, "params": m.param_count.total}

    def save(self, folder, extra=None) -> Path:
        """Write the run (trainer files and :meth:`write`'s exports; ``extra(version_dir)`` more, e.g.
        pictures) as a new version of ``folder``; :class:`~explorer.runs.folder.RunFileError` on failure."""
        if self.source is None:
            raise ValueError("a labelled run saved as a run folder needs the source of its data")
        files = trainer_files(self.trainer, self.config())

        def write(vdir: Path) -> None:
            self.write(vdir, model_file=False)    # model.npz: the trainer files' own
            if extra is not None:
                extra(vdir)

        return save_run_version(folder, files, write, keep=RUN_FILES)

    @classmethod
    def load(cls, folder, data_path=None, allow_changed_data: bool = False) -> LabelledRun:
        """Continue the run saved in ``folder`` by :meth:`save`: its data rebuilt (from ``data_path``
        when the file moved; sequences that differ refused unless ``allow_changed_data``), its
        settings, weights, optimiser and position. ``RunFileError`` or ``SequenceFileError``."""
        from explorer.runs.folder import RunFileError, safe_name

        raw, cfg, state = read_run_files(folder, FORMAT, "labelled-sequence")
        name = safe_name(Path(folder))
        settings = _checked_settings(cfg, Path(folder))
        source = cfg.get("data")
        if not isinstance(source, dict) or not (isinstance(source.get("path"), str) or source.get("example") in
                                                EXAMPLE_SETTINGS):
            raise RunFileError(f"{name}/config.json does not say where the sequences came from; the run folder is "
                               "damaged (restore it from a copy or train again).")
        if data_path is not None and "example" in source:
            raise RunFileError(f"{name} was trained on the example {safe_name(str(source['example']))}, not a file; "
                               "leave FILE out.")
        from explorer.data import SequenceFileError
        from explorer.util.ram import MemoryBudgetError

        try:
            data = load_from_source(source, data_path)
        except (SequenceFileError, MemoryBudgetError, OSError):
            raise
        except (TypeError, ValueError, AttributeError):
            raise RunFileError(f"{name}/config.json says how to read the sequences in a way this program does not "
                               "know; the run folder is damaged (restore it from a copy or train again).") from None
        run = cls(data, settings, source if data_path is None else {**source, "path": str(Path(data_path).resolve())})
        if run.data_sha256() != cfg.get("data_sha256") and not allow_changed_data:
            raise RunFileError(f"The sequences of {safe_name(source.get('path', source.get('example', '')))} changed "
                               f"since the run in {name} was saved (their SHA-256 differs); continue on them anyway "
                               "with --allow-changed-data, or train a new run.")
        restore_trainer(run.trainer, raw, state, folder, "labelled-sequence")
        return run

    def _epoch_end(self, epoch: int) -> None:
        if epoch and self.classes:
            h = self.trainer.history[-1]
            h["train_accuracy"] = self.accuracy("train")
            h["val_accuracy"] = self.accuracy("val")

    # -- what the model says ---------------------------------------------------------------------
    def part_arrays(self, part: str):
        """``(x, y, lengths)`` of the ``"train"`` or ``"val"`` part."""
        ds = self.dataset
        if part == "train":
            return ds.x_train, ds.y_train, ds.lengths_train
        return ds.x_val, ds.y_val, ds.lengths_val

    def outputs(self, part: str = "val", interrupt=None) -> np.ndarray:
        """The head's outputs y (N, k) of every sequence of the part."""
        x, _, lengths = self.part_arrays(part)
        if not len(x):
            return np.zeros((0, self.model.n_outputs))
        return self.model.predict(x, lengths, interrupt=interrupt)

    def probabilities(self, part: str = "val", outputs: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (N, k) (classes only), from ``outputs`` when already computed."""
        return softmax(self.outputs(part) if outputs is None else outputs)

    def accuracy(self, part: str = "val") -> float:
        """The share of the part's sequences whose most likely class is the true one (NaN if empty)."""
        _, y, _ = self.part_arrays(part)
        if not len(y):
            return float("nan")
        return float(np.mean(self.outputs(part).argmax(axis=1) == y))

    def confusion(self, part: str = "val", outputs: np.ndarray | None = None) -> np.ndarray:
        """counts[true, predicted] over the part (k, k), from ``outputs`` when already computed."""
        _, y, _ = self.part_arrays(part)
        k = len(self.dataset.class_names)
        y_out = self.outputs(part) if outputs is None else outputs
        pred = y_out.argmax(axis=1) if len(y) else np.zeros(0, dtype=np.int64)
        return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)

    def attention(self, part: str = "val", batch: int = 256) -> np.ndarray:
        """α (N, T) of every sequence of the part (0 past each end), in batches (attention pool only)."""
        x, _, lengths = self.part_arrays(part)
        out = np.zeros((len(x), x.shape[1]))
        for s in range(0, len(x), batch):
            out[s:s + batch] = self.model.forward(x[s:s + batch], lengths[s:s + batch]).attention
        return out

    # -- files ------------------------------------------------------------------------------------
    def history_rows(self) -> list[dict]:
        return [{c: h.get(c, float("nan")) for c in HISTORY_COLUMNS} for h in self.trainer.history]

    def write(self, folder, model_file: bool = True) -> list[Path]:
        """history.csv, attention.csv (attention pool), confusion.csv and predictions.csv (classes),
        model.npz (unless not ``model_file``) and summary.json into ``folder`` (created)."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        ds = self.dataset
        written = [_write_csv(out / "history.csv", HISTORY_COLUMNS,
                              [[h[c] for c in HISTORY_COLUMNS] for h in self.history_rows()])]
        part = "val" if ds.n_val else "train"
        if self.model.pool == "attention":
            alpha = self.attention(part)
            _, _, lengths = self.part_arrays(part)
            rows, total = [], 0
            for b, n in enumerate(lengths):
                if total + n > ATTENTION_ROWS:
                    break
                rows += [[b, t, alpha[b, t]] for t in range(n)]
                total += n
            written.append(_write_csv(out / "attention.csv", ("sample", "t", "alpha"), rows))
        y_true = self.part_arrays(part)[1]
        outputs = self.outputs(part)
        if self.classes:
            names = ds.class_names
            counts = self.confusion(part, outputs)
            written.append(_write_csv(out / "confusion.csv", ["true \\ predicted"] + names,
                                      [[names[i]] + counts[i].tolist() for i in range(len(names))]))
            prob = self.probabilities(part, outputs)
            header = ["sample", "true", "predicted"] + [f"p({n})" for n in names]
            written.append(_write_csv(out / "predictions.csv", header,
                                      [[b, names[y_true[b]], names[int(prob[b].argmax())]] + prob[b].tolist()
                                       for b in range(len(prob))]))
        else:
            scale, mean = ds.target_std, ds.target_mean
            written.append(_write_csv(out / "predictions.csv", ("sample", "true", "predicted"),
                                      [[b, y_true[b, 0] * scale + mean, outputs[b, 0] * scale + mean]
                                       for b in range(len(outputs))]))
        if model_file:
            buf = io.BytesIO()
            np.savez(buf, **self.model.state_dict())
            atomic_write_bytes(out / "model.npz", buf.getvalue())
            written.append(out / "model.npz")
        last = self.trainer.history[-1] if self.trainer.history else {}
        summary = {"data": ds.describe(), "task": ds.task, "classes": list(ds.class_names),
                   "settings": asdict(self.settings), "parameters": self.model.param_count.total,
                   "epochs_done": self.trainer.epoch, "validation": part == "val",
                   "val_accuracy": _finite(last.get("val_accuracy")),
                   "majority_accuracy": _finite(ds.majority_accuracy()),
                   "val_loss": _finite(last.get("val_loss"))}
        atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1, ensure_ascii=False).encode("utf-8"))
        written.append(out / "summary.json")
        return written


@dataclass
class LabelledView:
    """What the window draws of a labelled run at one moment (copies, safe across threads)."""

    step: int
    epoch: int
    epochs: int
    history: list                 # per-epoch rows (dicts)
    sample: int                   # index into the part shown (validation if any)
    alpha: np.ndarray | None      # (T,) over the sample's real steps (None for pool="last")
    inputs: np.ndarray | None     # (T, m) values of a numeric sample
    tokens: list | None           # the sample's tokens (text)
    true: str                     # the true class (or value) as text
    outputs: np.ndarray           # class probabilities (k,) or the value (1,) in the label's units
    confusion: np.ndarray | None  # (k, k) over the part (classes), None when not computed
    accuracy: float               # over the part (classes), NaN otherwise
    scores: np.ndarray | None = None    # (T,) e_t over the sample's real steps (attention pool)
    context: np.ndarray | None = None   # (D·n,) what the head saw
    logits: np.ndarray | None = None    # (k,) the head's output y
    class_names: list | None = None     # the classes (None for regression)
    part: str = "validation"            # the part the sample is of
    message: str = ""             # training refused a step: why
    trace: object = None                # the sample's forward trace (batch 1; its own copy)
    vocab: list | None = None           # token id → token (text), for the cell's x_t

    def predicted(self) -> str:
        """The predicted class (or value) as text."""
        if self.class_names is None:
            return f"{self.outputs[0]:.4g}"
        return str(self.class_names[int(np.argmax(self.outputs))])

    def heading(self) -> str:
        """One line, plain text: the sample, its true and predicted class with its probability."""
        text = f"{self.part} sample {self.sample + 1}: true {self.true}, predicted {self.predicted()}"
        if self.class_names is not None:
            text += f" ({float(np.max(self.outputs)):.0%})"
        return text

    def stage_text(self) -> str:
        """The attention stage's real numbers for this sample, plain text (two or three lines)."""
        def vec(v, most=6):
            body = ", ".join(f"{x:.3f}" for x in v[:most])
            return f"[{body}{', …' if len(v) > most else ''}]"

        lines = []
        if self.alpha is not None and self.scores is not None:
            t = int(np.argmax(self.alpha))
            lines.append(f"largest α at t = {t + 1}: e_t = {self.scores[t]:.3f}, α_t = {self.alpha[t]:.3f} "
                         f"(softmax over {len(self.alpha)} steps, Σ α = {self.alpha.sum():.3f})")
        if self.context is not None:
            lines.append(f"context c = {vec(self.context)} ({len(self.context)} numbers)")
        if self.logits is not None:
            lines.append(f"y = V c + d = {vec(self.logits)}")
        return "\n".join(lines)


def labelled_view(run: LabelledRun, sample: int = 0, with_confusion: bool = True) -> LabelledView:
    """The view of ``sample`` of the validation part (the training part without one); call it
    where the model is not training (the task calls it between steps)."""
    ds = run.dataset
    part = "val" if ds.n_val else "train"
    x, y, lengths = run.part_arrays(part)
    b = min(max(int(sample), 0), len(x) - 1)
    n = int(lengths[b])
    tr = run.model.forward(x[b:b + 1], lengths[b:b + 1])
    if run.classes:
        outputs, true = tr.probabilities()[0], str(ds.class_names[int(y[b])])
    else:
        outputs = tr.y[0] * ds.target_std + ds.target_mean
        true = f"{float(y[b, 0]) * ds.target_std + ds.target_mean:.4g}"
    confusion = run.confusion(part) if with_confusion and run.classes else None
    accuracy = float(np.trace(confusion) / max(confusion.sum(), 1)) if confusion is not None else float("nan")
    tokens = [ds.vocab[i] for i in x[b, :n]] if ds.token_inputs else None
    tr_ = run.trainer
    return LabelledView(tr_.step, tr_.epoch, tr_.epochs, [dict(h) for h in tr_.history], b,
                        None if tr.attention is None else tr.attention[0, :n].copy(),
                        None if tokens is not None else x[b, :n].copy(), tokens, true, outputs.copy(),
                        confusion, accuracy, None if tr.scores is None else tr.scores[0, :n].copy(),
                        tr.context[0].copy(), tr.y[0].copy(), list(ds.class_names) if run.classes else None,
                        "validation" if part == "val" else "training", trace=tr,
                        vocab=ds.vocab if ds.token_inputs else None)


def _checked_settings(cfg: dict, folder: Path) -> LabelledSettings:
    """config.json's settings, every value typed and ranged as an ordinary run's (runs.schema)."""
    from explorer.runs.folder import RunFileError, safe_name
    from explorer.runs.schema import check_model_settings

    def fail(file: str, what: str) -> RunFileError:
        return RunFileError(f"{safe_name(folder / file)} {what}; the run folder is damaged (restore it from a copy "
                            "or train again).")

    settings = cfg.get("settings")
    if not isinstance(settings, dict):
        raise fail("config.json", "has no settings")
    checked = check_model_settings(fail, {"model": {k: v for k, v in settings.items() if k != "pool"}})
    if settings.get("pool") not in POOLS:
        raise fail("config.json", f"has settings.pool = {safe_name(str(settings.get('pool')))[:20]}, not one of "
                                  f"{', '.join(POOLS)}")
    known = set(asdict(LabelledSettings()))
    return LabelledSettings(**{k: v for k, v in checked.items() if k in known}, pool=settings["pool"])


def is_labelled_run(folder) -> bool:
    """True when ``folder`` holds a labelled-sequence run saved by :meth:`LabelledRun.save`."""
    return is_run_of(folder, FORMAT)


class _ViewState:
    """The window's task state as :func:`~explorer.app.tasks.train_task` sees it: the driver's
    step records become a :class:`LabelledView` of ``state.sample`` at most every ``interval``
    seconds and at every epoch's end (with the confusion matrix); everything else is the state's."""

    def __init__(self, state, run: LabelledRun, interval: float):
        self._state, self._run, self._interval, self._last = state, run, interval, -math.inf
        self.note = ""

    def __getattr__(self, name):
        return getattr(self._state, name)

    def set_partial_result(self, update) -> None:
        if isinstance(update, tuple):                 # ("message", why a checkpoint failed): on the next view
            self.note = update[1]
            return
        now = time.monotonic()
        epoch_end = bool(update.history)
        if epoch_end or now - self._last >= self._interval:
            tr = self._run.trainer
            view = labelled_view(self._run, self._state.sample or 0, with_confusion=epoch_end)
            view.message = self.note
            self._state.set_partial_result(view)
            self._state.set_progress(tr.step / max(tr.total_steps, 1), f"epoch {tr.epoch}")
            self._last = now


def labelled_train_task(state, run: LabelledRun, emit_interval: float = 0.25, folder=None) -> LabelledView:
    """Train ``run`` until its epochs are done, the task is stopped or training diverges, with the one
    training driver (:func:`~explorer.app.tasks.train_task`: its divergence guard puts the weights
    from before a blow-up back), sending a :class:`LabelledView` of ``state.sample`` at most every
    ``emit_interval`` seconds and at every epoch's end. With ``folder`` (a run folder the run came
    from) the run is saved there as the checkpoint policy says and once more at the end. Returns
    the last view (its ``message`` says why training diverged or a save failed), or None when
    stopped (the window asks for a view when it needs one)."""
    from explorer.runs.folder import RunFileError

    from .checkpoint import CheckpointPolicy
    from .tasks import train_task

    def checkpoint() -> None:
        run.save(folder)

    viewer = _ViewState(state, run, emit_interval)
    result = train_task(viewer, run.trainer, final_trace=False, checkpoint=checkpoint if folder else None,
                        policy=CheckpointPolicy())
    if folder is not None:
        try:
            run.save(folder)
        except RunFileError as exc:
            viewer.note = f"The run could not be saved in {folder}: {exc}"
    if result.reason == "stopped":
        return None
    view = labelled_view(run, state.sample or 0)
    view.message = result.message if result.reason in ("diverged", "error") else viewer.note
    return view


TARGET_ACCURACY = 0.95
"""A pool comparison reports the first step whose epoch reached this validation accuracy."""


@dataclass
class PoolComparison:
    """Where runs of the same cell with different pooling stand: per name, the per-epoch history,
    the steps done, and the step at which validation accuracy first reached :data:`TARGET_ACCURACY`."""

    histories: dict
    steps: dict
    reached: dict
    total_steps: dict

    @property
    def done(self) -> bool:
        return all(self.steps[n] >= self.total_steps[n] for n in self.steps)


def pool_runs(dataset, settings: LabelledSettings, pools=("last", "attention")) -> dict:
    """Fresh runs of ``settings``' cell with each pooling (same seed, same data), by pool name."""
    return {pool: LabelledRun(dataset, replace(settings, pool=pool)) for pool in pools}


class _Silent:
    """A task state whose step records go nowhere (the caller reports on its own)."""

    def __init__(self, state):
        self._state = state

    def __getattr__(self, name):
        return getattr(self._state, name)

    def set_partial_result(self, value) -> None:
        pass


def train_pool_chunk(state, run: LabelledRun, steps: int, guard, on_step=None) -> str:
    """Up to ``steps`` more steps of ``run`` with the one training driver and ``guard`` (a
    :class:`~explorer.app.tasks.DivergenceGuard` kept across chunks); the driver's reason. A run
    that diverged has its weights from before the blow-up back and plans no more epochs."""
    from .tasks import train_task

    result = train_task(_Silent(state), run.trainer, max_steps=steps, guard=guard, on_step=on_step,
                        final_trace=False, emit_interval=math.inf)
    if result.reason in ("diverged", "error"):
        run.trainer.epochs = run.trainer.epoch
        run.message = result.message
    return result.reason


def pool_comparison_task(state, runs: dict, chunk: int = 10, emit_interval: float = 0.25) -> PoolComparison:
    """Train every run of :func:`pool_runs` in turns of ``chunk`` steps until all are done,
    sending a :class:`PoolComparison` at most every ``emit_interval`` seconds."""
    from .tasks import DivergenceGuard

    reached = {name: None for name in runs}
    guards = {name: DivergenceGuard(run.trainer) for name, run in runs.items()}

    def snapshot() -> PoolComparison:
        return PoolComparison({n: [dict(h) for h in r.trainer.history] for n, r in runs.items()},
                              {n: r.trainer.step for n, r in runs.items()}, dict(reached),
                              {n: r.trainer.total_steps for n, r in runs.items()})

    last = time.monotonic()
    while not snapshot().done:
        for name, run in runs.items():
            def on_step(snap, val, name=name, run=run):
                acc = run.trainer.history[-1].get("val_accuracy", math.nan) if snap.epoch_end else math.nan
                if reached[name] is None and acc >= TARGET_ACCURACY:
                    reached[name] = snap.step

            if train_pool_chunk(state, run, chunk, guards[name], on_step) == "stopped":
                return snapshot()
        if time.monotonic() - last >= emit_interval:
            state.set_partial_result(snapshot())
            last = time.monotonic()
    return snapshot()


def _finite(v):
    return None if v is None or not math.isfinite(float(v)) else float(v)


def _write_csv(path: Path, header, rows) -> Path:
    """Write a CSV atomically (a new temporary file, then a rename: a link at ``path`` is replaced,
    never written through)."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    return path


__all__ = ["ATTENTION_ROWS", "EXAMPLE_SETTINGS", "EXPORT_FILES", "FORMAT", "RUN_FILES", "data_source",
           "is_labelled_run", "load_from_source", "HISTORY_COLUMNS", "MIN_EPOCHS", "MIN_STEPS", "TARGET_ACCURACY",
           "PoolComparison", "pool_comparison_task", "pool_runs", "LabelledRun", "LabelledSettings", "LabelledView",
           "labelled_settings", "labelled_train_task", "train_pool_chunk", "labelled_view", "load_labelled_data"]

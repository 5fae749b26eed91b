"""Training a Tree-LSTM on a :class:`~explorer.data.trees.TreeBank`, and the sequence LSTM on the
same trees read flat, for the comparison (no Qt).

A batch is a forest of ``batch`` trees (one children list, :func:`~explorer.engine.treelstm.join_forest`),
evaluated level by level. Value labels are trained as z-scores of the training labels; errors are
reported in the labels' own units: the root-mean-square error over labelled nodes (values) or the
share of labelled nodes classified wrongly (classes), over every node and over the roots alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from explorer.data.errors import SequenceFileError, check_budget, safe_name
from explorer.data.trees import ParsedTree, TreeBank, in_order
from explorer.engine.model import make_model
from explorer.engine.optim import clip_by_global_norm, make_optimizer
from explorer.engine.trainer import StepSnapshot
from explorer.engine.treelstm import TREE_KINDS, Forest, TreeLSTMModel

if TYPE_CHECKING:
    from explorer.app.tasks import TrainingResult


@dataclass
class TreeSettings:
    """What a tree run trains: the cell, its size and the optimiser; ``label_at`` is ``"nodes"``
    (every labelled node) or ``"root"`` (the roots alone)."""

    cell: str = "treelstm"
    units: int = 32
    epochs: int = 20
    batch: int = 25
    lr: float = 0.01
    optimizer: str = "adam"
    clip: float | None = 5.0
    seed: int = 0
    label_at: str = "nodes"
    val_fraction: float = 0.1


@dataclass
class TreeData:
    """A tree bank split into training and validation trees (the last ``val_fraction`` of the
    file), with the targets' z-score for values (``shift``, ``scale``)."""

    bank: TreeBank
    train: list
    val: list
    label_at: str = "nodes"
    shift: float = 0.0
    scale: float = 1.0

    @classmethod
    def split(cls, bank: TreeBank, val_fraction: float = 0.1, label_at: str = "nodes") -> TreeData:
        if label_at not in ("nodes", "root"):
            raise SequenceFileError(f'--label-at must be "root" or "nodes", not {label_at!r}.')
        n = len(bank.trees)
        n_val = min(n - 1, int(round(n * float(val_fraction))))
        train, val = bank.trees[:n - n_val], bank.trees[n - n_val:]
        if label_at == "root" and all(math.isnan(t.labels[-1]) for t in train):
            raise SequenceFileError("no training tree has a label at its root; use --label-at nodes.")
        data = cls(bank, train, val, label_at)
        if bank.label_kind == "values":
            lab = np.concatenate([data._raw(t) for t in train])
            lab = lab[~np.isnan(lab)]
            data.shift = float(lab.mean())
            data.scale = float(lab.std()) or 1.0
        return data

    def _raw(self, tree: ParsedTree) -> np.ndarray:
        lab = tree.labels.copy()
        if self.label_at == "root":
            lab[:-1] = math.nan
        return lab

    @property
    def n_inputs(self) -> int:
        return self.bank.vocab.vocab_size

    @property
    def n_outputs(self) -> int:
        return self.bank.n_classes if self.bank.label_kind == "classes" else 1

    @property
    def loss(self) -> str:
        return "cross_entropy" if self.bank.label_kind == "classes" else "mse"

    #: losses are in the trained targets' units (z-scores for values)
    loss_scale = 1.0

    @property
    def y_train(self) -> np.ndarray:
        """The trained targets of every labelled training node (z-scored values, or class ids):
        the divergence guard's baseline is the loss of predicting zero for them."""
        lab = np.concatenate([self._raw(t) for t in self.train]) if self.train else np.zeros(0)
        lab = lab[~np.isnan(lab)]
        return (lab - self.shift) / self.scale if self.bank.label_kind == "values" else lab

    def forest(self, trees: list) -> tuple:
        """``(x ids (N,), children, target, roots)`` of several trees joined into one forest."""
        ids, children, targets, roots, offset = [], [], [], [], 0
        for t in trees:
            ids.append(self.bank.token_ids(t))
            children.extend([[c + offset for c in kids] for kids in t.children])
            tg = self.bank.target(t, self.label_at)
            if self.bank.label_kind == "values":
                tg = (tg - self.shift) / self.scale
            targets.append(tg)
            offset += t.n_nodes
            roots.append(offset - 1)
        return np.concatenate(ids), children, np.concatenate(targets), np.asarray(roots)


_NO_NORMS = np.zeros(0)


class _NoGateLog:
    """A Tree-LSTM step logs no per-gate norms (the training task reads ``log.gates``)."""

    gates: tuple = ()


#: Trees evaluated together (one forest) when errors are computed.
EVAL_TREES = 200


def tree_errors(model: TreeLSTMModel, data: TreeData, trees: list, batch: int = EVAL_TREES) -> dict:
    """``{"loss", "node_error", "root_error"}`` over ``trees`` in the labels' units (see the
    module docstring); NaN where no node is labelled."""
    if not trees:
        return {"loss": math.nan, "node_error": math.nan, "root_error": math.nan}
    node_sq, node_n, root_sq, root_n, loss_sum, loss_n = 0.0, 0, 0.0, 0, 0.0, 0
    for s in range(0, len(trees), batch):
        part = trees[s:s + batch]
        x, children, target, roots = data.forest(part)
        y = model.predict(x, children=children)
        raw = np.concatenate([t.labels for t in part])          # every known label, also for --label-at root
        known = ~np.isnan(raw)
        if data.bank.label_kind == "values":
            pred = y[:, 0] * data.scale + data.shift
            wrong = (pred - np.where(known, raw, 0.0)) ** 2
        else:
            wrong = (y.argmax(axis=1) != np.where(known, raw, -1)).astype(float)
        node_sq += float(wrong[known].sum())
        node_n += int(known.sum())
        root_sq += float(wrong[roots][known[roots]].sum())
        root_n += int(known[roots].sum())
        has = (target >= 0) if target.ndim == 1 else ~np.isnan(target[:, 0])
        if has.any():
            n_lab = int(has.sum())
            loss_sum += model.evaluate(x, target, data.loss, children=children) * n_lab
            loss_n += n_lab

    def finish(total, count):
        if count == 0:
            return math.nan
        return math.sqrt(total / count) if data.bank.label_kind == "values" else total / count

    return {"loss": loss_sum / loss_n if loss_n else math.nan, "node_error": finish(node_sq, node_n),
            "root_error": finish(root_sq, root_n)}


@dataclass
class TreeRun:
    """A Tree-LSTM, its data and settings, and one row per finished epoch in ``history``."""

    data: TreeData
    settings: TreeSettings
    model: TreeLSTMModel = None
    history: list = field(default_factory=list)

    def __post_init__(self):
        s = self.settings
        if s.cell not in TREE_KINDS:
            raise SequenceFileError(f"--cell {s.cell} does not read trees; use treelstm or nary-treelstm.")
        if self.model is None:
            self.model = make_model(s.cell, self.data.n_inputs, s.units, self.data.n_outputs, seed=s.seed)
        if s.cell == "nary-treelstm":
            for t in self.data.train + self.data.val:             # refuse a non-binary tree by its line
                try:
                    Forest(t.children, binary=True)
                except ValueError as exc:
                    raise SequenceFileError(f"the tree on line {t.line} cannot be read by nary-treelstm: {exc}") \
                        from None
        trees = self.data.train + self.data.val
        biggest = max(sum(t.n_nodes for t in trees[i:i + size]) for size in (s.batch, EVAL_TREES)
                      for i in range(0, len(trees), size))
        check_budget(self.model.estimate_bytes(biggest),
                     f"Training a {s.cell} of {s.units} units", "use fewer units or a smaller --batch")
        self.optimizer = make_optimizer(s.optimizer, s.lr)
        self.rng = np.random.default_rng(s.seed + 1)
        self.step = 0
        self.log = _NoGateLog()
        self._order = None                            # this epoch's shuffled trees, while one is under way
        self.epoch_state = self.state()

    def state(self) -> dict:
        """Everything training continues from, as arrays: the parameters, the optimiser's
        moments and numbers, the shuffling generator and the history (``"meta"``, JSON text)."""
        opt = self.optimizer.state_dict()
        out = {"params": self.model.params.copy()}
        for key in ("m", "v"):
            if key in opt:
                out[f"optimizer_{key}"] = np.asarray(opt.pop(key)).copy()
        meta = {"optimizer": opt, "rng": self.rng.bit_generator.state, "history": self.history, "step": self.step}
        out["meta"] = np.array(json.dumps(meta, allow_nan=True))
        return out

    def restore(self, state: dict) -> None:
        """Continue from :meth:`state`'s arrays (shapes and names checked; ``ValueError``)."""
        params = np.asarray(state["params"])
        if params.shape != self.model.params.shape:
            raise ValueError(f"the saved parameters have shape {params.shape}; this model holds "
                             f"{self.model.params.shape}")
        meta = json.loads(str(state["meta"]))
        opt = dict(meta["optimizer"])
        for key in ("m", "v"):
            if f"optimizer_{key}" in state:
                opt[key] = np.asarray(state[f"optimizer_{key}"])
                if opt[key].shape != params.shape:
                    raise ValueError(f"the saved optimizer state has shape {opt[key].shape}")
        self.model.params[...] = params
        self.optimizer = make_optimizer(opt["name"], opt["lr"])
        self.optimizer.load_state_dict(opt)
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = meta["rng"]
        self.history = [dict(r) for r in meta["history"]]
        self.step = int(meta.get("step", len(self.history) * self.steps_per_epoch))
        self._order = None
        self.epoch_state = self.state()

    # -- the trainer the one training task drives (:func:`explorer.app.tasks.train_task`) ----------
    @property
    def epochs(self) -> int:
        return int(self.settings.epochs)

    @property
    def epoch(self) -> int:
        """The epoch under way (1-based), or the last finished one between epochs."""
        return len(self.history) + (1 if self._order is not None else 0)

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(len(self.data.train) / self.settings.batch))

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    @property
    def trainer(self) -> TreeRun:
        return self

    def val_loss(self) -> float:
        return float(tree_errors(self.model, self.data, self.data.val)["loss"])

    def _batches(self, order: np.ndarray) -> list:
        """The batches of an epoch (start indices into ``order``) that hold a label to learn from."""
        s, data = self.settings, self.data
        out = []
        for b in range(0, order.size, s.batch):
            part = [data.train[i] for i in order[b:b + s.batch]]
            if any(np.any(~np.isnan(data._raw(t))) for t in part):
                out.append(b)
        return out

    def steps(self, max_steps: int | None = None, interrupt=None):
        """Yield a :class:`~explorer.engine.trainer.StepSnapshot` per batch of trees until
        ``settings.epochs`` epochs are done (shuffled batches, seeded; a batch without a label is
        skipped). ``max_steps`` ends this call after that many steps; calling again continues.
        At an epoch's end the row (train loss, validation loss and errors) joins :attr:`history`
        and :attr:`epoch_state` becomes the state a resume continues from."""
        s, model, data, taken = self.settings, self.model, self.data, 0
        while len(self.history) < s.epochs:
            if self._order is None:
                self._order = self.rng.permutation(len(data.train))
                self._todo, self._total, self._count = self._batches(self._order), 0.0, 0
            while self._todo:
                if max_steps is not None and taken >= max_steps:
                    return
                if interrupt is not None and interrupt():
                    return
                b = self._todo[0]
                x, children, target, _ = data.forest([data.train[i] for i in self._order[b:b + s.batch]])
                value, _, _, _ = model.compute_grads(x, target, data.loss, children=children)
                norm = float(np.sqrt(np.dot(model.grad, model.grad)))
                self._todo.pop(0)
                epoch, epoch_step = len(self.history) + 1, self._count + 1
                if not (math.isfinite(value) and math.isfinite(norm)):
                    self.step += 1
                    taken += 1
                    yield StepSnapshot(epoch, self.step, epoch_step, self.steps_per_epoch, float(value), norm, {},
                                       False, _NO_NORMS, None, refused=True,
                                       message=f"Training stopped at step {self.step}: the loss or its gradient "
                                               "is not a finite number.")
                    return
                norm, clipped = clip_by_global_norm(model.grad, s.clip)
                self.optimizer.step(model.params, model.grad)
                self.step += 1
                taken += 1
                self._total += value
                self._count += 1
                end = not self._todo
                row = None
                if end:
                    row = {"epoch": epoch, "train_loss": self._total / max(self._count, 1)}
                    row.update({f"val_{k}": v for k, v in tree_errors(model, data, data.val).items()})
                    self.history.append(row)
                    self._order = None
                    self.epoch_state = self.state()
                yield StepSnapshot(epoch, self.step, epoch_step, self.steps_per_epoch, float(value), norm, {},
                                   clipped, _NO_NORMS, None, epoch_end=end,
                                   train_loss_epoch=None if row is None else row["train_loss"],
                                   val_loss=None if row is None else row["val_loss"],
                                   done=end and len(self.history) >= s.epochs)
            if self._order is not None:                  # an epoch without a labelled batch
                self.history.append({"epoch": len(self.history) + 1, "train_loss": math.nan,
                                     **{f"val_{k}": v for k, v in tree_errors(model, data, data.val).items()}})
                self._order = None
                self.epoch_state = self.state()

    def train(self, on_epoch=None, state=None) -> TrainingResult:
        """Train up to ``settings.epochs`` with the one training task
        (:func:`explorer.app.tasks.train_task`: its divergence guard puts the weights from before
        a blow-up back); ``on_epoch(row)`` after each epoch; ``state`` (a
        :class:`~explorer.app.tasks.TaskState`) stops it between batches. :attr:`epoch_state` is
        the state at the last epoch's end (a resume continues from it exactly as if training had
        not stopped)."""
        from explorer.app.tasks import TaskState, train_task

        def on_step(snap, _val):
            if snap.epoch_end and on_epoch is not None:
                on_epoch(self.history[-1])

        return train_task(state if state is not None else TaskState(), self, on_step=on_step,
                          final_trace=False, emit_interval=math.inf, catch_errors=False)

    def settings_dict(self) -> dict:
        return asdict(self.settings)


def file_sha256(path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_tree_run(folder, trees=None, allow_changed_data: bool = False) -> tuple[TreeRun, dict]:
    """``(run, source)``: the tree run saved in ``folder`` (``tree_run.json`` and
    ``checkpoint.npz``), on its own trees — or on ``trees`` (a tree file) — continued from its
    checkpoint with the saved vocabulary and label scaling. A changed tree file is refused unless
    ``allow_changed_data``; a damaged folder in one sentence (:class:`SequenceFileError`)."""
    from explorer.data.examples import load_tree_example
    from explorer.data.loading import TextCorpus
    from explorer.data.trees import load_trees

    folder = Path(folder)
    name = safe_name(folder)
    try:
        meta = json.loads((folder / "tree_run.json").read_text(encoding="utf-8"))
        settings = TreeSettings(**meta["settings"])
        source = dict(meta["source"])
        vocab = [str(w) for w in meta["vocab"]]
        with np.load(folder / "checkpoint.npz", allow_pickle=False) as z:
            state = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SequenceFileError(f"The tree run in {name} cannot be read ({exc.__class__.__name__}); it is "
                                "damaged: start a new run.") from None
    if "example" in source:
        bank = load_tree_example(source["example"])
    else:
        path = trees or source.get("file", "")
        if file_sha256(path) != source.get("sha256") and not allow_changed_data:
            raise SequenceFileError(f"{safe_name(path)} changed since the run was saved; give the run's own "
                                    "trees, or add --allow-changed-data to continue on the new ones.")
        bank = load_trees(path, labels=source.get("labels"))
        source = {**source, "file": os.path.abspath(path), "sha256": file_sha256(path)}
    try:
        bank.vocab = TextCorpus(vocab=vocab, ids=np.zeros(0, np.int64), level="word")
        if (bank.label_kind, bank.n_classes) != (meta["label_kind"], meta["n_classes"]):
            raise ValueError(f"its labels are now {bank.label_kind}" +
                             (f" of {bank.n_classes} classes" if bank.n_classes else ""))
        data = TreeData.split(bank, settings.val_fraction, settings.label_at)
        data.shift, data.scale = float(meta["shift"]), float(meta["scale"])
        run = TreeRun(data, settings)
        run.restore(state)
    except (ValueError, KeyError, TypeError) as exc:
        raise SequenceFileError(f"The checkpoint in {name} does not fit its trees ({exc}); "
                                "start a new run.") from None
    return run, source


def tree_train_task(run: TreeRun):
    """A task (``fn(state)``, :mod:`explorer.app.tasks`) training ``run`` up to its
    ``settings.epochs`` with the one training task: after every epoch it sends ``{"row",
    "params"}`` (a copy of the weights) as a partial result; an interruption stops between
    batches. Returns the :class:`~explorer.app.tasks.TrainingResult` ("diverged": the weights from
    before the blow-up are back)."""
    def task(state):
        return run.train(on_epoch=lambda row: state.set_partial_result(
            {"row": dict(row), "params": run.model.params.copy()}), state=state)
    return task


class FlatSequenceModel:
    """The sequence LSTM on trees read flat (:func:`~explorer.data.trees.in_order`: a sentence's
    words, an expression's infix string), predicting the root's label at the last step; trees of
    one length train together (no padding). Trees with a token outside the vocabulary or no root
    label are left out. Value labels use the tree run's z-score (``data.shift``, ``data.scale``)."""

    def __init__(self, data: TreeData, units: int = 32, batch: int = 25, lr: float = 0.01, seed: int = 0):
        self.data = data
        self.values = data.bank.label_kind == "values"
        self.model = make_model("lstm", data.n_inputs, units, data.n_outputs, seed=seed)
        self.optimizer = make_optimizer("adam", lr)
        self.rng = np.random.default_rng(seed + 1)
        train = self._groups(data.train)
        self.batches = [(x[i:i + batch], y[i:i + batch]) for x, y in train for i in range(0, len(x), batch)]
        self.val = self._groups(data.val)
        self.history: list = []

    def tokens(self, tree: ParsedTree) -> np.ndarray | None:
        """The tree's in-order token ids, or None when a token is not in the vocabulary."""
        ids = [self.data.bank.vocab.index.get(w, -1) for w in in_order(tree)]
        return np.asarray(ids, np.int64) if ids and min(ids) >= 0 else None

    def _groups(self, trees) -> list:
        groups: dict = {}
        for t in trees:
            ids = self.tokens(t)
            if ids is None or math.isnan(t.labels[-1]):
                continue
            xs, ys = groups.setdefault(ids.size, ([], []))
            xs.append(ids)
            ys.append(t.labels[-1])
        return [(np.stack(x), np.asarray(y)) for x, y in groups.values()]

    def _target(self, y):
        return ((y - self.data.shift) / self.data.scale)[:, None] if self.values else y.astype(np.int64)

    def _labels(self, out) -> np.ndarray:
        """The last step's outputs (B, k) in the labels' units: values, or class ids."""
        return out[:, 0] * self.data.scale + self.data.shift if self.values else out.argmax(axis=1)

    def train_epoch(self) -> dict:
        """One epoch (shuffled batches); the row ``{"epoch", "train_loss", "val_root_error"}``."""
        total = 0.0
        loss = "mse" if self.values else "cross_entropy"
        for k in self.rng.permutation(len(self.batches)):
            x, y = self.batches[k]
            value, _, _ = self.model.compute_grads(x, self._target(y), loss)
            clip_by_global_norm(self.model.grad, 5.0)
            self.optimizer.step(self.model.params, self.model.grad)
            total += value
        wrong, count = 0.0, 0
        for x, y in self.val:
            pred = self._labels(self.model.predict(x)[:, -1])
            wrong += float(((pred - y) ** 2).sum()) if self.values else float((pred != y).sum())
            count += len(y)
        err = (math.sqrt(wrong / count) if self.values else wrong / count) if count else math.nan
        row = {"epoch": len(self.history) + 1, "train_loss": total / max(len(self.batches), 1),
               "val_root_error": err}
        self.history.append(row)
        return row

    def predict_root(self, tree: ParsedTree, model=None):
        """The root's prediction for ``tree`` in the labels' units (None for an unknown token),
        by ``model`` (default :attr:`model`; a clone with its weights, for another thread)."""
        ids = self.tokens(tree)
        if ids is None:
            return None
        return self._labels((model or self.model).predict(ids[None])[:, -1])[0].item()


def sequence_baseline(data: TreeData, units: int = 32, epochs: int = 20, batch: int = 25, lr: float = 0.01,
                      seed: int = 0, on_epoch=None) -> list:
    """:class:`FlatSequenceModel` trained for ``epochs``; one row per epoch with
    ``val_root_error`` in the labels' units (as :func:`tree_errors`)."""
    flat = FlatSequenceModel(data, units, batch, lr, seed)
    for _ in range(epochs):
        row = flat.train_epoch()
        if on_epoch is not None:
            on_epoch(row)
    return flat.history


def compare_task(run: TreeRun, flat: FlatSequenceModel, epochs: int):
    """A task training ``run`` and ``flat`` side by side, one epoch of each at a time, for
    ``epochs`` epochs: after each it sends ``{"row", "params", "flat_row", "flat_params"}``."""
    def task(state):
        for _ in range(epochs):
            if state.is_interruption_requested():
                break
            run.settings.epochs = len(run.history) + 1
            done = len(run.history)
            result = run.train(state=state)
            if len(run.history) == done or result.reason != "done":
                break
            flat_row = flat.train_epoch()
            state.set_partial_result({"row": dict(run.history[-1]), "params": run.model.params.copy(),
                                      "flat_row": dict(flat_row), "flat_params": flat.model.params.copy()})
        return run.history
    return task


__all__ = ["FlatSequenceModel", "TreeData", "TreeRun", "TreeSettings", "compare_task", "file_sha256",
           "read_tree_run", "tree_train_task", "sequence_baseline", "tree_errors"]

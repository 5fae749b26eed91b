"""ConvLSTMs of different shapes trained on the same frames, beside copying the last frame (no Qt).

What a person comparing ConvLSTMs asks: does the kernel's reach matter (a 1×1 kernel is an LSTM
per pixel and cannot see a shape move in from its neighbours), do peepholes, more channels or
another layer help — and does any of them beat the bar every next-frame model must pass,
predicting the last frame again.

>>> variants = frame_variants(channels=[8], kernels=[1, 3])
>>> result = compare_frames(dataset, FrameSettings(), variants, seeds=2, max_steps=300)
>>> print(format_frames_table(result))

Every variant is a :class:`~explorer.app.frames_run.FramesRun` (the settings with only
``channels``, ``kernel``, ``layers``, ``peephole`` and ``seed`` replaced) trained by the one
training driver (:func:`explorer.app.tasks.train_task`, through
:class:`explorer.app.compare.CellRun`: the same divergence guard as every run). Definitions:
every ``eval_every`` steps and at the last one the validation loss (the run's own, MSE or binary
cross-entropy) and the prediction's per-pixel MSE (:func:`explorer.data.frames.prediction_mse`)
are recorded; "steps to beat copying" is the first evaluated step whose prediction MSE is below
the copy-the-last-frame MSE (:meth:`~explorer.data.frames.FrameDataset.copy_baseline`); seconds are
training time only. A dataset without a validation part is evaluated on its training part.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

import numpy as np

from explorer.data.frames import prediction_mse

from .compare import CellRun, _Series
from .frames_run import FramesRun, FrameSettings

MAX_VARIANTS = 16
BASELINE = "copy last frame"


@dataclass(frozen=True)
class FrameVariant:
    """One ConvLSTM shape: channels F, kernel k, layers L, peepholes."""

    channels: int
    kernel: int
    layers: int = 1
    peephole: bool = False

    @property
    def name(self) -> str:
        """``F8 k3`` (+ `` L2`` for layers, `` peephole``)."""
        text = f"F{self.channels} k{self.kernel}"
        if self.layers != 1:
            text += f" L{self.layers}"
        return text + (" peephole" if self.peephole else "")

    def settings(self, base: FrameSettings, seed: int) -> FrameSettings:
        return replace(base, channels=self.channels, kernel=self.kernel, layers=self.layers, peephole=self.peephole,
                       seed=seed)


def frame_variants(channels, kernels, layers=(1,), peepholes=(False,)) -> list[FrameVariant]:
    """Every combination of the values (in the order given); a value named twice, an even kernel
    or more than :data:`MAX_VARIANTS` combinations are refused (ValueError, one sentence)."""
    for what, values in (("channel count", channels), ("kernel", kernels), ("layer count", layers),
                         ("peephole choice", peepholes)):
        if not values:
            raise ValueError(f"give at least one {what}.")
        twice = [v for k, v in enumerate(values) if v in list(values)[:k]]
        if twice:
            raise ValueError(f"the {what} {twice[0]} is named twice; name each once.")
    even = [k for k in kernels if k % 2 == 0]
    if even:
        raise ValueError(f"kernel {even[0]} is even; kernels are odd ('same' padding keeps the frame size).")
    out = [FrameVariant(int(f), int(k), int(n), bool(p))
           for f, k, n, p in itertools.product(channels, kernels, layers, peepholes)]
    if len(out) > MAX_VARIANTS:
        raise ValueError(f"{len(out)} combinations of channels, kernels, layers and peepholes is more than the "
                         f"{MAX_VARIANTS} a comparison trains; name fewer values.")
    return out


class FrameVariantRun(CellRun):
    """One variant with one seed: a :class:`CellRun` over a :class:`FramesRun` whose target is the
    copy-the-last-frame MSE, met by the prediction's MSE (kept per evaluation in :attr:`mse`)."""

    def __init__(self, dataset, base: FrameSettings, variant: FrameVariant, seed: int, max_steps: int,
                 eval_every: int):
        settings = variant.settings(base, seed)
        run = FramesRun(dataset, settings)
        run.trainer.on_epoch_end = None            # the comparison evaluates on its own cadence
        self.variant = variant
        self.mse = _Series()
        super().__init__(dataset, settings, max_steps, dataset.copy_baseline(), eval_every, run=run,
                         name=variant.name)

    def evaluate(self, interrupt=None) -> float:
        tr = self.run.trainer
        d = tr.data
        x, y = (d.x_val, d.y_val) if d.has_val else (d.x_train, d.y_train)
        loss = float(tr.model.evaluate(x, y, d.loss, interrupt=interrupt))
        mse = prediction_mse(tr.model, self.run.dataset)
        self.eval_steps.append(tr.step)
        self.eval_losses.append(loss)
        self.mse.append(mse)
        if tr.step > 0 and self.steps_to_target is None and mse < self.target_loss:
            self.steps_to_target, self.seconds_to_target = tr.step, self.seconds
        return loss


@dataclass(frozen=True)
class VariantResult:
    """One variant with one seed, finished."""

    variant: FrameVariant
    seed: int
    parameters: int
    steps: int
    steps_to_beat_copy: int | None
    seconds_to_beat_copy: float | None
    seconds: float
    eval_steps: np.ndarray
    val_losses: np.ndarray
    mses: np.ndarray
    message: str = ""                     # why it ended early (diverged)

    @property
    def final_val_loss(self) -> float:
        return float(self.val_losses[-1]) if len(self.val_losses) else math.nan

    @property
    def final_mse(self) -> float:
        return float(self.mses[-1]) if len(self.mses) else math.nan


@dataclass(frozen=True)
class VariantRow:
    """One line of the table: medians over the seeds that beat copying, means of the final numbers."""

    name: str
    variant: FrameVariant | None          # None: the copy-the-last-frame baseline
    parameters: int
    steps_to_beat_copy: int | None
    reached: int
    seeds: int
    seconds: float
    final_val_loss: float
    final_mse: float


@dataclass
class FramesComparison:
    """A finished comparison: every variant and seed, the baseline, and the table."""

    variants: list
    seeds: int
    max_steps: int
    eval_every: int
    copy_mse: float
    loss: str                             # the runs' loss: "mse" or "bce"
    evaluated_on: str                     # "validation" or "training"
    results: list = field(default_factory=list)      # VariantResult, variant by variant, seeds in order

    def of(self, variant: FrameVariant) -> list[VariantResult]:
        return [r for r in self.results if r.variant == variant]

    def rows(self) -> list[VariantRow]:
        """One :class:`VariantRow` per variant in order, then the baseline's."""
        rows = []
        for v in self.variants:
            rs = self.of(v)
            hit = [r for r in rs if r.steps_to_beat_copy is not None]
            rows.append(VariantRow(
                v.name, v, rs[0].parameters, int(np.median([r.steps_to_beat_copy for r in hit])) if hit else None,
                len(hit), len(rs),
                float(np.median([r.seconds_to_beat_copy for r in hit])) if hit else float(np.mean([r.seconds for r in rs])),
                float(np.mean([r.final_val_loss for r in rs])), float(np.mean([r.final_mse for r in rs]))))
        rows.append(VariantRow(BASELINE, None, 0, None, 0, 0, 0.0, math.nan, self.copy_mse))
        return rows

    def mean_curve(self, variant: FrameVariant) -> tuple[np.ndarray, np.ndarray]:
        """(steps, prediction MSE averaged over the seeds) at the evaluations every seed reached."""
        rs = self.of(variant)
        n = min(len(r.eval_steps) for r in rs)
        return rs[0].eval_steps[:n].copy(), np.mean([r.mses[:n] for r in rs], axis=0)


def compare_frames(dataset, base: FrameSettings, variants: list, seeds: int = 1, max_steps: int = 300,
                   eval_every: int = 50, log=None, interrupt=None) -> FramesComparison:
    """Train every variant with seeds ``base.seed`` … ``base.seed + seeds − 1`` for ``max_steps``
    steps each, one run after another (only one model in memory at a time); ``log`` gets one line
    per finished run. ``interrupt`` (a callable) stops inside a step
    (:class:`~explorer.engine.Interrupted` propagates)."""
    if int(max_steps) < 1 or int(eval_every) < 1 or int(seeds) < 1:
        raise ValueError("max_steps, eval_every and seeds must be at least 1.")
    for v in variants:                            # every variant fits before any trains
        FramesRun.check_settings_memory(dataset, v.settings(base, base.seed))
    comp = FramesComparison(list(variants), int(seeds), int(max_steps), int(eval_every), dataset.copy_baseline(),
                            dataset.loss, "validation" if dataset.n_val else "training")
    for v in variants:
        for seed in range(base.seed, base.seed + int(seeds)):
            r = FrameVariantRun(dataset, base, v, seed, max_steps, eval_every)
            while not r.done:
                r.advance(max_steps, interrupt)
            res = VariantResult(v, seed, int(r.total_parameters), r.step, r.steps_to_target, r.seconds_to_target,
                                r.seconds, r.eval_steps.view().copy(), r.eval_losses.view().copy(),
                                r.mse.view().copy(), r.message)
            comp.results.append(res)
            if log is not None:
                where = (f"beat copying at step {res.steps_to_beat_copy}" if res.steps_to_beat_copy
                         else f"did not beat copying within {res.steps} steps")
                log(f"{v.name:18s} seed {seed}: {where}; prediction MSE {res.final_mse:.4g} (copying "
                    f"{comp.copy_mse:.4g}), {res.seconds:.1f} s" + (f" ({res.message})" if res.message else ""))
    return comp


def format_frames_table(comp: FramesComparison) -> str:
    """The table the command prints: a line per variant and one for copying the last frame."""
    head = (f"{'variant':18s} {'parameters':>10s} {'steps to beat copy':>19s} {'reached':>8s} {'seconds':>8s} "
            f"{'val loss':>10s} {'pred. MSE':>10s}")
    lines = [head, "-" * len(head)]
    for r in comp.rows():
        if r.variant is None:
            lines.append(f"{r.name:18s} {'0':>10s} {'':>19s} {'':>8s} {'':>8s} {'':>10s} {r.final_mse:>10.4g}")
            continue
        steps = str(r.steps_to_beat_copy) if r.steps_to_beat_copy is not None else f"not within {comp.max_steps}"
        lines.append(f"{r.name:18s} {r.parameters:>10d} {steps:>19s} {f'{r.reached}/{r.seeds}':>8s} "
                     f"{r.seconds:>8.1f} {r.final_val_loss:>10.4g} {r.final_mse:>10.4g}")
    what = "binary cross-entropy" if comp.loss == "bce" else "MSE"
    lines.append(f"(F channels, k kernel, L layers; {comp.evaluated_on} loss: {what} per pixel; pred. MSE: the "
                 f"prediction's per-pixel MSE; median over the seeds that beat copying; {comp.seeds} seed(s), "
                 f"{comp.max_steps} steps each)")
    return "\n".join(lines)


__all__ = ["BASELINE", "FrameVariant", "FrameVariantRun", "FramesComparison", "VariantResult", "VariantRow",
           "compare_frames", "format_frames_table", "frame_variants", "MAX_VARIANTS"]

"""Train several cells on the same data, seeds, sizes and optimiser, and compare them (no Qt).

This is the measurement behind the seeds' claim: a plain RNN forgets because its gradient
vanishes through time; the gates of an LSTM or a GRU keep it alive.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from explorer.data import Dataset
from explorer.runs import ModelSettings, Run

COMPARISON_HEADER = ("cell", "parameters", "steps_to_target", "reached", "seconds", "final_val_loss")


@dataclass
class SeedResult:
    cell: str
    seed: int
    parameters: int
    steps_to_target: int | None      # first evaluated step with validation loss below the target
    seconds_to_target: float | None  # training seconds (evaluation excluded) until then
    seconds: float                   # training seconds for the whole budget
    final_val_loss: float
    eval_steps: np.ndarray           # steps at which the validation loss was evaluated
    eval_losses: np.ndarray
    norms_dh: np.ndarray             # ||dL/dh_t|| at the first step
    norms_dc: np.ndarray | None      # ||dL/dc_t|| at the first step (LSTMs)


@dataclass
class Comparison:
    cells: list
    seeds: int
    max_steps: int
    target_loss: float
    loss_units: str
    results: list = field(default_factory=list)

    def of(self, cell: str) -> list[SeedResult]:
        return [r for r in self.results if r.cell == cell]

    def summary(self) -> list[dict]:
        """One row per cell: median steps and seconds over the seeds that reached the target."""
        rows = []
        for cell in self.cells:
            rs = self.of(cell)
            hit = [r for r in rs if r.steps_to_target is not None]
            steps = int(np.median([r.steps_to_target for r in hit])) if hit else None
            secs = float(np.median([r.seconds_to_target for r in hit])) if hit else float(np.mean([r.seconds for r in rs]))
            rows.append({
                "cell": cell, "parameters": rs[0].parameters, "steps_to_target": steps,
                "reached": f"{len(hit)}/{len(rs)}", "seconds": secs,
                "final_val_loss": float(np.mean([r.final_val_loss for r in rs])),
            })
        return rows


def compare_cells(dataset: Dataset, settings: ModelSettings, cells, seeds: int = 3, max_steps: int = 3000,
                  target_loss: float = 0.01, eval_every: int = 50, log=None) -> Comparison:
    """Train every cell with seeds 0..seeds-1 for ``max_steps`` steps each; see :class:`Comparison`."""
    comp = None
    for cell in cells:
        for seed in range(seeds):
            s = replace(settings, cell=cell, seed=seed)
            run = Run(dataset, s)
            tr = run.trainer
            tr.epochs = math.ceil(max_steps / tr.steps_per_epoch)
            if comp is None:
                comp = Comparison(list(cells), seeds, max_steps, target_loss, run.loss_units)
            first = None
            eval_steps, eval_losses = [0], [tr.val_loss()]
            reached = reached_s = None
            train_s = 0.0
            t0 = time.perf_counter()
            for snap in tr.steps(max_steps=max_steps):
                if snap.refused:
                    break
                if first is None:
                    first = snap
                if snap.step % eval_every == 0 or snap.step == max_steps:
                    train_s += time.perf_counter() - t0
                    val = tr.val_loss()
                    eval_steps.append(snap.step)
                    eval_losses.append(val)
                    if reached is None and val < target_loss:
                        reached, reached_s = snap.step, train_s
                    t0 = time.perf_counter()
            train_s += time.perf_counter() - t0
            res = SeedResult(cell, seed, run.model.param_count.layer, reached, reached_s, train_s,
                             float(eval_losses[-1]), np.array(eval_steps), np.array(eval_losses),
                             first.norms_dh if first else np.zeros(0),
                             first.norms_dc if first else None)
            comp.results.append(res)
            if log:
                where = f"reached {target_loss:g} at step {reached}" if reached else f"not within {max_steps}"
                log(f"{cell:9s} seed {seed}: {where}; final validation loss {res.final_val_loss:.4g}, "
                    f"{train_s:.1f} s")
    return comp


def format_table(comp: Comparison) -> str:
    """The comparison as the command prints it."""
    head = (f"{'cell':10s} {'parameters':>10s}  {'steps to ' + format(comp.target_loss, 'g'):>16s} "
            f"{'reached':>8s} {'seconds':>8s}  {'final val loss':>14s}")
    lines = [head, "-" * len(head)]
    for r in comp.summary():
        steps = str(r["steps_to_target"]) if r["steps_to_target"] is not None else f"not within {comp.max_steps}"
        lines.append(f"{r['cell']:10s} {r['parameters']:>10d}  {steps:>16s} {r['reached']:>8s} "
                     f"{r['seconds']:>8.1f}  {r['final_val_loss']:>14.4g}")
    lines.append(f"(median over the seeds that reached it; validation {comp.loss_units}, "
                 f"{comp.seeds} seeds, {comp.max_steps} steps each)")
    return "\n".join(lines)


def write_comparison(comp: Comparison, out) -> list[Path]:
    """``comparison.csv`` (the table), ``comparison_seeds.csv``, and the two plots as PNG, SVG, CSV."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with open(out / "comparison.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COMPARISON_HEADER)
        for r in comp.summary():
            w.writerow([r["cell"], r["parameters"], "" if r["steps_to_target"] is None else r["steps_to_target"],
                        r["reached"], f"{r['seconds']:.3f}", repr(r["final_val_loss"])])
    written.append(out / "comparison.csv")
    with open(out / "comparison_seeds.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["cell", "seed", "parameters", "steps_to_target", "seconds_to_target", "seconds", "final_val_loss"])
        for r in comp.results:
            w.writerow([r.cell, r.seed, r.parameters, "" if r.steps_to_target is None else r.steps_to_target,
                        "" if r.seconds_to_target is None else f"{r.seconds_to_target:.3f}", f"{r.seconds:.3f}",
                        repr(r.final_val_loss)])
    written.append(out / "comparison_seeds.csv")
    from explorer.figures.report import export_comparison_plots
    written += export_comparison_plots(comp, out)
    return written

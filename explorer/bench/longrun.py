"""A synthetic long run: what opening a run of many steps costs, without training them."""

from __future__ import annotations

import numpy as np

__all__ = ["long_run"]


def long_run(steps: int, seed: int = 0, clipped: float = 0.05, epochs: int = 100):
    """A :class:`~explorer.runs.store.Run` of ``steps`` steps, not saved: a small sine model trained
    for three steps, its per-step log and per-epoch history then filled as training would leave
    them (lognormal losses and norms, a ``clipped`` share of steps clipped, about ``epochs`` epochs
    of the data's size, the last one under way)."""
    from explorer.data.examples import load_example
    from explorer.runs.store import ModelSettings, Run

    points = max(600, 20 * steps // max(epochs, 1))             # the sine example: about 20 points per step
    run = Run(load_example("sine", n_points=points), ModelSettings(units=8, epochs=1, batch=16, seed=seed))
    tr = run.trainer
    list(tr.steps(max_steps=3))
    spe = tr.steps_per_epoch
    epochs, rest = divmod(steps, spe)
    rng = np.random.default_rng(seed)
    lg = tr.log
    lg.step = list(range(1, steps + 1))
    lg.epoch = (np.arange(steps) // spe + 1).tolist()
    lg.loss = rng.lognormal(-2, 1, steps).tolist()
    lg.grad_norm = rng.lognormal(0, 1, steps).tolist()
    lg.clipped = (rng.random(steps) < clipped).tolist()
    for g in lg.gates:
        lg.gates[g] = rng.lognormal(-1, 1, steps).tolist()
    loss = np.asarray(lg.loss)
    tr.history = [{"epoch": e + 1, "train_loss": float(loss[e * spe:(e + 1) * spe].mean()),
                   "val_loss": float(loss[(e + 1) * spe - 1]), "grad_norm": 1.0, "clipped_fraction": clipped}
                  for e in range(epochs)]
    tr.step, tr.epoch, tr.epoch_step, tr.epochs = steps, epochs, rest, epochs + 1
    tr.optimizer.t = steps
    if rest:
        tr._start_epoch()
    return run

"""Which numbers a drawn trace is of: :class:`Source` (no Qt).

>>> Source(sample=3, weights="epoch", epoch=2).text()
'sample 3 · epoch 2'
>>> Source(sample=3, weights="epoch", epoch=2).epoch_text(last=5)
'replayed epoch 2 / 5'
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Source"]


@dataclass(frozen=True)
class Source:
    """What a drawn trace is computed from: ``sample``, the weights (``weights``: "latest",
    "epoch" with ``epoch``, or "training") and the ``interventions`` held (a tuple)."""

    sample: int = 0
    weights: str = "latest"
    epoch: int | None = None
    interventions: tuple = ()

    def text(self) -> str:
        """'sample 3 · epoch 2 · 1 intervention held' (the latest weights are not named)."""
        parts = [f"sample {self.sample}"]
        if self.weights == "epoch":
            parts.append("before training" if self.epoch == 0 else f"epoch {self.epoch}")
        elif self.weights == "training":
            parts.append("training weights")
        k = len(self.interventions)
        if k:
            parts.append(f"{k} intervention{'s' if k != 1 else ''} held")
        return " \u00b7 ".join(parts)

    def epoch_text(self, last: int | None = None) -> str:
        """The replayed epoch as every view names it ('replayed epoch 2 / 5', 'replayed epoch 0
        (before training)'); '' for the latest or training's weights. ``last``: the run's last
        kept epoch."""
        if self.weights != "epoch" or self.epoch is None:
            return ""
        of = f" / {last}" if last is not None else ""
        return f"replayed epoch {self.epoch}" + (" (before training)" if self.epoch == 0 else of)

    def plain(self) -> Source:
        """The same sample and weights without interventions."""
        return replace(self, interventions=())

"""Which numbers a drawn trace is of: :class:`Source` (no Qt).

>>> Source(sample=3, weights="epoch", epoch=2).text()
'sample 3 · epoch 2'
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

    def norms_text(self, step: int) -> str:
        """What gradient norms of this source are of, for a plot's title ('sample 3, weights after
        step 120'; ``step``: the run's step count)."""
        if self.weights == "epoch":
            weights = "weights before training" if self.epoch == 0 else f"weights of epoch {self.epoch}"
        elif self.weights == "training":
            weights = f"training's weights at step {step}"
        else:
            weights = f"weights after step {step}" if step else "initial weights"
        k = len(self.interventions)
        held = f", {k} intervention{'s' if k != 1 else ''} held" if k else ""
        return f"sample {self.sample}, {weights}{held}"

    def plain(self) -> Source:
        """The same sample and weights without interventions."""
        return replace(self, interventions=())

"""Which numbers a drawn trace is of: :class:`Source` (no Qt).

>>> Source(sample=3, weights="epoch", epoch=2).text()
'sample 3 · epoch 2'
>>> Source(sample=3, weights="epoch", epoch=2).epoch_text(last=5)
'replayed epoch 2 / 5'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np

__all__ = ["Edit", "Source"]


@dataclass(frozen=True, eq=False)
class Edit:
    """An edited input of one sample: ``x`` (the sample's input without the batch axis: (T,) token
    ids or (T, m) values; a read-only copy) and a short ``label`` ("edited"). Two edits are equal
    when their values and labels are."""

    x: np.ndarray
    label: str = "edited"

    def __post_init__(self):
        x = np.array(self.x, copy=True)
        x.setflags(write=False)
        object.__setattr__(self, "x", x)
        digest = hashlib.blake2b(x.tobytes(), digest_size=16).hexdigest()
        object.__setattr__(self, "_key", (x.dtype.str, x.shape, digest, str(self.label)))

    def __eq__(self, other) -> bool:
        return isinstance(other, Edit) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)


@dataclass(frozen=True)
class Source:
    """What a drawn trace is computed from: ``sample``, the weights (``weights``: "latest",
    "epoch" with ``epoch``, or "training"), the ``interventions`` held (a tuple) and, when the
    person edited the sample's input, that input (``edit``, an :class:`Edit`)."""

    sample: int = 0
    weights: str = "latest"
    epoch: int | None = None
    interventions: tuple = ()
    edit: Edit | None = None

    def sample_text(self) -> str:
        """'3', or '3 (edited)' for an edited input."""
        return f"{self.sample}" if self.edit is None else f"{self.sample} ({self.edit.label})"

    def text(self) -> str:
        """'sample 3 (edited) · epoch 2 · 1 intervention held' (the latest weights are not named)."""
        parts = [f"sample {self.sample_text()}"]
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
        return f"sample {self.sample_text()}, {weights}{held}"

    def epoch_text(self, last: int | None = None) -> str:
        """The replayed epoch as every view names it ('replayed epoch 2 / 5', 'replayed epoch 0
        (before training)'); '' for the latest or training's weights. ``last``: the run's last
        kept epoch."""
        if self.weights != "epoch" or self.epoch is None:
            return ""
        of = f" / {last}" if last is not None else ""
        return f"replayed epoch {self.epoch}" + (" (before training)" if self.epoch == 0 else of)

    def plain(self) -> Source:
        """The same sample (and edit) and weights without interventions."""
        return replace(self, interventions=())

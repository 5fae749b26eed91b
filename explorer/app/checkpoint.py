"""When a training loop saves a checkpoint: the window's autosave and the headless ``train`` share it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class CheckpointPolicy:
    """Save every ``interval`` seconds, and at an epoch's end once ``epoch_min`` seconds have passed
    since the last save (30 s and 5 s by default).

    >>> policy = CheckpointPolicy()
    >>> policy.due(epoch_end=True)      # right after start: too soon
    False
    """

    interval: float = 30.0
    epoch_min: float = 5.0
    clock: object = time.monotonic
    last: float = field(default=None)

    def __post_init__(self):
        if self.last is None:
            self.last = self.clock()

    def due(self, epoch_end: bool = False) -> bool:
        since = self.clock() - self.last
        return since >= self.interval or (epoch_end and since >= self.epoch_min)

    def saved(self) -> None:
        """Call after a save (successful or not): the next one is measured from now."""
        self.last = self.clock()

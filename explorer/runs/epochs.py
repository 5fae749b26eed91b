"""Replay: the weights a run had at the end of each epoch, kept under a size cap (no Qt).

A :class:`~explorer.runs.store.Run` keeps an :class:`EpochWeights`: the state dict after every epoch
(epoch 0 = the weights training started from), so a slider over epochs can show the selected
sample's gates as they were (``run.replay_trace(epoch, sample)``). The run folder stores them in
``epochs.npz`` under the keys ``e{epoch:04d}/{state-dict key}`` (``e0000/weight_ih_l0`` …),
written in the same version switch as every other file.

**Size cap.** Every epoch is kept while all of them together stay under :data:`EPOCHS_CAP_BYTES`
(50 MiB). Past that the epochs are thinned evenly: the stride doubles (every 2nd epoch, every
4th, …; epoch 0 and the latest epoch always stay), and :attr:`EpochWeights.note` says so. A
model whose weights take more than half the cap keeps no epochs (the note says that too).
"""

from __future__ import annotations

import io
import re
import threading

import numpy as np

__all__ = ["EPOCHS_CAP_BYTES", "EpochWeights", "epoch_key", "parse_epoch_arrays"]

#: The most the kept epochs' weights may take together, in memory and in ``epochs.npz``.
EPOCHS_CAP_BYTES = 50 * 2**20

_KEY = re.compile(r"^e(\d{4,9})/(.+)$")


def epoch_key(epoch: int, name: str) -> str:
    """The key of state-dict entry ``name`` of ``epoch`` in ``epochs.npz``: ``e0003/head.bias``."""
    return f"e{int(epoch):04d}/{name}"


def parse_epoch_arrays(arrays: dict) -> dict[int, dict]:
    """``{epoch: state dict}`` from the flat arrays of ``epochs.npz``. Raises ``ValueError``
    (one phrase naming the key) for a key that is not ``e{epoch}/{name}``."""
    out: dict[int, dict] = {}
    for key, a in arrays.items():
        m = _KEY.match(key)
        if m is None:
            raise ValueError(f"holds the key {key!r}, not e<epoch>/<weight>")
        out.setdefault(int(m.group(1)), {})[m.group(2)] = a
    return dict(sorted(out.items()))


def _fmt_bytes(n: float) -> str:
    from explorer.util.ram import format_bytes

    return format_bytes(n)


class EpochWeights:
    """The state dicts of a run's epochs under a size cap (see the module docstring).

    Thread-safe: a training worker adds epochs while the window reads them.
    """

    def __init__(self, cap_bytes: int = EPOCHS_CAP_BYTES):
        self.cap_bytes = int(cap_bytes)
        self.stride = 1                  # epochs kept: multiples of stride, and the latest
        self.seen = 0                    # the highest epoch offered
        self._states: dict[int, dict] = {}
        self._per_epoch = 0              # bytes of one epoch's weights
        self._lock = threading.Lock()
        self._npz: tuple | None = None   # (epochs kept, bytes) of the last archive made

    # -- adding ------------------------------------------------------------------------------
    def add(self, epoch: int, state: dict) -> None:
        """Keep ``state`` (copied) as the weights at the end of ``epoch`` (0: before training)."""
        epoch = int(epoch)
        size = sum(int(np.asarray(a).nbytes) for a in state.values())
        with self._lock:
            self._per_epoch = size
            self.seen = max(self.seen, epoch)
            if self.capacity < 2:
                self._states.clear()
                self._npz = None
                return
            latest = max(self._states) if self._states else None
            self._states[epoch] = {k: np.array(v, copy=True) for k, v in state.items()}
            if latest is not None and latest != epoch and latest % self.stride:
                del self._states[latest]          # the previous latest, not on the stride
            while len(self._states) > self.capacity:
                self.stride *= 2
                newest = max(self._states)
                for e in [e for e in self._states if e % self.stride and e != newest]:
                    del self._states[e]
            self._npz = None

    @property
    def capacity(self) -> int:
        """How many epochs fit under the cap."""
        return self.cap_bytes // max(self._per_epoch, 1)

    # -- reading -------------------------------------------------------------------------------
    def epochs(self) -> list[int]:
        """The epochs kept, ascending."""
        with self._lock:
            return sorted(self._states)

    def get(self, epoch: int) -> dict:
        """A copy of the state dict of ``epoch``; ``KeyError`` (one sentence) if it is not kept."""
        with self._lock:
            state = self._states.get(int(epoch))
            if state is None:
                kept = sorted(self._states)
                raise KeyError(f"the weights of epoch {epoch} are not kept"
                               + (f" (kept: {_ranges(kept)})" if kept else " (no epochs are kept)"))
            return {k: v.copy() for k, v in state.items()}

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(int(a.nbytes) for s in self._states.values() for a in s.values())

    @property
    def note(self) -> str:
        """'' while every epoch is kept; otherwise one sentence saying which are and why."""
        with self._lock:
            kept, per, seen = sorted(self._states), self._per_epoch, self.seen
        cap = _fmt_bytes(self.cap_bytes)
        if seen and not kept and per:
            return (f"Replay keeps no epochs: one epoch's weights take {_fmt_bytes(per)}, too much for the "
                    f"{cap} that all kept epochs may take together.")
        if self.stride > 1:
            return (f"Replay keeps every {self.stride}th epoch and the latest ({len(kept)} of {seen + 1}): the "
                    f"weights of every epoch would take {_fmt_bytes(per * (seen + 1))}, more than the {cap} cap.")
        return ""

    # -- files ---------------------------------------------------------------------------------
    def to_npz_bytes(self) -> bytes:
        """``epochs.npz``: every kept epoch's state dict under ``e{epoch:04d}/{key}``."""
        with self._lock:
            kept = tuple(sorted(self._states))
            if self._npz is not None and self._npz[0] == kept:
                return self._npz[1]
            arrays = {epoch_key(e, k): a for e in kept for k, a in self._states[e].items()}
            buf = io.BytesIO()
            np.savez(buf, **arrays)
            data = buf.getvalue()
            self._npz = (kept, data)
            return data

    def to_config(self) -> dict:
        """What ``config.json`` records about replay (the stride and the cap; the epochs kept)."""
        return {"epochs": self.epochs(), "stride": self.stride, "cap_bytes": self.cap_bytes,
                "seen": self.seen, "note": self.note}

    def load(self, states: dict[int, dict], stride: int = 1, seen: int | None = None) -> None:
        """Replace the kept epochs by ``states`` (from :func:`parse_epoch_arrays`)."""
        with self._lock:
            self._states = {int(e): {k: np.array(v, copy=True) for k, v in s.items()} for e, s in states.items()}
            self.stride = max(1, int(stride))
            self.seen = max([int(seen or 0), *self._states]) if self._states else int(seen or 0)
            if self._states:
                first = next(iter(self._states.values()))
                self._per_epoch = sum(int(a.nbytes) for a in first.values())
            self._npz = None


def _ranges(epochs: list[int]) -> str:
    if len(epochs) <= 6:
        return ", ".join(map(str, epochs))
    return f"{epochs[0]}, {epochs[1]}, {epochs[2]}, …, {epochs[-1]}"

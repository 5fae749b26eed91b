"""Replay: the weights a run had at the end of each epoch, kept under a size cap (no Qt).

A :class:`~explorer.runs.store.Run` keeps an :class:`EpochWeights`: the state dict after every epoch
(epoch 0 = the weights training started from), so a slider over epochs can show the selected
sample's gates as they were (``run.replay_trace(epoch, sample)``).

**Files.** The run folder (format 5) keeps one file per kept epoch, ``epoch-NNNNNN.npz`` (the state
dict under its own keys, as ``model.npz``), written once and never changed: a save hard-links the
files of the epochs the version it continues already holds (writing them anew only where a link
fails; the bytes are a function of the weights alone, so they hash the same) and writes the files
of the epochs added since, so a checkpoint writes the new epochs, not all of them. state.json's
``epoch_files`` lists them and its ``sha256`` block holds their hashes. Folders before format 5
hold every epoch in one ``epochs.npz`` under the keys ``e{epoch:04d}/{state-dict key}``
(:func:`parse_epoch_arrays`); their next save writes the files.

**Size cap.** Every epoch is kept while all of them together stay under :data:`EPOCHS_CAP_BYTES`
(50 MiB). Past that the epochs are thinned evenly: the stride doubles (every 2nd epoch, every
4th, …; epoch 0 and the latest epoch always stay), and :attr:`EpochWeights.note` says so. A
model whose weights take more than half the cap keeps no epochs (the note says that too).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat
import threading
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

__all__ = ["EPOCHS_CAP_BYTES", "EPOCH_NAME", "EpochFile", "EpochWeights", "epoch_bytes", "epoch_file_name",
           "epoch_key", "parse_epoch_arrays"]

#: The most the kept epochs' weights may take together, in memory and in the run folder.
EPOCHS_CAP_BYTES = 50 * 2**20
#: The name of an epoch's file (the epoch, at least six digits).
EPOCH_NAME = re.compile(r"epoch-(\d{6,9})\.npz")

_KEY = re.compile(r"^e(\d{4,9})/(.+)$")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def epoch_file_name(epoch: int) -> str:
    """The file of ``epoch``'s weights: ``epoch-000003.npz``."""
    return f"epoch-{int(epoch):06d}.npz"


def epoch_bytes(state: dict) -> bytes:
    """``state`` as an ``.npz`` (one ``.npy`` member per key, stored) whose bytes depend on the
    arrays alone (fixed member times), so the same weights always hash the same."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, a in state.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(a), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_TIME), member.getvalue())
    return buf.getvalue()


@dataclass(frozen=True)
class EpochFile:
    """One kept epoch's file in a version: its ``name``, SHA-256 and size; ``source`` the folder
    holding it once saved (None before), ``state`` the weights it holds."""

    epoch: int
    name: str
    sha256: str
    size: int
    state: dict
    source: Path | None = None

    def place(self, vdir: Path) -> None:
        """Put the file into the new version ``vdir``: a hard link to the file it was read from or
        last saved as (never following a link; only a regular file of its size), else its bytes
        written anew -- :func:`epoch_bytes` of its weights, or the source file's bytes read without
        following a link, whichever has its SHA-256 (``OSError`` if neither has)."""
        from explorer.runs.folder import link_saved, write_file

        target = Path(vdir) / self.name
        src = self.source / self.name if self.source is not None else None
        if src is not None and link_saved(src, target, self.size):
            return
        data = epoch_bytes(self.state)
        if hashlib.sha256(data).hexdigest() != self.sha256 and src is not None:
            data = _read_no_follow(src, self.size)
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise OSError(errno.EIO, "its saved copy changed since it was read", str(target))
        write_file(target, data)


def _read_no_follow(path: Path, size: int) -> bytes:
    """The bytes of the regular file ``path`` (at most ``size`` + 1), never following a link."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        chunks, left = [], size + 1
        while left > 0:
            b = os.read(fd, min(left, 1 << 22))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        return b"".join(chunks)
    finally:
        os.close(fd)


def epoch_key(epoch: int, name: str) -> str:
    """The key of state-dict entry ``name`` of ``epoch`` in ``epochs.npz``: ``e0003/head.bias``."""
    return f"e{int(epoch):04d}/{name}"


def parse_epoch_arrays(arrays: dict) -> dict[int, dict]:
    """``{epoch: state dict}`` from the flat arrays of an ``epochs.npz`` (before format 5). Raises
    ``ValueError`` (one phrase naming the key) for a key that is not ``e{epoch}/{name}``."""
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
        self._files: dict[int, EpochFile] = {}   # the saved file of each kept epoch

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
                self._files.clear()
                return
            latest = max(self._states) if self._states else None
            old = self._states.get(epoch)
            if old is None or not _same(old, state):
                self._files.pop(epoch, None)
                self._states[epoch] = {k: np.array(v, copy=True) for k, v in state.items()}
            if latest is not None and latest != epoch and latest % self.stride:
                del self._states[latest]          # the previous latest, not on the stride
            while len(self._states) > self.capacity:
                self.stride *= 2
                newest = max(self._states)
                for e in [e for e in self._states if e % self.stride and e != newest]:
                    del self._states[e]
            for e in [e for e in self._files if e not in self._states]:
                del self._files[e]

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
    def plan(self) -> tuple[list[EpochFile], dict[str, bytes]]:
        """The files of the next version, one per kept epoch (ascending), and the bytes of those
        not saved yet (the epochs added since the last save)."""
        with self._lock:
            kept = {e: self._states[e] for e in sorted(self._states)}
            saved = {e: f for e, f in self._files.items() if f.state is kept.get(e)}
        out, files = [], {}
        for e, state in kept.items():
            f = saved.get(e)
            if f is None:
                data = epoch_bytes(state)
                f = EpochFile(e, epoch_file_name(e), hashlib.sha256(data).hexdigest(), len(data), state)
                files[f.name] = data
            out.append(f)
        return out, files

    def saved_at(self, where: Path) -> None:
        """The epochs' files just read are in ``where`` (the version folder they were read from)."""
        with self._lock:
            self._files = {e: replace(f, source=Path(where)) for e, f in self._files.items()}

    def saved(self, files: list[EpochFile], where: Path) -> None:
        """The save of ``files`` is complete: they are in ``where`` (the version's folder). An epoch
        thinned away or replaced meanwhile is left out."""
        with self._lock:
            for f in files:
                if self._states.get(f.epoch) is f.state:
                    self._files[f.epoch] = EpochFile(f.epoch, f.name, f.sha256, f.size, f.state, Path(where))

    def to_config(self) -> dict:
        """What ``config.json`` records about replay (the stride and the cap; the epochs kept)."""
        return {"epochs": self.epochs(), "stride": self.stride, "cap_bytes": self.cap_bytes,
                "seen": self.seen, "note": self.note}

    def load(self, states: dict[int, dict], stride: int = 1, seen: int | None = None,
             files: dict[int, tuple[str, int]] | None = None) -> None:
        """Replace the kept epochs by ``states``; ``files`` are the SHA-256 and size of the epochs'
        files they were read from (placed by :meth:`saved_at`, then linked by the next save)."""
        with self._lock:
            self._states = {int(e): {k: np.array(v, copy=True) for k, v in s.items()} for e, s in states.items()}
            self._files = {int(e): EpochFile(int(e), epoch_file_name(e), digest, int(size), self._states[int(e)])
                           for e, (digest, size) in (files or {}).items()}
            self.stride = max(1, int(stride))
            self.seen = max([int(seen or 0), *self._states]) if self._states else int(seen or 0)
            if self._states:
                first = next(iter(self._states.values()))
                self._per_epoch = sum(int(a.nbytes) for a in first.values())


def _same(a: dict, b: dict) -> bool:
    """Whether two state dicts hold the same arrays (keys, dtypes, values)."""
    return a.keys() == b.keys() and all(
        np.asarray(b[k]).dtype == a[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def _ranges(epochs: list[int]) -> str:
    if len(epochs) <= 6:
        return ", ".join(map(str, epochs))
    return f"{epochs[0]}, {epochs[1]}, {epochs[2]}, …, {epochs[-1]}"

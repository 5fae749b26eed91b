"""The per-step history of a run: chunk files a save appends to, thinned beyond what a plot draws.

A row is one training step: ``step, epoch, loss, grad_norm, clipped`` and one ``norm_<gate>`` per
block of the cell (and the head) -- every number once. Rows live in *chunks*, each a NumPy ``.npy``
file of one structured array (``steps-NNNNNN.npy``, run folder format 4). A chunk is written once and
never changed: a save hard-links the chunks of the version it continues into the new version
(copying them only where links fail) and writes one new chunk with the steps trained since, so a
checkpoint writes what is new, not the whole history. state.json lists the chunks a version owns
(name, first and last step, rows, bucket width) and their SHA-256, so a kill at any moment leaves
the previous version whole and a partial chunk is never read.

The last :data:`RECENT` steps (and every step of the epoch under way) are kept exactly. Older steps
are *thinned* at the bucket width the gradient-norm plot uses for the run's length
(:func:`plot_width`: buckets of a power of two steps, aligned at step 1, as
:class:`explorer.figures.extremes.PeakIndex` draws them): per bucket its first step, the steps of
each series' smallest and largest value (loss, global and per-gate norm; zeros and non-finite values
are never extremes), the clipped step of largest norm, every epoch's first step and the last one.
The plot's width only grows with the steps, so what it draws from a thinned history is what it drew
from every step. Thinned and exact chunks are merged when there are more than :data:`MAX_CHUNKS` of
either, so what a run keeps and reads on opening stays bounded (a thinned chunk holds at most
:data:`MOST` buckets). No Qt here.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from explorer.util.groups import first_extreme as _first_extreme

__all__ = ["CHUNK_NAME", "MAX_CHUNKS", "MOST", "RECENT", "Chunk", "StepHistory", "plot_width", "row_dtype", "thin"]

#: Steps kept exactly at the end of the history (besides the epoch under way).
RECENT = 16_384
#: Buckets the gradient-norm plot draws at most (:class:`explorer.figures.extremes.PeakIndex`).
MOST = 2048
#: Thinned (or exact) chunks beyond which they are merged into one.
MAX_CHUNKS = 8
#: The name of a chunk file.
CHUNK_NAME = re.compile(r"steps-(\d{6})\.npy")
_BASE = (("step", "<i8"), ("epoch", "<i8"), ("loss", "<f8"), ("grad_norm", "<f8"), ("clipped", "?"))


def row_dtype(gates) -> np.dtype:
    """The structured dtype of a row of a cell with these gate names."""
    return np.dtype(list(_BASE) + [(f"norm_{g}", "<f8") for g in gates])


def plot_width(n_steps: int, most: int = MOST) -> int:
    """The bucket width (a power of two) at which a plot of ``most`` buckets draws ``n_steps``."""
    w = 1
    while n_steps // w > most:
        w *= 2
    return w


def series_names(dtype: np.dtype) -> list[str]:
    """The columns drawn as curves (their extremes are kept): loss, grad_norm, every gate's norm."""
    return [n for n in dtype.names if n in ("loss", "grad_norm") or n.startswith("norm_")]


def thin(rows: np.ndarray, width: int) -> np.ndarray:
    """The rows of ``rows`` (consecutive in step order) that a plot of buckets of ``width`` steps
    (aligned at step 1) needs: per bucket the first row, each series' first smallest and largest
    positive finite value, the clipped row of largest global norm; every epoch's first row; the
    last row."""
    if len(rows) == 0:
        return rows
    bucket = (rows["step"] - 1) // int(width)
    starts = np.flatnonzero(np.concatenate([[True], bucket[1:] != bucket[:-1]]))
    keep = np.zeros(len(rows), dtype=bool)
    keep[starts] = True
    keep[-1] = True                                     # the last step: a chunk says which steps it covers
    for name in series_names(rows.dtype):
        v = rows[name]
        good = np.isfinite(v) & (v > 0)
        keep[_first_extreme(np.where(good, v, np.inf), starts, np.minimum)] = True
        keep[_first_extreme(np.where(good, v, -np.inf), starts, np.maximum)] = True
    clipped = rows["clipped"]
    if clipped.any():
        g = rows["grad_norm"]
        idx = _first_extreme(np.where(clipped & np.isfinite(g), g, -np.inf), starts, np.maximum)
        keep[idx[clipped[idx]]] = True
    keep[1:] |= rows["epoch"][1:] != rows["epoch"][:-1]
    return rows[keep]


@dataclass
class Chunk:
    """Consecutive rows of the history: every step (``width`` 1) or thinned at ``width``; ``name``
    is its file once saved (None before), ``source`` the folder holding that file."""

    rows: np.ndarray
    width: int = 1
    name: str | None = None
    sha256: str | None = None
    size: int = 0
    source: Path | None = None

    @property
    def first(self) -> int:
        return int(self.rows["step"][0])

    @property
    def last(self) -> int:
        return int(self.rows["step"][-1])

    def data(self) -> bytes:
        buf = io.BytesIO()
        np.save(buf, self.rows, allow_pickle=False)
        return buf.getvalue()

    def record(self) -> dict:
        return {"name": self.name, "first": self.first, "last": self.last, "rows": int(len(self.rows)),
                "width": int(self.width)}


class StepHistory:
    """A run's per-step history as chunks (thinned ones first, then exact ones), of one cell's gates.

    :meth:`plan` turns it and the steps trained since the last save into the chunks of the next
    version (new chunks unnamed), :meth:`named` gives the new ones names and bytes, and after the
    save :meth:`saved` makes that plan the history. Nothing changes when a save fails.
    """

    def __init__(self, gates, chunks=(), recent: int = RECENT, most: int = MOST):
        self.gates = tuple(gates)
        self.dtype = row_dtype(self.gates)
        self.chunks: list[Chunk] = list(chunks)
        self.recent, self.most = int(recent), int(most)

    @property
    def last_step(self) -> int:
        return self.chunks[-1].last if self.chunks else 0

    def __len__(self) -> int:
        """Rows held (not steps: thinned chunks hold fewer rows than steps)."""
        return sum(len(c.rows) for c in self.chunks)

    # -- rows in and out ---------------------------------------------------------------------
    def continues(self, table: dict) -> bool:
        """Whether a step table (``Trainer.step_table()`` columns) goes on from this history: it
        holds the history's last step with the same loss, or starts right after it."""
        if not self.chunks or not len(table["step"]):
            return True
        steps = np.asarray(table["step"], dtype=np.int64)
        last = self.chunks[-1].rows[-1]
        i = int(np.searchsorted(steps, self.last_step))
        if i < len(steps) and steps[i] == self.last_step:
            return float(table["loss"][i]) == float(last["loss"]) and int(table["epoch"][i]) == int(last["epoch"])
        return i == 0 and steps[0] == self.last_step + 1

    def rows_of(self, table: dict) -> np.ndarray:
        """The rows of a step table (``Trainer.step_table()`` columns) after :attr:`last_step`."""
        steps = np.asarray(table["step"], dtype=np.int64)
        start = int(np.searchsorted(steps, self.last_step, side="right"))
        out = np.empty(len(steps) - start, dtype=self.dtype)
        for name in self.dtype.names:
            out[name] = np.asarray(table[name])[start:]
        return out

    def rows(self, extra: np.ndarray | None = None) -> np.ndarray:
        """Every row held, then ``extra``, in step order."""
        parts = [c.rows for c in self.chunks] + ([extra] if extra is not None and len(extra) else [])
        return np.concatenate(parts) if parts else np.empty(0, dtype=self.dtype)

    @staticmethod
    def columns(rows: np.ndarray) -> dict:
        """A step table (dict of 1-D arrays) of structured rows."""
        return {name: np.ascontiguousarray(rows[name]) for name in rows.dtype.names}

    def exact_tail(self) -> np.ndarray:
        """The rows of the trailing exact chunks (every step of them)."""
        tail = []
        for c in reversed(self.chunks):
            if c.width != 1:
                break
            tail.append(c.rows)
        return np.concatenate(tail[::-1]) if tail else np.empty(0, dtype=self.dtype)

    def absorb(self, rows: np.ndarray, epoch_rows: int = 0) -> None:
        """Take ``rows`` (a whole history read from an older run folder) as unsaved chunks, thinned
        as a save would thin them."""
        self.chunks = self.plan(rows, epoch_rows)

    # -- saving --------------------------------------------------------------------------------
    def plan(self, new: np.ndarray, epoch_rows: int = 0) -> list[Chunk]:
        """The chunks of the next version: these, ``new`` rows as a new exact chunk, the exact rows
        before the last ``max(RECENT, epoch_rows, steps / 1024)`` thinned once they are twice that
        many, and more than :data:`MAX_CHUNKS` thinned or exact chunks merged."""
        chunks = list(self.chunks)
        if len(new):
            chunks.append(Chunk(np.array(new, dtype=self.dtype)))
        if not chunks:
            return chunks
        n = chunks[-1].last
        keep = max(self.recent, int(epoch_rows), n // 1024)
        thinned = [c for c in chunks if c.width != 1]
        exact = [c for c in chunks if c.width == 1]
        if sum(len(c.rows) for c in exact) > 2 * keep:
            cutoff = n - keep
            old, rest = [], []
            for c in exact:
                if c.last <= cutoff:
                    old.append(c.rows)
                elif c.first <= cutoff:
                    cut = int(np.searchsorted(c.rows["step"], cutoff, side="right"))
                    old.append(c.rows[:cut])
                    rest.append(Chunk(c.rows[cut:]))
                else:
                    rest.append(c)
            w = plot_width(n, self.most)
            thinned.append(Chunk(thin(np.concatenate(old), w), w))
            exact = rest
        if len(thinned) > MAX_CHUNKS:
            w = plot_width(n, self.most)
            thinned = [Chunk(thin(np.concatenate([c.rows for c in thinned]), w), w)]
        if len(exact) > MAX_CHUNKS:
            exact = [Chunk(np.concatenate([c.rows for c in exact]))]
        return thinned + exact

    def named(self, chunks: list[Chunk]) -> tuple[list[Chunk], dict[str, bytes]]:
        """``chunks`` with every unsaved one named (numbers after every name used) and hashed, and
        the bytes of those new files."""
        used = [int(m.group(1)) for c in self.chunks + chunks if c.name and (m := CHUNK_NAME.fullmatch(c.name))]
        seq = max(used, default=0)
        out, files = [], {}
        for c in chunks:
            if c.name is None:
                seq += 1
                data = c.data()
                c = replace(c, name=f"steps-{seq:06d}.npy", sha256=hashlib.sha256(data).hexdigest(), size=len(data))
                files[c.name] = data
            out.append(c)
        return out, files

    def saved(self, chunks: list[Chunk], where: Path) -> None:
        """The save of ``chunks`` is complete: their files are in ``where`` (the version's folder)."""
        self.chunks = [replace(c, source=Path(where)) for c in chunks]


def place_chunk(chunk: Chunk, vdir: Path) -> None:
    """Put a saved chunk's file into the new version ``vdir``: a hard link to the file it was read
    from or last saved as (never following a link; only a regular file of the expected size), else
    its bytes written anew."""
    from explorer.runs.folder import link_saved, write_file

    target = Path(vdir) / chunk.name
    if chunk.source is not None and link_saved(chunk.source / chunk.name, target, chunk.size):
        return
    write_file(target, chunk.data())

"""Which points of a long, growing series a plot needs to draw: per bucket of consecutive points
the smallest and the largest, kept as points arrive, at most ``most`` buckets (two neighbours
merge and the buckets double in width when there would be more), the first point and the last,
partial bucket whole. A plot redrawn after every update then costs in proportion to ``most``, not to the steps
so far; every minimum and maximum stays visible (as pyqtgraph's peak downsampling draws them).

Buckets are of consecutive indices, or -- given the points' positions ``x`` (the steps) -- of
consecutive positions from the first point's: a series that keeps only some points of an older
stretch (a thinned run history, :mod:`explorer.runs.steplog`) is then drawn as its every point was,
as long as what it kept holds each finer bucket's first point and extremes."""

from __future__ import annotations

import numpy as np

from explorer.util.groups import first_extreme as _first_extreme

__all__ = ["PeakIndex", "ValueScan"]


class PeakIndex:
    """The indices to draw of a series held elsewhere (its values are passed to :meth:`update`);
    ``of`` maps values to what is drawn (NaN: not drawn), applied only to the points it reads."""

    def __init__(self, most: int = 2048, of=None):
        self.most = most
        self.of = of if of is not None else np.asarray
        self.width = 1                                  # positions per bucket
        self.lo = np.zeros(0, np.int64)                 # per whole bucket with points: the index of its minimum
        self.hi = np.zeros(0, np.int64)                 # and of its maximum
        self.bucket = np.zeros(0, np.int64)             # and its number
        self.buckets = 0                                # whole buckets (by position)
        self.done = 0                                   # points in whole buckets

    def clear(self) -> None:
        self.__init__(self.most, self.of)

    @staticmethod
    def _pos(x, i0: int, i1: int) -> np.ndarray:
        if x is None:
            return np.arange(i0, i1, dtype=np.int64)
        return np.asarray(x[i0:i1], dtype=np.int64) - int(x[0])

    def _extremes(self, values, idx: np.ndarray, groups: np.ndarray):
        """Per run of equal ``groups`` among the points ``idx``: (first index, min index, max index)."""
        starts = np.flatnonzero(np.concatenate([[True], groups[1:] != groups[:-1]]))
        v = self.of(values[idx])
        finite = np.isfinite(v)
        lo = idx[_first_extreme(np.where(finite, v, np.inf), starts, np.minimum)]
        hi = idx[_first_extreme(np.where(finite, v, -np.inf), starts, np.maximum)]
        return starts, lo, hi

    def update(self, values: np.ndarray, x=None) -> None:
        """Take the points of ``values`` (the whole series so far: NaN never an extreme) not yet
        in a whole bucket; ``x`` their positions (rising whole numbers), else their indices."""
        n = len(values)
        if n == 0:
            return
        end_pos = int(self._pos(x, n - 1, n)[0] + 1)
        if self.buckets == 0:                   # nothing bucketed yet: start at the width merging would reach
            while end_pos // self.width > self.most:
                self.width *= 2
        w = self.width
        whole = end_pos // w
        if whole > self.buckets:
            pos = self._pos(x, self.done, n)
            end = self.done + int(np.searchsorted(pos, whole * w))
            if end > self.done:
                idx = np.arange(self.done, end)
                b = pos[:end - self.done] // w
                starts, lo, hi = self._extremes(values, idx, b)
                self.lo = np.concatenate([self.lo, lo])
                self.hi = np.concatenate([self.hi, hi])
                self.bucket = np.concatenate([self.bucket, b[starts]])
            self.done, self.buckets = end, whole
        while self.buckets > self.most:
            self._merge(values, x)

    def _merge(self, values: np.ndarray, x) -> None:
        """Neighbouring buckets into one (an odd last bucket's points go back to the tail)."""
        self.width *= 2
        self.buckets //= 2
        inside = self.bucket // 2 < self.buckets
        lo, hi, b = self.lo[inside], self.hi[inside], self.bucket[inside] // 2
        if len(b):
            starts = np.flatnonzero(np.concatenate([[True], b[1:] != b[:-1]]))
            vlo, vhi = self.of(values[lo]), self.of(values[hi])
            lo = lo[_first_extreme(np.where(np.isfinite(vlo), vlo, np.inf), starts, np.minimum)]
            hi = hi[_first_extreme(np.where(np.isfinite(vhi), vhi, -np.inf), starts, np.maximum)]
            b = b[starts]
        self.lo, self.hi, self.bucket = lo, hi, b
        end = self.buckets * self.width
        if x is None:
            self.done = end
        else:
            self.done = int(np.searchsorted(np.asarray(x[:self.done], dtype=np.int64) - int(x[0]), end))

    #: A partial bucket longer than this is drawn as the extremes of as many sub-buckets.
    TAIL = 256

    def indices(self, n: int, values: np.ndarray | None = None) -> np.ndarray:
        """The sorted indices to draw of a series of ``n`` points (after :meth:`update`): the first
        point, every bucket's extremes, the partial bucket — whole, or with ``values`` (those given
        to :meth:`update`) past :attr:`TAIL` points the extremes of at most :attr:`TAIL` sub-buckets
        and their remainder, so at most about 2 × (``most`` + TAIL) indices however long the series."""
        kept = np.sort(np.concatenate([np.zeros(min(n, 1), np.int64), self.lo, self.hi]))
        kept = kept[np.concatenate([kept[:1] == kept[:1], kept[1:] != kept[:-1]])]      # each index once
        start = max(self.done, 1)
        tail = np.arange(start, n)
        if values is not None and len(tail) > self.TAIL:
            w = -(-len(tail) // self.TAIL)                  # sub-bucket width
            k = len(tail) // w
            idx = tail[:k * w]
            _, lo, hi = self._extremes(values, idx, (idx - start) // w)
            tail = np.concatenate([np.unique(np.concatenate([lo, hi])), tail[k * w:]])
        return np.concatenate([kept, tail])


class ValueScan:
    """What a plot says when it has nothing to draw (:meth:`explorer.figures.panel.PlotPanelWidget.nothing_to_draw`),
    kept as values arrive: how many values, how many finite, whether a finite one is not 0. Each
    value is read once, so asking costs nothing however long the series.

    >>> scan = ValueScan()
    >>> scan.update([0.0, 0.0]); scan.reason()
    'every value is 0'
    >>> scan.update([float("nan")]); scan.reason()
    ''
    """

    def __init__(self):
        self.n = 0
        self.finite = 0
        self.nonzero = False

    def update(self, values) -> None:
        v = np.asarray(values, dtype=float).ravel()
        ok = np.isfinite(v)
        self.n += v.size
        self.finite += int(ok.sum())
        self.nonzero = self.nonzero or bool(v[ok].any())

    def reason(self) -> str:
        """"every value is infinite or not a number", "every value is 0", or "" (something to draw)."""
        if not self.n:
            return ""
        if not self.finite:
            return "every value is infinite or not a number"
        if self.finite == self.n and not self.nonzero:
            return "every value is 0"
        return ""

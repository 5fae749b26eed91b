"""Which points of a long, growing series a plot needs to draw: per bucket of consecutive points
the smallest and the largest, kept as points arrive, at most ``most`` buckets (two neighbours
merge and the buckets double in width when there would be more), the first point and the last,
partial bucket whole. A plot redrawn after every update then costs in proportion to ``most``, not to the steps
so far; every minimum and maximum stays visible (as pyqtgraph's peak downsampling draws them)."""

from __future__ import annotations

import numpy as np

__all__ = ["PeakIndex", "ValueScan"]


class PeakIndex:
    """The indices to draw of a series held elsewhere (its values are passed to :meth:`update`);
    ``of`` maps values to what is drawn (NaN: not drawn), applied only to the points it reads."""

    def __init__(self, most: int = 2048, of=None):
        self.most = most
        self.of = of if of is not None else np.asarray
        self.width = 1                                  # points per bucket
        self.lo = np.zeros(0, np.int64)                 # per whole bucket: the index of its minimum
        self.hi = np.zeros(0, np.int64)                 # and of its maximum
        self.done = 0                                   # points in whole buckets

    def clear(self) -> None:
        self.__init__(self.most, self.of)

    def update(self, values: np.ndarray) -> None:
        """Take the points of ``values`` (the whole series so far: NaN never an extreme) not yet
        in a whole bucket."""
        n = len(values)
        w = self.width
        k = (n - self.done) // w
        if k > 0:
            lo, hi = self._extremes(values, self.done, k, w)
            self.lo = np.concatenate([self.lo, lo])
            self.hi = np.concatenate([self.hi, hi])
            self.done += k * w
        while len(self.lo) > self.most:
            self._merge(values)

    def _extremes(self, values: np.ndarray, start: int, k: int, w: int) -> tuple:
        """The indices of the smallest and the largest (NaN never) of each of ``k`` buckets of ``w``
        points from ``start``."""
        chunk = self.of(values[start:start + k * w]).reshape(k, w)
        finite = np.isfinite(chunk)
        base = start + np.arange(k) * w
        return (base + np.argmin(np.where(finite, chunk, np.inf), axis=1),
                base + np.argmax(np.where(finite, chunk, -np.inf), axis=1))

    def _merge(self, values: np.ndarray) -> None:
        """Neighbouring buckets into one (an odd last bucket's points go back to the tail)."""
        m = len(self.lo) // 2 * 2
        lo, hi = self.lo[:m].reshape(-1, 2), self.hi[:m].reshape(-1, 2)
        vlo, vhi = self.of(values[lo]), self.of(values[hi])
        vlo = np.where(np.isfinite(vlo), vlo, np.inf)
        vhi = np.where(np.isfinite(vhi), vhi, -np.inf)
        rows = np.arange(len(lo))
        self.lo = lo[rows, np.argmin(vlo, axis=1)]
        self.hi = hi[rows, np.argmax(vhi, axis=1)]
        self.width *= 2
        self.done = len(self.lo) * self.width

    #: A partial bucket longer than this is drawn as the extremes of as many sub-buckets.
    TAIL = 256

    def indices(self, n: int, values: np.ndarray | None = None) -> np.ndarray:
        """The sorted indices to draw of a series of ``n`` points (after :meth:`update`): the first
        point, every bucket's extremes, the partial bucket — whole, or with ``values`` (those given
        to :meth:`update`) past :attr:`TAIL` points the extremes of at most :attr:`TAIL` sub-buckets
        and their remainder, so at most about 2 × (``most`` + TAIL) indices however long the series."""
        kept = np.sort(np.stack([self.lo, self.hi], axis=1), axis=1).ravel()
        first = np.zeros(min(n, 1), np.int64)
        start = max(self.done, 1)
        tail = np.arange(start, n)
        if values is not None and len(tail) > self.TAIL:
            w = -(-len(tail) // self.TAIL)                  # sub-bucket width
            k = len(tail) // w
            lo, hi = self._extremes(values, start, k, w)
            tail = np.concatenate([np.unique(np.concatenate([lo, hi])), tail[k * w:]])
        return np.concatenate([np.unique(np.concatenate([first, kept])), tail])


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

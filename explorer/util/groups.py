"""Per-group reductions of a 1-D array cut into consecutive groups (no Qt, NumPy only)."""

from __future__ import annotations

import numpy as np

__all__ = ["first_extreme"]


def first_extreme(v: np.ndarray, starts: np.ndarray, ufunc) -> np.ndarray:
    """Per group (``starts``: each group's first index, rising, the first 0) the index of its first
    smallest (``np.minimum``) or largest (``np.maximum``) value; ``v`` must hold no NaN (give
    ``±inf`` for points that are never an extreme: a group of only those yields its first index)."""
    ext = ufunc.reduceat(v, starts)
    counts = np.diff(np.append(starts, len(v)))
    idx = np.where(v == np.repeat(ext, counts), np.arange(len(v)), len(v))
    return np.minimum.reduceat(idx, starts)

"""Losses on the head's outputs, with their gradient.

``y`` is (T, B, k) time-major. Targets (batch-major, as the public API takes them):

- ``"mse"``: (B, T, k) for a loss on every step, or (B, k) for the last step only; mean over
  all entries.
- ``"cross_entropy"``: integer classes (B, T) for every step, or (B,) for the last step;
  softmax over the k outputs, mean over the entries.
"""

from __future__ import annotations

import numpy as np

LOSSES = ("mse", "cross_entropy")


def target_is_last_only(loss: str, target: np.ndarray, T: int) -> bool:
    """True when ``target`` addresses only the last step (and check its shape)."""
    if loss == "mse":
        if target.ndim == 2:
            return True
        if target.ndim == 3 and target.shape[1] == T:
            return False
        raise ValueError(f"mse target must be (batch, T, k) or (batch, k); got {target.shape}")
    if loss == "cross_entropy":
        if target.ndim == 1:
            return True
        if target.ndim == 2 and target.shape[1] == T:
            return False
        raise ValueError(f"cross_entropy target must be (batch, T) or (batch,); got {target.shape}")
    raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")


def loss_and_dy(loss: str, y: np.ndarray, target: np.ndarray, last_only: bool):
    """Return ``(loss, dy)``: the mean loss and dL/dy.

    ``y`` is (B, k) when ``last_only`` else (T, B, k); ``target`` already time-major
    to match ((T, B, k)/(B, k) for mse, (T, B)/(B,) for cross entropy).
    """
    if loss == "mse":
        diff = y - target
        value = float(np.mean(diff * diff))
        diff *= 2.0 / diff.size
        return value, diff
    # cross entropy: softmax over the last axis, stable, in one buffer (the logits can be
    # (T, B, vocabulary) large: no second copy of them)
    cls = target.astype(np.intp)
    k = y.shape[-1]
    if cls.size and (cls.min() < 0 or cls.max() >= k):
        raise ValueError(f"class targets must lie in 0..{k - 1}")
    p = y - y.max(axis=-1, keepdims=True)                                 # shifted logits
    true = np.take_along_axis(p, cls[..., None], axis=-1)[..., 0]
    np.exp(p, out=p)
    total = p.sum(axis=-1, keepdims=True)
    count = cls.size
    value = float(-(true - np.log(total[..., 0])).sum() / count)
    p /= total                                                            # softmax
    np.put_along_axis(p, cls[..., None], np.take_along_axis(p, cls[..., None], axis=-1) - 1.0, axis=-1)
    p /= count
    return value, p


def softmax(y: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (numerically stable)."""
    e = np.exp(y - y.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)

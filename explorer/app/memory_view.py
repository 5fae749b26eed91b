"""Memory made visible: how much of what a unit wrote onto its belt is still kept (no Qt).

A cell with a belt keeps a share of its previous state at every step and adds what it writes:

    LSTM, peephole:  c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t        the keep gate is f
    GRU:             h_t = z_t ⊙ h_{t−1} + (1 − z_t) ⊙ g_t  the keep gate is z
    RNN:             no belt (h_t = tanh(W x_t + U h_{t−1} + b) squashes everything): nothing here

(the keep gate is the cell description's ``keep_gate``, :mod:`explorer.engine.describe`). So of
what unit j wrote at step t0, the share ∏_{s=t0+1..t} keep_s[j] is still on the belt at
step t (what the gates let through; what later writes add is not counted). Everything here is
that product over a trace of one sample, computed with ``cumprod`` (exact, also where a gate is 0):

- :func:`memory_products` — P (T, n): P[t, j] = ∏_{s=t0+1..t} keep_s[j] for t ≥ t0 (1 at t0 itself,
  NaN before it: nothing written yet) from a write step t0 (``since``); by default from the
  initial state (``since=None``): P[t, j] = ∏_{s≤t} keep_s[j], the share of c0 still kept at t.
- :func:`memory_to_end` — R (T, n): R[t, j] = ∏_{s=t+1..T−1} keep_s[j], the share of what unit j
  wrote at step t that reaches the last step (R[T−1] = 1): the heatmap of how long each unit
  keeps what it wrote, every write step at once.
- :func:`memory_spans` — (n,): S[j] = Σ_t R[t, j], in steps: how many of the last steps' writes
  unit j still holds whole at the end (a constant keep a gives (1 − a^T)/(1 − a) ≈ 1/(1 − a), its
  time constant; 1 when it forgets everything at once, T when it keeps everything).
- :func:`memory_unit` — the unit that carries the most memory: the largest span (averaged over
  the trace's samples by default). On the adding problem it is the unit that holds the first
  marked value until the end (``tests/test_memory_view.py``).

Indices are 0-based array indices (the person's step t + 1). A reverse-direction trace
(``trace.layer(k, 1)``) keeps along its own order, from T−1 down to 0: "after" means earlier there,
and the arrays stay in the original time order. Layer 0, forward direction is what
``trace.f`` gives; pass ``trace.layer(k, d)`` for another.
"""

from __future__ import annotations

import numpy as np

from explorer.engine.describe import describe

__all__ = ["keep_gate", "keep_values", "memory_products", "memory_spans", "memory_title", "memory_to_end",
           "memory_unit"]


def keep_gate(kind: str) -> str | None:
    """The trace field of the keep gate of ``kind`` ("f" for the LSTMs, "z" for the GRU), None for
    a cell without a belt (the RNN): the cell description's ``keep_gate``."""
    return describe(kind).keep_gate


def keep_values(trace, sample: int | None = 0) -> np.ndarray | None:
    """The keep gate of ``trace`` as (T, n) for one ``sample`` or (B, T, n) for ``sample=None``, in
    the belt's own order (reversed in time for a reverse direction); None without a belt."""
    name = keep_gate(trace.kind)
    if name is None:
        return None
    k = np.asarray(getattr(trace, name), dtype=float)
    if sample is not None:
        k = k[int(sample)]
    return k[..., ::-1, :] if getattr(trace, "direction", 0) == 1 else k


def _original_order(a: np.ndarray, trace) -> np.ndarray:
    return np.ascontiguousarray(a[..., ::-1, :]) if getattr(trace, "direction", 0) == 1 else a


def memory_products(trace, since: int | None = None, sample: int = 0) -> np.ndarray | None:
    """P (T, n): the share of what each unit wrote at step ``since`` still kept at every step t
    (1 at ``since``, NaN before it); ``since=None``: of the initial state, from the first step.
    None for a cell without a belt. See the module docstring."""
    keep = keep_values(trace, sample)
    if keep is None:
        return None
    T = keep.shape[0]
    out = np.full(keep.shape, np.nan)
    if since is None:
        out[:] = np.cumprod(keep, axis=0)
    else:
        t0 = int(since)
        if not -T <= t0 < T:
            raise IndexError(f"no step {t0} in a trace of {T} steps")
        t0 %= T
        if getattr(trace, "direction", 0) == 1:
            t0 = T - 1 - t0                           # the same step in the belt's own order
        out[t0] = 1.0
        out[t0 + 1:] = np.cumprod(keep[t0 + 1:], axis=0)
    return _original_order(out, trace)


def memory_title(kind: str, short: bool = False) -> str | None:
    """What "Memory" means in every window: the title of the heatmap of :func:`memory_to_end`
    (``short``: the first half alone, for narrow panels); None for a cell without a belt."""
    gate = keep_gate(kind)
    if gate is None:
        return None
    head = f"Memory kept: \u220f {gate}\u209b, s > t"
    return head if short else f"{head} (of what each unit wrote at step t, the share still on the belt at the last step)"


def memory_to_end(trace, sample: int | None = 0) -> np.ndarray | None:
    """R (T, n) (or (B, T, n) for ``sample=None``): the share of what each unit wrote at step t
    that is still on the belt at the last step. None for a cell without a belt."""
    keep = keep_values(trace, sample)
    if keep is None:
        return None
    out = np.ones(keep.shape)
    # R[t] = keep[t+1] · keep[t+2] ⋯ keep[T−1]: a product from the end, shifted by one step
    tail = np.cumprod(keep[..., :0:-1, :], axis=-2)[..., ::-1, :]
    out[..., :-1, :] = tail
    return _original_order(out, trace)


def memory_spans(trace, sample: int | None = None) -> np.ndarray | None:
    """(n,): each unit's memory span in steps, Σ_t R[t, j] (mean over the samples for
    ``sample=None``). None for a cell without a belt."""
    r = memory_to_end(trace, sample)
    if r is None:
        return None
    spans = r.sum(axis=-2)
    return spans.mean(axis=0) if spans.ndim == 2 else spans


def memory_unit(trace, sample: int | None = None) -> int | None:
    """The unit that carries the most memory: the largest :func:`memory_spans` (over every sample
    of the trace, or one). None for a cell without a belt."""
    spans = memory_spans(trace, sample)
    return None if spans is None else int(np.argmax(spans))

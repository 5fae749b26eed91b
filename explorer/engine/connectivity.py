"""Connectivity: how strongly the output at step t depends on the input at every step s.

Distill's "Memorization in RNNs" measures it as the norm of the Jacobian ‖∂h_t/∂x_s‖. For a
model with top-layer output h_t (D·n values: both directions of the top layer) and inputs x_s
(m values) the Jacobian J_s = ∂h_t/∂x_s is (D·n, m); its Frobenius norm is

    ‖J_s‖_F = sqrt( Σ_j ‖∂h_t[j]/∂x_s‖² ),

so one backward pass per output unit j (dL/dh_t = e_j, dL/dh_τ = 0 for τ ≠ t) gives row j of
every J_s at once. The passes run together: the batch is repeated once per unit, so the whole
Jacobian costs one forward and one backward pass over a batch D·n times larger (in chunks that
keep the memory within what one pass of :data:`CHUNK_ROWS` sequences needs). ``of="y"`` uses the
head's outputs y_t = V h_t + d instead (dL/dh_t = V[:, j] for output j).

Token ids are treated as one-hot inputs: ∂h_t/∂x_s is then the derivative with respect to the
one-hot vector (what the embedding row contributes), computed on the same one-hot floats.
"""

from __future__ import annotations

import numpy as np

from .cells import is_tokens
from .interventions import resolve

CHUNK_ROWS = 4096
"""Most sequences (batch × output units) one backward pass of the connectivity runs at once."""


def connectivity(model, x, t: int, of: str = "h", h0=None, c0=None, interventions=None,
                 per_unit: bool = False) -> np.ndarray:
    """‖∂h_t/∂x_s‖_F for every sample and every step s: a (B, T) array.

    Parameters
    ----------
    model : RecurrentModel
        Any cell kind, depth and direction.
    x : array (B, T, m) floats, or (B, T) token ids (treated as one-hot inputs)
    t : int
        A 0-based index into the time axis (negative counts from the end).
    of : "h" or "y"
        The top layer's output h_t (both directions) or the head's output y_t.

    Entries are exactly 0 wherever h_t does not depend on x_s (s > t for a forward-only model).
    With ``per_unit`` the result is (B, J, T): ‖∂h_t[j]/∂x_s‖ for every output unit j (D·n of
    them for ``of="h"``, k for ``of="y"``); the (B, T) array is its root sum of squares over j.
    """
    if of not in ("h", "y"):
        raise ValueError(f"of must be 'h' or 'y'; got {of!r}")
    if is_tokens(x):
        ids = np.asarray(x)
        if ids.ndim != 2:
            raise ValueError(f"token ids must be (batch, T); got {ids.shape}")
        x = np.zeros(ids.shape + (model.n_inputs,), model.dtype)
        np.put_along_axis(x, ids[..., None].astype(np.intp), 1.0, axis=2)
    x = np.asarray(x, model.dtype)
    if x.ndim != 3:
        raise ValueError(f"x must be (batch, T, m); got {x.shape}")
    B, T, _ = x.shape
    if not -T <= int(t) < T:
        raise ValueError(f"t must lie in 0..{T - 1}; got {t}")
    t = int(t) % T
    x, h0, c0 = model._prepare(x, h0, c0)
    params, clamps = resolve(model, interventions, T)
    params = model.params if params is None else params
    Dn = model.num_directions * model.n_units
    if of == "h":
        seeds = np.eye(Dn, dtype=model.dtype)                      # row j: dL/dh_t = e_j
    else:
        V, _ = model._head_params(params)                          # (D·n, k)
        seeds = np.ascontiguousarray(V.T)                          # row j: dL/dh_t = V[:, j]
    J = seeds.shape[0]
    sq = np.zeros((B, J, T), model.dtype)
    per = max(1, CHUNK_ROWS // max(1, J))                          # samples per chunk
    scratch = np.zeros_like(model.params)
    for b0 in range(0, B, per):
        b1 = min(B, b0 + per)
        nb = b1 - b0
        xr = np.repeat(x[b0:b1], J, axis=0)                        # (nb·J, T, m), sample-major
        h0r = np.repeat(h0[:, b0:b1], J, axis=1)
        c0r = np.repeat(c0[:, b0:b1], J, axis=1)
        run = model._run(xr, h0r, c0r, params=params, clamps=clamps, head=False)
        dTop = np.zeros((T, nb * J, Dn), model.dtype)
        dTop[t] = np.tile(seeds, (nb, 1))
        dx, _, _, _ = model._backward(run, dTop, params, scratch, True, None)   # (T, nb·J, m)
        d2 = np.einsum("tjm,tjm->jt", dx, dx)                      # (nb·J, T)
        sq[b0:b1] = d2.reshape(nb, J, T)
    return np.sqrt(sq) if per_unit else np.sqrt(sq.sum(axis=1))

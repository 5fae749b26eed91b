"""What the units do: select and match (LSTMVis) and the unit finder, Qt-free.

Activations are one quantity (h, c or a gate) of one layer and direction over the samples of a
dataset: an array A (N, T, n) (float32), computed by :func:`activations_task` in chunks.

**Select** (LSTMVis's rule, Strobelt et al. 2018): for a range of steps [t0, t1] of one sample
and a threshold ℓ, the selected units are those with a_u(t) ≥ ℓ at every step of the range and
a_u(t0 − 1) < ℓ just before it (no condition before the first step).

**Match**: every maximal stretch of steps (within one sample) where all selected units are on
(≥ ℓ) is a candidate. Its score is

    score = purity × length similarity,
    purity = mean over the stretch of |S| / |on_t|  (1 when only the selected units are on),
    length similarity = min(len, L) / max(len, L)  (L the selected range's length),

so a stretch as long as the selection where no other unit fires scores 1. The best are listed,
highest score first (ties: the earlier).

**Find units**: for a feature f (N, T) — a regular expression over the text (1 inside a match),
a column of the file, the target, t mod k — every unit's activation is scored by its Pearson
correlation r with f over all steps, and by a second score ρ that sees monotone but not linear
dependence (e.g. a saturated tanh), computed on at most :data:`RANK_POINTS` evenly spaced steps:
for a two-valued feature (a pattern that matches or not) the rank-biserial correlation
2·AUC − 1 (1 when every step with the feature has a higher activation than every step without,
−1 for the reverse), for any other feature Spearman's rank correlation. Units are ranked by |r|. With no feature,
:func:`auto_features` proposes simple ones and every unit is named by the feature it follows
best.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

RANK_POINTS = 200_000
MAX_ACTIVATION_BYTES = 512 * 2**20
QUANTITIES = ("h", "c", "i", "f", "g", "o", "r", "z", "n")


@dataclass(frozen=True)
class Match:
    """A stretch [t0, t1] (inclusive) of sample ``sample`` where the selected units are on."""

    sample: int
    t0: int
    t1: int
    score: float


@dataclass(frozen=True)
class UnitScore:
    """A unit, the feature it follows, Pearson's r and Spearman's ρ with it."""

    unit: int
    feature: str
    r: float
    rho: float


# -- activations ---------------------------------------------------------------------------------------
def samples_of(dataset) -> tuple:
    """``(x, part)``: the validation samples if there are any, else the training ones."""
    if dataset.n_val:
        return dataset.x_val, "validation"
    return dataset.x_train, "training"


def activations_task(state, model, x, quantity: str = "h", layer: int = 0, direction: int = 0,
                     chunk: int = 64):
    """In a worker: ``quantity`` of ``layer``/``direction`` over every sample of ``x``, (N', T, n)
    float32, in chunks (progress, interruptible). N' ≤ N keeps the array under
    :data:`MAX_ACTIVATION_BYTES`; the result says how many samples it covers."""
    N, T = x.shape[0], x.shape[1]
    n = model.n_units
    keep = max(1, min(N, MAX_ACTIVATION_BYTES // max(1, T * n * 4)))
    out = np.empty((keep, T, n), np.float32)
    for s in range(0, keep, chunk):
        state.check()
        e = min(keep, s + chunk)
        tr = model.forward(x[s:e])
        lay = tr.layer(layer, direction) if hasattr(tr, "layer") else tr
        arr = getattr(lay, quantity, None)
        if arr is None:
            raise ValueError(f"this cell has no {quantity!r}; choose one of its gates or states.")
        out[s:e] = arr
        state.set_progress(e / keep, f"Computing {quantity} over the samples")
    return out


# -- select and match ----------------------------------------------------------------------------------
def select_units(a, t0: int, t1: int, threshold: float) -> np.ndarray:
    """The units on (≥ threshold) at every step t0..t1 of ``a`` (T, n) and off at t0 − 1."""
    a = np.asarray(a)
    T = a.shape[0]
    if not 0 <= t0 <= t1 < T:
        raise ValueError(f"the range must lie in 0..{T - 1} with t0 ≤ t1; got {t0}..{t1}")
    on = np.all(a[t0:t1 + 1] >= threshold, axis=0)
    if t0 > 0:
        on &= a[t0 - 1] < threshold
    return np.flatnonzero(on)


def match_ranges(A, units, threshold: float, length: int, top: int = 20, interrupt=None) -> list:
    """The best stretches of ``A`` (N, T, n) where all ``units`` are on (see the module
    docstring), at most ``top``, best first."""
    A = np.asarray(A)
    units = np.asarray(units, dtype=np.intp)
    if units.size == 0:
        return []
    N, T, _ = A.shape
    L = max(1, int(length))
    found: list = []
    step = max(1, 2_000_000 // max(1, T * A.shape[2]))
    for s0 in range(0, N, step):
        if interrupt is not None and interrupt():
            break
        blk = A[s0:s0 + step] >= threshold                      # (b, T, n)
        all_on = np.all(blk[:, :, units], axis=2)                # (b, T)
        n_on = blk.sum(axis=2)                                   # (b, T)
        purity = np.where(all_on, units.size / np.maximum(n_on, 1), 0.0)
        b = all_on.shape[0]
        pad = np.zeros((b, 1), bool)
        edges = np.diff(np.concatenate([pad, all_on, pad], axis=1).astype(np.int8), axis=1)
        rows_s, starts = np.nonzero(edges == 1)
        rows_e, ends = np.nonzero(edges == -1)                   # exclusive ends, same order
        if starts.size == 0:
            continue
        csum = np.concatenate([np.zeros((b, 1)), np.cumsum(purity, axis=1)], axis=1)
        lens = ends - starts
        mean_purity = (csum[rows_s, ends] - csum[rows_s, starts]) / lens
        score = mean_purity * np.minimum(lens, L) / np.maximum(lens, L)
        best = np.argsort(-score, kind="stable")[:top]
        found += [Match(int(s0 + rows_s[k]), int(starts[k]), int(ends[k] - 1), float(score[k])) for k in best]
    found.sort(key=lambda m: (-m.score, m.sample, m.t0))
    return found[:top]


# -- features ------------------------------------------------------------------------------------------
def token_strings(ids, vocab, level: str) -> tuple:
    """``(text, starts)``: one sample's tokens joined (words with a space) and where each token
    starts in that text."""
    toks = [vocab[int(i)] for i in ids]
    sep = "" if level == "char" else " "
    starts, pos = [], 0
    for tk in toks:
        starts.append(pos)
        pos += len(tk) + len(sep)
    return sep.join(toks), np.asarray(starts, dtype=np.intp)


def regex_feature(x_ids, vocab, level: str, pattern: str) -> np.ndarray:
    """1.0 at every token inside a match of ``pattern`` in its sample's text, else 0: (N, T)."""
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"the regular expression {pattern!r} is not valid ({exc}); fix it and search again.") \
            from None
    N, T = x_ids.shape
    f = np.zeros((N, T), np.float32)
    for s in range(N):
        text, starts = token_strings(x_ids[s], vocab, level)
        inside = np.zeros(len(text) + 1, np.int32)
        for m in rx.finditer(text):
            if m.end() > m.start():
                inside[m.start()] += 1
                inside[m.end()] -= 1
        covered = np.cumsum(inside)[:len(text)] > 0
        f[s] = covered[np.minimum(starts, max(len(text) - 1, 0))] if len(text) else 0
    return f


def position_in_line(x_ids, vocab, level: str) -> np.ndarray:
    """Characters since the last newline (the line-length cell of Karpathy et al.)."""
    N, T = x_ids.shape
    nl = np.array([("\n" in vocab[int(i)]) for i in range(len(vocab))])
    out = np.zeros((N, T), np.float32)
    for s in range(N):
        count = 0
        for t, i in enumerate(x_ids[s]):
            count = 0 if nl[int(i)] else count + 1
            out[s, t] = count
    return out


TEXT_FEATURES = {
    "inside quotes": r'"[^"\n]*"',
    "inside parentheses": r"\([^()]*\)",
    "digit": r"\d",
    "space": r"\s",
    "upper case": r"[A-Z]",
    "punctuation": r"[.,;:!?]",
    "vowel": r"[aeiouAEIOU]",
}


def auto_features(dataset, x) -> dict:
    """Simple features of the samples ``x`` to explain units by: for text, the patterns of
    :data:`TEXT_FEATURES` and the position within a line; for series, every input column, the
    step-to-step change of the target and the step t mod k for k = 2..12."""
    feats = {}
    if dataset.token_inputs:
        level = dataset.corpus.level if dataset.corpus is not None else "char"
        for name, pat in TEXT_FEATURES.items():
            f = regex_feature(x, dataset.vocab, level, pat)
            if f.any() and not f.all():
                feats[name] = f
        feats["position in line"] = position_in_line(x, dataset.vocab, level)
        return feats
    x = np.asarray(x, np.float32)
    cols = list(dataset.columns) if len(dataset.columns) == x.shape[2] else [f"input {j + 1}" for j in range(x.shape[2])]
    for j, name in enumerate(cols):
        feats[str(name)] = x[:, :, j]
    tgt = x[:, :, min(dataset.target_index, x.shape[2] - 1)]
    feats["change of the target"] = np.concatenate([np.zeros((x.shape[0], 1), np.float32), np.diff(tgt, axis=1)], 1)
    t = np.arange(x.shape[1])
    for k in range(2, 13):
        feats[f"t mod {k}"] = np.broadcast_to((t % k).astype(np.float32), x.shape[:2])
    return feats


# -- scores --------------------------------------------------------------------------------------------
def _ranks(v: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    order = np.argsort(v, kind="stable")
    sv = v[order]
    first = np.concatenate([[True], sv[1:] != sv[:-1]])
    idx = np.flatnonzero(first)
    counts = np.diff(np.append(idx, sv.size))
    mean_rank = idx + (counts - 1) / 2.0
    ranks = np.empty(v.size)
    ranks[order] = np.repeat(mean_rank, counts)
    return ranks


def _pearson(F: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Pearson's r of every column of F (M, n) with f (M,); 0 where either is constant."""
    Fc = F - F.mean(axis=0)
    fc = f - f.mean()
    num = fc @ Fc
    den = np.sqrt((Fc * Fc).sum(axis=0) * (fc @ fc))
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def unit_scores(A, f) -> tuple:
    """``(r, rho)`` (n,) each: Pearson's correlation and the rank score (see the module
    docstring) of every unit of A (N, T, n) with the feature f (N, T)."""
    A = np.asarray(A)
    n = A.shape[2]
    F = A.reshape(-1, n).astype(np.float64)
    fv = np.asarray(f, np.float64).reshape(-1)
    if fv.size != F.shape[0]:
        raise ValueError(f"the feature has {fv.size} values for {F.shape[0]} steps")
    r = _pearson(F, fv)
    stride = max(1, F.shape[0] // RANK_POINTS)
    Fs, fs = F[::stride], fv[::stride]
    R = np.column_stack([_ranks(Fs[:, u]) for u in range(n)]) if n else Fs
    values = np.unique(fs)
    if values.size == 2:                                   # rank-biserial: 2·AUC − 1
        pos = fs == values[1]
        n1, n0 = int(pos.sum()), int((~pos).sum())
        auc = ((R[pos] + 1).sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0)
        return r, 2 * auc - 1
    return r, _pearson(R, _ranks(fs))


def rank_units(A, f, name: str = "feature") -> list:
    """Every unit scored against ``f`` (:class:`UnitScore`), best |r| first."""
    r, rho = unit_scores(A, f)
    order = np.argsort(-np.abs(r), kind="stable")
    return [UnitScore(int(u), name, float(r[u]), float(rho[u])) for u in order]


def find_units(A, features: dict, interrupt=None) -> list:
    """For every unit the feature of ``features`` it follows best (by |r|), units ranked by
    it: the units most predictable from simple features, named by them."""
    n = np.asarray(A).shape[2]
    best = [UnitScore(u, "", 0.0, 0.0) for u in range(n)]
    for name, f in features.items():
        if interrupt is not None and interrupt():
            break
        r, rho = unit_scores(A, f)
        for u in range(n):
            if abs(r[u]) > abs(best[u].r):
                best[u] = UnitScore(u, name, float(r[u]), float(rho[u]))
    return sorted(best, key=lambda s: (-abs(s.r), s.unit))

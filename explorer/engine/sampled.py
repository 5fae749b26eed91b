"""Sampled softmax: a training step's softmax over the step's target words and a sample of the others.

Next-word prediction over a vocabulary of V words computes V logits for every token of a batch:
at 10,000 words that product and its softmax are most of a step. During training the trainer
(:class:`~explorer.engine.trainer.Trainer`) instead uses, at each step, the classes ``C`` = every
word the batch's targets name (weight 1) and ``S`` words drawn with replacement from the other
words with probability ``q_j ∝ (count_j + 1)^0.75`` (the training targets' counts), each drawn
word j weighted ``w_j = (times drawn) / (S · q_j / (1 − q(targets)))``. The step's loss is the
cross-entropy over ``C`` of the logits ``s_j + log w_j``:

    Ẑ = Σ_{targets} e^{s_j} + Σ_{drawn} w_j e^{s_j}      (an unbiased estimate of Σ_j e^{s_j})
    loss = mean over tokens of  log Ẑ − s_target

so its gradient is the full softmax's with every probability replaced by its importance-sampled
estimate, consistent as S grows; when the other words are no more than S (or the targets hold
almost all of the proposal's mass) every class is used with weight 1 and the step is exactly the
full softmax. The head's product costs tokens × |C| × units instead of tokens × V × units; the
gradient of the head outside ``C`` is 0 (the optimiser's update still passes over the whole head).

Evaluation never samples: validation loss, predictions, the window's display and
:meth:`~explorer.engine.model.RecurrentModel.state_grads` use the full softmax. The per-step
training loss shown while sampling is the sampled loss (E log Ẑ ≤ log Z: a little below the full
loss); the validation loss at each epoch's end is exact.

Which steps sample: loss ``cross_entropy`` with a target at every step (next-token prediction)
and a vocabulary above ``4 · S``; never for characters' small vocabularies, last-step classes or
whole-sequence models. ``S`` is :func:`get_sampled`: :func:`set_sampled` from Python, else the
environment variable ``LSTM_EXPLORER_SAMPLED_SOFTMAX``, else :data:`DEFAULT_SAMPLED`; 0 turns it
off (every step the full softmax); the command line's ``--sampled-softmax N`` sets it.
"""

from __future__ import annotations

import os

import numpy as np

from .losses import loss_and_dy

ENV_VAR = "LSTM_EXPLORER_SAMPLED_SOFTMAX"
DEFAULT_SAMPLED = 512
#: Sampling is on only when the vocabulary exceeds this many times the words sampled.
MIN_RATIO = 4
POWER = 0.75
_UNSET = object()
_chosen = _UNSET


class SampledSettingError(ValueError):
    """``LSTM_EXPLORER_SAMPLED_SOFTMAX`` or :func:`set_sampled` given something that is not a count."""


def _parse(value, source: str) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        n = -1
    if n < 0 or n > 10_000_000:
        raise SampledSettingError(f"{source}={str(value)[:40]!r} is not a number of sampled words (a whole number from "
                                  "1, or 0 for the full softmax at every step); set it to one or unset it.")
    return n


def get_sampled() -> int:
    """The words a training step samples (0: the full softmax): :func:`set_sampled`'s value, else
    ``LSTM_EXPLORER_SAMPLED_SOFTMAX``, else :data:`DEFAULT_SAMPLED`."""
    if _chosen is not _UNSET:
        return _chosen
    env = os.environ.get(ENV_VAR, "").strip()
    return _parse(env, ENV_VAR) if env else DEFAULT_SAMPLED


def set_sampled(n: int | None, source: str = "set_sampled") -> None:
    """Sample ``n`` words per training step from now on (0: full softmax; None: back to the
    variable or the default). Trainers made before keep theirs. ``source`` names the setting in
    the sentence a bad value gives."""
    global _chosen
    _chosen = _UNSET if n is None else _parse(n, source)


class SampledSoftmax:
    """The candidate classes of each training step (see the module's text).

    ``counts`` (V,): how often each class is a training target; ``num_sampled`` S; ``seed``: the
    draws of step k come from ``default_rng([seed, k])``, so a resumed run draws what an
    uninterrupted one would.
    """

    def __init__(self, counts: np.ndarray, num_sampled: int, seed: int = 0):
        counts = np.asarray(counts, dtype=float)
        q = (counts + 1.0) ** POWER
        self.q = q / q.sum()
        self.cdf = np.cumsum(self.q)
        self.cdf[-1] = 1.0
        self.vocab = int(counts.size)
        self.num_sampled = int(num_sampled)
        self.seed = int(seed)

    def describe(self) -> str:
        return (f"sampled softmax in training: each step's targets and {self.num_sampled:,} sampled words of "
                f"{self.vocab:,} (validation, predictions and the display use the full softmax; "
                "--sampled-softmax 0 for the full softmax at every step)")

    def candidates(self, targets: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray, int]:
        """``(classes, log_weights, m)`` for a step on ``targets``: the distinct targets first
        (sorted, weight 1; ``classes[:m]`` is sorted and holds every target), then the distinct
        drawn words with ``log w_j``; every class with weight 1 (m = V) when sampling would draw
        nearly all of them."""
        true = np.unique(np.asarray(targets, dtype=np.intp))
        rest = 1.0 - float(self.q[true].sum())
        S = self.num_sampled
        if self.vocab - true.size <= S or rest < 0.05:
            return np.arange(self.vocab), np.zeros(self.vocab), self.vocab
        rng = np.random.default_rng([self.seed, int(step)])
        parts, need = [], S
        while need > 0:                      # draws from q restricted to the other words (rest ≥ 0.05)
            d = np.searchsorted(self.cdf, rng.random(int(need / rest * 1.1) + 16), side="right")
            d = np.minimum(d, self.vocab - 1)
            d = d[~np.isin(d, true, assume_unique=False)][:need]
            parts.append(d)
            need -= d.size
        drawn, times = np.unique(np.concatenate(parts), return_counts=True)
        logw = np.log(times) - np.log(S * self.q[drawn] / rest)
        return np.concatenate([true, drawn]), np.concatenate([np.zeros(true.size), logw]), true.size


def sampler_for(n_outputs: int, loss: str, y_train: np.ndarray, num_sampled: int, seed: int = 0):
    """A :class:`SampledSoftmax` when a trainer on these targets should sample (see the module's
    text), else None."""
    y = np.asarray(y_train)
    if (not num_sampled or loss != "cross_entropy" or y.ndim != 2 or y.size == 0
            or n_outputs <= MIN_RATIO * num_sampled):
        return None
    counts = np.bincount(y.reshape(-1).astype(np.intp), minlength=n_outputs)[:n_outputs]
    return SampledSoftmax(counts, num_sampled, seed)


def sampled_head_loss(H, tgt, V, d, dV, dd, dTop, candidates, chunk: int) -> float:
    """The head and cross-entropy over ``classes`` only, with their gradient.

    ``H`` (T, B, D·n) the top layer's outputs, ``tgt`` (T, B) class ids; ``candidates``
    ``(classes, log_weights, m)`` from :meth:`SampledSoftmax.candidates`; ``V`` (D·n, k),
    ``d`` (k,) the head; ``dV``, ``dd`` receive the head's gradient (0 outside ``classes``) and
    ``dTop`` (T, B, D·n) dL/dH. At most ``chunk`` logits at a time. Returns the loss."""
    classes, logw, m = candidates
    T, B = tgt.shape
    C = classes.size
    Vc = np.ascontiguousarray(V[:, classes])
    bias = d[classes] + logw
    pos = np.searchsorted(classes[:m], tgt)
    dV.fill(0.0)
    dd.fill(0.0)
    dVc = np.zeros_like(Vc)
    ddc = np.zeros(C, dtype=V.dtype)
    step = max(1, chunk // max(1, B * C))
    value = 0.0
    for t0 in range(0, T, step):
        t1 = min(T, t0 + step)
        Hc = np.ascontiguousarray(H[t0:t1]).reshape((t1 - t0) * B, -1)
        y = Hc @ Vc
        y += bias
        v, dy = loss_and_dy("cross_entropy", y, pos[t0:t1].reshape(-1), False)
        share = (t1 - t0) / T
        value += v * share
        dy *= share
        dVc += Hc.T @ dy
        ddc += dy.sum(axis=0)
        np.matmul(dy, Vc.T, out=dTop[t0:t1].reshape((t1 - t0) * B, -1))
    dV[:, classes] = dVc
    dd[classes] = ddc
    return value


__all__ = ["DEFAULT_SAMPLED", "ENV_VAR", "SampledSettingError", "SampledSoftmax", "get_sampled",
           "sampled_head_loss", "sampler_for", "set_sampled"]

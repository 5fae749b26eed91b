"""Optimisers over one flat parameter vector, and clipping by global norm.

All optimisers update ``params`` in place from ``grads`` (same shape, usually the model's
flat vector). Their state round-trips through :meth:`state_dict` / :meth:`load_state_dict`
as plain NumPy arrays and numbers, so a saved run continues bit for bit.
"""

from __future__ import annotations

import numpy as np


def clip_by_global_norm(grads: np.ndarray, max_norm: float | None) -> tuple[float, bool]:
    """Scale ``grads`` in place so that its L2 norm is at most ``max_norm``.

    Returns ``(norm_before, clipped)``. ``max_norm`` of None or <= 0 disables clipping.
    """
    norm = float(np.sqrt(np.dot(grads, grads)))
    if max_norm is not None and max_norm > 0 and norm > max_norm:
        grads *= max_norm / (norm + 1e-12)
        return norm, True
    return norm, False


class Optimizer:
    """Base class: ``step(params, grads)`` updates ``params`` in place."""

    name = "base"

    def __init__(self, lr: float):
        self.lr = float(lr)
        self.t = 0

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {"name": self.name, "lr": self.lr, "t": self.t}

    def load_state_dict(self, d: dict) -> None:
        self.lr = float(d["lr"])
        self.t = int(d["t"])


class SGD(Optimizer):
    """Plain gradient descent: θ ← θ − lr·g."""

    name = "sgd"

    def step(self, params, grads):
        self.t += 1
        params -= self.lr * grads


class Momentum(Optimizer):
    """SGD with (heavy-ball) momentum: v ← μv + g, θ ← θ − lr·v."""

    name = "momentum"

    def __init__(self, lr: float, momentum: float = 0.9):
        super().__init__(lr)
        self.momentum = float(momentum)
        self.v: np.ndarray | None = None

    def step(self, params, grads):
        self.t += 1
        if self.v is None:
            self.v = np.zeros_like(params)
        self.v *= self.momentum
        self.v += grads
        params -= self.lr * self.v

    def state_dict(self):
        d = super().state_dict()
        d["momentum"] = self.momentum
        if self.v is not None:
            d["v"] = self.v.copy()
        return d

    def load_state_dict(self, d):
        super().load_state_dict(d)
        self.momentum = float(d["momentum"])
        self.v = np.array(d["v"]) if "v" in d else None


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction."""

    name = "adam"

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.m: np.ndarray | None = None
        self.v: np.ndarray | None = None
        self._tmp: np.ndarray | None = None

    def step(self, params, grads):
        if self.m is None:
            self.m = np.zeros_like(params)
            self.v = np.zeros_like(params)
        if self._tmp is None or self._tmp.shape != params.shape:
            self._tmp = np.empty_like(params)
        self.t += 1
        b1, b2, tmp = self.beta1, self.beta2, self._tmp
        self.m *= b1
        np.multiply(grads, 1 - b1, out=tmp)
        self.m += tmp                                 # first moment
        self.v *= b2
        np.multiply(grads, grads, out=tmp)
        tmp *= 1 - b2
        self.v += tmp                                 # second moment
        step = self.lr * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        np.sqrt(self.v, out=tmp)
        tmp += self.eps * np.sqrt(1 - b2 ** self.t)   # eps on the bias-corrected scale
        np.divide(self.m, tmp, out=tmp)
        tmp *= step
        params -= tmp

    def state_dict(self):
        d = super().state_dict()
        d.update(beta1=self.beta1, beta2=self.beta2, eps=self.eps)
        if self.m is not None:
            d["m"] = self.m.copy()
            d["v"] = self.v.copy()
        return d

    def load_state_dict(self, d):
        super().load_state_dict(d)
        self.beta1, self.beta2, self.eps = float(d["beta1"]), float(d["beta2"]), float(d["eps"])
        self.m = np.array(d["m"]) if "m" in d else None
        self.v = np.array(d["v"]) if "v" in d else None


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(name: str, lr: float) -> Optimizer:
    """``make_optimizer("adam" | "sgd" | "momentum", lr)``."""
    try:
        return OPTIMIZERS[name](lr)
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}") from None

"""A recurrent layer followed by a linear head, with losses and exact backpropagation through time.

:class:`RecurrentModel` is cell-agnostic; :class:`LSTMModel` is it with an
:class:`~explorer.engine.cells.LSTMCell`. Parameters live in one flat vector
(:attr:`RecurrentModel.params`): the layer's block first, then the head ``V`` (n, k) and ``d`` (k).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cells import CELLS, Cell, GRUCell, LSTMCell, PeepholeLSTMCell, RNNCell
from .init import xavier_uniform
from .losses import loss_and_dy, target_is_last_only


class Trace:
    """Everything one forward pass computed, batch-major, read-only.

    Always: ``x`` (B, T, m), ``h0`` (B, n), ``y`` (B, T, k), and for every name in the cell's
    ``trace_names`` a (B, T, n) array (LSTM: ``i, f, g, o, c, h``), plus ``z`` the
    pre-activations (B, T, G·n) in gate order; ``c0`` (B, n) for cells with a cell state.
    """

    def __init__(self, kind: str, fields: dict):
        self.kind = kind
        self.fields = tuple(fields)
        for name, arr in fields.items():
            arr.setflags(write=False)
            setattr(self, name, arr)

    @property
    def batch(self) -> int:
        return self.x.shape[0]

    @property
    def T(self) -> int:
        return self.x.shape[1]

    def sample(self, b: int) -> Trace:
        """A trace of sample ``b`` alone (batch 1, copies)."""
        return Trace(self.kind, {k: getattr(self, k)[b:b + 1].copy() for k in self.fields})

    def step(self, b: int, t: int) -> dict:
        """The record of sample ``b`` at timestep ``t``: x, h_prev (c_prev), every gate, c, h."""
        rec = {"x": self.x[b, t], "h_prev": self.h[b, t - 1] if t > 0 else self.h0[b]}
        if "c0" in self.fields:
            rec["c_prev"] = self.c[b, t - 1] if t > 0 else self.c0[b]
        for k in self.fields:
            if k not in ("x", "h0", "c0", "y", "z") and getattr(self, k).ndim == 3:
                rec[k] = getattr(self, k)[b, t]
        rec["y"] = self.y[b, t]
        return rec


@dataclass(frozen=True)
class GradNorms:
    """Gradient norms through time for one step: ``dh[t] = ||dL/dh_t||``, ``dc[t] = ||dL/dc_t||``
    (Frobenius over batch and units), each (T,). ``dc`` is None for cells without a cell state."""

    dh: np.ndarray
    dc: np.ndarray | None


@dataclass(frozen=True)
class ParamCount:
    """Parameters held: the recurrent layer, the head k(n + 1), and their total."""

    layer: int
    head: int
    total: int


class RecurrentModel:
    """A recurrent layer of ``n_units`` over ``n_inputs``, then y = V h + d with ``n_outputs``.

    Parameters
    ----------
    n_inputs, n_units, n_outputs : int
        m, n and k.
    seed : int
        Seeds the generator that draws the initial weights (same seed, same numbers).
    dtype : numpy dtype
        float64 by default; float32 allowed.
    forget_bias : float
        Initial bias of the forget gate (LSTMs), 1.0 by default.
    """

    cell_class: type[Cell] = Cell

    def __init__(self, n_inputs: int = 1, n_units: int = 8, n_outputs: int = 1, seed: int = 0,
                 dtype=np.float64, forget_bias: float = 1.0):
        self.cell = self.cell_class(n_inputs, n_units, dtype=dtype, forget_bias=forget_bias)
        self.n_inputs, self.n_units, self.n_outputs = self.cell.m, self.cell.n, int(n_outputs)
        if self.n_outputs < 1:
            raise ValueError("n_outputs must be at least 1")
        self.dtype = self.cell.dtype
        self.seed = seed
        n, k, Pc = self.n_units, self.n_outputs, self.cell.n_params
        self.params = np.zeros(Pc + n * k + k, dtype=self.dtype)
        self.grad = np.zeros_like(self.params)
        self._bind()
        rng = np.random.default_rng(seed)
        self.cell.init_params(rng, self.layer_params)
        self.V[...] = xavier_uniform(rng, k, n).T
        self.d[...] = 0.0

    def _bind(self):
        n, k, Pc = self.n_units, self.n_outputs, self.cell.n_params
        self.layer_params = self.params[:Pc]
        self.V = self.params[Pc:Pc + n * k].reshape(n, k)
        self.d = self.params[Pc + n * k:]
        self.layer_grad = self.grad[:Pc]
        self.dV = self.grad[Pc:Pc + n * k].reshape(n, k)
        self.dd = self.grad[Pc + n * k:]

    @property
    def kind(self) -> str:
        return self.cell.kind

    # -- sizes ------------------------------------------------------------------------------
    @property
    def param_count(self) -> ParamCount:
        layer = self.cell.n_params
        head = self.n_outputs * (self.n_units + 1)
        return ParamCount(layer, head, layer + head)

    def gate_slices(self) -> dict:
        """``{block: indices into params}`` for per-gate gradient norms, plus ``"head"``."""
        out = dict(self.cell.gate_slices())
        out["head"] = np.arange(self.cell.n_params, self.params.size)
        return out

    # -- state dict -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """PyTorch-named copies: the layer's ``*_l0`` tensors, ``head.weight`` (k, n), ``head.bias`` (k)."""
        d = self.cell.state_dict(self.layer_params)
        d["head.weight"] = self.V.T.copy()
        d["head.bias"] = self.d.copy()
        return d

    def load_state_dict(self, d: dict) -> None:
        """Load a state dict (this engine's or ``torch.nn.LSTM``'s plus a head); biases are summed."""
        new = self.params.copy()
        n, k, Pc = self.n_units, self.n_outputs, self.cell.n_params
        self.cell.load_state_dict(d, new[:Pc])
        hw = np.asarray(d["head.weight"])
        hb = np.asarray(d["head.bias"])
        if hw.shape != (k, n) or hb.shape != (k,):
            raise ValueError(f"head has shapes {hw.shape}, {hb.shape}; expected {(k, n)}, {(k,)}")
        new[Pc:Pc + n * k] = hw.T.ravel()
        new[Pc + n * k:] = hb
        self.params[...] = new

    def save(self, path) -> None:
        """Save the state dict as ``.npz``."""
        np.savez(path, **self.state_dict())

    def load(self, path) -> None:
        with np.load(path, allow_pickle=False) as z:
            self.load_state_dict({k: z[k] for k in z.files})

    # -- computation ------------------------------------------------------------------------
    def _prepare(self, x, h0, c0):
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 3 or x.shape[2] != self.n_inputs:
            raise ValueError(f"x must be (batch, T, {self.n_inputs}); got {x.shape}")
        B = x.shape[0]
        n = self.n_units
        h0 = np.zeros((B, n), self.dtype) if h0 is None else np.asarray(h0, self.dtype)
        c0 = np.zeros((B, n), self.dtype) if c0 is None else np.asarray(c0, self.dtype)
        if h0.shape != (B, n) or c0.shape != (B, n):
            raise ValueError(f"h0 and c0 must be (batch, {n})")
        return x, h0, c0

    def _run(self, x, h0, c0):
        """Forward into the cell's workspace; return (ws, y_tm (T, B, k))."""
        ws = self.cell.forward(self.layer_params, x.transpose(1, 0, 2), h0, c0)
        H = self.cell.hidden(ws)
        y = H @ self.V
        y += self.d
        return ws, y

    def forward(self, x, h0=None, c0=None) -> Trace:
        """Run over ``x`` (B, T, m) and return the :class:`Trace` (fresh read-only arrays)."""
        x, h0, c0 = self._prepare(x, h0, c0)
        ws, y = self._run(x, h0, c0)
        fields = {"x": x.copy(), "h0": h0.copy()}
        if "c" in self.cell.state_names:
            fields["c0"] = c0.copy()
        for name, arr in self.cell.trace_arrays(ws).items():
            fields[name] = arr.transpose(1, 0, 2).copy()
        fields["y"] = y.transpose(1, 0, 2).copy()
        return Trace(self.kind, fields)

    def predict(self, x, h0=None, c0=None, batch_size: int = 256) -> np.ndarray:
        """Outputs y (B, T, k) without keeping a trace, in batches (the buffers stay small)."""
        x, h0, c0 = self._prepare(x, h0, c0)
        out = np.empty((x.shape[0], x.shape[1], self.n_outputs), dtype=self.dtype)
        for s in range(0, x.shape[0], batch_size):
            e = s + batch_size
            _, y = self._run(x[s:e], h0[s:e], c0[s:e])
            out[s:e] = y.transpose(1, 0, 2)
        return out

    def evaluate(self, x, target, loss="mse", batch_size=256) -> float:
        """Mean loss over a dataset, computed in batches (no gradients)."""
        x = np.asarray(x)
        target = np.asarray(target)
        N = x.shape[0]
        if N == 0:
            return float("nan")
        total = 0.0
        for s in range(0, N, batch_size):
            xb, tb = x[s:s + batch_size], target[s:s + batch_size]
            xb, h0, c0 = self._prepare(xb, None, None)
            last_only = target_is_last_only(loss, tb, xb.shape[1])
            _, y = self._run(xb, h0, c0)
            yy = y[-1] if last_only else y
            tt = tb if last_only else np.swapaxes(tb, 0, 1)
            value, _ = loss_and_dy(loss, yy, tt.astype(self.dtype) if loss == "mse" else tt, last_only)
            total += value * xb.shape[0]
        return total / N

    def compute_grads(self, x, target, loss="mse", h0=None, c0=None, want_dx=False):
        """Loss and gradients into :attr:`grad` (a reused buffer, flat, like :attr:`params`).

        Returns ``(loss, norms, extra)`` where ``norms`` is a :class:`GradNorms` and ``extra``
        holds ``dx`` (B, T, m), ``dh0`` and ``dc0`` when ``want_dx``. The trainer uses this
        directly; :meth:`loss_and_grads` wraps it in the state-dict keys.
        """
        x, h0, c0 = self._prepare(x, h0, c0)
        target = np.asarray(target)
        T = x.shape[1]
        last_only = target_is_last_only(loss, target, T)
        if target.shape[0] != x.shape[0]:
            raise ValueError("target and x must have the same batch size")
        ws, y = self._run(x, h0, c0)
        H = self.cell.hidden(ws)
        if loss == "mse":
            tgt = np.asarray(target, self.dtype)
            if tgt.shape[-1] != self.n_outputs:
                raise ValueError(f"mse target must end in k = {self.n_outputs}")
        else:
            tgt = target
        if last_only:
            value, dy = loss_and_dy(loss, y[-1], tgt, True)              # dy (B, k)
            np.matmul(H[-1].T, dy, out=self.dV)
            np.sum(dy, axis=0, out=self.dd)
            dH = dy @ self.V.T                                            # (B, n)
        else:
            tgt_tm = np.swapaxes(tgt, 0, 1)
            value, dy = loss_and_dy(loss, y, tgt_tm, False)              # dy (T, B, k)
            Tn, B = H.shape[0], H.shape[1]
            np.matmul(np.ascontiguousarray(H).reshape(Tn * B, -1).T, dy.reshape(Tn * B, -1), out=self.dV)
            np.sum(dy, axis=(0, 1), out=self.dd)
            dH = dy @ self.V.T                                            # (T, B, n)
        dx, dh0, dc0, dHt, dCt = self.cell.backward(
            self.layer_params, ws, dH, last_only, self.layer_grad, want_dx)
        norms = GradNorms(
            dh=np.sqrt(np.einsum("tbn,tbn->t", dHt, dHt)),
            dc=None if dCt is None else np.sqrt(np.einsum("tbn,tbn->t", dCt, dCt)),
        )
        extra = {}
        if want_dx:
            extra = {"x": dx.transpose(1, 0, 2).copy(), "h0": dh0}
            if dc0 is not None:
                extra["c0"] = dc0
        return value, norms, extra

    def grads_dict(self, grad: np.ndarray | None = None) -> dict:
        """A flat gradient under the state dict's keys (each bias key carries dL/db)."""
        g = self.grad if grad is None else grad
        n, k, Pc = self.n_units, self.n_outputs, self.cell.n_params
        d = self.cell.grads_dict(g[:Pc])
        d["head.weight"] = g[Pc:Pc + n * k].reshape(n, k).T.copy()
        d["head.bias"] = g[Pc + n * k:].copy()
        return d

    def loss_and_grads(self, x, target, loss: str = "mse", h0=None, c0=None,
                       with_norms: bool = False, with_input_grads: bool = False):
        """Loss and gradients of every parameter.

        Returns ``(loss, grads)`` or, with ``with_norms=True``, ``(loss, grads, norms)``.
        ``grads`` uses the state dict's keys; with ``with_input_grads=True`` it also holds
        ``"x"`` (B, T, m), ``"h0"`` and ``"c0"`` (B, n).
        """
        value, norms, extra = self.compute_grads(x, target, loss, h0, c0, want_dx=with_input_grads)
        grads = self.grads_dict()
        grads.update(extra)
        return (value, grads, norms) if with_norms else (value, grads)


class LSTMModel(RecurrentModel):
    """An LSTM layer (one bias per gate) and a linear head. See :class:`RecurrentModel`."""

    cell_class = LSTMCell


class RNNModel(RecurrentModel):
    """A plain RNN layer h = tanh(W x + U h + b) and a linear head."""

    cell_class = RNNCell


class GRUModel(RecurrentModel):
    """A GRU layer (``torch.nn.GRU``'s equations and biases) and a linear head."""

    cell_class = GRUCell


class PeepholeLSTMModel(RecurrentModel):
    """A peephole LSTM layer (Gers & Schmidhuber 2000) and a linear head."""

    cell_class = PeepholeLSTMCell


MODELS = {"rnn": RNNModel, "gru": GRUModel, "lstm": LSTMModel, "peephole": PeepholeLSTMModel}


def make_model(kind: str = "lstm", **kwargs) -> RecurrentModel:
    """``make_model("rnn" | "gru" | "lstm" | "peephole", n_inputs=1, n_units=8, n_outputs=1, seed=0)``."""
    try:
        cls = MODELS[kind]
    except KeyError:
        raise ValueError(f"unknown cell {kind!r}; choose one of {', '.join(MODELS)}") from None
    return cls(**kwargs)


__all__ = ["RecurrentModel", "LSTMModel", "RNNModel", "GRUModel", "PeepholeLSTMModel", "MODELS", "Trace", "GradNorms", "ParamCount", "make_model", "CELLS"]

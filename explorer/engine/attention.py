"""Whole-sequence models: recurrent layers, a pooling stage, one output per sequence.

:class:`SequenceModel` runs the layers of :class:`~explorer.engine.model.RecurrentModel` over a
batch of sequences of unequal lengths, as ``torch.nn.LSTM`` over a ``pack_padded_sequence``
does: steps past a sequence's length never reach its outputs, and the reverse direction starts
at each sequence's own last step. The top layer's outputs h_t (D·n each) are then pooled:

- ``pool="last"``: the forward direction's output at each sequence's last real step and the
  reverse direction's at t = 0 (torch's ``h_n`` of the top layer), joined;
- ``pool="attention"``: scores e_t = vᵀ tanh(W_a h_t + b_a), weights α = softmax(e) over the
  sequence's real steps (α = 0 exactly past its end), context c = Σ_t α_t h_t.

The head gives y = V c + d, one row of ``n_outputs`` per sequence: class logits for
``loss="cross_entropy"`` (targets (B,) class ids) or values for ``loss="mse"`` (targets (B, k)).

Flat parameters: every cell's block, then (attention only) W_a (a, D·n), b_a (a), v (a), then
the head. State dict: the layers' torch names, ``attention.weight``, ``attention.bias``,
``attention.v``, ``head.weight`` (k, D·n), ``head.bias`` (k). The attention size a defaults to D·n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cells import CELLS
from .init import xavier_uniform
from .losses import LOSSES, loss_and_dy, softmax
from .model import ParamCount, RecurrentModel, Trace, _flushing

POOLS = ("last", "attention")


@dataclass(frozen=True)
class SequenceParamCount(ParamCount):
    """:class:`ParamCount` plus ``attention`` = a(D·n) + 2a (0 for ``pool="last"``), in ``total``."""

    attention: int = 0


def reverse_index(lengths: np.ndarray, T: int) -> np.ndarray:
    """(T, B) indices that put each sequence's first ``lengths[b]`` steps in reverse order and
    leave its padding where it is; the map is its own inverse."""
    t = np.arange(T)[:, None]
    n = lengths[None, :]
    return np.where(t < n, n - 1 - t, t)


def _gather(a: np.ndarray, rev: np.ndarray | None) -> np.ndarray:
    """``a`` (T, B, …) time-major with every sequence reversed within its length (``rev`` None:
    all of full length, a plain reversal)."""
    if rev is None:
        return a[::-1]
    return np.take_along_axis(a, rev if a.ndim == 2 else rev[:, :, None], axis=0)


@dataclass
class _SeqPass:
    """One forward pass: the cells' workspaces, the top outputs, the pooling's arrays."""

    wss: list
    top: np.ndarray          # (T, B, D·n) original time order
    rev: np.ndarray | None   # (T, B) per-sequence reversal, None when every sequence is full
    mask: np.ndarray         # (T, B) True on real steps
    last: np.ndarray         # (B,) each sequence's last real step
    tokens: bool
    tanh: np.ndarray | None = None     # (T, B, a) tanh(W_a h_t + b_a)
    scores: np.ndarray | None = None   # (T, B) e_t
    alpha: np.ndarray | None = None    # (T, B) α_t
    context: np.ndarray | None = None  # (B, D·n)
    y: np.ndarray | None = None        # (B, k)


class SequenceTrace(Trace):
    """A :class:`~explorer.engine.model.Trace` of a whole-sequence model: ``y`` is (B, k), one
    output per sequence; ``attention`` α (B, T) and ``scores`` e (B, T) (None for
    ``pool="last"``), ``context`` (B, D·n) what the head saw, ``lengths`` (B,), ``pool``.
    Per-step arrays are zero past each sequence's length (as torch's padded outputs)."""

    def __init__(self, kind: str, fields: dict, layers=None, layer_index: int = 0, direction: int = 0,
                 tokens: np.ndarray | None = None, pooled: dict | None = None):
        super().__init__(kind, fields, layers, layer_index, direction, tokens)
        pooled = dict(pooled or {})
        self.pool = pooled.pop("pool", "last")
        self._pooled = pooled
        for name in ("scores", "attention", "context", "lengths"):
            arr = pooled.get(name)
            if arr is not None:
                arr.setflags(write=False)
            setattr(self, name, arr)

    def _step_y(self, b: int, t: int) -> np.ndarray:
        return self.y[b]

    def probabilities(self) -> np.ndarray:
        """softmax(y) per sequence (B, k): the class probabilities of a classifier."""
        return softmax(self.y)

    def _wrap(self, t: Trace, pooled: dict) -> SequenceTrace:
        return SequenceTrace(t.kind, {name: getattr(t, name) for name in t.fields}, t._layers, t.layer_index,
                             t.direction, t.tokens, {"pool": self.pool, **pooled})

    def layer(self, k: int, d: int = 0) -> SequenceTrace:
        return self._wrap(super().layer(k, d), self._pooled)

    def sample(self, b: int) -> SequenceTrace:
        pooled = {name: None if a is None else a[b:b + 1].copy() for name, a in self._pooled.items()}
        return self._wrap(super().sample(b), pooled)


class SequenceModel(RecurrentModel):
    """Recurrent layers of any cell ``kind``, a pooling stage (``pool="last"`` or
    ``"attention"``) and a linear head: one output per sequence. See the module's text.

    ``attention_size`` is a (default D·n). Other parameters as :class:`RecurrentModel`.
    """

    def __init__(self, kind: str = "lstm", n_inputs: int = 1, n_units: int = 8, n_outputs: int = 1,
                 pool: str = "attention", attention_size: int | None = None, seed: int = 0, dtype=np.float64,
                 forget_bias: float = 1.0, num_layers: int = 1, bidirectional: bool = False):
        if kind not in CELLS:
            raise ValueError(f"unknown cell {kind!r}; choose one of {', '.join(CELLS)}")
        if pool not in POOLS:
            raise ValueError(f"unknown pool {pool!r}; choose one of {', '.join(POOLS)}")
        self.cell_class = CELLS[kind]
        self.pool = pool
        self.attention_size = 0
        self._n_att = 0
        super().__init__(n_inputs, n_units, n_outputs, seed=seed, dtype=dtype, forget_bias=forget_bias,
                         num_layers=num_layers, bidirectional=bidirectional)
        if pool != "attention":
            return
        Dn = self.num_directions * self.n_units
        a = Dn if attention_size is None else int(attention_size)
        if a < 1:
            raise ValueError("attention_size must be at least 1")
        P, old = self.n_recurrent, self.params
        self.attention_size, self._n_att = a, a * Dn + 2 * a
        self.params = np.zeros(old.size + self._n_att, dtype=self.dtype)
        self.params[:P] = old[:P]
        self.params[P + self._n_att:] = old[P:]
        self.grad = np.zeros_like(self.params)
        self._bind()
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
        self.Wa[...] = xavier_uniform(rng, a, Dn)
        self.va[...] = rng.uniform(-1.0, 1.0, a) / np.sqrt(a)

    # -- layout ---------------------------------------------------------------------------------
    def _bind(self):
        super()._bind()
        V, d = self._head_params(self.params)
        dV, dd = self._head_params(self.grad)
        self.V, self.d, self.dV, self.dd = V, d, dV, dd
        if self._n_att:
            self.Wa, self.ba, self.va = self._attention_params(self.params)
            self.dWa, self.dba, self.dva = self._attention_params(self.grad)

    def _attention_params(self, flat):
        """Views (W_a (a, D·n), b_a (a,), v (a,)) into a flat vector laid out like :attr:`params`."""
        P, a, Dn = self.n_recurrent, self.attention_size, self.num_directions * self.n_units
        W = flat[P:P + a * Dn].reshape(a, Dn)
        return W, flat[P + a * Dn:P + a * Dn + a], flat[P + a * Dn + a:P + self._n_att]

    def _head_params(self, params):
        start, Dn, k = self.n_recurrent + self._n_att, self.num_directions * self.n_units, self.n_outputs
        return params[start:start + Dn * k].reshape(Dn, k), params[start + Dn * k:]

    def _named_head(self, flat) -> dict:
        out = {}
        if self._n_att:
            W, b, v = self._attention_params(flat)
            out = {"attention.weight": W.copy(), "attention.bias": b.copy(), "attention.v": v.copy()}
        return {**out, **super()._named_head(flat)}

    def head_keys(self) -> tuple:
        att = ("attention.weight", "attention.bias", "attention.v") if self._n_att else ()
        return att + super().head_keys()

    def _load_head(self, d: dict, flat: np.ndarray) -> None:
        if self._n_att:
            a, Dn = self.attention_size, self.num_directions * self.n_units
            for key, view, shape in zip(("attention.weight", "attention.bias", "attention.v"),
                                        self._attention_params(flat), ((a, Dn), (a,), (a,))):
                if key not in d:
                    raise KeyError(f"state dict has no {key!r}")
                arr = np.asarray(d[key])
                if arr.shape != shape:
                    raise ValueError(f"{key} has shape {arr.shape}; expected {shape}")
                view[...] = arr
        super()._load_head(d, flat)

    @property
    def param_count(self) -> SequenceParamCount:
        pc = super().param_count
        return SequenceParamCount(pc.layer, pc.head, pc.total + self._n_att, pc.layers, self._n_att)

    def gate_names(self) -> tuple:
        return tuple(self.cell.gates) + (("attention",) if self._n_att else ()) + ("head",)

    def gate_slices(self) -> dict:
        out = super().gate_slices()
        start = self.n_recurrent + self._n_att
        if self._n_att:
            out["attention"] = np.arange(self.n_recurrent, start)
        out["head"] = np.arange(start, self.params.size)
        return out

    def gate_sq_norms(self, grad: np.ndarray | None = None) -> dict:
        g = self.grad if grad is None else grad
        out = super().gate_sq_norms(g)
        start = self.n_recurrent + self._n_att
        if self._n_att:
            att = g[self.n_recurrent:start]
            out["attention"] = float(np.dot(att, att))
        head = g[start:]
        out["head"] = float(np.dot(head, head))
        return {name: out[name] for name in self.gate_names()}

    def estimate_bytes(self, batch: int, T: int, trace: bool = True, tokens: bool = False) -> int:
        """:meth:`RecurrentModel.estimate_bytes` plus the pooling's arrays (tanh, scores, weights,
        dL/d(top outputs)) and the reversed copies of unequal lengths."""
        B, T = int(batch), int(T)
        Dn = self.num_directions * self.n_units
        extra = T * B * (3 * self.attention_size + 2 * Dn + 4) + 2 * B * Dn
        return super().estimate_bytes(B, T, trace, tokens) + extra * self.dtype.itemsize

    def clone(self) -> SequenceModel:
        other = SequenceModel(self.kind, self.n_inputs, self.n_units, self.n_outputs, pool=self.pool,
                              attention_size=self.attention_size or None, seed=self.seed, dtype=self.dtype,
                              forget_bias=self.cell.forget_bias, num_layers=self.num_layers,
                              bidirectional=self.bidirectional)
        other.params[...] = self.params
        return other

    # -- computation ----------------------------------------------------------------------------
    def _lengths(self, lengths, B: int, T: int) -> np.ndarray:
        if lengths is None:
            return np.full(B, T, dtype=np.intp)
        arr = np.asarray(lengths)
        if arr.shape != (B,) or arr.dtype.kind not in "iu":
            raise ValueError(f"lengths must be {B} integers, one per sequence; got {arr.dtype} {arr.shape}")
        if B and (arr.min() < 1 or arr.max() > T):
            raise ValueError(f"lengths must lie in 1..{T} (the steps of x); got {arr.min()}..{arr.max()}")
        return arr.astype(np.intp)

    def _inputs(self, x, lengths, h0, c0):
        """``(x, h0, c0, lengths)`` checked, every step of ``x`` past its sequence's length set to 0:
        padding may hold anything (NaN, a pad id of -1) and still reaches nothing."""
        x = np.asarray(x)
        if x.ndim in (2, 3):
            B, T = x.shape[0], x.shape[1]
            lengths = self._lengths(lengths, B, T)
            if B and lengths.min() < T:
                real = np.arange(T)[None, :] < lengths[:, None]
                x = np.where(real if x.ndim == 2 else real[:, :, None], x, 0)
        x, h0, c0 = self._prepare(x, h0, c0)
        return x, h0, c0, lengths

    def _run_seq(self, x, h0, c0, lengths, params, keep_z=False, interrupt=None) -> _SeqPass:
        """Every layer and direction over ``x`` (prepared), then the pooling and the head."""
        tokens = x.ndim == 2
        inp = x.T if tokens else x.transpose(1, 0, 2)
        T, B = inp.shape[0], inp.shape[1]
        L, D, n = self.num_layers, self.num_directions, self.n_units
        rev = None if D == 1 or bool(np.all(lengths == T)) else reverse_index(lengths, T)
        wss = []
        for k in range(L):
            row = []
            for d in range(D):
                row.append(self.cells[k][d].forward(params[self._slices[k][d]], inp if d == 0 else _gather(inp, rev),
                                                    h0[k * D + d], c0[k * D + d], keep_z, (), interrupt))
            wss.append(row)
            if D == 1:
                inp = self.cells[k][0].hidden(row[0])
            else:
                inp = self._buffer(("out", k), (T, B, D * n))
                inp[:, :, :n] = self.cells[k][0].hidden(row[0])
                inp[:, :, n:] = _gather(self.cells[k][1].hidden(row[1]), rev)
        run = _SeqPass(wss, inp, rev, np.arange(T)[:, None] < lengths[None, :], lengths - 1, tokens)
        self._pool(run, params)
        return run

    def _pool(self, run: _SeqPass, params) -> None:
        H, B = run.top, run.top.shape[1]
        if self._n_att:
            W, b, v = self._attention_params(params)
            u = H @ W.T
            u += b
            run.tanh = np.tanh(u, out=u)
            run.scores = u @ v
            masked = np.where(run.mask, run.scores, -np.inf)
            masked -= masked.max(axis=0)
            alpha = np.exp(masked)
            alpha /= alpha.sum(axis=0)
            run.alpha = alpha
            run.context = np.einsum("tb,tbj->bj", alpha, H)
        else:
            n = self.n_units
            run.context = H[run.last, np.arange(B)]
            if self.num_directions == 2:
                run.context[:, n:] = H[0, :, n:]
        V, d = self._head_params(params)
        run.y = run.context @ V + d

    def _check_target(self, target, loss, B):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        target = np.asarray(target)
        if loss == "mse":
            if target.shape != (B, self.n_outputs):
                raise ValueError(f"mse target must be (batch, {self.n_outputs}); got {target.shape}")
            return target.astype(self.dtype, copy=False)
        if target.shape != (B,):
            raise ValueError(f"cross_entropy target must be (batch,) class ids; got {target.shape}")
        return target

    def _pool_backward(self, run: _SeqPass, dy, params, grad) -> np.ndarray:
        """Head and pooling gradients into ``grad``; returns dL/d(top outputs) (T, B, D·n)."""
        V, _ = self._head_params(params)
        dV, dd = self._head_params(grad)
        np.matmul(run.context.T, dy, out=dV)
        np.sum(dy, axis=0, out=dd)
        dctx = dy @ V.T
        H = run.top
        T, B, Dn = H.shape
        if self._n_att:
            W, _, v = self._attention_params(params)
            dW, db, dv = self._attention_params(grad)
            alpha, tn = run.alpha, run.tanh
            dalpha = np.einsum("tbj,bj->tb", H, dctx)
            de = alpha * (dalpha - np.sum(alpha * dalpha, axis=0))
            np.einsum("tba,tb->a", tn, de, out=dv)
            du = de[:, :, None] * v
            du *= 1.0 - tn * tn
            a = W.shape[0]
            np.matmul(du.reshape(-1, a).T, H.reshape(-1, Dn), out=dW)
            np.sum(du, axis=(0, 1), out=db)
            dTop = du @ W
            dTop += alpha[:, :, None] * dctx[None]
            return dTop
        n = self.n_units
        dTop = np.zeros((T, B, Dn), self.dtype)
        cols = slice(0, n) if self.num_directions == 2 else slice(None)
        dTop[run.last, np.arange(B), cols] = dctx[:, cols]
        if self.num_directions == 2:
            dTop[0, :, n:] += dctx[:, n:]
        return dTop

    @staticmethod
    def _reversed(run: _SeqPass, a: np.ndarray) -> np.ndarray:
        """The reverse direction runs from each sequence's own end (packed-sequence semantics)."""
        return _gather(a, run.rev)

    @staticmethod
    def _reverse_states(run: _SeqPass, dHt, dCt) -> tuple:
        if run.rev is None:
            return dHt, dCt
        return _gather(dHt, run.rev)[::-1], None if dCt is None else _gather(dCt, run.rev)[::-1]

    def _no_interventions(self, interventions):
        if interventions:
            raise ValueError("interventions are for models with an output at every step, not whole-sequence models")

    def _grads(self, x, target, loss, h0, c0, want_dx, interrupt, interventions, grad, lengths=None):
        self._no_interventions(interventions)
        x, h0, c0, lengths = self._inputs(x, lengths, h0, c0)
        target = self._check_target(target, loss, x.shape[0])
        run = self._run_seq(x, h0, c0, lengths, self.params, interrupt=interrupt)
        value, dy = loss_and_dy(loss, run.y, target, True)
        dTop = self._pool_backward(run, dy, self.params, grad)
        dx, dh0, dc0, per = self._backward(run, dTop, self.params, grad, want_dx, interrupt)
        return value, per, dx, dh0, dc0

    @_flushing
    def compute_grads(self, x, target, loss="mse", h0=None, c0=None, want_dx=False, interrupt=None,
                      interventions=None, lengths=None):
        """:meth:`RecurrentModel.compute_grads` for whole sequences: ``target`` (B,) class ids or
        (B, k) values; ``lengths`` (B,) the real steps of each sequence (None: all T)."""
        value, per, dx, dh0, dc0 = self._grads(x, target, loss, h0, c0, want_dx, interrupt, interventions,
                                               self.grad, lengths)
        extra = {}
        if want_dx:
            one = self.num_layers * self.num_directions == 1
            if dx is not None:
                extra["x"] = dx.transpose(1, 0, 2).copy()
            extra["h0"] = dh0[0] if one else dh0
            if dc0 is not None:
                extra["c0"] = dc0[0] if one else dc0
        return value, self._norms(per), extra

    def loss_and_grads(self, x, target, loss: str = "mse", lengths=None, h0=None, c0=None,
                       with_norms: bool = False, with_input_grads: bool = False, interventions=None):
        """Loss and gradients of every parameter under the state dict's keys (``attention.*``,
        ``head.*`` and the layers'), for ``target`` (B,) class ids (``loss="cross_entropy"``) or
        (B, k) values (``loss="mse"``); ``lengths`` (B,) masks the steps past each end.
        ``with_norms`` and ``with_input_grads`` as :meth:`RecurrentModel.loss_and_grads`."""
        value, norms, extra = self.compute_grads(x, target, loss, h0, c0, want_dx=with_input_grads,
                                                 interventions=interventions, lengths=lengths)
        grads = self.grads_dict()
        grads.update(extra)
        return (value, grads, norms) if with_norms else (value, grads)

    @_flushing
    def forward(self, x, lengths=None, h0=None, c0=None, interventions=None, interrupt=None) -> SequenceTrace:
        """Run over ``x`` (B, T, m) floats or (B, T) token ids with ``lengths`` (B,) (None: all
        T) and return the :class:`SequenceTrace`."""
        self._no_interventions(interventions)
        x, h0, c0, lengths = self._inputs(x, lengths, h0, c0)
        run = self._run_seq(x, h0, c0, lengths, self.params, keep_z=True, interrupt=interrupt)
        return self._seq_trace(x, h0, c0, run, lengths)

    def _seq_trace(self, x, h0, c0, run: _SeqPass, lengths) -> SequenceTrace:
        D = self.num_directions
        has_c = "c" in self.cell.state_names
        pad = ~run.mask.T
        layers = []
        below = x.copy()
        for k, row in enumerate(run.wss):
            layers.append([])
            for d, ws in enumerate(row):
                f = {"x": below, "h0": h0[k * D + d].copy()}
                if has_c:
                    f["c0"] = c0[k * D + d].copy()
                for name, arr in self.cells[k][d].trace_arrays(ws).items():
                    a = (arr if d == 0 else _gather(arr, run.rev)).transpose(1, 0, 2).copy()
                    a[pad] = 0.0
                    f[name] = a
                layers[-1].append(f)
            if k + 1 < len(run.wss):
                below = np.concatenate([layers[-1][d]["h"] for d in range(D)], axis=2) if D > 1 \
                    else layers[-1][0]["h"]
        fields = {**layers[0][0], "y": run.y.copy()}
        pooled = {"pool": self.pool, "context": run.context.copy(), "lengths": lengths.copy(),
                  "scores": None if run.scores is None else np.where(run.mask, run.scores, 0.0).T.copy(),
                  "attention": None if run.alpha is None else run.alpha.T.copy()}
        return SequenceTrace(self.kind, fields, layers, 0, 0, fields["x"] if run.tokens else None, pooled)

    @_flushing
    def predict(self, x, lengths=None, batch_size: int = 256, interrupt=None) -> np.ndarray:
        """Outputs y (B, k) without keeping a trace, in batches."""
        x, h0, c0, lengths = self._inputs(x, lengths, None, None)
        B = x.shape[0]
        out = np.empty((B, self.n_outputs), dtype=self.dtype)
        for s in range(0, B, batch_size):
            e = min(B, s + batch_size)
            out[s:e] = self._run_seq(x[s:e], h0[:, s:e], c0[:, s:e], lengths[s:e], self.params,
                                     interrupt=interrupt).y
        return out

    def predict_classes(self, x, lengths=None, batch_size: int = 256, interrupt=None) -> np.ndarray:
        """The most likely class of every sequence, (B,) int64."""
        return self.predict(x, lengths, batch_size, interrupt).argmax(axis=1).astype(np.int64)

    @_flushing
    def evaluate(self, x, target, loss="mse", batch_size=256, h0=None, c0=None, interventions=None,
                 interrupt=None, lengths=None) -> float:
        """Mean loss over a dataset, computed in batches (no gradients)."""
        self._no_interventions(interventions)
        x, h0, c0, lengths = self._inputs(x, lengths, h0, c0)
        N = x.shape[0]
        if N == 0:
            return float("nan")
        target = self._check_target(target, loss, N)
        total = 0.0
        for s in range(0, N, batch_size):
            e = min(N, s + batch_size)
            run = self._run_seq(x[s:e], h0[:, s:e], c0[:, s:e], lengths[s:e], self.params, interrupt=interrupt)
            value, _ = loss_and_dy(loss, run.y, target[s:e], True)
            total += value * (e - s)
        return total / N


__all__ = ["POOLS", "SequenceModel", "SequenceParamCount", "SequenceTrace", "reverse_index"]

"""Recurrent layers (stacked, optionally bidirectional) and a linear head, with losses and exact
backpropagation through time.

:class:`RecurrentModel` is cell-agnostic; :class:`LSTMModel` is it with
:class:`~explorer.engine.cells.LSTMCell` s. Stacking and the reverse direction follow
``torch.nn.LSTM(num_layers=L, bidirectional=True, batch_first=True)`` exactly: layer k > 0 takes
the D·n outputs ``[h_fwd; h_bwd]`` of layer k − 1, the reverse direction runs from the last step
to the first, and the head sees ``[h_t^fwd; h_t^bwd]`` of the top layer at every step.

Parameters live in one flat vector (:attr:`RecurrentModel.params`): every cell's block in the
order layer 0 forward, layer 0 reverse, layer 1 forward, …, then the head ``V`` (D·n, k) and
``d`` (k). Optimisers and clipping work on that vector.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .blas import engine_threads
from .sampled import sampled_head_loss
from .cells import CELLS, Cell, GRUCell, LSTMCell, PeepholeLSTMCell, RNNCell, is_tokens
from .connectivity import connectivity as _connectivity
from .fpenv import flush_denormals
from .init import xavier_uniform
from .interventions import resolve
from .losses import loss_and_dy, target_is_last_only

_STEP_SKIP = ("x", "h0", "c0", "y")
HEAD_CHUNK = 1 << 20
"""The head's outputs and their loss are computed for this many entries (T·B·k) at a time: with
a vocabulary of 30,000 the logits of a whole batch would be the largest arrays of a step."""
EVAL_BYTES = 32 << 20
"""Evaluation (:meth:`RecurrentModel.evaluate`, :meth:`~RecurrentModel.predict`,
:meth:`~RecurrentModel.predict_classes`) without a ``batch_size`` runs as many sequences at a time
as fit in this many bytes of working memory -- or in a training step's, when that is more (see
:meth:`RecurrentModel.eval_batch_size`)."""
EVAL_MAX_BATCH = 256
"""Evaluation never runs more sequences at a time than this."""


def _flushing(method):
    """Run ``method`` with denormal numbers flushed to zero (see :mod:`.fpenv`) and the engine's
    BLAS thread count (see :mod:`.blas`)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with flush_denormals(), engine_threads():
            return method(self, *args, **kwargs)
    return wrapper


class TraceArrays:
    """Named read-only arrays of one forward pass (``fields``; ``x`` batch-first, (B, T, …)) and
    the sizes every trace has: ``batch``, ``T``, ``num_layers`` (the layers in ``_layers``)."""

    def _set_fields(self, fields: dict) -> None:
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

    @property
    def num_layers(self) -> int:
        return len(self._layers)


class Trace(TraceArrays):
    """Everything one forward pass computed, batch-major, read-only.

    Attribute access gives **layer 0, forward direction**, as in round 1: ``x`` (the input as
    given: floats (B, T, m) or token ids (B, T)), ``h0`` (B, n), ``y`` (B, T, k) the head's
    output, and for every name in the cell's ``trace_names`` a (B, T, n) array (LSTM: ``i, f,
    g, o, c, h``), plus ``z`` the pre-activations (B, T, G·n) for the LSTMs and the RNN; ``c0``
    (B, n) for cells with a cell state. Every array is in the original time order, the reverse
    direction's too.

    Deeper and bidirectional models: :meth:`layer` gives the trace of one layer and direction
    (same names; its ``x`` is that layer's input), :meth:`stacked` one name over all of them,
    ``num_layers`` and ``num_directions`` say how many. ``tokens`` is the ids (B, T) or None.
    """

    def __init__(self, kind: str, fields: dict, layers=None, layer_index: int = 0, direction: int = 0,
                 tokens: np.ndarray | None = None):
        self.kind = kind
        self._set_fields(fields)
        if layers is None:
            layers = [[{k: v for k, v in fields.items() if k != "y"}]]
        self._layers = layers
        self.layer_index = int(layer_index)
        self.direction = int(direction)
        if tokens is not None:
            tokens.setflags(write=False)
        self.tokens = tokens

    @property
    def num_directions(self) -> int:
        return len(self._layers[0])

    def layer(self, k: int, d: int = 0) -> Trace:
        """The trace of layer ``k`` (0 = the input's), direction ``d`` (0 forward, 1 reverse)."""
        if not (0 <= k < self.num_layers and 0 <= d < self.num_directions):
            raise IndexError(f"no layer {k}, direction {d}: the trace has {self.num_layers} layer(s) "
                             f"and {self.num_directions} direction(s)")
        return Trace(self.kind, {**self._layers[k][d], "y": self.y}, self._layers, k, d, self.tokens)

    def stacked(self, name: str) -> np.ndarray:
        """``name`` of every layer and direction as one (L, D, B, T, ·) array (a copy)."""
        arrays = [[self._layers[k][d][name] for d in range(self.num_directions)]
                  for k in range(self.num_layers)]
        shapes = {a.shape for row in arrays for a in row}
        if len(shapes) != 1:
            raise ValueError(f"{name!r} differs in shape between layers ({sorted(shapes)}); use trace.layer(k, d)")
        return np.stack([np.stack(row) for row in arrays])

    def final_state(self) -> tuple:
        """``(h_n, c_n)`` as torch returns them: (L·D, B, n) each, index k·D + d, the state each
        direction ends in (the reverse direction's at t = 0); ``c_n`` None without a cell state.
        Feeding them back as ``h0``/``c0`` continues a unidirectional model exactly."""
        D = self.num_directions
        ends = [[(row[d]["h"], row[d].get("c")) for d in range(D)] for row in self._layers]
        h = np.stack([hc[0][:, -1 if d == 0 else 0] for row in ends for d, hc in enumerate(row)])
        if ends[0][0][1] is None:
            return h, None
        return h, np.stack([hc[1][:, -1 if d == 0 else 0] for row in ends for d, hc in enumerate(row)])

    def sample(self, b: int) -> Trace:
        """A trace of sample ``b`` alone (batch 1, copies), every layer and direction."""
        layers = [[{k: v[b:b + 1].copy() for k, v in f.items()} for f in row] for row in self._layers]
        fields = {**layers[self.layer_index][self.direction], "y": self.y[b:b + 1].copy()}
        tokens = None if self.tokens is None else self.tokens[b:b + 1].copy()
        return Trace(self.kind, fields, layers, self.layer_index, self.direction, tokens)

    def step(self, b: int, t: int) -> dict:
        """The record of sample ``b`` at timestep ``t`` (0-based): x, h_prev (c_prev), every gate,
        c, h, y — and ``token`` for ids.

        "Previous" is in the direction's own order: for the forward direction the state of
        t − 1 (h0/c0 at t = 0), for the reverse direction that of t + 1 (h0/c0 at t = T − 1).
        """
        T = self.T
        if not 0 <= t < T:
            raise IndexError(f"timestep {t} outside 0..{T - 1}")
        rev = self.direction == 1
        first = t == (T - 1 if rev else 0)
        prev = t + 1 if rev else t - 1
        rec = {"x": self.x[b, t], "h_prev": self.h0[b] if first else self.h[b, prev]}
        if "c0" in self.fields:
            rec["c_prev"] = self.c0[b] if first else self.c[b, prev]
        n = self.h.shape[2]
        for k in self.fields:            # per-unit fields (the GRU's gate z; not an LSTM's pre-activations z)
            a = getattr(self, k)
            if k not in _STEP_SKIP and a.ndim == 3 and a.shape[2] == n:
                rec[k] = a[b, t]
        rec["y"] = self._step_y(b, t)
        if self.tokens is not None:
            rec["token"] = int(self.tokens[b, t])
        return rec

    def _step_y(self, b: int, t: int) -> np.ndarray:
        """The head's output recorded with step ``t`` of sample ``b``."""
        return self.y[b, t]


@dataclass(frozen=True)
class GradNorms:
    """Gradient norms through time for one step: ``dh[t] = ||dL/dh_t||``, ``dc[t] = ||dL/dc_t||``
    of layer 0 (total gradients as BPTT carries them; Frobenius over batch, units and both
    directions), each (T,); ``dh_layers``, ``dc_layers`` (L, T) the same for every layer.
    The ``dc`` fields are None for cells without a cell state."""

    dh: np.ndarray
    dc: np.ndarray | None
    dh_layers: np.ndarray | None = None
    dc_layers: np.ndarray | None = None


@dataclass(frozen=True)
class ParamCount:
    """Parameters held: all recurrent layers (``layer``, kept for round 1's callers), the head
    k(D·n + 1), their total, and ``layers`` the count of every layer (both directions)."""

    layer: int
    head: int
    total: int
    layers: tuple = ()


@dataclass(frozen=True)
class StateGrads:
    """The total gradients BPTT carries, per sample, step and unit: ``dh`` = dL/dh_t and ``dc`` =
    dL/dc_t (None for the RNN and the GRU), (B, T, n) each, of layer 0 in the forward direction;
    :meth:`layer` gives any layer and direction (original time order). For the LSTM
    dL/dc_t = dL/dh_t ⊙ o_t ⊙ (1 − tanh² c_t) + dL/dc_{t+1} ⊙ f_{t+1}, and their Frobenius norms
    over batch and units are :class:`GradNorms`' ``dh``, ``dc``."""

    dh: np.ndarray
    dc: np.ndarray | None
    layers: tuple = ()          # layers[k][d] = (dh, dc)

    def layer(self, k: int, d: int = 0) -> StateGrads:
        dh, dc = self.layers[k][d]
        return StateGrads(dh, dc, self.layers)


@dataclass
class _Pass:
    """One forward pass: every cell's workspace, the top layer's outputs, the head's y."""

    wss: list          # [k][d] workspaces
    top: np.ndarray    # (T, B, D·n) time-major
    y: np.ndarray | None   # (T, B, k); None when the head runs inside the loss
    tokens: bool
    top_fm: np.ndarray | None = None   # (T, D·n, B): the top outputs of feature-major cells


class RecurrentModel:
    """Recurrent layers of ``n_units`` over ``n_inputs``, then y = V h + d with ``n_outputs``.

    Parameters
    ----------
    n_inputs, n_units, n_outputs : int
        m (the vocabulary for token ids), n and k.
    seed : int
        Seeds the generator that draws the initial weights (same seed, same numbers).
    dtype : numpy dtype
        float64 by default; float32 allowed.
    forget_bias : float
        Initial bias of the forget gate (LSTMs), 1.0 by default.
    num_layers : int
        Stacked layers L (torch's ``num_layers``).
    bidirectional : bool
        A reverse direction in every layer (torch's ``bidirectional``).
    """

    cell_class: type[Cell] = Cell

    def __init__(self, n_inputs: int = 1, n_units: int = 8, n_outputs: int = 1, seed: int = 0,
                 dtype=np.float64, forget_bias: float = 1.0, num_layers: int = 1,
                 bidirectional: bool = False):
        L, D = int(num_layers), 2 if bidirectional else 1
        if L < 1:
            raise ValueError("num_layers must be at least 1")
        if int(n_units) < 1:
            raise ValueError("n_inputs and n_units must be at least 1")
        self.cells = [[self.cell_class(n_inputs if k == 0 else D * int(n_units), n_units, dtype=dtype,
                                       forget_bias=forget_bias) for _ in range(D)] for k in range(L)]
        self.cell = self.cells[0][0]
        self.n_inputs, self.n_units, self.n_outputs = self.cell.m, self.cell.n, int(n_outputs)
        if self.n_outputs < 1:
            raise ValueError("n_outputs must be at least 1")
        self.num_layers, self.num_directions = L, D
        self.bidirectional = D == 2
        self.dtype = self.cell.dtype
        self.seed = seed
        self._slices, start = [], 0
        for row in self.cells:
            self._slices.append([])
            for cell in row:
                self._slices[-1].append(slice(start, start + cell.n_params))
                start += cell.n_params
        self.n_recurrent = start
        n, k = self.n_units, self.n_outputs
        self.params = np.zeros(start + D * n * k + k, dtype=self.dtype)
        self.grad = np.zeros_like(self.params)
        self._bufs: dict = {}
        self._bind()
        rng = np.random.default_rng(seed)
        for (kk, d), cell in self._each_cell():
            cell.init_params(rng, self.params[self._slices[kk][d]])
        self.V[...] = xavier_uniform(rng, k, D * n).T
        self.d[...] = 0.0

    def _bind(self):
        P, Dn, k = self.n_recurrent, self.num_directions * self.n_units, self.n_outputs
        self.layer_params = self.params[:P]
        self.V = self.params[P:P + Dn * k].reshape(Dn, k)
        self.d = self.params[P + Dn * k:]
        self.layer_grad = self.grad[:P]
        self.dV = self.grad[P:P + Dn * k].reshape(Dn, k)
        self.dd = self.grad[P + Dn * k:]

    def _each_cell(self):
        for k, row in enumerate(self.cells):
            for d, cell in enumerate(row):
                yield (k, d), cell

    @staticmethod
    def suffix(k: int, d: int) -> str:
        """The state-dict suffix of layer ``k``, direction ``d``: ``_l{k}`` (+ ``_reverse``)."""
        return f"_l{k}" + ("_reverse" if d else "")

    @property
    def kind(self) -> str:
        return self.cell.kind

    # -- sizes ------------------------------------------------------------------------------
    @property
    def param_count(self) -> ParamCount:
        layers = tuple(sum(c.n_params for c in row) for row in self.cells)
        head = self.n_outputs * (self.num_directions * self.n_units + 1)
        return ParamCount(sum(layers), head, sum(layers) + head, layers)

    def gate_names(self) -> tuple:
        """The blocks per-gate norms are reported for: the cell's gates, then ``"head"``."""
        return tuple(self.cell.gates) + ("head",)

    def gate_slices(self) -> dict:
        """``{block: indices into params}`` for per-gate gradient norms (every layer and
        direction), plus ``"head"``."""
        out = {g: [] for g in self.cell.gates}
        for (k, d), cell in self._each_cell():
            start = self._slices[k][d].start
            for g, idx in cell.gate_slices().items():
                out[g].append(idx + start)
        out = {g: np.concatenate(v) for g, v in out.items()}
        out["head"] = np.arange(self.n_recurrent, self.params.size)
        return out

    def gate_sq_norms(self, grad: np.ndarray | None = None) -> dict:
        """``{gate: sum of squares of the gradient over that gate in every layer, "head": …}``."""
        g = self.grad if grad is None else grad
        out = dict.fromkeys(self.cell.gates, 0.0)
        for (k, d), cell in self._each_cell():
            for name, v in cell.gate_sq_norms(g[self._slices[k][d]]).items():
                out[name] += v
        head = g[self.n_recurrent:]
        out["head"] = float(np.dot(head, head))
        return out

    def estimate_bytes(self, batch: int, T: int, trace: bool = True, tokens: bool = False) -> int:
        """Bytes a training step on (``batch``, ``T``) allocates: every cell's workspace, the
        layers' joined outputs and their gradients, the head's outputs — plus, with ``trace``,
        what a :meth:`forward` of the same batch adds (the pre-activations and the trace's
        copies). ``tokens``: layer 0 reads token ids (B, T) rather than floats (B, T, m).
        Parameters, gradients and optimiser moments are not included (``params.nbytes`` each).
        """
        B, T = int(batch), int(T)
        L, D, n, k = self.num_layers, self.num_directions, self.n_units, self.n_outputs
        Dn, TB = D * n, T * B
        # kept between calls: every cell's workspace, the layers' joined outputs, dL/d(top)
        kept = sum(cell.workspace_bytes(T, B, tokens and kk == 0, trace) for (kk, _), cell in self._each_cell())
        kept += ((L if D == 2 else L - 1) * TB * Dn + TB * Dn) * self.dtype.itemsize
        # the peak inside a training step: a cell's own temporaries, the head's chunk, the
        # gradients passed down between layers
        steps = min(T, max(1, HEAD_CHUNK // max(1, B * k)))
        copied = D == 1 and not self.cells[-1][0].hidden_contiguous(tokens and L == 1)
        head = 2 * steps * B * k + (steps * B * Dn if copied else 0)  # y, dL/dy, the outputs' copy
        below = (D + 2) * TB * Dn if L > 1 else 0
        cells = max(cell.transient_bytes(T, B, tokens and kk == 0) for (kk, _), cell in self._each_cell())
        step_peak = cells + (head + below) * self.dtype.itemsize
        if not trace:
            return int(kept + step_peak)
        # a forward of the same batch keeping a trace: the outputs and the trace's copies
        per_cell = sum(int(np.prod(s)) for s in self._trace_shapes(T, B).values())
        copies = per_cell * L * D + 2 * TB * k + TB * self.n_inputs * (not tokens)
        copies += (L - 1) * TB * Dn if D == 2 else 0              # the inputs of the layers above
        copies += self.cell.trace_transient(T, B)
        return int(kept + max(step_peak, copies * self.dtype.itemsize))

    def eval_batch_size(self, T: int, tokens: bool = False, train_batch: int | None = None,
                        rows: int | None = None) -> int:
        """How many sequences of length ``T`` evaluation runs at a time: the most (1 to
        :data:`EVAL_MAX_BATCH`) whose working memory (:meth:`estimate_bytes` without a trace) fits
        in :data:`EVAL_BYTES`, or in what a training step on ``train_batch`` sequences needs when
        that is more -- so evaluating never needs more than training does, beyond a small floor.
        ``rows``: no more than this many are asked for."""
        T = max(1, int(T))

        def need(b):
            return self.estimate_bytes(b, T, trace=False, tokens=tokens)

        limit = EVAL_BYTES if not train_batch else max(EVAL_BYTES, need(int(train_batch)))
        lo, hi = 1, max(1, min(EVAL_MAX_BATCH, int(rows) if rows else EVAL_MAX_BATCH))
        if need(hi) <= limit:
            return hi
        while lo < hi:                                   # the largest b with need(b) <= limit (at least 1)
            mid = (lo + hi + 1) // 2
            if need(mid) <= limit:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _trace_shapes(self, T, B):
        cell, n = self.cell, self.n_units
        shapes = cell.trace_field_shapes(T, B)
        shapes["h0"] = (B, n)
        if "c" in cell.state_names:
            shapes["c0"] = (B, n)
        return shapes

    # -- state dict -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """PyTorch-named copies: every layer's ``*_l{k}`` (``*_l{k}_reverse``) tensors, then
        ``head.weight`` (k, D·n), ``head.bias`` (k)."""
        return self._named(self.params, "state_dict")

    def grads_dict(self, grad: np.ndarray | None = None) -> dict:
        """A flat gradient under the state dict's keys (each bias key carries dL/db)."""
        return self._named(self.grad if grad is None else grad, "grads_dict")

    def _named(self, flat, method) -> dict:
        d = {}
        for (k, dd), cell in self._each_cell():
            d.update(getattr(cell, method)(flat[self._slices[k][dd]], self.suffix(k, dd)))
        d.update(self._named_head(flat))
        return d

    def _named_head(self, flat) -> dict:
        """The state dict's entries after the recurrent layers, from a flat vector like :attr:`params`."""
        V, b = self._head_params(flat)
        return {"head.weight": V.T.copy(), "head.bias": b.copy()}

    def head_keys(self) -> tuple:
        """The state dict's keys after the recurrent layers."""
        return ("head.weight", "head.bias")

    def load_state_dict(self, d: dict) -> None:
        """Load a state dict (this engine's, or ``torch.nn.LSTM``/``GRU``/``RNN``'s with a head
        under ``head.``); biases of one-bias cells are summed. Keys of layers or directions this
        model does not have are refused."""
        expected = set(self.head_keys())
        for (k, dd), cell in self._each_cell():
            expected.update(cell.state_keys(self.suffix(k, dd)))
            expected.update(cell.legacy_keys(self.suffix(k, dd)))
        extra = sorted(key for key in d if key not in expected)
        if extra:
            raise ValueError(f"state dict has {extra[0]!r}, which this {self.num_layers}-layer "
                             f"{'bidirectional ' if self.bidirectional else ''}{self.kind} model does not hold")
        new = self.params.copy()
        self.load_flat(d, new)
        self.params[...] = new

    def load_flat(self, d: dict, flat: np.ndarray) -> None:
        """Write state dict ``d`` into ``flat`` (a vector laid out like :attr:`params`)."""
        for (k, dd), cell in self._each_cell():
            cell.load_state_dict(d, flat[self._slices[k][dd]], self.suffix(k, dd))
        self._load_head(d, flat)

    def _load_head(self, d: dict, flat: np.ndarray) -> None:
        """Write the head of state dict ``d`` into ``flat``."""
        Dn, kk = self.num_directions * self.n_units, self.n_outputs
        if "head.weight" not in d or "head.bias" not in d:
            raise KeyError("state dict has no 'head.weight' / 'head.bias'")
        hw, hb = np.asarray(d["head.weight"]), np.asarray(d["head.bias"])
        if hw.shape != (kk, Dn) or hb.shape != (kk,):
            raise ValueError(f"head has shapes {hw.shape}, {hb.shape}; expected {(kk, Dn)}, {(kk,)}")
        V, b = self._head_params(flat)
        V[...] = hw.T
        b[...] = hb

    def clone(self) -> RecurrentModel:
        """A model of the same kind and sizes holding a copy of these weights, with its own
        buffers (a model is not thread-safe: compute on a clone in another thread)."""
        other = type(self)(self.n_inputs, self.n_units, self.n_outputs, seed=self.seed, dtype=self.dtype,
                           forget_bias=self.cell.forget_bias, num_layers=self.num_layers,
                           bidirectional=self.bidirectional)
        other.params[...] = self.params
        return other

    def save(self, path) -> None:
        """Save the state dict as ``.npz``."""
        np.savez(path, **self.state_dict())

    def load(self, path) -> None:
        with np.load(path, allow_pickle=False) as z:
            self.load_state_dict({k: z[k] for k in z.files})

    # -- computation ------------------------------------------------------------------------
    def _prepare(self, x, h0, c0):
        """Checked inputs: x (floats in the model's dtype, or ids), h0 and c0 as (L·D, B, n)."""
        x = np.asarray(x)
        m = self.n_inputs
        if is_tokens(x):
            if x.ndim != 2:
                raise ValueError(f"token ids must be (batch, T); got {x.shape}")
            if x.size and (x.min() < 0 or x.max() >= m):
                raise ValueError(f"token ids must lie in 0..{m - 1} (the vocabulary); "
                                 f"got {x.min()}..{x.max()}")
            x = x.astype(np.intp, copy=False)
        else:
            x = np.asarray(x, dtype=self.dtype)
            if x.ndim != 3 or x.shape[2] != m:
                raise ValueError(f"x must be (batch, T, {m}) or token ids (batch, T); got {x.shape}")
        B, n, LD = x.shape[0], self.n_units, self.num_layers * self.num_directions
        return x, self._state(h0, "h0", B, n, LD), self._state(c0, "c0", B, n, LD)

    def _state(self, s, name, B, n, LD):
        if s is None:
            return np.zeros((LD, B, n), self.dtype)
        s = np.asarray(s, self.dtype)
        if s.shape == (B, n) and LD == 1:
            return s[None]
        if s.shape != (LD, B, n):
            want = f"(batch, {n})" + (" or " if LD == 1 else "") + f"({LD}, batch, {n})"
            raise ValueError(f"{name} must be {want if LD == 1 else f'({LD}, batch, {n})'}; got {s.shape}")
        return s

    def _buffer(self, name, shape):
        key = (name, shape)
        buf = self._bufs.get(key)
        if buf is None:
            if len(self._bufs) >= 24:
                self._bufs.clear()
            buf = self._bufs[key] = np.empty(shape, self.dtype)
        return buf

    def _head_params(self, params):
        P, Dn, k = self.n_recurrent, self.num_directions * self.n_units, self.n_outputs
        return params[P:P + Dn * k].reshape(Dn, k), params[P + Dn * k:]

    def _run(self, x, h0, c0, keep_z=False, params=None, clamps=None, interrupt=None, head=True) -> _Pass:
        """Forward through every layer and direction into the cells' workspaces, then the head
        (unless ``head`` is False: the loss computes it chunk by chunk)."""
        params = self.params if params is None else params
        tokens = x.ndim == 2
        inp = x.T if tokens else x.transpose(1, 0, 2)       # time-major
        T, B = inp.shape[0], inp.shape[1]
        L, D, n = self.num_layers, self.num_directions, self.n_units
        wss = []
        for k in range(L):
            row = []
            for d in range(D):
                cell = self.cells[k][d]
                ws = cell.forward(params[self._slices[k][d]], inp if d == 0 else inp[::-1],
                                  h0[k * D + d], c0[k * D + d], keep_z,
                                  clamps.get((k, d), ()) if clamps else (), interrupt)
                row.append(ws)
            wss.append(row)
            top_fm = None
            if D == 1:
                inp = self.cells[k][0].hidden(row[0])        # (T, B, n) view
                fm = getattr(self.cells[k][0], "hidden_fm", None)
                top_fm = fm(row[0]) if fm else None
            elif all(hasattr(c, "hidden_fm") for c in self.cells[k]):
                top_fm = self._buffer(("out_fm", k), (T, D * n, B))   # feature-major: whole rows copied
                top_fm[:, :n] = self.cells[k][0].hidden_fm(row[0])
                top_fm[:, n:] = self.cells[k][1].hidden_fm(row[1])[::-1]
                inp = top_fm.transpose(0, 2, 1)
            else:
                inp = self._buffer(("out", k), (T, B, D * n))
                inp[:, :, :n] = self.cells[k][0].hidden(row[0])
                inp[:, :, n:] = self.cells[k][1].hidden(row[1])[::-1]
        y = None
        if head:
            V, d = self._head_params(params)
            y = inp @ V
            y += d
        return _Pass(wss, inp, y, tokens, top_fm)

    @_flushing
    def forward(self, x, h0=None, c0=None, interventions=None, interrupt=None) -> Trace:
        """Run over ``x`` (B, T, m) floats or (B, T) token ids and return the :class:`Trace`
        (fresh read-only arrays). ``h0``/``c0``: (B, n) for one layer and direction, else
        (L·D, B, n) in torch's order (index k·D + d). ``interventions``: :class:`Clamp` s and
        :class:`SetWeight` s; the trace shows the clamped values."""
        x, h0, c0 = self._prepare(x, h0, c0)
        params, clamps = resolve(self, interventions, x.shape[1])
        run = self._run(x, h0, c0, keep_z=True, params=params, clamps=clamps, interrupt=interrupt)
        return self._trace(x, h0, c0, run)

    def _trace(self, x, h0, c0, run: _Pass) -> Trace:
        D = self.num_directions
        has_c = "c" in self.cell.state_names
        layers = []
        below = x.copy()
        for k, row in enumerate(run.wss):
            layers.append([])
            for d, ws in enumerate(row):
                f = {"x": below, "h0": h0[k * D + d].copy()}
                if has_c:
                    f["c0"] = c0[k * D + d].copy()
                for name, arr in self.cells[k][d].trace_arrays(ws).items():
                    f[name] = (arr if d == 0 else arr[::-1]).transpose(1, 0, 2).copy()
                layers[-1].append(f)
            if k + 1 < len(run.wss):
                below = np.concatenate([layers[-1][d]["h"] for d in range(D)], axis=2) if D > 1 \
                    else layers[-1][0]["h"]
        fields = {**layers[0][0], "y": run.y.transpose(1, 0, 2).copy()}
        return Trace(self.kind, fields, layers, 0, 0, fields["x"] if run.tokens else None)

    @_flushing
    def predict(self, x, h0=None, c0=None, batch_size: int | None = None, interventions=None,
                interrupt=None) -> np.ndarray:
        """Outputs y (B, T, k) without keeping a trace, ``batch_size`` sequences at a time (None:
        :meth:`eval_batch_size`, within the memory budget)."""
        x, h0, c0 = self._prepare(x, h0, c0)
        batch_size = batch_size or self.eval_batch_size(x.shape[1], x.ndim == 2, rows=x.shape[0])
        params, clamps = resolve(self, interventions, x.shape[1])
        out = np.empty((x.shape[0], x.shape[1], self.n_outputs), dtype=self.dtype)
        for s in range(0, x.shape[0], batch_size):
            e = s + batch_size
            run = self._run(x[s:e], h0[:, s:e], c0[:, s:e], params=params, clamps=clamps, interrupt=interrupt)
            out[s:e] = run.y.transpose(1, 0, 2)
        return out

    @_flushing
    def predict_classes(self, x, h0=None, c0=None, batch_size: int | None = None, interrupt=None) -> np.ndarray:
        """The most likely class (argmax of y) at every step, (B, T) int64 — for next-token
        models with a large vocabulary, where y itself (B, T, k) would be large: the head runs
        :data:`HEAD_CHUNK` entries at a time, ``batch_size`` sequences at a time as in :meth:`predict`."""
        x, h0, c0 = self._prepare(x, h0, c0)
        batch_size = batch_size or self.eval_batch_size(x.shape[1], x.ndim == 2, rows=x.shape[0])
        B, T = x.shape[0], x.shape[1]
        out = np.empty((B, T), dtype=np.int64)
        V, d = self._head_params(self.params)
        for s in range(0, B, batch_size):
            e = min(B, s + batch_size)
            top = self._run(x[s:e], h0[:, s:e], c0[:, s:e], interrupt=interrupt, head=False).top
            step = max(1, HEAD_CHUNK // max(1, (e - s) * self.n_outputs))
            for t0 in range(0, T, step):
                y = top[t0:t0 + step] @ V
                y += d
                out[s:e, t0:t0 + step] = y.argmax(axis=-1).T
        return out

    @_flushing
    def evaluate(self, x, target, loss="mse", batch_size=None, h0=None, c0=None, interventions=None,
                 interrupt=None) -> float:
        """Mean loss over a dataset (no gradients), ``batch_size`` sequences at a time as in
        :meth:`predict`."""
        x = np.asarray(x)
        target = np.asarray(target)
        N = x.shape[0]
        if N == 0:
            return float("nan")
        total = 0.0
        x, h0_all, c0_all = self._prepare(x, h0, c0)
        batch_size = batch_size or self.eval_batch_size(x.shape[1], x.ndim == 2, rows=x.shape[0])
        params, clamps = resolve(self, interventions, x.shape[1])
        for s in range(0, N, batch_size):
            e = s + batch_size
            xb, tb = x[s:e], target[s:e]
            run = self._run(xb, h0_all[:, s:e], c0_all[:, s:e], params=params, clamps=clamps,
                            interrupt=interrupt, head=False)
            value, _ = self._head_loss(run, tb, loss, self.params if params is None else params)
            total += value * xb.shape[0]
        return total / N

    def _head_loss(self, run: _Pass, target, loss, params, grad=None, sampled=None):
        """The head and the loss over the top layer's outputs: ``(loss, dL/d(top outputs))``.

        With ``grad`` (a flat gradient) the head's gradients go into it and dL/d(top outputs)
        (T, B, D·n) is returned, else None. A last-step target uses step T − 1 alone (the loss
        reaches the reverse direction at its first step); a target on every step is computed
        :data:`HEAD_CHUNK` entries at a time. ``sampled`` (candidates of
        :meth:`~explorer.engine.sampled.SampledSoftmax.candidates`, with ``grad`` and class targets
        on every step): the softmax over those classes only (:mod:`.sampled`).
        """
        H = run.top
        T, B = H.shape[0], H.shape[1]
        target = np.asarray(target)
        last_only = target_is_last_only(loss, target, T)
        if target.shape[0] != B:
            raise ValueError("target and x must have the same batch size")
        if loss == "mse":
            target = np.asarray(target, self.dtype)
            if target.shape[-1] != self.n_outputs:
                raise ValueError(f"mse target must end in k = {self.n_outputs}")
        V, d = self._head_params(params)
        dV, dd = self._head_params(grad) if grad is not None else (None, None)
        if last_only:
            y = H[-1] @ V
            y += d
            value, dy = loss_and_dy(loss, y, target, True)                 # dy (B, k)
            if grad is None:
                return value, None
            np.matmul(H[-1].T, dy, out=dV)
            np.sum(dy, axis=0, out=dd)
            dTop = self._buffer("dtop", H.shape)
            dTop[:-1] = 0.0
            np.matmul(dy, V.T, out=dTop[-1])
            return value, dTop
        tgt = np.swapaxes(target, 0, 1)                                    # time-major
        if sampled is not None and grad is not None and loss == "cross_entropy":
            dTop = self._buffer("dtop", H.shape)
            return sampled_head_loss(H, tgt, V, d, dV, dd, dTop, sampled, HEAD_CHUNK), dTop
        if run.top_fm is not None and self.n_outputs <= 16 and run.top_fm[0].size >= 1024:
            return self._head_loss_fm(run.top_fm, tgt, loss, V, d, dV, dd)
        step = max(1, HEAD_CHUNK // max(1, B * self.n_outputs))
        chunks = [(t, min(T, t + step)) for t in range(0, T, step)]
        dTop = None if grad is None else self._buffer("dtop", H.shape)
        value = 0.0
        for t0, t1 in chunks:
            Hc = np.ascontiguousarray(H[t0:t1])
            y = Hc @ V
            y += d
            v, dy = loss_and_dy(loss, y, tgt[t0:t1], False)               # dy (c, B, k)
            if len(chunks) == 1:
                value = v
            else:                                                          # means over the chunk
                share = (t1 - t0) / T
                value += v * share
                dy *= share
            if grad is None:
                continue
            Hf, dyf = Hc.reshape((t1 - t0) * B, -1), dy.reshape((t1 - t0) * B, -1)
            if t0 == 0:
                np.matmul(Hf.T, dyf, out=dV)
                np.sum(dyf, axis=0, out=dd)
            else:
                dV += Hf.T @ dyf
                dd += dyf.sum(axis=0)
            np.matmul(dy, V.T, out=dTop[t0:t1])
            del y, dy                                                      # before the next chunk's
        return value, dTop

    def _head_loss_fm(self, Hf, tgt, loss, V, d, dV, dd):
        """The every-step head over feature-major outputs Hf (T, n, B) and a few outputs k: the
        products per step need no transposed copy of the outputs, and dL/d(outputs) comes back
        in the cell's own layout (returned as its (T, B, n) view). For n·B ≥ 1024 only: below,
        T small products cost more than the copies."""
        y = np.matmul(V.T, Hf)                                             # (T, k, B)
        y += d[:, None]
        value, dy = loss_and_dy(loss, y.transpose(0, 2, 1), tgt, False)    # dy (T, B, k)
        if dV is None:
            return value, None
        np.sum(np.matmul(Hf, dy), axis=0, out=dV)                          # Σ_t h_t dy_tᵀ
        np.sum(dy, axis=(0, 1), out=dd)
        dTop = self._buffer("dtop_fm", Hf.shape)
        if V.shape[1] == 1:                                                # an outer product per step
            np.multiply(V[None], dy.transpose(0, 2, 1), out=dTop)
        else:
            np.matmul(V, dy.transpose(0, 2, 1), out=dTop)                  # (T, n, B)
        return value, dTop.transpose(0, 2, 1)

    def _backward(self, run: _Pass, dTop, params, grad, want_dx, interrupt):
        """Backpropagate dL/d(top outputs) through every layer and direction.

        Returns ``(dx or None, dh0 (L·D, B, n), dc0 or None, per)`` with ``per[k][d] = (dh_all,
        dc_all)`` in the cell's own time order (workspace views).
        """
        L, D, n = self.num_layers, self.num_directions, self.n_units
        B = dTop.shape[1]
        has_c = "c" in self.cell.state_names
        dh0 = np.empty((L * D, B, n), self.dtype)
        dc0 = np.empty((L * D, B, n), self.dtype) if has_c else None
        per = [[None] * D for _ in range(L)]
        dOut = dTop
        for k in range(L - 1, -1, -1):
            need_dx = k > 0 or (want_dx and not run.tokens)
            dIn = None
            for d in range(D):
                dH = dOut if D == 1 else dOut[:, :, d * n:(d + 1) * n]
                sl = self._slices[k][d]
                dx, h0g, c0g, dHt, dCt = self.cells[k][d].backward(
                    params[sl], run.wss[k][d], dH if d == 0 else self._reversed(run, dH), grad[sl], need_dx,
                    interrupt)
                dh0[k * D + d] = h0g
                if has_c:
                    dc0[k * D + d] = c0g
                per[k][d] = (dHt, dCt) if d == 0 else self._reverse_states(run, dHt, dCt)
                if need_dx:
                    dx = dx if d == 0 else self._reversed(run, dx)
                    dIn = dx if dIn is None else dIn + dx
            dOut = dIn
        return dOut, dh0, dc0, per

    @staticmethod
    def _reversed(run, a: np.ndarray) -> np.ndarray:
        """``a`` (T, …) between the original time order and the reverse direction's own (the
        mapping is its own inverse); whole-sequence models reverse within each length."""
        return a[::-1]

    @staticmethod
    def _reverse_states(run, dHt, dCt) -> tuple:
        """The reverse direction's dL/dh_t, dL/dc_t in the order :meth:`_norms` reads them."""
        return dHt, dCt

    def _norms(self, per) -> GradNorms:
        def sq(a):
            return np.einsum("tbn,tbn->t", a, a)

        if len(per) == 1 and len(per[0]) == 1:             # one layer, one direction
            dHt, dCt = per[0][0]
            dh = np.sqrt(sq(dHt))
            dc = None if dCt is None else np.sqrt(sq(dCt))
            return GradNorms(dh, dc, dh[None], None if dc is None else dc[None])

        def through_time(arrs):                             # both directions, original time order
            return np.sqrt(sum(sq(a) if d == 0 else sq(a)[::-1] for d, a in enumerate(arrs)))

        dh = np.stack([through_time([p[0] for p in row]) for row in per])
        dc = None
        if per[0][0][1] is not None:
            dc = np.stack([through_time([p[1] for p in row]) for row in per])
        return GradNorms(dh=dh[0].copy(), dc=None if dc is None else dc[0].copy(), dh_layers=dh, dc_layers=dc)

    @_flushing
    def compute_grads(self, x, target, loss="mse", h0=None, c0=None, want_dx=False, interrupt=None,
                      interventions=None, sampled=None):
        """Loss and gradients into :attr:`grad` (a reused buffer, flat, like :attr:`params`).

        Returns ``(loss, norms, extra)`` where ``norms`` is a :class:`GradNorms` and ``extra``
        holds ``x`` (B, T, m; not for token ids), ``h0`` and ``c0`` when ``want_dx``.
        ``interrupt`` (a callable) is asked every few timesteps of the forward and backward
        loops; when it returns True, :class:`~explorer.engine.cells.Interrupted` is raised and
        the parameters are untouched. With ``interventions`` the gradients are those of the
        intervened model (a clamped value is a constant). ``sampled``: a sampled softmax's
        candidate classes for this step (see :mod:`.sampled`). The trainer uses this directly;
        :meth:`loss_and_grads` wraps it in the state-dict keys.
        """
        value, per, dx, dh0, dc0 = self._grads(x, target, loss, h0, c0, want_dx, interrupt,
                                               interventions, self.grad, sampled)
        extra = {}
        if want_dx:
            one = self.num_layers * self.num_directions == 1
            if dx is not None:
                extra["x"] = dx.transpose(1, 0, 2).copy()
            extra["h0"] = dh0[0] if one else dh0
            if dc0 is not None:
                extra["c0"] = dc0[0] if one else dc0
        return value, self._norms(per), extra

    def _grads(self, x, target, loss, h0, c0, want_dx, interrupt, interventions, grad, sampled=None):
        x, h0, c0 = self._prepare(x, h0, c0)
        params, clamps = resolve(self, interventions, x.shape[1])
        params = self.params if params is None else params
        run = self._run(x, h0, c0, params=params, clamps=clamps, interrupt=interrupt, head=False)
        value, dTop = self._head_loss(run, target, loss, params, grad, sampled)
        dx, dh0, dc0, per = self._backward(run, dTop, params, grad, want_dx, interrupt)
        return value, per, dx, dh0, dc0

    @_flushing
    def state_grads(self, x, target, loss: str = "mse", h0=None, c0=None, interventions=None,
                    interrupt=None) -> StateGrads:
        """dL/dh_t and dL/dc_t for every sample, step and unit (:class:`StateGrads`), as the
        backward pass carries them; :attr:`grad` is left as it was."""
        _, per, _, _, _ = self._grads(x, target, loss, h0, c0, False, interrupt, interventions,
                                      np.zeros_like(self.params))

        def batch_major(a, d):
            return None if a is None else (a if d == 0 else a[::-1]).transpose(1, 0, 2).copy()

        layers = tuple(tuple((batch_major(dh, d), batch_major(dc, d)) for d, (dh, dc) in enumerate(row))
                       for row in per)
        return StateGrads(layers[0][0][0], layers[0][0][1], layers)

    @_flushing
    def connectivity(self, x, t: int, of: str = "h", h0=None, c0=None, interventions=None,
                     per_unit: bool = False) -> np.ndarray:
        """‖∂h_t/∂x_s‖ (Frobenius over units and input features) for x (B, T, m) and a 0-based
        step ``t``: a (B, T) array, exactly 0 where h_t does not depend on x_s. ``of="y"`` uses
        the head's outputs; ``per_unit`` gives (B, J, T), one row per output unit. See
        :mod:`.connectivity`."""
        return _connectivity(self, x, t, of, h0, c0, interventions, per_unit)

    def loss_and_grads(self, x, target, loss: str = "mse", h0=None, c0=None,
                       with_norms: bool = False, with_input_grads: bool = False, interventions=None):
        """Loss and gradients of every parameter.

        Returns ``(loss, grads)`` or, with ``with_norms=True``, ``(loss, grads, norms)``.
        ``grads`` uses the state dict's keys; with ``with_input_grads=True`` it also holds
        ``"x"`` (B, T, m; not for token ids), ``"h0"`` and ``"c0"`` (shaped as given).
        """
        value, norms, extra = self.compute_grads(x, target, loss, h0, c0, want_dx=with_input_grads,
                                                 interventions=interventions)
        grads = self.grads_dict()
        grads.update(extra)
        return (value, grads, norms) if with_norms else (value, grads)


class LSTMModel(RecurrentModel):
    """LSTM layers (one bias per gate) and a linear head. See :class:`RecurrentModel`."""

    cell_class = LSTMCell


class RNNModel(RecurrentModel):
    """Plain RNN layers h = tanh(W x + U h + b) and a linear head."""

    cell_class = RNNCell


class GRUModel(RecurrentModel):
    """GRU layers (``torch.nn.GRU``'s equations and biases) and a linear head."""

    cell_class = GRUCell


class PeepholeLSTMModel(RecurrentModel):
    """Peephole LSTM layers (Gers & Schmidhuber 2000) and a linear head."""

    cell_class = PeepholeLSTMCell


MODELS = {"rnn": RNNModel, "gru": GRUModel, "lstm": LSTMModel, "peephole": PeepholeLSTMModel}


def make_model(kind: str = "lstm", n_inputs: int = 1, n_units: int = 8, n_outputs: int = 1,
               num_layers: int = 1, bidirectional: bool = False, seed: int = 0, dtype=np.float64,
               forget_bias: float = 1.0, kernel: int = 3, peephole: bool = False,
               frame: tuple | None = None, pool: str | None = None,
               attention_size: int | None = None) -> RecurrentModel:
    """``make_model("rnn" | "gru" | "lstm" | "peephole", n_inputs, n_units, n_outputs,
    num_layers=1, bidirectional=False, seed=0)``: a model with the head at every step; with
    ``pool="last"`` or ``pool="attention"`` a whole-sequence model
    (:class:`~explorer.engine.attention.SequenceModel`, one output per sequence).
    ``"treelstm"`` and ``"nary-treelstm"`` give a :class:`~explorer.engine.treelstm.TreeLSTMModel`
    (one layer, one direction); ``make_model("convlstm", n_inputs=C, n_units=F, n_outputs=C_out,
    kernel=k, num_layers=L, peephole=False, frame=(H, W))`` gives a
    :class:`~explorer.engine.convlstm.ConvLSTMModel` (``kernel``, ``peephole`` and ``frame`` are
    its alone), with ``pool="mean"`` a
    :class:`~explorer.engine.convlstm_classes.ConvLSTMClassifier` (one class per sequence)."""
    if kind in ("treelstm", "nary-treelstm"):
        from .treelstm import make_tree_model
        return make_tree_model(kind, n_inputs, n_units, n_outputs, num_layers, bidirectional, seed, dtype)
    if kind == "convlstm":
        from .convlstm import ConvLSTMModel
        from .convlstm_classes import POOL, ConvLSTMClassifier

        if bidirectional:
            raise ValueError("the convlstm cell has no reverse direction")
        if pool not in (None, POOL):
            raise ValueError(f"the convlstm cell pools with pool={POOL!r} (classes) or none (next frame), not {pool!r}")
        return (ConvLSTMClassifier if pool else ConvLSTMModel)(n_inputs, n_units, n_outputs, kernel=kernel, num_layers=num_layers,
                             peephole=peephole, frame=frame, seed=seed, dtype=dtype, forget_bias=forget_bias)
    if pool is not None:
        from .attention import SequenceModel

        return SequenceModel(kind, n_inputs, n_units, n_outputs, pool=pool, attention_size=attention_size,
                             seed=seed, dtype=dtype, forget_bias=forget_bias, num_layers=num_layers,
                             bidirectional=bidirectional)
    try:
        cls = MODELS[kind]
    except KeyError:
        raise ValueError(f"unknown cell {kind!r}; choose one of {', '.join(MODELS)}, convlstm") from None
    return cls(n_inputs, n_units, n_outputs, seed=seed, dtype=dtype, forget_bias=forget_bias,
               num_layers=num_layers, bidirectional=bidirectional)


__all__ = ["RecurrentModel", "LSTMModel", "RNNModel", "GRUModel", "PeepholeLSTMModel", "MODELS", "Trace",
           "GradNorms", "ParamCount", "StateGrads", "make_model", "CELLS", "EVAL_BYTES", "EVAL_MAX_BATCH"]

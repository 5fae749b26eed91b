"""Recurrent cells over time-major buffers.

A cell owns the maths of one recurrent layer in one direction: forward over a whole sequence,
backward through time, its parameter layout in a flat vector, and the conversion to and from a
PyTorch-named state dict. Everything else (stacking layers, the reverse direction, the linear
head, losses, the trace, norms, optimisers, training) is shared by
:class:`explorer.engine.model.RecurrentModel`, so a plain RNN, a GRU or a peephole LSTM is one
more subclass of :class:`Cell`. A cell always runs forward in its own time order; the model
hands the reverse direction its input reversed in time.

Shapes (time-major inside the engine): T timesteps, B batch, m inputs, n units. The input is
either floats (T, B, m) or integer token ids (T, B) meaning one-hot vectors over m = the
vocabulary: then the input product is a gather of the input weights' rows (an embedding
lookup) and its gradient a scatter-add into them.

LSTM layout. One weight matrix ``W`` of shape (n + m + 1, 4n) acts on the stacked row
``[h_{t-1}, x_t, 1]``, so one product per step does the recurrence, the input and the bias:
rows ``0:n`` are Uᵀ (recurrent), rows ``n:n+m`` are Wᵀ (input), row ``n+m`` is the bias;
columns are the gate blocks in :data:`~explorer.engine.gates.LSTM_GATES` order. That is the
parameter layout (what optimisers and saved moments see); inside a call the LSTM cells work
feature-major on a scaled copy with the gate rows in the order o, i, f, g (see
:class:`LSTMCell`). The RNN and the GRU work batch-major, (T, B, features).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from . import blas
from .gates import LSTM_GATES
from .init import orthogonal, xavier_uniform

CHECK_EVERY = 4
"""With an ``interrupt`` callable, the loops over time ask it every this many steps."""

VIEW_BYTES = 200
"""Bytes one per-timestep NumPy view object costs (object, shape and strides), for estimates."""

ONE_HOT_SCATTER_LIMIT = 1 << 20
"""Token gradients: below vocabulary × (T·B) entries a one-hot product, above ``np.add.at``."""


_UNSET_LIMIT = object()


class Interrupted(Exception):
    """Raised inside a forward or backward pass when its ``interrupt`` callable returned True.

    The pass is abandoned: nothing was written into the parameters (the gradient buffer may
    hold partial numbers), so the training step simply did not happen.
    """


@dataclass
class Workspace:
    """Buffers of one (T, B) shape, allocated once and reused by every call of that shape."""

    T: int
    B: int
    arrays: dict = field(default_factory=dict)
    views: dict = field(default_factory=dict)
    tokens: np.ndarray | None = None     # the (T, B) ids of the last forward, if ids
    clamps: tuple = ()                   # the CellClamps of the last forward


@dataclass(frozen=True)
class CellClamp:
    """A clamp as one cell applies it: ``name`` (a gate or "h"), unit indices, steps in the
    cell's own time order, the value."""

    name: str
    units: np.ndarray
    steps: np.ndarray
    value: float


def is_tokens(x) -> bool:
    """True when ``x`` holds integer token ids rather than float inputs."""
    return np.asarray(x).dtype.kind in "iu"


def _steps(T: int, interrupt, reverse: bool = False):
    """The timesteps of a loop, asking ``interrupt()`` every :data:`CHECK_EVERY` steps."""
    r = range(T - 1, -1, -1) if reverse else range(T)
    if interrupt is None:
        return r
    return _checked_steps(r, interrupt)


def _checked_steps(r, interrupt):
    for j, t in enumerate(r):
        if not j % CHECK_EVERY and interrupt():
            raise Interrupted("interrupted")
        yield t


def _hooks(clamps) -> dict | None:
    """``{t: [(name, units, value), ...]}`` for the forward loop, or None without clamps."""
    if not clamps:
        return None
    out: dict = {}
    for c in clamps:
        for t in c.steps.tolist():
            out.setdefault(t, []).append((c.name, c.units, c.value))
    return out


def scatter_rows(out: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
    """``out[ids[j]] += rows[j]`` for every j (repeated ids add up): the gradient of a gather.

    A one-hot product when vocabulary × len(ids) is small (many repeats, BLAS speed), else
    ``np.add.at`` (memory grows with the ids, never with ids × vocabulary).
    """
    V, N = out.shape[0], ids.size
    if V * N <= ONE_HOT_SCATTER_LIMIT:
        onehot = np.zeros((V, N), dtype=rows.dtype)
        onehot[ids, np.arange(N)] = 1.0
        out += onehot @ rows
    else:
        np.add.at(out, ids, rows)


FACTOR_BLOCK_BYTES = 1 << 21
"""The LSTM's backward computes the factors of about this many bytes of steps at a time (a core's
L2 cache on the machines measured: 2 MB with 512 columns below was 1–8 % faster than 4 MB with
1,024 for the 2-layer bidirectional sizes, the same within noise for one layer)."""

CONTRACT_MIN_COLUMNS = 512
"""The backward loop forms the weight gradient of at least this many (step, sample) columns at a time."""

UNBUFFERED_MIN = 256
"""Rows of at least this many entries are read in place by :func:`unbuffered`."""

CONTRACT_CHUNK = 1 << 22
"""The weight gradient Σ_t X_t Yᵀ_t of feature-major arrays is formed this many entries at a time."""


@contextmanager
def unbuffered(row: int):
    """Element-wise operations over (steps, ·) arrays whose contiguous rows hold ``row`` entries
    run on the arrays themselves: NumPy's ufuncs otherwise copy such operands through a buffer of
    ``np.getbufsize()`` entries (8192) whenever a row is shorter than that. Rows shorter than
    :data:`UNBUFFERED_MIN` keep the buffer (there it costs less than one call per row)."""
    with np.errstate():
        if row >= UNBUFFERED_MIN:
            np.setbufsize(min(np.getbufsize(), row) // 16 * 16)     # NumPy wants multiples of 16
        yield


SMALL_BLOCK_MIN_ROWS = 24
"""A product is split into row blocks for OpenBLAS's small-matrix kernels only when every block
keeps at least this many rows (thinner blocks lose more to calls than the kernels gain)."""


SMALL_BLOCK_MAX_N32 = 32
"""In single precision the packed kernels win from this many columns (the batch) up: measured
1.04–1.08× faster than the small kernels at 48 and 64 columns, 1.3–1.5× slower at 8–32."""


def product_blocks(rows: int, K: int, N: int, limit: int | None = _UNSET_LIMIT, itemsize: int = 8) -> tuple:
    """Row ranges ``((r0, r1), …)`` that split a product (rows × K) @ (K × N) of ``itemsize``-byte
    floats into pieces of at most ``limit`` multiply-adds each (by default
    :func:`~explorer.engine.blas.small_product_limit`: what OpenBLAS's small-matrix kernels take),
    as equal as possible: multiples of 8 rows, at least :data:`SMALL_BLOCK_MIN_ROWS` each, the last
    keeping what is left (fewer when ``rows`` is not a multiple of 8). One range when the product
    fits, when the BLAS has no such kernels, when the blocks would be thinner, or in single
    precision beyond :data:`SMALL_BLOCK_MAX_N32` columns. Splitting rows changes no sum: every
    output entry is still one dot product over the same K."""
    if limit is _UNSET_LIMIT:
        limit = blas.small_product_limit()
    whole = ((0, rows),)
    if limit is None or rows * K * N <= limit or (itemsize <= 4 and N > SMALL_BLOCK_MAX_N32):
        return whole
    most = limit // max(1, K * N)
    if most < SMALL_BLOCK_MIN_ROWS:
        return whole
    units = -(-rows // 8)                                  # in whole 8-row units
    count = -(-rows // most)
    while -(-units // count) * 8 > most:
        count += 1
    q, r = divmod(units, count)
    if q * 8 < SMALL_BLOCK_MIN_ROWS:
        return whole
    ends = np.minimum(rows, 8 * np.cumsum([q + 1] * r + [q] * (count - r)))
    return tuple(zip([0, *ends[:-1].tolist()], ends.tolist()))


def row_product(M: np.ndarray, N: int):
    """A function ``(X, out)`` doing ``out ← M @ X`` for a fixed M (rows × K) and per-step X
    (K × N), in the row blocks of :func:`product_blocks`."""
    ranges = product_blocks(M.shape[0], M.shape[1], N, itemsize=M.itemsize)
    if len(ranges) == 1:
        return partial(np.dot, M)
    blocks = tuple((M[r0:r1], r0, r1) for r0, r1 in ranges)
    dot = np.dot

    def product(X, out):
        for w, r0, r1 in blocks:
            dot(w, X, out[r0:r1])

    return product


def _contract_steps(B: int, R: int, G: int) -> int:
    return max(1, CONTRACT_CHUNK // max(1, B * (R + G)))


def _contract(out: np.ndarray, X: np.ndarray, Y: np.ndarray, M: np.ndarray | None = None):
    """``out`` (R, G) = Σ_t X[t] @ Y[t]ᵀ for feature-major X (T, R, B) and Y (T, G, B): one
    product over (steps × batch) per chunk of steps (the chunk's copies stay small). ``out`` is
    best Fortran-ordered (its transpose is then written in place). With ``M``
    (k, G) also returns (M @ Y[t])ᵀ for every t, batch-major (T, B, k), from the same copy of Y:
    one product per chunk."""
    T, R, B = X.shape
    if M is not None:
        M = np.ascontiguousarray(M.T)
    step = _contract_steps(B, R + (0 if M is None else M.shape[1]), Y.shape[1])
    MY = None if M is None else np.empty((T, B, M.shape[1]), out.dtype)
    for t0 in range(0, T, step):
        _contract_part(out, X, Y, t0, min(T, t0 + step), t0 == 0, M, MY)
    return MY


def _contract_part(out, X, Y, t0, t1, first, M=None, MY=None) -> None:
    """The steps ``t0:t1`` of :func:`_contract`: ``out`` = (``first``) or += their products;
    ``MY`` gets Y's rows times ``M``, given as Mᵀ (G, k)."""
    R, G = X.shape[1], Y.shape[1]
    Xc = X[t0:t1].transpose(1, 0, 2).reshape(R, -1)      # copies whole rows of B entries:
    Yc = Y[t0:t1].transpose(1, 0, 2).reshape(G, -1).T    # no element-wise transpose
    outT = out.T                                         # outᵀ = Ycᵀ Xcᵀ: OpenBLAS's fastest
    if first:                                            # form of these shapes
        np.matmul(Yc.T, Xc.T, outT)
    else:
        outT += Yc.T @ Xc.T
    if M is not None:
        np.matmul(Yc, M, MY[t0:t1].reshape(-1, M.shape[1]))


class Cell:
    """Base class of a recurrent layer of ``n_units`` over ``n_inputs``.

    Subclasses set ``kind``, ``gates`` (weight blocks, in order), ``state_names``
    (``("h", "c")`` or ``("h",)``), ``trace_names`` (per-step arrays in the trace) and
    ``clamp_names`` (what an intervention may hold), and implement the methods below.
    """

    kind = "cell"
    gates: tuple = ()
    state_names: tuple = ("h",)
    trace_names: tuple = ("h",)
    clamp_names: tuple = ("h",)

    def __init__(self, n_inputs: int, n_units: int, dtype=np.float64, forget_bias: float = 1.0):
        if n_inputs < 1 or n_units < 1:
            raise ValueError("n_inputs and n_units must be at least 1")
        self.m = int(n_inputs)
        self.n = int(n_units)
        self.dtype = np.dtype(dtype)
        self.forget_bias = float(forget_bias)
        self._ws: dict = {}

    # -- parameters -------------------------------------------------------------------
    @property
    def n_params(self) -> int:
        """How many numbers the layer actually holds."""
        raise NotImplementedError

    def init_params(self, rng: np.random.Generator, theta: np.ndarray) -> None:
        """Fill the flat parameter slice ``theta`` (length :attr:`n_params`) in place."""
        raise NotImplementedError

    def gate_slices(self) -> dict:
        """``{gate: index array}`` into the flat layer vector: every weight and bias of that gate."""
        raise NotImplementedError

    def gate_sq_norms(self, dtheta: np.ndarray) -> dict:
        """``{gate: sum of squares of dtheta over that gate's weights and bias}``."""
        return {g: float(np.dot(dtheta[idx], dtheta[idx])) for g, idx in self.gate_slices().items()}

    def state_dict(self, theta: np.ndarray, suffix: str = "_l0") -> dict:
        """PyTorch-named copies; ``suffix`` is ``_l{k}`` plus ``_reverse`` for the reverse direction."""
        raise NotImplementedError

    def load_state_dict(self, d: dict, theta: np.ndarray, suffix: str = "_l0") -> None:
        raise NotImplementedError

    def state_keys(self, suffix: str = "_l0") -> tuple:
        """The keys :meth:`state_dict` writes (and :meth:`load_state_dict` needs)."""
        return ("weight_ih" + suffix, "weight_hh" + suffix, "bias_ih" + suffix, "bias_hh" + suffix)

    def legacy_keys(self, suffix: str = "_l0") -> tuple:
        """Older names :meth:`load_state_dict` also accepts (round 1's peephole names)."""
        return ()

    # -- buffers --------------------------------------------------------------------------
    def workspace(self, T: int, B: int, tokens: bool = False) -> Workspace:
        """The buffers for this (T, B), reused by every call of that shape (a few shapes kept)."""
        key = (T, B, bool(tokens))
        ws = self._ws.get(key)
        if ws is None:
            if len(self._ws) >= 4:
                self._ws.pop(next(iter(self._ws)))
            ws = self._ws[key] = self._make_workspace(T, B, bool(tokens))
        return ws

    def workspace_shapes(self, T: int, B: int, tokens: bool = False) -> dict:
        """``{name: shape}`` of every buffer a forward and backward pass of (T, B) uses."""
        raise NotImplementedError

    def trace_shapes(self, T: int, B: int) -> dict:
        """Extra buffers a forward pass that keeps a trace allocates (the pre-activations)."""
        return {}

    def trace_field_shapes(self, T: int, B: int) -> dict:
        """``{name: shape}`` of the arrays :meth:`trace_arrays` gives."""
        return {name: (T, B, self.n) for name in self.trace_names}

    def trace_transient(self, T: int, B: int) -> int:
        """Entries :meth:`trace_arrays` allocates itself (freed once the trace has copied them)."""
        return 0

    def hidden_contiguous(self, tokens: bool = False) -> bool:
        """Whether :meth:`hidden` is one contiguous block (else the head copies it)."""
        return False

    def views_per_step(self, tokens: bool = False) -> int:
        """How many per-timestep view objects the workspace builds (for memory estimates)."""
        return 0

    def workspace_bytes(self, T: int, B: int, tokens: bool = False, trace: bool = False) -> int:
        """Bytes of :meth:`workspace_shapes` (and :meth:`trace_shapes`), views included."""
        shapes = dict(self.workspace_shapes(T, B, tokens))
        if trace:
            shapes.update(self.trace_shapes(T, B))
        size = sum(int(np.prod(s)) for s in shapes.values())
        return size * self.dtype.itemsize + VIEW_BYTES * T * self.views_per_step(tokens)

    def transient_bytes(self, T: int, B: int, tokens: bool = False) -> int:
        """Bytes a forward or backward pass allocates besides the workspace and frees again."""
        N = T * B
        if tokens and self.m * N <= ONE_HOT_SCATTER_LIMIT:      # scatter_rows' one-hot product
            return (self.m * N + self.m * len(self.gates) * self.n) * self.dtype.itemsize
        return 0

    def _allocate(self, T, B, tokens) -> dict:
        return {name: np.empty(shape, self.dtype) for name, shape in self.workspace_shapes(T, B, tokens).items()}

    def _make_workspace(self, T: int, B: int, tokens: bool) -> Workspace:
        raise NotImplementedError

    # -- computation ------------------------------------------------------------------
    def forward(self, theta, x_tm, h0, c0, keep_z=False, clamps=(), interrupt=None) -> Workspace:
        """Run the layer over ``x_tm`` (T, B, m) floats or (T, B) ids from ``h0``/``c0`` (B, n).

        ``keep_z`` keeps the pre-activations for a trace; ``clamps`` (:class:`CellClamp`) hold
        activations at given steps and units; ``interrupt`` is asked every few steps.
        Returns the filled workspace.
        """
        raise NotImplementedError

    def hidden(self, ws: Workspace) -> np.ndarray:
        """All hidden states h_1..h_T as a (T, B, n) array (a view into the workspace)."""
        return ws.arrays["H1"][1:, :, :self.n]

    def trace_arrays(self, ws: Workspace) -> dict:
        """``{name: (T, B, ·) array}`` for every name in ``trace_names`` (views)."""
        raise NotImplementedError

    def backward(self, theta, ws: Workspace, dH, dtheta, want_dx: bool, interrupt=None):
        """Backpropagate through time.

        ``dH`` (T, B, n) is dL/dh_t from above (the head or the next layer), every step (zeros
        where no loss reaches). Writes dL/dθ into ``dtheta`` and returns ``(dx_tm or None, dh0,
        dc0 or None, dh_all, dc_all or None)`` where ``dh_all``/``dc_all`` (T, B, n) hold the
        total gradients with respect to h_t and c_t (workspace views). ``dx`` is None for ids.
        """
        raise NotImplementedError

    # -- shared pieces --------------------------------------------------------------------
    def _apply_clamps(self, ws, t, todo, names):
        views = ws.views
        for name, units, value in todo:
            if name in names:
                views["h_out" if name == "h" else name][t][:, units] = value

    @staticmethod
    def _mask(arr, steps, B, cols):
        """Zero ``arr[steps, :, cols]`` (a clamped value is a constant: no gradient through it)."""
        arr[np.ix_(steps, np.arange(B), cols)] = 0.0


class StackedCell(Cell):
    """A cell whose weights are one stacked matrix ``[Uᵀ; Wᵀ; b]`` of shape (n + m + 1, G·n) acting
    on ``[h_{t-1}, x_t, 1]`` (one bias per block): the LSTM, the peephole LSTM's main part, the RNN.
    Its state dict uses torch's names; loading sums torch's two biases, saving writes zeros in
    ``bias_hh``; each bias key of the gradients carries dL/db.

    With token ids the workspace's ``H1`` holds only ``h`` and the input and bias part of every
    step is gathered before the loop (``_load_inputs``); the loop then adds ``h @ U``.
    """

    def weights(self, theta: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def state_dict(self, theta, suffix="_l0"):
        # weight_ih (G·n, m), weight_hh (G·n, n), bias_ih (G·n,), bias_hh zeros (G·n,)
        W, n, m = self.weights(theta), self.n, self.m
        return {"weight_ih" + suffix: W[n:n + m].T.copy(), "weight_hh" + suffix: W[:n].T.copy(),
                "bias_ih" + suffix: W[n + m].copy(), "bias_hh" + suffix: np.zeros(W.shape[1], dtype=W.dtype)}

    def load_state_dict(self, d, theta, suffix="_l0"):
        W, n, m = self.weights(theta), self.n, self.m
        G = W.shape[1]
        W[n:n + m] = _checked(d, "weight_ih" + suffix, (G, m)).T
        W[:n] = _checked(d, "weight_hh" + suffix, (G, n)).T
        W[n + m] = _checked(d, "bias_ih" + suffix, (G,)) + _checked(d, "bias_hh" + suffix, (G,))

    def grads_dict(self, dtheta, suffix="_l0"):
        d = self.state_dict(dtheta, suffix)
        d["bias_hh" + suffix] = d["bias_ih" + suffix].copy()
        return d

    def _h1_width(self, tokens):
        return self.n if tokens else self.n + self.m + 1

    def _init_h1(self, a, tokens):
        """``H1`` row t = [h_{t-1}, x_t, 1] (ids: h_{t-1} alone)."""
        H1 = a["H1"]
        H1.fill(0.0)
        if not tokens:
            H1[:, :, self.n + self.m] = 1.0          # the bias row's constant 1

    def _load_inputs(self, ws, W, x_tm, Z):
        """Dense: x into ``H1``'s input columns. Ids: ``Z`` = the gathered input rows + bias."""
        n, m = self.n, self.m
        if ws.tokens is None:
            ws.arrays["H1"][:ws.T, :, n:n + m] = x_tm
        else:
            np.take(W[n:n + m], x_tm, axis=0, out=Z, mode="clip")   # ids checked by the model; clip: unbuffered
            Z += W[n + m]

    def _weight_grads(self, ws, W, dW, dZ, want_dx):
        """dW from the saved inputs and dZ (T, B, G·n); dx (T, B, m) or None."""
        n, m, T, B = self.n, self.m, ws.T, ws.B
        G = dZ.shape[-1]
        H1 = ws.arrays["H1"]
        dZ2 = dZ.reshape(T * B, G)
        if ws.tokens is None:
            np.matmul(H1[:T].reshape(T * B, n + m + 1).T, dZ2, dW)
            return dZ @ W[n:n + m].T if want_dx else None
        np.matmul(H1[:T].reshape(T * B, n).T, dZ2, dW[:n])
        np.sum(dZ2, axis=0, out=dW[n + m])
        dW[n:n + m] = 0.0
        scatter_rows(dW[n:n + m], ws.tokens.reshape(-1), dZ2)
        return None


class LSTMCell(StackedCell):
    """The LSTM of the seeds, one bias per gate::

        i = σ(W_i x + U_i h_{t-1} + b_i)      f = σ(W_f x + U_f h_{t-1} + b_f)
        g = tanh(W_g x + U_g h_{t-1} + b_g)   o = σ(W_o x + U_o h_{t-1} + b_o)
        c_t = f ⊙ c_{t-1} + i ⊙ g             h_t = o ⊙ tanh(c_t)
    """

    kind = "lstm"
    gates = LSTM_GATES
    state_names = ("h", "c")
    trace_names = ("i", "f", "g", "o", "c", "h")
    clamp_names = ("i", "f", "g", "o", "h")

    @property
    def n_params(self) -> int:
        return lstm_param_count(self.n, self.m)

    # W is (n + m + 1, 4n): [Uᵀ; Wᵀ; b]
    def weights(self, theta: np.ndarray) -> np.ndarray:
        return theta[:lstm_param_count(self.n, self.m)].reshape(self.n + self.m + 1, 4 * self.n)

    def init_params(self, rng, theta):
        n, m = self.n, self.m
        W = self.weights(theta)
        for k, gate in enumerate(self.gates):
            cols = slice(k * n, (k + 1) * n)
            W[n:n + m, cols] = xavier_uniform(rng, n, m).T       # input weights, Glorot
            W[:n, cols] = orthogonal(rng, n).T                    # recurrent weights, orthogonal
            W[n + m, cols] = self.forget_bias if gate == "f" else 0.0

    def gate_slices(self):
        n, m = self.n, self.m
        idx = np.arange(lstm_param_count(n, m)).reshape(n + m + 1, 4 * n)
        return {g: idx[:, k * n:(k + 1) * n].ravel() for k, g in enumerate(self.gates)}

    def gate_sq_norms(self, dtheta):
        W = self.weights(dtheta)
        col = np.einsum("ij,ij->j", W, W)
        blocks = col.reshape(len(self.gates), self.n).sum(axis=1)
        return {g: float(blocks[k]) for k, g in enumerate(self.gates)}

    # -- computation, feature-major ---------------------------------------------------------
    # Every per-step array is (features, batch): a gate's block of a step is one contiguous
    # (n, B) array, so the loops' element-wise operations run over contiguous memory (NumPy's
    # loops are ~3x slower over the strided (B, n) slices of a (B, 4n) row block). Inside, the
    # gate blocks are in the order o, i, f, g (ORDER) and the block of step t is followed by
    # c_{t-1}: [i; f] and [g; c_{t-1}] are two contiguous (2n, B) blocks, so the kept and the
    # written part of the belt are one product. The σ gates' ½ is folded into a scaled,
    # permuted copy of the weights: the product gives z·s directly.

    def workspace_shapes(self, T, B, tokens=False):
        n = self.n
        s = {
            "H1": (T + 1, self._h1_width(tokens), B),   # row t = [h_{t-1}; x_t; 1] (ids: h_{t-1})
            "A": (T + 1, 5 * n, B),         # [o; i; f; g] of step t (z·s when no trace), then c_{t-1}
            "Q": (T, 6 * n, B),             # forward: tanh(c_t), -, i ⊙ g, f ⊙ c_{t-1}; backward:
                                            # o ⊙ (1 − tanh² c), the dz factors (o, i, f, g) and f,
                                            # then dh ⊙ that, dz (rows n:5n) and dc ⊙ f
            "dH": (T, n, B),                # total dL/dh_t
            "dC": (T, n, B),                # total dL/dc_t
            "zero": (n, B),
            "rec": (n, B),                  # backward: dh_{t-1} through the recurrence
        }
        if tokens:
            s["ZT"] = (4 * n, B)            # U h of one step
        return s

    def transient_bytes(self, T, B, tokens=False):
        n, R, G = self.n, self._h1_width(tokens), 4 * self.n
        forward = 2 * G * R + T * B * G * tokens                 # scaled weights; ids: gathered rows
        M = 0 if tokens else self.m                              # dx, from the same chunks
        if tokens:
            Tc = min(T, _contract_steps(B, R + M, G))
        else:                                                    # the backward loop's blocks
            Tc = min(T, -(-CONTRACT_MIN_COLUMNS // B) + self._factor_steps(B))
        chunks = Tc * B * (R + G + M) + R * G * (1 + (Tc < T)) + T * B * M   # the weight gradient's chunks
        scatter = T * B * n * tokens                             # ids: rows of dz to scatter
        return max(forward, chunks, scatter) * self.dtype.itemsize + super().transient_bytes(T, B, tokens)

    def trace_shapes(self, T, B):
        return {"Z": (T, B, 4 * self.n)}

    def trace_field_shapes(self, T, B):
        return {**super().trace_field_shapes(T, B), "z": (T, B, 4 * self.n)}

    def trace_transient(self, T, B):
        return T * B * 4 * self.n                    # z put back into torch's order

    def views_per_step(self, tokens=False):
        return 22

    def _internal(self, M: np.ndarray, scale) -> np.ndarray:
        """Mᵀ (4n, k) of M (k, 4n), its rows in the internal order o, i, f, g, scaled."""
        n = self.n
        out = np.empty((4 * n, M.shape[0]), self.dtype)
        np.multiply(M[:, 3 * n:].T, scale[:n], out[:n])
        np.multiply(M[:, :3 * n].T, scale[n:], out[n:])
        return out

    def _internal_cols(self, M: np.ndarray) -> np.ndarray:
        """M (k, 4n) with its columns in the internal order o, i, f, g (row copies, no transpose)."""
        n = self.n
        out = np.empty(M.shape, self.dtype)
        out[:, :n], out[:, n:] = M[:, 3 * n:], M[:, :3 * n]
        return out

    @staticmethod
    def _torch_order(out: np.ndarray, M: np.ndarray, n: int) -> None:
        """``out`` (k, 4n) in torch's column order i, f, g, o from M (k, 4n) in the internal one."""
        out[:, 3 * n:], out[:, :3 * n] = M[:, :n], M[:, n:]

    def _init_h1(self, a, tokens):
        H1 = a["H1"]
        H1.fill(0.0)
        if not tokens:
            H1[:, self.n + self.m, :] = 1.0          # the bias row's constant 1

    def _make_workspace(self, T, B, tokens):
        n = self.n
        a = self._allocate(T, B, tokens)
        self._init_h1(a, tokens)
        a["zero"].fill(0.0)
        A, Q = a["A"], a["Q"]
        v = {  # per-timestep views, built once so the loops do no slicing
            "o": [A[t, 0:n] for t in range(T)],
            "i": [A[t, n:2 * n] for t in range(T)],
            "f": [A[t, 2 * n:3 * n] for t in range(T)],
            "g": [A[t, 3 * n:4 * n] for t in range(T)],
            "gates": [A[t, :4 * n] for t in range(T)],
            "if": [A[t, n:3 * n] for t in range(T)],
            "gc": [A[t, 3 * n:5 * n] for t in range(T)],     # [g_t; c_{t-1}]
            "sig": [A[t, :3 * n] for t in range(T)],         # o, i, f
            "c": [A[t + 1, 4 * n:] for t in range(T)],       # c_t
            "tc": [Q[t, 0:n] for t in range(T)],             # tanh(c_t), then o ⊙ (1 − tanh² c_t)
            "P": [Q[t, 2 * n:4 * n] for t in range(T)],      # [i ⊙ g (written); f ⊙ c_{t-1} (kept)]
            "Pig": [Q[t, 2 * n:3 * n] for t in range(T)],
            "Pfc": [Q[t, 3 * n:4 * n] for t in range(T)],
            "h_out": [a["H1"][t + 1, :n] for t in range(T)],
            "Qo": [Q[t, n:2 * n] for t in range(T)],
            "Q2": [Q[t, :2 * n].reshape(2, n, B) for t in range(T)],   # [o ⊙ (1 − tanh² c); dz_o factor]
            "Q4": [Q[t, 2 * n:].reshape(4, n, B) for t in range(T)],   # [i, f, g factors; f]
            "dz": [Q[t, n:5 * n] for t in range(T)],
            "dcf": [Q[t + 1, 5 * n:] for t in range(T - 1)] + [a["zero"]],   # dc_{t+1} ⊙ f_{t+1}
            "dH1": [a["dH"][t][None] for t in range(T)],
            "dC1": [a["dC"][t][None] for t in range(T)],
        }
        # activation as one tanh: σ(z) = ½ tanh(z/2) + ½, so a = tanh(z·s)·s + add per row
        # (s = ½, add = ½ for o, i, f; s = 1, add = 0 for g); z·s comes from the scaled weights
        s = np.full((4 * n, 1), 0.5, self.dtype)
        s[3 * n:] = 1.0
        v["scale"], v["add"] = s, 1.0 - s
        return Workspace(T, B, a, v)

    def _z_buffer(self, ws, keep_z):
        """Where z·s goes: its own buffer for a trace, else straight into the gate rows of ``A``."""
        if not keep_z:
            return ws.views["gates"]
        if "Z" not in ws.arrays:
            ws.arrays["Z"] = np.empty((ws.T, 4 * self.n, ws.B), self.dtype)
        return ws.arrays["Z"]

    def _begin(self, theta, x_tm, h0, c0, keep_z, clamps):
        """Workspace, weights, the pre-activation buffer, the scaled weights, ids' pieces, hooks."""
        n, m = self.n, self.m
        T, B = x_tm.shape[0], x_tm.shape[1]
        tokens = is_tokens(x_tm)
        ws = self.workspace(T, B, tokens)
        ws.tokens = x_tm if tokens else None
        ws.clamps = tuple(clamps or ())
        a, s = ws.arrays, ws.views["scale"]
        W = self.weights(theta)
        Z = self._z_buffer(ws, keep_z)
        WTs = self._internal(W[:n] if tokens else W, s)   # (4n, R): z·s = WTs @ [h; x; 1]
        if tokens:                                   # the input part of every step, gathered
            G = np.take(W[n:n + m], x_tm, axis=0, mode="clip")   # (T, B, 4n); ids checked by the model
            G += W[n + m]
            into = (a["Z"] if keep_z else a["A"][:T, :4 * n]).transpose(0, 2, 1)
            np.multiply(G[:, :, 3 * n:], s[:n, 0], into[:, :, :n])
            np.multiply(G[:, :, :3 * n], s[n:, 0], into[:, :, n:])
            del G
        else:
            a["H1"][:T, n:n + m] = x_tm.transpose(0, 2, 1)
        a["H1"][0, :n] = h0.T
        a["A"][0, 4 * n:] = c0.T
        ids = a["ZT"] if tokens else None
        return ws, W, Z, WTs, ids, _hooks(ws.clamps)

    @staticmethod
    def _end(ws, Z, keep_z):
        if keep_z:
            Z /= ws.views["scale"]                   # the pre-activations themselves (s is ½ or 1: exact)

    def forward(self, theta, x_tm, h0, c0, keep_z=False, clamps=(), interrupt=None):
        ws, W, Z, WTs, ids, hooks = self._begin(theta, x_tm, h0, c0, keep_z, clamps)
        a, v = ws.arrays, ws.views
        H1 = a["H1"]
        gates, sig, IF, GC, cs, vo, hout = v["gates"], v["sig"], v["if"], v["gc"], v["c"], v["o"], v["h_out"]
        P, Pig, Pfc, TC = v["P"], v["Pig"], v["Pfc"], v["tc"]
        multiply, tanh, plus = np.multiply, np.tanh, np.add
        product = row_product(WTs, ws.B)
        for t in _steps(ws.T, interrupt):
            z, act = Z[t], gates[t]
            if ids is not None:
                product(H1[t], ids)
                plus(z, ids, z)                      # z·s = (x-row + b)·s (gathered) + U h·s
            else:
                product(H1[t], z)                    # z·s = [U; W; b]ᵀ·s @ [h; x; 1]
            tanh(z, act)                             # tanh(z) for g, tanh(z/2) for o, i, f
            multiply(sig[t], 0.5, sig[t])
            plus(sig[t], 0.5, sig[t])                # σ(z) = ½ tanh(z/2) + ½ for o, i, f
            todo = hooks and hooks.get(t)
            if todo:
                self._apply_clamps(ws, t, todo, "ifgo")
            multiply(IF[t], GC[t], P[t])             # [i ⊙ g (written); f ⊙ c_{t-1} (kept)]
            c = cs[t]
            plus(Pig[t], Pfc[t], c)                  # c_t = kept + written
            tanh(c, TC[t])
            multiply(vo[t], TC[t], hout[t])          # h_t = o ⊙ tanh(c_t)
            if todo:
                self._apply_clamps(ws, t, todo, ("h",))
        self._end(ws, Z, keep_z)
        return ws

    def hidden(self, ws):
        return ws.arrays["H1"][1:, :self.n].transpose(0, 2, 1)

    def hidden_fm(self, ws):
        """h_1..h_T feature-major, (T, n, B) (a view)."""
        return ws.arrays["H1"][1:, :self.n]

    def trace_arrays(self, ws):
        n, a, T = self.n, ws.arrays, ws.T
        A = a["A"][:T].transpose(0, 2, 1)
        out = {"i": A[:, :, n:2 * n], "f": A[:, :, 2 * n:3 * n], "g": A[:, :, 3 * n:4 * n],
               "o": A[:, :, 0:n], "c": a["A"][1:, 4 * n:].transpose(0, 2, 1), "h": self.hidden(ws)}
        if "Z" in a:                                 # back to torch's order i, f, g, o
            Z = a["Z"]
            out["z"] = np.concatenate([Z[:, n:], Z[:, :n]], axis=1).transpose(0, 2, 1)
        return out

    def _apply_clamps(self, ws, t, todo, names):
        views = ws.views
        for name, units, value in todo:
            if name in names:
                views["h_out" if name == "h" else name][t][units] = value

    @staticmethod
    def _mask(arr, steps, B, rows):
        arr[np.ix_(steps, rows, np.arange(B))] = 0.0

    _ROW = {"o": 0, "i": 1, "f": 2, "g": 3}          # internal block of each gate

    def _backward_factors(self, ws, lo=0, hi=None):
        """Everything of the backward pass that does not depend on the recurrence, vectorised over
        the steps ``lo:hi`` (all by default).

        ``Q`` gets dz/dh (o), dz/dc (i, f, g) and f; ``TC`` becomes o ⊙ (1 − tanh² c) (dc from dh).
        Clamped values are constants: their factors are zero.
        """
        n, B, a = self.n, ws.B, ws.arrays
        hi = ws.T if hi is None else hi
        A, Q = a["A"][lo:hi], a["Q"][lo:hi]
        Ao, Ai, Af, Ag = A[:, 0:n], A[:, n:2 * n], A[:, 2 * n:3 * n], A[:, 3 * n:4 * n]
        H = a["H1"][lo + 1:hi + 1, :n]                # h = o ⊙ tanh(c)
        # dc from dh: o - tanh(c) h;  dz_o = dh ⊙ tanh(c) ⊙ o(1-o) = dh ⊙ h(1-o);
        # dz_i = dc ⊙ (i g)(1-i);  dz_f = dc ⊙ (f c_{t-1})(1-f);  dz_g = dc ⊙ (i - g (i g))
        # (the forward left tanh(c), i ⊙ g and f ⊙ c_{t-1} in rows 0:n, 2n:3n, 3n:4n)
        TC, Qo, Qi, Qf, Qg, Qx = (Q[:, k * n:(k + 1) * n] for k in range(6))
        with unbuffered(n * B):
            np.subtract(1.0, Ao, Qo); Qo *= H
            np.multiply(Ag, Qi, Qg); np.subtract(Ai, Qg, Qg)
            np.subtract(1.0, Ai, Qx); Qi *= Qx
            np.subtract(1.0, Af, Qx); Qf *= Qx
            Qx[...] = Af                              # dc_{t-1} = dc ⊙ f (with dz, one product)
            np.multiply(TC, H, TC)
            np.subtract(Ao, TC, TC)                   # o ⊙ (1 - tanh²c): dc from dh
        for c in ws.clamps:
            steps = c.steps[(c.steps >= lo) & (c.steps < hi)] - lo
            if c.name == "h":                         # h held: nothing flows into o or c from it
                self._mask(Q, steps, B, np.concatenate([c.units, n + c.units]))
            else:
                self._mask(Q, steps, B, (self._ROW[c.name] + 1) * n + c.units)

    def _backward_begin(self, theta, ws, dH, factors=True):
        """The factors of every step (unless ``factors`` is False), and dL/dh from above copied
        feature-major into ``dH`` (the loop adds the recurrence to it): ``(W, U in the internal
        order)``."""
        if factors:
            self._backward_factors(ws)
        np.copyto(ws.arrays["dH"], dH.transpose(0, 2, 1))
        W = self.weights(theta)
        return W, self._internal_cols(W[:self.n])

    def _factor_steps(self, B: int) -> int:
        """Steps whose factors are computed at a time, just before the loop reaches them: their
        rows of ``A``, ``Q`` and ``H1`` then stay in the cache for the loop."""
        return max(1, FACTOR_BLOCK_BYTES // (12 * self.n * B * self.dtype.itemsize))

    def _backward_end(self, ws, W, U, dtheta, want_dx, done=None):
        """dh0, dc0 and the weight gradients (unless ``done``, a :class:`_Contraction` the loop
        ran block by block), the total state gradients."""
        a, n = ws.arrays, self.n
        Q = a["Q"]
        dh0 = (U @ Q[0, n:5 * n]).T
        dc0 = Q[0, 5 * n:].T.copy()
        if done is None:
            dx = self._weight_grads(ws, W, self.weights(dtheta), Q[:, n:5 * n], want_dx)
        else:
            self._torch_order(self.weights(dtheta), done.out, n)
            dx = done.MY
        return dx, dh0, dc0, a["dH"].transpose(0, 2, 1), a["dC"].transpose(0, 2, 1)

    def backward(self, theta, ws, dH, dtheta, want_dx, interrupt=None):
        W, U = self._backward_begin(theta, ws, dH, factors=False)
        a, v = ws.arrays, ws.views
        dHt, dCt, rec = a["dH"], a["dC"], a["rec"]
        odtc, Q2, Q4, dz, dcf, dH1, dC1 = v["tc"], v["Q2"], v["Q4"], v["dz"], v["dcf"], v["dH1"], v["dC1"]
        multiply, plus = np.multiply, np.add
        product = row_product(U, ws.B)
        block, lo = self._factor_steps(ws.B), ws.T
        # dense inputs: the weight gradient of each block right after the loop leaves it
        wg = None if ws.tokens is not None else _Contraction(self, ws, W, want_dx)
        for t in _steps(ws.T, interrupt, reverse=True):
            if t < lo:                                # the factors of the next block of steps
                lo = max(0, t + 1 - block)
                self._backward_factors(ws, lo, t + 1)
            multiply(Q2[t], dH1[t], Q2[t])            # dh through h = o ⊙ tanh(c); dz for o
            plus(odtc[t], dcf[t], dCt[t])             # dc: that plus the belt from c_{t+1}
            multiply(Q4[t], dC1[t], Q4[t])            # dz for i, f, g and dc ⊙ f for step t − 1
            if t > 0:
                product(dz[t], rec)                   # dh_{t-1}: from above plus the recurrence
                plus(dHt[t - 1], rec, dHt[t - 1])
            if t == lo and wg is not None:
                wg.steps(lo)
        return self._backward_end(ws, W, U, dtheta, want_dx, wg)

    def _weight_grads(self, ws, W, dW, dz, want_dx):
        """dW (torch's column order) from the saved inputs and dz (T, 4n, B) in the internal
        order; dx (T, B, m) or None."""
        n, m, T, B = self.n, self.m, ws.T, ws.B
        H1 = ws.arrays["H1"][:T]
        tmp = np.empty((H1.shape[1], 4 * n), self.dtype, order="F")
        if ws.tokens is None:
            dx = _contract(tmp, H1, dz, self._internal_cols(W[n:n + m]) if want_dx else None)
            self._torch_order(dW, tmp, n)
            return dx
        _contract(tmp, H1, dz)
        self._torch_order(dW[:n], tmp, n)
        self._torch_order(dW[n + m:n + m + 1], dz.sum(axis=(0, 2))[None], n)
        dW[n:n + m] = 0.0
        ids = ws.tokens.reshape(-1)
        for k, col in enumerate((3 * n, 0, n, 2 * n)):          # one gate block at a time
            rows = dz[:, k * n:(k + 1) * n].transpose(0, 2, 1).reshape(T * B, n)
            scatter_rows(dW[n:n + m, col:col + n], ids, rows)
        return None


class _Contraction:
    """The LSTM's weight gradient (and dx) accumulated block by block as the backward loop
    leaves each block of steps, while its dz rows are still in the cache."""

    def __init__(self, cell: LSTMCell, ws: Workspace, W, want_dx: bool):
        n, m, T = cell.n, cell.m, ws.T
        self.X, self.Y, self.hi = ws.arrays["H1"][:T], ws.arrays["Q"][:, n:5 * n], T
        self.out = np.empty((self.X.shape[1], 4 * n), cell.dtype, order="F")
        self.M = np.ascontiguousarray(cell._internal_cols(W[n:n + m]).T) if want_dx else None   # (4n, m)
        self.MY = np.empty((T, ws.B, m), cell.dtype) if want_dx else None

    def steps(self, lo: int) -> None:
        """Add the products of the steps from ``lo`` to where the last call stopped, once they
        are at least :data:`CONTRACT_MIN_COLUMNS` columns (steps × batch) or ``lo`` is 0."""
        B = self.X.shape[2]
        if lo and (self.hi - lo) * B < CONTRACT_MIN_COLUMNS:
            return
        _contract_part(self.out, self.X, self.Y, lo, self.hi, self.hi == self.X.shape[0], self.M, self.MY)
        self.hi = lo


class PeepholeLSTMCell(LSTMCell):
    """The LSTM with peepholes (Gers & Schmidhuber 2000): i and f also see c_{t-1}, o sees c_t::

        i = σ(W_i x + U_i h_{t-1} + p_i ⊙ c_{t-1} + b_i)   f = σ(W_f x + U_f h_{t-1} + p_f ⊙ c_{t-1} + b_f)
        g = tanh(W_g x + U_g h_{t-1} + b_g)                c_t = f ⊙ c_{t-1} + i ⊙ g
        o = σ(W_o x + U_o h_{t-1} + p_o ⊙ c_t + b_o)        h_t = o ⊙ tanh(c_t)

    Layout: the LSTM's ``W`` (n + m + 1, 4n), then the peepholes ``P`` (3, n) = p_i, p_f, p_o.
    State dict: the LSTM's plus ``peephole_i_l{k}``, ``peephole_f_l{k}``, ``peephole_o_l{k}``
    (and ``_reverse`` twins); layer 0 also loads round 1's ``peephole_i`` … names.
    """

    kind = "peephole"

    @property
    def n_params(self) -> int:
        return peephole_param_count(self.n, self.m)

    def peepholes(self, theta):
        return theta[lstm_param_count(self.n, self.m):].reshape(3, self.n)

    def init_params(self, rng, theta):
        super().init_params(rng, theta)
        self.peepholes(theta)[...] = 0.0            # peepholes start closed, as an LSTM

    def gate_slices(self):
        out = super().gate_slices()
        base = lstm_param_count(self.n, self.m)
        n = self.n
        for k, g in enumerate(("i", "f", "o")):
            out[g] = np.concatenate([out[g], np.arange(base + k * n, base + (k + 1) * n)])
        return out

    def gate_sq_norms(self, dtheta):
        out = super().gate_sq_norms(dtheta)
        P = self.peepholes(dtheta)
        for k, g in enumerate(("i", "f", "o")):
            out[g] += float(np.dot(P[k], P[k]))
        return out

    def state_dict(self, theta, suffix="_l0"):
        d = super().state_dict(theta, suffix)
        P = self.peepholes(theta)
        for k, g in enumerate("ifo"):
            d[f"peephole_{g}{suffix}"] = P[k].copy()
        return d

    def grads_dict(self, dtheta, suffix="_l0"):
        d = super().grads_dict(dtheta, suffix)
        P = self.peepholes(dtheta)
        for k, g in enumerate("ifo"):
            d[f"peephole_{g}{suffix}"] = P[k].copy()
        return d

    def state_keys(self, suffix="_l0"):
        return super().state_keys(suffix) + tuple(f"peephole_{g}{suffix}" for g in "ifo")

    def legacy_keys(self, suffix="_l0"):
        return tuple(f"peephole_{g}" for g in "ifo") if suffix == "_l0" else ()

    def load_state_dict(self, d, theta, suffix="_l0"):
        super().load_state_dict(d, theta, suffix)
        P = self.peepholes(theta)
        for k, g in enumerate("ifo"):
            key = f"peephole_{g}{suffix}"
            if key not in d and suffix == "_l0" and f"peephole_{g}" in d:
                key = f"peephole_{g}"                # round 1's name
            P[k] = _checked(d, key, (self.n,))

    def workspace_shapes(self, T, B, tokens=False):
        s = super().workspace_shapes(T, B, tokens)
        s["PC"] = (2, self.n, B)
        s["tmp"] = (self.n, B)
        return s

    def views_per_step(self, tokens=False):
        return super().views_per_step(tokens) + 6

    def _make_workspace(self, T, B, tokens):
        ws = super()._make_workspace(T, B, tokens)
        n = self.n
        A, Q = ws.arrays["A"], ws.arrays["Q"]
        ws.views["ifg"] = [A[t, n:4 * n] for t in range(T)]
        ws.views["c_prev"] = [A[t, 4 * n:][None] for t in range(T)]
        ws.views["dZi"] = [Q[t, 2 * n:3 * n] for t in range(T)]
        ws.views["dZf"] = [Q[t, 3 * n:4 * n] for t in range(T)]
        ws.views["dcn"] = [Q[t, 5 * n:] for t in range(T)]
        return ws

    def _z_views(self, ws, Z):
        """Per-step views of the pre-activation buffer (``A``'s gate rows when no trace is kept)."""
        key = "zv:Z" if Z is ws.arrays.get("Z") else "zv:A"
        zv = ws.views.get(key)
        if zv is None:
            T, B, n = ws.T, ws.B, self.n
            zv = ws.views[key] = ([Z[t][n:4 * n] for t in range(T)],
                                  [Z[t][n:3 * n].reshape(2, n, B) for t in range(T)],
                                  [Z[t][0:n] for t in range(T)])
        return zv

    def forward(self, theta, x_tm, h0, c0, keep_z=False, clamps=(), interrupt=None):
        ws, W, Z, WTs, ids, hooks = self._begin(theta, x_tm, h0, c0, keep_z, clamps)
        a, v = ws.arrays, ws.views
        H1, PC, tmp = a["H1"], a["PC"], a["tmp"]
        P, Pig, Pfc, TC = v["P"], v["Pig"], v["Pfc"], v["tc"]
        Pp = self.peepholes(theta)
        p_if, p_o = 0.5 * Pp[:2, :, None], 0.5 * Pp[2][:, None]   # scaled as the σ gates' rows
        IF, GC, cs, vo, hout = v["if"], v["gc"], v["c"], v["o"], v["h_out"]
        ifg, c_prev = v["ifg"], v["c_prev"]
        z_ifg, z_if, z_o = self._z_views(ws, Z)
        multiply, tanh, plus = np.multiply, np.tanh, np.add
        product = row_product(WTs, ws.B)
        for t in _steps(ws.T, interrupt):
            if ids is not None:
                product(H1[t], ids)
                plus(Z[t], ids, Z[t])
            else:
                product(H1[t], Z[t])                 # z·s = [U; W; b]ᵀ·s @ [h; x; 1]
            multiply(c_prev[t], p_if, PC)
            plus(z_if[t], PC, z_if[t])                # i, f peep at c_{t-1}
            tanh(z_ifg[t], ifg[t])
            multiply(IF[t], 0.5, IF[t])
            plus(IF[t], 0.5, IF[t])                   # σ for i, f; tanh for g
            todo = hooks and hooks.get(t)
            if todo:
                self._apply_clamps(ws, t, todo, "ifg")
            multiply(IF[t], GC[t], P[t])             # [i ⊙ g; f ⊙ c_{t-1}]
            c = cs[t]
            plus(Pig[t], Pfc[t], c)                  # c_t
            multiply(c, p_o, tmp)
            plus(z_o[t], tmp, z_o[t])                # o peeps at c_t
            o = vo[t]
            tanh(z_o[t], o)
            multiply(o, 0.5, o)
            plus(o, 0.5, o)                          # σ(z_o)
            if todo:
                self._apply_clamps(ws, t, todo, "o")
            tanh(c, TC[t])
            multiply(o, TC[t], hout[t])              # h_t = o ⊙ tanh(c_t)
            if todo:
                self._apply_clamps(ws, t, todo, ("h",))
        self._end(ws, Z, keep_z)
        return ws

    def backward(self, theta, ws, dH, dtheta, want_dx, interrupt=None):
        W, U = self._backward_begin(theta, ws, dH)
        a, v, n, T = ws.arrays, ws.views, self.n, ws.T
        A, Q = a["A"], a["Q"]
        dHt, dCt, tmp, rec = a["dH"], a["dC"], a["tmp"], a["rec"]
        Pp = self.peepholes(theta)
        p_i, p_f, p_o = Pp[0][:, None], Pp[1][:, None], Pp[2][:, None]
        odtc, Q2, Qo, Q4, dz, dcf = v["tc"], v["Q2"], v["Qo"], v["Q4"], v["dz"], v["dcf"]
        dH1, dC1, dZi, dZf, dcn = v["dH1"], v["dC1"], v["dZi"], v["dZf"], v["dcn"]
        multiply, plus = np.multiply, np.add
        product = row_product(U, ws.B)
        wg = None if ws.tokens is not None else _Contraction(self, ws, W, want_dx)
        for t in _steps(T, interrupt, reverse=True):
            dc = dCt[t]
            multiply(Q2[t], dH1[t], Q2[t])            # dh through h; dz_o
            plus(odtc[t], dcf[t], dc)                 # the belt from c_{t+1}
            multiply(Qo[t], p_o, tmp)
            plus(dc, tmp, dc)                         # o peeps at c_t
            multiply(Q4[t], dC1[t], Q4[t])            # dz for i, f, g; dc ⊙ f ...
            multiply(dZi[t], p_i, tmp)
            plus(dcn[t], tmp, dcn[t])                 # ... and the i peephole
            multiply(dZf[t], p_f, tmp)
            plus(dcn[t], tmp, dcn[t])                 # ... and the f peephole
            if t > 0:
                product(dz[t], rec)
                plus(dHt[t - 1], rec, dHt[t - 1])
            if wg is not None:
                wg.steps(t)
        out = self._backward_end(ws, W, U, dtheta, want_dx, wg)
        dP = self.peepholes(dtheta)
        Cp = A[:, 4 * n:]                                           # c_{t-1} at t, c_t at t + 1
        dP[0] = np.einsum("tnb,tnb->n", Q[:, 2 * n:3 * n], Cp[:T])  # dL/dp_i = Σ dz_i c_{t-1}
        dP[1] = np.einsum("tnb,tnb->n", Q[:, 3 * n:4 * n], Cp[:T])  # dL/dp_f = Σ dz_f c_{t-1}
        dP[2] = np.einsum("tnb,tnb->n", Q[:, n:2 * n], Cp[1:])      # dL/dp_o = Σ dz_o c_t
        return out


class RNNCell(StackedCell):
    """The plain (Elman) RNN: h_t = tanh(W x_t + U h_{t-1} + b), one bias.

    Layout: ``W`` (n + m + 1, n) acting on ``[h_{t-1}, x_t, 1]``.
    """

    kind = "rnn"
    gates = ("h",)
    state_names = ("h",)
    trace_names = ("h",)
    clamp_names = ("h",)

    @property
    def n_params(self) -> int:
        return rnn_param_count(self.n, self.m)

    def weights(self, theta):
        return theta.reshape(self.n + self.m + 1, self.n)

    def init_params(self, rng, theta):
        n, m = self.n, self.m
        W = self.weights(theta)
        W[n:n + m] = xavier_uniform(rng, n, m).T
        W[:n] = orthogonal(rng, n).T
        W[n + m] = 0.0

    def gate_slices(self):
        return {"h": np.arange(self.n_params)}

    def gate_sq_norms(self, dtheta):
        return {"h": float(np.dot(dtheta, dtheta))}

    def workspace_shapes(self, T, B, tokens=False):
        n = self.n
        s = {"H1": (T + 1, B, self._h1_width(tokens)),
             "Z": (T, B, n),                 # pre-activations; in backward tanh', then dz
             "dH": (T, B, n)}
        if tokens:
            s["ZT"] = (B, n)
        return s

    def views_per_step(self, tokens=False):
        return 1

    def trace_field_shapes(self, T, B):
        return {"h": (T, B, self.n), "z": (T, B, self.n)}

    def hidden_contiguous(self, tokens=False):
        return tokens                                # H1 holds only h for ids

    def _make_workspace(self, T, B, tokens):
        a = self._allocate(T, B, tokens)
        self._init_h1(a, tokens)
        return Workspace(T, B, a, {"h_out": [a["H1"][t + 1, :, :self.n] for t in range(T)]})

    def forward(self, theta, x_tm, h0, c0, keep_z=False, clamps=(), interrupt=None):
        n = self.n
        T, B = x_tm.shape[0], x_tm.shape[1]
        tokens = is_tokens(x_tm)
        ws = self.workspace(T, B, tokens)
        ws.tokens = x_tm if tokens else None
        ws.clamps = tuple(clamps or ())
        a = ws.arrays
        H1, Z, hout = a["H1"], a["Z"], ws.views["h_out"]
        W = self.weights(theta)
        self._load_inputs(ws, W, x_tm, Z)
        H1[0, :, :n] = h0
        U, ZT = W[:n], a.get("ZT")
        hooks = _hooks(ws.clamps)
        for t in _steps(T, interrupt):
            if tokens:
                np.matmul(H1[t], U, ZT)
                np.add(Z[t], ZT, Z[t])
            else:
                np.matmul(H1[t], W, Z[t])        # z = [h, x, 1] @ [U; W; b]
            np.tanh(Z[t], hout[t])               # h_t = tanh(z)
            todo = hooks and hooks.get(t)
            if todo:
                self._apply_clamps(ws, t, todo, ("h",))
        return ws

    def trace_arrays(self, ws):
        return {"h": self.hidden(ws), "z": ws.arrays["Z"]}

    def backward(self, theta, ws, dH, dtheta, want_dx, interrupt=None):
        n, T, B = self.n, ws.T, ws.B
        a = ws.arrays
        D, dHt = a["Z"], a["dH"]                      # Z is no longer needed: tanh' then dz there
        W = self.weights(theta)
        UT = W[:n].T
        H = self.hidden(ws)
        np.multiply(H, H, D)
        np.subtract(1.0, D, D)                    # tanh' = 1 - h²
        for c in ws.clamps:                           # a held h passes nothing back
            self._mask(D, c.steps, B, c.units)
        dHt[T - 1] = dH[T - 1]
        for t in _steps(T, interrupt, reverse=True):
            np.multiply(dHt[t], D[t], D[t])       # back through tanh: dz
            if t > 0:
                np.matmul(D[t], UT, dHt[t - 1])   # dh_{t-1} through U
                np.add(dHt[t - 1], dH[t - 1], dHt[t - 1])
        dh0 = D[0] @ UT
        dx = self._weight_grads(ws, W, self.weights(dtheta), D, want_dx)
        return dx, dh0, None, dHt, None


class GRUCell(Cell):
    """The GRU exactly as ``torch.nn.GRU`` (gate order r, z, n; both biases kept)::

        r = σ(W_r x + b_ir + U_r h + b_hr)      z = σ(W_z x + b_iz + U_z h + b_hz)
        g = tanh(W_n x + b_in + r ⊙ (U_n h + b_hn))
        h_t = (1 − z) ⊙ g + z ⊙ h_{t-1}

    Layout: ``Wx`` (m + 1, 3n) acting on ``[x_t, 1]`` (all timesteps in one product before
    the loop, or a gather of rows for ids), then ``Wh`` (n + 1, 3n) acting on ``[h_{t-1}, 1]``.
    """

    kind = "gru"
    gates = ("r", "z", "n")
    state_names = ("h",)
    trace_names = ("r", "z", "g", "h")
    clamp_names = ("r", "z", "h")

    @property
    def n_params(self) -> int:
        return gru_param_count(self.n, self.m)

    def split(self, theta):
        n, m = self.n, self.m
        k = (m + 1) * 3 * n
        return theta[:k].reshape(m + 1, 3 * n), theta[k:].reshape(n + 1, 3 * n)

    def init_params(self, rng, theta):
        n, m = self.n, self.m
        Wx, Wh = self.split(theta)
        for k in range(3):
            cols = slice(k * n, (k + 1) * n)
            Wx[:m, cols] = xavier_uniform(rng, n, m).T
            Wh[:n, cols] = orthogonal(rng, n).T
        Wx[m] = 0.0
        Wh[n] = 0.0

    def gate_slices(self):
        n, m = self.n, self.m
        k = (m + 1) * 3 * n
        ix = np.arange(k).reshape(m + 1, 3 * n)
        ih = np.arange(k, self.n_params).reshape(n + 1, 3 * n)
        return {g: np.concatenate([ix[:, j * n:(j + 1) * n].ravel(), ih[:, j * n:(j + 1) * n].ravel()])
                for j, g in enumerate(self.gates)}

    def gate_sq_norms(self, dtheta):
        Wx, Wh = self.split(dtheta)
        col = np.einsum("ij,ij->j", Wx, Wx) + np.einsum("ij,ij->j", Wh, Wh)
        blocks = col.reshape(3, self.n).sum(axis=1)
        return {g: float(blocks[j]) for j, g in enumerate(self.gates)}

    def state_dict(self, theta, suffix="_l0"):
        n, m = self.n, self.m
        Wx, Wh = self.split(theta)
        return {"weight_ih" + suffix: Wx[:m].T.copy(), "weight_hh" + suffix: Wh[:n].T.copy(),
                "bias_ih" + suffix: Wx[m].copy(), "bias_hh" + suffix: Wh[n].copy()}

    def load_state_dict(self, d, theta, suffix="_l0"):
        n, m = self.n, self.m
        Wx, Wh = self.split(theta)
        Wx[:m] = _checked(d, "weight_ih" + suffix, (3 * n, m)).T
        Wh[:n] = _checked(d, "weight_hh" + suffix, (3 * n, n)).T
        Wx[m] = _checked(d, "bias_ih" + suffix, (3 * n,))
        Wh[n] = _checked(d, "bias_hh" + suffix, (3 * n,))

    def grads_dict(self, dtheta, suffix="_l0"):
        return self.state_dict(dtheta, suffix)

    def workspace_shapes(self, T, B, tokens=False):
        n, m = self.n, self.m
        s = {
            "H1": (T + 1, B, n + 1),        # row t = [h_{t-1}, 1]
            "GH": (T, B, 3 * n),            # recurrent part (U h + b_h)
            "A": (T, B, 3 * n),             # input part W x + b_i, then r, z, g in place
            "tmp": (B, n),
            "P": (T, B, 2, n),              # backward: [dz_z, dz_g] = dh ⊙ P
            "Qr": (T, B, n),
            "R1": (T, B, 3 * n),            # [1, 1, r]: dGH = dGX ⊙ R1
            "dGX": (T, B, 3 * n), "dGH": (T, B, 3 * n),
            "dH": (T, B, n), "dtmp": (B, n),
        }
        if not tokens:
            s["X1"] = (T, B, m + 1)         # [x_t, 1]
        return s

    def views_per_step(self, tokens=False):
        return 9

    def _make_workspace(self, T, B, tokens):
        n = self.n
        a = self._allocate(T, B, tokens)
        a["H1"].fill(1.0)
        a["R1"].fill(1.0)
        if "X1" in a:
            a["X1"].fill(1.0)
        A, GH = a["A"], a["GH"]
        v = {
            "rz": [A[t, :, :2 * n] for t in range(T)], "g": [A[t, :, 2 * n:] for t in range(T)],
            "z": [A[t, :, n:2 * n] for t in range(T)], "r": [A[t, :, :n] for t in range(T)],
            "GHrz": [GH[t, :, :2 * n] for t in range(T)], "GHn": [GH[t, :, 2 * n:] for t in range(T)],
            "h_out": [a["H1"][t + 1, :, :n] for t in range(T)], "h_in": [a["H1"][t, :, :n] for t in range(T)],
            "dzg": [a["dGX"][t].reshape(B, 3, n)[:, 1:, :] for t in range(T)],
        }
        return Workspace(T, B, a, v)

    def forward(self, theta, x_tm, h0, c0, keep_z=False, clamps=(), interrupt=None):
        n, m = self.n, self.m
        T, B = x_tm.shape[0], x_tm.shape[1]
        tokens = is_tokens(x_tm)
        ws = self.workspace(T, B, tokens)
        ws.tokens = x_tm if tokens else None
        ws.clamps = tuple(clamps or ())
        a, v = ws.arrays, ws.views
        Wx, Wh = self.split(theta)
        H1, A, GH, tmp = a["H1"], a["A"], a["GH"], a["tmp"]
        if tokens:                                   # the input part of every step at once
            np.take(Wx[:m], x_tm, axis=0, out=A, mode="clip")
            A += Wx[m]
        else:
            X1 = a["X1"]
            X1[:, :, :m] = x_tm
            np.matmul(X1.reshape(T * B, m + 1), Wx, out=A.reshape(T * B, 3 * n))
        H1[0, :, :n] = h0
        hooks = _hooks(ws.clamps)
        rz, g, z, r = v["rz"], v["g"], v["z"], v["r"]
        GHrz, GHn, hout, hin = v["GHrz"], v["GHn"], v["h_out"], v["h_in"]
        matmul, multiply, tanh, plus, sub = np.matmul, np.multiply, np.tanh, np.add, np.subtract
        for t in _steps(T, interrupt):
            matmul(H1[t], Wh, GH[t])             # U h + b_h for r, z, n
            plus(rz[t], GHrz[t], rz[t])
            multiply(rz[t], 0.5, rz[t])
            tanh(rz[t], rz[t])
            multiply(rz[t], 0.5, rz[t])
            plus(rz[t], 0.5, rz[t])              # r, z = σ(...)
            todo = hooks and hooks.get(t)
            if todo:
                self._apply_clamps(ws, t, todo, "rz")
            multiply(r[t], GHn[t], tmp)          # r ⊙ (U_n h + b_hn)
            plus(g[t], tmp, g[t])
            tanh(g[t], g[t])                     # g = tanh(W_n x + b_in + r ⊙ (...))
            sub(hin[t], g[t], tmp)
            multiply(z[t], tmp, tmp)
            plus(g[t], tmp, hout[t])             # h = g + z ⊙ (h_prev − g)
            if todo:
                self._held_update(ws, t, todo)
                self._apply_clamps(ws, t, todo, ("h",))
        return ws

    @staticmethod
    def _held_update(ws, t, todo):
        """Where z is held: h = (1 − z) ⊙ g + z ⊙ h_prev (torch's form), so z = 1 keeps h_prev
        bit for bit (g + (h_prev − g) need not)."""
        v = ws.views
        for name, units, value in todo:
            if name == "z":
                v["h_out"][t][:, units] = (1.0 - value) * v["g"][t][:, units] + value * v["h_in"][t][:, units]

    def trace_arrays(self, ws):
        n, A = self.n, ws.arrays["A"]
        return {"r": A[:, :, :n], "z": A[:, :, n:2 * n], "g": A[:, :, 2 * n:], "h": self.hidden(ws)}

    def backward(self, theta, ws, dH, dtheta, want_dx, interrupt=None):
        n, m = self.n, self.m
        T, B = ws.T, ws.B
        a = ws.arrays
        Wx, Wh = self.split(theta)
        A, GH, H1, P, Qr, R1 = a["A"], a["GH"], a["H1"], a["P"], a["Qr"], a["R1"]
        dGX, dGH, dHt, dtmp = a["dGX"], a["dGH"], a["dH"], a["dtmp"]
        r, z, g = A[:, :, :n], A[:, :, n:2 * n], A[:, :, 2 * n:]
        Hprev = H1[:T, :, :n]
        # vectorised over T: dz_z = dh ⊙ (h_prev − g) ⊙ z(1−z);  dz_g = dh ⊙ (1−z) ⊙ (1−g²)
        Pz, Pg = P[:, :, 0, :], P[:, :, 1, :]
        np.subtract(Hprev, g, Pz); Pz *= z; Pz *= 1.0 - z
        np.multiply(g, g, Pg); np.subtract(1.0, Pg, Pg); Pg *= 1.0 - z
        # dz_r = dz_g ⊙ (U_n h + b_hn) ⊙ r(1−r);  the recurrent n-part gets dz_g ⊙ r
        np.subtract(1.0, r, Qr); Qr *= r; Qr *= GH[:, :, 2 * n:]
        R1[:, :, 2 * n:] = r
        zpass = z                                     # dh_{t-1} gets dh ⊙ z
        for c in ws.clamps:
            if c.name == "r":
                self._mask(Qr, c.steps, B, c.units)
            elif c.name == "z":
                self._mask(Pz, c.steps, B, c.units)
            else:                                     # h held: nothing flows back from it
                self._mask(Pz, c.steps, B, c.units)
                self._mask(Pg, c.steps, B, c.units)
                if zpass is z:
                    zpass = z.copy()
                self._mask(zpass, c.steps, B, c.units)
        UT = Wh[:n].T
        dzg = ws.views["dzg"]
        dHt[T - 1] = dH[T - 1]
        for t in _steps(T, interrupt, reverse=True):
            dh = dHt[t]
            np.multiply(P[t], dh[:, None, :], dzg[t])               # dz for z and g
            np.multiply(dGX[t, :, 2 * n:], Qr[t], dGX[t, :, :n])         # dz for r
            np.multiply(dGX[t], R1[t], dGH[t])                      # recurrent side
            if t > 0:
                np.matmul(dGH[t], UT, dHt[t - 1])                    # through U
                np.multiply(dh, zpass[t], dtmp)
                np.add(dHt[t - 1], dtmp, dHt[t - 1])                 # through z ⊙ h_prev
                np.add(dHt[t - 1], dH[t - 1], dHt[t - 1])
        dh0 = dGH[0] @ UT + dHt[0] * zpass[0]
        dWx, dWh = self.split(dtheta)
        dGX2 = dGX.reshape(T * B, 3 * n)
        np.matmul(H1[:T].reshape(T * B, n + 1).T, dGH.reshape(T * B, 3 * n), dWh)
        if ws.tokens is None:
            np.matmul(a["X1"].reshape(T * B, m + 1).T, dGX2, dWx)
            return (dGX @ Wx[:m].T if want_dx else None), dh0, None, dHt, None
        np.sum(dGX2, axis=0, out=dWx[m])
        dWx[:m] = 0.0
        scatter_rows(dWx[:m], ws.tokens.reshape(-1), dGX2)
        return None, dh0, None, dHt, None


def lstm_param_count(n_units: int, n_inputs: int = 1) -> int:
    """Parameters of an LSTM layer with one bias per gate: 4n(m + n + 1).

    For one input (m = 1) this is the seeds' 12n + 4n(n − 1).
    """
    n, m = int(n_units), int(n_inputs)
    return 4 * n * (m + n + 1)


def peephole_param_count(n_units: int, n_inputs: int = 1) -> int:
    """The peephole LSTM: 4n(m + n + 1) + 3n."""
    return lstm_param_count(n_units, n_inputs) + 3 * int(n_units)


def rnn_param_count(n_units: int, n_inputs: int = 1) -> int:
    """The plain RNN with one bias: n(m + n + 1)."""
    n, m = int(n_units), int(n_inputs)
    return n * (m + n + 1)


def gru_param_count(n_units: int, n_inputs: int = 1) -> int:
    """The GRU with torch's two biases: 3n(m + n + 2)."""
    n, m = int(n_units), int(n_inputs)
    return 3 * n * (m + n + 2)


def _checked(d: dict, key: str, shape: tuple) -> np.ndarray:
    if key not in d:
        raise KeyError(f"state dict has no {key!r}")
    arr = np.asarray(d[key])
    if arr.shape != shape:
        raise ValueError(f"{key!r} has shape {arr.shape}, expected {shape}")
    return arr


CELLS = {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell, "peephole": PeepholeLSTMCell}

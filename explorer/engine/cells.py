"""Recurrent cells over time-major buffers.

A cell owns the maths of one recurrent layer: forward over a whole sequence, backward
through time, its parameter layout in a flat vector, and the conversion to and from a
PyTorch-named state dict. Everything else (the linear head, losses, the trace, norms,
optimisers, training) is shared by :class:`explorer.engine.model.RecurrentModel`, so a
plain RNN, a GRU or a peephole LSTM is one more subclass of :class:`Cell`.

Shapes (time-major inside the engine): T timesteps, B batch, m inputs, n units.

LSTM layout. One weight matrix ``W`` of shape (n + m + 1, 4n) acts on the stacked row
``[h_{t-1}, x_t, 1]``, so one product per step does the recurrence, the input and the bias:
rows ``0:n`` are Uᵀ (recurrent), rows ``n:n+m`` are Wᵀ (input), row ``n+m`` is the bias;
columns are the gate blocks in :data:`~explorer.engine.gates.LSTM_GATES` order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .gates import LSTM_GATES
from .init import orthogonal, xavier_uniform


@dataclass
class Workspace:
    """Buffers of one (T, B) shape, allocated once and reused by every call of that shape."""

    T: int
    B: int
    arrays: dict = field(default_factory=dict)
    views: dict = field(default_factory=dict)


class Cell:
    """Base class of a recurrent layer of ``n_units`` over ``n_inputs``.

    Subclasses set ``kind``, ``gates`` (weight blocks, in order), ``state_names``
    (``("h", "c")`` or ``("h",)``) and ``trace_names`` (per-step arrays in the trace),
    and implement the methods below.
    """

    kind = "cell"
    gates: tuple = ()
    state_names: tuple = ("h",)
    trace_names: tuple = ("h",)

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

    def state_dict(self, theta: np.ndarray) -> dict:
        raise NotImplementedError

    def load_state_dict(self, d: dict, theta: np.ndarray) -> None:
        raise NotImplementedError

    def workspace(self, T: int, B: int) -> Workspace:
        """The buffers for this (T, B), reused by every call of that shape (a few shapes kept)."""
        ws = self._ws.get((T, B))
        if ws is None:
            if len(self._ws) >= 4:
                self._ws.pop(next(iter(self._ws)))
            ws = self._ws[(T, B)] = self._make_workspace(T, B)
        return ws

    def _make_workspace(self, T: int, B: int) -> Workspace:
        raise NotImplementedError

    # -- computation ------------------------------------------------------------------
    def forward(self, theta, x_tm, h0, c0) -> Workspace:
        """Run the layer over ``x_tm`` (T, B, m) from ``h0``/``c0`` (B, n); return the filled workspace."""
        raise NotImplementedError

    def hidden(self, ws: Workspace) -> np.ndarray:
        """All hidden states h_1..h_T as a (T, B, n) array (a view into the workspace)."""
        raise NotImplementedError

    def trace_arrays(self, ws: Workspace) -> dict:
        """``{name: (T, B, ·) array}`` for every name in ``trace_names`` plus ``"z"`` (views)."""
        raise NotImplementedError

    def backward(self, theta, ws: Workspace, dH, last_only: bool, dtheta, want_dx: bool):
        """Backpropagate through time.

        ``dH`` is dL/dh_t from the head: (T, B, n), or (B, n) for the last step when
        ``last_only``. Writes dL/dθ into ``dtheta`` and returns ``(dx_tm or None, dh0, dc0 or
        None, dh_all, dc_all or None)`` where ``dh_all``/``dc_all`` (T, B, n) hold the total
        gradients with respect to h_t and c_t (workspace views).
        """
        raise NotImplementedError


class LSTMCell(Cell):
    """The LSTM of the seeds, one bias per gate::

        i = σ(W_i x + U_i h_{t-1} + b_i)      f = σ(W_f x + U_f h_{t-1} + b_f)
        g = tanh(W_g x + U_g h_{t-1} + b_g)   o = σ(W_o x + U_o h_{t-1} + b_o)
        c_t = f ⊙ c_{t-1} + i ⊙ g             h_t = o ⊙ tanh(c_t)
    """

    kind = "lstm"
    gates = LSTM_GATES
    state_names = ("h", "c")
    trace_names = ("i", "f", "g", "o", "c", "h")

    @property
    def n_params(self) -> int:
        return lstm_param_count(self.n, self.m)

    # W is (n + m + 1, 4n): [Uᵀ; Wᵀ; b]
    def weights(self, theta: np.ndarray) -> np.ndarray:
        return theta.reshape(self.n + self.m + 1, 4 * self.n)

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
        idx = np.arange(self.n_params).reshape(n + m + 1, 4 * n)
        return {g: idx[:, k * n:(k + 1) * n].ravel() for k, g in enumerate(self.gates)}

    def gate_sq_norms(self, dtheta):
        col = np.einsum("ij,ij->j", self.weights(dtheta), self.weights(dtheta))
        blocks = col.reshape(len(self.gates), self.n).sum(axis=1)
        return {g: float(blocks[k]) for k, g in enumerate(self.gates)}

    def state_dict(self, theta):
        n, m = self.n, self.m
        W = self.weights(theta)
        return {
            "weight_ih_l0": W[n:n + m].T.copy(),          # (4n, m)
            "weight_hh_l0": W[:n].T.copy(),               # (4n, n)
            "bias_ih_l0": W[n + m].copy(),                # (4n,)
            "bias_hh_l0": np.zeros(4 * n, dtype=theta.dtype),
        }

    def load_state_dict(self, d, theta):
        n, m = self.n, self.m
        W = self.weights(theta)
        W[n:n + m] = _checked(d, "weight_ih_l0", (4 * n, m)).T
        W[:n] = _checked(d, "weight_hh_l0", (4 * n, n)).T
        W[n + m] = _checked(d, "bias_ih_l0", (4 * n,)) + _checked(d, "bias_hh_l0", (4 * n,))

    def grads_dict(self, dtheta):
        """dL/dθ under the state dict's keys; both bias keys carry dL/db."""
        d = self.state_dict(dtheta)
        d["bias_hh_l0"] = d["bias_ih_l0"].copy()
        return d

    def _make_workspace(self, T, B):
        n, m, dt = self.n, self.m, self.dtype
        a = {
            "H1": np.zeros((T + 1, B, n + m + 1), dt),   # row t = [h_{t-1}, x_t, 1]
            "Z": np.empty((T, B, 4 * n), dt),             # pre-activations
            "A": np.empty((T, B, 4 * n), dt),             # activations i, f, g, o
            "C": np.empty((T + 1, B, n), dt),             # C[0] = c0, C[t+1] = c_t
            "TC": np.empty((T, B, n), dt),                # tanh(c_t)
            "IG": np.empty((B, n), dt),
            "Q": np.empty((T, B, 4 * n), dt),             # backward: dz = Q * (dc or dh)
            "ODTC": np.empty((T, B, n), dt),              # o ⊙ (1 - tanh²(c))
            "dZ": np.empty((T, B, 4 * n), dt),
            "dH": np.empty((T, B, n), dt),                # total dL/dh_t
            "dC": np.empty((T, B, n), dt),                # total dL/dc_t
            "dc_next": np.empty((B, n), dt),
        }
        a["H1"][:, :, n + m] = 1.0
        A, Q, dZ = a["A"], a["Q"], a["dZ"]
        v = {  # per-timestep views, built once so the loops do no slicing
            "i": [A[t, :, 0:n] for t in range(T)],
            "f": [A[t, :, n:2 * n] for t in range(T)],
            "g": [A[t, :, 2 * n:3 * n] for t in range(T)],
            "o": [A[t, :, 3 * n:] for t in range(T)],
            "h_out": [a["H1"][t + 1, :, :n] for t in range(T)],
            "Q3": [Q[t].reshape(B, 4, n)[:, :3, :] for t in range(T)],
            "Qo": [Q[t, :, 3 * n:] for t in range(T)],
            "dZ3": [dZ[t].reshape(B, 4, n)[:, :3, :] for t in range(T)],
            "dZo": [dZ[t, :, 3 * n:] for t in range(T)],
            "dC3": [a["dC"][t][:, None, :] for t in range(T)],
        }
        # activation as one tanh: σ(z) = ½ tanh(z/2) + ½, so a = tanh(z·s)·s + s' per column
        s = np.full(4 * n, 0.5, dt)
        s[2 * n:3 * n] = 1.0
        add = np.full(4 * n, 0.5, dt)
        add[2 * n:3 * n] = 0.0
        v["scale"], v["mul"], v["add"] = s, s.copy(), add
        return Workspace(T, B, a, v)

    def forward(self, theta, x_tm, h0, c0):
        n, m = self.n, self.m
        T, B = x_tm.shape[0], x_tm.shape[1]
        ws = self.workspace(T, B)
        a, v = ws.arrays, ws.views
        H1, Z, A, C, TC, IG = a["H1"], a["Z"], a["A"], a["C"], a["TC"], a["IG"]
        W = self.weights(theta)
        H1[:T, :, n:n + m] = x_tm
        H1[0, :, :n] = h0
        C[0] = c0
        scale, mul, add = v["scale"], v["mul"], v["add"]
        vi, vf, vg, vo, hout = v["i"], v["f"], v["g"], v["o"], v["h_out"]
        matmul, multiply, tanh, plus = np.matmul, np.multiply, np.tanh, np.add
        for t in range(T):
            z, act = Z[t], A[t]
            matmul(H1[t], W, out=z)                  # z = [h, x, 1] @ [U; W; b]
            multiply(z, scale, out=act)
            tanh(act, out=act)
            multiply(act, mul, out=act)
            plus(act, add, out=act)                  # σ for i, f, o; tanh for g
            c = C[t + 1]
            multiply(vf[t], C[t], out=c)             # kept: f ⊙ c_{t-1}
            multiply(vi[t], vg[t], out=IG)           # written: i ⊙ g
            plus(c, IG, out=c)                       # c_t = kept + written
            tanh(c, out=TC[t])
            multiply(vo[t], TC[t], out=hout[t])      # h_t = o ⊙ tanh(c_t)
        return ws

    def hidden(self, ws):
        return ws.arrays["H1"][1:, :, :self.n]

    def trace_arrays(self, ws):
        n, a = self.n, ws.arrays
        A = a["A"]
        return {
            "i": A[:, :, 0:n], "f": A[:, :, n:2 * n], "g": A[:, :, 2 * n:3 * n], "o": A[:, :, 3 * n:],
            "c": a["C"][1:], "h": self.hidden(ws), "z": a["Z"],
        }

    def backward(self, theta, ws, dH, last_only, dtheta, want_dx):
        n, m = self.n, self.m
        T, B = ws.T, ws.B
        a, v = ws.arrays, ws.views
        A, C, TC, Q, ODTC = a["A"], a["C"], a["TC"], a["Q"], a["ODTC"]
        dZ, dHt, dCt, dc_next = a["dZ"], a["dH"], a["dC"], a["dc_next"]
        W = self.weights(theta)
        UT = W[:n].T                                  # (4n, n): dz @ Uᵀ... gives dh_{t-1}
        # Everything that does not depend on the backward recurrence, vectorised over T:
        Ai, Af, Ag, Ao = A[:, :, 0:n], A[:, :, n:2 * n], A[:, :, 2 * n:3 * n], A[:, :, 3 * n:]
        np.multiply(TC, TC, out=ODTC)
        np.subtract(1.0, ODTC, out=ODTC)
        np.multiply(ODTC, Ao, out=ODTC)               # o ⊙ (1 - tanh²c): dc from dh
        # dz_i = dc ⊙ g ⊙ i(1-i);  dz_f = dc ⊙ c_{t-1} ⊙ f(1-f);  dz_g = dc ⊙ i ⊙ (1-g²);  dz_o = dh ⊙ tanh(c) ⊙ o(1-o)
        Qi, Qf, Qg, Qo = Q[:, :, 0:n], Q[:, :, n:2 * n], Q[:, :, 2 * n:3 * n], Q[:, :, 3 * n:]
        np.subtract(1.0, Ai, out=Qi); Qi *= Ai; Qi *= Ag
        np.subtract(1.0, Af, out=Qf); Qf *= Af; Qf *= C[:T]
        np.multiply(Ag, Ag, out=Qg); np.subtract(1.0, Qg, out=Qg); Qg *= Ai
        np.subtract(1.0, Ao, out=Qo); Qo *= Ao; Qo *= TC
        Q3, Qo_v, dZ3, dZo, dC3, vf = v["Q3"], v["Qo"], v["dZ3"], v["dZo"], v["dC3"], v["f"]
        matmul, multiply, plus = np.matmul, np.multiply, np.add
        if last_only:
            dHt[T - 1] = dH
        else:
            dHt[T - 1] = dH[T - 1]
        dc_next.fill(0.0)
        for t in range(T - 1, -1, -1):
            dh, dc = dHt[t], dCt[t]
            multiply(dh, ODTC[t], out=dc)             # through h = o ⊙ tanh(c)
            plus(dc, dc_next, out=dc)                 # plus the belt from c_{t+1}
            multiply(Q3[t], dC3[t], out=dZ3[t])       # dz for i, f, g
            multiply(Qo_v[t], dh, out=dZo[t])         # dz for o
            multiply(dc, vf[t], out=dc_next)          # dc_{t-1} through the forget gate
            if t > 0:
                matmul(dZ[t], UT, out=dHt[t - 1])     # dh_{t-1} through the recurrence
                if not last_only:
                    plus(dHt[t - 1], dH[t - 1], out=dHt[t - 1])
        dh0 = dZ[0] @ UT
        dc0 = dc_next.copy()
        dW = self.weights(dtheta)
        H1 = a["H1"]
        np.matmul(H1[:T].reshape(T * B, n + m + 1).T, dZ.reshape(T * B, 4 * n), out=dW)
        dx = None
        if want_dx:
            dx = dZ @ W[n:n + m].T                    # (T, B, m)
        return dx, dh0, dc0, dHt, dCt


def lstm_param_count(n_units: int, n_inputs: int = 1) -> int:
    """Parameters of an LSTM layer with one bias per gate: 4n(m + n + 1).

    For one input (m = 1) this is the seeds' 12n + 4n(n − 1).
    """
    n, m = int(n_units), int(n_inputs)
    return 4 * n * (m + n + 1)


def _checked(d: dict, key: str, shape: tuple) -> np.ndarray:
    if key not in d:
        raise KeyError(f"state dict has no {key!r}")
    arr = np.asarray(d[key])
    if arr.shape != shape:
        raise ValueError(f"{key!r} has shape {arr.shape}, expected {shape}")
    return arr


CELLS = {"lstm": LSTMCell}

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


class StackedCell(Cell):
    """A cell whose weights are one stacked matrix ``[Uᵀ; Wᵀ; b]`` of shape (n + m + 1, G·n) acting
    on ``[h_{t-1}, x_t, 1]`` (one bias per block): the LSTM, the peephole LSTM's main part, the RNN.
    Its state dict uses torch's names; loading sums torch's two biases, saving writes zeros in
    ``bias_hh_l0``; each bias key of the gradients carries dL/db."""

    def weights(self, theta: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def state_dict(self, theta):
        # weight_ih_l0 (G·n, m), weight_hh_l0 (G·n, n), bias_ih_l0 (G·n,), bias_hh_l0 zeros (G·n,)
        W, n, m = self.weights(theta), self.n, self.m
        return {"weight_ih_l0": W[n:n + m].T.copy(), "weight_hh_l0": W[:n].T.copy(),
                "bias_ih_l0": W[n + m].copy(), "bias_hh_l0": np.zeros(W.shape[1], dtype=W.dtype)}

    def load_state_dict(self, d, theta):
        W, n, m = self.weights(theta), self.n, self.m
        G = W.shape[1]
        W[n:n + m] = _checked(d, "weight_ih_l0", (G, m)).T
        W[:n] = _checked(d, "weight_hh_l0", (G, n)).T
        W[n + m] = _checked(d, "bias_ih_l0", (G,)) + _checked(d, "bias_hh_l0", (G,))

    def grads_dict(self, dtheta):
        d = self.state_dict(dtheta)
        d["bias_hh_l0"] = d["bias_ih_l0"].copy()
        return d


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
        idx = np.arange(lstm_param_count(n, m)).reshape(n + m + 1, 4 * n)
        return {g: idx[:, k * n:(k + 1) * n].ravel() for k, g in enumerate(self.gates)}

    def gate_sq_norms(self, dtheta):
        col = np.einsum("ij,ij->j", self.weights(dtheta), self.weights(dtheta))
        blocks = col.reshape(len(self.gates), self.n).sum(axis=1)
        return {g: float(blocks[k]) for k, g in enumerate(self.gates)}

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
        # activation as one tanh: σ(z) = ½ tanh(z/2) + ½, so a = tanh(z·s)·s + add per column
        # (s = ½, add = ½ for i, f, o; s = 1, add = 0 for g)
        s = np.full(4 * n, 0.5, dt)
        s[2 * n:3 * n] = 1.0
        v["scale"], v["add"] = s, 1.0 - s
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
        scale, add = v["scale"], v["add"]
        vi, vf, vg, vo, hout = v["i"], v["f"], v["g"], v["o"], v["h_out"]
        matmul, multiply, tanh, plus = np.matmul, np.multiply, np.tanh, np.add
        for t in range(T):
            z, act = Z[t], A[t]
            matmul(H1[t], W, out=z)                  # z = [h, x, 1] @ [U; W; b]
            multiply(z, scale, out=act)
            tanh(act, out=act)
            multiply(act, scale, out=act)
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

    def _backward_factors(self, ws):
        """Everything of the backward pass that does not depend on the recurrence, vectorised over T."""
        n, T, a = self.n, ws.T, ws.arrays
        A, C, TC, Q, ODTC = a["A"], a["C"], a["TC"], a["Q"], a["ODTC"]
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

    def backward(self, theta, ws, dH, last_only, dtheta, want_dx):
        n, m = self.n, self.m
        T, B = ws.T, ws.B
        a, v = ws.arrays, ws.views
        ODTC = a["ODTC"]
        dZ, dHt, dCt, dc_next = a["dZ"], a["dH"], a["dC"], a["dc_next"]
        W = self.weights(theta)
        UT = W[:n].T                                  # (4n, n): dz @ Uᵀ... gives dh_{t-1}
        # Everything that does not depend on the backward recurrence, vectorised over T:
        self._backward_factors(ws)
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


class PeepholeLSTMCell(LSTMCell):
    """The LSTM with peepholes (Gers & Schmidhuber 2000): i and f also see c_{t-1}, o sees c_t::

        i = σ(W_i x + U_i h_{t-1} + p_i ⊙ c_{t-1} + b_i)   f = σ(W_f x + U_f h_{t-1} + p_f ⊙ c_{t-1} + b_f)
        g = tanh(W_g x + U_g h_{t-1} + b_g)                c_t = f ⊙ c_{t-1} + i ⊙ g
        o = σ(W_o x + U_o h_{t-1} + p_o ⊙ c_t + b_o)        h_t = o ⊙ tanh(c_t)

    Layout: the LSTM's ``W`` (n + m + 1, 4n), then the peepholes ``P`` (3, n) = p_i, p_f, p_o.
    """

    kind = "peephole"

    @property
    def n_params(self) -> int:
        return peephole_param_count(self.n, self.m)

    def weights(self, theta):
        return theta[:lstm_param_count(self.n, self.m)].reshape(self.n + self.m + 1, 4 * self.n)

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

    def state_dict(self, theta):
        d = super().state_dict(theta)
        P = self.peepholes(theta)
        d.update(peephole_i=P[0].copy(), peephole_f=P[1].copy(), peephole_o=P[2].copy())
        return d

    def load_state_dict(self, d, theta):
        super().load_state_dict(d, theta)
        P = self.peepholes(theta)
        for k, g in enumerate(("i", "f", "o")):
            P[k] = _checked(d, f"peephole_{g}", (self.n,))

    def _make_workspace(self, T, B):
        ws = super()._make_workspace(T, B)
        n, dt = self.n, self.dtype
        ws.arrays["PC"] = np.empty((B, 2, n), dt)
        ws.arrays["dC_prev"] = np.empty((B, n), dt)
        A, Z = ws.arrays["A"], ws.arrays["Z"]
        ws.views["ifg"] = [A[t, :, :3 * n] for t in range(T)]
        ws.views["z_ifg"] = [Z[t, :, :3 * n] for t in range(T)]
        ws.views["z_if"] = [Z[t].reshape(B, 4, n)[:, :2, :] for t in range(T)]
        ws.views["z_o"] = [Z[t, :, 3 * n:] for t in range(T)]
        ws.views["C_b"] = [ws.arrays["C"][t][:, None, :] for t in range(T + 1)]
        return ws

    def forward(self, theta, x_tm, h0, c0):
        n, m = self.n, self.m
        T, B = x_tm.shape[0], x_tm.shape[1]
        ws = self.workspace(T, B)
        a, v = ws.arrays, ws.views
        H1, Z, C, TC, IG, PC = a["H1"], a["Z"], a["C"], a["TC"], a["IG"], a["PC"]
        W, P = self.weights(theta), self.peepholes(theta)
        p_if, p_o = P[:2], P[2]
        H1[:T, :, n:n + m] = x_tm
        H1[0, :, :n] = h0
        C[0] = c0
        s3, add3 = v["scale"][:3 * n], v["add"][:3 * n]
        vi, vf, vg, vo, hout = v["i"], v["f"], v["g"], v["o"], v["h_out"]
        ifg, z_ifg, z_if, z_o, C_b = v["ifg"], v["z_ifg"], v["z_if"], v["z_o"], v["C_b"]
        matmul, multiply, tanh, plus = np.matmul, np.multiply, np.tanh, np.add
        for t in range(T):
            matmul(H1[t], W, out=Z[t])               # z = [h, x, 1] @ [U; W; b]
            multiply(C_b[t], p_if, out=PC)
            plus(z_if[t], PC, out=z_if[t])            # i, f peep at c_{t-1}
            multiply(z_ifg[t], s3, out=ifg[t])
            tanh(ifg[t], out=ifg[t])
            multiply(ifg[t], s3, out=ifg[t])
            plus(ifg[t], add3, out=ifg[t])            # σ for i, f; tanh for g
            c = C[t + 1]
            multiply(vf[t], C[t], out=c)             # kept
            multiply(vi[t], vg[t], out=IG)           # written
            plus(c, IG, out=c)                       # c_t
            multiply(c, p_o, out=IG)
            plus(z_o[t], IG, out=z_o[t])             # o peeps at c_t
            o = vo[t]
            multiply(z_o[t], 0.5, out=o)
            tanh(o, out=o)
            multiply(o, 0.5, out=o)
            plus(o, 0.5, out=o)                      # σ(z_o)
            tanh(c, out=TC[t])
            multiply(o, TC[t], out=hout[t])          # h_t = o ⊙ tanh(c_t)
        return ws

    def backward(self, theta, ws, dH, last_only, dtheta, want_dx):
        n, m = self.n, self.m
        T, B = ws.T, ws.B
        a, v = ws.arrays, ws.views
        C, ODTC = a["C"], a["ODTC"]
        dZ, dHt, dCt, dc_next, tmp = a["dZ"], a["dH"], a["dC"], a["dc_next"], a["dC_prev"]
        W, P = self.weights(theta), self.peepholes(theta)
        p_i, p_f, p_o = P[0], P[1], P[2]
        UT = W[:n].T
        self._backward_factors(ws)
        Q3, Qo_v, dZ3, dZo, dC3, vf = v["Q3"], v["Qo"], v["dZ3"], v["dZo"], v["dC3"], v["f"]
        dZi = [dZ[t, :, 0:n] for t in range(T)]
        dZf = [dZ[t, :, n:2 * n] for t in range(T)]
        matmul, multiply, plus = np.matmul, np.multiply, np.add
        dHt[T - 1] = dH if last_only else dH[T - 1]
        dc_next.fill(0.0)
        for t in range(T - 1, -1, -1):
            dh, dc = dHt[t], dCt[t]
            multiply(Qo_v[t], dh, out=dZo[t])         # dz_o
            multiply(dh, ODTC[t], out=dc)             # through h
            plus(dc, dc_next, out=dc)                 # the belt from c_{t+1}
            multiply(dZo[t], p_o, out=tmp)
            plus(dc, tmp, out=dc)                     # o peeps at c_t
            multiply(Q3[t], dC3[t], out=dZ3[t])       # dz for i, f, g
            multiply(dc, vf[t], out=dc_next)          # dc_{t-1}: through f ...
            multiply(dZi[t], p_i, out=tmp)
            plus(dc_next, tmp, out=dc_next)           # ... and the i peephole
            multiply(dZf[t], p_f, out=tmp)
            plus(dc_next, tmp, out=dc_next)           # ... and the f peephole
            if t > 0:
                matmul(dZ[t], UT, out=dHt[t - 1])
                if not last_only:
                    plus(dHt[t - 1], dH[t - 1], out=dHt[t - 1])
        dh0 = dZ[0] @ UT
        dc0 = dc_next.copy()
        dW = self.weights(dtheta)
        H1 = a["H1"]
        np.matmul(H1[:T].reshape(T * B, n + m + 1).T, dZ.reshape(T * B, 4 * n), out=dW)
        dP = self.peepholes(dtheta)
        dP[0] = np.einsum("tbn,tbn->n", dZ[:, :, 0:n], C[:T])       # dL/dp_i = Σ dz_i c_{t-1}
        dP[1] = np.einsum("tbn,tbn->n", dZ[:, :, n:2 * n], C[:T])   # dL/dp_f = Σ dz_f c_{t-1}
        dP[2] = np.einsum("tbn,tbn->n", dZ[:, :, 3 * n:], C[1:])    # dL/dp_o = Σ dz_o c_t
        dx = dZ @ W[n:n + m].T if want_dx else None
        return dx, dh0, dc0, dHt, dCt


class RNNCell(StackedCell):
    """The plain (Elman) RNN: h_t = tanh(W x_t + U h_{t-1} + b), one bias.

    Layout: ``W`` (n + m + 1, n) acting on ``[h_{t-1}, x_t, 1]``.
    """

    kind = "rnn"
    gates = ("h",)
    state_names = ("h",)
    trace_names = ("h",)

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

    def _make_workspace(self, T, B):
        n, m, dt = self.n, self.m, self.dtype
        a = {"H1": np.zeros((T + 1, B, n + m + 1), dt), "Z": np.empty((T, B, n), dt),
             "D": np.empty((T, B, n), dt), "dZ": np.empty((T, B, n), dt), "dH": np.empty((T, B, n), dt)}
        a["H1"][:, :, n + m] = 1.0
        return Workspace(T, B, a, {"h_out": [a["H1"][t + 1, :, :n] for t in range(T)]})

    def forward(self, theta, x_tm, h0, c0):
        n, m = self.n, self.m
        T, B = x_tm.shape[0], x_tm.shape[1]
        ws = self.workspace(T, B)
        H1, Z, hout = ws.arrays["H1"], ws.arrays["Z"], ws.views["h_out"]
        W = self.weights(theta)
        H1[:T, :, n:n + m] = x_tm
        H1[0, :, :n] = h0
        for t in range(T):
            np.matmul(H1[t], W, out=Z[t])            # z = [h, x, 1] @ [U; W; b]
            np.tanh(Z[t], out=hout[t])               # h_t = tanh(z)
        return ws

    def hidden(self, ws):
        return ws.arrays["H1"][1:, :, :self.n]

    def trace_arrays(self, ws):
        return {"h": self.hidden(ws), "z": ws.arrays["Z"]}

    def backward(self, theta, ws, dH, last_only, dtheta, want_dx):
        n, m = self.n, self.m
        T, B = ws.T, ws.B
        a = ws.arrays
        D, dZ, dHt = a["D"], a["dZ"], a["dH"]
        W = self.weights(theta)
        UT = W[:n].T
        H = self.hidden(ws)
        np.multiply(H, H, out=D)
        np.subtract(1.0, D, out=D)                    # tanh' = 1 - h²
        dHt[T - 1] = dH if last_only else dH[T - 1]
        for t in range(T - 1, -1, -1):
            np.multiply(dHt[t], D[t], out=dZ[t])      # back through tanh
            if t > 0:
                np.matmul(dZ[t], UT, out=dHt[t - 1])  # dh_{t-1} through U
                if not last_only:
                    np.add(dHt[t - 1], dH[t - 1], out=dHt[t - 1])
        dh0 = dZ[0] @ UT
        np.matmul(a["H1"][:T].reshape(T * B, n + m + 1).T, dZ.reshape(T * B, n), out=self.weights(dtheta))
        dx = dZ @ W[n:n + m].T if want_dx else None
        return dx, dh0, None, dHt, None


class GRUCell(Cell):
    """The GRU exactly as ``torch.nn.GRU`` (gate order r, z, n; both biases kept)::

        r = σ(W_r x + b_ir + U_r h + b_hr)      z = σ(W_z x + b_iz + U_z h + b_hz)
        g = tanh(W_n x + b_in + r ⊙ (U_n h + b_hn))
        h_t = (1 − z) ⊙ g + z ⊙ h_{t-1}

    Layout: ``Wx`` (m + 1, 3n) acting on ``[x_t, 1]`` (all timesteps in one product before
    the loop), then ``Wh`` (n + 1, 3n) acting on ``[h_{t-1}, 1]``.
    """

    kind = "gru"
    gates = ("r", "z", "n")
    state_names = ("h",)
    trace_names = ("r", "z", "g", "h")

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

    def state_dict(self, theta):
        n, m = self.n, self.m
        Wx, Wh = self.split(theta)
        return {"weight_ih_l0": Wx[:m].T.copy(), "weight_hh_l0": Wh[:n].T.copy(),
                "bias_ih_l0": Wx[m].copy(), "bias_hh_l0": Wh[n].copy()}

    def load_state_dict(self, d, theta):
        n, m = self.n, self.m
        Wx, Wh = self.split(theta)
        Wx[:m] = _checked(d, "weight_ih_l0", (3 * n, m)).T
        Wh[:n] = _checked(d, "weight_hh_l0", (3 * n, n)).T
        Wx[m] = _checked(d, "bias_ih_l0", (3 * n,))
        Wh[n] = _checked(d, "bias_hh_l0", (3 * n,))

    def grads_dict(self, dtheta):
        return self.state_dict(dtheta)

    def _make_workspace(self, T, B):
        n, m, dt = self.n, self.m, self.dtype
        a = {
            "X1": np.ones((T, B, m + 1), dt),            # [x_t, 1]
            "H1": np.ones((T + 1, B, n + 1), dt),        # row t = [h_{t-1}, 1]
            "GX": np.empty((T, B, 3 * n), dt),           # input part of the pre-activations
            "GH": np.empty((T, B, 3 * n), dt),           # recurrent part (U h + b_h)
            "A": np.empty((T, B, 3 * n), dt),            # r, z, g
            "tmp": np.empty((B, n), dt),
            "P": np.empty((T, B, 2, n), dt),             # backward: [dz_z, dz_g] = dh ⊙ P
            "Qr": np.empty((T, B, n), dt),
            "R1": np.ones((T, B, 3 * n), dt),            # [1, 1, r]: dGH = dGX ⊙ R1
            "dGX": np.empty((T, B, 3 * n), dt), "dGH": np.empty((T, B, 3 * n), dt),
            "dH": np.empty((T, B, n), dt), "dtmp": np.empty((B, n), dt),
        }
        A, GH = a["A"], a["GH"]
        v = {
            "rz": [A[t, :, :2 * n] for t in range(T)], "g": [A[t, :, 2 * n:] for t in range(T)],
            "z": [A[t, :, n:2 * n] for t in range(T)], "r": [A[t, :, :n] for t in range(T)],
            "GXrz": [a["GX"][t, :, :2 * n] for t in range(T)], "GXn": [a["GX"][t, :, 2 * n:] for t in range(T)],
            "GHrz": [GH[t, :, :2 * n] for t in range(T)], "GHn": [GH[t, :, 2 * n:] for t in range(T)],
            "h_out": [a["H1"][t + 1, :, :n] for t in range(T)], "h_in": [a["H1"][t, :, :n] for t in range(T)],
        }
        return Workspace(T, B, a, v)

    def forward(self, theta, x_tm, h0, c0):
        n, m = self.n, self.m
        T, B = x_tm.shape[0], x_tm.shape[1]
        ws = self.workspace(T, B)
        a, v = ws.arrays, ws.views
        Wx, Wh = self.split(theta)
        X1, H1, GX, GH, tmp = a["X1"], a["H1"], a["GX"], a["GH"], a["tmp"]
        X1[:, :, :m] = x_tm
        np.matmul(X1.reshape(T * B, m + 1), Wx, out=GX.reshape(T * B, 3 * n))   # all inputs at once
        H1[0, :, :n] = h0
        rz, g, z, r = v["rz"], v["g"], v["z"], v["r"]
        GXrz, GXn, GHrz, GHn, hout, hin = v["GXrz"], v["GXn"], v["GHrz"], v["GHn"], v["h_out"], v["h_in"]
        matmul, multiply, tanh, plus, sub = np.matmul, np.multiply, np.tanh, np.add, np.subtract
        for t in range(T):
            matmul(H1[t], Wh, out=GH[t])             # U h + b_h for r, z, n
            plus(GXrz[t], GHrz[t], out=rz[t])
            multiply(rz[t], 0.5, out=rz[t])
            tanh(rz[t], out=rz[t])
            multiply(rz[t], 0.5, out=rz[t])
            plus(rz[t], 0.5, out=rz[t])              # r, z = σ(...)
            multiply(r[t], GHn[t], out=g[t])         # r ⊙ (U_n h + b_hn)
            plus(g[t], GXn[t], out=g[t])
            tanh(g[t], out=g[t])                     # g = tanh(W_n x + b_in + r ⊙ (...))
            sub(hin[t], g[t], out=tmp)
            multiply(z[t], tmp, out=tmp)
            plus(g[t], tmp, out=hout[t])             # h = g + z ⊙ (h_prev − g)
        return ws

    def hidden(self, ws):
        return ws.arrays["H1"][1:, :, :self.n]

    def trace_arrays(self, ws):
        n, A = self.n, ws.arrays["A"]
        return {"r": A[:, :, :n], "z": A[:, :, n:2 * n], "g": A[:, :, 2 * n:], "h": self.hidden(ws)}

    def backward(self, theta, ws, dH, last_only, dtheta, want_dx):
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
        np.subtract(Hprev, g, out=Pz); Pz *= z; Pz *= 1.0 - z
        np.multiply(g, g, out=Pg); np.subtract(1.0, Pg, out=Pg); Pg *= 1.0 - z
        # dz_r = dz_g ⊙ (U_n h + b_hn) ⊙ r(1−r);  the recurrent n-part gets dz_g ⊙ r
        np.subtract(1.0, r, out=Qr); Qr *= r; Qr *= GH[:, :, 2 * n:]
        R1[:, :, 2 * n:] = r
        UT = Wh[:n].T
        dzg = [dGX[t].reshape(B, 3, n)[:, 1:, :] for t in range(T)]
        dHt[T - 1] = dH if last_only else dH[T - 1]
        for t in range(T - 1, -1, -1):
            dh = dHt[t]
            np.multiply(P[t], dh[:, None, :], out=dzg[t])               # dz for z and g
            np.multiply(dGX[t, :, 2 * n:], Qr[t], out=dGX[t, :, :n])     # dz for r
            np.multiply(dGX[t], R1[t], out=dGH[t])                      # recurrent side
            if t > 0:
                np.matmul(dGH[t], UT, out=dHt[t - 1])                    # through U
                np.multiply(dh, z[t], out=dtmp)
                np.add(dHt[t - 1], dtmp, out=dHt[t - 1])                 # through z ⊙ h_prev
                if not last_only:
                    np.add(dHt[t - 1], dH[t - 1], out=dHt[t - 1])
        dh0 = dGH[0] @ UT + dHt[0] * z[0]
        dWx, dWh = self.split(dtheta)
        np.matmul(a["X1"].reshape(T * B, m + 1).T, dGX.reshape(T * B, 3 * n), out=dWx)
        np.matmul(H1[:T].reshape(T * B, n + 1).T, dGH.reshape(T * B, 3 * n), out=dWh)
        dx = dGX @ Wx[:m].T if want_dx else None
        return dx, dh0, None, dHt, None


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
PARAM_COUNTS = {"rnn": rnn_param_count, "gru": gru_param_count, "lstm": lstm_param_count,
                "peephole": peephole_param_count}

"""The convolutional LSTM (Shi et al. 2015) on sequences of frames, with exact backpropagation.

For channels F and a k×k kernel (k odd, "same" padding), at every pixel and step::

    i, f, g, o = σ, σ, tanh, σ (W_x ∗ x_t + W_h ∗ h_{t−1} + b_ih + b_hh [+ W_c ⊙ c])
    c_t = f ⊙ c_{t−1} + i ⊙ g,    h_t = o ⊙ tanh(c_t)

∗ is a 2-D cross-correlation (``torch.nn.functional.conv2d``). With ``peephole=True`` the input
and forget gates add ``peephole_{i,f} ⊙ c_{t−1}`` and the output gate ``peephole_o ⊙ c_t`` (one
weight per channel and pixel, (F, H, W)). Layers stack (layer k > 0 reads layer k − 1's h), and a
1×1 convolution head gives y_t = head.weight · h_t + head.bias at every pixel.

Losses: ``"mse"`` is the mean of (y − target)² over every entry; ``"bce"`` treats y as logits,
the prediction is sigmoid(y) and the loss the mean binary cross-entropy of sigmoid(y) against a
target in 0..1 (computed as softplus(y) − target·y, stable for any y).

Layouts. Inputs are (B, T, C, H, W), outputs ``y`` (B, T, C_out, H, W); the trace's gates and
states are (T, B, F, H, W). The state dict uses torch's names: ``weight_ih_l{k}`` (4F, C or F,
k, k), ``weight_hh_l{k}`` (4F, F, k, k), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (4F), gate order
i, f, g, o, ``peephole_{i,f,o}_l{k}`` (F, H, W), ``head.weight`` (C_out, F, 1, 1), ``head.bias``.
The model holds one bias per gate (torch's two summed): ``state_dict()`` writes it as ``bias_ih``
and zeros as ``bias_hh``, ``load_state_dict`` sums the two, and the gradient of each is dL/db.
Parameters live in one flat vector in the state dict's order and layout
(:attr:`ConvLSTMModel.params`).

Computation. Inside, every array is channels-last (…, H, W, channels). A convolution is an
im2col: a strided window view of the zero-padded input copied into (positions, k·k·channels)
columns, then one matrix product. The input's convolution runs over many steps at once, the
recurrent one once per step; backward scatters the columns' gradient back (col2im) and forms
the weights' gradients in large products after the loop over time.
"""

from __future__ import annotations

import math

import numpy as np

from .cells import Interrupted
from .model import GradNorms, ParamCount, TraceArrays

GATES = ("i", "f", "g", "o")
LOSSES = ("mse", "bce")
CHUNK = 1 << 22
"""Convolutions over many steps at once build at most about this many column entries."""


def param_count(C: int, F: int, k: int, num_layers: int = 1, peephole: bool = False,
                frame: tuple = (0, 0), C_out: int = 1) -> int:
    """Parameters of a ConvLSTM: 4F(k²(C_in + F) + 1) per layer (one bias per gate, the sum of
    torch's two), + 3·H·W·F with peepholes, + the head's C_out(F + 1)."""
    H, W = frame
    total = 0
    for layer in range(num_layers):
        cin = C if layer == 0 else F
        total += 4 * F * (k * k * (cin + F) + 1) + (3 * H * W * F if peephole else 0)
    return total + C_out * (F + 1)


def step_bytes(C: int, F: int, C_out: int, k: int, num_layers: int, batch: int, T: int, frame: tuple,
               itemsize: int = 8) -> int:
    """Bytes one training step (forward, loss, backward) of a batch of (``batch``, ``T``) frames
    of ``frame`` = (H, W) allocates, parameters aside: every layer's gates, cell states and padded
    outputs, the gradients of the gates, the columns of the convolutions and the head's arrays."""
    H, W = frame
    pos = int(batch) * H * W
    per_layer = int(T) * pos * (2 * 4 * F + 2 * F) + (int(T) + 1) * int(batch) * (H + k) * (W + k) * F * 2
    wide = k * k * max(C, F)
    cols = max(pos * wide, min(CHUNK, int(T) * pos * wide))
    return int((num_layers * per_layer + 3 * cols + 4 * int(T) * pos * max(F, C_out)) * itemsize)


def _sigmoid(z, out=None):
    """σ(z) = (1 + tanh(z/2)) / 2, without overflow."""
    out = np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def im2col(xp: np.ndarray, k: int, H: int, W: int) -> np.ndarray:
    """Columns of a padded channels-last batch ``xp`` (N, H + k − 1, W + k − 1, C): a new
    (N·H·W, k·k·C) array whose row (n, y, x) holds the k×k window at (y, x) in order
    (dy, dx, c)."""
    N, C = xp.shape[0], xp.shape[3]
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))   # (N, H, W, C, k, k)
    cols = np.empty((N, H, W, k, k, C), xp.dtype)
    np.copyto(cols, win.transpose(0, 1, 2, 4, 5, 3))
    return cols.reshape(N * H * W, k * k * C)


def col2im_add(dcols: np.ndarray, dxp: np.ndarray, k: int, H: int, W: int) -> None:
    """Add the gradient of :func:`im2col`'s columns ``dcols`` (N·H·W, k·k·C) into the padded
    gradient ``dxp`` (N, H + k − 1, W + k − 1, C)."""
    N, C = dxp.shape[0], dxp.shape[3]
    d = dcols.reshape(N, H, W, k, k, C)
    for dy in range(k):
        for dx in range(k):
            dxp[:, dy:dy + H, dx:dx + W, :] += d[:, :, :, dy, dx, :]


class ConvTrace(TraceArrays):
    """One forward pass of a :class:`ConvLSTMModel`, read-only arrays.

    ``x`` (B, T, C, H, W) the input, ``y`` (B, T, C_out, H, W) the head's output (logits for
    ``bce``), and layer 0's gates and states ``i, f, g, o, c, h`` (T, B, F, H, W) plus ``h0``,
    ``c0`` (B, F, H, W). :meth:`layer` gives any layer's (its ``x`` is that layer's input).
    """

    kind = "convlstm"
    num_directions = 1

    def __init__(self, fields: dict, layers: list, layer_index: int = 0):
        self._set_fields(fields)
        self._layers = layers
        self.layer_index = int(layer_index)

    def layer(self, k: int, d: int = 0) -> ConvTrace:
        """The trace of layer ``k`` (0 = the input's)."""
        if not (0 <= k < self.num_layers and d == 0):
            raise IndexError(f"no layer {k}, direction {d}: the trace has {self.num_layers} layer(s) "
                             "and 1 direction")
        return ConvTrace({**self._layers[k], "y": self.y}, self._layers, k)

    def sample(self, b: int) -> ConvTrace:
        """A trace of sample ``b`` alone (batch 1, copies), every layer."""
        layers = [{n: (a[b:b + 1] if n in ("x", "h0", "c0") else a[:, b:b + 1]).copy() for n, a in f.items()}
                  for f in self._layers]
        return ConvTrace({**layers[self.layer_index], "y": self.y[b:b + 1].copy()}, layers, self.layer_index)


class ConvLSTMModel:
    """Stacked ConvLSTM layers and a 1×1 convolution head (see the module's docstring).

    Parameters
    ----------
    n_inputs, n_units, n_outputs : int
        Input channels C, channels F of every layer, output channels C_out.
    kernel : int
        The odd kernel size k ("same" padding of (k − 1) / 2).
    num_layers : int
        Stacked layers L.
    peephole : bool
        Peephole weights (F, H, W) per gate i, f, o; they need ``frame``.
    frame : (H, W)
        The frame size; required with peepholes, else the model takes any size.
    seed, dtype, forget_bias
        As for :class:`~explorer.engine.model.RecurrentModel`.
    """

    kind = "convlstm"
    num_directions = 1
    bidirectional = False

    def __init__(self, n_inputs: int = 1, n_units: int = 8, n_outputs: int = 1, kernel: int = 3,
                 num_layers: int = 1, peephole: bool = False, frame: tuple | None = None, seed: int = 0,
                 dtype=np.float64, forget_bias: float = 1.0):
        C, F, Co, k, L = (int(v) for v in (n_inputs, n_units, n_outputs, kernel, num_layers))
        if min(C, F, Co, L) < 1:
            raise ValueError("n_inputs, n_units, n_outputs and num_layers must be at least 1")
        if k < 1 or k % 2 == 0:
            raise ValueError(f"kernel must be an odd number of at least 1 ('same' padding); got {kernel}")
        if frame is not None:
            frame = tuple(int(v) for v in frame)
            if len(frame) != 2 or min(frame) < 1:
                raise ValueError(f"frame must be (H, W) of positive sizes; got {frame}")
        if peephole and frame is None:
            raise ValueError("peepholes need the frame size: frame=(H, W)")
        self.n_inputs, self.n_units, self.n_outputs, self.kernel, self.num_layers = C, F, Co, k, L
        self.peephole, self.frame = bool(peephole), frame
        self.dtype = np.dtype(dtype)
        self.seed, self.forget_bias = seed, float(forget_bias)
        self._shapes = []                      # [(name, shape)] in the flat vector's order
        for layer in range(L):
            cin = C if layer == 0 else F
            self._shapes += [(f"weight_ih_l{layer}", (4 * F, cin, k, k)), (f"weight_hh_l{layer}", (4 * F, F, k, k)),
                             (f"bias_l{layer}", (4 * F,))]
            if self.peephole:
                self._shapes += [(f"peephole_{g}_l{layer}", (F, *frame)) for g in ("i", "f", "o")]
        self._shapes += [("head.weight", (Co, F, 1, 1)), ("head.bias", (Co,))]
        self._slices, start = {}, 0
        for name, shape in self._shapes:
            self._slices[name] = slice(start, start + math.prod(shape))
            start += math.prod(shape)
        self.n_recurrent = self._slices["head.weight"].start
        self.params = np.zeros(start, self.dtype)
        self.grad = np.zeros_like(self.params)
        rng = np.random.default_rng(seed)
        for name, shape in self._shapes:
            view = self._view(self.params, name)
            if name.startswith("weight_"):
                a = 1.0 / math.sqrt(F * k * k)
                view[...] = rng.uniform(-a, a, size=shape)
            elif name == "head.weight":
                a = math.sqrt(6.0 / (F + Co))
                view[...] = rng.uniform(-a, a, size=shape)
        for layer in range(L):
            self._view(self.params, f"bias_l{layer}")[F:2 * F] = self.forget_bias

    # -- parameters -------------------------------------------------------------------------
    def _view(self, flat: np.ndarray, name: str) -> np.ndarray:
        return flat[self._slices[name]].reshape(dict(self._shapes)[name])

    @property
    def param_count(self) -> ParamCount:
        layers = tuple(sum(self._slices[n].stop - self._slices[n].start for n, _ in self._shapes
                           if n.endswith(f"_l{layer}")) for layer in range(self.num_layers))
        head = self.n_outputs * (self.n_units + 1)
        return ParamCount(sum(layers), head, sum(layers) + head, layers)

    def _named(self, flat: np.ndarray, hh) -> dict:
        d = {}
        for name, _ in self._shapes:
            v = self._view(flat, name).copy()
            if name.startswith("bias_l"):
                d["bias_ih" + name[4:]] = v
                d["bias_hh" + name[4:]] = hh(v)
            else:
                d[name] = v
        return d

    def state_keys(self) -> tuple:
        """The keys :meth:`state_dict` writes and :meth:`load_state_dict` needs."""
        return tuple(self._named(self.params, np.zeros_like))

    def describe(self) -> str:
        """One line: ``ConvLSTM with 8 channels, kernel 3×3: 2,624 layer + 9 head = 2,633 parameters``."""
        pc = self.param_count
        what = f"ConvLSTM with {self.n_units} channel{'s' * (self.n_units != 1)}, kernel {self.kernel}×{self.kernel}"
        what += ", peepholes" if self.peephole else ""
        if self.num_layers > 1:
            layers = " + ".join(f"{c:,} layer {k + 1}" for k, c in enumerate(pc.layers))
            return f"{what}, {self.num_layers} layers: {layers} + {pc.head:,} head = {pc.total:,} parameters"
        return f"{what}: {pc.layer:,} layer + {pc.head:,} head = {pc.total:,} parameters"

    def state_dict(self) -> dict:
        """Copies of every parameter under torch-style names (the module's docstring); the one
        bias per gate is ``bias_ih`` and ``bias_hh`` is zeros."""
        return self._named(self.params, np.zeros_like)

    def grads_dict(self, grad: np.ndarray | None = None) -> dict:
        """A flat gradient under the state dict's keys (both bias keys carry dL/db)."""
        return self._named(self.grad if grad is None else grad, np.copy)

    def load_state_dict(self, d: dict) -> None:
        """Load a state dict (``bias_ih`` and ``bias_hh`` are summed); a missing, unknown or
        misshaped key is refused and nothing is changed."""
        keys = self.state_keys()
        extra = sorted(set(d) - set(keys))
        if extra:
            raise ValueError(f"state dict has {extra[0]!r}, which this {self.num_layers}-layer convlstm "
                             f"model{' with peepholes' if self.peephole else ''} does not hold")
        missing = [n for n in keys if n not in d]
        if missing:
            raise KeyError(f"state dict has no {missing[0]!r}")
        def checked(key, shape):
            a = np.asarray(d[key])
            if a.shape != shape:
                raise ValueError(f"{key} has shape {a.shape}; expected {shape}")
            return a

        new = self.params.copy()
        for name, shape in self._shapes:
            if name.startswith("bias_l"):
                a = checked("bias_ih" + name[4:], shape) + checked("bias_hh" + name[4:], shape)
            else:
                a = checked(name, shape)
            self._view(new, name)[...] = a
        self.params[...] = new

    def clone(self) -> ConvLSTMModel:
        """A model of the same sizes holding a copy of these weights."""
        other = type(self)(self.n_inputs, self.n_units, self.n_outputs, self.kernel, self.num_layers,
                              self.peephole, self.frame, self.seed, self.dtype, self.forget_bias)
        other.params[...] = self.params
        return other

    def save(self, path) -> None:
        np.savez(path, **self.state_dict())

    def load(self, path) -> None:
        with np.load(path, allow_pickle=False) as z:
            self.load_state_dict({k: z[k] for k in z.files})

    def gate_names(self) -> tuple:
        return GATES + ("head",)

    def gate_slices(self) -> dict:
        """``{gate: indices into params}`` (its rows of every weight, bias and peephole), ``"head"``."""
        F = self.n_units
        out = {g: [] for g in GATES}
        for name, shape in self._shapes:
            sl = self._slices[name]
            idx = np.arange(sl.start, sl.stop).reshape(shape)
            if name.startswith("peephole_"):
                out[name[9]].append(idx.ravel())
            elif not name.startswith("head"):
                for j, g in enumerate(GATES):
                    out[g].append(idx[j * F:(j + 1) * F].ravel())
        out = {g: np.concatenate(v) for g, v in out.items()}
        out["head"] = np.arange(self.n_recurrent, self.params.size)
        return out

    def gate_sq_norms(self, grad: np.ndarray | None = None) -> dict:
        g = self.grad if grad is None else grad
        F = self.n_units
        out = dict.fromkeys(GATES, 0.0)
        for name, shape in self._shapes:
            v = self._view(g, name)
            if name.startswith("peephole_"):
                out[name[9]] += float(np.vdot(v, v))
            elif not name.startswith("head"):
                for j, gate in enumerate(GATES):
                    part = v[j * F:(j + 1) * F]
                    out[gate] += float(np.vdot(part, part))
        head = g[self.n_recurrent:]
        out["head"] = float(np.dot(head, head))
        return out

    # -- computation ------------------------------------------------------------------------
    def _prepare(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 5 or x.shape[2] != self.n_inputs:
            raise ValueError(f"x must be (batch, T, {self.n_inputs}, H, W); got {x.shape}")
        if self.frame is not None and x.shape[3:] != self.frame:
            raise ValueError(f"frames must be {self.frame[0]}×{self.frame[1]} (the model's frame); "
                             f"got {x.shape[3]}×{x.shape[4]}")
        return x

    def _weights(self, params, layer):
        """Layer ``layer``'s weights as column matrices: Wx (k·k·C_in, 4F), Wh (k·k·F, 4F), the
        summed bias (4F,) and the peepholes (H, W, F) each (or None)."""
        def cols(name):
            w = self._view(params, name)                  # (4F, C, k, k)
            return w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0])

        b = self._view(params, f"bias_l{layer}")
        peep = None
        if self.peephole:
            peep = tuple(self._view(params, f"peephole_{g}_l{layer}").transpose(1, 2, 0) for g in ("i", "f", "o"))
        return cols(f"weight_ih_l{layer}"), cols(f"weight_hh_l{layer}"), b, peep

    def _chunks(self, T, per_step):
        step = max(1, CHUNK // max(1, per_step))
        return [(t, min(T, t + step)) for t in range(0, T, step)]

    def _layer_forward(self, params, layer, xp, interrupt):
        """One layer over padded channels-last inputs ``xp`` (T, B, H + k − 1, W + k − 1, C_in).

        Returns the workspace: ``a`` the activated gates (T, B, H, W, 4F), ``c`` (T + 1, B, H,
        W, F) with c_0 = 0 first, ``tc`` tanh(c_t) (T, B, H, W, F), ``hp`` the padded outputs
        (T + 1, B, H + k − 1, W + k − 1, F) with h_0 = 0 first."""
        T, B, Hp, Wp, Cin = xp.shape
        k, F = self.kernel, self.n_units
        p, H, W = k // 2, Hp - k + 1, Wp - k + 1
        Wx, Wh, b, peep = self._weights(params, layer)
        a = np.empty((T, B, H, W, 4 * F), self.dtype)
        for t0, t1 in self._chunks(T, B * H * W * k * k * Cin):
            cols = im2col(xp[t0:t1].reshape(-1, Hp, Wp, Cin), k, H, W)
            np.matmul(cols, Wx, out=a[t0:t1].reshape(-1, 4 * F))
        a += b
        c = np.zeros((T + 1, B, H, W, F), self.dtype)
        tc = np.empty((T, B, H, W, F), self.dtype)
        hp = np.zeros((T + 1, B, Hp, Wp, F), self.dtype)
        for t in range(T):
            if interrupt is not None and t % 8 == 0 and interrupt():
                raise Interrupted("interrupted")
            z = a[t]
            z.reshape(-1, 4 * F)[...] += im2col(hp[t], k, H, W) @ Wh
            zi, zf, zg, zo = z[..., :F], z[..., F:2 * F], z[..., 2 * F:3 * F], z[..., 3 * F:]
            if peep is not None:
                zi += peep[0] * c[t]
                zf += peep[1] * c[t]
            _sigmoid(z[..., :2 * F], out=z[..., :2 * F])
            np.tanh(zg, out=zg)
            ct = c[t + 1]
            np.multiply(zf, c[t], out=ct)
            ct += zi * zg
            if peep is not None:
                zo += peep[2] * ct
            _sigmoid(zo, out=zo)
            np.tanh(ct, out=tc[t])
            np.multiply(zo, tc[t], out=hp[t + 1, :, p:p + H, p:p + W])
        return {"a": a, "c": c, "tc": tc, "hp": hp}

    def _run(self, x, params, interrupt=None):
        """Every layer over x (B, T, C, H, W): the workspaces, bottom first."""
        k = self.kernel
        p = k // 2
        B, T, C, H, W = x.shape
        xp = np.zeros((T, B, H + 2 * p, W + 2 * p, C), self.dtype)
        xp[:, :, p:p + H, p:p + W] = x.transpose(1, 0, 3, 4, 2)
        wss = []
        for layer in range(self.num_layers):
            ws = self._layer_forward(params, layer, xp, interrupt)
            ws["xp"] = xp
            wss.append(ws)
            xp = ws["hp"][1:]
        return wss

    def _top(self, ws):
        p = self.kernel // 2
        hp = ws["hp"][1:]
        H, W = hp.shape[2] - 2 * p, hp.shape[3] - 2 * p
        return hp[:, :, p:p + H, p:p + W]                   # (T, B, H, W, F) view

    def _head(self, params, h):
        """y (T, B, H, W, C_out) from the top outputs h (T, B, H, W, F)."""
        w = self._view(params, "head.weight")[:, :, 0, 0]   # (C_out, F)
        y = h @ w.T
        y += self._view(params, "head.bias")
        return y

    @staticmethod
    def _loss(loss, y, target):
        """(mean loss, dL/dy) for y and target of one shape."""
        n = y.size
        if loss == "mse":
            diff = y - target
            value = float(np.vdot(diff, diff)) / n
            diff *= 2.0 / n
            return value, diff
        if loss == "bce":
            # softplus(y) − t·y, and dL/dy = σ(y) − t
            sp = np.logaddexp(0.0, y)
            value = float(np.sum(sp - target * y)) / n
            dy = _sigmoid(y)
            dy -= target
            dy /= n
            return value, dy
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")

    def _target(self, target, x):
        target = np.asarray(target, dtype=self.dtype)
        B, T, _, H, W = x.shape
        want = (B, T, self.n_outputs, H, W)
        if target.shape != want:
            raise ValueError(f"target must be {want} (batch, T, C_out, H, W); got {target.shape}")
        return target.transpose(1, 0, 3, 4, 2)              # (T, B, H, W, C_out) view

    def forward(self, x, interrupt=None) -> ConvTrace:
        """Run over x (B, T, C, H, W) and return the :class:`ConvTrace`."""
        x = self._prepare(x)
        wss = self._run(x, self.params, interrupt)
        y = self._head(self.params, self._top(wss[-1])).transpose(1, 0, 4, 2, 3).copy()
        layers = self._trace_layers(x, wss)
        return ConvTrace({**layers[0], "y": y}, layers, 0)

    def _trace_layers(self, x, wss) -> list:
        """Every layer's trace fields (``x``, ``h0``, ``c0``, gates and states) from the workspaces."""
        F, k = self.n_units, self.kernel
        p = k // 2
        B, T, _, H, W = x.shape
        layers = []
        below = x.copy()
        for ws in wss:
            a = ws["a"]
            f = {"x": below, "h0": np.zeros((B, F, H, W), self.dtype), "c0": np.zeros((B, F, H, W), self.dtype)}
            for j, g in enumerate(GATES):
                f[g] = a[..., j * F:(j + 1) * F].transpose(0, 1, 4, 2, 3).copy()
            f["c"] = ws["c"][1:].transpose(0, 1, 4, 2, 3).copy()
            f["h"] = ws["hp"][1:, :, p:p + H, p:p + W].transpose(0, 1, 4, 2, 3).copy()
            layers.append(f)
            below = f["h"].transpose(1, 0, 2, 3, 4).copy()
        return layers

    def eval_batch_size(self, T: int, tokens: bool = False, train_batch: int | None = None,
                        rows: int | None = None) -> int:
        """Sequences evaluated at a time: the most (1 to 64) whose working memory (a training
        step's, :func:`step_bytes`, an upper bound of a forward pass) fits in what a training
        step on ``train_batch`` sequences needs, or in :data:`~explorer.engine.model.EVAL_BYTES`."""
        from .model import EVAL_BYTES

        frame = tuple(self.frame) if self.frame is not None else (1, 1)

        def need(b):
            return step_bytes(self.n_inputs, self.n_units, self.n_outputs, self.kernel, self.num_layers, b,
                              max(1, int(T)), frame, np.dtype(self.dtype).itemsize)

        limit = EVAL_BYTES if not train_batch else max(EVAL_BYTES, need(int(train_batch)))
        best = 1
        for b in range(1, max(1, min(64, int(rows) if rows else 64)) + 1):
            if need(b) > limit:
                break
            best = b
        return best

    def predict(self, x, batch_size: int = 64, interrupt=None) -> np.ndarray:
        """Outputs y (B, T, C_out, H, W) (logits for ``bce``), in batches."""
        x = self._prepare(x)
        out = np.empty(x.shape[:2] + (self.n_outputs,) + x.shape[3:], self.dtype)
        for s in range(0, x.shape[0], batch_size):
            wss = self._run(x[s:s + batch_size], self.params, interrupt)
            out[s:s + batch_size] = self._head(self.params, self._top(wss[-1])).transpose(1, 0, 4, 2, 3)
        return out

    def evaluate(self, x, target, loss="mse", batch_size: int = 64, interrupt=None) -> float:
        """Mean loss over a dataset in batches (no gradients)."""
        x = self._prepare(x)
        N = x.shape[0]
        if N == 0:
            return float("nan")
        total = 0.0
        for s in range(0, N, batch_size):
            xb = x[s:s + batch_size]
            tb = self._target(np.asarray(target)[s:s + batch_size], xb)
            y = self._head(self.params, self._top(self._run(xb, self.params, interrupt)[-1]))
            total += self._loss(loss, y, tb)[0] * xb.shape[0]
        return total / N

    def _layer_backward(self, params, grad, layer, ws, dH, want_dx, interrupt):
        """Backpropagate dL/dh_t (T, B, H, W, F) through one layer: gradients into ``grad``;
        returns (dL/d(input) (T, B, H, W, C_in) or None, ||dL/dh_t||, ||dL/dc_t||)."""
        a, c, tc, hp, xp = ws["a"], ws["c"], ws["tc"], ws["hp"], ws["xp"]
        T, B, H, W, G = a.shape
        F, k = self.n_units, self.kernel
        p = k // 2
        Wx, Wh, _, peep = self._weights(params, layer)
        dz = np.empty_like(a)
        dh_rec = np.zeros((B, H + 2 * p, W + 2 * p, F), self.dtype)
        dc = np.zeros((B, H, W, F), self.dtype)
        norm_h, norm_c = np.empty(T), np.empty(T)
        dpeep = [np.zeros((H, W, F), self.dtype) for _ in range(3)] if peep is not None else None
        for t in range(T - 1, -1, -1):
            if interrupt is not None and t % 8 == 0 and interrupt():
                raise Interrupted("interrupted")
            A = a[t]
            i, f, g, o = A[..., :F], A[..., F:2 * F], A[..., 2 * F:3 * F], A[..., 3 * F:]
            dh = dH[t] + dh_rec[:, p:p + H, p:p + W]
            norm_h[t] = math.sqrt(float(np.vdot(dh, dh)))
            d = dz[t]
            dzi, dzf, dzg, dzo = d[..., :F], d[..., F:2 * F], d[..., 2 * F:3 * F], d[..., 3 * F:]
            # every gate's derivative at once: σ' = a(1 − a), then tanh' = 1 − g² for g
            np.subtract(1.0, A, out=d)
            d *= A
            np.multiply(g, g, out=dzg)
            np.subtract(1.0, dzg, out=dzg)
            # through h = o·tanh(c): dz_o = σ'(o)·dh·tanh c, and dc gains dh·o·(1 − tanh² c)
            dzo *= dh
            dzo *= tc[t]
            back = np.multiply(tc[t], tc[t])
            np.subtract(1.0, back, out=back)
            back *= o
            back *= dh
            dc += back
            if peep is not None:
                dc += dzo * peep[2]
                dpeep[2] += np.einsum("bhwf,bhwf->hwf", dzo, c[t + 1])
            norm_c[t] = math.sqrt(float(np.vdot(dc, dc)))
            dzi *= dc
            dzi *= g
            dzf *= dc
            dzf *= c[t]
            dzg *= dc
            dzg *= i
            dc *= f                                          # dL/dc_{t−1} through the belt
            if peep is not None:
                dc += dzi * peep[0] + dzf * peep[1]
                dpeep[0] += np.einsum("bhwf,bhwf->hwf", dzi, c[t])
                dpeep[1] += np.einsum("bhwf,bhwf->hwf", dzf, c[t])
            if t > 0:
                dh_rec[...] = 0.0
                col2im_add(d.reshape(-1, G) @ Wh.T, dh_rec, k, H, W)
        dzf_all = dz.reshape(-1, G)
        db = dzf_all.sum(axis=0)
        self._view(grad, f"bias_l{layer}")[...] = db
        if peep is not None:
            for g, dp in zip(("i", "f", "o"), dpeep):
                self._view(grad, f"peephole_{g}_l{layer}")[...] = dp.transpose(2, 0, 1)
        Cin = xp.shape[-1]
        dWx = np.zeros((k * k * Cin, G), self.dtype)
        dWh = np.zeros((k * k * F, G), self.dtype)
        dxp = np.zeros(xp.shape, self.dtype) if want_dx else None
        Hp, Wp = H + 2 * p, W + 2 * p
        for t0, t1 in self._chunks(T, B * H * W * k * k * max(Cin, F)):
            dzc = dz[t0:t1].reshape(-1, G)
            dWx += im2col(xp[t0:t1].reshape(-1, Hp, Wp, Cin), k, H, W).T @ dzc
            dWh += im2col(hp[t0:t1].reshape(-1, Hp, Wp, F), k, H, W).T @ dzc
            if want_dx:
                col2im_add(dzc @ Wx.T, dxp[t0:t1].reshape(-1, Hp, Wp, Cin), k, H, W)
        self._view(grad, f"weight_ih_l{layer}")[...] = dWx.reshape(k, k, Cin, G).transpose(3, 2, 0, 1)
        self._view(grad, f"weight_hh_l{layer}")[...] = dWh.reshape(k, k, F, G).transpose(3, 2, 0, 1)
        dx = dxp[:, :, p:p + H, p:p + W] if want_dx else None
        return dx, norm_h, norm_c

    def compute_grads(self, x, target, loss="mse", want_dx=False, interrupt=None):
        """Loss and gradients into :attr:`grad`; returns ``(loss, norms, extra)`` as
        :meth:`RecurrentModel.compute_grads` does (``extra["x"]`` (B, T, C, H, W) with
        ``want_dx``)."""
        x = self._prepare(x)
        tgt = self._target(target, x)
        params, grad = self.params, self.grad
        wss = self._run(x, params, interrupt)
        h = self._top(wss[-1])
        y = self._head(params, h)
        value, dy = self._loss(loss, y, tgt)
        Co, F = self.n_outputs, self.n_units
        dyf, hf = dy.reshape(-1, Co), h.reshape(-1, F)
        self._view(grad, "head.weight")[:, :, 0, 0] = dyf.T @ hf
        self._view(grad, "head.bias")[...] = dyf.sum(axis=0)
        dH = dy @ self._view(params, "head.weight")[:, :, 0, 0]            # (T, B, H, W, F)
        norms, extra = self._backward_layers(wss, dH, want_dx, interrupt)
        return value, norms, extra

    def _backward_layers(self, wss, dH, want_dx, interrupt):
        """Backpropagate dL/dh_t of the top layer (T, B, H, W, F) through every layer into
        :attr:`grad`: ``(GradNorms, {"x": dL/dx (B, T, C, H, W)} with want_dx else {})``."""
        nh, nc = [None] * self.num_layers, [None] * self.num_layers
        for layer in range(self.num_layers - 1, -1, -1):
            need = layer > 0 or want_dx
            dH, nh[layer], nc[layer] = self._layer_backward(self.params, self.grad, layer, wss[layer], dH, need,
                                                            interrupt)
        norms = GradNorms(nh[0].copy(), nc[0].copy(), np.stack(nh), np.stack(nc))
        extra = {"x": dH.transpose(1, 0, 4, 2, 3).copy()} if want_dx else {}
        return norms, extra

    def loss_and_grads(self, x, target, loss: str = "mse", with_norms: bool = False,
                       with_input_grads: bool = False):
        """Loss and the gradient of every parameter under the state dict's keys; with
        ``with_input_grads`` also ``"x"`` (B, T, C, H, W); with ``with_norms`` a third value,
        the :class:`GradNorms` of dL/dh_t and dL/dc_t."""
        value, norms, extra = self.compute_grads(x, target, loss, want_dx=with_input_grads)
        grads = self.grads_dict()
        grads.update(extra)
        return (value, grads, norms) if with_norms else (value, grads)


__all__ = ["ConvLSTMModel", "ConvTrace", "param_count", "step_bytes", "im2col", "col2im_add", "LOSSES", "GATES"]

"""Tree-LSTMs (Tai, Socher and Manning 2015): memory that flows up a tree, evaluated level by level.

A tree (or a forest of several) is given as node inputs ``x`` (N, m) — or token ids (N,), −1 for
a node without input — in evaluation order, and ``children``: a list of N lists of node indices,
every child before its parent. Nodes of one height (leaves 0, a parent one more than its highest
child) are computed together in one matrix product; the backward pass goes down the same levels.

**Child-sum** (``treelstm``), for node j with children C(j), h̃_j = Σ_{k∈C(j)} h_k::

    i_j = σ(W_i x_j + U_i h̃_j + b_i)      o_j = σ(W_o x_j + U_o h̃_j + b_o)
    u_j = tanh(W_u x_j + U_u h̃_j + b_u)   f_jk = σ(W_f x_j + U_f h_k + b_f)   (one per child k)
    c_j = i_j ⊙ u_j + Σ_k f_jk ⊙ c_k       h_j = o_j ⊙ tanh(c_j)

**N-ary** (``nary-treelstm``, N = 2): a leaf has no children, an inner node exactly two (left
l = 1, right l = 2); every gate sees both children through its own matrices,
i_j = σ(W_i x_j + Σ_l U_i^l h_jl + b_i) (o, u alike) and f_jk = σ(W_f^k x_j + Σ_l U_f^{kl} h_jl
+ b_f^k); c_j = i_j ⊙ u_j + Σ_k f_jk ⊙ c_jk.

Then y_j = V h_j + d at every node. Leaves have h̃ = 0 and no f.

**Edges** (``Trace.f``, ``Trace.edges``) are listed parent by parent in node order, each
parent's children in the order ``children`` gives them.

**State dict** (the layout of treelstm.pytorch; each bias key is that ``nn.Linear``'s bias, and
the two biases of a gate add): ``ioux.weight`` (3n, m), ``ioux.bias`` (3n), ``iouh.weight``
(3n, n), ``iouh.bias`` (3n) with rows i, o, u; ``fx.weight`` (n, m), ``fx.bias`` (n),
``fh.weight`` (n, n), ``fh.bias`` (n); ``head.weight`` (k, n), ``head.bias`` (k). The N-ary
model keeps the same keys with the children joined: ``iouh.weight`` (3n, 2n) acts on
[h_1; h_2] (columns 0..n−1 are U^1, n..2n−1 U^2), ``fx.weight`` (2n, m) and ``fx.bias`` (2n)
hold f_1's rows then f_2's, ``fh.weight`` (2n, 2n) is [[U_f^11, U_f^12], [U_f^21, U_f^22]],
``fh.bias`` (2n).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .model import ParamCount
from .params import recurrent_param_count, register_param_formula

TREE_KINDS = ("treelstm", "nary-treelstm")


def tree_param_count(kind: str, m: int, n: int, k: int) -> int:
    """Parameters of a Tree-LSTM with its head: child-sum 4n(m + n + 2) + k(n + 1), N-ary (N = 2)
    5nm + 10n² + 10n + k(n + 1)."""
    return recurrent_param_count(kind, n, m) + k * (n + 1)


register_param_formula("treelstm", lambda n, m: 4 * n * (m + n + 2), "4n({m}+n+2)")
register_param_formula("nary-treelstm", lambda n, m: 5 * n * m + 10 * n * n + 10 * n, "5n({m}+2n+2)")


class TreeError(ValueError):
    """Children lists that do not describe a forest this model can evaluate."""


@dataclass(frozen=True)
class Level:
    """The nodes of one height (ascending), the edges whose parent is among them (in edge order),
    and ``owner``: for each of those edges, the position of its parent in ``nodes``."""

    nodes: np.ndarray
    edges: np.ndarray
    owner: np.ndarray
    starts: np.ndarray     # first edge of every node in ``edges`` (for np.add.reduceat)


class Forest:
    """The structure of ``children`` as arrays: ``parent`` (N,) (−1 at roots), the edges
    ``edge_parent``, ``edge_child`` (E,), ``height`` (N,) and the :class:`Level` s bottom up.

    Refuses (:class:`TreeError`, one sentence) an index out of range, a child at or after its
    parent, a node that is the child of two parents, and — with ``binary`` — a node with other
    than 0 or 2 children.
    """

    def __init__(self, children, n_nodes: int | None = None, binary: bool = False):
        try:
            counts = np.fromiter(map(len, children), dtype=np.int64)
        except TypeError:
            raise TreeError("children must be a list with one list of child indices per node") from None
        N = counts.size if n_nodes is None else int(n_nodes)
        if counts.size != N:
            raise TreeError(f"children has {counts.size} lists for {N} nodes; give one list per node")
        flat = np.asarray(list(itertools.chain.from_iterable(children)))
        E = int(counts.sum())
        if E and flat.dtype.kind not in "iu":
            raise TreeError("children must hold integer node indices")
        flat = flat.astype(np.int64, copy=False).reshape(E)
        edge_parent = np.repeat(np.arange(N, dtype=np.int64), counts)
        if E:
            bad = np.flatnonzero((flat < 0) | (flat >= edge_parent))
            if bad.size:
                e = int(bad[0])
                raise TreeError(f"node {int(edge_parent[e])} lists child {int(flat[e])}, which is not an "
                                "earlier node; give every child before its parent")
            seen = np.bincount(flat, minlength=N)
            if seen.max() > 1:
                raise TreeError(f"node {int(np.argmax(seen))} is the child of {int(seen.max())} parents; "
                                "a node has at most one parent")
        if binary:
            bad = np.flatnonzero((counts != 0) & (counts != 2))
            if bad.size:
                j = int(bad[0])
                raise TreeError(f"the N-ary Tree-LSTM takes binarised trees, but node {j} has {int(counts[j])} "
                                "child(ren); give every node 0 or 2 children or use the child-sum treelstm")
        self.n_nodes, self.n_edges, self.binary = N, E, binary
        self.counts = counts
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        self.edge_parent, self.edge_child = edge_parent, flat
        self.parent = np.full(N, -1, np.int64)
        self.parent[flat] = edge_parent
        self.height = self._heights()
        self.levels = self._levels()

    def _heights(self) -> np.ndarray:
        """Heights by a breadth-first sweep up from the leaves (no recursion, O(N) array work)."""
        remaining = self.counts.copy()
        height = np.zeros(self.n_nodes, np.int64)
        frontier = np.flatnonzero(remaining == 0)
        level = 0
        while frontier.size:
            height[frontier] = level
            up = self.parent[frontier]
            up, times = np.unique(up[up >= 0], return_counts=True)
            remaining[up] -= times
            frontier = up[remaining[up] == 0]
            level += 1
        return height

    def _levels(self) -> list[Level]:
        order = np.argsort(self.height, kind="stable")
        bounds = np.searchsorted(self.height[order], np.arange(self.height.max(initial=-1) + 2))
        levels = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            nodes = order[a:b]
            cnt = self.counts[nodes]
            starts = np.concatenate([[0], np.cumsum(cnt)[:-1]])
            edges = np.repeat(self.offsets[nodes] - starts, cnt) + np.arange(int(cnt.sum()))
            owner = np.repeat(np.arange(nodes.size), cnt)
            levels.append(Level(nodes, edges, owner, starts))
        return levels

    @property
    def edges(self) -> np.ndarray:
        """(E, 2): (parent, child) of every edge, in edge order."""
        return np.stack([self.edge_parent, self.edge_child], axis=1)

    @property
    def roots(self) -> np.ndarray:
        return np.flatnonzero(self.parent < 0)


def join_forest(trees) -> tuple[np.ndarray, list]:
    """Several trees ``[(x, children), …]`` as one forest ``(x, children)``: the nodes of each
    tree after the previous tree's, its child indices shifted by as much."""
    xs, children, offset = [], [], 0
    for x, ch in trees:
        xs.append(np.asarray(x))
        children.extend([[c + offset for c in kids] for kids in ch])
        offset += len(ch)
    return np.concatenate(xs, axis=0), children


class TreeTrace:
    """One forward pass, read-only: ``x`` as given, ``h``, ``c``, ``i``, ``o``, ``u`` (N, n),
    ``h_children`` (N, n) the child sum h̃ (child-sum) or (N, 2n) [h_1; h_2] (N-ary), ``f``
    (E, n) one forget gate per edge in edge order, ``edges`` (E, 2) (parent, child), ``y``
    (N, k), ``children`` as given, ``forest`` the :class:`Forest`."""

    def __init__(self, kind: str, forest: Forest, children, fields: dict):
        self.kind = kind
        self.forest = forest
        self.children = children
        self.fields = tuple(fields)
        for name, arr in fields.items():
            arr.setflags(write=False)
            setattr(self, name, arr)
        self.edges = forest.edges

    @property
    def n_nodes(self) -> int:
        return self.forest.n_nodes

    def node(self, j: int) -> dict:
        """The record of node ``j``: x, i, o, u, c, h, y, and ``children``, ``c_children``,
        ``f`` (one row per child, in children order)."""
        fo = self.forest
        e = np.arange(fo.offsets[j], fo.offsets[j + 1])
        kids = fo.edge_child[e]
        return {"x": self.x[j], "i": self.i[j], "o": self.o[j], "u": self.u[j], "c": self.c[j],
                "h": self.h[j], "y": self.y[j], "children": kids, "f": self.f[e],
                "c_children": self.c[kids], "h_children": self.h[kids]}


def _sigmoid(z):
    """σ(z) in place, stable for large |z|."""
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1.0
    np.reciprocal(z, out=z)
    return z


class TreeLSTMModel:
    """A Tree-LSTM of ``n_units`` over ``n_inputs`` with a linear head of ``n_outputs`` at every
    node. ``kind`` is ``"treelstm"`` (child-sum) or ``"nary-treelstm"`` (N = 2).

    Parameters live in one flat vector :attr:`params`, the state dict's arrays in key order
    (each row-major). Weights start as ``torch.nn.Linear``'s do, U(−1/√fan_in, 1/√fan_in), from
    a generator seeded with ``seed``.
    """

    def __init__(self, kind: str = "treelstm", n_inputs: int = 1, n_units: int = 8, n_outputs: int = 1,
                 seed: int = 0, dtype=np.float64):
        if kind not in TREE_KINDS:
            raise ValueError(f"unknown tree cell {kind!r}; choose one of {', '.join(TREE_KINDS)}")
        m, n, k = int(n_inputs), int(n_units), int(n_outputs)
        if min(m, n, k) < 1:
            raise ValueError("n_inputs, n_units and n_outputs must be at least 1")
        self.kind, self.binary = kind, kind == "nary-treelstm"
        self.n_inputs, self.n_units, self.n_outputs = m, n, k
        self.num_layers, self.num_directions, self.bidirectional = 1, 1, False
        self.seed, self.dtype = seed, np.dtype(dtype)
        a = 2 if self.binary else 1                       # children seen by one matrix
        self.layout = (("ioux.weight", (3 * n, m)), ("ioux.bias", (3 * n,)),
                       ("iouh.weight", (3 * n, a * n)), ("iouh.bias", (3 * n,)),
                       ("fx.weight", (a * n, m)), ("fx.bias", (a * n,)),
                       ("fh.weight", (a * n, a * n)), ("fh.bias", (a * n,)),
                       ("head.weight", (k, n)), ("head.bias", (k,)))
        size = sum(int(np.prod(s)) for _, s in self.layout)
        self.params = np.zeros(size, self.dtype)
        self.grad = np.zeros_like(self.params)
        rng = np.random.default_rng(seed)
        fan_in = {"ioux": m, "iouh": a * n, "fx": m, "fh": a * n, "head": n}
        for name, view in self._views(self.params).items():
            bound = 1.0 / np.sqrt(fan_in[name.split(".")[0]])
            view[...] = rng.uniform(-bound, bound, size=view.shape)

    def _views(self, flat) -> dict:
        out, start = {}, 0
        for name, shape in self.layout:
            size = int(np.prod(shape))
            out[name] = flat[start:start + size].reshape(shape)
            start += size
        return out

    # -- sizes and state --------------------------------------------------------------------
    @property
    def param_count(self) -> ParamCount:
        """:class:`~explorer.engine.model.ParamCount`; the total is :func:`tree_param_count`."""
        k, n = self.n_outputs, self.n_units
        head = k * (n + 1)
        total = self.params.size
        return ParamCount(total - head, head, total, (total - head,))

    def state_dict(self) -> dict:
        """Copies under the keys of the module docstring."""
        return {name: v.copy() for name, v in self._views(self.params).items()}

    def grads_dict(self, grad: np.ndarray | None = None) -> dict:
        """A flat gradient under the state dict's keys."""
        return {name: v.copy() for name, v in self._views(self.grad if grad is None else grad).items()}

    def load_state_dict(self, d: dict) -> None:
        """Load arrays under the state dict's keys (torch tensors converted by the caller); a
        missing, extra or misshapen key is refused and nothing is changed."""
        want = dict(self.layout)
        extra = sorted(set(d) - set(want))
        if extra:
            raise ValueError(f"state dict has {extra[0]!r}, which this {self.kind} model does not hold")
        new = self.params.copy()
        views = self._views(new)
        for name, shape in self.layout:
            if name not in d:
                raise KeyError(f"state dict has no {name!r}")
            arr = np.asarray(d[name], dtype=self.dtype)
            if arr.shape != shape:
                raise ValueError(f"{name!r} has shape {arr.shape}; this model expects {shape}")
            views[name][...] = arr
        self.params[...] = new

    def clone(self) -> TreeLSTMModel:
        other = TreeLSTMModel(self.kind, self.n_inputs, self.n_units, self.n_outputs, self.seed, self.dtype)
        other.params[...] = self.params
        return other

    def estimate_bytes(self, n_nodes: int, n_edges: int | None = None) -> int:
        """Bytes one training step on a forest of ``n_nodes`` allocates (workspace, gradients
        of the states, the input products), parameters not included."""
        N = int(n_nodes)
        E = N if n_edges is None else int(n_edges)
        n, k, m = self.n_units, self.n_outputs, self.n_inputs
        a = 2 if self.binary else 1
        per_node = 3 * n * 3 + (a + 6) * n + 2 * a * n + 3 * k + m
        return int((N * per_node + E * 4 * n) * self.dtype.itemsize)

    # -- computation ------------------------------------------------------------------------
    def forest(self, children, n_nodes: int | None = None) -> Forest:
        """The checked :class:`Forest` of ``children`` for this kind."""
        return children if isinstance(children, Forest) else Forest(children, n_nodes, self.binary)

    def _prepare(self, x, children):
        x = np.asarray(x)
        m = self.n_inputs
        if x.dtype.kind in "iu":
            if x.ndim != 1:
                raise ValueError(f"token ids must be (N,); got {x.shape}")
            if x.size and (x.min() < -1 or x.max() >= m):
                raise ValueError(f"token ids must lie in 0..{m - 1} (the vocabulary), or −1 for no input")
            x = x.astype(np.intp, copy=False)
        else:
            x = np.asarray(x, dtype=self.dtype)
            if x.ndim != 2 or x.shape[1] != m:
                raise ValueError(f"x must be (N, {m}) or token ids (N,); got {x.shape}")
        if children is None:
            raise ValueError("a Tree-LSTM needs children=: one list of child indices per node")
        return x, self.forest(children, x.shape[0])

    def _input_part(self, x, W, b):
        """W x + b for every node (N, rows): a product, or a gather of W's columns for ids."""
        if x.ndim == 2:
            out = x @ W.T
        else:
            out = np.zeros((x.shape[0], W.shape[0]), self.dtype)
            ok = x >= 0
            out[ok] = W.T[x[ok]]
        out += b
        return out

    def _run(self, x, fo: Forest, params):
        """Forward over every level: a dict of (N, ·) and (E, n) arrays."""
        P = self._views(params)
        n, N, E = self.n_units, fo.n_nodes, fo.n_edges
        a = 2 if self.binary else 1
        xiou = self._input_part(x, P["ioux.weight"], P["ioux.bias"] + P["iouh.bias"])
        xf = self._input_part(x, P["fx.weight"], P["fx.bias"] + P["fh.bias"])
        Uiou, Uf = P["iouh.weight"], P["fh.weight"]
        gates = np.empty((N, 3 * n), self.dtype)               # i, o, u after activation
        c = np.empty((N, n), self.dtype)
        tc = np.empty((N, n), self.dtype)
        h = np.empty((N, n), self.dtype)
        hin = np.zeros((N, a * n), self.dtype)                 # h̃ (child-sum) or [h_1; h_2]
        f = np.empty((E, n), self.dtype)
        for lev in fo.levels:
            S, e = lev.nodes, lev.edges
            z = xiou[S]
            if e.size:
                ch = fo.edge_child[e]
                hc = h[ch]                                     # (e, n) the children's h
                if self.binary:
                    hs = hc.reshape(S.size, 2 * n)             # [h_1; h_2] per node
                    zf = xf[S] + hs @ Uf.T                     # (s, 2n): f_1, f_2
                    fe = _sigmoid(zf).reshape(-1, n)
                else:
                    hs = np.add.reduceat(hc, lev.starts, axis=0)   # h̃ = Σ_k h_k
                    zf = xf[fo.edge_parent[e]] + hc @ Uf.T      # one f per child
                    fe = _sigmoid(zf)
                hin[S] = hs
                z += hs @ Uiou.T
                f[e] = fe
            _sigmoid(z[:, :2 * n])                             # i, o
            np.tanh(z[:, 2 * n:], out=z[:, 2 * n:])            # u
            cs = z[:, :n] * z[:, 2 * n:]                       # i ⊙ u
            if e.size:
                cs += np.add.reduceat(fe * c[ch], lev.starts, axis=0)   # + Σ_k f_k ⊙ c_k
            gates[S] = z
            c[S] = cs
            tc[S] = np.tanh(cs)
            h[S] = z[:, n:2 * n] * tc[S]                       # h = o ⊙ tanh c
        y = h @ P["head.weight"].T + P["head.bias"]
        return {"gates": gates, "c": c, "tc": tc, "h": h, "hin": hin, "f": f, "y": y}

    def forward(self, x, children=None) -> TreeTrace:
        """Run over a forest: x (N, m) or ids (N,), ``children`` one list per node; a
        :class:`TreeTrace`."""
        x, fo = self._prepare(x, children)
        run = self._run(x, fo, self.params)
        n = self.n_units
        g = run["gates"]
        fields = {"x": x.copy(), "i": g[:, :n].copy(), "o": g[:, n:2 * n].copy(), "u": g[:, 2 * n:].copy(),
                  "c": run["c"], "h": run["h"], "h_children": run["hin"], "f": run["f"], "y": run["y"]}
        return TreeTrace(self.kind, fo, children, fields)

    def predict(self, x, children=None) -> np.ndarray:
        """y (N, k) without a trace."""
        x, fo = self._prepare(x, children)
        return self._run(x, fo, self.params)["y"]

    def evaluate(self, x, target, loss: str = "mse", children=None) -> float:
        """The loss over the labelled nodes, without gradients."""
        x, fo = self._prepare(x, children)
        y = self._run(x, fo, self.params)["y"]
        return node_loss(loss, y, target, self.n_outputs)[0]

    def compute_grads(self, x, target, loss: str = "mse", children=None, want_dx: bool = False):
        """Loss and gradients into :attr:`grad` (flat, laid out like :attr:`params`); returns
        ``(loss, dx or None, dh (N, n), dc (N, n))`` — dh, dc the total gradients of every
        node's states."""
        x, fo = self._prepare(x, children)
        params = self.params
        run = self._run(x, fo, params)
        value, dy = node_loss(loss, run["y"], target, self.n_outputs)
        P, G = self._views(params), self._views(self.grad)
        n, N = self.n_units, fo.n_nodes
        a = 2 if self.binary else 1
        gates, c, tc, h, f = run["gates"], run["c"], run["tc"], run["h"], run["f"]
        Uiou, Uf = P["iouh.weight"], P["fh.weight"]
        dh = dy @ P["head.weight"]                                  # dL/dh from the head
        dc = np.zeros((N, n), self.dtype)
        dz = np.empty((N, 3 * n), self.dtype)                       # dL/d pre-activations of i, o, u
        dzf_node = np.zeros((N, a * n), self.dtype)                 # dL/d(W_f x + b_f) per node
        dzf = np.empty((fo.n_edges, n), self.dtype)                 # dL/d pre-activation of every f
        for lev in reversed(fo.levels):
            S, e = lev.nodes, lev.edges
            g = gates[S]
            i, o, u, t = g[:, :n], g[:, n:2 * n], g[:, 2 * n:], tc[S]
            dhS = dh[S]
            dcS = dc[S] + dhS * o * (1.0 - t * t)                   # through h = o ⊙ tanh c
            dzS = np.empty_like(g)
            dzS[:, :n] = dcS * u * i * (1.0 - i)                    # i: σ'
            dzS[:, n:2 * n] = dhS * t * o * (1.0 - o)               # o: σ'
            dzS[:, 2 * n:] = dcS * i * (1.0 - u * u)                # u: tanh'
            dz[S] = dzS
            if not e.size:
                continue
            ch = fo.edge_child[e]
            fe = f[e]
            dcP = dcS[lev.owner]                                    # the parent's dL/dc on each edge
            dc[ch] = dcP * fe                                       # through f_k ⊙ c_k
            dze = dcP * c[ch] * fe * (1.0 - fe)                     # f: σ'
            dzf[e] = dze
            dhin = dzS @ Uiou                                       # (s, a·n)
            if self.binary:
                dzn = dze.reshape(S.size, 2 * n)
                dzf_node[S] = dzn
                dhin += dzn @ Uf
                dh[ch] += dhin.reshape(-1, n)
            else:
                dh[ch] += dhin[lev.owner] + dze @ Uf
        if not self.binary and fo.n_edges:
            has = fo.counts > 0
            dzf_node[has] = np.add.reduceat(dzf, fo.offsets[:-1][has], axis=0)
        self._input_grad(x, dz, G["ioux.weight"])
        G["ioux.bias"][...] = G["iouh.bias"][...] = dz.sum(axis=0)
        G["iouh.weight"][...] = dz.T @ run["hin"]
        self._input_grad(x, dzf_node, G["fx.weight"])
        G["fx.bias"][...] = G["fh.bias"][...] = dzf_node.sum(axis=0)
        if self.binary:
            G["fh.weight"][...] = dzf_node.T @ run["hin"]
        else:
            G["fh.weight"][...] = dzf.T @ h[fo.edge_child]
        G["head.weight"][...] = dy.T @ h
        G["head.bias"][...] = dy.sum(axis=0)
        dx = None
        if want_dx and x.ndim == 2:
            dx = dz @ P["ioux.weight"] + dzf_node @ P["fx.weight"]
        dc_total = dc + dh * gates[:, n:2 * n] * (1.0 - tc * tc)
        return value, dx, dh, dc_total

    def _input_grad(self, x, dz, out):
        """dL/dW of an input product W x: dzᵀ x, or a scatter into W's columns for ids."""
        if x.ndim == 2:
            np.matmul(dz.T, x, out=out)
        else:
            out[...] = 0.0
            ok = x >= 0
            np.add.at(out.T, x[ok], dz[ok])

    def loss_and_grads(self, x, target, loss: str = "mse", children=None, with_input_grads: bool = False):
        """Loss and gradients of every parameter: ``(loss, grads)``, ``grads`` under the state
        dict's keys; with ``with_input_grads`` also ``"x"`` (N, m; float inputs only)."""
        value, dx, _, _ = self.compute_grads(x, target, loss, children, want_dx=with_input_grads)
        grads = self.grads_dict()
        if dx is not None:
            grads["x"] = dx
        return value, grads


def make_tree_model(kind: str, n_inputs: int, n_units: int, n_outputs: int, num_layers: int = 1,
                    bidirectional: bool = False, seed: int = 0, dtype=np.float64) -> TreeLSTMModel:
    """:func:`~explorer.engine.model.make_model` for the tree kinds (one layer, one direction)."""
    if int(num_layers) != 1 or bidirectional:
        raise ValueError(f"{kind} has one layer and one direction; drop num_layers / bidirectional")
    return TreeLSTMModel(kind, n_inputs, n_units, n_outputs, seed=seed, dtype=dtype)


def node_loss(loss: str, y: np.ndarray, target, k: int):
    """``(loss, dL/dy)`` over the labelled nodes, as torch's ``mse_loss`` / ``cross_entropy`` on
    those nodes alone: ``mse`` takes (N, k) values ((N,) when k = 1), NaN where there is no label
    (the mean is over the labelled entries); ``cross_entropy`` (N,) class ids, −1 where there is
    no label (whole floats with NaN are read the same way)."""
    target = np.asarray(target)
    N = y.shape[0]
    if loss == "mse":
        t = np.asarray(target, dtype=y.dtype)
        if t.shape == (N,) and k == 1:
            t = t[:, None]
        if t.shape != (N, k):
            raise ValueError(f"mse target must be (N, k) = ({N}, {k}); got {t.shape}")
        mask = ~np.isnan(t)
        count = int(mask.sum())
        if count == 0:
            raise ValueError("no node has a label (every target is NaN)")
        diff = np.where(mask, y - np.where(mask, t, 0.0), 0.0)
        return float((diff * diff).sum() / count), diff * (2.0 / count)
    if loss == "cross_entropy":
        if target.dtype.kind == "f":                        # whole numbers as floats, NaN for no label
            whole = np.isnan(target) | (target == np.round(target))
            if not whole.all():
                raise ValueError("cross_entropy targets must be whole class ids (−1 or NaN for no label)")
            target = np.where(np.isnan(target), -1, target)
        if target.shape != (N,) or (target.size and target.dtype.kind not in "iuf"):
            raise ValueError(f"cross_entropy target must be (N,) = ({N},) integer class ids; got {target.shape}")
        cls = target.astype(np.intp)
        if cls.size and (cls.min() < -1 or cls.max() >= k):
            raise ValueError(f"class targets must lie in 0..{k - 1}, or −1 for no label")
        rows = np.flatnonzero(cls >= 0)
        if rows.size == 0:
            raise ValueError("no node has a label (every class id is −1)")
        z = y[rows] - y[rows].max(axis=1, keepdims=True)
        p = np.exp(z)
        total = p.sum(axis=1, keepdims=True)
        picked = cls[rows]
        value = float(-(z[np.arange(rows.size), picked] - np.log(total[:, 0])).sum() / rows.size)
        p /= total
        p[np.arange(rows.size), picked] -= 1.0
        dy = np.zeros_like(y)
        dy[rows] = p / rows.size
        return value, dy
    raise ValueError(f"unknown loss {loss!r}; choose mse or cross_entropy")


__all__ = ["TREE_KINDS", "Forest", "Level", "TreeError", "TreeLSTMModel", "TreeTrace", "join_forest",
           "make_tree_model", "node_loss", "tree_param_count"]

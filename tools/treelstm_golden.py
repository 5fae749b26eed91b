"""The torch reference of the Tree-LSTMs, node by node, and the golden file made from it.

``python tools/treelstm_golden.py`` writes ``tests/data/treelstm_golden.npz``: for every case
(both kinds; single node, chains, combs, balanced trees, random forests, token ids; node and root
labels; mse and cross entropy) the inputs, the weights, and torch's trace, loss and every
gradient in float64. ``tests/test_engine_treelstm.py`` checks the engine against it without torch
and against this reference directly when torch is installed.

The child-sum module is treelstm.pytorch's ``ChildSumTreeLSTM`` (``ioux``, ``iouh``, ``fx``,
``fh``; a leaf gets one zero child, as there), evaluated one node at a time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "data" / "treelstm_golden.npz"


def random_forest(rng, n_nodes: int, binary: bool, max_children: int = 4) -> list:
    """Children lists of a random forest: each new node adopts some of the current roots."""
    children, roots = [], []
    for j in range(n_nodes):
        if binary:
            r = 2 if len(roots) >= 2 and rng.random() < 0.6 else 0
        else:
            r = int(rng.integers(0, min(max_children, len(roots)) + 1))
        picked = sorted(rng.choice(len(roots), size=r, replace=False).tolist(), reverse=True) if r else []
        kids = [roots.pop(p) for p in picked]
        rng.shuffle(kids)
        children.append([int(k) for k in kids])
        roots.append(j)
    return children


def chain(n: int) -> list:
    return [[]] + [[j - 1] for j in range(1, n)]


def comb(leaves: int) -> list:
    """A left-deep binary tree: leaf 0, then (leaf, previous inner node) pairs."""
    children, last = [[]], 0
    for _ in range(leaves - 1):
        children.append([])
        children.append([last, len(children) - 1])
        last = len(children) - 1
    return children


def balanced(depth: int) -> list:
    """A full binary tree of 2^depth leaves, level by level."""
    children, layer = [], []
    for _ in range(2 ** depth):
        layer.append(len(children))
        children.append([])
    while len(layer) > 1:
        nxt = []
        for a, b in zip(layer[::2], layer[1::2]):
            nxt.append(len(children))
            children.append([a, b])
        layer = nxt
    return children


def interleaved(trees: list) -> list:
    """Several trees with their nodes interleaved (a forest not stored tree by tree)."""
    order = []
    pos = [0] * len(trees)
    while any(p < len(t) for p, t in zip(pos, trees)):
        for t, tree in enumerate(trees):
            if pos[t] < len(tree):
                order.append((t, pos[t]))
                pos[t] += 1
    index = {key: j for j, key in enumerate(order)}
    return [[index[(t, c)] for c in trees[t][p]] for t, p in order]


def cases() -> list:
    """(name, kind, children, inputs "floats"|"ids", loss, labels "nodes"|"root"|"some")."""
    rng = np.random.default_rng(23)
    out = [
        ("single_cs", "treelstm", [[]], "floats", "mse", "nodes"),
        ("single_nary", "nary-treelstm", [[]], "floats", "cross_entropy", "nodes"),
        ("chain_cs", "treelstm", chain(7), "floats", "mse", "nodes"),
        ("wide_cs", "treelstm", [[], [], [], [], [], [0, 1, 2, 3, 4]], "floats", "cross_entropy", "nodes"),
        ("comb_cs", "treelstm", comb(5), "floats", "cross_entropy", "root"),
        ("comb_nary", "nary-treelstm", comb(6), "floats", "mse", "nodes"),
        ("balanced_cs", "treelstm", balanced(3), "floats", "mse", "some"),
        ("balanced_nary", "nary-treelstm", balanced(3), "floats", "cross_entropy", "nodes"),
        ("forest_cs", "treelstm", random_forest(rng, 40, False), "floats", "cross_entropy", "some"),
        ("forest_nary", "nary-treelstm", random_forest(rng, 41, True), "floats", "mse", "some"),
        ("interleaved_cs", "treelstm", interleaved([chain(4), balanced(2), [[]]]), "floats", "mse", "root"),
        ("interleaved_nary", "nary-treelstm", interleaved([comb(3), balanced(2)]), "floats",
         "cross_entropy", "root"),
        ("ids_cs", "treelstm", random_forest(rng, 30, False), "ids", "cross_entropy", "nodes"),
        ("ids_nary", "nary-treelstm", balanced(3), "ids", "mse", "nodes"),
    ]
    return out


M, N_UNITS, K = 5, 4, 3


def make_case(seed: int, kind: str, children: list, inputs: str, loss: str, labels: str) -> dict:
    """Inputs, targets and weights of one case (NumPy, from ``seed``)."""
    rng = np.random.default_rng(seed)
    N = len(children)
    if inputs == "ids":
        has_kids = np.array([len(c) > 0 for c in children])
        x = rng.integers(0, M, size=N)
        x[has_kids] = -1                               # inner nodes without a word
    else:
        x = rng.standard_normal((N, M))
    counts = np.array([len(c) for c in children], np.int64)
    parent = np.full(N, -1)
    for j, kids in enumerate(children):
        parent[kids] = j
    labelled = np.ones(N, bool)
    if labels == "root":
        labelled = parent < 0
    elif labels == "some":
        labelled = rng.random(N) < 0.6
        labelled[0] = True
    if loss == "mse":
        target = rng.standard_normal((N, K))
        target[~labelled] = np.nan
    else:
        target = rng.integers(0, K, size=N)
        target[~labelled] = -1
    a = 2 if kind == "nary-treelstm" else 1
    shapes = {"ioux.weight": (3 * N_UNITS, M), "ioux.bias": (3 * N_UNITS,),
              "iouh.weight": (3 * N_UNITS, a * N_UNITS), "iouh.bias": (3 * N_UNITS,),
              "fx.weight": (a * N_UNITS, M), "fx.bias": (a * N_UNITS,),
              "fh.weight": (a * N_UNITS, a * N_UNITS), "fh.bias": (a * N_UNITS,),
              "head.weight": (K, N_UNITS), "head.bias": (K,)}
    sd = {k: rng.uniform(-0.8, 0.8, size=s) for k, s in shapes.items()}
    flat = np.array([c for kids in children for c in kids], np.int64)
    return {"x": x, "target": target, "counts": counts, "flat": flat, "state": sd}


def children_of(counts, flat) -> list:
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return [flat[offsets[j]:offsets[j + 1]].tolist() for j in range(len(counts))]


def reference(kind: str, state: dict, x, children, target, loss: str) -> dict:
    """torch, one node at a time: h, c, i, o, u (N, n), f (E, n) in edge order, y, loss and the
    gradient of every parameter (and of x for float inputs)."""
    import torch
    import torch.nn.functional as F

    binary = kind == "nary-treelstm"
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in state.items()}
    n = p["fh.weight"].shape[1] // (2 if binary else 1)
    m = p["ioux.weight"].shape[1]
    ids = np.asarray(x).dtype.kind in "iu"
    if ids:
        xt = torch.zeros((len(children), m), dtype=torch.float64)
        for j, t in enumerate(np.asarray(x)):
            if t >= 0:
                xt[j, int(t)] = 1.0
    else:
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)

    def lin(name, v):
        return F.linear(v, p[name + ".weight"], p[name + ".bias"])

    hs, cs, gates, fs = [None] * len(children), [None] * len(children), [], []
    for j, kids in enumerate(children):
        inputs = xt[j:j + 1]
        if binary:
            if kids:
                hcat = torch.cat([hs[kids[0]], hs[kids[1]]], dim=1)
                ccat = [cs[kids[0]], cs[kids[1]]]
            else:
                hcat = torch.zeros(1, 2 * n, dtype=torch.float64)
                ccat = [torch.zeros(1, n, dtype=torch.float64)] * 2
            iou = lin("ioux", inputs) + lin("iouh", hcat)
            i, o, u = torch.split(iou, n, dim=1)
            i, o, u = torch.sigmoid(i), torch.sigmoid(o), torch.tanh(u)
            f = torch.sigmoid(lin("fx", inputs) + lin("fh", hcat))
            f1, f2 = torch.split(f, n, dim=1)
            c = i * u + f1 * ccat[0] + f2 * ccat[1]
            if kids:
                fs += [f1, f2]
        else:                                          # treelstm.pytorch's node_forward
            if kids:
                child_c = torch.cat([cs[k] for k in kids], dim=0)
                child_h = torch.cat([hs[k] for k in kids], dim=0)
            else:
                child_c = torch.zeros(1, n, dtype=torch.float64)
                child_h = torch.zeros(1, n, dtype=torch.float64)
            child_h_sum = torch.sum(child_h, dim=0, keepdim=True)
            iou = lin("ioux", inputs) + lin("iouh", child_h_sum)
            i, o, u = torch.split(iou, iou.size(1) // 3, dim=1)
            i, o, u = torch.sigmoid(i), torch.sigmoid(o), torch.tanh(u)
            f = torch.sigmoid(lin("fh", child_h) + lin("fx", inputs).repeat(len(child_h), 1))
            fc = torch.mul(f, child_c)
            c = torch.mul(i, u) + torch.sum(fc, dim=0, keepdim=True)
            if kids:
                fs.append(f)
        h = o * torch.tanh(c)
        hs[j], cs[j] = h, c
        gates.append((i, o, u))
    H, C = torch.cat(hs), torch.cat(cs)
    y = lin("head", H)
    if loss == "mse":
        t = torch.tensor(target, dtype=torch.float64)
        mask = ~torch.isnan(t)
        value = F.mse_loss(y[mask], t[mask])
    else:
        t = torch.tensor(target, dtype=torch.long)
        rows = t >= 0
        value = F.cross_entropy(y[rows], t[rows])
    value.backward()
    out = {"h": H, "c": C, "y": y, "i": torch.cat([g[0] for g in gates]),
           "o": torch.cat([g[1] for g in gates]), "u": torch.cat([g[2] for g in gates]),
           "f": torch.cat(fs) if fs else torch.zeros(0, n, dtype=torch.float64)}
    out = {k: v.detach().numpy().copy() for k, v in out.items()}
    out["loss"] = np.array(value.item())
    for k, v in p.items():
        out["grad/" + k] = v.grad.numpy().copy()
    if not ids:
        out["grad/x"] = xt.grad.numpy().copy()
    return out


def main() -> int:
    arrays = {}
    for seed, (name, kind, children, inputs, loss, labels) in enumerate(cases()):
        case = make_case(seed, kind, children, inputs, loss, labels)
        ref = reference(kind, case["state"], case["x"], children, case["target"], loss)
        arrays[f"{name}/kind"] = np.array(kind)
        arrays[f"{name}/loss_name"] = np.array(loss)
        for k in ("x", "target", "counts", "flat"):
            arrays[f"{name}/{k}"] = case[k]
        for k, v in case["state"].items():
            arrays[f"{name}/state/{k}"] = v
        for k, v in ref.items():
            arrays[f"{name}/ref/{k}"] = v
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(GOLDEN, **arrays)
    print(f"wrote {GOLDEN} ({len(cases())} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

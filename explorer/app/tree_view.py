"""What the tree diagram shows, without Qt: where every node sits, and the selected node's numbers
as text (the equations with one f term per child) and as CSV rows.

A :class:`TreeShow` holds one tree's trace with its words, labels and predictions; the figures
module paints it and the window steps through it in evaluation order (children before parents).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from explorer.engine.treelstm import TreeTrace


def tree_layout(children: list) -> tuple[np.ndarray, np.ndarray]:
    """``(x, depth)`` per node: leaves at 0, 1, 2, … left to right (trees of a forest side by
    side), a parent centred over its first and last child; roots at depth 0. Iterative."""
    N = len(children)
    parent = np.full(N, -1)
    for j, kids in enumerate(children):
        parent[kids] = j
    depth = np.zeros(N, np.int64)
    for j in range(N - 1, -1, -1):                   # parents come after their children
        if parent[j] >= 0:
            depth[j] = depth[parent[j]] + 1
    x = np.zeros(N)
    leaf = 0
    stack = [(int(r), False) for r in np.flatnonzero(parent < 0)[::-1]]
    while stack:
        j, seen = stack.pop()
        kids = children[j]
        if not kids:
            x[j] = leaf
            leaf += 1
        elif seen:
            x[j] = (x[kids[0]] + x[kids[-1]]) / 2
        else:
            stack.append((j, True))
            stack.extend((int(k), False) for k in reversed(kids))
    return x, depth


def _num(v: float) -> str:
    return f"{v:+.3f}"


@dataclass
class TreeShow:
    """One tree as the window and the exports show it: its trace, node ``words`` (str or None),
    true ``labels`` and ``predictions`` as text ('' for none), and the layout."""

    trace: TreeTrace
    words: list
    labels: list
    predictions: list
    title: str = ""

    def __post_init__(self):
        self.x, self.depth = tree_layout(self.trace.children)

    @property
    def n_nodes(self) -> int:
        return self.trace.n_nodes

    def c_scale(self) -> float:
        """The largest |c| of the tree (edge widths are relative to it); 1 when all are 0."""
        m = float(np.abs(self.trace.c).max(initial=0.0))
        return m if m > 0 and math.isfinite(m) else 1.0

    def child_edges(self, j: int) -> np.ndarray:
        """The edge indices of node ``j``'s children (rows of ``trace.f``), in children order."""
        fo = self.trace.forest
        return np.arange(fo.offsets[j], fo.offsets[j + 1])

    def equations(self, j: int, unit: int) -> list[str]:
        """The selected node's equations for ``unit`` with its numbers, one f term per child."""
        tr, u = self.trace, int(unit)
        rec = tr.node(j)
        kids = rec["children"].tolist()
        word = self.words[j]
        head = f"Node {j}" + (f" '{word}'" if word else "") + (f", children {kids}" if kids else ", a leaf") \
            + f", unit {u}"
        rows = [head]
        if tr.kind == "treelstm":
            rows.append(f"h~ = sum of the children's h = {_num(tr.h_children[j, u])}")
            pre = "W x + U h~ + b"
        else:
            pre = "W x + U1 h1 + U2 h2 + b"
        rows.append(f"i = sigmoid({pre}) = {_num(rec['i'][u])}")
        rows.append(f"o = sigmoid({pre}) = {_num(rec['o'][u])}")
        rows.append(f"u = tanh({pre}) = {_num(rec['u'][u])}")
        terms = [f"{_num(rec['i'][u])}*{_num(rec['u'][u])}"]
        for e, k in enumerate(kids):
            f, ck = rec["f"][e, u], rec["c_children"][e, u]
            rows.append(f"f{e + 1} (child {k}) = {_num(f)};  f{e + 1}*c{e + 1} = {_num(f)}*{_num(ck)} = {_num(f * ck)}")
            terms.append(f"{_num(f * ck)}")
        rows.append(f"c = i*u" + "".join(f" + f{e + 1}*c{e + 1}" for e in range(len(kids)))
                    + f" = {' + '.join(terms)} = {_num(rec['c'][u])}")
        rows.append(f"h = o*tanh(c) = {_num(rec['o'][u])}*{_num(math.tanh(rec['c'][u]))} = {_num(rec['h'][u])}")
        pred, lab = self.predictions[j], self.labels[j]
        rows.append(f"prediction {pred or '-'}, label {lab or '-'}")
        return rows

    def csv_rows(self) -> tuple[list, list]:
        """``(header, rows)``: every node's quantities (parent, word, label, prediction, then i, o,
        u, c, h per unit, and each child edge's f per unit in the columns f1_*, f2_*, …)."""
        tr = self.trace
        n = tr.h.shape[1]
        width = int(tr.forest.counts.max(initial=0))
        header = ["node", "parent", "word", "label", "prediction"]
        for name in ("i", "o", "u", "c", "h"):
            header += [f"{name}_{k}" for k in range(n)]
        for e in range(width):
            header += [f"f{e + 1}_{k}" for k in range(n)]
        rows = []
        for j in range(self.n_nodes):
            row = [j, int(tr.forest.parent[j]), self.words[j] or "", self.labels[j], self.predictions[j]]
            for name in ("i", "o", "u", "c", "h"):
                row += [f"{v:.6g}" for v in getattr(tr, name)[j]]
            edges = self.child_edges(j)
            for e in range(width):
                row += [f"{v:.6g}" for v in tr.f[edges[e]]] if e < edges.size else [""] * n
            rows.append(row)
        return header, rows


def show_tree(model, data, tree, title: str = "") -> TreeShow:
    """A :class:`TreeShow` of ``tree`` (a :class:`~explorer.data.trees.ParsedTree`) under ``model``
    with ``data`` (a :class:`~explorer.app.tree_train.TreeData`: vocabulary and label scale)."""
    x, children, _, _ = data.forest([tree])
    trace = model.forward(x, children=children)
    values = data.bank.label_kind == "values"
    if values:
        preds = [f"{v:.2f}" for v in trace.y[:, 0] * data.scale + data.shift]
    else:
        classes = trace.y.argmax(axis=1)
        preds = [str(int(c)) for c in classes]
    labels = ["" if math.isnan(v) else f"{v:g}" for v in tree.labels]
    return TreeShow(trace, list(tree.words), labels, preds, title)


__all__ = ["TreeShow", "show_tree", "tree_layout"]

"""Trees for the Tree-LSTMs: bracketed trees one per line, and two examples made in code.

The form is the Penn Treebank's and the Stanford Sentiment Treebank's::

    (3 (2 It) (4 (2 's) (4 (3 great) (2 .))))      a label at every node, words at the leaves
    (S (NP the cat) (VP sat))                       tags instead of labels: labels from a file

A node is ``(HEAD CONTENT…)``. A HEAD that reads as a number is the node's **label**; any other
HEAD is its **tag**. CONTENT is nodes, or words: a node whose content is one word is a leaf with
that word; several words (or words beside nodes) each become a leaf of their own. A node's input
token is its word (leaves) or its tag (inner nodes of tagged trees; ``(+ 3 (* 2 4))`` gives the
operators to the inner nodes), or none (inner nodes of SST trees). Nodes are numbered in
evaluation order, children before parents, left to right (post-order), as the engine takes them.

Unlabelled trees take labels from a label file: one line per tree, either one number (the root's
label) or one per node in evaluation order (``-`` for a node without a label).

The parser is a loop over tokens with an explicit stack (no recursion); every problem — brackets
that do not balance, a node with nothing in it, depth over :data:`MAX_DEPTH`, more than
:data:`MAX_TREE_NODES` nodes in a tree or :data:`MAX_NODES` in a file, a label that is not a
finite number — is refused in one sentence naming the file and line
(:class:`~explorer.data.errors.SequenceFileError`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import SequenceFileError, check_budget, safe_name
from .loading import MAX_ABS_VALUE, TextCorpus, _decode, _path_and_name, _read_bytes

#: The deepest tree read (root at depth 1); deeper input is refused.
MAX_DEPTH = 1_000
#: The most nodes one tree may have.
MAX_TREE_NODES = 100_000
#: The most nodes one file may hold (all trees).
MAX_NODES = 500_000
#: Bytes per node while a file is parsed (the word, its list entries, the label, the children).
NODE_BYTES = 400

_TOKEN = re.compile(r"\(|\)|[^\s()]+")


@dataclass
class ParsedTree:
    """One tree: per node (evaluation order) its ``words`` token (str or None), ``children``
    (lists of node indices) and ``labels`` (float, NaN where none); ``line`` in its file."""

    words: list
    children: list
    labels: np.ndarray
    line: int = 0

    @property
    def n_nodes(self) -> int:
        return len(self.children)

    @property
    def root(self) -> int:
        return len(self.children) - 1

    def leaves(self) -> list:
        """The leaves' indices, left to right."""
        return [j for j, kids in enumerate(self.children) if not kids]

    def to_brackets(self, labels: bool = True) -> str:
        """The tree in bracketed form: labels as heads (``labels``) or tags/words only (an inner
        node's word becomes its head); iterative."""
        text: list[str | None] = [None] * self.n_nodes
        for j, kids in enumerate(self.children):
            lab = self.labels[j]
            head = _number(lab) if labels and not math.isnan(lab) else (self.words[j] if kids else None)
            if not kids:
                word = self.words[j] or "_"
                text[j] = f"({head} {word})" if head is not None and labels else word
            else:
                inner = " ".join(text[k] for k in kids)
                text[j] = f"({head} {inner})" if head is not None else f"({inner})"
        return text[-1]


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _label(tok: str):
    """The number ``tok`` reads as, or None (a tag)."""
    try:
        v = float(tok)
    except ValueError:
        return None
    return v


def parse_tree(line: str, lineno: int = 1, name: str = "the text") -> ParsedTree:
    """One bracketed tree (see the module docstring); :class:`SequenceFileError` for bad input."""
    where = f"Line {lineno} of {name}"
    words: list = []
    labels: list = []
    children: list = []
    stack: list = []            # open nodes: [label or None, tag or None, [(child, is a word)], head seen]
    done = None
    for m in _TOKEN.finditer(line):
        tok = m.group()
        if done is not None and tok != ")":
            raise SequenceFileError(f"{where} has more after its tree closes (column {m.start() + 1}); "
                                    "give one tree per line.")
        if tok == "(":
            if len(stack) >= MAX_DEPTH:
                raise SequenceFileError(f"{where} nests deeper than {MAX_DEPTH:,} brackets; "
                                        "use shallower trees.")
            stack.append([None, None, [], False])
            continue
        if tok == ")":
            if not stack:
                raise SequenceFileError(f"{where} closes a bracket that was never opened (column {m.start() + 1}); "
                                        "balance the brackets.")
            label, tag, kids, _ = stack.pop()
            if not kids:
                raise SequenceFileError(f"{where} has an empty node (column {m.start() + 1}): every node needs "
                                        "a word or children; remove it or give it a word.")
            if len(kids) == 1 and kids[0][1]:                       # (HEAD word): the word's leaf
                node = kids[0][0]
                labels[node] = math.nan if label is None else label
            else:
                words.append(tag)
                children.append([j for j, _ in kids])
                labels.append(math.nan if label is None else label)
                node = len(children) - 1
            if len(children) > MAX_TREE_NODES:
                raise SequenceFileError(f"{where} has more than {MAX_TREE_NODES:,} nodes; split it into smaller trees.")
            if stack:
                stack[-1][2].append((node, False))
            else:
                done = node
            continue
        if not stack:
            raise SequenceFileError(f"{where} has text outside the brackets (column {m.start() + 1}); "
                                    "write every tree as (LABEL …).")
        top = stack[-1]
        if not top[3] and not top[2]:                               # the node's head
            top[3] = True
            value = _label(tok)
            if value is None:
                top[1] = tok
            elif not math.isfinite(value) or abs(value) > MAX_ABS_VALUE:
                raise SequenceFileError(f"{where} has the label {tok[:20]!r}, which is not a finite number of at "
                                        f"most {MAX_ABS_VALUE:g} in size; use such labels.")
            else:
                top[0] = value
            continue
        if len(children) >= MAX_TREE_NODES:
            raise SequenceFileError(f"{where} has more than {MAX_TREE_NODES:,} nodes; split it into smaller trees.")
        words.append(tok)                                           # a word: a leaf of its own
        children.append([])
        labels.append(math.nan)
        top[2].append((len(children) - 1, True))
    if stack:
        raise SequenceFileError(f"{where} leaves {len(stack)} bracket(s) open; balance the brackets.")
    if done is None:
        raise SequenceFileError(f"{where} holds no tree; write it as (LABEL …).")
    return ParsedTree(words, children, np.asarray(labels, dtype=np.float64), lineno)


def parse_trees(text: str, name: str = "the text") -> list[ParsedTree]:
    """Every tree of ``text``, one per non-blank line (``#`` lines are comments)."""
    trees, total = [], 0
    for lineno, line in enumerate(text.split("\n"), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        tree = parse_tree(s, lineno, name)
        total += tree.n_nodes
        if total > MAX_NODES:
            raise SequenceFileError(f"{name} holds more than {MAX_NODES:,} nodes (by line {lineno}); "
                                    "use fewer trees.")
        trees.append(tree)
    if not trees:
        raise SequenceFileError(f"{name} holds no trees; write one bracketed tree per line.")
    return trees


def read_label_file(path, trees: list[ParsedTree]) -> None:
    """Set ``trees``' labels from a label file (one line per tree: the root's label, or one per
    node in evaluation order, ``-`` for none)."""
    p, name = _path_and_name(path)
    text = _decode(_read_bytes(p, name), name)
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if len(lines) != len(trees):
        raise SequenceFileError(f"The label file {name} has {len(lines)} lines for {len(trees)} trees; "
                                "give one line per tree.")
    for k, (ln, tree) in enumerate(zip(lines, trees), 1):
        fields = ln.split()
        if len(fields) not in (1, tree.n_nodes):
            raise SequenceFileError(f"Line {k} of {name} has {len(fields)} labels for a tree of {tree.n_nodes} "
                                    "nodes; give the root's label or one per node.")
        values = []
        for f in fields:
            v = math.nan if f == "-" else _label(f)
            if v is None or math.isinf(v) or abs(v) > MAX_ABS_VALUE:
                raise SequenceFileError(f"Line {k} of {name} has {f[:20]!r}, which is not a finite number of at "
                                        f"most {MAX_ABS_VALUE:g} in size or -; fix the label.")
            values.append(v)
        if len(values) == 1:
            tree.labels[:] = math.nan
            tree.labels[tree.root] = values[0]
        else:
            tree.labels[:] = values


@dataclass
class TreeBank:
    """Trees with a vocabulary over their node tokens and labels of one kind.

    ``label_kind`` is ``"classes"`` (ids 0..n_classes−1) or ``"values"`` (numbers); ``vocab``
    a :class:`~explorer.data.loading.TextCorpus` over the tokens (its ``vocab`` and ``index``).
    """

    trees: list
    label_kind: str
    vocab: TextCorpus
    n_classes: int | None = None
    path: str = ""
    classes: list = field(default_factory=list)

    @property
    def n_nodes(self) -> int:
        return sum(t.n_nodes for t in self.trees)

    def token_ids(self, tree: ParsedTree) -> np.ndarray:
        """(N,) ids of the tree's node tokens, −1 where a node has none (or an unknown word)."""
        index = self.vocab.index
        return np.fromiter((index.get(w, -1) if w is not None else -1 for w in tree.words), np.int64,
                           count=tree.n_nodes)

    def target(self, tree: ParsedTree, label_at: str = "nodes") -> np.ndarray:
        """Targets in the engine's form: (N,) class ids (−1 none) or (N, 1) values (NaN none);
        ``label_at="root"`` keeps the root's label alone."""
        lab = tree.labels.copy()
        if label_at == "root":
            lab[:-1] = math.nan
        if self.label_kind == "values":
            return lab[:, None]
        out = np.full(tree.n_nodes, -1, np.int64)
        ok = ~np.isnan(lab)
        out[ok] = lab[ok].astype(np.int64)
        return out


def make_bank(trees: list[ParsedTree], label_kind: str = "auto", path: str = "", name: str = "the trees") -> TreeBank:
    """A :class:`TreeBank`: the vocabulary of every node token, labels as classes when they are
    whole numbers 0..31 (``label_kind="auto"``) else values."""
    labels = np.concatenate([t.labels for t in trees])
    known = labels[~np.isnan(labels)]
    if known.size == 0:
        raise SequenceFileError(f"{name} has no labels; give trees with numbers as heads, or a label file.")
    if label_kind == "auto":
        whole = np.all(known == np.round(known)) and known.min() >= 0 and known.max() < 32
        label_kind = "classes" if whole else "values"
    if label_kind not in ("classes", "values"):
        raise SequenceFileError(f'Tree labels must be "classes" or "values", not {label_kind!r}.')
    n_classes = None
    if label_kind == "classes":
        if not (np.all(known == np.round(known)) and known.min() >= 0):
            raise SequenceFileError(f"{name} has labels that are not class numbers 0, 1, 2, …; "
                                    "read them as values.")
        n_classes = int(known.max()) + 1
    tokens = sorted({w for t in trees for w in t.words if w is not None})
    if not tokens:
        raise SequenceFileError(f"{name} has no words; give the leaves words.")
    vocab = TextCorpus(vocab=tokens, ids=np.zeros(0, np.int64), path=path, level="word")
    return TreeBank(trees, label_kind, vocab, n_classes, path)


def load_trees(path, labels=None, label_kind: str = "auto") -> TreeBank:
    """Read a tree file (one bracketed tree per line) as a :class:`TreeBank`.

    ``labels``: a label file (see :func:`read_label_file`); without one, ``NAME.labels`` beside
    the file is read when the trees carry no numeric labels.
    """
    p, name = _path_and_name(path)
    data = _read_bytes(p, name)
    check_budget(len(data) * NODE_BYTES / 2, f"Reading {name} as trees ({len(data) / 2**20:.1f} MB)",
                 "use fewer trees")
    text = _decode(data, name)
    trees = parse_trees(text, name)
    if labels is None and all(np.isnan(t.labels).all() for t in trees):
        beside = p.with_suffix(".labels")
        if beside.is_file():
            labels = beside
        else:
            raise SequenceFileError(f"{name} has no labels; put numbers as heads, or give a label file "
                                    f"({safe_name(beside)} beside it).")
    if labels is not None:
        read_label_file(labels, trees)
    return make_bank(trees, label_kind, str(p), name)


# --------------------------------------------------------------------------- examples

_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
_PREC = {"+": 1, "-": 1, "*": 2}


def expression_tree(tokens: list[str]) -> ParsedTree:
    """The tree of an infix expression of digits and + − * (the usual precedence, left to right),
    the value of every subexpression as its node's label; operators are the inner nodes' words."""
    out: list = []                     # (node index) of finished operands
    ops: list = []
    words, children, labels = [], [], []

    def reduce():
        op = ops.pop()
        b, a = out.pop(), out.pop()
        words.append(op)
        children.append([a, b])
        labels.append(_OPS[op](labels[a], labels[b]))
        out.append(len(children) - 1)

    for tok in tokens:
        if tok in _OPS:
            while ops and _PREC[ops[-1]] >= _PREC[tok]:
                reduce()
            ops.append(tok)
        else:
            words.append(tok)
            children.append([])
            labels.append(float(tok))
            out.append(len(children) - 1)
    while ops:
        reduce()
    # renumber into evaluation order (post-order from the root), iteratively
    root = out[-1]
    order, stack = [], [(root, False)]
    while stack:
        j, seen = stack.pop()
        if seen or not children[j]:
            order.append(j)
            continue
        stack.append((j, True))
        for k in reversed(children[j]):
            stack.append((k, False))
    new = {j: i for i, j in enumerate(order)}
    return ParsedTree([words[j] for j in order], [[new[k] for k in children[j]] for j in order],
                      np.array([labels[j] for j in order], dtype=np.float64))


def arithmetic_trees(n: int = 2000, seed: int = 0, max_ops: int = 4, limit: float = 30.0) -> list[ParsedTree]:
    """``n`` random expressions of 1..``max_ops`` operators over digits 0–9 whose every
    subexpression lies within ±``limit``; the value of each node is its label."""
    rng = np.random.default_rng(seed)
    trees = []
    while len(trees) < n:
        k = int(rng.integers(1, max_ops + 1))
        toks = [str(int(rng.integers(0, 10)))]
        for _ in range(k):
            toks += [str(rng.choice(["+", "-", "*"])), str(int(rng.integers(0, 10)))]
        tree = expression_tree(toks)
        if np.abs(tree.labels).max() <= limit:
            trees.append(tree)
    return trees


def in_order(tree: ParsedTree) -> list[str]:
    """The node tokens of a tree left to right (the first child, the node's own token, the other
    children): the words of a sentence, the flat infix string of an expression."""
    out, stack = [], [(tree.root, False)]
    while stack:
        j, seen = stack.pop()
        kids = tree.children[j]
        if not kids or seen:
            if tree.words[j] is not None:
                out.append(tree.words[j])
            if seen:
                for k in reversed(kids[1:]):
                    stack.append((k, False))
            continue
        stack.append((j, True))
        stack.append((kids[0], False))
    return out


_POS = ("good", "great", "fun", "clever", "moving")
_NEG = ("bad", "dull", "awful", "boring", "clumsy")
_NOUNS = ("film", "plot", "cast", "ending", "script")


def sentiment_trees(n: int = 1500, seed: int = 0) -> list[ParsedTree]:
    """A made-up binarised sentiment treebank in SST form (0 negative, 1 neutral, 2 positive at
    every node): ``the NOUN is [not] [very] ADJ``, where "not" flips the sentiment of the phrase
    under it ("not (very good)" is negative) and "but" takes the sentiment of its second clause."""
    rng = np.random.default_rng(seed)
    lines = []

    def adjp():
        pos = rng.random() < 0.5
        word = str(rng.choice(_POS if pos else _NEG))
        s = 2 if pos else 0
        text = f"({s} {word})"
        if rng.random() < 0.4:
            text = f"({s} (1 very) {text})"
        negations = int(rng.integers(1, 3)) if rng.random() < 0.5 else 0
        for _ in range(negations):
            s = 2 - s
            text = f"({s} (1 not) {text})"
        return s, text

    def clause():
        s, a = adjp()
        noun = str(rng.choice(_NOUNS))
        return s, f"({s} (1 (1 the) (1 {noun})) ({s} (1 is) {a}))"

    for _ in range(n):
        s, text = clause()
        if rng.random() < 0.25:
            s2, second = clause()
            text, s = f"({s2} {text} ({s2} (1 but) {second}))", s2
        lines.append(text)
    return parse_trees("\n".join(lines), "the sentiment example")


TREE_EXAMPLES = {
    "arithmetic": "Arithmetic expressions as trees (+ 3 (* 2 4)): the value of every subexpression at every node.",
    "sentiment-trees": "A small made-up sentiment treebank (SST form) where \"not\" flips the subtree under it.",
}


def tree_example(name: str, n: int | None = None, seed: int = 0) -> TreeBank:
    """A built-in tree example as a :class:`TreeBank`."""
    if name == "arithmetic":
        trees = arithmetic_trees(2000 if n is None else n, seed)
        return make_bank(trees, "values", "arithmetic", "the arithmetic example")
    if name == "sentiment-trees":
        trees = sentiment_trees(1500 if n is None else n, seed)
        return make_bank(trees, "classes", "sentiment-trees", "the sentiment example")
    raise SequenceFileError(f"There is no tree example called {name!r}; choose one of {', '.join(TREE_EXAMPLES)}.")


def write_trees(path, trees: list[ParsedTree], labels: bool = True) -> None:
    """Write ``trees`` one per line (``labels=False``: tags and words only, with the labels of
    every node in ``NAME.labels`` beside)."""
    path = Path(path)
    path.write_text("\n".join(t.to_brackets(labels) for t in trees) + "\n", encoding="utf-8")
    if not labels:
        rows = [" ".join("-" if math.isnan(v) else _number(v) for v in t.labels) for t in trees]
        path.with_suffix(".labels").write_text("\n".join(rows) + "\n", encoding="utf-8")


__all__ = ["MAX_DEPTH", "MAX_NODES", "MAX_TREE_NODES", "TREE_EXAMPLES", "ParsedTree", "TreeBank",
           "arithmetic_trees", "expression_tree", "in_order", "load_trees", "make_bank", "parse_tree", "parse_trees",
           "read_label_file", "sentiment_trees", "tree_example", "write_trees"]

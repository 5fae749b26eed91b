"""Bracketed trees: the PTB/SST form, label files, every hostile input refused in one sentence, and
the two tree examples made in code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from explorer.data import SequenceFileError
from explorer.data.errors import DataMemoryError
from explorer.data.examples import list_tree_examples, load_example, load_tree_example
from explorer.data.trees import (MAX_DEPTH, MAX_NODES, MAX_TREE_NODES, arithmetic_trees, expression_tree,
                                 in_order, load_trees, make_bank, parse_tree, parse_trees, sentiment_trees,
                                 write_trees)
from explorer.engine.model import make_model

SST = "(3 (2 It) (4 (2 's) (4 (3 great) (2 .))))"


def _one_sentence(msg: str) -> bool:
    return "\n" not in msg and msg.endswith(".") and ". " not in msg[:-1]


def test_sst_tree_in_evaluation_order():
    t = parse_tree(SST)
    assert t.words == ["It", "'s", "great", ".", None, None, None]
    assert t.children == [[], [], [], [], [2, 3], [1, 4], [0, 5]]
    assert t.labels.tolist() == [2, 2, 3, 2, 4, 4, 3]
    assert t.to_brackets() == SST
    assert in_order(t) == ["It", "'s", "great", "."]


def test_tagged_tree_words_beside_nodes():
    t = parse_tree("(S (NP the cat) (VP sat (PP on it)))")
    assert t.words == ["the", "cat", "NP", "sat", "on", "it", "PP", "VP", "S"]
    assert t.children == [[], [], [0, 1], [], [], [], [4, 5], [3, 6], [2, 7]]
    assert np.isnan(t.labels).all()
    assert t.to_brackets(labels=False) == "(S (NP the cat) (VP sat (PP on it)))"


def test_arithmetic_expression_tree_values():
    t = expression_tree("3 + 2 * 4 - 1".split())
    assert t.to_brackets(labels=False) == "(- (+ 3 (* 2 4)) 1)"
    assert t.labels.tolist() == [3, 2, 4, 8, 11, 1, 10]
    trees = arithmetic_trees(300, seed=5)
    for tree in trees:
        assert eval("".join(in_order(tree))) == tree.labels[-1]      # precedence as Python's
        for j, kids in enumerate(tree.children):
            if kids:
                a, b = tree.labels[kids[0]], tree.labels[kids[1]]
                assert tree.labels[j] == {"+": a + b, "-": a - b, "*": a * b}[tree.words[j]]
    assert max(np.abs(t.labels).max() for t in trees) <= 30


def test_sentiment_negation_flips_the_subtree():
    trees = sentiment_trees(400, seed=2)
    flips = 0
    for tree in trees:
        for j, kids in enumerate(tree.children):
            if len(kids) == 2 and tree.words[kids[0]] == "not":
                assert tree.labels[j] == 2 - tree.labels[kids[1]]
                flips += 1
            assert len(kids) in (0, 2)                                  # binarised: N-ary reads them
    assert flips > 100
    text = " ".join(in_order(trees[0]))
    assert text.startswith("the ")
    neg = [t for t in trees if "not" in in_order(t) and "very" in in_order(t) and "good" in in_order(t)
           and "but" not in in_order(t) and in_order(t).count("not") == 1]
    assert neg and all(t.labels[-1] == 0 for t in neg)                  # "not (very good)" is negative


def test_label_file_beside_root_and_every_node(tmp_path):
    trees = arithmetic_trees(5, seed=1)
    path = tmp_path / "expr.trees"
    write_trees(path, trees, labels=False)
    assert path.read_text().splitlines()[0].startswith("(")
    bank = load_trees(path)
    assert bank.label_kind == "values"
    for got, want in zip(bank.trees, trees):
        assert got.children == want.children and got.words == want.words
        np.testing.assert_array_equal(got.labels, want.labels)
    roots = tmp_path / "roots.txt"
    roots.write_text("\n".join(f"{int(t.labels[-1]) % 2}" for t in trees) + "\n")
    bank = load_trees(path, labels=roots)
    assert bank.label_kind == "classes" and bank.n_classes == 2
    t0 = bank.trees[0]
    assert np.isnan(t0.labels[:-1]).all() and t0.labels[-1] == trees[0].labels[-1] % 2
    assert bank.target(t0).tolist()[:-1] == [-1] * (t0.n_nodes - 1)


def test_unlabelled_without_label_file_refused(tmp_path):
    path = tmp_path / "syntax.txt"
    path.write_text("(S (NP the cat) (VP sat))\n")
    with pytest.raises(SequenceFileError) as err:
        load_trees(path)
    assert "syntax.txt has no labels" in str(err.value) and "syntax.labels" in str(err.value)
    bad = tmp_path / "bad.labels"
    bad.write_text("1 2\n")
    with pytest.raises(SequenceFileError, match="has 2 labels for a tree of 5 nodes"):
        load_trees(path, labels=bad)


HOSTILE = [
    ("(3 (2 It) (4 good)))", "closes a bracket that was never opened"),
    ("(3 (2 It) (4 good)", "leaves 1 bracket(s) open"),
    ("(3 (2 It) ())", "has an empty node"),
    ("(3 (2 It) (4))", "has an empty node"),
    ("(3 (2 It)) (2 x)", "has more after its tree closes"),
    ("It (3 (2 It))", "has text outside the brackets"),
    ("(inf (2 It))", "not a finite number"),
    ("(nan (2 It))", "not a finite number"),
    ("(" * (MAX_DEPTH + 1) + "1 a" + ")" * (MAX_DEPTH + 1), f"nests deeper than {MAX_DEPTH:,}"),
    ("(1 " + "a " * (MAX_TREE_NODES + 5) + ")", f"more than {MAX_TREE_NODES:,} nodes"),
]


@pytest.mark.parametrize("line, words", HOSTILE, ids=[w for _, w in HOSTILE])
def test_hostile_tree_refused_in_one_sentence(tmp_path, line, words):
    path = tmp_path / "hostile.trees"
    path.write_text(SST + "\n" + line + "\n")
    with pytest.raises(SequenceFileError) as err:
        load_trees(path)
    msg = str(err.value)
    assert words in msg and "Line 2 of hostile.trees" in msg and _one_sentence(msg), msg


def test_a_million_nodes_refused(tmp_path):
    """10⁶ nodes over many lines: refused by the file's node limit, one sentence."""
    path = tmp_path / "many.trees"
    line = "(1 " + "(1 a) " * 9_999 + ")\n"                    # 10,000 nodes a line
    path.write_text(line * 100)
    with pytest.raises(SequenceFileError) as err:
        load_trees(path)
    msg = str(err.value)
    assert f"more than {MAX_NODES:,} nodes" in msg and _one_sentence(msg)


def test_memory_budget_refuses_before_parsing(tmp_path, monkeypatch):
    path = tmp_path / "t.trees"
    path.write_text((SST + "\n") * 50)
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "10K")
    with pytest.raises(DataMemoryError) as err:
        load_trees(path)
    assert "Reading t.trees as trees" in str(err.value)


@pytest.mark.parametrize("content, words", [("", "is empty"), ("\x00\x01", "NUL bytes"),
                                            ("# only a comment\n", "holds no trees")])
def test_empty_and_binary_files(tmp_path, content, words):
    path = tmp_path / "x.trees"
    path.write_text(content)
    with pytest.raises(SequenceFileError, match=words):
        load_trees(path)


def test_tree_at_the_depth_limit_runs_without_recursion():
    line = "".join(f"(1 (0 w{k}) " for k in range(MAX_DEPTH - 1)) + "(1 end)" + ")" * (MAX_DEPTH - 1)
    tree = parse_tree(line)
    assert tree.n_nodes == 2 * MAX_DEPTH - 1
    assert tree.to_brackets() == line.replace(") (", ")(").replace(")(", ") (")
    bank = make_bank([tree])
    model = make_model("nary-treelstm", bank.vocab.vocab_size, 4, 2)
    value, _ = model.loss_and_grads(bank.token_ids(tree), bank.target(tree), "cross_entropy",
                                    children=tree.children)
    assert math.isfinite(value)


def test_targets_root_or_nodes():
    bank = make_bank(parse_trees(SST + "\n(1 (0 a) (1 b))"))
    assert bank.label_kind == "classes" and bank.n_classes == 5
    t = bank.trees[0]
    assert bank.target(t, "nodes").tolist() == [2, 2, 3, 2, 4, 4, 3]
    assert bank.target(t, "root").tolist() == [-1] * 6 + [3]
    assert bank.token_ids(t).tolist()[4:] == [-1, -1, -1]
    values = make_bank([expression_tree(["2", "*", "3"])], "values")
    assert values.target(values.trees[0]).ravel().tolist() == [2, 3, 6]


def test_examples_registered():
    names = [n for n, _ in list_tree_examples()]
    assert names == ["arithmetic", "sentiment-trees"]
    bank = load_tree_example("sentiment-trees", n=50)
    assert len(bank.trees) == 50 and bank.n_classes == 3 and "not" in bank.vocab.vocab
    with pytest.raises(SequenceFileError, match="made of trees"):
        load_example("arithmetic")

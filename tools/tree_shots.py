"""README pictures of the tree window: a 30-leaf sentence under an N-ary Tree-LSTM trained on the
made-up sentiment treebank, the window at 1600×1000 and 1024×700.

    QT_QPA_PLATFORM=offscreen python tools/tree_shots.py [OUT_DIR]      (default docs/)
"""

from __future__ import annotations

import sys
from pathlib import Path

import explorer.gui  # noqa: F401  (PySide6 before pyqtgraph)
from PySide6.QtWidgets import QApplication

from explorer.app.tree_train import TreeData, TreeRun, TreeSettings
from explorer.data.trees import make_bank, parse_tree, sentiment_trees
from explorer.gui.tree_window import TreeWindow


def _clause(noun: str, adj: str, s: int, mods: list) -> tuple[int, str]:
    """``the NOUN is [mods] ADJ`` in SST form; "not" flips the sentiment of what follows."""
    text = f"({s} {adj})"
    for m in reversed(mods):
        if m == "not":
            s = 2 - s
        text = f"({s} (1 {m}) {text})"
    return s, f"({s} (1 (1 the) (1 {noun})) ({s} (1 is) {text}))"


def long_sentence() -> str:
    """30 leaves: five clauses joined by "but" (each "X but Y" takes Y's sentiment)."""
    parts = [_clause("plot", "good", 2, ["not", "very"]), _clause("cast", "clever", 2, ["very"]),
             _clause("ending", "dull", 0, ["not", "not"]), _clause("script", "boring", 0, ["not"]),
             _clause("film", "fun", 2, [])]
    s, text = parts[-1]
    for _, clause in reversed(parts[:-1]):
        text = f"({s} {clause} ({s} (1 but) {text}))"
    return text


def main(out: Path) -> int:
    app = QApplication.instance() or QApplication([])
    bank = make_bank(sentiment_trees(1500, 0), "classes")
    run = TreeRun(TreeData.split(bank, 0.1), TreeSettings(cell="nary-treelstm", units=16, epochs=6))
    run.train()
    tree = parse_tree(long_sentence())
    assert len(tree.leaves()) == 30, len(tree.leaves())
    run.data.val.insert(0, tree)
    out.mkdir(parents=True, exist_ok=True)
    for w, h, name in ((1600, 1000, "tree-window.png"), (1024, 700, "tree-window-small.png")):
        win = TreeWindow(run, "sentiment-trees")
        win.resize(w, h)
        win.show()
        win.set_node(tree.n_nodes - 3)
        app.processEvents()
        win.fit()
        app.processEvents()
        win.grab().save(str(out / name))
        win.close()
    print(f"wrote {out}/tree-window.png, tree-window-small.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "docs"))

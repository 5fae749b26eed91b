"""The window's own command-line options (``lstm-explorer [FILE] [--example NAME] …`` without a
sub-command): one parser for the window (:mod:`explorer.gui.app`) and for ``lstm-explorer
--help`` (:mod:`explorer.cli`), Qt-free so the headless command never loads the window."""

from __future__ import annotations

import argparse

TREE_CELLS = ("treelstm", "nary-treelstm")


def window_parser(parser_class=argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The window's own options (``lstm-explorer [FILE] [--example NAME] …`` without a sub-command):
    one list for the window's parser and for ``lstm-explorer --help``."""
    from explorer.engine.describe import KINDS

    p = parser_class(prog="lstm-explorer", description="Open the LSTM Explorer window.")
    p.add_argument("file", nargs="?", metavar="FILE", help="a sequence or text file to open")
    p.add_argument("--example", metavar="NAME", help="open this built-in example instead of the default "
                   "(lstm-explorer examples lists them)")
    p.add_argument("--cell", choices=KINDS + TREE_CELLS, default=None,
                   help="the cell the window builds and draws: " + ", ".join(KINDS) + " (default lstm); "
                   "treelstm or nary-treelstm open the tree window on FILE's trees or --example")
    p.add_argument("--trees", metavar="RUN|TREES|EXAMPLE",
                   help="open the tree window on a tree run folder, a tree file or a tree example")
    p.add_argument("--model", metavar="MODEL", help="start from the weights in MODEL (.safetensors, .keras, "
                   ".weights.h5 or a run's model.npz) on FILE's data")
    p.add_argument("--compare", metavar="CELLS",
                   help="open the comparison view training these cells side by side, e.g. rnn,gru,lstm "
                   "(two to four of " + ", ".join(KINDS) + "), on FILE or the example (default adding)")
    p.add_argument("--lesson", metavar="FILE",
                   help="open the lesson FILE (JSON: views with captions) in presenter mode at its first view")
    p.add_argument("--quit-after-paint", action="store_true",
                   help="open the window, quit once it has painted (a start-up check)")
    return p

"""The ``lstm-explorer`` command: the window by default, sub-commands for headless runs."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from explorer.gui.app import main as gui_main

    return gui_main(argv)

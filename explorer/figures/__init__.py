"""Figures for files: every plot as PNG, SVG and CSV, drawn offscreen with Qt and pyqtgraph.

The window shows the same plot widgets live; the command line exports them without importing
the window package (``explorer.gui``).
"""

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import PySide6  # noqa: E402,F401  (PySide6 before pyqtgraph)

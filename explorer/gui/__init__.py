"""The Qt side of LSTM Explorer. Importing it imports PySide6 (before pyqtgraph)."""

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

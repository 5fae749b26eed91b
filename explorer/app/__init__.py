"""The app layer: what the window shows and does, without Qt.

Layering (enforced by ``tests/test_layering.py``)::

    explorer.engine, explorer.data   pure NumPy: never import PySide6 or pyqtgraph
    explorer.app                     the session, tasks, checkpoints: no Qt either
    explorer.figures                 plots for files (Qt offscreen, no window)
    explorer.gui                     the window: views subscribe to the session's events

The :class:`~explorer.app.session.Session` holds the run, the selected position and the trace
and emits psygnal events; views connect ``_on_session_<event>`` slots and keep no copy of the
position.
"""

from .checkpoint import CheckpointPolicy
from .session import Position, Session

__all__ = ["CheckpointPolicy", "Position", "Session"]

"""Names shown as written: a column, file or tensor name such as ``<img src=…>`` or ``<b>x</b>`` is
text, never Qt rich-text markup (which would restyle the window, hang on a path or read a local file).

QLabel and tooltips guess "rich text" from the first tag they see; :func:`plain_label` and
:func:`plain_tooltip` leave nothing to guess. pyqtgraph's titles, legends and axis labels are HTML:
:func:`explorer.figures.panel.plain_html` escapes for them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtWidgets import QLabel

from explorer.figures.panel import plain_html

__all__ = ["plain_html", "plain_label", "plain_tooltip"]


def plain_label(text: str = "", parent=None) -> QLabel:
    """A QLabel that always shows its text as written."""
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


def plain_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` as written (tooltips take rich text: this one is escaped)."""
    return GuiQt.convertFromPlainText(str(text), Qt.WhiteSpaceMode.WhiteSpaceNormal) if text else ""

"""A calm message line at the top of the window, with optional action buttons (never modal).

Each message has a topic ("load", "training", "save", "autosave", …); whoever resolves what a
message reported calls :meth:`BannerWidget.resolve` with its topic and the banner goes away,
unless it shows another topic's message by then.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QToolButton

from explorer.gui.plain_text import plain_label

COLORS = {"info": "#dbe9f6", "error": "#f8d7d3", "warn": "#fbeccc"}


class BannerWidget(QFrame):
    """One message at a time: ``show_message(text, kind, actions, topic)``, ``resolve(topic)``."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 6, 4)
        self.label = plain_label()              # messages name files and columns: shown as written
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        self._buttons: list[QPushButton] = []
        self._lay = lay
        self.topic = ""
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self.dismiss)
        lay.addWidget(self.close_button)
        self.hide()

    def show_message(self, text: str, kind: str = "info", actions=(), topic: str = "") -> None:
        for b in self._buttons:
            b.deleteLater()
        self._buttons = []
        for label, fn in actions:
            b = QPushButton(label)
            b.clicked.connect(fn)
            b.clicked.connect(self.dismiss)
            self._lay.insertWidget(self._lay.count() - 1, b)
            self._buttons.append(b)
        self.setStyleSheet(f"BannerWidget {{ background: {COLORS.get(kind, COLORS['info'])}; "
                           "border-radius: 4px; } QLabel { color: #1b1b1b; }")
        self.label.setText(text)
        self.topic = topic
        self.show()

    @property
    def showing(self) -> bool:
        """A message is up (whether or not the window itself is on screen)."""
        return not self.isHidden()

    def dismiss(self) -> None:
        self.topic = ""
        self.hide()

    def resolve(self, *topics: str) -> None:
        """What a message of one of ``topics`` reported is resolved: hide it if it is showing."""
        if self.showing and self.topic in topics:
            self.dismiss()

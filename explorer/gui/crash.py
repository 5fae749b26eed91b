"""Crash safety: an uncaught exception in a slot opens an error dialog with the details and a copy
button, is logged to a file in the user's log folder, and the app keeps running."""

from __future__ import annotations

import datetime
import html
import sys
import traceback
from pathlib import Path

from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtWidgets import (QApplication, QDialog, QDialogButtonBox, QLabel, QPlainTextEdit,
                               QPushButton, QVBoxLayout)


def log_dir() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(base or Path.home() / ".lstm-explorer") / "logs"


def log_path() -> Path:
    return log_dir() / "errors.log"


def log_exception(text: str) -> Path | None:
    """Append ``text`` with a time stamp to the error log; returns its path (None if unwritable)."""
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"--- {datetime.datetime.now().isoformat(timespec='seconds')}\n{text}\n")
    except OSError:
        return None
    return path


class ErrorDialog(QDialog):
    """Shows an unexpected error with its details and a button that copies them."""

    def __init__(self, summary: str, details: str, logged: Path | None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("LSTM Explorer: unexpected error")
        lay = QVBoxLayout(self)
        msg = QLabel(f"<b>Something went wrong:</b> {html.escape(summary)}<br>The app keeps running; your data "
                     "and run are unchanged." + (f"<br>Logged to {html.escape(str(logged))}" if logged else ""))
        msg.setTextFormat(Qt.TextFormat.RichText)
        msg.setWordWrap(True)
        lay.addWidget(msg)
        self.details = QPlainTextEdit(details)
        self.details.setReadOnly(True)
        self.details.setMinimumSize(560, 220)
        lay.addWidget(self.details)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy details")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy_details)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        lay.addWidget(buttons)

    def copy_details(self):
        QApplication.clipboard().setText(self.details.toPlainText())


class ExceptionHook:
    """``sys.excepthook`` replacement: log, then show a non-modal :class:`ErrorDialog`."""

    def __init__(self):
        self.dialogs: list[ErrorDialog] = []
        self.previous = sys.excepthook

    def __call__(self, etype, value, tb):
        details = "".join(traceback.format_exception(etype, value, tb))
        logged = log_exception(details)
        sys.stderr.write(details)
        app = QApplication.instance()
        if app is None:
            return
        dlg = ErrorDialog(f"{etype.__name__}: {value}", details, logged, QApplication.activeWindow())
        dlg.setModal(False)
        dlg.show()
        self.dialogs.append(dlg)
        dlg.finished.connect(lambda *_: self.dialogs.remove(dlg) if dlg in self.dialogs else None)


def install_excepthook() -> ExceptionHook:
    hook = ExceptionHook()
    sys.excepthook = hook
    return hook

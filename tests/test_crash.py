"""An uncaught exception in a slot opens an error dialog with a copy button, is logged, and the app
keeps answering."""

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QPushButton

from explorer.gui import crash


def test_slot_that_raises_opens_dialog_logs_and_app_keeps_running(qtbot, app_paths, monkeypatch):
    hook = crash.ExceptionHook()
    monkeypatch.setattr(sys, "excepthook", hook)
    button = QPushButton("boom")
    qtbot.addWidget(button)

    def boom():
        raise RuntimeError("a slot went wrong")

    button.clicked.connect(boom)
    # pytest-qt would fail the test on the exception; the app's hook is what we check here
    with qtbot.capture_exceptions() as caught:
        button.click()
    for exc_info in caught:                      # pytest-qt took it; hand it to the app's hook
        hook(*exc_info)
    assert len(hook.dialogs) == 1
    dlg = hook.dialogs[0]
    assert dlg.isVisible()
    assert "a slot went wrong" in dlg.details.toPlainText()
    assert "Traceback" in dlg.details.toPlainText()
    dlg.copy_button.click()
    assert "a slot went wrong" in QApplication.clipboard().text()
    log = crash.log_path()
    assert log.is_file() and "a slot went wrong" in log.read_text()
    # the event loop still answers
    fired = []
    QTimer.singleShot(10, lambda: fired.append(True))
    qtbot.waitUntil(lambda: bool(fired), timeout=2000)
    dlg.close()


def test_hook_is_installed_by_the_app(monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    hook = crash.install_excepthook()
    assert sys.excepthook is hook

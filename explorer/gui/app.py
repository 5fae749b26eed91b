"""Start the window: ``lstm-explorer-gui`` and ``lstm-explorer`` without a sub-command."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    from explorer.assets import resource_path

    argv = list(sys.argv[1:] if argv is None else argv)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("LSTM Explorer")
    app.setOrganizationName("LSTM Explorer")
    app.setWindowIcon(QIcon(str(resource_path("icons", "lstm-explorer.svg"))))
    win = QMainWindow()
    win.setWindowTitle("LSTM Explorer")
    win.setCentralWidget(QLabel("LSTM Explorer"))
    win.resize(1200, 800)
    win.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())

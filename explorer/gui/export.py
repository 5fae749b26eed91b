"""The window's exports: any plot or the diagram as PNG, SVG or CSV, and everything into a folder.

Each widget renders at its own export size (never what happens to be on screen) and writes its
own CSV (the diagram's: every timestep 1..T of the selected unit with the cell's quantities).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from explorer.gui.actions import export_failed, export_widget



class ExportController(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win

    def widget(self, key: str):
        return self.win.diagram if key == "diagram" else self.win.plot_widgets[key]

    def export_one_dialog(self, key: str) -> None:
        win = self.win
        path, _ = QFileDialog.getSaveFileName(win, f"Export {key}", str(Path(win.last_folder()) / key),
                                              "PNG image (*.png);;SVG drawing (*.svg);;CSV data (*.csv)")
        if path:
            self.export_one(key, path)

    def export_one(self, key: str, path) -> bool:
        """One plot or the diagram as ``path``'s format; a failure is said on the banner (False)."""
        win = self.win
        win.plots.flush()                               # a heatmap behind another tab gets its data
        try:
            export_widget(self.widget(key), path)
        except OSError as exc:
            win.banner.show_message(export_failed(exc, path), "error", topic="export")
            return False
        win.banner.resolve("export")
        win.statusBar().showMessage(f"Exported {Path(path).name}", 8000)
        return True

    def export_all_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.win, "Export everything into a folder", self.win.last_folder())
        if folder:
            self.export_all(folder)

    def export_all(self, folder) -> list[Path]:
        """Every plot, the cell diagram and the equations as PNG, SVG and CSV into ``folder``."""
        win = self.win
        folder = Path(folder)
        written = []
        try:
            folder.mkdir(parents=True, exist_ok=True)
            win.plots.flush()
            for key in list(win.plot_widgets) + ["diagram"]:
                for ext in ("png", "svg", "csv"):
                    p = folder / f"{key}.{ext}"
                    export_widget(self.widget(key), p)
                    written.append(p)
            for ext in ("png", "svg"):
                p = folder / f"equations.{ext}"
                getattr(win.equations, f"export_{ext}")(str(p))
                written.append(p)
        except OSError as exc:
            win.banner.show_message(export_failed(exc, folder), "error", topic="export")
            return written
        win.banner.resolve("export")
        win.statusBar().showMessage(f"Exported {len(written)} files to {folder}", 8000)
        return written

"""The window's exports: any plot or the diagram as PNG, SVG or CSV, and everything into a folder.

Each widget renders at its own export size (never what happens to be on screen); the diagram's
CSV holds every timestep of the selected sample and unit as the engine computed it (timesteps
numbered from 1, units as the unit selector shows them).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from explorer.runs import atomic_write_text


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

    def export_one(self, key: str, path) -> None:
        path = Path(path)
        widget = self.widget(key)
        suffix = path.suffix.lower()
        if suffix == ".png":
            widget.export_png(str(path), scale=2)
        elif suffix == ".svg":
            widget.export_svg(str(path))
        elif suffix == ".csv":
            if key == "diagram" and not hasattr(widget, "export_csv"):
                self.export_diagram_csv(path)       # the round-1 diagram has no CSV of its own
            else:
                widget.export_csv(str(path))
        else:
            raise ValueError(f"unknown export format {suffix!r}")

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
            for key in list(win.plot_widgets) + ["diagram"]:
                for ext in ("png", "svg", "csv"):
                    p = folder / f"{key}.{ext}"
                    self.export_one(key, p)
                    written.append(p)
            for ext in ("png", "svg"):
                p = folder / f"equations.{ext}"
                getattr(win.equations, f"export_{ext}")(str(p))
                written.append(p)
        except OSError as exc:
            win.banner.show_message(f"Could not export into {folder}: {exc}", "error", topic="export")
            return written
        win.banner.resolve("export")
        win.statusBar().showMessage(f"Exported {len(written)} files to {folder}", 8000)
        return written

    def export_diagram_csv(self, path: Path) -> None:
        """The diagram's data: every timestep (1..T) of the selected sample and unit."""
        from explorer.gui.main_window import one_hot_trace

        s = self.win.session
        tr, u = s.view_trace(), s.position.unit
        if tr is not None:
            tr = one_hot_trace(tr, s.run.dataset.n_inputs)
        if tr is None:
            atomic_write_text(path, "t,unit\n")
            return
        names = [k for k in ("h_prev", "c_prev", "i", "f", "g", "o", "c", "h") if k in tr.step(0, 0)]
        rec0 = tr.step(0, 0)
        m = len(rec0["x"]) if getattr(rec0["x"], "ndim", 0) else 1
        lines = ["t,unit," + ",".join(names) + "," + ",".join(f"x{j}" for j in range(m))]
        for t in range(tr.T):
            rec = tr.step(0, t)
            vals = [rec[k][u] for k in names] + list(rec["x"].reshape(-1))
            lines.append(f"{t + 1},{u}," + ",".join(repr(float(v)) for v in vals))
        atomic_write_text(path, "\n".join(lines) + "\n")

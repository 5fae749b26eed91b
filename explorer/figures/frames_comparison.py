"""The files of a ConvLSTM comparison (:mod:`explorer.app.frames_compare`): two tables and the
prediction's MSE per variant beside copying the last frame, as PNG, SVG and CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtCore import Qt

from explorer.app.frames_compare import FramesComparison
from explorer.runs.folder import save_version

__all__ = ["FRAMES_COMPARISON_FILES", "FRAMES_COMPARISON_HEADER", "write_frames_comparison"]

FRAMES_COMPARISON_HEADER = ("variant", "channels", "kernel", "layers", "peephole", "parameters",
                            "steps_to_beat_copy", "reached", "seconds", "final_val_loss", "final_prediction_mse")
FRAMES_SEEDS_HEADER = ("variant", "seed", "parameters", "steps", "steps_to_beat_copy", "seconds_to_beat_copy",
                       "seconds", "final_val_loss", "final_prediction_mse", "message")
FRAMES_COMPARISON_FILES = ("frames_comparison.csv", "frames_comparison_seeds.csv") + tuple(
    f"prediction_mse_curves.{ext}" for ext in ("png", "svg", "csv"))
COLORS = ("#2980B9", "#C0392B", "#27AE60", "#8E44AD", "#E67E22", "#16A085", "#2C3E50", "#D35400")


def write_frames_comparison(comp: FramesComparison, out) -> list[Path]:
    """Write :data:`FRAMES_COMPARISON_FILES` into ``out`` as one new version switched in at once
    (:func:`~explorer.runs.folder.save_version`; on failure ``out`` reads as before and
    :class:`~explorer.runs.folder.RunFileError` says why). Returns their paths."""
    out = Path(out)

    def write(vdir: Path) -> None:
        _write_tables(comp, vdir)
        _write_curves(comp, vdir)

    save_version(out, write, keep=FRAMES_COMPARISON_FILES, marker=FRAMES_COMPARISON_FILES[:1])
    return [out / n for n in FRAMES_COMPARISON_FILES]


def _number(v) -> str:
    return "" if v is None else repr(float(v)) if isinstance(v, float) else str(v)


def _write_tables(comp: FramesComparison, folder: Path) -> None:
    with open(folder / "frames_comparison.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(FRAMES_COMPARISON_HEADER)
        for r in comp.rows():
            v = r.variant
            shape = ["", "", "", ""] if v is None else [v.channels, v.kernel, v.layers, int(v.peephole)]
            w.writerow([r.name, *shape, r.parameters, _number(r.steps_to_beat_copy),
                        "" if v is None else f"{r.reached}/{r.seeds}", "" if v is None else f"{r.seconds:.3f}",
                        "" if v is None else repr(r.final_val_loss), repr(r.final_mse)])
    with open(folder / "frames_comparison_seeds.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(FRAMES_SEEDS_HEADER)
        for r in comp.results:
            w.writerow([r.variant.name, r.seed, r.parameters, r.steps, _number(r.steps_to_beat_copy),
                        "" if r.seconds_to_beat_copy is None else f"{r.seconds_to_beat_copy:.3f}", f"{r.seconds:.3f}",
                        repr(r.final_val_loss), repr(r.final_mse), r.message])


def _write_curves(comp: FramesComparison, folder: Path) -> None:
    from explorer.figures.plots import CurvesPlotWidget, export_plot
    from explorer.figures.report import _quiet_offscreen

    with _quiet_offscreen():
        from explorer.figures.panel import ensure_app

        ensure_app()
        curves = CurvesPlotWidget(f"Next-frame MSE on the {comp.evaluated_on} sequences", "step",
                                  "prediction MSE per pixel", log_y=True)
        for k, v in enumerate(comp.variants):
            steps, mse = comp.mean_curve(v)
            curves.add_curve(v.name, steps, mse, COLORS[k % len(COLORS)])
        curves.add_curve("copy last frame", [0, comp.max_steps], [comp.copy_mse, comp.copy_mse], "#7F8C8D",
                         style=Qt.PenStyle.DashLine)
        export_plot(curves, folder, "prediction_mse_curves")

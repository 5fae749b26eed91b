"""The files of a cell comparison (the comparison itself is :mod:`explorer.app.compare`, Qt-free).

``write_comparison`` draws the plots through :mod:`explorer.figures` (Qt offscreen), which the
app layer may not import.
"""

from __future__ import annotations

import csv
from pathlib import Path

from explorer.app.compare import ComparisonResult, TableRow
from explorer.runs.folder import save_version

__all__ = ["COMPARISON_FILES", "COMPARISON_HEADER", "table_jobs", "write_comparison"]

COMPARISON_HEADER = ("cell", "parameters", "steps_to_target", "reached", "seconds", "final_val_loss",
                     "layer_parameters", "head_parameters", "total_parameters")
SEEDS_HEADER = ("cell", "seed", "parameters", "steps_to_target", "seconds_to_target", "seconds", "final_val_loss",
                "total_parameters")
COMPARISON_FILES = ("comparison.csv", "comparison_seeds.csv") + tuple(
    f"{stem}.{ext}" for stem in ("loss_curves", "grad_through_time") for ext in ("png", "svg", "csv"))


def write_comparison(comp: ComparisonResult, out) -> list[Path]:
    """``comparison.csv`` (the table), ``comparison_seeds.csv``, and the two plots as PNG, SVG, CSV,
    written into ``out`` as one whole: a complete new version, then one atomic switch
    (:func:`explorer.runs.folder.save_version`; a failure leaves ``out`` as it was and raises
    :class:`~explorer.runs.folder.RunFileError` with one sentence)."""
    out = Path(out)
    names: list[str] = []

    def write(vdir: Path) -> None:
        _write_tables(comp, vdir)
        from explorer.figures.report import export_comparison_plots

        plots = export_comparison_plots(comp, vdir)
        names[:] = ["comparison.csv", "comparison_seeds.csv"] + [Path(p).name for p in plots]

    save_version(out, write, keep=COMPARISON_FILES, marker=COMPARISON_FILES[:2])
    return [out / n for n in names]


def table_jobs(comp: ComparisonResult, folder) -> list[tuple[Path, object]]:
    """``(path, write)`` for ``comparison.csv`` and ``comparison_seeds.csv`` in ``folder``: each
    ``write()`` writes its one file (an export task runs them off the GUI thread)."""
    folder = Path(folder)
    return [(folder / "comparison.csv", lambda: _write_table(comp, folder / "comparison.csv")),
            (folder / "comparison_seeds.csv", lambda: _write_seeds(comp, folder / "comparison_seeds.csv"))]


def _write_tables(comp: ComparisonResult, folder: Path) -> None:
    for _, write in table_jobs(comp, folder):
        write()


def _write_table(comp: ComparisonResult, path: Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COMPARISON_HEADER)
        for r in comp.rows():
            w.writerow([r.cell, r.parameters, "" if r.steps_to_target is None else r.steps_to_target,
                        r.reached_text, f"{r.seconds:.3f}", repr(r.final_val_loss),
                        " ".join(str(c) for c in r.layer_parameters), r.head_parameters, r.total_parameters])


def _write_seeds(comp: ComparisonResult, path: Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(SEEDS_HEADER)
        for r in comp.results:
            w.writerow([r.cell, r.seed, r.parameters, "" if r.steps_to_target is None else r.steps_to_target,
                        "" if r.seconds_to_target is None else f"{r.seconds_to_target:.3f}", f"{r.seconds:.3f}",
                        repr(r.final_val_loss), r.total_parameters])

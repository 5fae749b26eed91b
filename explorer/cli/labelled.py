"""``lstm-explorer train`` on labelled sequences: a whole-sequence model, its exports and pictures.

    lstm-explorer train FILE [--label COLUMN] [--pool last|attention] [--task classes|regression]
                        [--text | --words] [--cell C] [--units N] [--layers L] [--bidirectional]
                        [--epochs E] [--batch B] [--lr X] [--val-fraction F] --out DIR
    lstm-explorer train --example find-the-marker|sentiment --out DIR

Writes into DIR: history.csv (with train_accuracy and val_accuracy for classes), attention.csv
(sample, t, alpha; attention pool), confusion.csv/.png/.svg and predictions.csv (classes),
attention_strip.png/.svg/.csv (the first validation sample), accuracy.png/.svg/.csv, model.npz,
summary.json. Exit status as the other commands (0, 2 bad input, 3 diverged, 130 interrupted).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

#: Flags of ``train`` that labelled sequences use; any other given is named as ignored.
LABELLED_OPTIONS = {"command", "file", "example", "label", "pool", "task", "text", "words", "normalize", "seq_len",
                    "val_fraction", "cell", "units", "layers", "bidirectional", "epochs", "batch", "lr", "optimizer",
                    "clip", "seed", "out", "force", "no_plots", "quiet"}


LABELLED_FILES = ("accuracy.csv", "accuracy.png", "accuracy.svg", "attention.csv", "attention_strip.csv",
                  "attention_strip.png", "attention_strip.svg", "confusion.csv", "confusion.png", "confusion.svg",
                  "history.csv", "model.npz", "predictions.csv", "summary.json")
"""The files a labelled run writes (``--force`` replaces a folder of these, never anything else)."""
POOL_FILES = ("comparison.csv", "pool_comparison.csv", "pool_comparison.png", "pool_comparison.svg",
              "pool_grad_through_time.csv", "pool_grad_through_time.png", "pool_grad_through_time.svg")
"""The files ``compare --pool`` writes."""


def train_labelled(args, given: dict[str, str]) -> int:
    from explorer.cli.command import CliError, _check_out, _HeldFolder

    if (args.file is None) == (args.example is None):
        raise CliError("give exactly one of FILE or --example NAME.")
    if not args.out:
        raise CliError("--out DIR is required: the folder the run and its plots are written to.")
    out = Path(args.out)
    _check_out(out, args.force, names=LABELLED_FILES, marker=("summary.json",))
    with _HeldFolder(out):
        return _train_labelled(args, given, out)


def _train_labelled(args, given: dict[str, str], out: Path) -> int:
    from explorer.app.labelled import LabelledRun, labelled_settings, load_labelled_data
    from explorer.cli.command import (EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_OK, CliError, _Progress, _say,
                                      _StopRequest, describe_model)
    from explorer.data import SequenceFileError

    ignored = sorted(flag for dest, flag in given.items() if dest not in LABELLED_OPTIONS
                     or (dest == "seq_len" and args.example != "find-the-marker"))
    if ignored and not args.quiet:
        _say(f"lstm-explorer: labelled sequences are whole sequences with one label each; ignoring "
             f"{', '.join(ignored)}.")
    try:
        ds = load_labelled_data(args.file, args.example, seq_len=args.seq_len, label=args.label, task=args.task,
                                level="word" if args.words else "char", val_fraction=args.val_fraction,
                                normalize=None if args.normalize == "zscore" else args.normalize)
        settings = labelled_settings(args.example, cell=args.cell, units=args.units, layers=args.layers,
                                     bidirectional=args.bidirectional, pool=args.pool, epochs=args.epochs,
                                     batch=args.batch, lr=args.lr, optimizer=args.optimizer, seed=args.seed,
                                     clip=None if args.clip is None else (args.clip if args.clip > 0 else 0.0))
        run = LabelledRun(ds, settings)
    except (SequenceFileError, ValueError) as exc:
        raise CliError(str(exc)) from None
    tr = run.trainer
    if not args.quiet:
        _say(ds.describe())
        _say(f"{describe_model(run.model)}; {settings.pool} pooling; {tr.steps_per_epoch} steps per epoch")
    bar = _Progress(tr, quiet=args.quiet)
    status = EXIT_OK
    t0 = time.perf_counter()
    from explorer.app.tasks import TaskState

    with _StopRequest(TaskState()) as stop:
        for snap in tr.steps():
            if snap.refused:
                bar.close()
                _say(f"lstm-explorer: {snap.message}")
                status = EXIT_DIVERGED
                break
            bar.update(snap, snap.val_loss)
            if stop.requested:
                status = EXIT_INTERRUPTED
                break
    bar.close()
    seconds = time.perf_counter() - t0
    from explorer.runs.folder import RunFileError

    try:
        run.write(out)                               # under the folder's writer lock (train_labelled)
        if not args.no_plots:
            from explorer.figures.labelled import export_labelled_plots

            export_labelled_plots(run, out)
    except RunFileError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{out}: {exc.strerror or exc}; the run could not be written.") from None
    if not args.quiet:
        last = tr.history[-1] if tr.history else {}
        msg = f"{tr.step} steps in {seconds:.1f} s"
        acc = last.get("val_accuracy")
        if acc is not None and math.isfinite(acc):
            msg += (f"; validation accuracy {acc:.1%} (always answering the commonest training class: "
                    f"{ds.majority_accuracy():.1%})")
        elif last and math.isfinite(last.get("val_loss", math.nan)):
            msg += f"; validation loss {last['val_loss']:.4g}"
        _say(msg)
        _say(f"wrote {out}")
    if status == EXIT_INTERRUPTED:
        _say(f"lstm-explorer: interrupted after step {tr.step}; what was trained is written to {out}.")
    return status


def compare_pools(args) -> int:
    """``compare (FILE | --example NAME) --pool last,attention [--cells C,…]``: every cell with every
    pooling on the same labelled sequences; comparison.csv, the validation accuracy per epoch and
    the gradient norm through time at the first step (attention shortens the path to early steps)."""
    from explorer.cli.command import CELL_CHOICES, CliError, _check_out, _HeldFolder
    from explorer.engine import POOLS

    pools = [p.strip() for p in args.pool.split(",") if p.strip()]
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    for flag, names, allowed in (("--pool", pools, POOLS), ("--cells", cells, CELL_CHOICES)):
        bad = [n for n in names if n not in allowed] or ([] if names else ["(none)"])
        if bad:
            raise CliError(f"{flag} names {bad[0]}; choose from {', '.join(allowed)}.")
        twice = [n for k, n in enumerate(names) if n in names[:k]]
        if twice:
            raise CliError(f"{flag} names {twice[0]} twice; name each once.")
    if (args.file is None) == (args.example is None):
        raise CliError("give exactly one of FILE or --example NAME.")
    out = Path(args.out)
    _check_out(out, args.force, names=POOL_FILES, marker=("pool_comparison.csv",))
    with _HeldFolder(out):
        return _compare_pools(args, out, pools, cells)


def _compare_pools(args, out: Path, pools: list, cells: list) -> int:
    from explorer.app.labelled import TARGET_ACCURACY, LabelledRun, labelled_settings, load_labelled_data
    from explorer.cli.command import CliError, _say
    from explorer.data import SequenceFileError
    from explorer.runs.folder import RunFileError

    try:
        ds = load_labelled_data(args.file, args.example, seq_len=args.seq_len, label=args.label, task=args.task,
                                level="word" if args.words else "char", val_fraction=args.val_fraction)
        runs = [(cell, pool, LabelledRun(ds, labelled_settings(
            args.example, cell=cell, pool=pool, units=args.units, layers=args.layers, bidirectional=args.bidirectional,
            epochs=args.epochs, batch=args.batch, lr=args.lr, optimizer=args.optimizer, seed=args.seed)))
            for cell in cells for pool in pools]
    except (SequenceFileError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if not args.quiet:
        _say(ds.describe())
    rows, first_norms = [], {}
    for cell, pool, run in runs:
        t0 = time.perf_counter()
        reached = None
        for snap in run.trainer.steps(max_steps=args.max_steps):
            if snap.refused:
                break
            first_norms.setdefault(f"{cell} {pool}", snap.norms_dh)
            acc = run.trainer.history[-1].get("val_accuracy", math.nan) if snap.epoch_end else math.nan
            if reached is None and acc >= TARGET_ACCURACY:
                reached = snap.step
        last = run.trainer.history[-1] if run.trainer.history else {}
        rows.append({"cell": cell, "pool": pool, "parameters": run.model.param_count.total,
                     "steps": run.trainer.step, "seconds": round(time.perf_counter() - t0, 3),
                     "val_loss": last.get("val_loss", math.nan), "val_accuracy": last.get("val_accuracy", math.nan),
                     f"steps_to_{TARGET_ACCURACY:.0%}": "" if reached is None else reached})
        if not args.quiet:
            r = rows[-1]
            _say(f"{cell:9s} {pool:9s} {r['parameters']:7d} parameters  validation accuracy {r['val_accuracy']:.1%}  "
                 + (f"{TARGET_ACCURACY:.0%} at step {reached}" if reached else f"{TARGET_ACCURACY:.0%} not reached")
                 + f"  ({r['steps']} steps, {r['seconds']:.1f} s)")
    try:
        import csv

        import io

        from explorer.runs.store import atomic_write_bytes

        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
        atomic_write_bytes(out / "comparison.csv", buf.getvalue().encode("utf-8"))   # a link is replaced, not followed
        from explorer.figures.labelled import export_pool_comparison

        export_pool_comparison([(f"{cell} {pool}", run) for cell, pool, run in runs], out, first_norms)
    except RunFileError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{out}: {exc.strerror or exc}; the comparison could not be written.") from None
    if not args.quiet:
        _say(f"wrote {out}")
    return 0

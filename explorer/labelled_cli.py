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
LABELLED_OPTIONS = {"command", "file", "example", "label", "pool", "task", "text", "words", "normalize",
                    "val_fraction", "cell", "units", "layers", "bidirectional", "epochs", "batch", "lr", "optimizer",
                    "clip", "seed", "out", "force", "no_plots", "quiet"}


def train_labelled(args, given: dict[str, str]) -> int:
    from explorer.app.labelled import LabelledRun, labelled_settings, load_labelled_data
    from explorer.cli import (EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_OK, CliError, _check_out, _Progress, _say,
                              _StopRequest, describe_model)
    from explorer.data import SequenceFileError

    if (args.file is None) == (args.example is None):
        raise CliError("give exactly one of FILE or --example NAME.")
    if not args.out:
        raise CliError("--out DIR is required: the folder the run and its plots are written to.")
    out = Path(args.out)
    _check_out(out, args.force)
    ignored = sorted(flag for dest, flag in given.items() if dest not in LABELLED_OPTIONS)
    if ignored and not args.quiet:
        _say(f"lstm-explorer: labelled sequences are whole sequences with one label each; ignoring {', '.join(ignored)}.")
    try:
        ds = load_labelled_data(args.file, args.example, label=args.label, task=args.task,
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
    with _StopRequest() as stop:
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
    try:
        run.write(out)
        if not args.no_plots:
            from explorer.figures.labelled import export_labelled_plots

            export_labelled_plots(run, out)
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

"""``lstm-explorer train`` on labelled sequences: a whole-sequence model, its exports and pictures.

    lstm-explorer train FILE [--label COLUMN] [--pool last|attention] [--task classes|regression]
                        [--text | --words] [--cell C] [--units N] [--layers L] [--bidirectional]
                        [--epochs E] [--batch B] [--lr X] [--val-fraction F] --out DIR
    lstm-explorer train --example find-the-marker|sentiment --out DIR
    lstm-explorer train [FILE] --resume DIR [--epochs E] [--allow-changed-data]

DIR is a versioned run folder (:meth:`~explorer.app.labelled.LabelledRun.save`: the trainer's
files and, in each version, history.csv (with train_accuracy and val_accuracy for classes),
attention.csv (sample, t, alpha; attention pool), confusion.csv/.png/.svg and predictions.csv
(classes), attention_strip and attention_stage .png/.svg/.csv (the first validation sample),
accuracy.png/.svg/.csv, summary.json). Training runs through :func:`explorer.app.tasks.train_task`.
Exit status as the other commands (0, 2 bad input, 3 diverged, 130 interrupted)."""

from __future__ import annotations

import math
import shlex
import time
from pathlib import Path

#: Flags of ``train`` that labelled sequences use; any other given is named as ignored.
LABELLED_OPTIONS = {"command", "file", "example", "label", "pool", "task", "text", "words", "normalize", "seq_len",
                    "val_fraction", "cell", "units", "layers", "bidirectional", "epochs", "batch", "lr", "optimizer",
                    "clip", "seed", "out", "force", "no_plots", "quiet", "stop_at_loss", "eval_every"}
#: Flags ``train --resume`` of a labelled run uses (the run keeps its own settings and data options).
LABELLED_RESUME_OPTIONS = {"command", "file", "resume", "epochs", "out", "force", "no_plots", "quiet",
                           "allow_changed_data", "stop_at_loss", "eval_every"}


POOL_FILES = ("comparison.csv", "pool_comparison.csv", "pool_comparison.png", "pool_comparison.svg",
              "pool_grad_through_time.csv", "pool_grad_through_time.png", "pool_grad_through_time.svg")
"""The files ``compare --pool`` writes."""


def train_labelled(args, given: dict[str, str]) -> int:
    """``train`` of labelled sequences into a versioned run folder (``--resume DIR`` continues one)."""
    from explorer.app.labelled import RUN_FILES, TRAINER_FILES
    from explorer.cli.command import CliError, _check_out, _HeldFolder, _same_folder

    if args.resume is None:
        if (args.file is None) == (args.example is None):
            raise CliError("give exactly one of FILE or --example NAME.")
        if not args.out:
            raise CliError("--out DIR is required: the folder the run and its plots are written to.")
    elif args.example is not None:
        raise CliError("--resume continues the run's own data; leave --example out (FILE gives a moved file's place).")
    in_place = args.resume is not None and (not args.out or _same_folder(args.out, args.resume))
    out = Path(args.resume) if in_place else Path(args.out)
    if in_place and not out.is_dir():
        raise CliError(f"--resume {out} is not a run folder (it does not exist or is a file).")
    _check_out(out, True if in_place else args.force, "--resume" if in_place else "--out",
               names=RUN_FILES, marker=TRAINER_FILES)
    with _HeldFolder(out, "--resume" if in_place else "--out"):
        return _train_labelled(args, given, out, in_place)


def _train_labelled(args, given: dict[str, str], out: Path, in_place: bool) -> int:
    from explorer.app.labelled import LabelledRun, data_source, labelled_settings, load_from_source
    from explorer.cli.command import EXIT_INTERRUPTED, CliError, _say, _train_loop, describe_model, resume_run
    from explorer.data import SequenceFileError
    from explorer.runs.folder import RunFileError

    allowed = LABELLED_RESUME_OPTIONS if args.resume else LABELLED_OPTIONS
    ignored = sorted(flag for dest, flag in given.items() if dest not in allowed
                     or (dest == "seq_len" and args.example != "find-the-marker"))
    if ignored and not args.quiet:
        what = ("--resume continues with the run's own settings" if args.resume else
                "labelled sequences are whole sequences with one label each")
        _say(f"lstm-explorer: {what}; ignoring {', '.join(ignored)}.")
    try:
        if args.resume:
            run = resume_run(LabelledRun, args)
        else:
            source = data_source(args.file, args.example, seq_len=args.seq_len, label=args.label, task=args.task,
                                 level="word" if args.words else "char", val_fraction=args.val_fraction,
                                 normalize=None if args.normalize == "zscore" else args.normalize)
            settings = labelled_settings(args.example, cell=args.cell, units=args.units, layers=args.layers,
                                         bidirectional=args.bidirectional, pool=args.pool, epochs=args.epochs,
                                         batch=args.batch, lr=args.lr, optimizer=args.optimizer, seed=args.seed,
                                         clip=None if args.clip is None else (args.clip if args.clip > 0 else 0.0))
            run = LabelledRun(load_from_source(source), settings, source)
        if getattr(args, "stop_at_loss", None) is not None and run.dataset.n_val == 0:
            raise CliError("--stop-at-loss watches the validation loss, and this run has no validation part; "
                           "set --val-fraction above 0 or leave --stop-at-loss out.")
        if not in_place:
            run.save(out)                        # the first checkpoint: from now on --resume works on DIR
    except (SequenceFileError, RunFileError, ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    ds, tr = run.dataset, run.trainer
    if not args.quiet:
        _say(ds.describe())
        _say(f"{describe_model(run.model)}; {run.settings.pool} pooling; {tr.steps_per_epoch} steps per epoch")
    saved = {"step": tr.step}
    status = _train_loop(run, args, out, saved)           # the one training driver: app.tasks.train_task
    try:
        run.save(out, extra=None if args.no_plots else _plots(run))
    except RunFileError as exc:
        raise CliError(f"the final save at step {tr.step} failed ({str(exc).rstrip('.')}); {out} keeps the "
                       f"checkpoint of step {saved['step']}.") from None
    if not args.quiet:
        last = tr.history[-1] if tr.history else {}
        acc = last.get("val_accuracy")
        if acc is not None and math.isfinite(acc):
            _say(f"validation accuracy {acc:.1%} (always answering the commonest training class: "
                 f"{ds.majority_accuracy():.1%})")
        _say(f"wrote {out}")
    if status == EXIT_INTERRUPTED:
        _say(f"lstm-explorer: interrupted after step {tr.step}; the run so far is saved in {out} "
             f"(continue with: lstm-explorer train --resume {shlex.quote(str(out))}).")
    return status


def _plots(run):
    """Writes the run's pictures into its new version (pictures and run switch together)."""
    def write(folder: Path) -> None:
        from explorer.figures.labelled import export_labelled_plots

        export_labelled_plots(run, folder)
    return write


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
    from explorer.app.labelled import train_pool_chunk
    from explorer.app.tasks import DivergenceGuard, TaskState
    from explorer.cli.command import EXIT_INTERRUPTED, StopRequest

    rows, first_norms = [], {}
    state = TaskState()
    for cell, pool, run in runs:
        t0 = time.perf_counter()
        reached = []

        def on_step(snap, val, name=f"{cell} {pool}", run=run, reached=reached):
            first_norms.setdefault(name, snap.norms_dh)
            acc = run.trainer.history[-1].get("val_accuracy", math.nan) if snap.epoch_end else math.nan
            if not reached and acc >= TARGET_ACCURACY:
                reached.append(snap.step)

        with StopRequest(state):
            why = train_pool_chunk(state, run, args.max_steps, DivergenceGuard(run.trainer), on_step)
        if why == "stopped":
            _say(f"lstm-explorer: interrupted while training {cell} with {pool} pooling; nothing written.")
            return EXIT_INTERRUPTED
        if run.message and not args.quiet:
            _say(f"lstm-explorer: {cell} with {pool} pooling: {run.message}")
        reached = reached[0] if reached else None
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

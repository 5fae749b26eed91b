"""The ``lstm-explorer`` command.

Without a sub-command it opens the window (``lstm-explorer [FILE]``). Sub-commands run
headless::

    lstm-explorer train FILE [--column C ...] [--target C] [--text | --words] [--missing interpolate|drop]
                             [--normalize zscore|minmax|none] [--val-fraction F] [--units N] [--seq-len L]
                             [--layers L] [--bidirectional]
                             [--epochs E] [--batch B] [--lr X] [--optimizer adam|sgd|momentum] [--clip X]
                             [--seed S] [--forecast N] --out DIR [--force]
    lstm-explorer train --example adding --out DIR
    lstm-explorer train --resume DIR [--epochs E]
    lstm-explorer examples
    lstm-explorer compare (FILE | --example NAME) --cells rnn,gru,lstm,peephole [--seeds 3]
                          [--max-steps N] [train options] --out DIR

Bad input: exit status 2 and one sentence on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

SUBCOMMANDS = ("train", "examples", "compare")
CELL_CHOICES = ("rnn", "gru", "lstm", "peephole")


class CliError(Exception):
    """A problem to report as one sentence with exit status 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lstm-explorer", description="Watch an LSTM think. Without a "
                                "sub-command, opens the window (optionally on FILE).")
    sub = p.add_subparsers(dest="command", metavar="{train,compare,examples}")
    t = sub.add_parser("train", help="train headless and write a run folder with every plot")
    _data_and_model_options(t)
    t.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR")
    t.add_argument("--cell", choices=CELL_CHOICES, default=None, help="the recurrent cell (default lstm)")
    t.add_argument("--forecast", type=int, default=50, metavar="N", help="free-running forecast steps (series)")
    t.add_argument("--eval-every", type=int, default=0, metavar="N",
                   help="also compute the validation loss every N steps (reported, not saved)")
    t.add_argument("--stop-at-loss", type=float, default=None, metavar="X",
                   help="stop once the validation loss is below X")
    t.add_argument("--out", metavar="DIR", help="the run folder to write (required unless --resume)")
    t.add_argument("--force", action="store_true", help="write into a non-empty DIR")
    t.add_argument("--no-plots", action="store_true", help="skip the PNG/SVG/CSV plots")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    c = sub.add_parser("compare", help="train several cells on the same data and compare them")
    _data_and_model_options(c)
    c.add_argument("--cells", default="rnn,gru,lstm,peephole", help="comma-separated cells to compare")
    c.add_argument("--seeds", type=int, default=3, metavar="K", help="seeds 0..K-1 for every cell")
    c.add_argument("--max-steps", type=int, default=3000, metavar="N", help="training steps per cell and seed")
    c.add_argument("--target-loss", type=float, default=0.01, metavar="X",
                   help="the validation loss a cell must reach (default 0.01)")
    c.add_argument("--eval-every", type=int, default=50, metavar="N", help="validation every N steps")
    c.add_argument("--out", metavar="DIR", required=True, help="folder for comparison.csv and the plots")
    c.add_argument("--force", action="store_true", help="write into a non-empty DIR")
    c.add_argument("--quiet", action="store_true", help="no progress lines")
    sub.add_parser("examples", help="list the built-in examples")
    return p


def _data_and_model_options(t):
    t.add_argument("file", nargs="?", help="a sequence file (CSV, TSV, TXT, NPY) or a text file")
    t.add_argument("--example", help="a built-in example instead of a file (see `examples`)")
    t.add_argument("--column", action="extend", nargs="+", metavar="C", help="input column(s) by name or index")
    t.add_argument("--target", metavar="C", help="the column predicted (default: the last input column)")
    mode = t.add_mutually_exclusive_group()
    mode.add_argument("--text", action="store_true", help="treat the file as prose: next-character prediction")
    mode.add_argument("--words", action="store_true", help="treat the file as prose: next-word prediction")
    t.add_argument("--missing", choices=("interpolate", "drop"), default="interpolate")
    t.add_argument("--normalize", choices=("zscore", "minmax", "none"), default="zscore")
    t.add_argument("--val-fraction", type=float, default=None, metavar="F")
    t.add_argument("--units", type=int, default=None, metavar="N")
    t.add_argument("--layers", type=int, default=None, metavar="L", help="stacked recurrent layers (default 1)")
    t.add_argument("--bidirectional", action="store_true", default=None,
                   help="a reverse direction in every layer (the head sees both)")
    t.add_argument("--seq-len", type=int, default=None, metavar="L")
    t.add_argument("--epochs", type=int, default=None, metavar="E")
    t.add_argument("--batch", type=int, default=None, metavar="B")
    t.add_argument("--lr", type=float, default=None, metavar="X")
    t.add_argument("--optimizer", choices=("adam", "sgd", "momentum"), default=None)
    t.add_argument("--clip", type=float, default=None, metavar="X", help="clip the global gradient norm (0: off)")
    t.add_argument("--seed", type=int, default=None, metavar="S")


def main(argv: list[str] | None = None) -> int:
    from explorer._threads import limit_blas_threads

    limit_blas_threads()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help")):
        from explorer.gui.app import main as gui_main

        return gui_main(argv)
    args = _parser().parse_args(argv)
    try:
        if args.command == "examples":
            return _cmd_examples()
        if args.command == "train":
            return _cmd_train(args)
        if args.command == "compare":
            return _cmd_compare(args)
    except CliError as exc:
        print(f"lstm-explorer: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lstm-explorer: interrupted", file=sys.stderr)
        return 130
    return 0


def _cmd_examples() -> int:
    from explorer.data.examples import list_examples

    for name, desc in list_examples():
        print(f"{name:14s} {desc}")
    return 0


def _load_dataset(args):
    from explorer.data import load_sequence, load_text, make_windows, text_windows
    from explorer.data.examples import load_example

    if args.example:
        over = {}
        if args.seq_len is not None:
            over["seq_len"] = args.seq_len
        if args.val_fraction is not None and args.example in ("sine", "noisy-sine", "text"):
            over["val_fraction"] = args.val_fraction
        return load_example(args.example, **over)
    path = args.file
    if args.text or args.words:
        corpus = load_text(path, level="word" if args.words else "char")
        return text_windows(corpus, seq_len=args.seq_len or 25,
                            val_fraction=0.1 if args.val_fraction is None else args.val_fraction)
    cols = None
    if args.column:
        cols = [int(c) if c.lstrip("-").isdigit() else c for c in args.column]
    target = args.target
    if target is not None and target.lstrip("-").isdigit():
        target = int(target)
    seq = load_sequence(path, columns=cols, target=target, missing=args.missing)
    return make_windows(seq, seq_len=args.seq_len or 20,
                        val_fraction=0.2 if args.val_fraction is None else args.val_fraction,
                        normalize=args.normalize)


def _settings(args, example: str | None):
    from explorer.runs import ModelSettings, settings_for_example

    base = settings_for_example(example) if example else ModelSettings(units=16, epochs=20)
    over = {k: getattr(args, a) for k, a in (("units", "units"), ("epochs", "epochs"), ("batch", "batch"),
                                             ("lr", "lr"), ("optimizer", "optimizer"), ("seed", "seed"),
                                             ("cell", "cell"), ("layers", "layers"),
                                             ("bidirectional", "bidirectional")) if hasattr(args, a)
            if getattr(args, a) is not None}
    if args.clip is not None:
        over["clip"] = args.clip if args.clip > 0 else None
    if getattr(args, "layers", None) is not None and args.layers < 1:
        raise CliError(f"--layers must be at least 1 (got {args.layers}); a model has one or more "
                       "stacked layers.")
    return ModelSettings(**{**base.__dict__, **over})


def describe_model(model) -> str:
    """One line: the cell, units, layers and directions, parameters per layer and in total."""
    pc = model.param_count
    shape = f"{model.kind.upper()} with {model.n_units} units"
    if model.num_layers > 1 or model.bidirectional:
        shape += f", {model.num_layers} layer{'s' if model.num_layers > 1 else ''}"
        shape += ", bidirectional" if model.bidirectional else ""
        layers = " + ".join(f"{c} layer {k + 1}" for k, c in enumerate(pc.layers))
        return f"{shape}: {layers} + {pc.head} head = {pc.total} parameters"
    return f"{shape}: {pc.layer} layer + {pc.head} head = {pc.total} parameters"


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out} is a file, not a folder.")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise CliError(f"--out {out} is not empty; choose another folder or add --force.")


def _cmd_compare(args) -> int:
    from explorer.compare import compare_cells, format_table, write_comparison
    from explorer.data import SequenceFileError

    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    bad = [c for c in cells if c not in CELL_CHOICES]
    if bad or not cells:
        raise CliError(f"unknown cell {bad[0] if bad else '(none)'}; choose from {', '.join(CELL_CHOICES)}.")
    if (args.file is None) == (args.example is None):
        raise CliError("give exactly one of FILE or --example NAME.")
    out = Path(args.out)
    _check_out(out, args.force)
    try:
        dataset = _load_dataset(args)
    except (SequenceFileError, ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    settings = _settings(args, args.example)
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    result = compare_cells(dataset, settings, cells, seeds=args.seeds, max_steps=args.max_steps,
                           target_loss=args.target_loss, eval_every=args.eval_every, log=log)
    print(format_table(result))
    try:
        write_comparison(result, out)
    except OSError as exc:
        raise CliError(f"could not write into {out}: {exc}") from None
    if log:
        log(f"wrote {out}")
    return 0


def _cmd_train(args) -> int:
    from explorer.data import SequenceFileError
    from explorer.runs import Run, RunFileError

    sources = sum(x is not None for x in (args.file, args.example, args.resume))
    if sources != 1:
        raise CliError("give exactly one of FILE, --example NAME or --resume DIR.")
    if args.resume is None and not args.out:
        raise CliError("--out DIR is required: the folder the run and its plots are written to.")
    try:
        if args.resume:
            run = Run.load(args.resume)
            out = Path(args.out) if args.out else Path(args.resume)
            if args.out:
                _check_out(out, args.force)
            tr = run.trainer
            if args.epochs is not None:
                tr.extend(args.epochs)
            elif tr.epoch >= tr.epochs:
                raise CliError(f"the run in {args.resume} has finished its {tr.epochs} epochs; "
                               "add --epochs E to train E more.")
        else:
            out = Path(args.out)
            _check_out(out, args.force)
            dataset = _load_dataset(args)
            run = Run(dataset, _settings(args, args.example))
    except (SequenceFileError, RunFileError, ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    ds, tr = run.dataset, run.trainer
    if not args.quiet:
        print(f"{ds.describe()}", file=sys.stderr)
        print(f"{describe_model(run.model)}; {tr.steps_per_epoch} steps per epoch", file=sys.stderr)
    status = _train_loop(run, args)
    try:
        run.save(out)
        if not args.no_plots:
            from explorer.figures.report import export_run_plots

            export_run_plots(run, out, forecast=args.forecast)
    except RunFileError as exc:
        raise CliError(str(exc)) from None
    if not args.quiet:
        print(f"wrote {out}", file=sys.stderr)
    return status


def _train_loop(run, args) -> int:
    tr = run.trainer
    bar = _Progress(tr, quiet=args.quiet)
    t0 = time.perf_counter()
    eval_s = 0.0
    reached = None
    status = 0
    for snap in tr.steps():
        if snap.refused:
            bar.close()
            print(f"lstm-explorer: {snap.message}", file=sys.stderr)
            status = 3
            break
        val = snap.val_loss
        if args.eval_every and snap.step % args.eval_every == 0 and not snap.epoch_end:
            e0 = time.perf_counter()
            val = tr.val_loss()
            eval_s += time.perf_counter() - e0
        if val is not None and args.stop_at_loss is not None and val < args.stop_at_loss and reached is None:
            reached = (snap.step, time.perf_counter() - t0 - eval_s, val)
        bar.update(snap, val)
        if reached is not None:
            break
    bar.close()
    train_s = time.perf_counter() - t0 - eval_s
    if not args.quiet:
        last = tr.history[-1] if tr.history else None
        msg = f"{tr.step} steps in {train_s:.1f} s of training"
        if last is not None and not math.isnan(last["val_loss"]):
            msg += f"; last epoch: train {last['train_loss']:.4g}, validation {last['val_loss']:.4g} ({run.loss_units})"
        print(msg, file=sys.stderr)
        if args.stop_at_loss is not None:
            if reached:
                print(f"validation loss {reached[2]:.4g} < {args.stop_at_loss:g} at step {reached[0]} "
                      f"after {reached[1]:.1f} s of training", file=sys.stderr)
            else:
                print(f"validation loss did not go below {args.stop_at_loss:g} within {tr.step} steps",
                      file=sys.stderr)
    return status


class _Progress:
    """A one-line progress bar on stderr: epoch, loss, time left (a line per epoch when not a tty)."""

    def __init__(self, trainer, quiet=False):
        self.tr = trainer
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self.start_step = trainer.step
        self.last = 0.0
        self.val = None

    def update(self, snap, val):
        if self.quiet:
            return
        if val is not None:
            self.val = val
        now = time.perf_counter()
        if not (snap.epoch_end or (self.tty and now - self.last > 0.1)):
            return
        self.last = now
        done = snap.step - self.start_step
        left = (self.tr.total_steps - snap.step) * (now - self.t0) / max(done, 1)
        frac = snap.step / max(self.tr.total_steps, 1)
        bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
        text = (f"epoch {snap.epoch}/{self.tr.epochs} [{bar}] step {snap.step} loss {snap.loss:.4g}"
                + (f" val {self.val:.4g}" if self.val is not None else "")
                + f"  {_clock(left)} left")
        if self.tty:
            sys.stderr.write("\r" + text.ljust(100))
            if snap.epoch_end and snap.done:
                sys.stderr.write("\n")
        elif snap.epoch_end:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def close(self):
        if self.tty and not self.quiet:
            sys.stderr.write("\n")


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"

"""The ``lstm-explorer`` command.

Without a sub-command it opens the window (``lstm-explorer [FILE]``). Sub-commands run
headless::

    lstm-explorer train FILE [--column C ...] [--target C] [--text | --words] [--missing interpolate|drop]
                             [--year-month series|columns] [--key COLUMN|none] [--normalize zscore|minmax|none]
                             [--val-fraction F]
                             [--units N] [--seq-len L] [--layers L] [--bidirectional] [--epochs E] [--batch B] [--lr X]
                             [--optimizer adam|sgd|momentum] [--clip X] [--seed S] [--forecast N] [--init MODEL]
                             --out DIR [--force]
    lstm-explorer train --example adding --out DIR
    lstm-explorer train --resume DIR [FILE] [--epochs E] [--allow-changed-data]
    lstm-explorer examples
    lstm-explorer compare (FILE | --example NAME) --cells rnn,gru,lstm,peephole [--seeds 3]
                          [--max-steps N] [train options] --out DIR
    lstm-explorer animate RUN [--sample S] [--unit U] [--layer L] [--direction D] [--epoch E]
                          [--fps X] --out cell.gif|cell.png|cell.webp

Exit status: 0 done, 2 bad input (one sentence on stderr, no traceback; nothing left at --out),
3 diverged (the last good weights are saved), 130 interrupted (the run so far is saved).
Every numeric option is range-checked first, from the one table in :mod:`explorer.runs.options`.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import signal
import sys
import time
from functools import partial
from pathlib import Path

from explorer.app.tasks import EvalCadence
from explorer.engine.sampled import DEFAULT_SAMPLED, MIN_RATIO
from explorer.runs.options import BY_DEST, BY_FLAG, OptionError, check_args
from explorer.runs.folder import safe_name

SUBCOMMANDS = ("train", "examples", "compare", "animate")
CELL_CHOICES = ("rnn", "gru", "lstm", "peephole")
TREE_CELLS = ("treelstm", "nary-treelstm")
EXIT_OK, EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 2, 3, 130

#: Options ``train --resume`` uses; every other option given with it is named as ignored.
RESUME_OPTIONS = {"command", "resume", "file", "epochs", "out", "force", "no_plots", "quiet", "forecast",
                  "eval_every", "stop_at_loss", "allow_changed_data", "sampled_softmax"}


class CliError(Exception):
    """A problem to report as one sentence with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one sentence (exit 2), not a usage block."""

    def error(self, message):
        message = message[len("argument "):] if message.startswith("argument ") else message
        raise CliError(f"{message}; see `{self.prog} --help`.")


def _numeric(parser, dest: str, default=None):
    """Add a numeric option from the one table (parsed as text; :func:`check_args` checks the range)."""
    o = BY_DEST[dest]
    parser.add_argument(o.flag, dest=dest, default=default, metavar=o.metavar, help=o.help_text())


def _window_help() -> str:
    """The window's usage and options, as the epilog of ``lstm-explorer --help``."""
    from explorer.app.window_args import window_parser

    w = window_parser()
    fmt = w._get_formatter()                  # noqa: SLF001 - argparse's own layout of the same options
    fmt.start_section("the window (no sub-command)")
    fmt.add_arguments([a for a in w._actions if not isinstance(a, argparse._HelpAction)])  # noqa: SLF001
    fmt.end_section()
    return fmt.format_help() + "\nlstm-explorer COMMAND --help: the options of a sub-command."


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lstm-explorer", description="Watch an LSTM think. Without a sub-command, opens the "
                "window\n(optionally on FILE, options below); with one, works headless.",
                usage="lstm-explorer [FILE] [--example NAME] [--cell CELL] [--compare CELLS] [--model MODEL]\n"
                      "       lstm-explorer {train,compare,animate,examples} ...",
                epilog=_window_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="{train,compare,animate,examples}")
    t = sub.add_parser("train", help="train headless and write a run folder with every plot")
    _data_and_model_options(t)
    t.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR (FILE: its data file's new place)")
    t.add_argument("--allow-changed-data", action="store_true",
                   help="with --resume: continue even though the data file changed since the run was saved")
    t.add_argument("--sampled-softmax", metavar="N", help="next-word training steps sample N words for their "
                   f"softmax when the vocabulary exceeds {MIN_RATIO}·N (default {DEFAULT_SAMPLED}; 0: the full "
                   "softmax at every step); evaluation always uses the full softmax")
    t.add_argument("--init", metavar="MODEL", help="start from the weights in MODEL (.safetensors, "
                   ".keras, .weights.h5 or a run's model.npz) and fine-tune them")
    t.add_argument("--cell", choices=CELL_CHOICES + TREE_CELLS + ("convlstm",), default=None,
                   help="the recurrent cell (default lstm); treelstm or nary-treelstm read a tree file; "
                   "convlstm trains on frames (next-frame prediction)")
    for dest in ("channels", "kernel"):
        _numeric(t, dest)
    t.add_argument("--peephole", action="store_true", help="convlstm: peephole weights (Shi et al. 2015)")
    t.add_argument("--loss", choices=("mse", "bce"), default=None,
                   help="convlstm: per-pixel MSE or binary cross-entropy on 0..1 frames (default mse; examples bce)")
    t.add_argument("--layout", choices=("THW", "NTHW", "THWC", "TCHW", "NTCHW", "NTHWC"), default=None,
                   help="convlstm: how the axes of a .npy/.npz of frames are read (default: from the shape)")
    _numeric(t, "forecast", 50)
    _numeric(t, "eval_every")
    _numeric(t, "stop_at_loss")
    t.add_argument("--out", metavar="DIR", help="the run folder to write (required unless --resume)")
    t.add_argument("--force", action="store_true", help="write into a non-empty DIR")
    t.add_argument("--no-plots", action="store_true", help="skip the PNG/SVG/CSV plots")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    c = sub.add_parser("compare", help="train several cells on the same data and compare them")
    _data_and_model_options(c)
    c.add_argument("--cells", default="rnn,gru,lstm,peephole", help="comma-separated cells to compare")
    c.add_argument("--cell", choices=("convlstm",), default=None,
                   help="convlstm: compare ConvLSTM shapes on frames (default seeds 2, max-steps 300, eval-every 25)")
    c.add_argument("--channels", metavar="F[,F...]", help="convlstm: channel counts to compare (default 8)")
    c.add_argument("--kernel", metavar="K[,K...]", help="convlstm: odd kernel sizes to compare (default 1,3)")
    c.add_argument("--peephole", metavar="no|yes|no,yes", help="convlstm: without or with peepholes, or both")
    c.add_argument("--loss", choices=("mse", "bce"), default=None, help="convlstm: the loss (default mse; examples bce)")
    c.add_argument("--layout", choices=("THW", "NTHW", "THWC", "TCHW", "NTCHW", "NTHWC"), default=None,
                   help="convlstm: how the axes of a .npy/.npz of frames are read")
    _numeric(c, "seeds", 3)
    _numeric(c, "max_steps", 3000)
    _numeric(c, "target_loss", 0.01)
    _numeric(c, "eval_every", 50)
    c.add_argument("--out", metavar="DIR", required=True, help="folder for comparison.csv and the plots")
    c.add_argument("--force", action="store_true", help="write into a non-empty DIR")
    c.add_argument("--quiet", action="store_true", help="no progress lines")
    a = sub.add_parser("animate", help="write the cell diagram stepping through a sample (GIF, APNG, WebP)")
    a.add_argument("run", metavar="RUN", help="a run folder (from train, or the window's Save Run)")
    for dest in ("sample", "unit", "layer"):
        _numeric(a, dest, 0)
    a.add_argument("--direction", choices=("forward", "reverse", "0", "1"), default="forward",
                   help="the direction drawn in a bidirectional model (default forward)")
    _numeric(a, "epoch")
    _numeric(a, "fps", 4.0)
    a.add_argument("--out", metavar="FILE", required=True,
                   help="the animation to write: .gif, .png (animated PNG) or .webp")
    a.add_argument("--quiet", action="store_true", help="no progress line")
    sub.add_parser("examples", help="list the built-in examples")
    p.commands = {"train": t, "compare": c, "animate": a}
    return p


def _data_and_model_options(t):
    t.add_argument("file", nargs="?", help="a sequence file (CSV, TSV, TXT, NPY) or a text file")
    t.add_argument("--example", help="a built-in example instead of a file (see `examples`)")
    t.add_argument("--column", action="extend", nargs="+", metavar="C", help="input column(s) by name or index")
    t.add_argument("--target", metavar="C", help="the column predicted (default: the last input column; "
                   "without --column: the only input; neither: the first column of values)")
    mode = t.add_mutually_exclusive_group()
    mode.add_argument("--text", action="store_true", help="treat the file as prose: next-character prediction")
    mode.add_argument("--words", action="store_true", help="treat the file as prose: next-word prediction")
    t.add_argument("--missing", choices=("interpolate", "drop"), default="interpolate")
    t.add_argument("--year-month", choices=("series", "columns"), default="series",
                   help="a YEAR × JAN..DEC table: one monthly series (default) or its columns")
    t.add_argument("--key", metavar="COLUMN", help="the column naming the series of a long table (one series "
                   "per value, windows never cross between them; default: guessed), or none for one series")
    t.add_argument("--normalize", choices=("zscore", "minmax", "none"), default="zscore")
    for dest in ("val_fraction", "units", "layers", "seq_len", "epochs", "batch", "lr"):
        _numeric(t, dest)
    t.add_argument("--bidirectional", action="store_true", default=None,
                   help="a reverse direction in every layer (the head sees both)")
    t.add_argument("--optimizer", choices=("adam", "sgd", "momentum"), default=None)
    for dest in ("clip", "seed", "vocab"):
        _numeric(t, dest)
    t.add_argument("--label-at", choices=("root", "nodes"), default=None,
                   help="trees: learn the label of every node (default) or of the root alone")
    t.add_argument("--labels", metavar="FILE", help="trees: a label file for unlabelled trees")
    t.add_argument("--label", metavar="COLUMN", help="labelled sequences: the column of each text's label "
                   "(UCR .tsv/.csv and .ts files carry their own); convlstm: the .npz array of each sequence's class "
                   "(default labels)")
    t.add_argument("--pool", default=None, metavar="last|attention",
                   help="labelled sequences: one output per sequence from the last state or attention (default); "
                   "compare takes a list, e.g. last,attention")
    t.add_argument("--task", choices=("classes", "regression"), default=None,
                   help="labelled sequences: classes or regression (default: inferred from the labels)")


def _given(argv: list[str]) -> dict[str, str]:
    """The options the person actually typed: dest -> the flag as spelled in the parser."""
    p = _parser()
    flags = {}
    for sp in p.commands.values():
        for a in sp._actions:               # noqa: SLF001 - argparse has no public list of actions
            a.default = argparse.SUPPRESS
            if a.option_strings:
                flags[a.dest] = a.option_strings[-1]
    ns = p.parse_args(argv)
    return {d: flags.get(d, d.upper()) for d in vars(ns)}


def _join_negative_values(argv: list[str]) -> list[str]:
    """``--clip -inf`` as ``--clip=-inf``: argparse takes only digits after a minus for a value."""
    out = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if tok in BY_FLAG and nxt.startswith("-") and not nxt.startswith("--") and len(nxt) > 1:
            out.append(f"{tok}={nxt}")
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


def _say(message: str) -> None:
    """One line on stderr, control characters from file names escaped."""
    print(safe_name(message), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    from explorer.util.threads import limit_blas_threads

    limit_blas_threads()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help")):
        from explorer.gui.app import main as gui_main

        return gui_main(argv)
    argv = _join_negative_values(argv)
    from explorer.engine.blas import ThreadSettingError, hold_threads
    from explorer.engine.sampled import SampledSettingError, get_sampled, set_sampled
    try:
        hold_threads()                         # a bad LSTM_EXPLORER_THREADS is named before anything runs
        args = _parser().parse_args(argv)
        if getattr(args, "sampled_softmax", None) is not None:
            set_sampled(args.sampled_softmax, "--sampled-softmax")
        get_sampled()                          # a bad LSTM_EXPLORER_SAMPLED_SOFTMAX too
        if args.command == "examples":
            return _cmd_examples()
        if args.command is None:
            raise CliError("give a sub-command: train, compare, animate or examples.")
        check_args(args, args.command)
        _check_path_lengths(args)
        if args.command == "train":
            return _cmd_train(args, _given(argv))
        if args.command == "compare":
            return _cmd_compare(args, _given(argv))
        if args.command == "animate":
            return _cmd_animate(args)
    except (CliError, OptionError, ThreadSettingError, SampledSettingError) as exc:
        _say(f"lstm-explorer: {exc}")
        return EXIT_BAD_INPUT
    except OSError as exc:                     # a path the system refuses that no check above named
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        _say(f"lstm-explorer: {where}{exc.strerror or exc}; check the path and try again.")
        return EXIT_BAD_INPUT
    except MemoryError:
        _say("lstm-explorer: ran out of memory; use fewer units, a smaller batch, a shorter sequence length "
             "or a smaller file.")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _say("lstm-explorer: interrupted")
        return EXIT_INTERRUPTED
    return EXIT_OK


#: The longest name of one file or folder most file systems take, in bytes.
NAME_MAX = 255


def _check_path_lengths(args) -> None:
    """Refuse a path option whose name has a part longer than file systems take (255 bytes), in one
    sentence naming the option, before anything is read or trained."""
    for dest, flag, what in (("out", "--out", "a folder"), ("resume", "--resume", "a run folder"),
                             ("example", "--example", "an example's name (lstm-explorer examples lists them)"),
                             ("file", "FILE", "a data file"), ("init", "--init", "a model file"),
                             ("model", "--model", "a model file")):
        value = getattr(args, dest, None)
        if isinstance(value, str) and not value.strip():
            raise CliError(f"{flag} is empty; give {what}.")
    for dest, flag in (("out", "--out"), ("resume", "--resume"), ("file", "FILE"), ("init", "--init"),
                       ("model", "--model"), ("data_path", "--data-path")):
        value = getattr(args, dest, None)
        if not isinstance(value, (str, os.PathLike)) or not str(value):
            continue
        for part in Path(value).parts:
            if len(os.fsencode(part)) > NAME_MAX:
                raise CliError(f"{flag}: the name {part[:24]}… is {len(os.fsencode(part))} bytes long, more than "
                               f"the {NAME_MAX} a file or folder name can have; choose a shorter name.")


def _cmd_examples() -> int:
    from explorer.data.examples import list_examples

    for name, desc in list_examples(frames=True):
        print(f"{name:14s} {desc}")
    from explorer.data.examples import list_tree_examples

    for name, desc in list_tree_examples():
        print(f"{name:14s} {desc} (--cell treelstm or nary-treelstm)")
    return 0


#: Options that read a file's data; a built-in example brings its own.
FILE_DATA_OPTIONS = ("column", "target", "missing", "normalize", "text", "words", "year_month", "key", "vocab")


def _say_ignored_data_options(args, given: dict[str, str]) -> None:
    """One line naming the options that do nothing for this command (a data option with --example,
    --allow-changed-data without --resume), so nothing typed is silently dropped."""
    if args.example:
        ignored = [given[d] for d in FILE_DATA_OPTIONS if d in given]
        if "val_fraction" in given and args.example not in ("sine", "noisy-sine", "text"):
            ignored.append(given["val_fraction"])
        if ignored:
            _say(f"lstm-explorer: --example {args.example} brings its own data; ignoring "
                 f"{', '.join(sorted(set(ignored)))}.")
    elif "vocab" in given and not args.words:
        _say(f"lstm-explorer: {given['vocab']} is for --words; ignoring {given['vocab']}.")
    if getattr(args, "allow_changed_data", False) and not getattr(args, "resume", None):
        _say("lstm-explorer: --allow-changed-data is for --resume; ignoring --allow-changed-data.")


def _load_dataset(args):
    """The data the command line trains on: a built-in example, or a file through the one loader."""
    from explorer.app.ingest import load_dataset, load_example

    if args.example:
        over = {}
        if args.seq_len is not None:
            over["seq_len"] = args.seq_len
        if args.val_fraction is not None and args.example in ("sine", "noisy-sine", "text"):
            over["val_fraction"] = args.val_fraction
        return load_example(args.example, **over)
    cols = None
    if args.column:
        cols = [int(c) if c.lstrip("-").isdigit() else c for c in args.column]
    target = args.target
    if target is not None and target.lstrip("-").isdigit():
        target = int(target)
    key = int(args.key) if args.key is not None and args.key.isdigit() else args.key
    return load_dataset(args.file, columns=cols, target=target, missing=args.missing, normalize=args.normalize,
                        val_fraction=args.val_fraction, seq_len=args.seq_len,
                        level="word" if args.words else "char", text=True if (args.text or args.words) else None,
                        year_month=args.year_month, key=key,
                        **({"vocab": args.vocab} if args.vocab is not None else {}))


def _settings(args, example: str | None, kind: str | None = None):
    from explorer.runs.store import ModelSettings, settings_for_data, settings_for_example

    if kind is None:
        kind = "text" if getattr(args, "text", False) or getattr(args, "words", False) else "series"
    base = settings_for_example(example) if example else settings_for_data(kind)
    over = {k: getattr(args, a) for k, a in (("units", "units"), ("epochs", "epochs"), ("batch", "batch"),
                                             ("lr", "lr"), ("optimizer", "optimizer"), ("seed", "seed"),
                                             ("cell", "cell"), ("layers", "layers"),
                                             ("bidirectional", "bidirectional")) if hasattr(args, a)
            if getattr(args, a) is not None}
    if args.clip is not None:
        over["clip"] = args.clip if args.clip > 0 else None
    return ModelSettings(**{**base.__dict__, **over})


def describe_model(model) -> str:
    """One line: the cell, units, layers and directions, parameters per layer and in total."""
    from explorer.engine.describe import describe

    pc = model.param_count
    head = f"{pc.head} head" if not getattr(pc, "attention", 0) else f"{pc.attention} attention + {pc.head} head"
    title = describe(model.kind).title
    shape = f"{title[:1].upper()}{title[1:]} with {model.n_units} unit{'s' * (model.n_units != 1)}"
    if model.num_layers > 1 or model.bidirectional:
        shape += f", {model.num_layers} layer{'s' if model.num_layers > 1 else ''}"
        shape += ", bidirectional" if model.bidirectional else ""
        layers = " + ".join(f"{c} layer {k + 1}" for k, c in enumerate(pc.layers))
        return f"{shape}: {layers} + {head} = {pc.total} parameters"
    return f"{shape}: {pc.layer} layer + {head} = {pc.total} parameters"


def _check_out(out: Path, force: bool, flag: str = "--out", names=None, marker=None) -> None:
    """Refuse an --out that is a file, a non-empty folder (without --force; with it, one that is not
    a run folder), a folder whose own entries are links, or one that cannot be written, before
    anything is trained, leaving nothing behind. ``names``/``marker``: the files of what is
    written (a run's by default)."""
    from explorer.runs.folder import RunFileError, folder_state, probe_writable
    from explorer.runs.store import OPTIONAL_FILES, RUN_FILES

    if out.exists() and not out.is_dir():
        raise CliError(f"{flag} {out} is a file, not a folder.")
    try:
        if out.is_dir() and any(out.iterdir()):
            if not force:
                raise CliError(f"{flag} {out} is not empty; choose another folder or add --force.")
            state = folder_state(out, RUN_FILES + OPTIONAL_FILES if names is None else names,
                                 RUN_FILES if marker is None else marker)
            if state.kind == "other" and flag == "--out":     # (a --resume DIR that is none: Run.load says so)
                shown = ", ".join(state.foreign[:3]) + (", \u2026" if len(state.foreign) > 3 else "")
                raise CliError(f"{flag} {out} holds other things ({shown}) and is not a run folder; --force "
                               "replaces only a run, so choose an empty folder or a run folder.")
    except OSError as exc:
        raise CliError(f"{flag} {out} cannot be read: {exc.strerror or exc}.") from None
    except RunFileError as exc:
        raise CliError(str(exc)) from None
    try:
        probe_writable(out)
    except RunFileError as exc:
        raise CliError(f"{flag}: {exc}") from None


class _HeldFolder:
    """``with _HeldFolder(out):`` creates ``out`` if needed and holds its
    :class:`~explorer.runs.folder.WriterLock` for the whole command (one writer of a folder at a
    time; a refusal names the holder). A folder this made that holds nothing but the lock when the
    command ends (it was refused before writing) is removed again: a refusal leaves nothing."""

    def __init__(self, out: Path, flag: str = "--out"):
        self.out, self.flag, self.lock = Path(out), flag, None
        self.created = not self.out.exists() and not self.out.is_symlink()

    def __enter__(self):
        from explorer.runs.folder import RunFileError, WriterLock

        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self.lock = WriterLock(self.out)
        except RunFileError as exc:
            raise CliError(str(exc)) from None
        except OSError as exc:
            raise CliError(f"{self.flag} {self.out} cannot be made: {exc.strerror or exc}.") from None
        return self

    def __exit__(self, *exc):
        from explorer.runs.folder import LOCK

        self.lock.release()
        if self.created:
            try:
                if [e.name for e in os.scandir(self.out)] == [LOCK] and not (self.out / LOCK).is_symlink():
                    (self.out / LOCK).unlink()
                    self.out.rmdir()
            except OSError:
                pass
        return False


def _same_folder(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _cmd_compare(args, given: dict[str, str]) -> int:
    from explorer.cli import trees as tree_cli

    if _trees(tree_cli, args, given):
        return _tree_command(tree_cli.cmd_compare_trees, args, given)
    from explorer.figures.comparison_files import COMPARISON_FILES
    from explorer.runs.folder import RunFileError, WriterLock

    if args.pool:
        from explorer.cli.labelled import compare_pools

        return compare_pools(args)
    from explorer.cli import frames as frames_cli

    if frames_cli.wants_frames(args):
        return frames_cli.compare_frames_command(args, given)

    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    bad = [c for c in cells if c not in CELL_CHOICES]
    if bad or not cells:
        raise CliError(f"unknown cell {bad[0] if bad else '(none)'} in --cells; choose from {', '.join(CELL_CHOICES)}.")
    twice = [c for k, c in enumerate(cells) if c in cells[:k]]
    if twice:
        raise CliError(f"--cells names {twice[0]} twice; name each cell once.")
    for dest in ("channels", "kernel", "peephole", "loss", "layout"):
        if getattr(args, dest) is not None:
            raise CliError(f"--{dest} is for comparing ConvLSTMs; add --cell convlstm (and give frames) or leave "
                           f"--{dest} out.")
    if (args.file is None) == (args.example is None):
        raise CliError("give exactly one of FILE or --example NAME.")
    out = Path(args.out)
    from explorer.runs.store import OPTIONAL_FILES, RUN_FILES

    _check_out(out, args.force, names=COMPARISON_FILES + RUN_FILES + OPTIONAL_FILES, marker=COMPARISON_FILES[:2])
    try:                                   # one writer at a time: a train into DIR refuses this compare
        hold = WriterLock(out, create=False) if out.is_dir() else None
    except RunFileError as exc:
        raise CliError(str(exc)) from None
    try:
        return _compare_into(args, cells, out)
    finally:
        if hold is not None:
            hold.release()


def _compare_into(args, cells: list[str], out: Path) -> int:
    from explorer.app.compare import Comparison, compare_cells, format_table
    from explorer.figures.comparison_files import write_comparison
    from explorer.data import SequenceFileError

    try:
        settings = _settings(args, args.example)
        if args.seq_len is not None:                 # before reading a large file: training alone fits?
            from explorer.runs.store import check_settings_memory

            check_settings_memory(settings, args.seq_len)
        dataset = _load_dataset(args)
        settings = _settings(args, args.example, dataset.kind)
        Comparison(dataset, settings, cells).check_memory()      # each cell alone, then side by side
    except (SequenceFileError, ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    log = None if args.quiet else _say
    result = compare_cells(dataset, settings, cells, seeds=args.seeds, max_steps=args.max_steps,
                           target_loss=args.target_loss, eval_every=args.eval_every, log=log)
    return finish_comparison(format_table(result), partial(write_comparison, result), out, log)


def finish_comparison(table: str, write, out: Path, log) -> int:
    """Print a comparison's table, ``write(out)`` its files (a refusal: one sentence) and say so."""
    from explorer.runs.folder import RunFileError

    print(table)
    try:
        write(out)
    except RunFileError as exc:
        raise CliError(str(exc)) from None
    if log:
        log(f"wrote {out}")
    return 0


def _cmd_animate(args) -> int:
    """``animate RUN --out FILE``: the diagram stepping through one sample, one frame per timestep."""
    from explorer.data import SequenceFileError
    from explorer.figures.animation import AnimationError, animation_format
    from explorer.runs.store import Run, RunFileError

    out = Path(args.out)
    try:
        animation_format(out)
    except AnimationError as exc:
        raise CliError(f"--out {exc}") from None
    if out.is_dir():
        raise CliError(f"--out {out} is a folder; name the animation file to write, e.g. {out / 'cell.gif'}.")
    if not out.parent.is_dir():
        raise CliError(f"--out {out}: the folder {out.parent} does not exist; create it or choose another.")
    from explorer.app.frames_run import is_frames_run

    if is_frames_run(args.run):
        return _animate_frames(args, out)
    direction = 1 if args.direction in ("reverse", "1") else 0
    try:
        run = Run.load(args.run)
    except (SequenceFileError, RunFileError, ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    hold = _hold_run_folder_of(out)
    try:
        return _animate_into(args, run, out, direction)
    finally:
        if hold is not None:
            hold.release()


def _hold_run_folder_of(out: Path):
    """An animation written into a run folder holds that folder's lock while it writes (a train
    into the folder refuses it) and never takes one of the run's own names."""
    from explorer.runs.folder import RunFileError, WriterLock, folder_state
    from explorer.runs.store import OPTIONAL_FILES, RUN_FILES

    try:
        if folder_state(out.parent, RUN_FILES + OPTIONAL_FILES, RUN_FILES).kind != "run":
            return None
        if out.name in RUN_FILES + OPTIONAL_FILES or out.name.startswith(".") or out.is_symlink():
            raise CliError(f"--out {out} is one of the run's own files; name another file, e.g. "
                           f"{out.parent / 'cell.gif'}.")
        return WriterLock(out.parent)
    except RunFileError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"--out {out}: {exc.strerror or exc}.") from None


def _animate_into(args, run, out: Path, direction: int) -> int:
    from explorer.figures.animation import AnimationError, write_animation
    from explorer.util.ram import MemoryBudgetError
    from explorer.runs.store import RunFileError

    if args.epoch is not None and args.epoch not in run.epoch_weights():
        kept = run.epoch_weights()
        raise CliError(f"--epoch {args.epoch}: the run in {args.run} keeps the weights of "
                       + (f"epochs {_epoch_list(kept)}" if kept else "no epochs (it was saved before replay existed)")
                       + "; choose one of them.")

    def progress(done: int, total: int) -> None:
        if not args.quiet and sys.stderr.isatty():
            sys.stderr.write(f"\rframe {done}/{total}")
            sys.stderr.flush()

    try:
        path = write_animation(run, out, sample=args.sample, unit=args.unit, layer=args.layer, direction=direction,
                               fps=args.fps, epoch=args.epoch, progress=progress)
    except (AnimationError, MemoryBudgetError, RunFileError) as exc:
        raise CliError(str(exc).removeprefix("lstm-explorer: ")) from None
    finally:
        if not args.quiet and sys.stderr.isatty():
            sys.stderr.write("\n")
    if not args.quiet:
        from PIL import Image

        with Image.open(path) as im:
            frames, size = getattr(im, "n_frames", 1), im.size
        when = f", epoch {args.epoch}'s weights" if args.epoch is not None else ""
        _say(f"wrote {path}: {frames} frames of {size[0]}\u00d7{size[1]} pixels at {args.fps:g} per second "
             f"(sample {args.sample}, unit {args.unit}{when})")
    return 0


def _animate_frames(args, out: Path) -> int:
    """``animate RUN`` of a ConvLSTM run: input | prediction | true frame and the gates of channel
    ``--unit`` in layer ``--layer`` stepping through sample ``--sample``."""
    from explorer.app.convlstm_view import ConvLSTMView
    from explorer.app.frames_run import FramesRun
    from explorer.data import SequenceFileError
    from explorer.figures.animation import AnimationError
    from explorer.figures.convlstm_picture import write_convlstm_animation
    from explorer.util.ram import MemoryBudgetError
    from explorer.runs.store import RunFileError

    if args.epoch is not None:
        raise CliError("--epoch: a ConvLSTM run keeps its last weights only; leave --epoch out.")
    try:
        run = FramesRun.load(args.run)
        run.check_drawable(args.run)
        ds = run.dataset
        x, y, part = (ds.x_val, ds.y_val, "validation") if ds.n_val else (ds.x_train, ds.y_train, "training")
        if args.sample >= len(x):
            raise CliError(f"--sample {args.sample}: the run has {len(x)} {part} sequences; choose 0 to {len(x) - 1}.")
        view = ConvLSTMView(run.model, x[args.sample:args.sample + 1], y[args.sample:args.sample + 1], ds.loss)
        title = f"{Path(args.run).name} · {part} sequence {args.sample + 1}"
        path = write_convlstm_animation(view, out, title, channel=args.unit, layer=args.layer, fps=args.fps)
    except (SequenceFileError, RunFileError, AnimationError, MemoryBudgetError, ValueError, OSError) as exc:
        raise CliError(str(exc).removeprefix("lstm-explorer: ")) from None
    if not args.quiet:
        _say(f"wrote {path}: {view.T} frames at {args.fps:g} per second ({part} sequence {args.sample}, "
             f"channel {args.unit}, layer {args.layer})")
    return 0


def _epoch_list(epochs: list[int]) -> str:
    if len(epochs) <= 8:
        return ", ".join(map(str, epochs))
    return f"{', '.join(map(str, epochs[:4]))}, \u2026, {epochs[-1]}"


def _trees(tree_cli, args, given) -> bool:
    try:
        return tree_cli.wants_trees(args, given)
    except tree_cli.TreeCliError as exc:
        raise CliError(str(exc)) from None


def _tree_command(command, args, given) -> int:
    """A tree command of :mod:`explorer.cli.trees`, its refusals as one sentence (exit 2)."""
    from explorer.cli.trees import TreeCliError

    try:
        return command(args, given)
    except TreeCliError as exc:
        raise CliError(str(exc)) from None


def _cmd_train(args, given: dict[str, str]) -> int:
    if _labelled_request(args):
        from explorer.cli.labelled import train_labelled

        return train_labelled(args, given)
    from explorer.cli import trees as tree_cli

    if _trees(tree_cli, args, given):
        return _tree_command(tree_cli.cmd_train_trees, args, given)
    from explorer.runs.store import Run, RunFileError

    if _frames_requested(args):
        return _cmd_train_frames(args, given)
    if args.init and args.resume:
        raise CliError("--init starts a new run from a model file and --resume continues a run; give one of them.")
    if args.resume is None:
        if (args.file is None) == (args.example is None):
            raise CliError("give exactly one of FILE, --example NAME or --resume DIR.")
        if not args.out:
            raise CliError("--out DIR is required: the folder the run and its plots are written to.")
    in_place = args.resume is not None and (not args.out or _same_folder(args.out, args.resume))
    out = Path(args.resume) if in_place else Path(args.out)
    if in_place:
        if not out.is_dir():
            raise CliError(f"--resume {out} is not a run folder (it does not exist or is a file).")
        _check_out(out, True, "--resume")
    else:
        _check_out(out, args.force)
    from explorer.runs.folder import WriterLock

    try:                                   # one process writes a folder at a time
        hold = (WriterLock(out, then="continue with --resume" if in_place else "try again", create=in_place)
                if out.is_dir() else None)
    except RunFileError as exc:
        raise CliError(str(exc)) from None
    holds = [hold] if hold is not None else []
    try:
        return _train_into(args, given, run_cls=Run, out=out, in_place=in_place, holds=holds)
    finally:
        for h in holds:
            h.release()


FRAME_ONLY = {"channels": "--channels", "kernel": "--kernel", "peephole": "--peephole", "loss": "--loss",
              "layout": "--layout"}
FRAME_IGNORED = FILE_DATA_OPTIONS + ("bidirectional", "forecast", "units")


def _frames_requested(args) -> bool:
    """``--cell convlstm``, a frames example, or ``--resume`` of a ConvLSTM run."""
    from explorer.app.frames_run import is_frames_run
    from explorer.data.frames import FRAME_EXAMPLES

    if args.cell == "convlstm" or args.example in FRAME_EXAMPLES:
        return True
    if args.resume and is_frames_run(args.resume):
        return True
    for dest, flag in FRAME_ONLY.items():
        if getattr(args, dest, None) not in (None, False):
            raise CliError(f"{flag} is for the convlstm cell; add --cell convlstm (and give frames) or leave {flag} out.")
    return False


def _cmd_train_frames(args, given: dict[str, str]) -> int:
    """``train FRAMES --cell convlstm``: next-frame prediction into a run folder (resume, checkpoints)."""
    from explorer.runs.folder import RunFileError, WriterLock

    if args.init and args.resume:
        raise CliError("--init starts a new run from a model file and --resume continues a run; give one of them.")
    if args.resume is None and (args.file is None) == (args.example is None):
        raise CliError("give exactly one of FRAMES, --example NAME or --resume DIR.")
    if args.resume is None and not args.out:
        raise CliError("--out DIR is required: the folder the run is written to.")
    in_place = args.resume is not None and (not args.out or _same_folder(args.out, args.resume))
    out = Path(args.resume) if in_place else Path(args.out)
    _check_out(out, True if in_place else args.force, "--resume" if in_place else "--out")
    ignored = sorted(given[d] for d in FRAME_IGNORED if d in given)
    if args.units is not None and args.channels is None:
        ignored.remove("--units")
    if ignored:
        _say(f"lstm-explorer: the convlstm cell has no {', '.join(ignored)}; ignoring them.")
    try:                                   # one process trains into a folder at a time
        holds = [WriterLock(out)] if out.is_dir() else []
    except RunFileError as exc:
        raise CliError(str(exc)) from None
    try:
        return _train_frames_into(args, out, holds)
    finally:
        for h in holds:
            h.release()


def _train_frames_into(args, out: Path, holds: list) -> int:
    from dataclasses import asdict

    from explorer.app.frames_run import FramesRun, FrameSettings
    from explorer.data import SequenceFileError
    from explorer.data.frames import load_frames_dataset
    from explorer.runs.folder import RunFileError, WriterLock

    try:
        if args.resume:
            run = resume_run(FramesRun, args)
        else:
            from explorer.cli.frames import classes_requested, load_frame_classes_for

            if classes_requested(args):
                dataset = load_frame_classes_for(args)
            elif args.example:
                from explorer.app.ingest import load_example

                over = {k: v for k, v in (("seq_len", args.seq_len), ("val_fraction", args.val_fraction),
                                          ("loss", args.loss)) if v is not None}
                dataset = load_example(args.example, **over)
            else:
                dataset = load_frames_dataset(args.file, seq_len=args.seq_len, val_fraction=args.val_fraction,
                                              loss=args.loss or "mse", layout=args.layout)
            base = FrameSettings()
            over = {k: v for k, v in (("channels", args.channels if args.channels is not None else args.units),
                                      ("kernel", args.kernel), ("layers", args.layers), ("peephole", args.peephole or None),
                                      ("optimizer", args.optimizer), ("lr", args.lr), ("epochs", args.epochs),
                                      ("batch", args.batch), ("seed", args.seed)) if v is not None}
            if args.clip is not None:
                over["clip"] = args.clip if args.clip > 0 else None
            if over.get("kernel", base.kernel) % 2 == 0:
                raise CliError(f"--kernel must be odd ('same' padding keeps the frame size), not {over['kernel']}.")
            settings = FrameSettings(**{**asdict(base), **over})
            run = _frames_run_from_model(args, dataset, settings) if args.init else FramesRun(dataset, settings)
            run.save(out)
            if not holds:
                holds.append(WriterLock(out))   # a --resume of DIR meanwhile is refused
    except (SequenceFileError, RunFileError, ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    ds, tr = run.dataset, run.trainer
    if not args.quiet:
        for note in ds.notes:
            _say(note)
        _say(ds.describe())
        _say(f"{run.model.describe()}; {tr.steps_per_epoch} steps per epoch")
    saved = {"step": tr.step}
    status = _train_loop(run, args, out, saved)
    from explorer.cli.frames import classes_plot_writer, classes_summary

    writer = classes_plot_writer(run) if run.classes else _frames_picture_writer(run, out.name)
    try:
        run.save(out, extra=None if args.no_plots else writer)
    except RunFileError as exc:
        raise CliError(f"the final save at step {tr.step} failed ({exc}); {out} keeps the checkpoint of step "
                       f"{saved['step']}.") from None
    if not args.quiet and tr.history and run.classes:
        _say(classes_summary(run))
    elif not args.quiet and tr.history:
        base, pred = run.scores.get(tr.epoch, (math.nan, math.nan))
        part = "validation" if ds.n_val else "training"
        _say(f"next-frame MSE on the {part} sequences: {pred:.4g}; copying the last frame: {base:.4g}")
    if status == EXIT_INTERRUPTED:
        _say(f"lstm-explorer: interrupted after step {tr.step}; the run so far is saved in {out} "
             f"(continue with: lstm-explorer train --resume {shlex.quote(str(out))}).")
    elif not args.quiet:
        _say(f"wrote {out}")
    return status


def _frames_picture_writer(run, name: str):
    """Writes picture.png and picture.svg into the run's new version: the first validation sequence
    (else training) at its last step, channel 1 of layer 1 (the window's picture)."""
    def write(folder: Path) -> None:
        from explorer.app.convlstm_view import ConvLSTMView
        from explorer.figures.animation import _ensure_gui_app
        from explorer.figures.convlstm_picture import render_png, render_svg

        _ensure_gui_app()
        ds = run.dataset
        x, y, part = (ds.x_val, ds.y_val, "validation") if ds.n_val else (ds.x_train, ds.y_train, "training")
        view = ConvLSTMView(run.model, x[:1], y[:1], ds.loss)
        title = f"{name} · {part} sequence 1 · step {view.T} of {view.T}"
        im, vmax = view.at(view.T - 1), view.state_range()
        if not render_png(folder / "picture.png", im, title, vmax):
            raise OSError(28, "the picture could not be written (is the disk full?)", str(folder / "picture.png"))
        render_svg(folder / "picture.svg", im, title, vmax)
    return write


def _frames_run_from_model(args, dataset, settings):
    """``train FRAMES --cell convlstm --init MODEL``: fine-tune a ConvLSTM file's weights (safetensors,
    Keras ConvLSTM2D, a run's model.npz) on FRAMES; its sizes must fit the frames."""
    from dataclasses import replace

    from explorer.app.frames_run import FramesRun
    from explorer.interop import load_model

    loaded = load_model(args.init, n_outputs=dataset.n_outputs, seed=settings.seed)
    m = loaded.model
    if m.kind != "convlstm":
        raise CliError(f"--init {args.init} holds {loaded.describe().split(': ', 1)[-1].rstrip('.')}, not a ConvLSTM; "
                       "give a ConvLSTM's weights or leave --init out.")
    for option, asked, held in (("--channels", args.channels, m.n_units), ("--kernel", args.kernel, m.kernel),
                                ("--layers", args.layers, m.num_layers)):
        if asked is not None and asked != held:
            raise CliError(f"--init {args.init} holds {held} for {option[2:]} but {option} {asked} asks for another "
                           f"model; leave {option} out to fine-tune the file's model.")
    if (m.n_inputs, m.n_outputs) != (dataset.n_inputs, dataset.n_outputs):
        raise CliError(f"--init {args.init} reads {m.n_inputs} channel(s) and writes {m.n_outputs}, but the frames "
                       f"have {dataset.n_inputs}; give frames with {m.n_inputs} channel(s).")
    if m.frame is not None and m.frame != dataset.frame:
        raise CliError(f"--init {args.init} has peepholes for {m.frame[0]}×{m.frame[1]} frames, but the frames are "
                       f"{dataset.frame[0]}×{dataset.frame[1]}.")
    settings = replace(settings, channels=m.n_units, kernel=m.kernel, layers=m.num_layers, peephole=m.peephole)
    if not args.quiet:
        _say(loaded.message)
    return FramesRun(dataset, settings, model=m)


def _labelled_request(args) -> bool:
    """A file or example of labelled sequences, or a flag only they take (``--label``, ``--pool``, ``--task``)."""
    from explorer.data.examples import LABELLED_EXAMPLES
    from explorer.data.labelled import looks_labelled

    from explorer.data.frames import FRAME_EXAMPLES

    if args.cell == "convlstm" or args.example in FRAME_EXAMPLES:       # frames take --label themselves
        return False
    if args.resume is not None:
        from explorer.app.labelled import is_labelled_run

        if is_labelled_run(args.resume):
            return True
        if args.pool or args.label or args.task:
            raise CliError("--resume continues a run of a series or text; --label, --pool and --task start a new "
                           "run of labelled sequences, so give them without --resume.")
        return False
    return bool(args.pool or args.label or args.task or args.example in LABELLED_EXAMPLES
                or (args.file and looks_labelled(args.file)))


def _train_into(args, given: dict[str, str], run_cls, out: Path, in_place: bool, holds: list) -> int:
    from explorer.data import SequenceFileError
    from explorer.runs.store import RunFileError, check_settings_memory

    Run = run_cls  # noqa: N806 - the class, as in _cmd_train
    try:
        if args.resume:
            run = resume_run(Run, args)
            ignored = [flag for dest, flag in given.items() if dest not in RESUME_OPTIONS]
            if ignored:
                _say(f"lstm-explorer: --resume continues with the run's own settings; ignoring "
                     f"{', '.join(sorted(ignored))}.")
        else:
            if args.seq_len is not None and not args.init:   # before reading a large file: training alone fits?
                check_settings_memory(_settings(args, args.example), args.seq_len)
            _say_ignored_data_options(args, given)
            dataset = _load_dataset(args)
            run = (_run_from_model(args, dataset) if args.init
                   else Run(dataset, _settings(args, args.example, dataset.kind)))
        if getattr(args, "stop_at_loss", None) is not None and run.dataset.n_val == 0:
            raise CliError("--stop-at-loss watches the validation loss, and this run has no validation part; "
                           "set --val-fraction above 0 or leave --stop-at-loss out.")
        if not in_place:
            run.save(out)                  # the first checkpoint: from now on --resume works on DIR
            if not holds:
                from explorer.runs.folder import WriterLock

                holds.append(WriterLock(out))   # a --resume of DIR meanwhile is refused
    except (SequenceFileError, RunFileError, ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    # From here on DIR holds a checkpoint of this run (the one it was resumed from, or the first):
    # a failure keeps it and says so -- "nothing left at --out" is for refusals before training.
    ds, tr = run.dataset, run.trainer
    saved = {"step": tr.step}
    if not args.quiet:
        _say(f"{ds.describe()}")
        _say(f"{describe_model(run.model)}; {tr.steps_per_epoch} steps per epoch")
        if getattr(tr, "sampler", None) is not None:
            _say(tr.sampler.describe())
    status = _train_loop(run, args, out, saved)
    try:
        run.save(out, extra=None if args.no_plots else _plot_writer(run, args.forecast))
    except RunFileError as exc:
        reason = str(exc).split("; ")[0].rstrip(".")
        reason = reason[:1].lower() + reason[1:]
        raise CliError(f"the final save at step {tr.step} failed ({reason}); {out} keeps the checkpoint of step "
                       f"{saved['step']} (continue from it with: lstm-explorer train --resume "
                       f"{shlex.quote(str(out))}).") from None
    if status == EXIT_INTERRUPTED:
        _say(f"lstm-explorer: interrupted after step {tr.step}; the run so far is saved in {out} "
             f"(continue with: lstm-explorer train --resume {shlex.quote(str(out))}).")
    elif not args.quiet:
        _say(f"wrote {out}")
    return status


def resume_run(run_cls, args):
    """``train --resume DIR``: ``run_cls.load`` of DIR (FILE: its data's new place), planned
    ``--epochs`` more; a run that finished its epochs without ``--epochs`` is refused."""
    run = run_cls.load(args.resume, data_path=args.file, allow_changed_data=args.allow_changed_data)
    tr = run.trainer
    if args.epochs is not None:
        tr.extend(args.epochs)
    elif tr.epoch >= tr.epochs:
        raise CliError(f"the run in {args.resume} has finished its {tr.epochs} epochs; add --epochs E to train E more.")
    return run


def _run_from_model(args, dataset):
    """``train --init MODEL``: a run on ``dataset`` starting from MODEL's weights (sizes checked)."""
    from explorer.interop import load_model, run_for_model

    settings = _settings(args, args.example, dataset.kind)
    loaded = load_model(args.init, n_outputs=dataset.n_outputs, seed=settings.seed)
    model = loaded.model
    for option, asked, held in (("--units", args.units, model.n_units), ("--cell", args.cell, model.kind),
                                ("--layers", getattr(args, "layers", None), loaded.num_layers)):
        if asked is not None and asked != held:
            raise CliError(f"--init {args.init} holds {held} for {option[2:]} but {option} {asked} asks "
                           f"for another model; leave {option} out to fine-tune the file's model.")
    if getattr(args, "bidirectional", False) and not loaded.bidirectional:
        raise CliError(f"--init {args.init} holds a model of one direction but --bidirectional asks for "
                       "two; leave --bidirectional out to fine-tune the file's model.")
    run = run_for_model(loaded, dataset, settings)
    if not args.quiet:
        _say(loaded.message)
        val = run.trainer.val_loss()
        if val is not None and not math.isnan(val):
            _say(f"validation loss of the file's weights, before fine-tuning: {val:.4g} ({run.loss_units})")
    return run


def _plot_writer(run, forecast: int):
    """Writes every plot into the new version of the run folder (so plots and run switch together);
    the gradient norms' numbers are the run's history chunks, not a CSV again."""
    def write(folder: Path) -> None:
        from explorer.figures.report import export_run_plots

        for path in export_run_plots(run, folder, forecast=forecast, history_csv=False):
            if not path.is_file() or path.stat().st_size == 0:
                raise OSError(28, "the plot could not be written (is the disk full?)", str(path))
    return write


class StopRequest:
    """SIGINT/SIGTERM while training: ``state`` is asked to stop (the step under way is abandoned,
    the weights are those after the last whole step), the run is saved, exit 130. A second signal
    stops at once (the folder keeps its last complete checkpoint)."""

    def __init__(self, state):
        self.state = state
        self.previous = {}

    @property
    def requested(self) -> bool:
        return self.state.is_interruption_requested()

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self._handle)
            except ValueError:               # not the main thread: no handlers, Ctrl+C stops at once
                pass
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.state.request_interruption()

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


def _train_loop(run, args, out: Path, saved: dict) -> int:
    """Train with the one training task (:func:`explorer.app.tasks.train_task`, the window's) on
    the command line's state: signals stop it, a progress printer follows every step."""
    from explorer.app.checkpoint import CheckpointPolicy
    from explorer.app.tasks import TaskState, train_task

    tr = run.trainer
    bar = _Progress(tr, quiet=args.quiet)
    warned = []

    def on_partial(value) -> None:
        if isinstance(value, tuple) and value[0] == "message" and not warned:
            bar.close()
            _say("lstm-explorer: checkpoint failed, training goes on: " + value[1].removeprefix("Autosave failed: "))
            warned.append(value)

    def checkpoint() -> None:
        if tr.epoch < tr.epochs:             # the final save follows at once
            run.save(out)
            saved["step"] = tr.step

    state = TaskState(on_partial=on_partial)
    cadence = EvalCadence()             # --eval-every's validation losses: not training
    with StopRequest(state):
        result = train_task(state, tr, emit_interval=1.0, checkpoint=checkpoint, policy=CheckpointPolicy(),
                            stop_at_loss=args.stop_at_loss, eval_every=args.eval_every or 0, cadence=cadence,
                            on_step=bar.update, final_trace=False, catch_errors=False)
    bar.close()
    status = {"stopped": EXIT_INTERRUPTED, "diverged": EXIT_DIVERGED}.get(result.reason, EXIT_OK)
    if result.reason == "diverged":
        _say(f"lstm-explorer: {result.message}")
    if not args.quiet:
        last = tr.history[-1] if tr.history else None
        msg = f"{tr.step} steps in {result.seconds:.1f} s of training"
        if last is not None and not math.isnan(last["val_loss"]):
            msg += f"; last epoch: train {last['train_loss']:.4g}, validation {last['val_loss']:.4g} ({run.loss_units})"
        _say(msg)
        if cadence.done:
            _say(cadence.summary(run.dataset.n_val))
        if args.stop_at_loss is not None:
            reached = result.reached
            if reached:
                _say(f"validation loss {reached[2]:.4g} < {args.stop_at_loss:g} at step {reached[0]} "
                     f"after {reached[1]:.1f} s of training")
            else:
                _say(f"validation loss did not go below {args.stop_at_loss:g} within {tr.step} steps")
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


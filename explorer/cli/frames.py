"""``lstm-explorer compare FRAMES --cell convlstm``: ConvLSTMs of several shapes on the same frames.

    lstm-explorer compare (FRAMES | --example moving-squares|moving-digits) --cell convlstm
                          [--channels F[,F…]] [--kernel K[,K…]] [--peephole no|yes|no,yes] [--layers L]
                          [--loss mse|bce] [--seeds S] [--max-steps N] [--eval-every N] --out DIR

Every combination of the listed channels, kernels and peephole choices (default: 8 channels,
kernels 1 and 3, no peepholes) trains with S seeds; the table adds copying the last frame. DIR
gets frames_comparison.csv, frames_comparison_seeds.csv and prediction_mse_curves.png/.svg/.csv
(:mod:`explorer.figures.frames_comparison`), written as one new version under the folder's
writer lock.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

#: Options of ``compare`` a ConvLSTM comparison uses; any other given is named as ignored.
FRAMES_COMPARE_OPTIONS = {"command", "file", "example", "cell", "channels", "kernel", "peephole", "layers", "loss",
                          "layout", "seq_len", "val_fraction", "optimizer", "lr", "clip", "batch", "seed", "seeds",
                          "max_steps", "eval_every", "out", "force", "quiet"}
DEFAULT_CHANNELS, DEFAULT_KERNELS = "8", "1,3"
#: compare's budget when not given: a ConvLSTM step costs far more than a small LSTM's.
FRAMES_DEFAULTS = {"seeds": 2, "max_steps": 300, "eval_every": 25}


def wants_frames(args) -> bool:
    """``compare --cell convlstm`` or a frames example."""
    from explorer.data.frames import FRAME_EXAMPLES

    return getattr(args, "cell", None) == "convlstm" or args.example in FRAME_EXAMPLES


def _list(flag: str, text: str, parse) -> list:
    items = [t.strip() for t in str(text).split(",")]
    if not all(items):
        from explorer.cli.command import CliError

        raise CliError(f"{flag} {text!r} has an empty item; give values separated by commas, e.g. {flag} 1,3.")
    return [parse(t) for t in items]


def _peephole(text: str) -> bool:
    from explorer.cli.command import CliError

    if text not in ("no", "yes"):
        raise CliError(f"--peephole takes no, yes or both as no,yes, not {text[:20]!r}.")
    return text == "yes"


def compare_frames_command(args, given: dict[str, str]) -> int:
    from explorer.cli.command import CliError, _check_out, _HeldFolder, _say
    from explorer.figures.frames_comparison import FRAMES_COMPARISON_FILES
    from explorer.runs.options import BY_DEST

    if (args.file is None) == (args.example is None):
        raise CliError("give exactly one of FRAMES or --example NAME.")
    if classes_requested(args):
        raise CliError("compare --cell convlstm compares next-frame prediction; frames with one label per sequence "
                       "train with: lstm-explorer train FRAMES --cell convlstm --out DIR.")
    channels = _list("--channels", args.channels or DEFAULT_CHANNELS,
                     lambda t: BY_DEST["channels"].parse(t, "--channels"))
    kernels = _list("--kernel", args.kernel or DEFAULT_KERNELS, lambda t: BY_DEST["kernel"].parse(t, "--kernel"))
    peepholes = _list("--peephole", args.peephole or "no", _peephole)
    ignored = sorted(flag for dest, flag in given.items() if dest not in FRAMES_COMPARE_OPTIONS)
    if ignored and not args.quiet:
        _say(f"lstm-explorer: a ConvLSTM comparison has no {', '.join(ignored)}; ignoring them.")
    from explorer.app.frames_compare import frame_variants

    try:
        variants = frame_variants(channels, kernels, (args.layers or 1,), peepholes)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    for dest, value in FRAMES_DEFAULTS.items():
        if dest not in given:
            setattr(args, dest, value)
    out = Path(args.out)
    _check_out(out, args.force, names=FRAMES_COMPARISON_FILES, marker=FRAMES_COMPARISON_FILES[:1])
    with _HeldFolder(out):
        return _compare_into(args, variants, out)


def _dataset(args):
    from explorer.data.frames import FRAME_EXAMPLES, load_frames_dataset

    if args.example:
        if args.example not in FRAME_EXAMPLES:
            from explorer.cli.command import CliError

            raise CliError(f"--example {args.example} is not frames; choose {' or '.join(FRAME_EXAMPLES)}, or "
                           "leave --cell convlstm out.")
        from explorer.data.examples import load_example

        over = {k: v for k, v in (("seq_len", args.seq_len), ("val_fraction", args.val_fraction),
                                  ("loss", args.loss)) if v is not None}
        return load_example(args.example, **over)
    return load_frames_dataset(args.file, seq_len=args.seq_len, val_fraction=args.val_fraction,
                               loss=args.loss or "mse", layout=args.layout)


def _compare_into(args, variants: list, out: Path) -> int:
    from dataclasses import replace

    from explorer.app.frames_compare import compare_frames, format_frames_table
    from explorer.app.frames_run import FrameSettings
    from explorer.cli.command import CliError, _say, finish_comparison
    from explorer.data import SequenceFileError
    from explorer.figures.frames_comparison import write_frames_comparison

    base = FrameSettings()
    over = {k: v for k, v in (("optimizer", args.optimizer), ("lr", args.lr), ("batch", args.batch),
                              ("seed", args.seed)) if v is not None}
    if args.clip is not None:
        over["clip"] = args.clip if args.clip > 0 else None
    base = replace(base, **over)
    log = None if args.quiet else _say
    try:
        dataset = _dataset(args)
        if log:
            for note in dataset.notes:
                log(note)
            log(dataset.describe())
        result = compare_frames(dataset, base, variants, seeds=args.seeds, max_steps=args.max_steps,
                                eval_every=args.eval_every, log=log)
    except (SequenceFileError, ValueError) as exc:
        raise CliError(str(exc)) from None
    return finish_comparison(format_frames_table(result), partial(write_frames_comparison, result), out, log)


# -- train FRAMES --cell convlstm on whole-sequence classes ------------------------------------------
def classes_requested(args) -> bool:
    """``--label``, a classes example, or a ``.npz`` holding its own ``labels``."""
    from explorer.data.frames import CLASS_EXAMPLES, npz_has_labels

    return bool(args.label or args.example in CLASS_EXAMPLES or (args.file and npz_has_labels(args.file)))


def load_frame_classes_for(args):
    """The classes dataset ``train`` asks for (options of next-frame prediction refused by name)."""
    from explorer.cli.command import CliError
    from explorer.data.frames import CLASS_EXAMPLES, load_frame_classes

    for dest, flag in (("loss", "--loss"), ("seq_len", "--seq-len")):
        if getattr(args, dest) is not None:
            raise CliError(f"{flag} is for next-frame prediction; whole-sequence classes use every frame and "
                           "cross-entropy, so leave it out.")
    if args.example:
        if args.example not in CLASS_EXAMPLES:
            raise CliError(f"--label is for frames with one label per sequence; --example {args.example} predicts "
                           "the next frame, so leave --label out.")
        from explorer.data.examples import load_example

        return load_example(args.example, **({} if args.val_fraction is None else {"val_fraction": args.val_fraction}))
    return load_frame_classes(args.file, args.label, args.val_fraction, args.layout)


def classes_plot_writer(run):
    """Writes confusion and accuracy (PNG, SVG, CSV) into the run's new version (labelled runs' plots)."""
    def write(folder: Path) -> None:
        from explorer.figures.labelled import export_labelled_plots

        for path in export_labelled_plots(run, folder):
            if not path.is_file() or path.stat().st_size == 0:
                raise OSError(28, "the plot could not be written (is the disk full?)", str(path))
    return write


def classes_summary(run) -> str:
    """``validation accuracy 97.5% (always answering the commonest training class: 25.0%)``."""
    ds = run.dataset
    part = "validation" if ds.n_val else "training"
    acc = run.trainer.history[-1].get("val_accuracy" if ds.n_val else "train_accuracy", float("nan"))
    return f"{part} accuracy {acc:.1%} (always answering the commonest training class: {ds.majority_accuracy():.1%})"


__all__ = ["FRAMES_COMPARE_OPTIONS", "classes_plot_writer", "classes_requested", "classes_summary",
           "compare_frames_command", "load_frame_classes_for", "wants_frames"]

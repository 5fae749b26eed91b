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
    from explorer.cli.command import CliError, _say
    from explorer.data import SequenceFileError
    from explorer.figures.frames_comparison import write_frames_comparison
    from explorer.runs.folder import RunFileError

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
    print(format_frames_table(result))
    try:
        write_frames_comparison(result, out)
    except RunFileError as exc:
        raise CliError(str(exc)) from None
    if log:
        log(f"wrote {out}")
    return 0


__all__ = ["FRAMES_COMPARE_OPTIONS", "compare_frames_command", "wants_frames"]

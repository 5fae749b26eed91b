"""The numeric options and their allowed ranges: ONE table used by the command line's parser, by the
checks of a run's saved settings and by README's option table (no Qt, no NumPy).

Every value outside its range is refused with one sentence naming the option and the range, e.g.
``--lr must be a number greater than 0 and at most 10, not '0'.``
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class OptionError(ValueError):
    """A value outside its option's range; the message is one sentence."""


@dataclass(frozen=True)
class NumericOption:
    """One numeric option: ``flag`` on the command line, ``dest`` in the parsed arguments and in the
    run's settings, whole number or not, and the range [low, high] (ends open where marked)."""

    flag: str
    dest: str
    integer: bool
    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    commands: tuple = ("train", "compare")
    metavar: str = "N"
    help: str = ""
    note: str = ""              # what a special value means, e.g. "0 turns clipping off"

    def describe(self, cap: bool = True) -> str:
        """The allowed range in words: ``a whole number from 1 to 100000`` (without the upper end
        when ``cap`` is False)."""
        kind = "a whole number" if self.integer else "a number"
        low, high = _fmt(self.low), _fmt(self.high)
        if math.isinf(self.high) or not cap:
            kind = "a whole number" if self.integer else "a finite number"
            return f"{kind} greater than {low}" if self.low_open else f"{kind} of at least {low}"
        if not self.low_open and not self.high_open:
            return f"{kind} from {low} to {high}"
        lo = f"greater than {low}" if self.low_open else f"at least {low}"
        hi = f"below {high}" if self.high_open else f"at most {high}"
        return f"{kind} {lo} and {hi}"

    def help_text(self) -> str:
        note = f"; {self.note}" if self.note else ""
        return f"{self.help}: {self.describe()}{note}"

    def refuse(self, value, where: str | None = None) -> OptionError:
        name = where or self.flag
        note = f" ({self.note})" if self.note else ""
        return OptionError(f"{name} must be {self.describe()}{note}, not {_show(value)}.")

    def parse(self, value, where: str | None = None, cap: bool = True):
        """``value`` (text from the command line, or a number from a settings file) as an int or a
        float inside the range; raises :class:`OptionError` otherwise. ``cap=False`` checks the type
        and the lower end only (a saved run made through the Python API may exceed the command
        line's caps; memory is checked separately)."""
        if isinstance(value, bool) or value is None:
            raise self.refuse(value, where)
        if isinstance(value, str):
            text = value.strip()
            if not text.isascii() or "_" in text:     # "1_0", Arabic-Indic digits: Python reads them, people do not
                raise self.refuse(value, where)
            try:
                number = int(text) if self.integer else float(text)
            except ValueError:
                raise self.refuse(value, where) from None
        elif isinstance(value, int):
            number = value if self.integer else float(value)
        elif isinstance(value, float):
            if self.integer:
                if not (math.isfinite(value) and value.is_integer()):
                    raise self.refuse(value, where)
                number = int(value)
            else:
                number = value
        else:
            try:                                     # NumPy scalars
                number = int(value) if self.integer else float(value)
            except (TypeError, ValueError, OverflowError):
                raise self.refuse(value, where) from None
        if not self.integer and not math.isfinite(number):
            raise self.refuse(value, where)
        below = number <= self.low if self.low_open else number < self.low
        above = cap and (number >= self.high if self.high_open else number > self.high)
        if below or above:
            raise self.refuse(value, where)
        return number


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "∞"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:g}"


def _show(value) -> str:
    text = value if isinstance(value, str) else repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    from explorer.runs.folder import safe_name

    return f"'{safe_name(text)}'"


#: Every numeric option of ``train`` and ``compare``. The parser adds them from here, the checks
#: read them from here and README's "Allowed values" table is this table (a test keeps them equal).
NUMERIC_OPTIONS: tuple[NumericOption, ...] = (
    NumericOption("--units", "units", True, 1, 100_000, help="hidden units per layer"),
    NumericOption("--layers", "layers", True, 1, 16, help="stacked recurrent layers"),
    NumericOption("--channels", "channels", True, 1, 1024, commands=("train",), metavar="F",
                  help="convlstm: feature maps (channels) per layer"),
    NumericOption("--kernel", "kernel", True, 1, 15, commands=("train",), metavar="K",
                  help="convlstm: the odd kernel size K×K ('same' padding)"),
    NumericOption("--seq-len", "seq_len", True, 1, 100_000, metavar="L", help="sequence length (window)"),
    NumericOption("--epochs", "epochs", True, 1, 1_000_000, metavar="E",
                  help="epochs to train (with --resume: more epochs)"),
    NumericOption("--batch", "batch", True, 1, 100_000, metavar="B", help="mini-batch size"),
    NumericOption("--lr", "lr", False, 0, 10, low_open=True, metavar="X", help="learning rate"),
    NumericOption("--clip", "clip", False, 0, 1e6, metavar="X", help="clip the global gradient norm",
                  note="0 turns clipping off"),
    NumericOption("--val-fraction", "val_fraction", False, 0, 0.9, high_open=True, metavar="F",
                  help="share of the data kept for validation"),
    NumericOption("--seed", "seed", True, 0, 2**32 - 1, metavar="S", help="random seed"),
    NumericOption("--vocab", "vocab", True, 2, 10_000_000, help="words kept with --words (the most frequent; "
                  "the rest read as <unk>)", note="10000 when not given"),
    NumericOption("--forecast", "forecast", True, 0, 10_000, commands=("train",),
                  help="free-running forecast steps (series)"),
    NumericOption("--eval-every", "eval_every", True, 1, 1_000_000_000,
                  help="validation loss every N steps"),
    NumericOption("--stop-at-loss", "stop_at_loss", False, 0, math.inf, low_open=True, commands=("train",),
                  metavar="X", help="stop once the validation loss is below X"),
    NumericOption("--seeds", "seeds", True, 1, 100, commands=("compare",), metavar="K",
                  help="seeds 0..K-1 for every cell"),
    NumericOption("--max-steps", "max_steps", True, 1, 1_000_000_000, commands=("compare",),
                  help="training steps per cell and seed"),
    NumericOption("--target-loss", "target_loss", False, 0, math.inf, low_open=True, commands=("compare",),
                  metavar="X", help="the validation loss a cell must reach"),
    NumericOption("--sample", "sample", True, 0, 1_000_000_000, commands=("animate",), metavar="S",
                  help="the sample drawn (validation, else training)"),
    NumericOption("--unit", "unit", True, 0, 99_999, commands=("animate",), metavar="U",
                  help="the unit drawn"),
    NumericOption("--layer", "layer", True, 0, 15, commands=("animate",), metavar="L",
                  help="the layer drawn (0: the input's)"),
    NumericOption("--epoch", "epoch", True, 0, 1_000_000, commands=("animate",), metavar="E",
                  help="replay the weights kept at the end of epoch E", note="0 is before training"),
    NumericOption("--fps", "fps", False, 0, 100, low_open=True, commands=("animate",), metavar="X",
                  help="frames (timesteps) per second"),
)

BY_DEST = {o.dest: o for o in NUMERIC_OPTIONS}
BY_FLAG = {o.flag: o for o in NUMERIC_OPTIONS}


def check_args(args, command: str) -> None:
    """Parse and range-check every numeric option present in ``args`` (an argparse namespace) in
    place; values left at None (not given) stay None. Raises :class:`OptionError`."""
    for opt in NUMERIC_OPTIONS:
        if command in opt.commands and getattr(args, opt.dest, None) is not None:
            setattr(args, opt.dest, opt.parse(getattr(args, opt.dest)))


def markdown_table() -> str:
    """README's table of allowed values (``tests/test_readme.py`` checks README holds exactly this)."""
    rows = ["| option | allowed values | commands |", "|---|---|---|"]
    for o in NUMERIC_OPTIONS:
        note = f"; {o.note}" if o.note else ""
        rows.append(f"| `{o.flag} {o.metavar}` | {o.describe()}{note} | {', '.join(o.commands)} |")
    return "\n".join(rows)

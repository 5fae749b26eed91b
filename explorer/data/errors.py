"""The one exception the data package raises for bad input, and the one way messages name files."""

from __future__ import annotations

import os
import unicodedata

from explorer.util.ram import MemoryBudgetError
from explorer.util.ram import check_budget as _check_budget


class SequenceFileError(ValueError):
    """A data file (or data setting) cannot be used; the message says why and what to do."""


class ProseFileError(SequenceFileError):
    """The file reads as prose, not numbers: open it in text mode (:func:`load_text`)."""


class DataMemoryError(SequenceFileError, MemoryBudgetError):
    """Data that would not fit in memory: both a SequenceFileError and a MemoryBudgetError."""


def check_budget(needed: float, what: str, advice: str) -> None:
    """:func:`explorer.util.ram.check_budget` raising :class:`DataMemoryError`, so that loaders
    keep raising ``SequenceFileError`` only."""
    try:
        _check_budget(needed, what, advice)
    except MemoryBudgetError as exc:
        raise DataMemoryError(str(exc)) from None


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def safe_text(text) -> str:
    """A name that is not a path (a column, a tensor, a token) as every message prints it: its
    control characters escaped like :func:`safe_name`'s, and whole (``km/h`` stays ``km/h``)."""
    return safe_name(text, full=True)


def safe_name(path, full: bool = False) -> str:
    """A file's name as every message prints it: control and format characters escaped.

    A file may be called ``"a\\x1b[2Jb.csv"`` or carry bytes that are not UTF-8 (decoded by
    Python as lone surrogates); printed raw, such a name clears a terminal or cannot be printed
    at all. Every message of the data package (and the command line's) names files through this
    function: ``"a\\x1b[2Jb.csv"`` → ``a\\x1b[2Jb.csv`` (a backslash escape, visible and inert;
    newline, carriage return and tab as ``\\n``, ``\\r``, ``\\t``). ``full`` keeps the whole text
    (a path, or a whole message) instead of the last part of a path.
    """
    try:
        text = os.fspath(path)
    except TypeError:
        text = str(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not full:
        stripped = text.rstrip("/" + os.sep)
        base = os.path.basename(stripped)
        text = base or stripped or text
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] != "C":
            out.append(ch)
            continue
        code = ord(ch)
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif 0xDC80 <= code <= 0xDCFF:        # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)

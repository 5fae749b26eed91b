"""Turning what a person opened into a dataset (no Qt): the window and the command line share it."""

from __future__ import annotations

from pathlib import Path

import re

from explorer.data import (PROSE_THRESHOLD, Dataset, ProseFileError, SequenceFileError, load_sequence,
                           load_text, make_windows, text_windows)
from explorer.data.examples import load_example

TEXT_SUFFIXES = {".txt", ".text", ".md", ".rst", ""}


def load_dataset(path, columns=None, target=None, missing="interpolate", normalize="zscore",
                 val_fraction=0.2, seq_len=20, level="char", text=None, **_ignored) -> Dataset:
    """Load ``path`` as a series, or as prose for next-token prediction.

    ``text=None`` decides by the file: numbers when at least 90 % of the lines parse as
    numbers, otherwise (for .txt-like files) prose. Raises ``SequenceFileError`` only.
    """
    path = str(path)
    if text is None:
        try:
            seq = load_sequence(path, columns=columns, target=target, missing=missing)
        except ProseFileError:
            if Path(path).suffix.lower() not in TEXT_SUFFIXES:
                raise
            text = True
        except SequenceFileError:
            if Path(path).suffix.lower() not in TEXT_SUFFIXES or not looks_like_prose(path):
                raise
            text = True
        else:
            return make_windows(seq, seq_len=seq_len, val_fraction=val_fraction, normalize=normalize)
    if text:
        corpus = load_text(path, level=level)
        return text_windows(corpus, seq_len=seq_len, val_fraction=min(val_fraction, 0.5) or 0.1)
    seq = load_sequence(path, columns=columns, target=target, missing=missing)
    return make_windows(seq, seq_len=seq_len, val_fraction=val_fraction, normalize=normalize)


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^(na|nan|n/a|null|)$", re.I)


def looks_like_prose(path, limit: int = 256 * 1024) -> bool:
    """The stated rule: a file is prose when fewer than 90 % of its non-empty lines are numbers
    (fields split on commas, semicolons, tabs or spaces). Unreadable files are not prose."""
    try:
        with open(path, "rb") as fh:
            text = fh.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return False
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return False
    numeric = sum(all(_NUMBER.match(f.strip()) for f in re.split(r"[,;\t ]+", ln)) for ln in lines)
    return numeric < PROSE_THRESHOLD * len(lines)


def example_dataset(name: str, **overrides) -> Dataset:
    return load_example(name, **overrides)

"""Turning what a person opened into a dataset (no Qt): the window and the command line share it."""

from __future__ import annotations

from pathlib import Path

from explorer.data import (Dataset, ProseFileError, load_sequence, load_text, make_windows,
                           text_windows)
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
        else:
            return make_windows(seq, seq_len=seq_len, val_fraction=val_fraction, normalize=normalize)
    if text:
        corpus = load_text(path, level=level)
        return text_windows(corpus, seq_len=seq_len, val_fraction=min(val_fraction, 0.5) or 0.1)
    seq = load_sequence(path, columns=columns, target=target, missing=missing)
    return make_windows(seq, seq_len=seq_len, val_fraction=val_fraction, normalize=normalize)


def example_dataset(name: str, **overrides) -> Dataset:
    return load_example(name, **overrides)

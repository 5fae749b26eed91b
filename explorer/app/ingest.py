"""THE dataset loader (no Qt): the window and the command line both turn a file into a dataset here.

``load_dataset(source, **options)`` decides between a series and prose with the data package's
own rule (:data:`explorer.data.PROSE_THRESHOLD`), applies the same defaults everywhere and raises
:class:`~explorer.data.SequenceFileError` only (one sentence; a
:class:`~explorer.util.ram.MemoryBudgetError` is one too).
"""

from __future__ import annotations

from pathlib import Path

from explorer.data import (Dataset, ProseFileError, SequenceFileError, describe_file, load_sequence, load_text,
                           make_windows, safe_name)
from explorer.data.dataset import SERIES_VAL_FRACTION, TEXT_VAL_FRACTION
from explorer.data.examples import load_example
from explorer.data.vocab import VOCAB_CAP, word_windows

#: Files that may hold prose: with ``text=None`` they are read as text when they are not numbers.
TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".rst", ""})

#: Every option :func:`load_dataset` takes, with its default.
DEFAULT_OPTIONS = {
    "columns": None,          # input columns by name or 0-based index; None: the default target alone
    "target": None,           # the predicted column among them (alone: the only input); None: the last chosen
    "missing": "interpolate",  # or "drop"
    "normalize": "zscore",    # or "minmax", "none"
    "val_fraction": None,     # None: 0.2 for a series, 0.1 for a text
    "seq_len": None,          # None: 20 rows / 25 tokens, or the longest that fits a short file
    "level": "char",          # text: "char" or "word"
    "text": None,             # None: decide by the file; True: prose; False: numbers
    "year_month": "series",   # a YEAR × JAN…DEC table as one monthly series, or "columns"
    "key": None,              # the column naming a long table's series; None: guessed; "none": one series
    "vocab": VOCAB_CAP,       # words: the most frequent kept, the rest read as <unk>; None: every word
}


def load_dataset(source, **options) -> Dataset:
    """Load ``source`` (a file path) as a series, or as prose for next-token prediction.

    Options (all optional, see :data:`DEFAULT_OPTIONS`): ``columns``, ``target``, ``missing``,
    ``normalize``, ``val_fraction``, ``seq_len``, ``level``, ``text``, ``year_month``, ``key``, ``vocab``.
    ``text=None`` decides by the file: a ``.txt``-like file (:data:`TEXT_SUFFIXES`) is prose
    when fewer than 90 % of its lines are numbers (the loader's own check), a CSV/TSV/NPY is
    always numbers. Raises ``SequenceFileError`` only.
    """
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise SequenceFileError(
            f"There is no data option {unknown[0]!r}; the options are {', '.join(DEFAULT_OPTIONS)}.")
    o = {**DEFAULT_OPTIONS, **options}
    text = o["text"]
    if text is None:
        try:
            seq = _sequence(source, o)
        except ProseFileError:
            if Path(str(source)).suffix.lower() not in TEXT_SUFFIXES:
                raise
            text = True
        else:
            return _series_windows(seq, o)
    if text:
        corpus = load_text(source, level=o["level"])
        f = TEXT_VAL_FRACTION if o["val_fraction"] is None else o["val_fraction"]
        return word_windows(corpus, o["vocab"], seq_len=o["seq_len"], val_fraction=f)
    return _series_windows(_sequence(source, o), o)


def _sequence(source, o):
    return load_sequence(source, columns=o["columns"], target=o["target"], missing=o["missing"],
                         year_month=o["year_month"], key=o["key"])


def _series_windows(seq, o) -> Dataset:
    f = SERIES_VAL_FRACTION if o["val_fraction"] is None else o["val_fraction"]
    return make_windows(seq, seq_len=o["seq_len"], val_fraction=f, normalize=o["normalize"])


__all__ = ["DEFAULT_OPTIONS", "TEXT_SUFFIXES", "describe_file", "load_dataset", "load_example", "safe_name"]

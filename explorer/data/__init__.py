"""Data for LSTM Explorer: load series and text, cut them into training windows, built-in examples.

NumPy and the standard library only (no Qt). Every problem with input raises
:class:`SequenceFileError` (a ``ValueError``) with a one-sentence message.
"""

from .dataset import NORMALIZE_METHODS, Dataset, Normalizer, dataset_from_config, make_windows, text_windows
from .errors import ProseFileError, SequenceFileError
from .examples import example_path, list_examples, load_example
from .errors import safe_name
from .loading import (
    MAX_ABS_VALUE,
    FileInfo,
    describe_file,
    MAX_FILE_BYTES,
    PROSE_THRESHOLD,
    SequenceData,
    TextCorpus,
    load_sequence,
    load_text,
)

__all__ = [
    "MAX_FILE_BYTES",
    "NORMALIZE_METHODS",
    "PROSE_THRESHOLD",
    "Dataset",
    "Normalizer",
    "SequenceData",
    "SequenceFileError",
    "ProseFileError",
    "TextCorpus",
    "dataset_from_config",
    "example_path",
    "list_examples",
    "load_example",
    "load_sequence",
    "load_text",
    "make_windows",
    "text_windows",
]

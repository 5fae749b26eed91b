"""The one exception the data package raises for bad input."""

from __future__ import annotations


class SequenceFileError(ValueError):
    """A data file (or data setting) cannot be used; the message says why and what to do."""


class ProseFileError(SequenceFileError):
    """The file reads as prose, not numbers: open it in text mode (:func:`load_text`)."""

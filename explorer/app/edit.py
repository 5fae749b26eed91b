"""Editing the selected sample's input (no Qt): what the "Edit input" dock does to the numbers.

An edited input is an :class:`~explorer.app.source.Edit` held by the session
(:meth:`explorer.app.session.Session.set_edit`); it is part of the source of what is drawn, so the
trace, the diagram, the predictions of the sample and the connectivity are computed from it by the
same display request as any sample, labelled "sample 3 (edited)".

- A series: :func:`drag_point` sets one value, :func:`draw_stretch` sets a stretch along a line
  drawn with the mouse (linear between the points drawn), :func:`paste_values` writes pasted values
  (comma, space, semicolon or newline separated) into a column from a step on.
- A text: :func:`tokenise` reads typed text with the dataset's vocabulary (characters or words);
  a character or word the vocabulary lacks is read as ``<unk>`` when the vocabulary has it, else
  refused in one sentence. The text keeps the sample's length.

The target of an edited input is the sample's, except for next-token text, where every step's
target is the next token of the edited text (:func:`edited_pair`). :func:`append_sample` adds an
edited input to the dataset's validation part in memory.

Every refusal is an :class:`EditError` of one sentence.

>>> x = input_of(run.dataset, 3)
>>> drag_point(x, t=5, column=0, value=1.5)[5, 0]
1.5
"""

from __future__ import annotations

import re

import numpy as np

from .source import Edit, Source
from .tasks import sample_of

__all__ = ["EditError", "MAX_PASTE_CHARS", "append_sample", "draw_stretch", "drag_point", "edited_pair",
           "input_of", "is_text", "make_edit", "parse_values", "paste_values", "text_of", "tokenise"]

#: The longest pasted text read (longer is refused unread).
MAX_PASTE_CHARS = 2_000_000
UNK = "<unk>"
_SEP = re.compile(r"[,;\s]+")
_WORD_RE = re.compile(r"\w+|[^\w\s]")


class EditError(ValueError):
    """An edit that cannot be applied (its message is one sentence saying what to do)."""


def is_text(dataset) -> bool:
    """Whether the dataset's inputs are tokens of a vocabulary (ids or one-hot rows)."""
    return dataset.kind == "text" and dataset.vocab is not None


def input_of(dataset, sample: int) -> np.ndarray:
    """A writable copy of ``sample``'s input without the batch axis: (T,) token ids or (T, m)."""
    x, _ = sample_of(dataset, sample)
    return np.array(x[0], copy=True)


def make_edit(x, label: str = "edited") -> Edit:
    """The :class:`Edit` holding ``x`` (copied, read-only)."""
    return Edit(np.asarray(x), label)


def edited_pair(dataset, source: Source) -> tuple:
    """The input (1, T, …) and target of ``source``: its edit's input when it has one, with the
    sample's target (for next-token text, the edited text's next tokens and the sample's last)."""
    x, y = sample_of(dataset, source.sample)
    if source.edit is None:
        return x, y
    xe = np.asarray(source.edit.x)[None]
    if xe.shape[0:1] + xe.shape[2:] != x.shape[0:1] + x.shape[2:]:
        raise EditError(f"the edited input has shape {xe.shape[1:]} but this model reads {x.shape[1:]}; "
                        "reset the edit.")
    if is_text(dataset) and y.ndim == 2 and y.shape[1] == xe.shape[1]:
        ids = xe if xe.ndim == 2 else xe.argmax(axis=-1)
        y = np.concatenate([ids[:, 1:], y[:, -1:]], axis=1).astype(y.dtype)
    return xe, y


# -- series ----------------------------------------------------------------------------------------
def _check_column(x: np.ndarray, column: int) -> int:
    if x.ndim == 1:
        raise EditError("this sample's input is text, not values; edit it by typing.")
    if x.ndim != 2:
        raise EditError("this sample's input is not one row of values per step, so it cannot be edited here.")
    if not 0 <= int(column) < x.shape[1]:
        raise EditError(f"there is no input column {int(column) + 1}; choose one of 1–{x.shape[1]}.")
    return int(column)


def drag_point(x: np.ndarray, t: int, column: int, value: float) -> np.ndarray:
    """A copy of ``x`` (T, m) with ``x[t, column] = value``."""
    col = _check_column(x, column)
    if not np.isfinite(value):
        raise EditError("a value must be a finite number; drag the point inside the plot.")
    out = np.array(x, copy=True)
    out[min(max(int(t), 0), len(out) - 1), col] = float(value)
    return out


def draw_stretch(x: np.ndarray, column: int, points) -> np.ndarray:
    """A copy of ``x`` (T, m) whose ``column`` follows the line through ``points`` ((t, value) pairs
    in the order drawn, t in steps) at every whole step between the first and last t drawn."""
    col = _check_column(x, column)
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    p = p[np.isfinite(p).all(axis=1)]
    if not len(p):
        raise EditError("nothing was drawn; drag across the plot to draw a stretch.")
    order = np.argsort(p[:, 0], kind="stable")
    ts, vs = p[order, 0], p[order, 1]
    T = len(x)
    lo, hi = max(int(np.ceil(ts[0])), 0), min(int(np.floor(ts[-1])), T - 1)
    out = np.array(x, copy=True)
    if hi < lo:                                   # a click: the nearest step
        k = min(max(int(round(ts[0])), 0), T - 1)
        out[k, col] = vs[0]
        return out
    steps = np.arange(lo, hi + 1)
    out[steps, col] = np.interp(steps, ts, vs)
    return out


def parse_values(text: str, limit: int | None = None) -> np.ndarray:
    """The numbers in ``text`` (separated by commas, semicolons, spaces or newlines), float64; more
    than ``limit`` of them are refused before any is read."""
    if len(text) > MAX_PASTE_CHARS:
        raise EditError(f"the pasted text has {len(text):,} characters, more than {MAX_PASTE_CHARS:,}; "
                        "paste at most one sample's values.")
    parts = [p for p in _SEP.split(text.strip()) if p]
    if not parts:
        raise EditError("there are no values to paste; paste numbers separated by commas, spaces or newlines.")
    if limit is not None and len(parts) > limit:
        raise EditError(f"{len(parts)} values were pasted, far more than the input holds; "
                        "paste one sample's values.")
    out = np.empty(len(parts))
    for k, p in enumerate(parts):
        try:
            out[k] = float(p)
        except ValueError:
            shown = p if len(p) <= 20 else p[:20] + "…"
            raise EditError(f"value {k + 1} ({shown!r}) is not a number; paste numbers separated by "
                            "commas, spaces or newlines.") from None
        if not np.isfinite(out[k]):
            raise EditError(f"value {k + 1} ({p!r}) is not a finite number; paste finite numbers only.")
    return out


def paste_values(x: np.ndarray, text: str, column: int, start: int = 0) -> np.ndarray:
    """A copy of ``x`` (T, m) with the values pasted in ``text`` written into ``column`` from step
    ``start`` on; T × m values (whole rows, in order) replace the whole input."""
    _check_column(x, column)
    T, m = x.shape
    v = parse_values(text, limit=2 * T * m)       # far more than the input holds: refused unread
    if m > 1 and len(v) == T * m:
        return v.reshape(T, m).astype(x.dtype)
    start = min(max(int(start), 0), T - 1)
    if len(v) > T - start:
        raise EditError(f"{len(v)} values were pasted but only {T - start} steps follow step {start + 1}; "
                        f"paste at most {T - start}" + (f" (or {T * m} for every column)." if m > 1 else "."))
    out = np.array(x, copy=True)
    out[start:start + len(v), int(column)] = v
    return out


# -- text ------------------------------------------------------------------------------------------
def _level(dataset) -> str:
    corpus = getattr(dataset, "corpus", None)
    return corpus.level if corpus is not None else "char"


def text_of(dataset, x: np.ndarray) -> str:
    """The text of an input (token ids (T,) or one-hot rows (T, V)): characters joined, words
    with a space."""
    ids = x if x.ndim == 1 else x.argmax(axis=-1)
    sep = "" if _level(dataset) == "char" else " "
    return sep.join(dataset.vocab[int(i)] for i in ids)


def tokenise(dataset, text: str, length: int, like: np.ndarray | None = None) -> np.ndarray:
    """The input of typed ``text`` in the dataset's vocabulary: token ids (T,), or one-hot rows
    when ``like`` (the sample's input) is one-hot. It must have ``length`` tokens; a token the
    vocabulary lacks becomes ``<unk>`` when there is one, else the text is refused."""
    level = _level(dataset)
    if len(text) > MAX_PASTE_CHARS:
        raise EditError(f"the text has {len(text):,} characters, more than {MAX_PASTE_CHARS:,}; "
                        "type one sample's text.")
    tokens = list(text) if level == "char" else _WORD_RE.findall(text)
    what = "characters" if level == "char" else "words"
    if len(tokens) != int(length):
        raise EditError(f"the sample has {int(length)} {what} and the text has {len(tokens)}; "
                        f"type over the text to keep {int(length)} {what}.")
    index = {tok: k for k, tok in enumerate(dataset.vocab)}
    unk = index.get(UNK)
    ids = np.empty(len(tokens), np.int64)
    for k, tok in enumerate(tokens):
        j = index.get(tok, unk)
        if j is None:
            shown = {"\n": "\\n", "\t": "\\t"}.get(tok, tok)
            raise EditError(f"the {what[:-1]} {shown!r} (at {k + 1}) is not in the model's vocabulary; "
                            f"use only {what} of the training text.")
        ids[k] = j
    if like is not None and like.ndim == 2:
        onehot = np.zeros((len(ids), like.shape[1]), dtype=like.dtype)
        onehot[np.arange(len(ids)), ids] = 1
        return onehot
    return ids.astype(like.dtype if like is not None else np.int64)


# -- saving ----------------------------------------------------------------------------------------
def append_sample(dataset, source: Source) -> int:
    """Append the edited input of ``source`` (with its target, :func:`edited_pair`) to the
    dataset's validation part in memory; returns its sample index."""
    if source.edit is None:
        raise EditError("the input is not edited; edit it before saving it as a new sample.")
    if not dataset.n_val:
        raise EditError("this dataset has no validation part to add a sample to; "
                        "load it with a validation fraction above 0.")
    x, y = edited_pair(dataset, source)
    if dataset.kind == "series":                 # its target sits at the row of the sample it was made from
        rows = dataset.target_rows()
        dataset.val_rows = np.append(rows, rows[min(source.sample, len(rows) - 1)])
    dataset.x_val = np.concatenate([dataset.x_val, x.astype(dataset.x_val.dtype)])
    dataset.y_val = np.concatenate([dataset.y_val, y.astype(dataset.y_val.dtype)])
    lengths = getattr(dataset, "lengths_val", None)
    if lengths is not None:
        dataset.lengths_val = np.concatenate([lengths, lengths[min(source.sample, len(lengths) - 1)][None]])
    return int(dataset.n_val) - 1

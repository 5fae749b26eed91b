"""A cap on a word vocabulary: the most frequent words, every other one read as one unknown token.

Next-word prediction costs a softmax over the whole vocabulary at every step and a head of
vocabulary × units parameters, so a word-level text of many rare words grows with text × vocabulary.
:func:`cap_vocabulary` keeps the ``cap − 1`` most frequent words (ties: the earlier in sorted order)
and maps every other word to :data:`UNK`, so the vocabulary is at most ``cap``. Word splitting
(``\\w+`` or one punctuation mark) never makes ``<unk>`` from a text, so it names no real word.
"""

from __future__ import annotations

import numpy as np

from .errors import SequenceFileError
from .loading import TextCorpus

#: The words kept by default (``--vocab`` on the command line, ``vocab`` in :func:`load_dataset`).
VOCAB_CAP = 10_000
#: The token every word beyond the cap becomes.
UNK = "<unk>"


def cap_vocabulary(corpus: TextCorpus, cap: int = VOCAB_CAP) -> tuple[TextCorpus, str]:
    """``(corpus, note)``: ``corpus`` itself when it has at most ``cap`` distinct tokens (note
    ""), else a new corpus of its ``cap − 1`` most frequent tokens and :data:`UNK` (the vocabulary
    sorted, ids as long as the text), and a note saying how many words and how much of the text
    became ``<unk>``."""
    if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or cap < 2:
        raise SequenceFileError(f"The vocabulary cap must be a whole number of at least 2, not {str(cap)[:40]!r}; "
                                "give the number of words to keep.")
    cap = int(cap)
    V = corpus.vocab_size
    if V <= cap:
        return corpus, ""
    counts = np.bincount(corpus.ids, minlength=V)
    order = np.lexsort((np.arange(V), -counts))          # most frequent first, ties by sorted word
    keep = np.sort(order[:cap - 1])
    words = sorted([corpus.vocab[i] for i in keep.tolist()] + [UNK])
    index = {w: i for i, w in enumerate(words)}
    lut = np.full(V, index[UNK], dtype=np.int64)
    lut[keep] = [index[corpus.vocab[i]] for i in keep.tolist()]
    ids = lut[corpus.ids]
    unknown = int(np.count_nonzero(ids == index[UNK]))
    share = 100.0 * unknown / max(1, ids.size)
    note = (f"vocabulary capped at the {cap - 1:,} most frequent of {V:,} words; the other {V - cap + 1:,} "
            f"({share:.1f} % of the text) read as {UNK} (--vocab N to change)")
    return TextCorpus(vocab=words, ids=ids, path=corpus.path, level=corpus.level, index=index), note


def word_windows(corpus: TextCorpus, cap: int | None = VOCAB_CAP, **windows):
    """:func:`~explorer.data.dataset.text_windows` of a corpus with its vocabulary capped at
    ``cap`` (word level only; None: no cap). The cap goes into the data config (``vocab``), so the
    run is rebuilt with the same ids, and the note into the dataset's description."""
    from .dataset import text_windows

    if corpus.level != "word" or cap is None:
        return text_windows(corpus, **windows)
    corpus, note = cap_vocabulary(corpus, cap)
    ds = text_windows(corpus, **windows)
    ds.config["vocab"] = int(cap)
    if note:
        ds.notes.append(note)
    return ds


__all__ = ["VOCAB_CAP", "UNK", "cap_vocabulary", "word_windows"]

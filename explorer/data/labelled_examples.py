"""Built-in examples of labelled sequences where attention is visibly right.

- ``find-the-marker``: sequences of 20–40 steps of two inputs (a value and a marker); the marker
  is 1 at one step, and the class is the sign of the value at that step (``negative`` /
  ``positive``): every other value is noise, so the model has to look at the marked step. With
  ``task="regression"`` the target is the marked value itself (MSE).
- ``sentiment``: short sentences of neutral words with one word that decides the label (``pos``
  / ``neg``: *good*, *great*, … or *bad*, *awful*, …), as words.
"""

from __future__ import annotations

import numpy as np

from .labelled import UNKNOWN, LabelledDataset

NEUTRAL = ("the", "a", "movie", "film", "story", "was", "is", "actors", "plot", "music", "and", "very",
           "quite", "this", "that", "ending", "scenes", "we", "saw", "it", "really", "all", "of", "in")
POSITIVE = ("good", "great", "wonderful", "lovely", "superb")
NEGATIVE = ("bad", "awful", "boring", "dull", "terrible")


def find_the_marker(n: int, min_len: int, max_len: int, rng: np.random.Generator):
    """x (n, max_len, 2) zero past each end, lengths (n,), classes (n,), marker steps (n,)."""
    lengths = rng.integers(min_len, max_len + 1, size=n)
    values = rng.uniform(-1.0, 1.0, size=(n, max_len))
    marks = (rng.uniform(size=n) * lengths).astype(np.int64)
    x = np.zeros((n, max_len, 2))
    real = np.arange(max_len)[None, :] < lengths[:, None]
    x[:, :, 0] = np.where(real, values, 0.0)
    x[np.arange(n), marks, 1] = 1.0
    y = (values[np.arange(n), marks] > 0).astype(np.int64)
    return x, lengths.astype(np.int64), y, marks


def marker_dataset(p: dict) -> LabelledDataset:
    rng = np.random.default_rng(int(p["seed"]))
    lo, hi = int(p["min_len"]), int(p["max_len"])
    x_tr, l_tr, y_tr, m_tr = find_the_marker(int(p["n_train"]), lo, hi, rng)
    x_va, l_va, y_va, m_va = find_the_marker(int(p["n_val"]), lo, hi, rng)
    common = dict(kind="labelled", source="find-the-marker", columns=["value", "marker"], seq_len=hi,
                  lengths_train=l_tr, lengths_val=l_va, val_source="generated apart")
    if p.get("task", "classes") == "regression":
        sd = 1.0 / np.sqrt(3.0)                       # σ of the uniform values: the target z-scored
        marked = [x[np.arange(len(x)), m, 0][:, None] / sd for x, m in ((x_tr, m_tr), (x_va, m_va))]
        ds = LabelledDataset(x_train=x_tr, y_train=marked[0], x_val=x_va, y_val=marked[1], loss="mse", task="regression",
                             label_name="value at the marker", target_std=sd, **common)
    else:
        ds = LabelledDataset(x_train=x_tr, y_train=y_tr, x_val=x_va, y_val=y_va, loss="cross_entropy", task="classes",
                             class_names=["negative", "positive"], n_classes=2, label_name="sign at the marker",
                             **common)
    ds.marker_train, ds.marker_val = m_tr, m_va
    return ds


def sentences(n: int, rng: np.random.Generator):
    """n sentences (word lists), their labels (``pos``/``neg``) and the deciding word's place."""
    texts, labels, places = [], [], []
    for _ in range(n):
        words = list(rng.choice(NEUTRAL, size=int(rng.integers(4, 12))))
        pos = bool(rng.integers(2))
        at = int(rng.integers(len(words) + 1))
        words.insert(at, str(rng.choice(POSITIVE if pos else NEGATIVE)))
        texts.append([str(w) for w in words])
        labels.append("pos" if pos else "neg")
        places.append(at)
    return texts, labels, np.array(places, dtype=np.int64)


def sentiment_dataset(p: dict) -> LabelledDataset:
    rng = np.random.default_rng(int(p["seed"]))
    tr, ltr, ptr = sentences(int(p["n_train"]), rng)
    va, lva, pva = sentences(int(p["n_val"]), rng)
    vocab = [UNKNOWN] + sorted({w for s in tr for w in s})
    index = {w: k for k, w in enumerate(vocab)}

    def ids(texts):
        lengths = np.array([len(s) for s in texts], dtype=np.int64)
        x = np.zeros((len(texts), int(lengths.max())), dtype=np.int64)
        for i, s in enumerate(texts):
            x[i, :len(s)] = [index.get(w, 0) for w in s]
        return x, lengths

    x_tr, l_tr = ids(tr)
    x_va, l_va = ids(va)
    T = max(x_tr.shape[1], x_va.shape[1])
    x_tr, x_va = (np.pad(a, ((0, 0), (0, T - a.shape[1]))) for a in (x_tr, x_va))
    names = ["neg", "pos"]
    ds = LabelledDataset(x_train=x_tr, y_train=np.array([names.index(v) for v in ltr]), x_val=x_va,
                         y_val=np.array([names.index(v) for v in lva]), loss="cross_entropy", kind="labelled",
                         source="sentiment", columns=["text"], seq_len=T, vocab=vocab, lengths_train=l_tr,
                         lengths_val=l_va, task="classes", class_names=names, n_classes=2, label_name="sentiment",
                         val_source="generated apart", level="word")
    ds.marker_train, ds.marker_val = ptr, pva
    return ds


__all__ = ["NEGATIVE", "NEUTRAL", "POSITIVE", "find_the_marker", "marker_dataset", "sentences", "sentiment_dataset"]

"""The worked example of seed 003 ("Understand LSTM from Scratch"): its LSTM, its weights, its slips.

An LSTM of 3 units reads the one-hot words "the cat sat on the" (vocabulary the, cat, sat, on,
dog) and predicts the next word at every step (the sixth word, which the article leaves blank,
is taken to be "dog": the one word of the vocabulary the sentence does not use). Every weight is
the article's as printed for t = 1 — W, U and b of the forget gate, the input gate, the candidate
and the output gate — and the output layer is its W_p, b_p. The article silently changes W_i,
U_i and b_i at t = 2; an LSTM uses the same weights at every step, so the t = 1 ones are used
throughout (:data:`WEIGHTS_NOTE` says so wherever the example is shown).

The article's arithmetic has slips. :func:`notes` returns, for a timestep, sentences that put
what the article prints beside what its own weights give — computed here from the weights, never
copied (:func:`t1_sums`); ``tests/test_worked_example.py`` checks them against the engine's trace.

No Qt here; no engine either (the data layer): the arithmetic below is the four lines of the
article's equations in NumPy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["VOCAB", "SENTENCE", "NEXT_WORDS", "ARTICLE_WEIGHTS", "ARTICLE_T2_INPUT_GATE", "HEAD",
           "ARTICLE_PRINTED_T1", "WEIGHTS_NOTE", "TRAINED_NOTE", "is_preset", "state_dict", "inputs", "targets", "t1_sums", "t1_values",
           "notes", "dataset"]

VOCAB = ("the", "cat", "sat", "on", "dog")
SENTENCE = ("the", "cat", "sat", "on", "the")
NEXT_WORDS = ("cat", "sat", "on", "the", "dog")

# The article's weights as printed at t = 1: W (3 × 5, one column per word), U (3 × 3), b (3).
ARTICLE_WEIGHTS = {
    "f": (((-0.1, 0.2, -0.3, 0.1, -0.2), (-0.3, 0.1, 0.2, 0.1, 0.3), (0.2, 0.1, -0.2, -0.3, -0.1)),
          ((0.2, -0.1, 0.1), (-0.2, -0.1, -0.2), (0.1, -0.3, 0.2)),
          (0.1, -0.2, 0.3)),
    "i": (((-0.4, 0.2, 0.1, -0.2, 0.3), (-0.3, 0.2, 0.1, -0.3, 0.2), (0.1, -0.3, -0.1, 0.3, 0.2)),
          ((0.2, -0.1, 0.1), (-0.2, -0.1, -0.2), (0.1, -0.3, 0.2)),
          (-0.1, -0.2, 0.3)),
    "g": (((0.1, 0.3, 0.2, 0.4, -0.2), (0.2, 0.4, -0.1, -0.2, 0.1), (-0.2, 0.1, -0.4, -0.1, 0.3)),
          ((-0.3, 0.2, -0.1), (0.2, -0.2, 0.1), (-0.1, -0.1, -0.3)),
          (0.1, -0.1, 0.2)),
    "o": (((0.3, 0.1, -0.2, 0.1, -0.4), (0.2, 0.1, -0.3, 0.2, -0.1), (0.1, -0.1, 0.2, 0.1, 0.3)),
          ((0.1, 0.1, -0.1), (0.2, -0.3, -0.2), (0.1, -0.1, 0.2)),
          (0.2, 0.3, 0.1)),
}
# What the article uses for the input gate from t = 2 on (not used here; quoted by the note).
ARTICLE_T2_INPUT_GATE = (((-0.2, 0.3, -0.1, -0.3, 0.2), (-0.1, -0.2, -0.2, 0.2, 0.1), (0.1, 0.3, -0.2, -0.1, -0.1)),
                         ((-0.2, 0.1, 0.1), (0.1, -0.2, -0.2), (-0.3, -0.1, 0.1)),
                         (-0.2, 0.1, 0.1))
# The output layer p = softmax(h W_p + b_p): W_p (3 × 5), b_p (5).
HEAD = (((-0.007, 0.366, -0.155, -0.223, -0.110), (0.126, -0.009, -0.130, 0.246, 0.155),
         (-0.057, 0.170, -0.070, -0.212, -0.091)),
        (0.083, -0.139, 0.017, -0.022, 0.061))

# What the article prints at t = 1: (the sum inside the activation, the result) per gate, and c_1, h_1.
ARTICLE_PRINTED_T1 = {
    "f": ((-0.1, 0.3, -0.1), (0.475, 0.574, 0.475)),
    "i": ((-0.1, 0.3, 0.3), (0.475, 0.574, 0.475)),
    "g": ((0.11, 0.26, -0.01), (0.110, 0.254, -0.010)),
    "o": ((0.1, 0.5, 0.3), (0.524, 0.622, 0.574)),
    "c": (None, (0.052, 0.146, -0.005)),
    "h": (None, (0.058, 0.157, -0.003)),
}
# Its prediction after t = 2: the h_2 it uses and the scores it prints for h_2 W_p + b_p.
ARTICLE_PRINTED_P2 = ((0.159, 0.163, -0.144), (-0.008, 0.173, -0.167, -0.290, 0.037))

WEIGHTS_NOTE = ("Weights: seed 003's as printed for t = 1, at every step. The article silently uses "
                "other W_i, U_i and b_i for the input gate from t = 2 on; an LSTM applies the same "
                "weights at every step, so its numbers from t = 2 differ from these.")

_SIGMA, _MINUS = "\u03c3", "\u2212"


def _arrays(gate: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    W, U, b = ARTICLE_WEIGHTS[gate]
    return np.array(W, dtype=np.float64), np.array(U, dtype=np.float64), np.array(b, dtype=np.float64)


def state_dict() -> dict:
    """The example's weights in torch's names (gate blocks i, f, g, o; ``bias_hh_l0`` zero) and
    the head: ``head.weight`` = W_pᵀ (5 × 3), ``head.bias`` = b_p."""
    blocks = [_arrays(g) for g in ("i", "f", "g", "o")]
    Wp, bp = HEAD
    return {
        "weight_ih_l0": np.concatenate([W for W, _, _ in blocks]),
        "weight_hh_l0": np.concatenate([U for _, U, _ in blocks]),
        "bias_ih_l0": np.concatenate([b for _, _, b in blocks]),
        "bias_hh_l0": np.zeros(12),
        "head.weight": np.array(Wp, dtype=np.float64).T.copy(),
        "head.bias": np.array(bp, dtype=np.float64),
    }


def inputs() -> np.ndarray:
    """The sentence as one-hot rows, (1, 5, 5) float64."""
    return np.eye(len(VOCAB))[[VOCAB.index(w) for w in SENTENCE]][None]


def targets() -> np.ndarray:
    """The next word at every step, (1, 5) int64 ids."""
    return np.array([[VOCAB.index(w) for w in NEXT_WORDS]], dtype=np.int64)


def t1_sums() -> dict:
    """W x_1 + U h_0 + b of every gate at t = 1 ("the": column 0 of W; h_0 = 0), from the weights."""
    x = inputs()[0, 0]
    h0 = np.zeros(3)
    out = {}
    for gate in ("f", "i", "g", "o"):
        W, U, b = _arrays(gate)
        out[gate] = W @ x + U @ h0 + b
    return out


def t1_values() -> dict:
    """Every quantity of t = 1 from :func:`t1_sums`: the gates, c_1 = f ⊙ c_0 + i ⊙ g, h_1 = o ⊙ tanh(c_1)."""
    z = t1_sums()
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    v = {"f": sig(z["f"]), "i": sig(z["i"]), "g": np.tanh(z["g"]), "o": sig(z["o"])}
    v["c"] = v["f"] * np.zeros(3) + v["i"] * v["g"]
    v["h"] = v["o"] * np.tanh(v["c"])
    return v


def _num(v: float, nd: int = 3) -> str:
    s = f"{float(v):.{nd}f}"
    if s.startswith("-"):
        s = s[1:] if float(s) == 0.0 else _MINUS + s[1:]
    return s


def _vec(a, nd: int = 3) -> str:
    return "[" + ", ".join(_num(v, nd) for v in a) + "]"


def _short(a) -> str:
    """A printed vector as the article writes it (no trailing zeros)."""
    return "[" + ", ".join(_MINUS + f"{abs(v):g}" if v < 0 else f"{v:g}" for v in a) + "]"


TRAINED_NOTE = ("These weights are no longer the article's: the model has been trained (Reset Weights, or a "
                "new run of the example, starts from the article's again; the notes on its arithmetic refer to those).")


def is_preset(weights: dict | None) -> bool:
    """Whether ``weights`` (a state dict) are exactly the example's (None: assumed so)."""
    if weights is None:
        return True
    want = state_dict()
    try:
        return all(np.array_equal(np.asarray(weights[k]), v) for k, v in want.items())
    except KeyError:
        return False


def notes(t: int, weights: dict | None = None) -> list[str]:
    """Sentences for timestep ``t`` (0-based; shown as t + 1) marking where the article's
    arithmetic differs from what its own weights give (the numbers shown are the engine's).
    With ``weights`` (the state dict the shown numbers come from) that are not the article's
    any more, one sentence says so instead."""
    if not is_preset(weights):
        return [TRAINED_NOTE]
    out = [WEIGHTS_NOTE]
    if t == 0:
        z, v = t1_sums(), t1_values()
        for gate in ("f", "i", "g", "o"):
            printed_sum, printed = ARTICLE_PRINTED_T1[gate]
            act = "tanh" if gate == "g" else _SIGMA
            out.append(f"The article prints {gate}_1 = {act}({_short(printed_sum)}) = {_vec(printed)}; its own "
                       f"weights give {act}({_vec(z[gate], 1)}) = {_vec(v[gate])}.")
        for name, formula in (("c", "f_1 \u2299 c_0 + i_1 \u2299 g_1"), ("h", "o_1 \u2299 tanh(c_1)")):
            printed = ARTICLE_PRINTED_T1[name][1]
            out.append(f"The article prints {name}_1 = {_vec(printed)}; {formula} = {_vec(v[name])}.")
    elif t == 1:
        W2, U2, b2 = ARTICLE_T2_INPUT_GATE
        out.append(f"At t = 2 the article's input gate uses W_i[:, cat] = {_short([r[1] for r in W2])}, "
                   f"b_i = {_short(b2)} and another U_i (its t = 1 ones: "
                   f"W_i[:, cat] = {_short([r[1] for r in ARTICLE_WEIGHTS['i'][0]])}, "
                   f"b_i = {_short(ARTICLE_WEIGHTS['i'][2])}); this example keeps the t = 1 weights.")
        h2, scores = ARTICLE_PRINTED_P2
        Wp, bp = HEAD
        mine = np.array(h2) @ np.array(Wp) + np.array(bp)
        out.append(f"Its prediction after t = 2 multiplies its h_2 = {_short(h2)} by W_p and adds b_p, printing "
                   f"{_short(scores)}; that product is {_vec(mine)}.")
    return out


def dataset():
    """The example's :class:`~explorer.data.Dataset`: one sentence, next-word targets, no
    validation part; one-hot inputs (1, 5, 5), the vocabulary in the article's order."""
    from .dataset import Dataset
    from .loading import TextCorpus

    corpus = TextCorpus.from_string(" ".join(SENTENCE + NEXT_WORDS[-1:]), level="word", path="worked-example")
    corpus.vocab = list(VOCAB)
    corpus.index = {w: i for i, w in enumerate(VOCAB)}
    corpus.ids = np.array([VOCAB.index(w) for w in SENTENCE + NEXT_WORDS[-1:]], dtype=np.int64)
    return Dataset.from_arrays(inputs(), targets(), loss="cross_entropy", target_last=False, kind="text",
                               source="worked-example", columns=["text"], vocab=list(VOCAB), corpus=corpus,
                               n_classes=len(VOCAB), seq_len=len(SENTENCE))

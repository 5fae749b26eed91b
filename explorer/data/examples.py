"""Built-in example datasets: :func:`list_examples`, :func:`load_example`.

Synthetic examples are generated from fixed seeds, so the same call gives the
same numbers bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import Dataset, make_windows, text_windows
from .errors import SequenceFileError
from .frames import FRAME_EXAMPLES, frame_example
from .loading import SequenceData, load_text
from .trees import TREE_EXAMPLES, TreeBank, tree_example

_DESCRIPTIONS = {
    "sine": "Sine wave series (period 50); predict the next value from windows of 20 steps.",
    "noisy-sine": "Noisy sine wave with an upward trend (fixed seed); predict the next value.",
    "adding": "Adding problem (Hochreiter & Schmidhuber 1997): sum the two marked values in 50 steps.",
    "first-symbol": "Remember the first of 20 random symbols (alphabet of 4) until the end.",
    "text": "Next-character prediction on a short English text about memory and forgetting.",
    "worked-example": ("Seed 003's LSTM worked by hand: 3 units over the one-hot words \"the cat sat on the\", "
                       "with the article's weights preset."),
    "find-the-marker": ("Classify 20–40 steps by the sign of the value at the one marked step "
                        "(attention should land on the marker)."),
    "sentiment": "Short sentences labelled pos or neg by the one word that decides (attention over words).",
}

_DEFAULTS = {
    "sine": {"n_points": 1000, "period": 50.0, "seq_len": 20, "val_fraction": 0.2, "normalize": "zscore"},
    "noisy-sine": {
        "n_points": 1000, "period": 40.0, "noise": 0.1, "trend": 0.002, "seed": 0,
        "seq_len": 20, "val_fraction": 0.2, "normalize": "zscore",
    },
    "adding": {"seq_len": 50, "n_train": 10_000, "n_val": 1_000, "seed": 1997},
    "first-symbol": {"seq_len": 20, "n_symbols": 4, "n_train": 10_000, "n_val": 1_000, "seed": 4},
    "text": {"seq_len": 25, "val_fraction": 0.1, "level": "char"},
    "worked-example": {},
    "find-the-marker": {"min_len": 20, "max_len": 40, "n_train": 2_000, "n_val": 400, "seed": 7, "task": "classes"},
    "sentiment": {"n_train": 1_500, "n_val": 300, "seed": 11},
}


LABELLED_EXAMPLES = ("find-the-marker", "sentiment")
"""Examples of labelled sequences (one label each: trained by whole-sequence models)."""


def list_examples(frames: bool = False) -> list[tuple[str, str]]:
    """Names and one-line descriptions of the built-in examples; with ``frames`` also the
    sequences of frames for the ConvLSTM (:data:`~explorer.data.frames.FRAME_EXAMPLES`)."""
    out = list(_DESCRIPTIONS.items())
    return out + [(name, desc) for name, (desc, _) in FRAME_EXAMPLES.items()] if frames else out


def example_path(*parts: str) -> Path:
    """Path of a shipped example file (via :func:`explorer.util.assets.resource_path` when installed)."""
    try:
        from explorer.util.assets import resource_path

        p = resource_path("examples", *parts)
        if p.exists():
            return p
    except Exception:  # noqa: BLE001 - not installed as a package: use the source tree
        pass
    return Path(__file__).resolve().parents[2] / "resources" / "examples" / Path(*parts)


def load_example(name: str, **overrides) -> Dataset:
    """Build a built-in example dataset.

    Parameters
    ----------
    name : str
        One of the names from :func:`list_examples`.
    **overrides
        Settings to change, e.g. ``seq_len=30`` (see ``_DEFAULTS`` for each example).

    Returns
    -------
    Dataset
    """
    if name in TREE_EXAMPLES:
        raise SequenceFileError(f"The example {name!r} is made of trees; train it with --cell treelstm or "
                                "nary-treelstm (load_tree_example).")
    defaults = {**_DEFAULTS, **{k: v[1] for k, v in FRAME_EXAMPLES.items()}}
    if name not in defaults:
        raise SequenceFileError(
            f"There is no example called {name!r}; choose one of {', '.join(defaults)}."
        )
    unknown = sorted(set(overrides) - set(defaults[name]))
    if unknown:
        raise SequenceFileError(
            f"The example {name!r} has no setting {unknown[0]!r}; its settings are {', '.join(defaults[name])}."
        )
    p = {**defaults[name], **overrides}
    if name in FRAME_EXAMPLES:
        ds = frame_example(name, p)
    elif name == "sine":
        ds = _sine(p)
    elif name == "noisy-sine":
        ds = _noisy_sine(p)
    elif name == "adding":
        ds = _adding(p)
    elif name == "first-symbol":
        ds = _first_symbol(p)
    elif name in LABELLED_EXAMPLES:
        from . import labelled_examples

        ds = (labelled_examples.marker_dataset if name == "find-the-marker" else labelled_examples.sentiment_dataset)(p)
    elif name == "worked-example":
        from . import worked_example

        ds = worked_example.dataset()
    else:
        corpus = load_text(example_path("text.txt"), level=p["level"])
        corpus.path = "text"
        ds = text_windows(corpus, seq_len=p["seq_len"], val_fraction=p["val_fraction"])
    ds.source = name
    ds.config = {"type": "example", "example": name, "overrides": dict(overrides), "settings": p}
    return ds


def list_tree_examples() -> list[tuple[str, str]]:
    """Names and one-line descriptions of the built-in tree examples (for the Tree-LSTMs)."""
    return list(TREE_EXAMPLES.items())


def load_tree_example(name: str, n: int | None = None, seed: int = 0) -> TreeBank:
    """A built-in tree example (``arithmetic``, ``sentiment-trees``) as a
    :class:`~explorer.data.trees.TreeBank` of ``n`` trees (its default count when None)."""
    return tree_example(name, n, seed)


def example_weights(name: str | None, cell: str = "lstm", units: int = 3, layers: int = 1,
                    bidirectional: bool = False) -> dict | None:
    """The weights an example starts from, as a state dict in torch's names, when it has its own
    and the model asked for is the one they are for (the worked example: a one-layer LSTM of 3
    units); None otherwise (the model starts from random weights)."""
    if name == "worked-example" and cell == "lstm" and units == 3 and layers == 1 and not bidirectional:
        from . import worked_example

        return worked_example.state_dict()
    return None


def example_notes(name: str | None, t: int, weights: dict | None = None) -> list[str]:
    """Sentences an example asks to be shown beside the equations at timestep ``t`` (0-based):
    for the worked example, which weights it uses and where the article's arithmetic differs
    (``weights``: the state dict the equations show; once trained, one sentence saying so)."""
    if name == "worked-example":
        from . import worked_example

        return worked_example.notes(int(t), weights)
    return []


def _int(p: dict, key: str, lo: int = 1) -> int:
    v = p[key]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise SequenceFileError(f"The example setting {key!r} must be a whole number of at least {lo}, not {v!r}.")
    return int(v)


def _series(values: np.ndarray, name: str, p: dict) -> Dataset:
    seq = SequenceData(values=values[:, None], columns=["value"], target_index=0, path=name)
    return make_windows(seq, seq_len=p["seq_len"], val_fraction=p["val_fraction"], normalize=p["normalize"])


def _sine(p: dict) -> Dataset:
    t = np.arange(_int(p, "n_points", 2), dtype=np.float64)
    return _series(np.sin(2 * np.pi * t / float(p["period"])), "sine", p)


def _noisy_sine(p: dict) -> Dataset:
    n = _int(p, "n_points", 2)
    rng = np.random.default_rng(_int(p, "seed", 0))
    t = np.arange(n, dtype=np.float64)
    v = np.sin(2 * np.pi * t / float(p["period"])) + float(p["trend"]) * t + float(p["noise"]) * rng.standard_normal(n)
    return _series(v, "noisy-sine", p)


def adding_problem(n: int, seq_len: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Samples of the adding problem: x ``(n, T, 2)``, y ``(n, 1)``."""
    vals = rng.uniform(0.0, 1.0, size=(n, seq_len))
    half = seq_len // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, seq_len, size=n)
    marks = np.zeros((n, seq_len))
    rows = np.arange(n)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = np.stack([vals, marks], axis=-1)
    y = (vals[rows, first] + vals[rows, second])[:, None]
    return x, y


def _adding(p: dict) -> Dataset:
    t = _int(p, "seq_len", 2)
    rng = np.random.default_rng(_int(p, "seed", 0))
    x_tr, y_tr = adding_problem(_int(p, "n_train"), t, rng)
    x_va, y_va = adding_problem(_int(p, "n_val", 0), t, rng)
    return Dataset.from_arrays(
        x_tr, y_tr, x_va, y_va, loss="mse", target_last=True, kind="regression",
        source="adding", columns=["value", "marker"], seq_len=t,
    )


def first_symbol(n: int, seq_len: int, n_symbols: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Samples of remember-the-first-symbol: one-hot x ``(n, T, K)``, y ``(n,)`` int64."""
    sym = rng.integers(0, n_symbols, size=(n, seq_len))
    x = np.eye(n_symbols)[sym]
    return x, sym[:, 0].astype(np.int64)


def _first_symbol(p: dict) -> Dataset:
    t = _int(p, "seq_len")
    k = _int(p, "n_symbols", 2)
    rng = np.random.default_rng(_int(p, "seed", 0))
    x_tr, y_tr = first_symbol(_int(p, "n_train"), t, k, rng)
    x_va, y_va = first_symbol(_int(p, "n_val", 0), t, k, rng)
    return Dataset.from_arrays(
        x_tr, y_tr, x_va, y_va, loss="cross_entropy", target_last=True, kind="classification",
        source="first-symbol", columns=[f"symbol {chr(65 + j)}" for j in range(k)], seq_len=t, n_classes=k,
    )


__all__ = ["LABELLED_EXAMPLES", "list_examples", "load_example", "example_path", "adding_problem", "first_symbol",
           "example_weights", "example_notes", "list_tree_examples", "load_tree_example"]

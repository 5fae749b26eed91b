"""Write tests/data/convlstm_classes_golden.npz: the torch reference's cross-entropy, logits and every
gradient of a few ConvLSTM classifiers (h_T averaged over the frame, a linear head), so that
tests/test_convlstm_classes.py checks parity without torch.

    python tools/convlstm_classes_golden.py        (needs torch)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tools"))

from convlstm_golden import random_state, write_golden  # noqa: E402
from convlstm_reference import classifier_reference  # noqa: E402

CONFIGS = [
    # C, F, K, k, L, peephole
    (1, 3, 2, 3, 1, False),
    (2, 4, 3, 5, 2, True),
    (3, 2, 4, 1, 2, False),
]
FRAME, B, T = (5, 6), 3, 4


def case(j: int, cfg) -> dict:
    C, F, K, k, L, peep = cfg
    rng = np.random.default_rng(200 + j)
    state = random_state(rng, C, F, K, k, L, peep, FRAME)
    x = rng.normal(0, 1, (B, T, C, *FRAME))
    labels = rng.integers(0, K, B)
    ref = classifier_reference(state, x, labels, L, peep, torch)
    out = {"config": np.array([C, F, K, k, L, int(peep)]), "x": x, "labels": labels, "loss": np.array(ref["loss"]),
           "logits": ref["logits"]}
    out.update({f"state.{k_}": v for k_, v in state.items()})
    out.update({f"grad.{k_}": v for k_, v in ref["grads"].items()})
    return {f"case{j}:{k_}": v for k_, v in out.items()}


def main() -> None:
    write_golden("convlstm_classes_golden.npz", CONFIGS, case)


if __name__ == "__main__":
    main()

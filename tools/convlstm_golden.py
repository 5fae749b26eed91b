"""Write tests/data/convlstm_golden.npz: the torch conv2d reference's loss, outputs, gates and every
gradient for a few ConvLSTMs, so that tests/test_engine_convlstm.py checks parity without torch.

    python tools/convlstm_golden.py        (needs torch)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from convlstm_reference import reference  # noqa: E402

CONFIGS = [
    # C, F, C_out, k, L, peephole, loss
    (1, 3, 1, 3, 1, False, "mse"),
    (2, 4, 2, 5, 2, True, "bce"),
    (3, 2, 1, 1, 2, False, "mse"),
    (1, 5, 1, 3, 1, True, "mse"),
    (2, 3, 1, 3, 2, False, "bce"),
]
FRAME, B, T = (5, 6), 2, 3


def random_state(rng, C: int, F: int, Co: int, k: int, L: int, peep: bool, frame=FRAME) -> dict:
    """A ConvLSTM state dict of normal random weights (torch's names)."""
    H, W = frame
    state = {}
    for layer in range(L):
        cin = C if layer == 0 else F
        state[f"weight_ih_l{layer}"] = rng.normal(0, 0.4, (4 * F, cin, k, k))
        state[f"weight_hh_l{layer}"] = rng.normal(0, 0.4, (4 * F, F, k, k))
        state[f"bias_ih_l{layer}"] = rng.normal(0, 0.3, 4 * F)
        state[f"bias_hh_l{layer}"] = rng.normal(0, 0.3, 4 * F)
        if peep:
            for g in "ifo":
                state[f"peephole_{g}_l{layer}"] = rng.normal(0, 0.3, (F, H, W))
    state["head.weight"] = rng.normal(0, 0.5, (Co, F, 1, 1))
    state["head.bias"] = rng.normal(0, 0.2, Co)
    return state


def case(j: int, cfg) -> dict:
    C, F, Co, k, L, peep, loss = cfg
    rng = np.random.default_rng(100 + j)
    H, W = FRAME
    state = random_state(rng, C, F, Co, k, L, peep)
    x = rng.normal(0, 1, (B, T, C, H, W))
    target = rng.uniform(0, 1, (B, T, Co, H, W))
    ref = reference(state, x, target, loss, L, peep, torch)
    out = {"config": np.array([C, F, Co, k, L, int(peep), int(loss == "bce")]), "x": x, "target": target,
           "loss": np.array(ref["loss"]), "y": ref["y"]}
    out.update({f"state.{k_}": v for k_, v in state.items()})
    out.update({f"grad.{k_}": v for k_, v in ref["grads"].items()})
    out.update({f"trace.{n}": ref[n] for n in "ifgoch"})
    return {f"case{j}:{k_}": v for k_, v in out.items()}


def write_golden(name: str, configs: list, make_case) -> None:
    """tests/data/``name``: ``make_case(j, config)``'s arrays of every config, compressed."""
    arrays = {}
    for j, cfg in enumerate(configs):
        arrays.update(make_case(j, cfg))
    path = ROOT / "tests" / "data" / name
    np.savez_compressed(path, **arrays)
    print(f"wrote {path.relative_to(ROOT)}: {len(configs)} cases, {path.stat().st_size:,} bytes")


def main() -> None:
    write_golden("convlstm_golden.npz", CONFIGS, case)


if __name__ == "__main__":
    main()

"""Write tests/data/attention_golden.npz: torch's numbers for the whole-sequence models of
tests/test_engine_attention.py (every cell × layers × direction × pool, unequal lengths), so the
parity test runs where torch is not installed.

    python tools/attention_golden.py
"""

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_engine_attention import CASES, GOLDEN, make_case  # noqa: E402
from torch_attention import torch_reference  # noqa: E402


def main() -> None:
    out = {}
    for kind, layers, bi, pool, loss in CASES:
        name = f"{kind}-{layers}-{int(bi)}-{pool}-{loss}"
        model, x, lengths, target = make_case(kind, layers, bi, pool, loss)
        value, y, alpha, grads = torch_reference(torch, model, x, lengths, target, loss)
        out.update({f"{name}/x": x, f"{name}/lengths": lengths, f"{name}/target": target,
                    f"{name}/loss": np.float64(value), f"{name}/y": y})
        if alpha is not None:
            out[f"{name}/alpha"] = alpha
        keys = sorted(grads)
        out[f"{name}/params"] = model.params
        out[f"{name}/grad_keys"] = np.array(keys)
        out[f"{name}/grads"] = np.concatenate([grads[k].ravel() for k in keys])
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, **out)
    print(f"wrote {GOLDEN}: {len(CASES)} cases, {GOLDEN.stat().st_size} bytes")


if __name__ == "__main__":
    main()

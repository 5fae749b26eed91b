"""The ConvLSTM engine against a torch reference built on ``torch.nn.functional.conv2d`` (autograd),
one training step each (forward, loss, every gradient), interleaved, same dtype and threads.

    python benchmarks/convlstm_bench.py [--sizes 16,64] [--repeat 5] [--threads 1] [--dtype float64]
        [--batch 8] [--steps 10] [--channels 16] [--kernel 3]

Prints per frame size the median and the spread (min–max) of each over the repeats and the
ratio ours / torch of the medians (below 1: the engine is faster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def torch_step(torch, params, x, target, F, k):
    """One step of the reference: forward over T, mse, backward into every parameter."""
    conv2d = torch.nn.functional.conv2d
    for p in params.values():
        p.grad = None
    B, T, _, H, W = x.shape
    h = torch.zeros((B, F, H, W), dtype=x.dtype)
    c = torch.zeros_like(h)
    ys = []
    for t in range(T):
        z = conv2d(x[:, t], params["weight_ih"], params["bias"], padding=k // 2) + conv2d(h, params["weight_hh"],
                                                                                       padding=k // 2)
        zi, zf, zg, zo = z.split(F, dim=1)
        c = torch.sigmoid(zf) * c + torch.sigmoid(zi) * torch.tanh(zg)
        h = torch.sigmoid(zo) * torch.tanh(c)
        ys.append(conv2d(h, params["head.weight"], params["head.bias"]))
    loss = ((torch.stack(ys, 1) - target) ** 2).mean()
    loss.backward()
    return float(loss.detach())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="16,64")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--kernel", type=int, default=3)
    a = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    import torch

    from explorer.engine import make_model

    torch.set_num_threads(a.threads)
    dtype = np.dtype(a.dtype)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    F, k, B, T = a.channels, a.kernel, a.batch, a.steps
    print(f"ConvLSTM training step, B={B} T={T} C=1 F={F} k={k}, {a.dtype}, {a.threads} thread(s), "
          f"{a.repeat} repeats interleaved")
    print(f"{'frame':>7}  {'ours median (min-max) ms':>28}  {'torch median (min-max) ms':>28}  ours/torch")
    for size in (int(s) for s in a.sizes.split(",")):
        rng = np.random.default_rng(0)
        model = make_model("convlstm", n_inputs=1, n_units=F, n_outputs=1, kernel=k, dtype=dtype, seed=0)
        x = rng.uniform(0, 1, (B, T, 1, size, size)).astype(dtype)
        target = rng.uniform(0, 1, (B, T, 1, size, size)).astype(dtype)
        sd = model.state_dict()
        params = {"weight_ih": sd["weight_ih_l0"], "weight_hh": sd["weight_hh_l0"],
                  "bias": sd["bias_ih_l0"] + sd["bias_hh_l0"], "head.weight": sd["head.weight"],
                  "head.bias": sd["head.bias"]}
        params = {n: torch.tensor(v, dtype=tdtype, requires_grad=True) for n, v in params.items()}
        xt, tt = torch.tensor(x), torch.tensor(target)
        ours_loss = model.compute_grads(x, target, "mse")[0]                 # warm both up, and agree
        ref_loss = torch_step(torch, params, xt, tt, F, k)
        assert abs(ours_loss - ref_loss) < (1e-9 if dtype == np.float64 else 1e-4), (ours_loss, ref_loss)
        ours, ref = [], []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            model.compute_grads(x, target, "mse")
            ours.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            torch_step(torch, params, xt, tt, F, k)
            ref.append((time.perf_counter() - t0) * 1e3)

        def cell(v):
            return f"{statistics.median(v):9.1f} ({min(v):.1f}-{max(v):.1f})"

        print(f"{size:>4}x{size:<2}  {cell(ours):>28}  {cell(ref):>28}  "
              f"{statistics.median(ours) / statistics.median(ref):9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark one training step of the NumPy engine, side by side with PyTorch when it is there.

    python -m explorer.bench [--dtype float64|float32|both] [--repeat N] [--sizes small] [--no-torch]

One step is forward, backward and an SGD update, with an MSE loss on every timestep against a
fixed random target (m = 1 input, k = 1 output). Sizes are (n units, T steps, batch B). When
``torch`` is importable the same step of ``torch.nn.LSTM(1, n, batch_first=True)`` plus
``torch.nn.Linear(n, 1)`` (same weights, same dtype, as many threads as NumPy's BLAS) is timed
in the same run, repeats alternating, and the table gives the ratio numpy / torch.

Torch is never a dependency of the engine: it is imported inside a ``try`` here only.
Before timing, the engine's forward outputs and every gradient are checked against torch
in float64 (agreement to 1e-10), which also proves the state dict is PyTorch-compatible.

The environment variables ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` change how fast
NumPy's OpenBLAS is; the benchmark prints them and the BLAS in use, but never sets them.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import math
import os
import platform
import sys
import time

import numpy as np

from explorer.engine import LSTMModel, make_optimizer

# (n, T, batch): the first seven are the judged sizes, the last two are extremes
JUDGED_SIZES = [(4, 100, 1), (4, 100, 32), (16, 100, 32), (64, 20, 1), (64, 100, 32),
                (128, 100, 32), (256, 50, 32)]
EXTRA_SIZES = [(1, 500, 1), (256, 500, 32)]
SIZE_SETS = {
    "all": JUDGED_SIZES + EXTRA_SIZES,
    "judged": JUDGED_SIZES,
    "small": [(4, 100, 1), (4, 100, 32), (16, 100, 32), (64, 20, 1)],
}
TARGETS = {  # dtype: (geometric mean of numpy/torch at most, worst ratio at most or None)
    "float64": (0.5, 1.2),
    "float32": (1.5, None),
}
LR = 0.01
CHECK_TOL = 1e-10


def import_torch():
    """``torch`` or None; a missing or broken torch only turns the comparison off."""
    try:
        import torch
    except Exception:  # noqa: BLE001 - any failure means "no torch"
        return None
    return torch


# -- environment ------------------------------------------------------------------------------
def _openblas_lib():
    """The OpenBLAS NumPy loaded (its bundled ``numpy.libs`` copy), via ctypes, or None."""
    libdir = os.path.dirname(np.__file__) + ".libs"
    for path in sorted(glob.glob(os.path.join(libdir, "*openblas*"))):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def _openblas_call(lib, names, restype):
    for name in names:
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = restype
            return fn()
    return None


def blas_info() -> dict:
    """``{"description": str, "threads": int or None}`` for NumPy's BLAS."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"
                 and "numpy" in str(p.get("filepath", ""))] or \
                [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            p = pools[0]
            desc = (f"{p.get('internal_api')} {p.get('version')} core={p.get('architecture')} "
                    f"threading={p.get('threading_layer')} ({os.path.basename(p.get('filepath', ''))}) "
                    f"[threadpoolctl]")
            return {"description": desc, "threads": p.get("num_threads")}
    desc, threads = "unknown", None
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        desc = f"{cfg.get('name')} {cfg.get('version')}"
        if cfg.get("openblas configuration"):
            desc += f" ({cfg['openblas configuration'].strip()})"
    except Exception:  # noqa: BLE001 - older NumPy: fall back to the name only
        pass
    lib = _openblas_lib()
    if lib is not None:
        threads = _openblas_call(lib, ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                                       "openblas_get_num_threads"), ctypes.c_int)
        core = _openblas_call(lib, ("scipy_openblas_get_corename64_", "openblas_get_corename64_",
                                    "openblas_get_corename"), ctypes.c_char_p)
        if core:
            desc += f", core in use: {core.decode()}"
    return {"description": desc + " [numpy.show_config + ctypes]", "threads": threads}


def print_environment(torch, blas: dict, torch_threads) -> None:
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} logical CPUs")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        print(f"  {var} = {os.environ.get(var, '(unset)')}")
    print(f"NumPy BLAS: {blas['description']}")
    print(f"NumPy BLAS threads: {blas['threads'] if blas['threads'] is not None else 'unknown'}")
    if torch is None:
        print("torch: not importable, numpy timings only")
    else:
        print(f"torch {torch.__version__}, torch.set_num_threads({torch_threads}) "
              f"(= NumPy's BLAS threads)" if blas["threads"] else
              f"torch {torch.__version__}, {torch_threads} threads (NumPy's BLAS threads unknown)")


# -- the two training steps ------------------------------------------------------------------
def make_data(n, T, B, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, 1)).astype(dtype)
    target = rng.standard_normal((B, T, 1)).astype(dtype)
    return x, target


def numpy_step_fn(n, T, B, dtype):
    """A closure doing one engine training step, and the model (for its state dict)."""
    model = LSTMModel(n_inputs=1, n_units=n, n_outputs=1, seed=0, dtype=dtype)
    opt = make_optimizer("sgd", LR)
    x, target = make_data(n, T, B, dtype)

    def step():
        model.compute_grads(x, target, loss="mse")
        opt.step(model.params, model.grad)

    return step, model


def torch_modules(torch, model: LSTMModel, dtype):
    """``torch.nn.LSTM`` + ``torch.nn.Linear`` holding ``model``'s weights (via its state dict)."""
    tdtype = getattr(torch, np.dtype(dtype).name)
    m, n, k = model.n_inputs, model.n_units, model.n_outputs
    lstm = torch.nn.LSTM(m, n, batch_first=True).to(tdtype)
    head = torch.nn.Linear(n, k).to(tdtype)
    sd = {key: torch.from_numpy(np.ascontiguousarray(v)) for key, v in model.state_dict().items()}
    # strict loading: every key and shape must match torch's own names
    lstm.load_state_dict({key: v for key, v in sd.items() if not key.startswith("head.")}, strict=True)
    head.load_state_dict({key[5:]: v for key, v in sd.items() if key.startswith("head.")}, strict=True)
    return lstm, head


def torch_step_fn(torch, model, n, T, B, dtype):
    lstm, head = torch_modules(torch, model, dtype)
    params = list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=LR)
    x, target = (torch.from_numpy(a) for a in make_data(n, T, B, dtype))
    mse = torch.nn.functional.mse_loss

    def step():
        opt.zero_grad(set_to_none=True)
        out, _ = lstm(x)
        loss = mse(head(out), target)
        loss.backward()
        opt.step()

    return step


def _calibrate(step, min_seconds=0.02, max_steps=1000):
    """Steps per timed repeat so that one repeat lasts at least ``min_seconds``."""
    t0 = time.perf_counter()
    step()
    one = time.perf_counter() - t0
    return max(1, min(max_steps, math.ceil(min_seconds / max(one, 1e-7))))


def _time_once(step, count):
    t0 = time.perf_counter()
    for _ in range(count):
        step()
    return (time.perf_counter() - t0) / count


def _warm(step):
    """Warm up ``step`` (workspaces, caches, allocator, torch's first calls); steps per repeat."""
    for _ in range(3):
        step()
    return _calibrate(step)


def time_size(n, T, B, dtype, repeat, torch=None, pause=0.1):
    """Median seconds per step ``(numpy, torch or None)`` over ``repeat`` timed repeats each.

    The repeats alternate between the two, so a burst of load from other processes hits both,
    with a ``pause`` at each switch: OpenBLAS and torch's OpenMP threads spin-wait for a while
    after each call, and on a small machine one library's spinning threads would otherwise
    slow the other down.
    """
    np_step, model = numpy_step_fn(n, T, B, dtype)
    steps = [np_step]
    if torch is not None:
        steps.append(torch_step_fn(torch, model, n, T, B, dtype))
    counts = [_warm(s) for s in steps]
    times = [[] for _ in steps]
    for _ in range(repeat):
        for j, s in enumerate(steps):
            if len(steps) > 1:
                time.sleep(pause)
            times[j].append(_time_once(s, counts[j]))
    med = [float(np.median(ts)) for ts in times]
    return med[0], (med[1] if torch is not None else None)


# -- correctness against torch --------------------------------------------------------------
def check_against_torch(torch, n=5, m=3, k=2, T=7, B=4, seed=1, last_only=False) -> dict:
    """Max abs differences engine vs torch in float64: outputs, loss, every gradient, dx.

    Loads the engine's state dict into ``torch.nn.LSTM`` + ``Linear`` (this is the test that
    the state dict is PyTorch-named and -shaped), runs both on the same data with a random
    h0/c0 and an MSE loss, and returns ``{name: max |difference|}``.
    """
    model = LSTMModel(n_inputs=m, n_units=n, n_outputs=k, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 100)
    model.params[...] += 0.1 * rng.standard_normal(model.params.size)   # not just the init
    x = rng.standard_normal((B, T, m))
    h0 = 0.5 * rng.standard_normal((B, n))
    c0 = 0.5 * rng.standard_normal((B, n))
    target = rng.standard_normal((B, k) if last_only else (B, T, k))
    y = model.predict(x, h0, c0)
    loss, grads = model.loss_and_grads(x, target, "mse", h0, c0, with_input_grads=True)

    lstm, head = torch_modules(torch, model, np.float64)
    tx = torch.from_numpy(x).requires_grad_(True)
    th0 = torch.from_numpy(h0)[None].requires_grad_(True)
    tc0 = torch.from_numpy(c0)[None].requires_grad_(True)
    out, _ = lstm(tx, (th0, tc0))
    ty = head(out)
    pred = ty[:, -1] if last_only else ty
    tloss = torch.nn.functional.mse_loss(pred, torch.from_numpy(target))
    tloss.backward()

    diffs = {"y": float(np.max(np.abs(ty.detach().numpy() - y))),
             "loss": abs(tloss.item() - loss)}
    named = dict(lstm.named_parameters())
    named["head.weight"], named["head.bias"] = head.weight, head.bias
    for key, p in named.items():
        diffs[key] = float(np.max(np.abs(p.grad.numpy() - grads[key])))
    diffs["x"] = float(np.max(np.abs(tx.grad.numpy() - grads["x"])))
    diffs["h0"] = float(np.max(np.abs(th0.grad[0].numpy() - grads["h0"])))
    diffs["c0"] = float(np.max(np.abs(tc0.grad[0].numpy() - grads["c0"])))
    return diffs


def run_check(torch) -> bool:
    worst = {}
    for last_only in (False, True):
        for name, d in check_against_torch(torch, last_only=last_only).items():
            worst[name] = max(worst.get(name, 0.0), d)
    ok = all(d <= CHECK_TOL for d in worst.values())
    print(f"Correctness vs torch (float64, state dict loaded into torch.nn.LSTM + Linear): "
          f"{'OK' if ok else 'FAILED'}, max |diff| {max(worst.values()):.1e} (tolerance {CHECK_TOL:.0e})")
    if not ok:
        for name, d in worst.items():
            if d > CHECK_TOL:
                print(f"  {name}: {d:.3e}")
    return ok


# -- report ---------------------------------------------------------------------------------
def geomean(values):
    return float(math.exp(sum(math.log(v) for v in values) / len(values)))


def run_dtype(dtype, sizes, repeat, torch) -> bool | None:
    name = np.dtype(dtype).name
    print(f"\n{name}: milliseconds per training step (forward + backward + SGD), median of {repeat}")
    head = f"{'n':>4} {'T':>4} {'B':>3} {'numpy ms':>10}"
    if torch is not None:
        head += f" {'torch ms':>10} {'ratio':>7}"
    print(head)
    ratios = []
    for n, T, B in sizes:
        t_np, t_torch = time_size(n, T, B, dtype, repeat, torch)
        line = f"{n:>4} {T:>4} {B:>3} {t_np * 1e3:>10.3f}"
        if t_torch is not None:
            ratio = t_np / t_torch
            line += f" {t_torch * 1e3:>10.3f} {ratio:>7.3f}"
            if (n, T, B) in JUDGED_SIZES:
                ratios.append(ratio)
            else:
                line += "   (not judged)"
        print(line, flush=True)
    if torch is None or not ratios:
        return None
    gm, worst = geomean(ratios), max(ratios)
    goal_gm, goal_worst = TARGETS[name]
    met = gm <= goal_gm and (goal_worst is None or worst <= goal_worst)
    goal = f"geometric mean <= {goal_gm}" + (f", worst <= {goal_worst}" if goal_worst else "")
    judged = "all 7 judged sizes" if len(ratios) == len(JUDGED_SIZES) else f"{len(ratios)} of 7 judged sizes"
    print(f"{name} over {judged}: geometric mean ratio {gm:.3f}, worst {worst:.3f} "
          f"-> target ({goal}) {'MET' if met else 'NOT MET'}")
    return met


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m explorer.bench", description=__doc__.splitlines()[0])
    p.add_argument("--dtype", choices=("float64", "float32", "both"), default="both")
    p.add_argument("--repeat", type=int, default=7, help="timed repeats per size (median taken)")
    p.add_argument("--sizes", choices=tuple(SIZE_SETS), default="all",
                   help="'small' for a quick run, 'judged' for the seven judged sizes")
    p.add_argument("--no-torch", action="store_true", help="time the engine alone")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")

    torch = None if args.no_torch else import_torch()
    blas = blas_info()
    torch_threads = None
    if torch is not None:
        torch_threads = blas["threads"] or torch.get_num_threads()
        torch.set_num_threads(torch_threads)
    print_environment(torch, blas, torch_threads)
    if torch is not None and not run_check(torch):
        return 1

    dtypes = ("float64", "float32") if args.dtype == "both" else (args.dtype,)
    for d in dtypes:  # targets are reported, not enforced: a slow machine is no error
        run_dtype(np.dtype(d), SIZE_SETS[args.sizes], args.repeat, torch)
    return 0


if __name__ == "__main__":
    sys.exit(main())

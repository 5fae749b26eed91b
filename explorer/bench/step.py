"""Benchmark one training step of the NumPy engine, side by side with PyTorch when it is there.

    python -m explorer.bench [--cells lstm,rnn,gru,peephole] [--dtype float64|float32|both]
                             [--repeat N] [--sizes small|judged|all] [--no-torch] [--no-deep]
                             [--threads N] [--clock wall|cpu]
    python -m explorer.bench --scale [...]     the whole train command on big files (explorer.bench.scale)

One step is forward, backward and an SGD update, with an MSE loss on every timestep against a
fixed random target (m = 1 input, k = 1 output). Sizes are (n units, T steps, batch B). When
``torch`` is importable the same step of ``torch.nn.LSTM(1, n, batch_first=True)`` (or
``torch.nn.RNN(..., nonlinearity="tanh")`` / ``torch.nn.GRU`` for the rnn / gru cells) plus
``torch.nn.Linear(n, 1)`` (same weights, same dtype) is timed in the same run, interleaved: ours,
torch, ours, torch, … ``--repeat`` times per size, so a burst of load from other processes hits
both. Every row gives the median and the interquartile range [q1–q3] of each side's repeats, the
ratio of the medians (numpy / torch), the range of the paired ratios (each repeat of ours over the
torch repeat right after it) and the 1-minute load average when the size started. Both run on one
thread by default (``--threads 1``: ``torch.set_num_threads(1)`` and the engine's BLAS thread
count, :mod:`explorer.engine.blas`), which the output states. Torch has no peephole LSTM: the
peephole cell is timed against the engine's own LSTM instead. After the single layers, a 2-layer
bidirectional LSTM is timed against ``torch.nn.LSTM(1, n, num_layers=2, bidirectional=True)`` +
``Linear(2n, 1)``; the LSTM's verdict covers the judged single-layer sizes and these.

Torch is never a dependency of the engine: it is imported inside a ``try`` here only.
Before timing, the engine's forward outputs and every gradient of the lstm, rnn and gru are
checked against torch in float64 (agreement to 1e-10), one layer and two bidirectional layers,
which also proves each state dict is PyTorch-compatible.

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

from explorer.engine import RecurrentModel, make_model, make_optimizer
from explorer.engine import blas as engine_blas

# (n, T, batch): the first seven are the judged sizes, the last two are extremes
JUDGED_SIZES = [(4, 100, 1), (4, 100, 32), (16, 100, 32), (64, 20, 1), (64, 100, 32),
                (128, 100, 32), (256, 50, 32)]
EXTRA_SIZES = [(1, 500, 1), (256, 500, 32)]
DEEP = (2, True)          # the stacked bidirectional LSTM timed beside the single layers
DEEP_SIZES = [(16, 100, 32), (64, 100, 32), (128, 100, 32), (256, 50, 32)]
SIZE_SETS = {
    "all": JUDGED_SIZES + EXTRA_SIZES,
    "judged": JUDGED_SIZES,
    "small": [(4, 100, 1), (4, 100, 32), (16, 100, 32), (64, 20, 1)],
}
TARGETS = {  # dtype: (geometric mean of numpy/torch at most, worst ratio at most or None)
    "float64": (0.5, 1.2),
    "float32": (1.0, 1.2),
}
LR = 0.01
CHECK_TOL = 1e-10
CELL_KINDS = ("lstm", "rnn", "gru", "peephole")
TORCH_CELLS = {"lstm": "LSTM", "rnn": "RNN", "gru": "GRU"}   # engine kind: torch.nn class name
BASELINE = {"peephole": "lstm"}   # no torch counterpart: timed against this engine cell instead


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
    engine = engine_blas.get_threads()
    print(f"Threads: the engine's BLAS {engine if engine else 'as the library set it'}"
          + ("" if torch is None else f", torch {torch_threads}")
          + (" -- one core each, interleaved" if engine == 1 and torch_threads in (None, 1) else ""))


# -- the two training steps ------------------------------------------------------------------
def make_data(n, T, B, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, 1)).astype(dtype)
    target = rng.standard_normal((B, T, 1)).astype(dtype)
    return x, target


def numpy_step_fn(kind, n, T, B, dtype, layers=1, bidirectional=False):
    """A closure doing one engine training step of cell ``kind``, and the model (for its state dict)."""
    model = make_model(kind, 1, n, 1, num_layers=layers, bidirectional=bidirectional, seed=0, dtype=dtype)
    opt = make_optimizer("sgd", LR)
    x, target = make_data(n, T, B, dtype)

    def step():
        model.compute_grads(x, target, loss="mse")
        opt.step(model.params, model.grad)

    return step, model


def torch_modules(torch, model: RecurrentModel, dtype):
    """``torch.nn.LSTM`` / ``RNN`` / ``GRU`` + ``torch.nn.Linear`` holding ``model``'s weights
    (via its state dict, loaded strictly)."""
    tdtype = getattr(torch, np.dtype(dtype).name)
    m, n, k = model.n_inputs, model.n_units, model.n_outputs
    kind = model.kind
    if kind not in TORCH_CELLS:
        raise ValueError(f"torch has no counterpart of the {kind!r} cell")
    kwargs = {"nonlinearity": "tanh"} if kind == "rnn" else {}
    rec = getattr(torch.nn, TORCH_CELLS[kind])(m, n, num_layers=model.num_layers, batch_first=True,
                                               bidirectional=model.bidirectional, **kwargs).to(tdtype)
    head = torch.nn.Linear(model.num_directions * n, k).to(tdtype)
    sd = {key: torch.from_numpy(np.ascontiguousarray(v)) for key, v in model.state_dict().items()}
    # strict loading: every key and shape must match torch's own names
    rec.load_state_dict({key: v for key, v in sd.items() if not key.startswith("head.")}, strict=True)
    head.load_state_dict({key[5:]: v for key, v in sd.items() if key.startswith("head.")}, strict=True)
    return rec, head


def torch_step_fn(torch, model, n, T, B, dtype):
    rec, head = torch_modules(torch, model, dtype)
    params = list(rec.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=LR)
    x, target = (torch.from_numpy(a) for a in make_data(n, T, B, dtype))
    mse = torch.nn.functional.mse_loss

    def step():
        opt.zero_grad(set_to_none=True)
        out, _ = rec(x)
        loss = mse(head(out), target)
        loss.backward()
        opt.step()

    return step


CLOCK = time.perf_counter
"""Wall-clock time by default; ``--clock cpu`` uses ``time.process_time`` (one thread each)."""


def set_blas_threads(threads: int) -> bool:
    """Set NumPy's OpenBLAS threads at run time (ctypes); False when the library has no switch."""
    lib = _openblas_lib()
    if lib is None:
        return False
    for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads"):
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.argtypes = [ctypes.c_int]
            fn(int(threads))
            return True
    return False


def _calibrate(step, min_seconds=0.02, max_steps=1000):
    """Steps per timed repeat so that one repeat lasts at least ``min_seconds``."""
    t0 = CLOCK()
    step()
    one = CLOCK() - t0
    return max(1, min(max_steps, math.ceil(min_seconds / max(one, 1e-7))))


def _time_once(step, count):
    t0 = CLOCK()
    for _ in range(count):
        step()
    return (CLOCK() - t0) / count


def _warm(step):
    """Warm up ``step`` (workspaces, caches, allocator, torch's first calls); steps per repeat."""
    for _ in range(3):
        step()
    return _calibrate(step)


def time_size(kind, n, T, B, dtype, repeat, torch=None, pause=0.1, layers=1, bidirectional=False):
    """Seconds per step of every repeat, ``(numpy list, reference list or None)``, ``repeat`` each.

    The reference is torch's counterpart of ``kind`` when ``torch`` is given and has one, else
    the engine's own baseline cell (:data:`BASELINE`, peephole -> lstm), else nothing.
    The repeats alternate between the two, so a burst of load from other processes hits both,
    with a ``pause`` at each switch: OpenBLAS and torch's OpenMP threads spin-wait for a while
    after each call, and on a small machine one library's spinning threads would otherwise
    slow the other down.
    """
    np_step, model = numpy_step_fn(kind, n, T, B, dtype, layers, bidirectional)
    steps = [np_step]
    if kind in BASELINE:
        steps.append(numpy_step_fn(BASELINE[kind], n, T, B, dtype)[0])
    elif torch is not None and kind in TORCH_CELLS:
        steps.append(torch_step_fn(torch, model, n, T, B, dtype))
    counts = [_warm(s) for s in steps]
    times = [[] for _ in steps]
    for _ in range(repeat):
        for j, s in enumerate(steps):
            if len(steps) > 1:
                time.sleep(pause)
            times[j].append(_time_once(s, counts[j]))
    return times[0], (times[1] if len(times) > 1 else None)


# -- correctness against torch --------------------------------------------------------------
def check_against_torch(torch, kind="lstm", n=5, m=3, k=2, T=7, B=4, seed=1, last_only=False,
                        layers=1, bidirectional=False) -> dict:
    """Max abs differences engine vs torch in float64: outputs, loss, every gradient, dx, dh0 (dc0).

    Loads the engine's state dict of cell ``kind`` (lstm, rnn or gru) into its torch module
    + ``Linear`` (this is the test that the state dict is PyTorch-named and -shaped), runs both
    on the same data with a random h0 (and c0) and an MSE loss, and returns
    ``{name: max |difference|}``.
    """
    model = make_model(kind, m, n, k, num_layers=layers, bidirectional=bidirectional, seed=seed,
                       dtype=np.float64)
    rng = np.random.default_rng(seed + 100)
    model.params[...] += 0.1 * rng.standard_normal(model.params.size)   # not just the init
    x = rng.standard_normal((B, T, m))
    LD = layers * model.num_directions
    h0 = 0.5 * rng.standard_normal((LD, B, n))
    c0 = 0.5 * rng.standard_normal((LD, B, n))
    has_c = "c" in model.cell.state_names
    target = rng.standard_normal((B, k) if last_only else (B, T, k))
    y = model.predict(x, h0, c0)
    loss, grads = model.loss_and_grads(x, target, "mse", h0, c0, with_input_grads=True)

    rec, head = torch_modules(torch, model, np.float64)
    tx = torch.from_numpy(x).requires_grad_(True)
    th0 = torch.from_numpy(h0).requires_grad_(True)
    tc0 = torch.from_numpy(c0).requires_grad_(True)
    out, _ = rec(tx, (th0, tc0) if has_c else th0)
    ty = head(out)
    pred = ty[:, -1] if last_only else ty
    tloss = torch.nn.functional.mse_loss(pred, torch.from_numpy(target))
    tloss.backward()

    diffs = {"y": float(np.max(np.abs(ty.detach().numpy() - y))),
             "loss": abs(tloss.item() - loss)}
    named = dict(rec.named_parameters())
    named["head.weight"], named["head.bias"] = head.weight, head.bias
    for key, p in named.items():
        diffs[key] = float(np.max(np.abs(p.grad.numpy() - grads[key])))
    diffs["x"] = float(np.max(np.abs(tx.grad.numpy() - grads["x"])))
    diffs["h0"] = float(np.max(np.abs(th0.grad.numpy() - np.reshape(grads["h0"], h0.shape))))
    if has_c:
        diffs["c0"] = float(np.max(np.abs(tc0.grad.numpy() - np.reshape(grads["c0"], c0.shape))))
    return diffs


def run_check(torch, kinds=("lstm", "rnn", "gru")) -> bool:
    all_ok = True
    for kind in kinds:
        worst = {}
        for layers, bidirectional in ((1, False), DEEP):
            for last_only in (False, True):
                diffs = check_against_torch(torch, kind, last_only=last_only, layers=layers,
                                            bidirectional=bidirectional)
                for name, d in diffs.items():
                    worst[name] = max(worst.get(name, 0.0), d)
        ok = all(d <= CHECK_TOL for d in worst.values())
        all_ok &= ok
        print(f"Correctness vs torch ({kind}, float64, 1 layer and {DEEP[0]} bidirectional layers, state "
              f"dict loaded into torch.nn.{TORCH_CELLS[kind]} + Linear; y, loss, {len(worst) - 2} gradients): "
              f"{'OK' if ok else 'FAILED'}, max |diff| {max(worst.values()):.1e} (tolerance {CHECK_TOL:.0e})")
        if not ok:
            for name, d in worst.items():
                if d > CHECK_TOL:
                    print(f"  {name}: {d:.3e}")
    return all_ok


# -- report ---------------------------------------------------------------------------------
def geomean(values):
    return float(math.exp(sum(math.log(v) for v in values) / len(values)))


def spread(times) -> str:
    """``median [q1–q3]`` of ``times`` (seconds) in milliseconds."""
    q1, med, q3 = np.percentile(np.asarray(times) * 1e3, [25, 50, 75])
    return f"{med:.3f} [{q1:.3f}–{q3:.3f}]"


def table_head(ref_col) -> str:
    head = f"{'n':>4} {'T':>4} {'B':>3} {'numpy ms [q1–q3]':>28}"
    if ref_col:
        head += f" {ref_col + ' [q1–q3]':>28} {'ratio':>6} {'paired':>11}"
    return head + f" {'load':>5}"


def size_row(n, T, B, t_np, t_ref, load) -> tuple:
    """One table row and the ratio of the medians (None without a reference)."""
    line = f"{n:>4} {T:>4} {B:>3} {spread(t_np):>28}"
    ratio = None
    if t_ref is not None:
        ratio = float(np.median(t_np) / np.median(t_ref))
        paired = [a / b for a, b in zip(t_np, t_ref)]
        line += f" {spread(t_ref):>28} {ratio:>6.3f} {min(paired):>5.2f}–{max(paired):<5.2f}"
    return line + f" {load:>5.2f}", ratio


LOADS: list = []
"""The 1-minute load averages seen at the start of every size (for the summary)."""


def load_now() -> float:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    LOADS.append(load)
    return load


def run_table(kind, dtype, sizes, repeat, torch) -> dict | None:
    """Time ``kind`` in ``dtype`` over ``sizes`` and print one table; the summary or None."""
    name = np.dtype(dtype).name
    if kind in BASELINE:
        ref, ref_col = f"our {BASELINE[kind]}", f"{BASELINE[kind]} ms"
    elif torch is not None and kind in TORCH_CELLS:
        ref, ref_col = f"torch.nn.{TORCH_CELLS[kind]} + Linear", "torch ms"
    else:
        ref = ref_col = None
    print(f"\n{kind} {name}: milliseconds per training step (forward + backward + SGD), {repeat} repeats "
          f"interleaved" + (f", numpy vs {ref}" if ref else ", numpy only"))
    print(table_head(ref_col))
    ratios = []
    for n, T, B in sizes:
        load = load_now()
        t_np, t_ref = time_size(kind, n, T, B, dtype, repeat, torch)
        line, ratio = size_row(n, T, B, t_np, t_ref, load)
        if ratio is not None:
            if (n, T, B) in JUDGED_SIZES:
                ratios.append(ratio)
            else:
                line += "   (not judged)"
        print(line, flush=True)
    if ref is None or not ratios:
        return None
    gm, worst = geomean(ratios), max(ratios)
    judged = "all 7 judged sizes" if len(ratios) == len(JUDGED_SIZES) else f"{len(ratios)} of 7 judged sizes"
    summary = {"kind": kind, "dtype": name, "ref": ref, "gm": gm, "worst": worst, "met": None,
               "judged": judged, "ratios": ratios}
    if kind in BASELINE:   # no target: the cost of the peepholes over our own LSTM
        print(f"{kind} {name} over {judged}: geometric mean of numpy {kind} / {ref} {gm:.3f}, "
              f"worst {worst:.3f} (no target)")
        return summary
    goal_gm, goal_worst = TARGETS[name]
    met = gm <= goal_gm and (goal_worst is None or worst <= goal_worst)
    summary["met"] = met
    summary["goal"] = f"geometric mean <= {goal_gm}" + (f", worst <= {goal_worst}" if goal_worst else "")
    print(f"{kind} {name} over {judged}: geometric mean ratio {gm:.3f}, worst {worst:.3f} "
          f"-> target ({summary['goal']}) {'MET' if met else 'NOT MET'}")
    return summary


def run_deep_table(dtype, repeat, torch) -> dict | None:
    """Time the 2-layer bidirectional LSTM against ``torch.nn.LSTM(num_layers=2, bidirectional=True)``."""
    name = np.dtype(dtype).name
    layers, bidirectional = DEEP
    label = f"lstm {layers} layers bidirectional"
    print(f"\n{label} {name}: milliseconds per training step, {repeat} repeats interleaved"
          + (", numpy vs torch.nn.LSTM(num_layers=2, bidirectional=True) + Linear" if torch else ", numpy only"))
    print(table_head("torch ms" if torch else None))
    ratios = []
    for n, T, B in DEEP_SIZES:
        load = load_now()
        t_np, t_ref = time_size("lstm", n, T, B, dtype, repeat, torch, layers=layers, bidirectional=bidirectional)
        line, ratio = size_row(n, T, B, t_np, t_ref, load)
        if ratio is not None:
            ratios.append(ratio)
        print(line, flush=True)
    if not ratios:
        return None
    gm, worst = geomean(ratios), max(ratios)
    print(f"{label} {name}: geometric mean ratio {gm:.3f}, worst {worst:.3f}")
    return {"kind": "lstm 2L bi", "dtype": name, "ref": "torch.nn.LSTM 2L bi", "gm": gm, "worst": worst,
            "met": None, "ratios": ratios}


def lstm_verdict(single: dict | None, deep: dict | None) -> dict | None:
    """The float32 LSTM's verdict over the judged single-layer sizes and the 2-layer bidirectional
    ones (float64's target is about the single layers)."""
    if single is None or deep is None or single["dtype"] != deep["dtype"] or single["dtype"] != "float32":
        return None
    ratios = single["ratios"] + deep["ratios"]
    gm, worst = geomean(ratios), max(ratios)
    goal_gm, goal_worst = TARGETS[single["dtype"]]
    met = gm <= goal_gm and (goal_worst is None or worst <= goal_worst)
    goal = f"geometric mean <= {goal_gm}" + (f", worst <= {goal_worst}" if goal_worst else "")
    return {"kind": "lstm all", "dtype": single["dtype"], "ref": f"{len(ratios)} sizes, 1 and 2L bi",
            "gm": gm, "worst": worst, "met": met, "goal": goal}


def print_summary(summaries) -> None:
    summaries = [s for s in summaries if s is not None]
    if len(summaries) < 2:
        return
    print("\nSummary (ratio numpy / reference over the judged sizes"
          + (f"; load average {min(LOADS):.2f}–{max(LOADS):.2f} over the run):" if LOADS else "):"))
    print(f"{'cell':<9} {'dtype':<8} {'reference':<24} {'geomean':>8} {'worst':>7}  target")
    for s in summaries:
        verdict = "(none)" if s["met"] is None else f"{'MET' if s['met'] else 'NOT MET'} ({s['goal']})"
        print(f"{s['kind']:<9} {s['dtype']:<8} {s['ref']:<24} {s['gm']:>8.3f} {s['worst']:>7.3f}  {verdict}")


def parse_cells(text: str) -> tuple:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in CELL_KINDS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(
            f"unknown cell(s) {', '.join(bad) or '(none)'}; choose from {','.join(CELL_KINDS)}")
    return tuple(dict.fromkeys(kinds))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--scale" in argv:            # the whole command at scale: explorer/bench/scale.py
        from explorer.bench.scale import main as scale_main

        return scale_main([a for a in argv if a != "--scale"])
    p = argparse.ArgumentParser(prog="python -m explorer.bench", description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=parse_cells, default=CELL_KINDS, metavar="LIST",
                   help=f"comma-separated cells to time (default: {','.join(CELL_KINDS)})")
    p.add_argument("--dtype", choices=("float64", "float32", "both"), default="both")
    p.add_argument("--repeat", type=int, default=11,
                   help="timed repeats per size and side, interleaved (median and quartiles shown)")
    p.add_argument("--sizes", choices=tuple(SIZE_SETS), default="all",
                   help="'small' for a quick run, 'judged' for the seven judged sizes")
    p.add_argument("--no-torch", action="store_true", help="time the engine alone")
    p.add_argument("--no-deep", action="store_true",
                   help="skip the 2-layer bidirectional LSTM (timed after the single layers)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="threads for the engine's BLAS and torch alike (default 1; 0: each library's own)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="cpu: the process's CPU time (with --threads 1), for a machine busy with other work")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if args.threads < 0:
        p.error("--threads must be 0 (each library's own) or more")
    if args.clock == "cpu" and args.threads != 1:
        p.error("--clock cpu measures one thread: add --threads 1 (CPU time of several threads "
                "counts their spinning too)")
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads and not set_blas_threads(args.threads):
        p.error("--threads: NumPy's BLAS here has no thread switch; set OPENBLAS_NUM_THREADS instead")
    engine_blas.set_threads(args.threads or None)       # the engine's own calls: the same count
    engine_blas.hold_threads()

    torch = None if args.no_torch else import_torch()
    blas = blas_info()
    torch_threads = None
    if torch is not None:
        torch_threads = args.threads or blas["threads"] or torch.get_num_threads()
        torch.set_num_threads(torch_threads)
    print(f"Clock: {'CPU time of this process (time.process_time)' if args.clock == 'cpu' else 'wall (time.perf_counter)'}")
    print_environment(torch, blas, torch_threads)
    if torch is not None:
        checked = tuple(k for k in TORCH_CELLS if k in args.cells) or ("lstm",)
        if not run_check(torch, checked):
            return 1

    dtypes = ("float64", "float32") if args.dtype == "both" else (args.dtype,)
    summaries = []
    for kind in args.cells:   # targets are reported, not enforced: a slow machine is no error
        for d in dtypes:
            summaries.append(run_table(kind, np.dtype(d), SIZE_SETS[args.sizes], args.repeat, torch))
    if not args.no_deep and "lstm" in args.cells:
        singles = {s["dtype"]: s for s in summaries if s is not None and s["kind"] == "lstm"}
        for d in dtypes:
            deep = run_deep_table(np.dtype(d), args.repeat, torch)
            summaries += [deep, lstm_verdict(singles.get(d), deep)]
    print_summary(summaries)
    return 0


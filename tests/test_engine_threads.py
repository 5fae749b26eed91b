"""The engine sets its own BLAS thread count for its computations, whatever imported NumPy first:
1 by default, LSTM_EXPLORER_THREADS or set_threads() otherwise, the library's own count restored
after; a bad value is one sentence (exit 2 on the command line)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.engine import blas

ROOT = Path(__file__).resolve().parents[1]

# numpy first, with OpenBLAS at 2 threads; counts seen inside engine calls (the interrupt callable is
# asked every few timesteps of every forward and backward loop) and outside them
SCRIPT = r"""
import json, sys
import numpy as np
from explorer.engine import blas, make_model, set_threads
if sys.argv[1] != "env":
    set_threads(int(sys.argv[1]))
model = make_model("lstm", 1, 8, 1)
x, y = np.zeros((3, 9, 1)), np.zeros((3, 1))
inside = []
peek = lambda: inside.append(blas.blas_threads()) or False
before = blas.blas_threads()
model.forward(x, interrupt=peek)
model.compute_grads(x, y, interrupt=peek)
model.evaluate(x, y, interrupt=peek)
print(json.dumps({"before": before, "inside": sorted(set(inside)), "after": blas.blas_threads(),
                  "library": blas.libraries()[0].path if blas.libraries() else None}))
"""


def run_script(arg, **env):
    full = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OMP_NUM_THREADS": "2",
            "PYTHONPATH": str(ROOT)}
    full.pop("LSTM_EXPLORER_THREADS", None)
    full.update(env)
    out = subprocess.run([sys.executable, "-c", SCRIPT, arg], capture_output=True, text=True, timeout=120,
                         env=full, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


needs_blas = pytest.mark.skipif(not blas.libraries(), reason="NumPy's BLAS is neither OpenBLAS nor MKL")
two_cores = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores for two BLAS threads")


@needs_blas
@two_cores
def test_one_thread_inside_engine_calls_when_numpy_was_imported_first():
    seen = run_script("env")
    assert seen["before"] == 2
    assert seen["inside"] == [1]
    assert seen["after"] == 2


@needs_blas
@two_cores
def test_the_variable_and_the_api_choose_the_count():
    assert run_script("env", LSTM_EXPLORER_THREADS="2")["inside"] == [2]
    assert run_script("1", LSTM_EXPLORER_THREADS="2")["inside"] == [1]            # the API wins
    left = run_script("env", LSTM_EXPLORER_THREADS="0")                             # 0: BLAS's own count
    assert left["inside"] == [2] and left["after"] == 2


@needs_blas
@two_cores
def test_nested_blocks_restore_the_count_only_when_the_last_one_leaves(monkeypatch):
    monkeypatch.delenv("LSTM_EXPLORER_THREADS", raising=False)
    monkeypatch.setattr(blas, "_held", False)           # as in a script (a window holds the count)
    lib = blas.libraries()[0]
    old = lib.get()
    lib.set(2)
    try:
        with blas.engine_threads():
            assert blas.blas_threads() == 1
            with blas.engine_threads():
                assert blas.blas_threads() == 1
            assert blas.blas_threads() == 1
        assert blas.blas_threads() == 2
    finally:
        lib.set(old)


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "99999"])
def test_a_bad_thread_count_is_one_sentence(monkeypatch, tmp_path, value):
    monkeypatch.setenv("LSTM_EXPLORER_THREADS", value)
    with pytest.raises(blas.ThreadSettingError) as ei:
        blas.get_threads()
    assert str(ei.value) == (f"LSTM_EXPLORER_THREADS={value!r} is not a number of threads (a whole number from 1, "
                             "or 0 to leave the BLAS library's own setting); set it to one or unset it.")
    with pytest.raises(blas.ThreadSettingError, match="^set_threads='x' is not a number of threads"):
        blas.set_threads("x")
    from explorer.cli import main

    assert main(["train", "--example", "sine", "--epochs", "1", "--no-plots", "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_a_process_with_workers_holds_the_count(monkeypatch):
    monkeypatch.delenv("LSTM_EXPLORER_THREADS", raising=False)
    monkeypatch.setattr(blas, "_held", False)
    lib = blas.libraries()[0]
    old = lib.get()
    try:
        lib.set(2)
        blas.hold_threads()
        assert blas.blas_threads() == 1
        with blas.engine_threads():
            assert blas.blas_threads() == 1
        assert blas.blas_threads() == 1                  # never restored under a worker's feet
    finally:
        lib.set(old)


# a training step of a script that imported numpy first, the count read straight from the library
TRAIN_SCRIPT = r"""
import ctypes, json, sys
import numpy as np
lib = next(p.split()[-1] for p in open("/proc/self/maps") if "openblas" in p.split()[-1].lower())
blas = ctypes.CDLL(lib)
get = next(getattr(blas, f"{pre}_get_num_threads{suf}") for pre in ("scipy_openblas", "openblas")
           for suf in ("64_", "_64", "") if hasattr(blas, f"{pre}_get_num_threads{suf}"))
get.restype = ctypes.c_int
from explorer.engine import make_model, set_threads
from explorer.engine.trainer import TrainData, Trainer
if sys.argv[1] != "env":
    set_threads(int(sys.argv[1]))
rng = np.random.default_rng(0)
x = rng.standard_normal((8, 12, 2))
trainer = Trainer(make_model("lstm", 2, 16, 1), TrainData(x, x[:, -1, :1], loss="mse"), batch_size=4, epochs=1)
inside = []
steps = list(trainer.steps(max_steps=2, interrupt=lambda: inside.append(get()) or False))
print(json.dumps({"inside": sorted(set(inside)), "after": get(), "steps": len(steps)}))
"""


def _openblas_loaded() -> bool:
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
        return any("openblas" in line.rsplit(None, 1)[-1].lower() for line in fh if line.strip())


@pytest.mark.skipif(not os.path.exists("/proc/self/maps") or not _openblas_loaded(), reason="needs OpenBLAS on Linux")
@two_cores
@pytest.mark.parametrize(("arg", "env", "inside"), [("env", {}, [1]), ("2", {}, [2]),
                                                    ("env", {"LSTM_EXPLORER_THREADS": "2"}, [2])])
def test_a_training_step_after_numpy_runs_with_the_engines_count(arg, env, inside):
    full = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2", "PYTHONPATH": str(ROOT)}
    full.pop("LSTM_EXPLORER_THREADS", None)
    full.update(env)
    out = subprocess.run([sys.executable, "-c", TRAIN_SCRIPT, arg], capture_output=True, text=True, timeout=120,
                         env=full, cwd=ROOT, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["steps"] == 2
    assert seen["inside"] == inside
    assert seen["after"] == 2

"""The engine's own BLAS thread count, whatever imported NumPy first.

The engine's matrix products are small (n ≤ 1024 units, a batch of tens): the extra threads of
OpenBLAS or MKL spin while they wait and, on a shared machine, take the cores other processes
need (scripts using the engine ran 3–26× slower there). Every engine computation
(:meth:`~explorer.engine.model.RecurrentModel.forward`, ``predict``, ``evaluate``,
``compute_grads``, …) runs inside :func:`engine_threads`, which sets the BLAS library NumPy loaded
to :func:`get_threads` threads (1 by default) and restores the library's own count afterwards, so
a script's own products keep theirs. A process that computes in several threads at once (the
window, the command line) calls :func:`hold_threads` once instead: the count is set for the whole
process and never changed while a worker computes.

Overriding: the environment variable ``LSTM_EXPLORER_THREADS`` (a whole number ≥ 1, or ``0`` to
leave BLAS's own setting alone) or :func:`set_threads` from Python (which wins over the variable).
The library is found as threadpoolctl finds it, without it: among the shared libraries the process
has loaded (``/proc/self/maps``, else NumPy's bundled library folder), OpenBLAS (also with the
``scipy_openblas`` prefix and ``64_`` suffixes of NumPy's wheels) through
``openblas_set_num_threads`` / ``openblas_get_num_threads``, and MKL through
``MKL_Set_Num_Threads`` / ``MKL_Get_Max_Threads``. Other BLAS libraries are left alone.
"""

from __future__ import annotations

import ctypes
import os
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ENV_VAR = "LSTM_EXPLORER_THREADS"
DEFAULT_THREADS = 1
_UNSET = object()


class ThreadSettingError(ValueError):
    """``LSTM_EXPLORER_THREADS`` or :func:`set_threads` given something that is not a count."""


class _Library:
    """One loaded BLAS library's thread-count getter and setter."""

    def __init__(self, path: str, getter, setter, core: str | None = None):
        self.path, self._get, self._set, self.core = path, getter, setter, core

    def get(self) -> int:
        return int(self._get())

    def set(self, n: int) -> None:
        self._set(int(n))


def _openblas(lib, path):
    for prefix in ("openblas", "scipy_openblas"):
        for suffix in ("", "64_", "_64"):
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and put is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                put.restype, put.argtypes = None, [ctypes.c_int]
                return _Library(path, get, put, _openblas_core(lib))
    return None


def _openblas_core(lib) -> str | None:
    """The CPU core OpenBLAS chose for its kernels (``openblas_get_corename``), lower case."""
    for prefix in ("openblas", "scipy_openblas"):
        for suffix in ("", "64_", "_64"):
            fn = getattr(lib, f"{prefix}_get_corename{suffix}", None)
            if fn is not None:
                fn.restype, fn.argtypes = ctypes.c_char_p, []
                name = fn()
                return name.decode("ascii", "replace").strip().lower() if name else None
    return None


def _mkl(lib, path):
    get = getattr(lib, "MKL_Get_Max_Threads", None)
    put = getattr(lib, "MKL_Set_Num_Threads", None)
    if get is None or put is None:
        return None
    get.restype, get.argtypes = ctypes.c_int, []
    put.restype, put.argtypes = None, [ctypes.c_int]
    return _Library(path, get, put)


def _loaded_paths() -> list:
    """Shared libraries of the process that may be a BLAS: from ``/proc/self/maps`` (Linux),
    else the files of NumPy's bundled library folders (macOS, Windows wheels)."""
    paths: list = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].strip() not in paths and parts[5].startswith("/"):
                    paths.append(parts[5].strip())
    except OSError:
        root = Path(np.__file__).resolve().parent
        for folder in (root.parent / "numpy.libs", root / ".dylibs", root / "_core"):
            if folder.is_dir():
                paths.extend(str(p) for p in sorted(folder.iterdir()))
    return paths


def _find_libraries() -> tuple:
    found = []
    for path in _loaded_paths():
        name = os.path.basename(path).lower()
        kind = _openblas if "openblas" in name else _mkl if name.startswith(("libmkl_rt", "mkl_rt")) else None
        if kind is None:
            continue
        try:
            lib = kind(ctypes.CDLL(path), path)
        except OSError:
            continue
        if lib is not None:
            found.append(lib)
    return tuple(found)


_libraries = None
_chosen = _UNSET
_lock = threading.Lock()
_depth = 0
_saved: list = []


def libraries() -> tuple:
    """The BLAS libraries whose thread count the engine sets (found once, after NumPy loaded)."""
    global _libraries
    if _libraries is None:
        _libraries = _find_libraries()
    return _libraries


def _parse(value, source: str) -> int | None:
    try:
        n = int(str(value).strip())
    except ValueError:
        n = -1
    if n < 0 or n > 4096:
        raise ThreadSettingError(f"{source}={str(value)[:40]!r} is not a number of threads (a whole number from 1, "
                                 "or 0 to leave the BLAS library's own setting); set it to one or unset it.")
    return n or None


def get_threads() -> int | None:
    """The BLAS threads engine computations use: :func:`set_threads`'s value, else
    ``LSTM_EXPLORER_THREADS``, else :data:`DEFAULT_THREADS`; None: BLAS's own setting is left."""
    if _chosen is not _UNSET:
        return _chosen
    env = os.environ.get(ENV_VAR, "").strip()
    return _parse(env, ENV_VAR) if env else DEFAULT_THREADS


def set_threads(n: int | None) -> None:
    """Use ``n`` BLAS threads in engine computations from now on (None or 0: leave BLAS's own
    setting); overrides ``LSTM_EXPLORER_THREADS``."""
    global _chosen
    _chosen = None if n is None else _parse(n, "set_threads")


def blas_threads() -> int | None:
    """The thread count the (first) BLAS library holds now, or None when none was found."""
    libs = libraries()
    return libs[0].get() if libs else None


SMALL_KERNEL_CORES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})
"""OpenBLAS cores whose single-precision and double-precision products of M·N·K ≤ 10⁶ (column
major, neither operand transposed) run in its small-matrix kernels, which skip packing the
operands: 1.3–1.5× faster than the packed path for the LSTM's per-step shapes."""

SMALL_PRODUCT = 1_000_000
"""M·N·K of the largest product those kernels take (OpenBLAS's ``gemm_small_kernel_permit``)."""


_numpy_library = _UNSET


def numpy_library() -> _Library | None:
    """The BLAS library NumPy itself loaded (its wheel's bundled copy when there is one; else the
    only one found), or None when that cannot be told (none, or several outside NumPy). Found once:
    every engine call asks."""
    global _numpy_library
    if _numpy_library is _UNSET:
        libs = libraries()
        root = Path(np.__file__).resolve().parent
        own = [lib for lib in libs
               if Path(lib.path).resolve().parent in (root.parent / "numpy.libs", root / ".dylibs")]
        _numpy_library = own[0] if own else libs[0] if len(libs) == 1 else None
    return _numpy_library


def small_product_limit() -> int | None:
    """:data:`SMALL_PRODUCT` when NumPy's BLAS (:func:`numpy_library`) is an OpenBLAS running one
    of :data:`SMALL_KERNEL_CORES`, else None (then splitting a product gains nothing)."""
    lib = numpy_library()
    if lib is not None and lib.core in SMALL_KERNEL_CORES:
        return SMALL_PRODUCT
    return None


_held = False


def hold_threads() -> None:
    """Set the BLAS library to :func:`get_threads` threads for the rest of the process and stop
    :func:`engine_threads` from changing it: for processes that compute in several threads at once
    (the window, its workers, the command line). OpenBLAS's thread count must not change while
    another thread is inside a BLAS call, so a process with workers sets it once."""
    global _held
    n = get_threads()
    if n is not None:
        with _lock:
            for lib in libraries():
                if lib.get() != n:
                    lib.set(n)
    _held = True


@contextmanager
def engine_threads():
    """Run the block with :func:`get_threads` BLAS threads, then restore the library's own count.
    Nested and concurrent blocks (the window's workers) share one setting: the first to enter sets
    it, the last to leave restores it."""
    global _depth, _saved
    n = get_threads()
    libs = libraries() if n is not None and not _held else ()
    if not libs:
        yield
        return
    with _lock:
        if _depth == 0:                    # a library already at n is not touched (nor restored)
            _saved = [(lib, old) for lib, old in ((lib, lib.get()) for lib in libs) if old != n]
            for lib, _ in _saved:
                lib.set(n)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for lib, old in _saved:
                    lib.set(old)

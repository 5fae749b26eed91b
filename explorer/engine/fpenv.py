"""Flush denormal numbers to zero while the engine computes.

Denormals (|x| < 1.2e-38 in float32, < 2.2e-308 in float64) appear when gradients vanish
through many timesteps, and x86 processors handle them in microcode: an element-wise operation
on them is up to ~200x slower (measured here: a float32 multiply of 100,000 denormals took
3.0 ms instead of 0.013 ms). The processor can instead flush them to zero (FTZ: results; DAZ:
inputs), which changes nothing above those magnitudes — far below the resolution of anything
the model computes. A float32 LSTM step (n = 64, T = 600, batch 32) whose gradient vanished
took 67 ms flushed against 546 ms not; a float64 RNN step of that size 36 ms against 78 ms.

NumPy has no switch for this, so :func:`flush_denormals` sets the two bits for the calling
thread through the C library's ``fegetenv``/``fesetenv`` (ctypes, no compiled code of ours):

- x86-64 Linux (glibc): MXCSR bits FTZ (0x8000) and DAZ (0x0040) in ``fenv_t.__mxcsr``;
- 64-bit ARM Linux (glibc): FPCR bit FZ (1 << 24) in ``fenv_t.__fpcr``;
- anything else (macOS, Windows, musl): nothing is changed (:data:`SUPPORTED` is False).

The previous environment is restored on leaving, also after an exception. The bits are per
thread: NumPy's element-wise loops run in the calling thread and are covered; OpenBLAS's own
worker threads are not. The model's public computations (forward, predict, evaluate,
compute_grads, state_grads) run inside it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

_FENV = ctypes.c_uint32 * 8     # fenv_t is 32 bytes on x86-64 glibc (8 bytes on aarch64): room for both


def _setup():
    machine = platform.machine().lower()
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    if machine in ("x86_64", "amd64"):
        word, bits = 7, 0x8040                   # __mxcsr is the 8th 32-bit word; FTZ | DAZ
    elif machine in ("aarch64", "arm64"):
        word, bits = 0, 1 << 24                  # __fpcr; FZ
    else:
        return None
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        get, put = libm.fegetenv, libm.fesetenv
    except (OSError, AttributeError):
        return None
    get.argtypes = put.argtypes = [ctypes.c_void_p]
    return get, put, word, bits


_FNS = _setup()
SUPPORTED = _FNS is not None
"""Whether :func:`flush_denormals` changes anything on this platform."""


class flush_denormals:
    """``with flush_denormals():`` — within the block, denormal results and inputs are zero in
    the calling thread (a plain class: cheaper than a generator, the engine enters it per call)."""

    __slots__ = ("_saved",)

    def __enter__(self):
        self._saved = None
        if _FNS is None:
            return self
        get, put, word, bits = _FNS
        saved = _FENV()
        if get(saved) == 0:
            env = _FENV.from_buffer_copy(saved)
            env[word] |= bits
            put(env)
            self._saved = saved
        return self

    def __exit__(self, *exc):
        if self._saved is not None:
            _FNS[1](self._saved)
        return False


__all__ = ["SUPPORTED", "flush_denormals"]

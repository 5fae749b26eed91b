"""A memory budget (no Qt, no NumPy needed): estimate before allocating, refuse with one sentence.

The loaders, the engine and the command line estimate the bytes a request needs and call
:func:`check_budget` before allocating; above :func:`memory_limit_bytes` the request is refused
with a :class:`MemoryBudgetError` that says how much it needs, how much the machine allows and
what to change.
"""

from __future__ import annotations

import math
import os

#: The share of the machine's memory one request may use.
BUDGET_FRACTION = 0.6
_FALLBACK_TOTAL = 8 * 1024**3


class MemoryBudgetError(ValueError):
    """A request that would not fit in memory; the message is one sentence."""


def machine_memory_bytes() -> int:
    """The machine's physical memory (Linux /proc/meminfo, else sysconf, else 8 GiB)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return _FALLBACK_TOTAL


def memory_limit_bytes() -> int:
    """The most one run may allocate: ``BUDGET_FRACTION`` of the machine's memory, or
    ``LSTM_EXPLORER_MEMORY_LIMIT`` (bytes, or with a K/M/G/T suffix) when set; a value that is not a size is refused
    (:class:`MemoryBudgetError`, one sentence), never ignored."""
    env = os.environ.get("LSTM_EXPLORER_MEMORY_LIMIT", "").strip()
    if env:
        mult = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}.get(env[-1].upper(), 1)
        try:
            value = float(env[:-1] if mult > 1 else env) * mult
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and 1 <= value <= 2**63):
            raise MemoryBudgetError(
                f"LSTM_EXPLORER_MEMORY_LIMIT={env[:40]!r} is not a memory size (a positive number of bytes, "
                "or with K, M, G or T, e.g. 8G); set it to one or unset it.")
        return int(value)
    return int(machine_memory_bytes() * BUDGET_FRACTION)


def format_bytes(n: float) -> str:
    """``1536`` → ``"1.5 KiB"``; binary units as the machine reports them."""
    n = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def check_budget(needed: float, what: str, advice: str) -> None:
    """Raise :class:`MemoryBudgetError` when ``needed`` bytes exceed the limit.

    ``what`` names the request ("training 100000 units"), ``advice`` what to change ("use fewer
    units or a shorter sequence length").
    """
    limit = memory_limit_bytes()
    if needed > limit:
        raise MemoryBudgetError(
            f"{what} needs about {format_bytes(needed)} of memory, more than the "
            f"{format_bytes(limit)} this machine allows; {advice}.")

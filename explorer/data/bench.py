"""Benchmark: ``python -m explorer.data.bench`` writes a 1,000,000-row CSV and times :func:`load_sequence`."""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from .loading import load_sequence


def main(n_rows: int = 1_000_000) -> float:
    """Write a temporary ``n_rows`` CSV with a header, load it, print and return the seconds taken."""
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.standard_normal(n_rows))
    fd, path = tempfile.mkstemp(suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="\n") as fh:
            fh.write("value\n")
            fh.write("\n".join(f"{v:.6f}" for v in values))
            fh.write("\n")
        size = os.path.getsize(path)
        t0 = time.perf_counter()
        seq = load_sequence(path)
        dt = time.perf_counter() - t0
        assert seq.values.shape == (n_rows, 1)
        print(f"load_sequence: {n_rows:,} rows ({size / 2**20:.1f} MB CSV) in {dt:.3f} s")
        return dt
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()

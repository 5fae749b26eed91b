"""Benchmarks, run as ``python -m explorer.bench``: one training step against torch
(:mod:`explorer.bench.step`) and, with ``--scale``, the whole command on big files
(:mod:`explorer.bench.scale`); :mod:`explorer.bench.longrun` makes a synthetic long run (for
``benchmarks/history_bench.py`` and the tests of the per-step history)."""

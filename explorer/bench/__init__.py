"""Benchmarks, run as ``python -m explorer.bench``: one training step against torch
(:mod:`explorer.bench.step`) and, with ``--scale``, the whole command on big files
(:mod:`explorer.bench.scale`)."""

"""One BLAS thread for the app's own processes.

The engine's products are small (n ≤ 256); OpenBLAS's extra threads spin while waiting and, on a
two-core machine with a window open, take the core the GUI thread needs: measured here, the
adding example trained about 10× faster with one BLAS thread under load. Only set when numpy is
not imported yet and the person has not chosen a value (the variables are respected).
"""

import os
import sys

_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def limit_blas_threads() -> None:
    if "numpy" in sys.modules:
        return
    for var in _VARS:
        os.environ.setdefault(var, "1")

"""``python -m explorer.bench [--scale] ...``: see :mod:`explorer.bench.step`."""

import sys

from explorer.bench.step import main

if __name__ == "__main__":
    sys.exit(main())

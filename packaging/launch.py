"""Entry script of the frozen app: the same command line as ``lstm-explorer``."""

import sys

from explorer.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m explorer`` is the same as the ``lstm-explorer`` command."""

import sys

from explorer.cli.command import main

if __name__ == "__main__":
    sys.exit(main())

"""The ``lstm-explorer`` command (:mod:`explorer.cli.command`); ``python -m explorer.cli`` runs it."""

from explorer.cli.command import main

__all__ = ["main"]

"""One way to find the files the app ships (examples, icons): :func:`resource_path`.

The top-level ``resources/`` folder is installed as the package ``explorer.resources``
(``package-dir`` in pyproject.toml), so editable installs, wheels and frozen builds all
carry it. When frozen by PyInstaller the files live under ``sys._MEIPASS``.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """Return the filesystem path of a shipped resource, e.g. ``resource_path("icons", "app.svg")``."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root is not None:
        return Path(frozen_root, "explorer", "resources", *parts)
    root = resources.files("explorer.resources")
    return Path(str(root.joinpath(*parts)))

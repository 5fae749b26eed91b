"""Hand edits of a saved run folder, shared by the tests that damage run folders on purpose."""

import json
from pathlib import Path


def detach(folder: Path, name: str) -> None:
    """DIR/NAME as a private plain copy (so the damage touches that name only)."""
    p = folder / name
    data = p.read_bytes()
    p.unlink()
    p.write_bytes(data)


def set_key(d: dict, path, value) -> None:
    """``d[path[0]][path[1]]… = value``; ``value`` KeyError deletes the key."""
    cur = d
    for k in path[:-1]:
        cur = cur[k]
    if value is KeyError:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value


def edit_json(folder: Path, name: str, path, value) -> None:
    """Set (or with KeyError delete) the key at ``path`` of DIR/NAME's JSON, on a private copy."""
    detach(folder, name)
    d = json.loads((folder / name).read_text())
    set_key(d, path, value)
    (folder / name).write_text(json.dumps(d))

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


def as_format3(folder: Path) -> None:
    """Rewrite a saved run folder as format 3 wrote it: its per-step history as steps.csv and
    gate_norms.csv (every step; the run must hold no thinned chunk) in its current version instead
    of chunk files, state.json and config.json saying format 3, every file hashed."""
    import hashlib
    import os

    import numpy as np

    from explorer.runs.store import STEPS_HEADER, _csv_text

    vdir = folder / ".versions" / os.readlink(folder / ".current").split("/")[-1]
    st = json.loads((vdir / "state.json").read_text())
    chunks = st.pop("step_chunks")
    assert all(c["width"] == 1 for c in chunks)
    rows = np.concatenate([np.load(vdir / c["name"]) for c in chunks])
    gates = [n[5:] for n in rows.dtype.names if n.startswith("norm_")]
    files = {"steps.csv": _csv_text(STEPS_HEADER, zip(*(rows[k] for k in STEPS_HEADER))),
             "gate_norms.csv": _csv_text(["step", *gates], zip(rows["step"], *(rows[f"norm_{g}"] for g in gates)))}
    cfg = json.loads((vdir / "config.json").read_text())
    cfg["format"] = 3
    files["config.json"] = json.dumps(cfg, indent=2)
    for c in chunks:
        (vdir / c["name"]).unlink()
        (folder / c["name"]).unlink()
        del st["sha256"][c["name"]]
    for name, text in files.items():
        p = vdir / name
        if p.exists():
            p.unlink()
        p.write_text(text)
        st["sha256"][name] = hashlib.sha256(text.encode()).hexdigest()
        if not os.path.lexists(folder / name):
            os.symlink(f".current/{name}", folder / name)
    st["format"] = 3
    (vdir / "state.json").unlink()
    (vdir / "state.json").write_text(json.dumps(st, indent=2))

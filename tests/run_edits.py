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


def as_format4(folder: Path) -> None:
    """Rewrite a saved run folder as format 4 wrote it: the kept epochs' weights in one epochs.npz
    (keys e{epoch:04d}/{state-dict key}) in its current version instead of one file per epoch,
    state.json and config.json saying format 4, every file hashed."""
    _epochs_as_npz(folder, 4)


def _epochs_as_npz(folder: Path, fmt: int) -> None:
    import hashlib
    import io
    import os

    import numpy as np

    vdir = folder / ".versions" / os.readlink(folder / ".current").split("/")[-1]
    st = json.loads((vdir / "state.json").read_text())
    arrays = {}
    for name in st.pop("epoch_files"):
        epoch = int(name[6:12])
        with np.load(vdir / name) as z:
            arrays.update({f"e{epoch:04d}/{k}": np.array(z[k]) for k in z.files})
        (vdir / name).unlink()
        (folder / name).unlink()
        del st["sha256"][name]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (vdir / "epochs.npz").write_bytes(buf.getvalue())
    if not os.path.lexists(folder / "epochs.npz"):
        os.symlink(".current/epochs.npz", folder / "epochs.npz")
    st["sha256"]["epochs.npz"] = hashlib.sha256(buf.getvalue()).hexdigest()
    cfg = json.loads((vdir / "config.json").read_text())
    cfg["format"] = fmt
    text = json.dumps(cfg, indent=2)
    (vdir / "config.json").unlink()
    (vdir / "config.json").write_text(text)
    st["sha256"]["config.json"] = hashlib.sha256(text.encode()).hexdigest()
    st["format"] = fmt
    (vdir / "state.json").unlink()
    (vdir / "state.json").write_text(json.dumps(st, indent=2))


def as_format3(folder: Path) -> None:
    """Rewrite a saved run folder as format 3 wrote it: its per-step history as steps.csv and
    gate_norms.csv (every step; the run must hold no thinned chunk) and its epochs in epochs.npz in
    its current version instead of chunk and epoch files, state.json and config.json saying format 3,
    every file hashed."""
    import hashlib
    import os

    import numpy as np

    from explorer.runs.store import STEPS_HEADER, _csv_text

    _epochs_as_npz(folder, 3)
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

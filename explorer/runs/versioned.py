"""A trainer's run folder in the versioned store: the files every family writes the same way.

A family (labelled sequences, frames, …) gives its ``config.json`` (with its own ``format``);
:func:`trainer_files` adds ``model.npz`` (the state dict), ``optimizer.npz``, ``steps.npz`` (the
per-step log) and ``state.json`` (the trainer's position, shuffling generator and history, the
SHA-256 of every other file). :func:`save_run_version` writes them as a new version of the
folder (:func:`~explorer.runs.folder.save_version`: one switch, the folder's WriterLock, links
never followed); :func:`read_run_files` reads them back, refusing a missing, damaged or foreign
file in one sentence; :func:`restore_trainer` continues the trainer bit for bit.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from .folder import RunFileError, read_files, safe_name, save_version, write_file

TRAINER_FILES = ("config.json", "model.npz", "optimizer.npz", "state.json", "steps.npz")
HASHED = ("config.json", "model.npz", "optimizer.npz", "steps.npz")


def _npz(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def trainer_files(trainer, config: dict, state_extra: dict | None = None,
                  hashed_extra: dict | None = None) -> dict[str, bytes]:
    """The bytes of :data:`TRAINER_FILES` for ``trainer`` (its model's state dict) and ``config``;
    ``state_extra`` joins ``state.json``; ``hashed_extra`` (name → bytes) are more files of the
    run, hashed like the others."""
    st = trainer.state_dict()
    opt = st.pop("optimizer")
    steps = st.pop("steps")
    out = {"config.json": json.dumps(config, indent=2, ensure_ascii=False).encode("utf-8"),
           "model.npz": _npz(trainer.model.state_dict()),
           "optimizer.npz": _npz({k: np.asarray(v) for k, v in opt.items()}),
           "steps.npz": _npz(steps), **(hashed_extra or {})}
    st.update(state_extra or {})
    st["sha256"] = {k: hashlib.sha256(out[k]).hexdigest() for k in HASHED + tuple(hashed_extra or ())}
    out["state.json"] = json.dumps(st, indent=2).encode("utf-8")
    return out


def save_run_version(folder, files: dict[str, bytes], extra=None, keep=TRAINER_FILES,
                     marker=TRAINER_FILES) -> Path:
    """Write ``files`` (and whatever ``extra(version_dir)`` writes first) as a new version of
    ``folder``; :class:`RunFileError` (one sentence) on failure, the folder unchanged."""
    def write(vdir: Path) -> None:
        if extra is not None:
            extra(vdir)
        for name, data in files.items():
            write_file(vdir / name, data)

    save_version(Path(folder), write, keep=keep, marker=marker)
    return Path(folder)


def read_run_files(folder, fmt: str, what: str, hashed_extra: tuple = ()) -> tuple[dict, dict, dict]:
    """``(raw files, config, state)`` of a run folder of format ``fmt`` (``what`` names the family
    in sentences); every hashed file (``hashed_extra`` too) checked."""
    folder = Path(folder)
    name = safe_name(folder)
    names = TRAINER_FILES + tuple(hashed_extra)
    raw = read_files(folder, names)
    missing = [f for f in names if raw[f] is None]
    if missing:
        raise RunFileError(f"{name} is not a complete {what} run folder: {', '.join(missing)} missing.")
    try:
        state = json.loads(raw["state.json"])
        for f in HASHED + tuple(hashed_extra):
            if hashlib.sha256(raw[f]).hexdigest() != state["sha256"][f]:
                raise RunFileError(f"{name}/{f} is not the file this run saved (its SHA-256 differs); "
                                   "the folder is damaged, so train a new run.")
        cfg = json.loads(raw["config.json"])
        if not isinstance(cfg, dict) or cfg.get("format") != fmt:
            raise RunFileError(f"{name} is not a {what} run folder (format "
                               f"{safe_name(str(cfg.get('format') if isinstance(cfg, dict) else cfg))[:40]!r}).")
    except RunFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunFileError(f"{name} is not a readable {what} run folder ({_what(exc)} is missing or wrong); "
                           "train a new run.") from None
    return raw, cfg, state


def restore_trainer(trainer, raw: dict, state: dict, folder, what: str) -> None:
    """Load the weights, optimiser moments, step log and position of a run read by
    :func:`read_run_files` into ``trainer`` (built with the run's settings)."""
    name = safe_name(Path(folder))
    try:
        with np.load(io.BytesIO(raw["model.npz"]), allow_pickle=False) as z:
            trainer.model.load_state_dict({k: z[k] for k in z.files})
        with np.load(io.BytesIO(raw["optimizer.npz"]), allow_pickle=False) as z:
            opt = {k: (z[k] if z[k].ndim else z[k].item()) for k in z.files}
        with np.load(io.BytesIO(raw["steps.npz"]), allow_pickle=False) as z:
            steps = {k: z[k] for k in z.files}
        if "m" in opt and np.shape(opt["m"]) != trainer.model.params.shape:
            raise RunFileError(f"{name}/optimizer.npz does not fit the model's {trainer.model.params.size} parameters.")
        trainer.load_state_dict({**state, "optimizer": opt, "steps": steps})
    except RunFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, OSError) as exc:
        raise RunFileError(f"{name} is not a readable {what} run folder ({_what(exc)} is missing or wrong); "
                           "train a new run.") from None


def is_run_of(folder, fmt: str) -> bool:
    """True when ``folder`` holds a run whose config.json says format ``fmt``."""
    try:
        raw = read_files(Path(folder), ["config.json"])["config.json"]
        return raw is not None and json.loads(raw).get("format") == fmt
    except (RunFileError, ValueError, AttributeError, UnicodeDecodeError, OSError):
        return False


def _what(exc: Exception) -> str:
    return safe_name(str(exc.args[0] if isinstance(exc, KeyError) and exc.args else type(exc).__name__))[:60]


__all__ = ["HASHED", "TRAINER_FILES", "is_run_of", "read_run_files", "restore_trainer", "save_run_version",
           "trainer_files"]

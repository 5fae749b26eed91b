"""A run: data settings + model settings + history + weights, saved to and loaded from a folder.

Folder layout (names are a contract; outside scripts read them)::

    config.json     every setting, the data file or example, the normaliser
    model.npz       the engine's PyTorch-named state dict
    optimizer.npz   the optimiser's moments and step count
    state.json      epoch, step, the random generator's state
    history.csv     epoch,train_loss,val_loss,grad_norm,clipped_fraction   (one row per epoch)
    steps.csv       step,epoch,loss,grad_norm,clipped                      (one row per step)
    gate_norms.csv  step,i,f,g,o,head   (per-gate gradient norms of every step; for the plots)

Every file is written atomically (a temporary file in the same folder, flushed, then
renamed over the old one), so a crash never leaves a half-written file. Losses are in the
target's own units (z-score MSE × σ²). No Qt here.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from explorer import __version__
from explorer.data import Dataset, dataset_from_config
from explorer.engine import RecurrentModel, TrainData, Trainer, make_model

RUN_FILES = ("config.json", "model.npz", "optimizer.npz", "state.json", "history.csv", "steps.csv")
HISTORY_HEADER = ("epoch", "train_loss", "val_loss", "grad_norm", "clipped_fraction")
STEPS_HEADER = ("step", "epoch", "loss", "grad_norm", "clipped")


class RunFileError(Exception):
    """A run folder cannot be read or written; the message is one plain sentence."""


@dataclass
class ModelSettings:
    """Model and training settings of a run."""

    cell: str = "lstm"
    units: int = 32
    layers: int = 1
    bidirectional: bool = False
    optimizer: str = "adam"
    lr: float = 0.01
    clip: float | None = 1.0
    epochs: int = 10
    batch: int = 32
    seed: int = 0
    forget_bias: float = 1.0
    sample_index: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> ModelSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# Default settings per built-in example (the adding problem's are the issue's: 32 units,
# Adam 0.01, batch 32, clipping 1, loss on the last step).
EXAMPLE_SETTINGS = {
    "sine": dict(units=16, epochs=20, lr=0.01, batch=16),
    "noisy-sine": dict(units=16, epochs=20, lr=0.01, batch=16),
    "adding": dict(units=32, epochs=8, lr=0.01, batch=32, clip=1.0),
    "first-symbol": dict(units=16, epochs=4, lr=0.01, batch=32),
    "text": dict(units=64, epochs=30, lr=0.01, batch=16),
}


def settings_for_example(name: str, **overrides) -> ModelSettings:
    return ModelSettings(**{**EXAMPLE_SETTINGS.get(name, {}), **overrides})


# -- atomic files ----------------------------------------------------------------------------
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK           # what open() gives every other file the app writes (0644)


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temporary file, flush + fsync, rename.

    On any failure the previous file at ``path`` is left intact and :class:`RunFileError`
    names the file and the reason.
    """
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, FILE_MODE)        # mkstemp makes 0600; the app's files all share one mode
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise RunFileError(f"Could not write {path}: {exc.strerror or exc}. The previous file, "
                           "if any, is unchanged; choose another folder or free some space.") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def csv_value(v) -> str:
    """One CSV field: floats as their shortest exact repr (round-trips bit for bit); NaN and None
    as an empty field; booleans as 1/0; strings as they are."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    return "" if math.isnan(v) else repr(v)


def _csv_text(header, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([csv_value(v) for v in row])
    return buf.getvalue()


def _read_csv(path: Path, header) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise RunFileError(f"Could not read {path}: {exc.strerror or exc}.") from None
    if rows and tuple(rows[0].keys())[:len(header)] != tuple(header):
        raise RunFileError(f"{path} does not start with the header {','.join(header)}.")
    return rows


def _f(s: str) -> float:
    return float("nan") if s in ("", None) else float(s)


# -- the run ---------------------------------------------------------------------------------
class Run:
    """A dataset, a model, its trainer and everything needed to save and continue."""

    def __init__(self, dataset: Dataset, settings: ModelSettings | None = None,
                 model: RecurrentModel | None = None):
        self.dataset = dataset
        self.settings = settings or ModelSettings()
        s = self.settings
        self.model = model or make_model(s.cell, n_inputs=dataset.n_inputs, n_units=s.units,
                                         n_outputs=dataset.n_outputs, num_layers=s.layers,
                                         bidirectional=s.bidirectional, seed=s.seed,
                                         forget_bias=s.forget_bias)
        self.trainer = Trainer(self.model, self.train_data(), optimizer=s.optimizer, lr=s.lr,
                               clip=s.clip, batch_size=s.batch, epochs=s.epochs, seed=s.seed,
                               sample_index=s.sample_index)

    def train_data(self) -> TrainData:
        ds = self.dataset
        scale = ds.target_scale ** 2 if ds.loss == "mse" else 1.0
        return TrainData(ds.x_train, ds.y_train, ds.x_val, ds.y_val, loss=ds.loss, loss_scale=scale)

    @property
    def loss_units(self) -> str:
        if self.dataset.loss == "cross_entropy":
            return "cross-entropy (nats)"
        if self.dataset.normalizer is None or self.dataset.normalizer.method == "none":
            return "MSE"
        return f"MSE in the units of {self.dataset.target_name or 'the target'}, squared"

    # -- saving ------------------------------------------------------------------------------
    def config(self) -> dict:
        ds = self.dataset
        return {
            "format": 1, "app": "lstm-explorer", "version": __version__,
            "data": ds.to_config(), "model": asdict(self.settings),
            "n_inputs": ds.n_inputs, "n_outputs": ds.n_outputs, "loss": ds.loss,
            "target_last": ds.target_last, "target_scale": ds.target_scale,
            "params": asdict(self.model.param_count),
        }

    def save(self, folder) -> Path:
        """Write the run to ``folder`` (created if needed), every file atomically."""
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFileError(f"Could not create the folder {folder}: {exc.strerror or exc}.") from None
        tr = self.trainer
        st = tr.state_dict()
        opt = st.pop("optimizer")
        steps = st.pop("steps")
        history = st.pop("history")
        atomic_write_text(folder / "config.json", json.dumps(self.config(), indent=2))
        atomic_write_bytes(folder / "model.npz", _npz_bytes(self.model.state_dict()))
        atomic_write_bytes(folder / "optimizer.npz", _npz_bytes({k: np.asarray(v) for k, v in opt.items()}))
        atomic_write_text(folder / "state.json", json.dumps(st, indent=2))
        atomic_write_text(folder / "history.csv", _csv_text(
            HISTORY_HEADER, ([h[k] for k in HISTORY_HEADER] for h in history)))
        atomic_write_text(folder / "steps.csv", _csv_text(
            STEPS_HEADER, zip(steps["step"], steps["epoch"], steps["loss"], steps["grad_norm"], steps["clipped"])))
        gates = [k[5:] for k in steps if k.startswith("norm_")]
        atomic_write_text(folder / "gate_norms.csv", _csv_text(
            ["step", *gates], zip(steps["step"], *(steps[f"norm_{g}"] for g in gates))))
        return folder

    @classmethod
    def load(cls, folder, dataset: Dataset | None = None) -> Run:
        """Read a run folder. The data is rebuilt from its config unless ``dataset`` is given.

        Raises :class:`RunFileError` (or the data's ``SequenceFileError``) with one sentence.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise RunFileError(f"{folder} is not a run folder (it does not exist or is a file).")
        missing = [f for f in RUN_FILES if not (folder / f).is_file()]
        if missing:
            raise RunFileError(f"{folder} is not a complete run folder: {', '.join(missing)} missing.")
        try:
            cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise RunFileError(f"Could not read the run's settings in {folder}: {exc}.") from None
        if dataset is None:
            dataset = dataset_from_config(cfg["data"])
        run = cls(dataset, ModelSettings.from_dict(cfg.get("model", {})))
        try:
            with np.load(folder / "model.npz", allow_pickle=False) as z:
                run.model.load_state_dict({k: z[k] for k in z.files})
            with np.load(folder / "optimizer.npz", allow_pickle=False) as z:
                opt = {k: (z[k].item() if z[k].ndim == 0 else z[k].copy()) for k in z.files}
        except (OSError, ValueError, KeyError) as exc:
            raise RunFileError(f"The weights in {folder} cannot be loaded: {exc}.") from None
        history = [
            {"epoch": int(r["epoch"]), "train_loss": _f(r["train_loss"]), "val_loss": _f(r["val_loss"]),
             "grad_norm": _f(r["grad_norm"]), "clipped_fraction": _f(r["clipped_fraction"])}
            for r in _read_csv(folder / "history.csv", HISTORY_HEADER)]
        rows = _read_csv(folder / "steps.csv", STEPS_HEADER)
        steps = {"step": [int(r["step"]) for r in rows], "epoch": [int(r["epoch"]) for r in rows],
                 "loss": [_f(r["loss"]) for r in rows], "grad_norm": [_f(r["grad_norm"]) for r in rows],
                 "clipped": [r["clipped"] == "1" for r in rows]}
        gpath = folder / "gate_norms.csv"
        if gpath.is_file():
            grows = _read_csv(gpath, ("step",))
            for g in run.trainer.log.gates:
                steps[f"norm_{g}"] = [_f(r.get(g, "")) for r in grows]
        state.update(optimizer=opt, history=history, steps=steps)
        run.trainer.load_state_dict(state)
        return run

    # -- predictions -------------------------------------------------------------------------
    def predictions(self, forecast: int = 0) -> dict:
        """One step ahead on the validation part, and a free-running forecast, in the target's units.

        Series: ``t`` (row of each validation target), ``target``, ``prediction``, and with
        ``forecast`` > 0 (univariate only) ``t_forecast``/``forecast`` that feed predictions back.
        Other regression data: per validation sample ``target`` and ``prediction``.
        Classification and text: ``accuracy`` and the predicted classes.
        """
        ds, model = self.dataset, self.model
        out: dict = {"kind": ds.kind}
        if ds.n_val == 0:
            return out
        y = model.predict(ds.x_val)
        if ds.loss == "cross_entropy":
            pred = y.argmax(axis=-1)
            if ds.target_last:
                pred = pred[:, -1]
            out["prediction"] = pred
            out["target"] = ds.y_val
            out["accuracy"] = float(np.mean(pred == ds.y_val))
            return out
        pred = y[:, -1, :] if ds.target_last else y
        if ds.kind == "series" and ds.normalizer is not None:
            ti = ds.target_index
            out["t"] = np.arange(ds.split_index, ds.split_index + ds.n_val)
            out["target"] = ds.normalizer.inverse(ds.y_val[:, 0], column=ti)
            out["prediction"] = ds.normalizer.inverse(pred[:, 0], column=ti)
            if forecast > 0 and ds.n_inputs == 1:
                out["t_forecast"] = np.arange(ds.split_index, ds.split_index + forecast)
                out["forecast"] = ds.normalizer.inverse(self.forecast(ds.x_val[0], forecast), column=ti)
        else:
            out["t"] = np.arange(ds.n_val)
            out["target"] = ds.y_val[:, 0]
            out["prediction"] = pred[:, 0]
        return out

    def forecast(self, window: np.ndarray, steps: int) -> np.ndarray:
        """Feed predictions back for ``steps`` steps after ``window`` (L, 1), in normalised units.

        A unidirectional model carries its state (every layer's) from step to step; a
        bidirectional one reads the whole window again, shifted by one each step (its reverse
        direction starts at the window's end).
        """
        model = self.model
        out = np.empty(steps)
        if model.bidirectional:
            w = np.array(window, dtype=float)
            for s in range(steps):
                out[s] = model.predict(w[None])[0, -1, 0]
                w[:-1] = w[1:]
                w[-1] = out[s]
            return out
        tr = model.forward(window[None])
        h, c = tr.final_state()
        y = tr.y[0, -1, 0]
        for s in range(steps):
            out[s] = y
            step = model.forward(np.array([[[y]]]), h0=h, c0=c)
            h, c = step.final_state()
            y = step.y[0, -1, 0]
        return out


# -- autosave ----------------------------------------------------------------------------------
AUTOSAVE_POINTER = "LATEST"


def write_autosave(run: Run, root) -> Path:
    """Save ``run`` as a complete new folder under ``root``, then point ``root/LATEST`` at it.

    The pointer is replaced atomically only after every file of the new folder is on disk, so
    a process killed at any moment (SIGKILL included) leaves the previous complete autosave as
    the one that is reopened, never a torn one. Older autosave folders are removed afterwards.
    """
    import shutil

    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFileError(f"Could not create the autosave folder {root}: {exc.strerror or exc}.") from None
    name = f"run-{run.trainer.step:09d}-{os.getpid()}-{int(time.time() * 1000) % 10**9:09d}"
    folder = root / name
    run.save(folder)
    atomic_write_text(root / AUTOSAVE_POINTER, name + "\n")
    for old in root.glob("run-*"):
        if old.name != name and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return folder


def latest_autosave(root) -> Path | None:
    """The folder ``root/LATEST`` points at, if it is a complete run folder."""
    root = Path(root)
    try:
        name = (root / AUTOSAVE_POINTER).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    folder = root / name
    if name and folder.is_dir() and all((folder / f).is_file() for f in RUN_FILES):
        return folder
    return None

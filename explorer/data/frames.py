"""Sequences of frames for the ConvLSTM: files (``.npy``/``.npz``, animated GIF, a folder of
numbered PNG/JPEG), built-in examples made in code ("moving-squares", "moving-digits") and the
next-frame task.

Shapes. Frames come out as (N, T, C, H, W) float64: N sequences of T frames of C channels.
An array file is read as

- (T, H, W): one sequence of grey frames;
- (N, T, H, W): N sequences — unless its last axis has 1, 3 or 4 entries and is smaller than the
  two before it, then (T, H, W, C): one sequence, channels last;
- (N, T, C, H, W) or (N, T, H, W, C): channels first when axis 2 has at most 4 entries, else last.

Where another reading was possible the dataset's notes say in one sentence which was taken and
how to ask for the other (``layout="NTHW"``, ``"THWC"``, ``"TCHW"``, ``"NTCHW"``, ``"NTHWC"``,
``"THW"``). Whole numbers are scaled to 0..1 (÷ 255, or ÷ the largest value above 255); floats
stay as they are. Images (GIF frames, PNG/JPEG files) are read as grey (Pillow's "L") ÷ 255.

Task. Next-frame prediction: the input is frames t … t + L − 1 and the target frames t + 1 …
t + L, at every step. A single sequence is cut into windows of L + 1 frames (stride L, the last
``val_fraction`` of the frames for validation; L = 10 unless a part holds fewer pairs); a set of N sequences keeps each whole (L = T − 1)
and puts the last ``round(N · val_fraction)`` sequences in validation.

Task: whole-sequence classes (:func:`load_frame_classes`). A ``.npz`` holding ``frames`` (N, T, H,
W) or (N, T, C, H, W) / (N, T, H, W, C) and ``labels`` (N,) (whole numbers or text; another name
with ``label=``) gives each sequence one class; a seeded shuffle (seed 0) puts
``round(N · val_fraction)`` sequences in validation. The built-in "square-directions" is one square
moving left, right, up or down.
"""

from __future__ import annotations

import math
import os
import re
import warnings
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dataset import Dataset
from .errors import SequenceFileError, check_budget, safe_name

FRAME_SUFFIXES = (".npy", ".npz", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
LAYOUTS = ("THW", "NTHW", "THWC", "TCHW", "NTCHW", "NTHWC")
FRAME_LOSSES = ("mse", "bce")
MAX_FRAME_SIDE = 4096
MAX_CHANNELS = 4
FRAME_VAL_FRACTION = 0.2


@dataclass
class FrameDataset(Dataset):
    """A :class:`~explorer.data.dataset.Dataset` of frames: ``x_*``, ``y_*`` are (N, L, C, H, W),
    the target the next frame at every step; ``loss`` is ``"mse"`` or ``"bce"`` (0..1 frames)."""

    frames_notes: list = field(default_factory=list)

    @property
    def n_inputs(self) -> int:
        return int(self.x_train.shape[2])

    @property
    def n_outputs(self) -> int:
        return int(self.y_train.shape[2])

    @property
    def frame(self) -> tuple:
        """(H, W)."""
        return tuple(int(s) for s in self.x_train.shape[3:])

    def copy_baseline(self, part: str = "val") -> float:
        """The per-pixel MSE of predicting the last frame again (y_t = x_t) on ``part`` ("val" or
        "train"; the training part when there is no validation): the bar a next-frame model must
        pass. (For a copy the binary cross-entropy is infinite wherever a pixel changes, so both
        losses compare on the MSE of the prediction: :func:`prediction_mse`.)"""
        x, y = (self.x_val, self.y_val) if part == "val" and self.n_val else (self.x_train, self.y_train)
        return float(np.mean((x - y) ** 2))

    def _describe(self) -> str:
        src = safe_name(self.source) if os.sep in str(self.source) else safe_name(self.source, full=True)
        H, W = self.frame
        val = f"{self.n_val} validation" if self.n_val else "no validation"
        what = "binary cross-entropy" if self.loss == "bce" else "MSE"
        return (f"{src}: {self.n_train} training and {val} sequences of {self.seq_len} frames of {H}×{W} × "
                f"{self.n_inputs} channel(s), predicting the next frame ({what} per pixel)")


def prediction_mse(model, ds: FrameDataset, part: str = "val", batch_size: int = 64) -> float:
    """The per-pixel MSE of ``model``'s next-frame prediction on ``part`` (sigmoid of the output
    for ``bce``, the output itself for ``mse``), to set beside :meth:`FrameDataset.copy_baseline`."""
    x, y = (ds.x_val, ds.y_val) if part == "val" and ds.n_val else (ds.x_train, ds.y_train)
    total = 0.0
    for s in range(0, len(x), batch_size):
        out = model.predict(x[s:s + batch_size])
        if ds.loss == "bce":
            out = 0.5 * (1.0 + np.tanh(0.5 * out))
        total += float(np.sum((out - y[s:s + batch_size]) ** 2))
    return total / y.size


@dataclass
class FrameClassDataset(FrameDataset):
    """Whole sequences of frames with one class each: ``x_*`` (N, T, C, H, W), ``y_*`` class ids
    (N,) (``class_names[id]``), ``loss`` ``"cross_entropy"``, ``task`` ``"classes"``."""

    class_names: list = field(default_factory=list)
    label_name: str = "labels"
    task: str = "classes"

    @property
    def n_outputs(self) -> int:
        return len(self.class_names)

    def class_counts(self, part: str = "train") -> np.ndarray:
        """How many sequences of each class the part holds."""
        return np.bincount(self.y_train if part == "train" else self.y_val, minlength=len(self.class_names))

    def majority_accuracy(self) -> float:
        """Accuracy on the validation part (training without one) of always answering the training
        part's commonest class: the bar a classifier must pass."""
        y = self.y_val if self.n_val else self.y_train
        return float(np.mean(y == int(np.argmax(self.class_counts()))))

    def _describe(self) -> str:
        src = safe_name(self.source) if os.sep in str(self.source) else safe_name(self.source, full=True)
        H, W = self.frame
        val = f"{self.n_val} validation" if self.n_val else "no validation"
        counts = ", ".join(f"{safe_name(str(n), full=True)} {c}" for n, c in zip(self.class_names, self.class_counts()))
        return (f"{src}: {self.n_train} training and {val} sequences of {self.seq_len} frames of {H}×{W} × "
                f"{self.n_inputs} channel(s), {len(self.class_names)} classes ({counts})")


# --------------------------------------------------------------------------- reading files


def _scaled(a: np.ndarray, name: str) -> np.ndarray:
    """Frames as float64, whole numbers scaled to 0..1; non-finite values refused."""
    if a.dtype == bool:
        return a.astype(np.float64)
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0:
            raise SequenceFileError(f"{name} holds negative whole numbers ({lo}); frames of whole numbers are "
                                    "pixel values from 0 (save floats to use other values).")
        out = a.astype(np.float64)
        out /= 255.0 if hi <= 255 else float(hi)
        return out
    if not np.issubdtype(a.dtype, np.floating):
        raise SequenceFileError(f"{name} holds {a.dtype} values, not numbers; save the frames as an array of "
                                "numbers (uint8 or float).")
    out = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise SequenceFileError(f"{name} holds NaN or infinite values; frames must be finite numbers.")
    if out.size and np.max(np.abs(out)) > 1e150:
        raise SequenceFileError(f"{name} holds values beyond ±1e150; scale the frames to about 0..1.")
    return out


def _layout(shape: tuple, layout: str | None, name: str) -> tuple[str, str | None]:
    """The layout of an array of ``shape`` and a note when another reading was possible."""
    nd = len(shape)
    if layout is not None:
        if layout not in LAYOUTS:
            raise SequenceFileError(f"The frame layout {layout!r} is not one of {', '.join(LAYOUTS)}.")
        if len(layout) != nd:
            raise SequenceFileError(f"{name} has {nd} axes {shape} but the layout {layout} has {len(layout)}; "
                                    f"choose one of {', '.join(x for x in LAYOUTS if len(x) == nd) or 'none'}.")
        return layout, None
    if nd == 3:
        return "THW", None
    if nd == 4:
        last_channels = shape[3] in (1, 3, 4) and shape[3] < min(shape[1], shape[2])
        if last_channels:
            return "THWC", (f"{name} {shape} was read as one sequence of {shape[0]} frames of {shape[1]}×{shape[2]} "
                            f"with {shape[3]} channel(s) last (THWC); give the layout NTHW for {shape[0]} "
                            f"sequences of {shape[1]} frames.")
        if shape[1] in (1, 3, 4) and shape[1] < min(shape[2], shape[3]):
            return "NTHW", (f"{name} {shape} was read as {shape[0]} sequences of {shape[1]} frames of "
                            f"{shape[2]}×{shape[3]} (NTHW); give the layout TCHW for one sequence with "
                            f"{shape[1]} channel(s) first.")
        return "NTHW", None
    if nd == 5:
        first, last = shape[2] <= MAX_CHANNELS, shape[4] <= MAX_CHANNELS
        if first and last:
            return "NTCHW", (f"{name} {shape} was read with {shape[2]} channel(s) first (NTCHW); give the layout "
                             f"NTHWC for {shape[4]} channel(s) last.")
        if first or not last:
            return "NTCHW", None
        return "NTHWC", None
    raise SequenceFileError(f"{name} holds an array of shape {shape}; frames are (T, H, W), (N, T, H, W) or "
                            "(N, T, C, H, W) with the channels first or last.")


def _to_ntchw(a: np.ndarray, layout: str) -> np.ndarray:
    perm = {"THW": (None, 0, None, 1, 2), "NTHW": (0, 1, None, 2, 3), "THWC": (None, 0, 3, 1, 2),
            "TCHW": (None, 0, 1, 2, 3), "NTCHW": (0, 1, 2, 3, 4), "NTHWC": (0, 1, 4, 2, 3)}[layout]
    axes = [p for p in perm if p is not None]
    out = a.transpose(axes)
    for j, p in enumerate(perm):
        if p is None:
            out = np.expand_dims(out, j)
    return out


def _check_shape(shape: tuple, name: str) -> None:
    N, T, C, H, W = shape
    if min(shape) < 1:
        raise SequenceFileError(f"{name} holds no frames (shape {shape}).")
    if C > MAX_CHANNELS:
        raise SequenceFileError(f"{name} has {C} channels per frame; the explorer reads 1 to {MAX_CHANNELS} "
                                "(grey, RGB, RGBA).")
    if max(H, W) > MAX_FRAME_SIDE:
        raise SequenceFileError(f"{name} has frames of {H}×{W}; the explorer reads frames up to "
                                f"{MAX_FRAME_SIDE} pixels a side.")
    if T < 2:
        raise SequenceFileError(f"{name} holds sequences of {T} frame; next-frame prediction needs at least 2.")


def _budget(n_values: int, name: str) -> None:
    check_budget(n_values * 8 * 4, f"Loading {name} ({n_values:,} pixel values)",
                 "use fewer or smaller frames")


def _array_header(fh, name: str) -> tuple:
    """(shape, dtype) of a ``.npy`` stream, read from its header alone."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    except (ValueError, OSError, EOFError) as exc:
        raise SequenceFileError(f"{name} is not a NumPy array file (its header does not read as one); save the "
                                "frames with numpy.save.") from None
    if dtype.hasobject:
        raise SequenceFileError(f"{name} holds Python objects (a pickle), which the explorer never loads; "
                                "save the frames as an array of numbers.")
    return tuple(shape), dtype


def _read_npy(path: Path, name: str) -> np.ndarray:
    with open(path, "rb") as fh:
        shape, _ = _array_header(fh, name)
    _budget(math.prod(shape), name)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise SequenceFileError(f"{name} could not be read as a NumPy array: it is shorter than its header says "
                                "or damaged; save the frames again with numpy.save.") from None


def _read_npz(path: Path, name: str) -> np.ndarray:
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if m.endswith(".npy")]
            keys = [m[:-4] for m in members]
            if len(members) == 1:
                member = members[0]
            elif "frames.npy" in members:
                member = "frames.npy"
            else:
                shown = ", ".join(keys[:6]) or "none"
                raise SequenceFileError(f"{name} holds {len(members)} arrays ({shown}); keep one, or name the "
                                        "frames 'frames'.")
            with zf.open(member) as fh:
                shape, _ = _array_header(fh, f"{name}:{member[:-4]}")
            _budget(math.prod(shape), name)
        with np.load(path, allow_pickle=False) as z:
            return z[member[:-4]]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        if isinstance(exc, SequenceFileError):
            raise
        raise SequenceFileError(f"{name} is not a readable .npz file (a damaged or foreign zip); save the frames "
                                "with numpy.savez.") from None


def _why(exc) -> str:
    """`` (too many pixels)`` for a decompression bomb, else nothing: Pillow's own texts hold
    several sentences."""
    return " (it holds too many pixels)" if type(exc).__name__.startswith("DecompressionBomb") else ""


def _pil():
    from PIL import Image

    return Image


@contextmanager
def _bombs_refused():
    """Pillow's warning about an image of very many pixels becomes its error (a refusal)."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _image_size_ok(w: int, h: int, name: str) -> None:
    if max(w, h) > MAX_FRAME_SIDE or min(w, h) < 1:
        raise SequenceFileError(f"{name} has frames of {w}×{h} pixels; the explorer reads frames of 1 to "
                                f"{MAX_FRAME_SIDE} pixels a side.")


def _read_gif(path: Path, name: str) -> np.ndarray:
    Image = _pil()
    try:
        with _bombs_refused(), Image.open(path) as im:
            w, h = im.size
            _image_size_ok(w, h, name)
            n = int(getattr(im, "n_frames", 1))
            _budget(n * w * h, name)
            frames = np.empty((n, h, w), np.uint8)
            for j in range(n):
                im.seek(j)
                frames[j] = np.asarray(im.convert("L"))
    except SequenceFileError:
        raise
    except (OSError, ValueError, EOFError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SequenceFileError(f"{name} is not a readable GIF{_why(exc)}; save the animation again as a GIF.") from None
    return frames


_NUMBER = re.compile(r"(\d+)")


def _natural(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p.lower() for p in _NUMBER.split(name))


def _read_folder(path: Path, name: str) -> np.ndarray:
    Image = _pil()
    try:
        entries = sorted((e for e in os.scandir(path) if e.name.lower().endswith(IMAGE_SUFFIXES)),
                         key=lambda e: _natural(e.name))
    except OSError as exc:
        raise SequenceFileError(f"The folder {name} could not be read ({exc.strerror or exc}).") from None
    files = [e for e in entries if e.is_file()]
    if len(files) < 2:
        raise SequenceFileError(f"The folder {name} holds {len(files)} PNG or JPEG frame(s); next-frame "
                                "prediction needs at least 2 numbered images (frame_000.png, frame_001.png, …).")
    size = None
    try:
        for e in files:                                   # headers only: sizes before any pixel is decoded
            with _bombs_refused(), Image.open(e.path) as im:
                if size is None:
                    size = im.size
                    _image_size_ok(*size, f"{name}/{safe_name(e.name)}")
                    _budget(len(files) * size[0] * size[1], name)
                elif im.size != size:
                    raise SequenceFileError(f"{safe_name(e.name)} in {name} is {im.size[0]}×{im.size[1]} but the "
                                            f"first frame is {size[0]}×{size[1]}; every frame must have one size.")
        frames = np.empty((len(files), size[1], size[0]), np.uint8)
        for j, e in enumerate(files):
            with _bombs_refused(), Image.open(e.path) as im:
                frames[j] = np.asarray(im.convert("L"))
    except SequenceFileError:
        raise
    except (OSError, ValueError, EOFError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        bad = safe_name(getattr(exc, "filename", "") or "") or "a frame"
        raise SequenceFileError(f"{bad} in {name} is not a readable PNG or JPEG{_why(exc)}; save that frame again.") from None
    return frames


def load_frames(path, layout: str | None = None) -> tuple[np.ndarray, list]:
    """Read frames from ``path`` (the module's docstring): ``(frames (N, T, C, H, W) float64,
    notes)``. Raises :class:`SequenceFileError` (one sentence) for anything else."""
    p = Path(os.fspath(path))
    name = safe_name(p)
    if not p.exists():
        raise SequenceFileError(f"{name} does not exist; give a .npy, .npz or .gif file or a folder of "
                                "numbered PNG/JPEG frames.")
    notes: list = []
    if p.is_dir():
        raw, layout = _read_folder(p, name), layout or "THW"
    elif not p.is_file():
        raise SequenceFileError(f"{name} is not a regular file (a device or a pipe); give a frames file.")
    else:
        suffix = p.suffix.lower()
        if suffix == ".npy":
            raw = _read_npy(p, name)
        elif suffix == ".npz":
            raw = _read_npz(p, name)
        elif suffix == ".gif":
            raw, layout = _read_gif(p, name), layout or "THW"
        else:
            raise SequenceFileError(f"{name} is not a frames file; give a .npy, .npz or .gif file or a folder "
                                    "of numbered PNG/JPEG frames.")
    layout, note = _layout(tuple(raw.shape), layout, name)
    if note:
        notes.append(note)
    frames = _to_ntchw(raw, layout)
    _check_shape(tuple(frames.shape), name)
    return np.ascontiguousarray(_scaled(frames, name)), notes


# --------------------------------------------------------------------------- the task


def next_frame_dataset(frames: np.ndarray, source: str, seq_len: int | None = None,
                       val_fraction: float = FRAME_VAL_FRACTION, loss: str = "mse", config: dict | None = None,
                       notes: list | None = None) -> FrameDataset:
    """Next-frame pairs from frames (N, T, C, H, W) (the module's docstring)."""
    if loss not in FRAME_LOSSES:
        raise SequenceFileError(f"The frame loss must be one of {', '.join(FRAME_LOSSES)}, not {loss!r}.")
    if not 0.0 <= float(val_fraction) < 1.0:
        raise SequenceFileError(f"The validation fraction must lie from 0 to below 1, not {val_fraction!r}.")
    N, T = frames.shape[:2]
    if loss == "bce" and (frames.min() < 0 or frames.max() > 1):
        raise SequenceFileError(f"{safe_name(source, full=True)} holds values from {frames.min():.4g} to "
                                f"{frames.max():.4g}; binary cross-entropy needs frames in 0..1 (use the loss mse).")
    if N == 1:
        L = T - 1 if seq_len is None else int(seq_len)
        total = T - 1                                     # pairs (t, t + 1)
        n_val_pairs = int(round(total * float(val_fraction)))
        train_pairs = total - n_val_pairs
        if seq_len is None:                               # 10, or what both parts hold
            L = max(1, min(10, train_pairs, n_val_pairs or train_pairs))
        if L < 1 or train_pairs < L or (n_val_pairs and n_val_pairs < L):
            raise SequenceFileError(f"{safe_name(source, full=True)} has {T} frames: too few for windows of {L} "
                                    f"frames with {float(val_fraction):g} of them for validation; give a shorter "
                                    "sequence length or more frames.")
        seq = frames[0]

        def windows(t0, t1):
            starts = range(t0, t1 - L + 1, L)
            return (np.stack([seq[s:s + L] for s in starts]), np.stack([seq[s + 1:s + L + 1] for s in starts]))

        x_tr, y_tr = windows(0, train_pairs)
        if n_val_pairs:
            x_va, y_va = windows(train_pairs, total)
        else:
            x_va, y_va = np.zeros((0,) + x_tr.shape[1:]), np.zeros((0,) + y_tr.shape[1:])
    else:
        L = T - 1
        if seq_len is not None and int(seq_len) != L:
            raise SequenceFileError(f"{safe_name(source, full=True)} holds {N} sequences of {T} frames: each is one "
                                    f"sample of {L} steps; leave the sequence length out.")
        n_val = int(round(N * float(val_fraction)))
        if N - n_val < 1:
            raise SequenceFileError(f"{safe_name(source, full=True)} holds {N} sequences: none is left for "
                                    "training; use a smaller validation fraction.")
        x_tr, y_tr = frames[:N - n_val, :-1], frames[:N - n_val, 1:]
        x_va, y_va = frames[N - n_val:, :-1], frames[N - n_val:, 1:]
    C = frames.shape[2]
    ds = FrameDataset(x_train=np.ascontiguousarray(x_tr), y_train=np.ascontiguousarray(y_tr),
                      x_val=np.ascontiguousarray(x_va), y_val=np.ascontiguousarray(y_va), loss=loss,
                      target_last=False, kind="frames", source=str(source),
                      columns=[f"channel {j + 1}" for j in range(C)], seq_len=L,
                      config=dict(config or {"type": "arrays", "source": str(source)}), notes=list(notes or []))
    return ds


def load_frames_dataset(path, seq_len: int | None = None, val_fraction: float | None = None, loss: str = "mse",
                        layout: str | None = None) -> FrameDataset:
    """A next-frame dataset from a frames file or folder (:func:`load_frames`)."""
    f = FRAME_VAL_FRACTION if val_fraction is None else float(val_fraction)
    frames, notes = load_frames(path, layout)
    cfg = {"type": "frames", "source": os.path.abspath(os.fspath(path)), "seq_len": seq_len, "val_fraction": f,
           "loss": loss, "layout": layout}
    return next_frame_dataset(frames, os.fspath(path), seq_len, f, loss, cfg, notes)


MAX_CLASSES = 1000
LABELS = "labels"


def npz_has_labels(path, label: str = LABELS) -> bool:
    """True when ``path`` is a ``.npz`` holding an array named ``label`` (its own classes)."""
    p = Path(os.fspath(path))
    if p.suffix.lower() != ".npz" or not p.is_file():
        return False
    try:
        with zipfile.ZipFile(p) as zf:
            return f"{label}.npy" in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _read_member(zf, path: Path, name: str, member: str):
    with zf.open(f"{member}.npy") as fh:
        shape, dtype = _array_header(fh, f"{name}:{member}")
    _budget(math.prod(shape), name)
    with np.load(path, allow_pickle=False) as z:
        return z[member]


def _class_ids(labels: np.ndarray, name: str, label: str) -> tuple[np.ndarray, list]:
    """(ids (N,), class names in order: numbers by value, text alphabetically)."""
    if labels.ndim != 1:
        raise SequenceFileError(f"{name}:{label} has shape {labels.shape}; give one label per sequence, (N,).")
    if labels.dtype.kind in "iub":
        names, ids = np.unique(labels, return_inverse=True)
        names = [str(int(v)) for v in names]
    elif labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels)):
        names, ids = np.unique(labels, return_inverse=True)
        names = [str(int(v)) for v in names]
    elif labels.dtype.kind in "US":
        names, ids = np.unique(labels.astype(str), return_inverse=True)
        names = [str(v) for v in names]
    else:
        raise SequenceFileError(f"{name}:{label} holds {labels.dtype} values; labels are whole numbers or text.")
    if len(names) < 2:
        raise SequenceFileError(f"{name}:{label} holds one class ({safe_name(names[0], full=True) if names else 'none'}); "
                                "classes need at least two.")
    if len(names) > MAX_CLASSES:
        raise SequenceFileError(f"{name}:{label} holds {len(names):,} classes, more than {MAX_CLASSES:,}.")
    return ids.astype(np.int64), names


def frame_class_dataset(frames: np.ndarray, ids: np.ndarray, names: list, source: str,
                        val_fraction: float = FRAME_VAL_FRACTION, config: dict | None = None,
                        notes: list | None = None, label: str = LABELS) -> FrameClassDataset:
    """Whole-sequence classes from frames (N, T, C, H, W) and class ids (N,) (the module's text)."""
    if not 0.0 <= float(val_fraction) < 1.0:
        raise SequenceFileError(f"The validation fraction must lie from 0 to below 1, not {val_fraction!r}.")
    N = frames.shape[0]
    n_val = int(round(N * float(val_fraction)))
    if N - n_val < 1:
        raise SequenceFileError(f"{safe_name(source, full=True)} holds {N} sequences: none is left for training; "
                                "use a smaller validation fraction.")
    order = np.random.default_rng(0).permutation(N)
    tr, va = order[:N - n_val], order[N - n_val:]
    C = frames.shape[2]
    return FrameClassDataset(
        x_train=np.ascontiguousarray(frames[tr]), y_train=ids[tr], x_val=np.ascontiguousarray(frames[va]),
        y_val=ids[va], loss="cross_entropy", target_last=True, kind="frames", source=str(source),
        columns=[f"channel {j + 1}" for j in range(C)], seq_len=int(frames.shape[1]),
        config=dict(config or {"type": "arrays", "source": str(source)}), notes=list(notes or []),
        class_names=list(names), label_name=label, n_classes=len(names))


def load_frame_classes(path, label: str | None = None, val_fraction: float | None = None,
                       layout: str | None = None) -> FrameClassDataset:
    """Whole-sequence classes from a ``.npz`` of ``frames`` and ``label`` (default ``labels``)
    arrays; refused in one sentence (:class:`SequenceFileError`) otherwise."""
    p = Path(os.fspath(path))
    name = safe_name(p)
    label = label or LABELS
    f = FRAME_VAL_FRACTION if val_fraction is None else float(val_fraction)
    if not p.is_file() or p.suffix.lower() != ".npz":
        raise SequenceFileError(f"{name} is not a .npz file; frames with one label per sequence are a .npz holding "
                                f"'frames' (N, T, H, W) and '{safe_name(label, full=True)}' (N,).")
    try:
        with zipfile.ZipFile(p) as zf:
            members = zf.namelist()
            missing = [m for m in ("frames", label) if f"{m}.npy" not in members]
            if missing:
                raise SequenceFileError(f"{name} holds no array '{safe_name(missing[0], full=True)}'; frames with one "
                                        f"label per sequence need 'frames' (N, T, H, W) and "
                                        f"'{safe_name(label, full=True)}' (N,).")
            raw = _read_member(zf, p, name, "frames")
            labels = _read_member(zf, p, name, label)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        if isinstance(exc, SequenceFileError):
            raise
        raise SequenceFileError(f"{name} is not a readable .npz file (a damaged or foreign zip); save it with "
                                "numpy.savez.") from None
    if raw.ndim not in (4, 5):
        raise SequenceFileError(f"{name}:frames has shape {raw.shape}; classes need N sequences, (N, T, H, W) or "
                                "(N, T, C, H, W).")
    if layout is None and raw.ndim == 4:
        layout = "NTHW"
    lay, note = _layout(tuple(raw.shape), layout, f"{name}:frames")
    if not lay.startswith("N"):
        raise SequenceFileError(f"The layout {lay} is one sequence; classes need N sequences (NTHW, NTCHW or NTHWC).")
    frames = _to_ntchw(raw, lay)
    N, T, C, H, W = frames.shape
    _check_shape((N, T if T < 1 else max(T, 2), C, H, W), f"{name}:frames")     # one frame is a sequence here
    if labels.shape != (N,):
        raise SequenceFileError(f"{name} holds {N} sequences but {labels.shape[0] if labels.ndim else 0} labels "
                                f"in '{safe_name(label, full=True)}'; give one label per sequence.")
    ids, names = _class_ids(labels, name, label)
    cfg = {"type": "frames", "task": "classes", "source": os.path.abspath(os.fspath(path)), "label": label,
           "val_fraction": f, "layout": layout}
    return frame_class_dataset(np.ascontiguousarray(_scaled(frames, name)), ids, names, os.fspath(path), f, cfg,
                               [note] if note else [], label)


def frames_from_config(cfg: dict) -> FrameDataset:
    """Rebuild :func:`load_frames_dataset` or :func:`load_frame_classes` from its config."""
    if cfg.get("task") == "classes":
        return load_frame_classes(cfg["source"], cfg.get("label"), cfg.get("val_fraction"), cfg.get("layout"))
    return load_frames_dataset(cfg["source"], cfg.get("seq_len"), cfg.get("val_fraction"), cfg.get("loss", "mse"),
                               cfg.get("layout"))


# --------------------------------------------------------------------------- examples made in code

#: 5×7 bitmaps of the digits 0–9 (one row a string, "#" set).
DIGITS = (
    (" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "),
    ("  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "),
    (" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"),
    ("#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "),
    ("   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "),
    ("#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "),
    ("  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "),
    ("#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "),
    (" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "),
    (" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "),
)


def digit_bitmap(d: int, scale: int = 1) -> np.ndarray:
    """Digit ``d`` as a (7·scale, 5·scale) array of 0.0 and 1.0."""
    glyph = np.array([[c == "#" for c in row] for row in DIGITS[int(d)]], dtype=np.float64)
    return np.kron(glyph, np.ones((scale, scale)))


DIRECTIONS = ("left", "right", "up", "down")


def square_directions(n: int, T: int, size: int = 12, rng: np.random.Generator | None = None):
    """(frames (n, T, 1, size, size), class ids (n,) into :data:`DIRECTIONS`): a 3×3 square moving
    one pixel a step left, right, up or down, never leaving the box."""
    rng = rng or np.random.default_rng(0)
    side = 3
    if size < side + T - 1:
        raise SequenceFileError(f"A square moving {T - 1} pixels does not fit a {size}×{size} box; use a larger size "
                                "or a shorter sequence.")
    out = np.zeros((n, T, 1, size, size))
    ids = rng.integers(0, len(DIRECTIONS), size=n)
    step = {0: (0, -1), 1: (0, 1), 2: (-1, 0), 3: (1, 0)}
    for b in range(n):
        dy, dx = step[int(ids[b])]
        lo = [0 if d >= 0 else T - 1 for d in (dy, dx)]
        hi = [size - side - (T - 1 if d > 0 else 0) for d in (dy, dx)]
        y0, x0 = (int(rng.integers(lo[j], hi[j] + 1)) for j in range(2))
        for t in range(T):
            y, x = y0 + dy * t, x0 + dx * t
            out[b, t, 0, y:y + side, x:x + side] = 1.0
    return out, ids


def _bounce(rng, n_seq, T, size, shape_hw, n_objects):
    """Top-left positions (n_seq, n_objects, T, 2) of objects of ``shape_hw`` bouncing in the box."""
    limit = np.array([size - shape_hw[0], size - shape_hw[1]], dtype=np.int64)
    pos = np.empty((n_seq, n_objects, T, 2), np.int64)
    p = rng.integers(0, limit + 1, size=(n_seq, n_objects, 2))
    v = rng.choice(np.array([-2, -1, 1, 2]), size=(n_seq, n_objects, 2))
    for t in range(T):
        pos[:, :, t] = p
        nxt = p + v
        over, under = nxt > limit, nxt < 0
        v = np.where(over | under, -v, v)
        p = np.clip(np.where(over, 2 * limit - nxt, np.where(under, -nxt, nxt)), 0, limit)
    return pos


def moving_squares(n: int, T: int, size: int = 16, rng: np.random.Generator | None = None) -> np.ndarray:
    """(n, T, 1, size, size): one or two squares of side 3–4 bouncing in the box, 1.0 on 0.0."""
    rng = rng or np.random.default_rng(0)
    out = np.zeros((n, T, 1, size, size))
    count = rng.integers(1, 3, size=n)
    sides = rng.integers(3, 5, size=(n, 2))
    pos = _bounce(rng, n, T, size, (4, 4), 2)
    for b in range(n):
        for j in range(count[b]):
            s = sides[b, j]
            for t in range(T):
                y, x = pos[b, j, t]
                out[b, t, 0, y:y + s, x:x + s] = 1.0
    return out


def moving_digits(n: int, T: int, size: int = 32, scale: int = 2, n_digits: int = 1,
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """(n, T, 1, size, size): ``n_digits`` digit bitmaps (drawn in code, ×``scale``) bouncing."""
    rng = rng or np.random.default_rng(0)
    h, w = 7 * scale, 5 * scale
    if h > size or w > size:
        raise SequenceFileError(f"Digits of {h}×{w} pixels do not fit a {size}×{size} box; use a larger size "
                                "or a smaller scale.")
    out = np.zeros((n, T, 1, size, size))
    digits = rng.integers(0, 10, size=(n, n_digits))
    pos = _bounce(rng, n, T, size, (h, w), n_digits)
    for b in range(n):
        for j in range(n_digits):
            glyph = digit_bitmap(digits[b, j], scale)
            for t in range(T):
                y, x = pos[b, j, t]
                np.maximum(out[b, t, 0, y:y + h, x:x + w], glyph, out=out[b, t, 0, y:y + h, x:x + w])
    return out


FRAME_EXAMPLES = {
    "moving-squares": ("Next-frame prediction: one or two squares bouncing in a 16×16 box (ConvLSTM).",
                       {"n_seq": 300, "seq_len": 10, "size": 16, "val_fraction": 0.2, "loss": "bce", "seed": 2015}),
    "moving-digits": ("Next-frame prediction: a digit drawn in code bouncing in a 32×32 box (ConvLSTM).",
                      {"n_seq": 200, "seq_len": 10, "size": 32, "scale": 2, "digits": 1, "val_fraction": 0.2,
                       "loss": "bce", "seed": 1998}),
    "square-directions": ("Whole-sequence classes: a square moving left, right, up or down in a 12×12 box (ConvLSTM).",
                          {"n_seq": 240, "seq_len": 6, "size": 12, "val_fraction": 0.25, "seed": 2024}),
}
CLASS_EXAMPLES = ("square-directions",)
"""The frames examples whose task is whole-sequence classes."""


def frame_example(name: str, p: dict) -> FrameDataset:
    """Build a frames example from its settings ``p`` (:data:`FRAME_EXAMPLES`' defaults and overrides)."""
    def whole(key, lo):
        v = p[key]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise SequenceFileError(f"The example setting {key!r} must be a whole number of at least {lo}, not {v!r}.")
        return int(v)

    n, T, size = whole("n_seq", 2), whole("seq_len", 1) + (name not in CLASS_EXAMPLES), whole("size", 4)
    if size > 128:
        raise SequenceFileError(f"The example setting 'size' must be at most 128, not {size}.")
    _budget(n * T * size * size, name)
    rng = np.random.default_rng(whole("seed", 0))
    if name in CLASS_EXAMPLES:
        frames, ids = square_directions(n, T, size, rng)
        return frame_class_dataset(frames, ids, list(DIRECTIONS), name, p["val_fraction"])
    if name == "moving-squares":
        frames = moving_squares(n, T, size, rng)
    else:
        frames = moving_digits(n, T, size, whole("scale", 1), whole("digits", 1), rng)
    return next_frame_dataset(frames, name, None, p["val_fraction"], p["loss"])


__all__ = ["FrameDataset", "FrameClassDataset", "load_frame_classes", "frame_class_dataset", "npz_has_labels",
           "square_directions", "DIRECTIONS", "CLASS_EXAMPLES", "prediction_mse", "load_frames", "load_frames_dataset", "frames_from_config", "next_frame_dataset",
           "moving_squares", "moving_digits", "digit_bitmap", "frame_example", "FRAME_EXAMPLES", "LAYOUTS",
           "FRAME_LOSSES", "FRAME_SUFFIXES"]

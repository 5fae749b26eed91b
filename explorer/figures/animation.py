"""The cell diagram stepping through a sample, one frame per timestep, as GIF, APNG or WebP.

>>> write_animation(run, "cell.gif", sample=0, unit=3, fps=4)          # a Run
>>> write_animation((trace, cell_view("lstm"), weights), "cell.webp")   # or what a session shows

Every frame is the diagram the window draws (:class:`~explorer.figures.cell_canvas.FrameRenderer`,
no widget: a worker thread may call this), at the diagram's own size (1200 px wide by default,
the unit strip below it for n > 1), with the header "sample S · t = 3 / 50 · unit U of n" on it.
Pillow encodes each frame (no image encoder of our own): GIF (256 colours per frame), APNG
(``.png``, lossless) and WebP (``.webp``, lossless); the frames stream into the file one at a time
(:mod:`.anim_stream`), so memory does not grow with the number of frames. The file is written
atomically: a failure or an interrupt leaves no half-written file and the previous one, if any,
intact.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

from explorer.app.source import Source  # noqa: E402
from explorer.app.teaching import held_at  # noqa: E402
from explorer.figures.anim_stream import write_apng, write_gif, write_webp  # noqa: E402
from explorer.app.cell_view import as_view, cell_view  # noqa: E402
from explorer.engine.describe import CellDescription  # noqa: E402
from explorer.app.cell_frame import belt_scale_of, frame_at  # noqa: E402
from explorer.figures.cell_canvas import LOGICAL_W, FrameRenderer  # noqa: E402

__all__ = ["ANIMATION_FORMATS", "AnimationError", "DEFAULT_FPS", "MIN_WIDTH", "animation_format",
           "animation_frames", "frame_image", "render_frames", "write_animation"]

#: File endings and the Pillow format that writes them.
ANIMATION_FORMATS = {".gif": "GIF", ".png": "PNG", ".webp": "WEBP"}
DEFAULT_FPS = 4.0
MIN_WIDTH = 800


class AnimationError(ValueError):
    """An animation that cannot be made as asked; the message is one sentence."""


def animation_format(path) -> str:
    """Pillow's format for ``path`` by its ending (.gif, .png as APNG, .webp); AnimationError otherwise."""
    ext = Path(path).suffix.lower()
    if ext not in ANIMATION_FORMATS:
        from explorer.runs.folder import safe_name

        raise AnimationError(f"{safe_name(path)} must end in .gif, .png (animated PNG) or .webp, the formats an "
                             "animation is written in.")
    return ANIMATION_FORMATS[ext]


def _source(source, sample: int, epoch: int | None):
    """(trace of one sample, description, index of the sample in that trace, vocabulary)."""
    if isinstance(source, tuple):
        if len(source) not in (2, 3):
            raise TypeError("write_animation takes a Run or (trace, description[, weights])")
        trace, desc = source[0], source[1]
        if trace is None:
            raise AnimationError("There is no trace to animate yet: train or run the model first.")
        desc = cell_view(desc) if isinstance(desc, str) else as_view(desc)
        batch = int(trace.batch)
        if batch == 1:
            return trace, desc, 0, None
        if not 0 <= sample < batch:
            raise AnimationError(f"--sample {sample} is outside the trace's {batch} samples (0 to {batch - 1}).")
        return trace, desc, int(sample), None
    run = source
    try:
        x, _ = run.sample_pair(sample)
    except IndexError as exc:
        raise AnimationError(f"--{exc.args[0]}.") from None
    if epoch is None:
        trace = run.model.clone().forward(x)
    else:
        try:
            trace = run.replay_trace(epoch, sample)
        except KeyError as exc:
            raise AnimationError(f"--epoch: {exc.args[0]}.") from None
    return trace, cell_view(run.model.kind), 0, getattr(run.dataset, "vocab", None)


def animation_frames(trace, desc: CellDescription, unit: int = 0, layer: int = 0, direction: int = 0,
                     b: int = 0, sample: int | None = None, vocab=None, x_note: str = "", note: str = ""):
    """The :class:`~explorer.figures.cell_canvas.Frame` of every timestep t = 1..T (a generator).
    ``trace`` is the whole model's; ``layer``/``direction`` pick the cell drawn; ``x_note`` says what
    the input values are ("z-scored"); ``note`` ends every frame's header (the replayed epoch)."""
    L, D = int(getattr(trace, "num_layers", 1)), int(getattr(trace, "num_directions", 1))
    if not 0 <= layer < L:
        raise AnimationError(f"--layer {layer} is outside the model's {L} layer{'s' if L > 1 else ''} (0 to {L - 1}).")
    if not 0 <= direction < D:
        raise AnimationError(f"--direction {direction} is outside the model's {D} direction{'s' if D > 1 else ''}"
                             + (" (0 forward, 1 reverse)." if D > 1 else " (0, forward)."))
    view = trace.layer(layer, direction) if hasattr(trace, "layer") else trace
    n = int(view.h.shape[-1])
    if not 0 <= unit < n:
        raise AnimationError(f"--unit {unit} is outside the layer's {n} units (0 to {n - 1}).")
    scale = belt_scale_of(desc, view, b)
    for t in range(int(view.T)):
        frame = frame_at(desc, view, t, unit, b=b, sample=sample, vocab=vocab, belt_scale=scale, layer=layer,
                         direction=direction, num_layers=L, num_directions=D, x_note=x_note)
        if note:
            frame.header += "  \u00b7  " + note
        yield frame


def frame_image(renderer: FrameRenderer, frame, width: int = int(LOGICAL_W)):
    """One frame as an RGB Pillow image ``width`` pixels wide."""
    from PIL import Image

    renderer.frame = frame
    img = renderer.render_image(width / LOGICAL_W).convertToFormat(QImage.Format.Format_RGB888)
    w, h = img.width(), img.height()
    data = bytes(img.constBits())[: img.bytesPerLine() * h]
    return Image.frombuffer("RGB", (w, h), data, "raw", "RGB", img.bytesPerLine(), 1).copy()


def render_frames(trace, desc, unit=0, layer=0, direction=0, b=0, sample=None, vocab=None, width=int(LOGICAL_W),
                  progress=None, interrupt=None, interventions=(), x_note: str = "", note: str = ""):
    """Pillow images of every timestep (a generator; see :func:`animation_frames`); the gates
    ``interventions`` hold at a step are tagged "held" as in the window."""
    renderer = FrameRenderer()
    view = trace.layer(layer, direction) if hasattr(trace, "layer") else trace
    total = int(view.T)
    for k, frame in enumerate(animation_frames(trace, desc, unit, layer, direction, b, sample, vocab, x_note,
                                               note)):
        if interventions:
            frame.held = held_at(interventions, layer, direction, frame.unit, k)
        if interrupt is not None and interrupt():
            from explorer.engine import Interrupted

            raise Interrupted()
        yield frame_image(renderer, frame, width)
        if progress is not None:
            progress(k + 1, total)


def _bytes_needed(fmt: str, T: int, w: int, h: int) -> int:
    """The frames stream to the file (:mod:`.anim_stream`): a few frames in RGB at a time, their
    encoders' buffers and the trace, whatever the number of frames."""
    return 24 * w * h + 64 * T            # measured: 9–13 bytes a pixel at 1200×750 (WebP the most)


def _gif_colours(frames):
    """Each frame reduced to its own 256 colours by median cut (a mean error of 0.06 of 255 per
    channel on the diagram; the fast octree was 4× faster and 80× further off: grey whites)."""
    for im in frames:
        yield im.quantize(256)


#: The longest a frame can show (ms): a GIF counts a frame's delay in 16 bits of hundredths of a
#: second; a slower --fps shows each frame this long in every format.
MAX_FRAME_MS = 655_350


def write_animation(source, path, sample: int = 0, unit: int = 0, layer: int = 0, direction: int = 0,
                    fps: float = DEFAULT_FPS, *, epoch: int | None = None, width: int = int(LOGICAL_W),
                    progress: Callable[[int, int], None] | None = None,
                    interrupt: Callable[[], bool] | None = None, interventions=(), x_note: str | None = None,
                    label: str | None = None, note: str = "") -> Path:
    """Write the diagram stepping through a sample, one frame per timestep, to ``path``.

    ``source``: a :class:`~explorer.runs.store.Run` (``sample`` indexes its validation samples, else its
    training samples, as the window's sample box; ``epoch`` replays that epoch's weights) or the
    tuple ``(trace, description[, weights])`` a session holds (a batch-1 trace is the sample; the
    weights are not needed to draw). ``unit``, ``layer``, ``direction``: what the diagram shows.
    ``fps``: frames per second (each frame shows for 1000/fps ms, at most :data:`MAX_FRAME_MS`; a
    GIF rounds that to 10 ms, at least 20). ``width`` ≥ 800 pixels.
    ``interventions``: the ones the trace was computed with (their held gates are tagged).
    ``x_note``: what the input values are ("z-scored"; default: a run's own :attr:`Dataset.input_scaling`).
    ``label``: the sample as the header names it ("3 (edited)"; default ``sample``).
    ``note`` ends every frame's header (default with ``epoch``: "replayed epoch e").
    ``progress(done, total)`` is called after each frame; ``interrupt()`` returning True stops
    with :class:`~explorer.engine.Interrupted` and nothing written. Raises
    :class:`AnimationError` (one sentence) for a bad request, :class:`~explorer.util.ram.MemoryBudgetError`
    when the frames would not fit in memory, :class:`~explorer.runs.folder.RunFileError` when the
    file cannot be written.
    """
    from explorer.util.ram import check_budget
    from explorer.runs.store import atomic_write_stream

    fmt = animation_format(path)
    if not (isinstance(fps, (int, float)) and np.isfinite(fps) and 0 < fps <= 100):
        raise AnimationError(f"--fps must be a number greater than 0 and at most 100, not {fps!r}.")
    if int(width) < MIN_WIDTH:
        raise AnimationError(f"An animation is at least {MIN_WIDTH} pixels wide, not {width}.")
    _ensure_gui_app()
    trace, desc, b, vocab = _source(source, int(sample), epoch)
    if x_note is None:
        x_note = "" if isinstance(source, tuple) else getattr(source.dataset, "input_scaling", "")
    T = int(trace.T)
    if epoch is not None and not note:
        note = Source(sample, "epoch", int(epoch)).epoch_text()
    shown = sample if label is None else label
    probe = FrameRenderer(next(animation_frames(trace, desc, unit, layer, direction, b, shown, vocab, x_note, note)))
    w0, h0 = probe.export_size()
    w, h = int(width), round(h0 * int(width) / w0)
    check_budget(_bytes_needed(fmt, T, w, h), f"An animation of {T} frames of {w}\u00d7{h} pixels",
                 "animate a shorter sample (--seq-len when training) or a narrower one")
    frames = render_frames(trace, desc, unit, layer, direction, b, shown, vocab, int(width), progress, interrupt,
                           interventions, x_note, note)
    duration = round(min(float(MAX_FRAME_MS), max(10.0, 1000.0 / float(fps))))   # 1000/fps may overflow to inf
    if fmt == "GIF":                         # GIF counts hundredths of a second (and browsers slow < 20 ms)
        duration = max(20, 10 * round(duration / 10))

    def write(fh):
        if fmt == "GIF":
            write_gif(_gif_colours(frames), fh, duration)
        elif fmt == "PNG":
            write_apng(frames, fh, T, duration)
        else:                                # lossless, the fastest good effort
            write_webp(frames, fh, duration, lossless=True, quality=0, method=1)

    atomic_write_stream(path, write)
    return Path(path)


_APP = None


def _ensure_gui_app() -> None:
    """Fonts and painting need a Qt application: the window's, or one made here (the command line;
    a QApplication, so that plot widgets can follow in the same process)."""
    global _APP
    from PySide6.QtGui import QGuiApplication

    if QGuiApplication.instance() is None:
        from PySide6.QtWidgets import QApplication

        _APP = QApplication([sys.argv[0] if sys.argv else "lstm-explorer"])

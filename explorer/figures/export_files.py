"""Export files written whole or not at all: every PNG, SVG and CSV the app exports is made in
memory and written through a temporary file and a rename, so a full disk or a refused folder
leaves the earlier file intact and raises OSError naming the file and the reason (never a file
reported as written that is not)."""

from __future__ import annotations

import contextlib
import errno

from PySide6.QtCore import QBuffer, QIODevice, QRect, QSize
from PySide6.QtGui import QImage, QPainter
from PySide6.QtSvg import QSvgGenerator

from explorer.runs.store import RunFileError, atomic_write_bytes

__all__ = ["svg_painter", "svg_recording", "write_file", "write_png"]


def write_file(path, data: bytes) -> None:
    """``data`` into ``path`` atomically (a temporary file beside it, then a rename): an export
    that fails leaves the earlier file whole and raises OSError with the reason (ENOSPC for a
    full disk) and the file's name."""
    try:
        atomic_write_bytes(path, data)
    except RunFileError as exc:
        cause = exc.__context__ if isinstance(exc.__context__, OSError) else None
        raise OSError(getattr(cause, "errno", None) or errno.EIO,
                      getattr(cause, "strerror", None) or str(exc), str(path)) from None


def write_png(image: QImage, path) -> bool:
    """``image`` as a PNG: encoded in memory (an encoder failure raises OSError), written by
    :func:`write_file`."""
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    if image.isNull() or not image.save(buf, "PNG"):
        raise OSError(errno.EIO, "the image could not be encoded as PNG", str(path))
    write_file(path, bytes(buf.data()))
    return True


@contextlib.contextmanager
def svg_recording(size: QSize, dpi: float, title: str, description: str = ""):
    """A painter on an in-memory SVG of ``size`` (view box the same, text laid out at ``dpi``);
    yields ``(painter, out)`` and appends the document's bytes to the list ``out`` when the block
    ends without an error."""
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    gen = QSvgGenerator()
    gen.setOutputDevice(buf)
    gen.setSize(size)
    gen.setViewBox(QRect(0, 0, size.width(), size.height()))
    gen.setResolution(round(dpi))
    gen.setTitle(title)
    gen.setDescription(description)
    out: list[bytes] = []
    p = QPainter(gen)
    try:
        yield p, out
    finally:
        p.end()
    out.append(bytes(buf.data()))


@contextlib.contextmanager
def svg_painter(path, size: QSize, dpi: float, title: str, description: str = ""):
    """A painter on an SVG of ``size`` (view box the same, text laid out at ``dpi``); the drawing
    is written by :func:`write_file` when the block ends without an error."""
    with svg_recording(size, dpi, title, description) as (p, out):
        yield p
    write_file(path, out[0])

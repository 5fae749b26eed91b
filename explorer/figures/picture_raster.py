"""Recorded drawings (``QPicture``) rasterised and encoded as PNG in a helper process.

Qt's painter keeps Python's interpreter lock while it draws, so a long curve drawn into an image
in a worker thread (1,000 points 4 px wide: ~1 s) would stop the window's thread for as long. The
drawing is recorded on the GUI thread (a few ms) and replayed here, in one process started at
the first export and kept; where no process can be started it is replayed in the calling thread.
The image equals the one drawn in place (the same painter on the same recorded commands).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import pickle
import struct
import subprocess
import sys
import threading
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize
from PySide6.QtGui import QColor, QImage, QPainter, QPicture

__all__ = ["picture_image", "picture_png"]

_lock = threading.Lock()
_process = None
_broken = False


def picture_image(pic: QPicture, size: QSize, scale: float, bg: QColor, dpi: float) -> QImage:
    """A recorded drawing of logical ``size`` rasterised at ``scale`` on ``bg`` (text laid out at
    ``dpi``); touches no widget."""
    img = QImage(int(round(size.width() * scale)), int(round(size.height() * scale)), QImage.Format.Format_ARGB32)
    img.setDevicePixelRatio(scale)
    dpm = int(round(dpi / 0.0254))
    img.setDotsPerMeterX(dpm)
    img.setDotsPerMeterY(dpm)
    img.fill(bg)
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    p.drawPicture(0, 0, pic)
    p.end()
    return img


def _png(image: QImage) -> bytes:
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    if image.isNull() or not image.save(buf, "PNG"):
        return b""
    return bytes(buf.data())


class _Helper:
    """The helper process (``python -c`` running :func:`_serve`: it imports nothing of the caller's
    main script), fed length-prefixed pickled requests on its stdin, answering PNG bytes."""

    def __init__(self):
        root = str(Path(__file__).resolve().parents[2])
        code = f"import sys; sys.path.insert(0, {root!r}); from explorer.figures.picture_raster import _serve; _serve()"
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env)
        atexit.register(self.close)

    def png(self, request: tuple) -> bytes:
        payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.write(struct.pack("<Q", len(payload)) + payload)
        self.proc.stdin.flush()
        return _read_message(self.proc.stdout)

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()


def _read_message(stream) -> bytes:
    head = stream.read(8)
    if len(head) != 8:
        raise EOFError("the helper process ended")
    n = struct.unpack("<Q", head)[0]
    data = stream.read(n)
    if len(data) != n:
        raise EOFError("the helper process ended")
    return data


def _serve() -> None:
    """The helper process: answer each request (a recorded drawing and how to rasterise it) with
    its PNG bytes (empty when it cannot be encoded) until its input ends."""
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - fonts need it
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            data, width, height, scale, rgba, dpi = pickle.loads(_read_message(inp))
        except EOFError:
            return
        pic = QPicture()
        pic.setData(QByteArray(data))
        png = _png(picture_image(pic, QSize(width, height), scale, QColor.fromRgba(rgba), dpi))
        out.write(struct.pack("<Q", len(png)) + png)
        out.flush()


def _helper() -> _Helper | None:
    global _process
    with _lock:
        if _process is None and not _broken:
            _process = _Helper()
        return _process


def picture_png(pic: QPicture, size: QSize, scale: float, bg: QColor, dpi: float, path) -> bytes:
    """The PNG of :func:`picture_image`, made in the helper process (in this thread when the
    process cannot be started or has died); OSError naming ``path`` when it cannot be encoded.
    Call it from a worker thread: it waits for the process."""
    global _broken
    png = None
    if not _broken:
        try:
            helper = _helper()
            with _lock:
                png = helper.png((bytes(pic.data()), size.width(), size.height(), scale, bg.rgba(), dpi))
        except (OSError, EOFError, ValueError):
            _broken = True
    if png is None:
        png = _png(picture_image(pic, size, scale, bg, dpi))
    if not png:
        raise OSError(errno.EIO, "the image could not be encoded as PNG", str(path))
    return png

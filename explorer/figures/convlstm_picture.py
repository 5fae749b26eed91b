"""The ConvLSTM picture: the input frame, the prediction and the true next frame side by side, and
below them the belt and the gates of one channel as small images —
c_{t−1} × f + i ⊙ g = c_t, then o ⊙ tanh(c_t) = h_t.

One paint routine (:func:`paint_convlstm`) draws into a widget, a PNG or an SVG, in a fixed logical
size (:data:`LOGICAL_W` × :data:`LOGICAL_H`) scaled uniformly to the device. Frames are grey
(0 black, 1 white), gates run white → blue over 0..1, and the states use the app's diverging
scale: c over ± the layer's largest |c|, g, tanh c and h over ±1. Each image is
drawn pixel for pixel (no smoothing). Fonts are sized in pixels, so an SVG keeps its text size.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

from explorer.app.convlstm_view import ConvLSTMImages
from explorer.figures.colors import DIVERGING_STOPS, GATE_COLORS

LOGICAL_W, LOGICAL_H = 1000.0, 640.0
FRAME_SIDE, STATE_SIDE = 170.0, 96.0

__all__ = ["LOGICAL_W", "LOGICAL_H", "STRIP_NAMES", "hit", "layout", "paint_convlstm", "paint_strip", "render_strip_png",
           "render_strip_svg", "render_png", "render_svg", "to_rgb", "write_convlstm_animation"]


def _lut_diverging() -> np.ndarray:
    pos = np.array([p for p, _ in DIVERGING_STOPS])
    rgb = np.array([c for _, c in DIVERGING_STOPS], dtype=float)
    u = np.linspace(-1.0, 1.0, 257)                 # 0 is entry 128 exactly
    return np.stack([np.interp(u, pos, rgb[:, j]) for j in range(3)], axis=1).round().astype(np.uint8)


_DIVERGING = _lut_diverging()
_BLUES = np.stack([np.linspace(255, 16, 256), np.linspace(255, 78, 256), np.linspace(255, 139, 256)],
                  axis=1).round().astype(np.uint8)


def to_rgb(a: np.ndarray, scale: str, vmax: float = 1.0) -> np.ndarray:
    """(H, W, 3) uint8 colours of ``a``: ``"frame"`` grey over 0..1, ``"gate"`` white → blue over
    0..1, ``"state"`` the diverging scale over ±``vmax``; values outside are clipped, NaN grey."""
    a = np.nan_to_num(np.asarray(a, dtype=float), nan=0.5 if scale != "state" else 0.0)
    if scale == "frame":
        v = (np.clip(a, 0.0, 1.0) * 255).round().astype(np.uint8)
        return np.repeat(v[..., None], 3, axis=2)
    if scale == "gate":
        return _BLUES[(np.clip(a, 0.0, 1.0) * 255).round().astype(np.intp)]
    u = np.clip(a / (vmax if vmax > 0 else 1.0), -1.0, 1.0)
    return _DIVERGING[((u + 1.0) * 128.0).round().astype(np.intp)]


def _image(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _font(px: float, bold: bool = False) -> QFont:
    f = QFont()
    f.setPixelSize(max(1, round(px)))
    f.setBold(bold)
    return f


def _panel(p: QPainter, x: float, y: float, side: float, rgb: np.ndarray, label: str, color: QColor,
           ink: QColor) -> None:
    """An image in a ``side`` square (aspect kept) with its label above and a coloured outline."""
    h, w = rgb.shape[:2]
    s = side / max(h, w)
    rect = QRectF(x + (side - w * s) / 2, y + (side - h * s) / 2, w * s, h * s)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
    p.drawImage(rect, _image(rgb))
    p.setPen(QPen(color, 2))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawRect(rect)
    p.setPen(ink)
    p.setFont(_font(15))
    p.drawText(QRectF(x - 20, y - 24, side + 40, 22), Qt.AlignmentFlag.AlignCenter, label)


def _op(p: QPainter, x: float, y: float, text: str, ink: QColor, side: float = STATE_SIDE) -> None:
    p.setPen(ink)
    p.setFont(_font(26, bold=True))
    p.drawText(QRectF(x, y, 40, side), Qt.AlignmentFlag.AlignCenter, text)


def _bar(p: QPainter, x: float, y: float, colors: np.ndarray, left: str, right: str, title: str, ink: QColor) -> None:
    img = _image(colors[None, :, :])
    p.drawImage(QRectF(x, y, 160, 12), img)
    p.setPen(ink)
    p.setFont(_font(13))
    p.drawText(QRectF(x - 60, y - 4, 56, 20), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, left)
    p.drawText(QRectF(x + 164, y - 4, 70, 20), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, right)
    p.drawText(QRectF(x, y + 14, 160, 18), Qt.AlignmentFlag.AlignCenter, title)


#: The belt's two rows: (name, label, colour scale, identity colour) or an operator (name, None, …).
_ROWS = (
    (340.0, (("c_prev", "c(t−1)", "cell", "c"), ("×", None, None, None), ("f", "forget f", "gate", "f"),
             ("+", None, None, None), ("i", "input i", "gate", "i"), ("⊙", None, None, None),
             ("g", "candidate g", "unit", "g"), ("=", None, None, None), ("c", "c(t)", "cell", "c"))),
    (490.0, (("o", "output o", "gate", "o"), ("⊙", None, None, None), ("tanh_c", "tanh c(t)", "unit", "c"),
             ("=", None, None, None), ("h", "h(t)", "state", "h"))),
)
FRAMES_Y = 72.0


def layout(has_truth: bool = True) -> list:
    """Every image of the picture: ``(name, x, y, side, label, scale, identity)`` in logical
    coordinates — the frames ``x``, ``prediction``, ``truth``, then the belt's images."""
    out = [("x", 40.0, FRAMES_Y, FRAME_SIDE, "input", "frame", "x"),
           ("prediction", 255.0, FRAMES_Y, FRAME_SIDE, "prediction", "frame", "h")]
    if has_truth:
        out.append(("truth", 470.0, FRAMES_Y, FRAME_SIDE, "true next frame", "frame", None))
    for y, items in _ROWS:
        x = 40.0
        for name, label, scale, ident in items:
            if label is None:
                x += 40
                continue
            out.append((name, x, y, STATE_SIDE, label, scale, ident))
            x += STATE_SIDE + 10
    return out


def _transform(w: float, h: float) -> tuple[float, float, float]:
    k = min(w / LOGICAL_W, h / LOGICAL_H)
    return k, (w - LOGICAL_W * k) / 2, (h - LOGICAL_H * k) / 2


def _image_rect(x: float, y: float, side: float, shape: tuple) -> QRectF:
    hh, ww = shape
    s = side / max(hh, ww)
    return QRectF(x + (side - ww * s) / 2, y + (side - hh * s) / 2, ww * s, hh * s)


def hit(w: float, h: float, px: float, py: float, shape: tuple, has_truth: bool = True):
    """``(image name, row, column)`` under device point (``px``, ``py``) of a ``w`` × ``h``
    picture of frames of ``shape`` (H, W), or None."""
    k, ox, oy = _transform(w, h)
    lx, ly = (px - ox) / k, (py - oy) / k
    for name, x, y, side, *_ in layout(has_truth):
        r = _image_rect(x, y, side, shape)
        if r.contains(lx, ly):
            col = int((lx - r.x()) / r.width() * shape[1])
            row = int((ly - r.y()) / r.height() * shape[0])
            return name, min(row, shape[0] - 1), min(col, shape[1] - 1)
    return None


def paint_convlstm(p: QPainter, w: float, h: float, im: ConvLSTMImages, title: str, vmax: float = 1.0,
                   dark: bool = False, hover: tuple | None = None, window: tuple | None = None) -> None:
    """Paint ``im`` into a ``w`` × ``h`` device area. ``title`` is plain text; ``vmax`` the scale of c.
    ``hover`` (row, column) outlines that pixel in every image; ``window`` (y0, x0, y1, x1) the
    receptive field on the input frame."""
    bg, ink = (QColor(30, 30, 30), QColor(235, 235, 235)) if dark else (QColor(255, 255, 255), QColor(25, 25, 25))
    p.fillRect(QRectF(0, 0, w, h), bg)
    k, ox, oy = _transform(w, h)
    p.save()
    p.translate(ox, oy)
    p.scale(k, k)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    p.setPen(ink)
    p.setFont(_font(19, bold=True))
    p.drawText(QRectF(20, 8, LOGICAL_W - 40, 28), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
    labels = {"x": f"input x(t={im.t + 1})", "truth": f"true frame t={im.t + 2}"}
    shape = np.shape(im.x)
    for name, x, y, side, label, scale, ident in layout(im.truth is not None):
        a = getattr(im, name)
        rgb = to_rgb(a, "state" if scale in ("cell", "unit") else scale, vmax if scale == "cell" else 1.0)
        color = GATE_COLORS[ident] if ident else QColor(128, 128, 128)
        _panel(p, x, y, side, rgb, labels.get(name, label), color, ink)
        if hover is not None and np.shape(a) == shape:
            r = _image_rect(x, y, side, shape)
            cw, ch = r.width() / shape[1], r.height() / shape[0]
            p.setPen(QPen(QColor(230, 0, 120), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            if name == "x" and window is not None:
                y0, x0, y1, x1 = window
                p.drawRect(QRectF(r.x() + x0 * cw, r.y() + y0 * ch, (x1 - x0) * cw, (y1 - y0) * ch))
            p.drawRect(QRectF(r.x() + hover[1] * cw, r.y() + hover[0] * ch, cw, ch))
    if im.truth is not None:
        err = float(np.mean((np.asarray(im.prediction) - np.asarray(im.truth)) ** 2))
        copy = float(np.mean((np.asarray(im.x) - np.asarray(im.truth)) ** 2)) if im.x.shape == im.truth.shape else None
        p.setPen(ink)
        p.setFont(_font(15))
        lines = [f"pixel MSE of the prediction: {err:.4g}"]
        if copy is not None:
            lines.append(f"copying the input frame: {copy:.4g}")
        for n, line in enumerate(lines):
            p.drawText(QRectF(700, FRAMES_Y + 50 + 24 * n, 290, 22), Qt.AlignmentFlag.AlignLeft, line)
    p.setFont(_font(16, bold=True))
    p.setPen(ink)
    p.drawText(QRectF(20, 282, LOGICAL_W - 40, 24), Qt.AlignmentFlag.AlignLeft,
               f"channel {im.channel + 1}, layer {im.layer + 1}: the belt and the gates")
    for y, items in _ROWS:
        x = 40.0
        for name, label, *_ in items:
            if label is None:
                _op(p, x, y, name, ink)
                x += 40
            else:
                x += STATE_SIDE + 10
    _bar(p, 700, 470, _BLUES[::2], "0", "1", "gates i, f, o", ink)
    _bar(p, 700, 524, _DIVERGING[::2], f"−{vmax:.3g}", f"+{vmax:.3g}", "cell state c", ink)
    _bar(p, 700, 578, _DIVERGING[::2], "−1", "+1", "g, tanh c, h", ink)
    p.restore()


def render_png(path, im: ConvLSTMImages, title: str, vmax: float = 1.0, size: tuple = (1000, 640),
               scale: float = 2.0) -> bool:
    """A PNG of the picture at ``scale`` × ``size``."""
    return _render(path, lambda p, w, h: paint_convlstm(p, w, h, im, title, vmax), size, scale)


def render_svg(path, im: ConvLSTMImages, title: str, vmax: float = 1.0, size: tuple = (1000, 640)) -> None:
    """An SVG of the picture at ``size`` (the images embedded, the text and lines as vectors)."""
    _render(path, lambda p, w, h: paint_convlstm(p, w, h, im, title, vmax), size, 1.0, title)


def write_convlstm_animation(view, path, title: str, channel: int = 0, layer: int = 0, fps: float = 4.0,
                             width: int = 1000):
    """The picture stepping through every step of ``view`` (a
    :class:`~explorer.app.convlstm_view.ConvLSTMView`), one frame per step, to ``path`` (.gif,
    .png as APNG, .webp; the format checks of :func:`explorer.figures.animation.write_animation`).
    ``title`` gets " · step t of T". Raises ``AnimationError``/``MemoryBudgetError``/``RunFileError``
    (one sentence)."""
    import io

    from PIL import Image

    from explorer.figures.animation import AnimationError, _ensure_gui_app, _gif_colours, animation_format
    from explorer.util.ram import check_budget
    from explorer.runs.store import atomic_write_bytes

    fmt = animation_format(path)
    if not 0 <= channel < view.channels:
        raise AnimationError(f"--unit {channel} is not a channel of this ConvLSTM; choose 0 to {view.channels - 1}.")
    if not 0 <= layer < view.num_layers:
        raise AnimationError(f"--layer {layer} is not a layer of this ConvLSTM; choose 0 to {view.num_layers - 1}.")
    _ensure_gui_app()
    w, h = int(width), round(int(width) * LOGICAL_H / LOGICAL_W)
    check_budget(view.T * w * h * (1 if fmt == "GIF" else 3) + 8 * w * h,
                 f"An animation of {view.T} frames of {w}\u00d7{h} pixels", "write a GIF or train on shorter sequences")
    vmax = view.state_range(layer)
    frames = []
    for t in range(view.T):
        img = QImage(w, h, QImage.Format.Format_RGB888)
        p = QPainter(img)
        try:
            paint_convlstm(p, w, h, view.at(t, channel, layer), f"{title} · step {t + 1} of {view.T}", vmax)
        finally:
            p.end()
        data = bytes(img.constBits())[: img.bytesPerLine() * h]
        frames.append(Image.frombuffer("RGB", (w, h), data, "raw", "RGB", img.bytesPerLine(), 1).copy())
    if fmt == "GIF":
        frames = list(_gif_colours(frames))
    duration = max(10, round(1000.0 / float(fps)))
    if fmt == "GIF":
        duration = max(20, 10 * round(duration / 10))
    options = {"save_all": True, "append_images": frames[1:], "duration": duration, "loop": 0}
    if fmt == "WEBP":
        options.update(lossless=True, quality=0, method=1)
    buf = io.BytesIO()
    frames[0].save(buf, format=fmt, **options)
    atomic_write_bytes(path, buf.getvalue())
    return path


#: What a frame strip can show, and its colour scale.
STRIP_NAMES = {"i": "gate", "f": "gate", "g": "unit", "o": "gate", "c": "cell", "h": "state"}
STRIP_ROWS = 16


STRIP_X0, STRIP_Y0, STRIP_GAP = 90.0, 70.0, 4.0


STRIP_BLOCK_GAP = 30.0


def strip_geometry(T: int, rows: int) -> tuple[int, float]:
    """``(blocks, side)``: the channels are laid out in 1 to 4 blocks side by side (each block all
    T steps of ⌈rows / blocks⌉ channels), as many as make the images largest."""
    best = (1, 0.0)
    for blocks in range(1, 5):
        per = -(-rows // blocks)
        width = (LOGICAL_W - 20 - blocks * STRIP_X0 - (blocks - 1) * STRIP_BLOCK_GAP) / (blocks * T)
        side = min(width, (LOGICAL_H - STRIP_Y0 - 80) / per) - STRIP_GAP
        if side > best[1] + 0.5:
            best = (blocks, side)
    return best[0], max(4.0, best[1])


def strip_cell(T: int, rows: int, shape: tuple, t: int, ch: int) -> QRectF:
    """The logical rectangle of the image of step ``t``, channel row ``ch`` in a strip of ``T``
    steps and ``rows`` channels of frames of ``shape`` (H, W)."""
    blocks, side = strip_geometry(T, rows)
    per = -(-rows // blocks)
    b, r = divmod(ch, per)
    x = STRIP_X0 + b * (STRIP_X0 + STRIP_BLOCK_GAP + T * (side + STRIP_GAP))
    return _image_rect(x + t * (side + STRIP_GAP), STRIP_Y0 + r * (side + STRIP_GAP), side, shape)


def paint_strip(p: QPainter, w: float, h: float, view, name: str, layer: int, title: str) -> None:
    """A frame strip: ``name`` (a gate or state of ``layer``) of every channel (rows, the first
    :data:`STRIP_ROWS`) at every step (columns) of ``view``'s sample, each a small image."""
    ink, bg = QColor(25, 25, 25), QColor(255, 255, 255)
    p.fillRect(QRectF(0, 0, w, h), bg)
    k, ox, oy = _transform(w, h)
    p.save()
    p.translate(ox, oy)
    p.scale(k, k)
    p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    p.setPen(ink)
    p.setFont(_font(19, bold=True))
    p.drawText(QRectF(20, 8, LOGICAL_W - 40, 28), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
    a = getattr(view.trace.layer(layer), name)[:, 0]                    # (T, F, H, W)
    T, F = a.shape[:2]
    rows = min(F, STRIP_ROWS)
    scale = STRIP_NAMES[name]
    vmax = view.state_range(layer) if scale == "cell" else 1.0
    blocks, side = strip_geometry(T, rows)
    per = -(-rows // blocks)
    shape = a.shape[2:]
    p.setFont(_font(13 if side >= 30 else 11))
    for b in range(blocks):
        first = strip_cell(T, rows, shape, 0, b * per)
        p.drawText(QRectF(first.x() - STRIP_X0 + 4, STRIP_Y0 - 22, STRIP_X0 - 12, 20),
                   Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, "step")
        for t in range(T):
            r = strip_cell(T, rows, shape, t, b * per)
            p.drawText(QRectF(r.x() - 10, STRIP_Y0 - 22, r.width() + 20, 20), Qt.AlignmentFlag.AlignCenter, str(t + 1))
    for ch in range(rows):
        r0 = strip_cell(T, rows, shape, 0, ch)
        p.setPen(ink)
        p.drawText(QRectF(r0.x() - STRIP_X0 + 4, r0.y(), STRIP_X0 - 12, r0.height()),
                   Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"channel {ch + 1}")
        for t in range(T):
            rgb = to_rgb(a[t, ch], "gate" if scale == "gate" else "state", vmax)
            p.drawImage(strip_cell(T, rows, shape, t, ch), _image(rgb))
    foot = STRIP_Y0 + per * (side + STRIP_GAP) + 14
    if scale == "gate":
        _bar(p, STRIP_X0 + 60, foot, _BLUES[::2], "0", "1", f"gate {name}", ink)
    else:
        _bar(p, STRIP_X0 + 60, foot, _DIVERGING[::2], f"−{vmax:.3g}", f"+{vmax:.3g}", name, ink)
    if F > rows:
        p.drawText(QRectF(STRIP_X0 + 320, foot - 4, 500, 20), Qt.AlignmentFlag.AlignLeft,
                   f"the first {rows} of {F} channels")
    p.restore()


def _render(path, paint, size, scale, svg_title: str = ""):
    w, h = round(size[0] * scale), round(size[1] * scale)
    if svg_title:
        from PySide6.QtSvg import QSvgGenerator

        dev = QSvgGenerator()
        dev.setFileName(str(path))
        dev.setSize(QSize(w, h))
        dev.setViewBox(QRect(0, 0, w, h))
        dev.setResolution(96)
        dev.setTitle("ConvLSTM")
        dev.setDescription(svg_title)
    else:
        dev = QImage(w, h, QImage.Format.Format_ARGB32_Premultiplied)
        dev.fill(QColor(255, 255, 255))
    p = QPainter(dev)
    try:
        paint(p, w, h)
    finally:
        p.end()
    return True if svg_title else dev.save(str(path))


def render_strip_png(path, view, name: str, layer: int, title: str, size: tuple = (1000, 640), scale: float = 2.0):
    """A PNG of :func:`paint_strip` at ``scale`` × ``size``."""
    return _render(path, lambda p, w, h: paint_strip(p, w, h, view, name, layer, title), size, scale)


def render_strip_svg(path, view, name: str, layer: int, title: str, size: tuple = (1000, 640)) -> None:
    """An SVG of :func:`paint_strip` at ``size``."""
    _render(path, lambda p, w, h: paint_strip(p, w, h, view, name, layer, title), size, 1.0, title)

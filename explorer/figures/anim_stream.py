"""Animated GIF, APNG and WebP written one frame at a time: memory flat in the number of frames.

Pillow's multi-frame savers keep every frame until the file is written (a GIF of 500 frames of the
diagram held 621 MB). Here Pillow encodes each frame alone -- a one-frame GIF (its 256 colours), a
PNG, a lossless WebP -- and its compressed image data is copied into the animation's own container
as the frame arrives; then the frame is dropped. Every frame covers the whole canvas and replaces
the one before (no blending, no frame differences), so a reader shows exactly the frames given.

- GIF (GIF89a): a looping application extension, then per frame a graphic control extension (the
  delay in hundredths of a second) and the image with its own colour table.
- APNG: ``acTL`` (the frame count, known before the first frame), then per frame ``fcTL`` and the
  PNG's ``IDAT`` data (``fdAT`` after the first frame).
- WebP: ``VP8X`` (animation), ``ANIM`` (loop), then per frame an ``ANMF`` holding the frame's
  ``VP8L`` (lossless) data; the RIFF size is written at the end.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import BinaryIO, Iterable

__all__ = ["write_gif", "write_apng", "write_webp"]


# -- GIF ----------------------------------------------------------------------------------------
def _gif_parts(data: bytes):
    """(colour table, image descriptor's packed byte, image data from the LZW code size to the
    block terminator) of a one-frame GIF as Pillow writes it."""
    flags = data[10]
    pos = 13
    table = b""
    if flags & 0x80:
        size = 3 * (2 << (flags & 7))
        table, pos = data[pos:pos + size], pos + size
    while pos < len(data):
        kind = data[pos]
        if kind == 0x21:                                   # an extension: label, then sub-blocks
            pos += 2
            while data[pos]:
                pos += 1 + data[pos]
            pos += 1
        elif kind == 0x2C:                                 # the image
            packed = data[pos + 9]
            pos += 10
            if packed & 0x80:                              # a local table of its own
                size = 3 * (2 << (packed & 7))
                table, pos = data[pos:pos + size], pos + size
            start = pos
            pos += 1                                       # LZW minimum code size
            while data[pos]:
                pos += 1 + data[pos]
            return table, packed, data[start:pos + 1]
        else:
            break
    raise ValueError("Pillow wrote a GIF without an image")


def write_gif(frames: Iterable, fp: BinaryIO, duration_ms: int, loop: int = 0) -> int:
    """Write ``frames`` (Pillow images, reduced to 256 colours each here) to ``fp`` as a looping
    GIF, each shown ``duration_ms`` (rounded to hundredths of a second). Returns the frame count."""
    delay = max(1, round(duration_ms / 10))
    count = 0
    for im in frames:
        p = im if im.mode == "P" else im.quantize(256)
        buf = io.BytesIO()
        p.save(buf, format="GIF")
        table, packed, image = _gif_parts(buf.getvalue())
        bits = max(0, (len(table) // 3 - 1).bit_length() - 1)
        table = table.ljust(3 * (2 << bits), b"\0")
        w, h = p.size
        if count == 0:
            fp.write(b"GIF89a" + struct.pack("<HHBBB", w, h, 0x70, 0, 0))   # no global table
            fp.write(b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\x00")
        fp.write(b"\x21\xf9\x04" + struct.pack("<BHB", 1 << 2, delay, 0) + b"\x00")   # dispose: keep
        fp.write(b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, 0x80 | (packed & 0x40) | bits))
        fp.write(table)
        fp.write(image)
        count += 1
    fp.write(b"\x3b")
    return count


# -- APNG ---------------------------------------------------------------------------------------
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_chunks(data: bytes):
    pos = 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        yield data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n


def write_apng(frames: Iterable, fp: BinaryIO, n_frames: int, duration_ms: int, loop: int = 0) -> int:
    """Write ``n_frames`` ``frames`` (Pillow images of one size and mode) to ``fp`` as an animated
    PNG, each shown ``duration_ms``. Returns the frame count (a ValueError when it is not
    ``n_frames``, which the file announces before its first frame)."""
    seq = 0
    count = 0
    for im in frames:
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        chunks = list(_png_chunks(buf.getvalue()))
        if count == 0:
            fp.write(b"\x89PNG\r\n\x1a\n")
            fp.write(_chunk(b"IHDR", dict(chunks)[b"IHDR"]))
            fp.write(_chunk(b"acTL", struct.pack(">II", n_frames, loop)))
        w, h = im.size
        num, den = (int(duration_ms), 1000) if duration_ms <= 0xFFFF else (round(duration_ms / 10), 100)
        fp.write(_chunk(b"fcTL", struct.pack(">IIIIIHHBB", seq, w, h, 0, 0, num, den, 0, 0)))
        seq += 1
        for kind, data in chunks:
            if kind != b"IDAT":
                continue
            if count == 0:
                fp.write(_chunk(b"IDAT", data))
            else:
                fp.write(_chunk(b"fdAT", struct.pack(">I", seq) + data))
                seq += 1
        count += 1
    if count != n_frames:
        raise ValueError(f"an APNG announced {n_frames} frames but was given {count}")
    fp.write(_chunk(b"IEND", b""))
    return count


# -- WebP ---------------------------------------------------------------------------------------
def _riff_chunks(data: bytes):
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos:pos + 4]
        (n,) = struct.unpack("<I", data[pos + 4:pos + 8])
        yield kind, data[pos + 8:pos + 8 + n]
        pos += 8 + n + (n & 1)


def _riff(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 else b"")


def _u24(v: int) -> bytes:
    return struct.pack("<I", v)[:3]


def write_webp(frames: Iterable, fp: BinaryIO, duration_ms: int, loop: int = 0, **options) -> int:
    """Write ``frames`` (RGB Pillow images of one size) to ``fp`` (seekable) as an animated WebP,
    each frame encoded by Pillow with ``options`` (e.g. ``lossless=True``) and shown
    ``duration_ms``. Returns the frame count."""
    start = fp.tell()
    count = 0
    for im in frames:
        buf = io.BytesIO()
        im.save(buf, format="WEBP", **options)
        body = b"".join(_riff(k, d) for k, d in _riff_chunks(buf.getvalue()) if k in (b"ALPH", b"VP8 ", b"VP8L"))
        w, h = im.size
        if count == 0:
            fp.write(b"RIFF\0\0\0\0WEBP")
            fp.write(_riff(b"VP8X", bytes([0x02 | (0x10 if b"ALPH" in body else 0), 0, 0, 0]) + _u24(w - 1)
                           + _u24(h - 1)))
            fp.write(_riff(b"ANIM", struct.pack("<IH", 0xFFFFFFFF, loop)))
        head = _u24(0) + _u24(0) + _u24(w - 1) + _u24(h - 1) + _u24(int(duration_ms)) + bytes([0x02])  # no blend
        fp.write(_riff(b"ANMF", head + body))
        count += 1
    end = fp.tell()
    fp.seek(start + 4)
    fp.write(struct.pack("<I", end - start - 8))
    fp.seek(end)
    return count

"""Awkward inputs for every image entry point, made on the fly (nothing large is stored)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(side: int = 20_000) -> bytes:
    """A valid 20,000×20,000 PNG header with a tiny compressed body: a decompression bomb."""
    raw = zlib.compress(b"\x00" * (side // 8 + 1) * 64, 9)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + _png_chunk(b"IDAT", raw) + _png_chunk(b"IEND", b""))


def _save(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def invalid_inputs(real_jpeg: Path) -> dict[str, bytes]:
    """Inputs that must be refused with a clear 4xx / error line."""
    data = real_jpeg.read_bytes()
    return {
        "not an image": b"%PDF-1.4 definitely not a picture",
        "truncated JPEG": data[: len(data) // 3],
        "1x1 pixel": _save(Image.new("RGB", (1, 1), "red"), "PNG"),
        "decompression bomb": png_bomb(),
        "empty": b"",
    }


def awkward_but_valid(real_jpeg: Path) -> dict[str, bytes]:
    """Real pictures in unusual encodings: handled correctly, never a 500."""
    im = Image.open(real_jpeg).convert("RGB")
    frames = [im, im.rotate(90, expand=True).resize(im.size)]
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° CW to display
    arr16 = (np.asarray(im.convert("L"), dtype=np.uint16) * 257)
    return {
        "animated GIF": _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
        "CMYK JPEG": _save(im.convert("CMYK"), "JPEG", quality=90),
        "16-bit PNG": _save(Image.fromarray(arr16), "PNG"),
        # Stored sideways (90° counter-clockwise); the EXIF tag says how to turn it back.
        "EXIF-rotated JPEG": _save(im.rotate(90, expand=True), "JPEG", quality=90, exif=exif.tobytes()),
    }

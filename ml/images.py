"""Safe image decoding shared by every image path (web upload, CLI, worker).

Everything that turns untrusted bytes into pixels goes through
:func:`decode_image`, so the checks live in one place:

* the header is read lazily and the pixel count is checked *before* any pixel
  data is decoded (decompression bombs are refused without allocating);
* only a fixed set of formats is accepted;
* truncated files raise instead of being padded with grey;
* EXIF orientation is applied and every colour mode ends up as RGB uint8;
* with ``max_side``, the pixels are never held at full size when the format allows it: a JPEG
  is decoded by libjpeg at 1/2, 1/4 or 1/8 scale (``Image.draft``), then reduced to the bound.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

__all__ = [
    "ALLOWED_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_SIDE",
    "IMAGE_SUFFIXES",
    "ImageError",
    "decode_image",
    "decode_image_file",
    "image_size_ok",
    "oriented_size",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS: Final = 40_000_000
DEFAULT_MIN_SIDE: Final = 16

# Decoders Pillow may try; everything else (PSD, ICO, EPS, ...) is never parsed.
ALLOWED_FORMATS: Final = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
# The JPEG opener returns MPO (multi-picture JPEG written by many phone cameras)
# when it sees MP data; it is an ordinary JPEG for us (first picture is used).
_ACCEPTED_RESULT_FORMATS: Final = frozenset({*ALLOWED_FORMATS, "MPO"})
_ALLOWED_HUMAN: Final = "JPEG, PNG, WebP, GIF, BMP or TIFF"
# File name endings of those formats (lower case), for choosing files before any byte is read.
IMAGE_SUFFIXES: Final = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")

# Pillow modes whose 8-bit conversion to RGB is lossless or well defined.
_DIRECT_TO_RGB: Final = frozenset({"RGB", "L", "1", "P", "CMYK", "YCbCr"})
_ALPHA_MODES: Final = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


class ImageError(ValueError):
    """An upload or file that cannot be used as an image.

    ``code`` is a stable machine-readable reason (for APIs and metrics);
    ``str(err)`` is a message fit to show to the person who sent the file.
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def image_size_ok(
    width: int,
    height: int,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
) -> None:
    """Raise :class:`ImageError` unless ``width`` x ``height`` is acceptable."""
    if width * height > max_pixels:
        raise ImageError(
            f"Image is too large: {width}x{height} pixels "
            f"({width * height / 1e6:.1f} megapixels); "
            f"the limit is {max_pixels / 1e6:.1f} megapixels.",
            code="too_large",
        )
    if min(width, height) < min_side:
        raise ImageError(
            f"Image is too small: {width}x{height} pixels; both sides must be at least {min_side} pixels.",
            code="too_small",
        )


def _open_header(data: bytes) -> Image.Image:
    """Open lazily: parses the header only, no pixel data is decoded yet."""
    try:
        return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        # Pillow refuses > 2 * MAX_IMAGE_PIXELS on its own while opening.
        raise ImageError(
            "Image is too large: its dimensions exceed the decoder's safety limit.",
            code="too_large",
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(
            f"File is not a supported image (expected {_ALLOWED_HUMAN}).",
            code="not_an_image",
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Recognised signature but a header Pillow cannot parse.
        raise ImageError("Image file is corrupt: its header cannot be read.", code="corrupt") from exc


def _bounded_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled so the long side is at most ``max_side`` (never enlarged)."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _load_pixels(im: Image.Image) -> None:
    """Decode pixel data, turning every decoder failure into an ImageError."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Some other library flipped this global; a truncated upload would
        # then be accepted with grey padding and poison the index.
        logger.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES was True; resetting to False")
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        im.seek(0)  # animated GIF / WebP / multi-page TIFF: first frame only
        im.load()
    except Image.DecompressionBombError as exc:
        raise ImageError(
            "Image is too large: its dimensions exceed the decoder's safety limit.",
            code="too_large",
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        # "image file is truncated", broken Huffman tables, bad zlib data, ...
        raise ImageError(
            "Image file is truncated or corrupt and cannot be decoded.",
            code="truncated",
        ) from exc


def _apply_orientation(im: Image.Image) -> Image.Image:
    """Rotate/flip according to EXIF; a broken EXIF block is not fatal."""
    try:
        rotated = ImageOps.exif_transpose(im)
    except Exception:
        logger.warning("ignoring unreadable EXIF orientation", exc_info=True)
        return im
    return rotated if rotated is not None else im


def _scale_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Map an integer/float single-channel array to uint8 without clipping.

    16-bit data is scaled by 255/65535 (what image viewers do); float data in
    [0, 1] is scaled by 255; anything else is min-max stretched.
    """
    if arr.dtype.kind == "f":
        finite = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(finite.min()), float(finite.max())
        if lo >= 0.0 and hi <= 1.0:
            return np.rint(finite * 255.0).astype(np.uint8)
        scaled = (finite - lo) / (hi - lo) if hi > lo else np.zeros_like(finite)
        return np.rint(scaled * 255.0).astype(np.uint8)
    wide = arr.astype(np.int64)
    lo, hi = int(wide.min()), int(wide.max())
    if lo >= 0 and hi <= 255:
        return wide.astype(np.uint8)
    if lo >= 0 and hi <= 65535:
        # Round-to-nearest integer version of v * 255 / 65535.
        return ((wide * 255 + 32767) // 65535).astype(np.uint8)
    span = max(hi - lo, 1)
    return ((wide - lo) * 255 // span).astype(np.uint8)


def _to_rgb(im: Image.Image) -> np.ndarray:
    """Convert any decoded Pillow image to a contiguous RGB uint8 array."""
    mode = im.mode
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in _ALPHA_MODES:
        # Transparent pixels often hold black; composite over white (how the
        # image looks on a web page) instead of just dropping alpha.
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba).convert("RGB")
    elif mode.startswith("I") or mode == "F":
        # I;16 / I;16B / I / F: Pillow's convert("RGB") clips to 255, which
        # turns a normal 16-bit photo almost white. Scale instead.
        gray = _scale_to_uint8(np.asarray(im))
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    elif mode != "RGB":
        if mode not in _DIRECT_TO_RGB:
            logger.info("converting unusual image mode %s to RGB", mode)
        try:
            im = im.convert("RGB")
        except (ValueError, OSError) as exc:
            raise ImageError(f"Unsupported colour mode {mode!r}.", code="unsupported_mode") from exc
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageError(f"Unsupported colour mode {mode!r}.", code="unsupported_mode")
    return np.ascontiguousarray(arr)


def decode_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
    max_side: int | None = None,
) -> np.ndarray:
    """Decode untrusted image bytes to an RGB ``uint8`` array of shape (H, W, 3).

    Raises :class:`ImageError` (with a distinct ``code``) for empty data,
    non-images, unsupported formats, bombs/too large, too small and truncated
    or corrupt files. Limits above ``2 * PIL.Image.MAX_IMAGE_PIXELS`` are
    capped by Pillow's own bomb check. ``max_pixels`` and ``min_side`` apply to
    the image as stored.

    With ``max_side`` the result's long side is at most that many pixels. A
    JPEG is then decoded at the smallest of 1/1, 1/2, 1/4, 1/8 scale that still
    covers the bound (a 36-megapixel photo bounded to 1024 px is decoded at
    1/4: 1/16 of the memory and time); other formats are decoded whole, then
    reduced (Lanczos).
    """
    if not data:
        raise ImageError("The file is empty.", code="empty")
    im = _open_header(data)
    try:
        if im.format not in _ACCEPTED_RESULT_FORMATS:
            raise ImageError(
                f"Unsupported image format {im.format!r} (expected {_ALLOWED_HUMAN}).",
                code="unsupported_format",
            )
        # Header-only size check: nothing has been decoded yet.
        width, height = im.size
        image_size_ok(width, height, max_pixels=max_pixels, min_side=min_side)
        if max_side is not None:
            if max_side < 1:
                raise ValueError(f"max_side must be positive, got {max_side}")
            im.draft(None, _bounded_size(width, height, max_side))  # a no-op for non-JPEG
        _load_pixels(im)
        rgb = _to_rgb(_apply_orientation(im))
        if max_side is not None and max(rgb.shape[:2]) > max_side:
            h, w = rgb.shape[:2]
            small = Image.fromarray(rgb).resize(_bounded_size(w, h, max_side), Image.Resampling.LANCZOS,
                                                reducing_gap=2.0)
            rgb = np.ascontiguousarray(np.asarray(small, dtype=np.uint8))
        return rgb
    finally:
        im.close()


def oriented_size(data: bytes) -> tuple[int, int]:
    """(width, height) of the stored image as shown, EXIF orientation applied, from the header
    alone (no pixel is decoded). Raises :class:`ImageError` like :func:`decode_image`."""
    im = _open_header(data)
    try:
        width, height = im.size
        try:
            turned = im.getexif().get(0x0112) in (5, 6, 7, 8)  # orientations that swap the sides
        except Exception:  # an unreadable EXIF block is ignored, as when decoding
            turned = False
        return (height, width) if turned else (width, height)
    finally:
        im.close()


def decode_image_file(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
    max_bytes: int = 200_000_000,
) -> np.ndarray:
    """Read and decode an image file; see :func:`decode_image`.

    ``max_bytes`` guards against reading a huge non-image into memory.
    """
    p = Path(path)
    size = p.stat().st_size
    if size > max_bytes:
        raise ImageError(
            f"File is too large: {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB.",
            code="file_too_large",
        )
    return decode_image(p.read_bytes(), max_pixels=max_pixels, min_side=min_side)

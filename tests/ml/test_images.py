"""Safe decoding: every hostile or unusual input either decodes to RGB uint8 or raises ImageError."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from ml.images import ImageError, decode_image, decode_image_file


def _encode(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of ``width`` x ``height`` zeros, a few tens of kB on disk."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    comp = zlib.compressobj(9)
    rows_per_piece = 1000
    piece = row * rows_per_piece
    idat = b"".join(comp.compress(piece) for _ in range(height // rows_per_piece))
    idat += comp.compress(row * (height % rows_per_piece)) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


@pytest.fixture
def no_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any pixel data gets decoded."""

    def boom(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", boom)


def test_plain_jpeg_roundtrip() -> None:
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, :, 0] = 200
    out = decode_image(_encode(Image.fromarray(rgb), "JPEG", quality=95))
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert abs(int(out[..., 0].mean()) - 200) <= 3


@pytest.mark.parametrize("data", [b"hello world, definitely not an image" * 4, b"%PDF-1.4\n" + b"0" * 200])
def test_not_an_image(data: bytes) -> None:
    with pytest.raises(ImageError, match="not a supported image") as err:
        decode_image(data)
    assert err.value.code == "not_an_image"


def test_empty() -> None:
    with pytest.raises(ImageError) as err:
        decode_image(b"")
    assert err.value.code == "empty"


def test_unsupported_format_is_refused() -> None:
    # ICO decodes fine in Pillow but is not on the allow-list.
    data = _encode(Image.new("RGB", (32, 32), "red"), "ICO")
    with pytest.raises(ImageError) as err:
        decode_image(data)
    assert err.value.code in {"not_an_image", "unsupported_format"}


def test_truncated_jpeg_is_rejected() -> None:
    rng = np.random.default_rng(0)
    data = _encode(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), "JPEG")
    for cut in (len(data) - 2, len(data) - 200, len(data) // 2):
        with pytest.raises(ImageError, match="truncated") as err:
            decode_image(data[:cut])
        assert err.value.code == "truncated"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_flag_is_forced_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    rng = np.random.default_rng(1)
    data = _encode(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), "JPEG")
    with pytest.raises(ImageError):
        decode_image(data[:-200])


def test_one_pixel_is_too_small() -> None:
    with pytest.raises(ImageError, match="too small") as err:
        decode_image(_encode(Image.new("RGB", (1, 1)), "PNG"))
    assert err.value.code == "too_small"


def test_decompression_bomb_rejected_before_decoding(no_pixel_decoding: None) -> None:
    data = _bomb_png(20_000, 20_000)
    assert len(data) < 200_000  # tiny file, 400 megapixels
    with pytest.raises(ImageError, match="too large") as err:
        decode_image(data)
    assert err.value.code == "too_large"


def test_over_our_limit_but_under_pillows_rejected_before_decoding(no_pixel_decoding: None) -> None:
    # 48 MP: Pillow's own bomb check (89 MP) would let this through.
    with pytest.raises(ImageError, match="too large") as err:
        decode_image(_bomb_png(8_000, 6_000))
    assert err.value.code == "too_large"


def test_max_pixels_parameter() -> None:
    data = _encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(ImageError, match="too large"):
        decode_image(data, max_pixels=5_000)
    assert decode_image(data, max_pixels=10_000).shape == (100, 100, 3)


def test_animated_gif_gives_first_frame() -> None:
    frames = [Image.new("RGB", (32, 24), c) for c in ("red", "lime", "blue")]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = decode_image(data)
    assert out.shape == (24, 32, 3)
    assert tuple(out[5, 5]) == (255, 0, 0)


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = _encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG", quality=95)
    out = decode_image(data)
    assert out.shape == (32, 32, 3)
    r, g, b = (int(v) for v in out[16, 16])
    assert r > 230 and g < 30 and b < 30  # red


def test_16bit_png_is_scaled_not_clipped() -> None:
    values = np.array([[0, 257 * 64, 257 * 128, 65535]], dtype=np.uint16).repeat(16, axis=0).repeat(4, axis=1)
    im = Image.fromarray(values)
    assert im.mode.startswith("I;16")
    out = decode_image(_encode(im, "PNG"))
    assert out.shape == (16, 16, 3)
    assert out[0, ::4, 0].tolist() == [0, 64, 128, 255]
    assert (out[..., 0] == out[..., 2]).all()


def test_exif_orientation_is_applied() -> None:
    im = Image.new("RGB", (40, 20), "white")
    im.paste((255, 0, 0), (0, 0, 10, 20))  # red strip on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = decode_image(_encode(im, "JPEG", quality=95, exif=exif.tobytes()))
    assert out.shape == (40, 20, 3)  # portrait after rotation
    assert out[2, 10, 0] > 200 and out[2, 10, 1] < 60  # left strip moved to the top


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "1"])
def test_modes_become_rgb(mode: str) -> None:
    im = Image.new("RGB", (20, 20), (30, 120, 200)).convert(mode)
    out = decode_image(_encode(im, "PNG"))
    assert out.shape == (20, 20, 3) and out.dtype == np.uint8


def test_transparent_pixels_composited_on_white() -> None:
    im = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    out = decode_image(_encode(im, "PNG"))
    assert (out == 255).all()


@pytest.mark.parametrize("fmt", ["WEBP", "BMP", "TIFF"])
def test_other_allowed_formats(fmt: str) -> None:
    out = decode_image(_encode(Image.new("RGB", (24, 18), (10, 200, 30)), fmt))
    assert out.shape == (18, 24, 3)


def test_decode_image_file(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    Image.new("RGB", (30, 20), "blue").save(path)
    assert decode_image_file(path).shape == (20, 30, 3)
    with pytest.raises(ImageError) as err:
        decode_image_file(path, max_bytes=10)
    assert err.value.code == "file_too_large"


def test_max_side_bounds_the_result_and_a_jpeg_is_never_decoded_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    import ml.images as images

    rng = np.random.default_rng(1)
    big = Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).resize((4000, 3000))
    decoded: list[tuple[int, ...]] = []
    to_rgb = images._to_rgb
    monkeypatch.setattr(images, "_to_rgb", lambda im: decoded.append(im.size) or to_rgb(im))
    out = decode_image(_encode(big, "JPEG", quality=80), max_side=500)
    assert out.shape == (375, 500, 3) and out.dtype == np.uint8
    assert decoded == [(500, 375)]  # libjpeg decoded it at 1/8 scale: 12.5 % of each side
    out = decode_image(_encode(big, "PNG"), max_side=500)  # no draft for PNG: decoded, then reduced
    assert out.shape == (375, 500, 3)
    small = decode_image(_encode(big.resize((400, 300)), "JPEG"), max_side=500)
    assert small.shape == (300, 400, 3)  # never enlarged


def test_max_side_keeps_the_bomb_check(no_pixel_decoding: None) -> None:
    with pytest.raises(ImageError) as err:
        decode_image(_bomb_png(20_000, 20_000), max_side=256)
    assert err.value.code == "too_large"


def test_oriented_size_reads_the_header_and_the_exif_turn_only(no_pixel_decoding: None) -> None:
    from ml.images import oriented_size

    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown turned by 90 degrees
    turned = _encode(Image.new("RGB", (60, 40)), "JPEG", exif=exif.tobytes())
    assert oriented_size(turned) == (40, 60)
    assert oriented_size(_encode(Image.new("RGB", (60, 40)), "PNG")) == (60, 40)

"""Deterministic perturbation suite for evaluating duplicate/detail detection.

Each family models one way a copy of an artwork is found in the wild and comes
in a few strengths.  Every function takes ``(rgb, rng, background)`` and
returns a new uint8 RGB image; all randomness comes from ``rng`` so that a
seeded generator reproduces the suite exactly.  ``background`` is only used by
``paste`` (another picture to paste the artwork into).

Expected verdicts: every family is a DUPLICATE of its source except ``detail``
(a small crop, upscaled), which must be found as a DETAIL.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ml.rules import Verdict

__all__ = ["PERTURBATIONS", "PerturbFn", "Perturbed", "expected_verdict", "generate"]

PerturbFn = Callable[[np.ndarray, np.random.Generator, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Perturbed:
    """One perturbed copy of a source image and the verdict it should get."""

    family: str
    strength: str
    image: np.ndarray
    expected_verdict: Verdict


def _u8(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8))


def _resize(img: np.ndarray, width: float, height: float) -> np.ndarray:
    width, height = max(1, round(width)), max(1, round(height))
    shrink = width * height < img.shape[0] * img.shape[1]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    return cv2.resize(img, (width, height), interpolation=interp)


# --------------------------------------------------------------------------
# crop / detail
# --------------------------------------------------------------------------


def _crop_area(img: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Off-centre crop keeping ``fraction`` of the area (same aspect ratio)."""
    h, w = img.shape[:2]
    side = np.sqrt(fraction)
    cw, ch = max(8, round(w * side)), max(8, round(h * side))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    return img[y0 : y0 + ch, x0 : x0 + cw].copy()


def crop(fraction: float) -> PerturbFn:
    def fn(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
        return _crop_area(rgb, fraction, rng)

    return fn


def detail(fraction: float) -> PerturbFn:
    """A crop of ``fraction`` of the area, upscaled back to the source's long side.

    The window avoids the outer 5 % so that it shows the picture's content, as
    a detail reproduction would, rather than a border strip.
    """

    def fn(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        mx, my = int(w * 0.05), int(h * 0.05)
        inner = rgb[my : h - my, mx : w - mx]
        part = _crop_area(inner, min(1.0, fraction / (inner.size / rgb.size)), rng)
        scale = max(h, w) / max(part.shape[:2])
        return _resize(part, part.shape[1] * scale, part.shape[0] * scale)

    return fn


# --------------------------------------------------------------------------
# resize / jpeg
# --------------------------------------------------------------------------


def resize(factor: float) -> PerturbFn:
    def fn(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        return _resize(rgb, w * factor, h * factor)

    return fn


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def jpeg(quality: int) -> PerturbFn:
    def fn(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
        return _jpeg(rgb, quality)

    return fn


# --------------------------------------------------------------------------
# colour
# --------------------------------------------------------------------------


def _hue(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.int32)
    shift = int(rng.integers(25, 65)) * int(rng.choice([-1, 1]))  # OpenCV hue is 0..179
    hsv[..., 0] = (hsv[..., 0] + shift) % 180
    return cv2.cvtColor(_u8(hsv), cv2.COLOR_HSV2RGB)


def _saturation(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] *= float(rng.uniform(1.6, 2.2))
    return cv2.cvtColor(_u8(hsv), cv2.COLOR_HSV2RGB)


def _greyscale(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def _brightness_contrast(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    contrast = float(rng.uniform(0.6, 0.75))
    brightness = float(rng.uniform(25, 45)) * float(rng.choice([-1, 1]))
    return _u8((rgb.astype(np.float32) - 128.0) * contrast + 128.0 + brightness)


_SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], np.float32)


def _sepia(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    return _u8(rgb.astype(np.float32) @ _SEPIA.T)


# --------------------------------------------------------------------------
# rotate / mirror
# --------------------------------------------------------------------------


def rotate_quarter(turns: int) -> PerturbFn:
    def fn(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
        # np.rot90 turns counter-clockwise; copy for a contiguous array.
        return np.ascontiguousarray(np.rot90(rgb, k=turns))

    return fn


def rotate_small(low: float, high: float) -> PerturbFn:
    """Rotate by ±[low, high] degrees on an enlarged canvas, filling the corners."""

    def fn(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
        angle = float(rng.uniform(low, high)) * float(rng.choice([-1, 1]))
        h, w = rgb.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        cos, sin = abs(m[0, 0]), abs(m[0, 1])
        nw, nh = int(np.ceil(w * cos + h * sin)), int(np.ceil(w * sin + h * cos))
        m[0, 2] += nw / 2 - w / 2
        m[1, 2] += nh / 2 - h / 2
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        return cv2.warpAffine(
            rgb, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=fill
        )

    return fn


def _mirror(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, ::-1])


def _mirror_jpeg(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    return _jpeg(_crop_area(_mirror(rgb, rng, background), 0.85, rng), 40)


# --------------------------------------------------------------------------
# frame / text
# --------------------------------------------------------------------------


def _wood(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A wood-like texture: brown base, sinusoidal grain and noise."""
    base = np.array(rng.choice([[120, 78, 40], [92, 58, 30], [150, 105, 60]]), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    freq = float(rng.uniform(0.15, 0.35))
    grain = np.sin(yy * freq + 3.0 * np.sin(xx * 0.02 + float(rng.uniform(0, 6)))) * 18.0
    noise = rng.normal(0.0, 6.0, (h, w)).astype(np.float32)
    return _u8(base[None, None, :] + (grain + noise)[..., None])


def frame(fraction: float, style: str) -> PerturbFn:
    """A border ``fraction`` of the long side wide: flat colour, wood or gilt with a mat."""

    def fn(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        b = max(2, round(max(h, w) * fraction))
        H, W = h + 2 * b, w + 2 * b
        if style == "wood":
            canvas = _wood(H, W, rng)
        else:
            colour = rng.choice([[20, 20, 20], [200, 170, 70], [235, 232, 220], [110, 20, 30]])
            canvas = np.empty((H, W, 3), np.uint8)
            canvas[:] = colour
        if style == "gilt":
            # A lighter inner mat band and a dark inner edge, like a mounted print.
            mat = b // 3
            cv2.rectangle(canvas, (b - mat, b - mat), (b + w + mat - 1, b + h + mat - 1), (236, 230, 210), -1)
            cv2.rectangle(canvas, (b - 2, b - 2), (b + w + 1, b + h + 1), (40, 30, 20), 2)
        canvas[b : b + h, b : b + w] = rgb
        return canvas

    return fn


_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _caption(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A caption bar over the bottom of the picture."""
    out = rgb.copy()
    h = out.shape[0]
    bar = max(12, h // 9)
    out[h - bar :] = (out[h - bar :].astype(np.float32) * 0.35).astype(np.uint8)
    scale = bar / 40.0
    cv2.putText(out, "Museum collection (c) 2024", (4, h - bar // 3), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _watermark(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A large semi-transparent diagonal watermark across the picture."""
    h, w = rgb.shape[:2]
    layer = np.zeros((h, w), np.uint8)
    scale = max(h, w) / 260.0
    for i, y in enumerate(range(h // 5, h, max(20, h // 3))):
        cv2.putText(layer, "SAMPLE" if i % 2 == 0 else "stock", (w // 10, y), _FONT, 1.4 * scale, 255, 2, cv2.LINE_AA)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(20, 35)), 1.0)
    layer = cv2.warpAffine(layer, m, (w, h))
    alpha = (layer.astype(np.float32) / 255.0 * 0.45)[..., None]
    return _u8(rgb.astype(np.float32) * (1 - alpha) + 255.0 * alpha)


def _text_heavy(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """Several opaque text lines over the picture (meme / poster)."""
    out = rgb.copy()
    h, w = out.shape[:2]
    scale = max(h, w) / 300.0
    lines = ["EXHIBITION", "Opening 12 May", "free entry"]
    for i, line in enumerate(lines):
        y = int(h * (0.2 + 0.3 * i)) + int(rng.integers(-5, 6))
        cv2.putText(out, line, (int(w * 0.06), y), _FONT, 0.9 * scale, (0, 0, 0), 4, cv2.LINE_AA)
        cv2.putText(out, line, (int(w * 0.06), y), _FONT, 0.9 * scale, (255, 255, 255), 2, cv2.LINE_AA)
    return out


# --------------------------------------------------------------------------
# wall photo / paste
# --------------------------------------------------------------------------


def wall_photo(cover: float, tilt: float, noise: float) -> PerturbFn:
    """The picture photographed on a wall.

    It is perspective-warped (corners displaced by up to ``tilt`` of its size)
    onto a larger wall-coloured photo, covering about ``cover`` of its area,
    under a lighting gradient, with slight blur and sensor noise.
    """

    def fn(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        side = 1.0 / np.sqrt(cover)
        W, H = round(w * side), round(h * side)
        wall = np.array(rng.choice([[225, 218, 200], [190, 200, 205], [150, 40, 45], [230, 230, 228]]), np.float32)
        photo = np.empty((H, W, 3), np.float32)
        photo[:] = wall
        photo += rng.normal(0.0, 3.0, (H, W, 1)).astype(np.float32)  # plaster texture
        # Destination quad: centred, each corner jittered by up to tilt * size.
        x0, y0 = (W - w) / 2, (H - h) / 2
        dst = np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]], np.float32)
        dst += (rng.uniform(-tilt, tilt, (4, 2)) * [w, h]).astype(np.float32)
        src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        m = cv2.getPerspectiveTransform(src, dst)
        warped = cv2.warpPerspective(rgb, m, (W, H), flags=cv2.INTER_LINEAR)
        mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (W, H)) > 127
        photo[mask] = warped[mask]
        # Lighting: a linear gradient in a random direction (a lamp to one side).
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        a = float(rng.uniform(0, 2 * np.pi))
        ramp = (np.cos(a) * xx / W + np.sin(a) * yy / H) * float(rng.uniform(0.25, 0.4))
        photo *= (1.0 + ramp - ramp.mean())[..., None]
        photo = cv2.GaussianBlur(photo, (0, 0), 0.8)
        photo += rng.normal(0.0, noise, photo.shape).astype(np.float32)
        return _u8(photo)

    return fn


def paste(cover: float) -> PerturbFn:
    """The picture pasted into ``background`` (resized) covering ``cover`` of its area."""

    def fn(rgb: np.ndarray, rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
        if background is None:
            raise ValueError("the paste perturbation needs a background image")
        h, w = rgb.shape[:2]
        bh, bw = background.shape[:2]
        # Background sized so the pasted picture keeps its resolution and
        # covers `cover` of the composite, keeping the background's aspect.
        area = h * w / cover
        H = round(np.sqrt(area * bh / bw))
        W = round(area / H)
        H, W = max(H, h + 2), max(W, w + 2)
        canvas = _resize(np.ascontiguousarray(background[..., :3]), W, H).copy()
        x0 = int(rng.integers(0, W - w + 1))
        y0 = int(rng.integers(0, H - h + 1))
        canvas[y0 : y0 + h, x0 : x0 + w] = rgb
        return canvas

    return fn


# --------------------------------------------------------------------------
# the suite
# --------------------------------------------------------------------------

PERTURBATIONS: dict[str, list[tuple[str, PerturbFn]]] = {
    "crop": [("90%", crop(0.90)), ("75%", crop(0.75)), ("60%", crop(0.60))],
    "resize": [("x0.5", resize(0.5)), ("x0.3", resize(0.3)), ("x1.6", resize(1.6))],
    "jpeg": [("q50", jpeg(50)), ("q25", jpeg(25)), ("q10", jpeg(10))],
    "colour": [
        ("hue", _hue),
        ("saturation", _saturation),
        ("greyscale", _greyscale),
        ("brightness_contrast", _brightness_contrast),
        ("sepia", _sepia),
    ],
    "rotate": [
        ("90", rotate_quarter(1)),
        ("180", rotate_quarter(2)),
        ("270", rotate_quarter(3)),
        ("small", rotate_small(5.0, 10.0)),
    ],
    "mirror": [("horizontal", _mirror), ("horizontal+crop+jpeg", _mirror_jpeg)],
    "frame": [("5%", frame(0.05, "flat")), ("10%", frame(0.10, "wood")), ("20%", frame(0.20, "gilt"))],
    "text": [("caption", _caption), ("watermark", _watermark), ("heavy", _text_heavy)],
    "wall": [
        ("80%", wall_photo(0.80, 0.03, 2.0)),
        ("65%", wall_photo(0.65, 0.06, 3.0)),
        ("50%", wall_photo(0.50, 0.09, 4.0)),
    ],
    "paste": [("70%", paste(0.70)), ("55%", paste(0.55)), ("40%", paste(0.40))],
    "detail": [("35%", detail(0.35)), ("25%", detail(0.25)), ("15%", detail(0.15))],
}


def expected_verdict(family: str) -> Verdict:
    """What the pipeline should say about a perturbed copy of this family."""
    return Verdict.DETAIL if family == "detail" else Verdict.DUPLICATE


def generate(
    rgb: np.ndarray,
    *,
    background: np.ndarray,
    rng: np.random.Generator | int,
    families: list[str] | None = None,
) -> list[Perturbed]:
    """Every strength of every family (or of ``families``) applied to ``rgb``.

    Deterministic for a given seed: each (family, strength) draws from its own
    child generator, so adding or filtering families does not change others.
    """
    image = np.asarray(rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    gen = np.random.default_rng(rng) if isinstance(rng, int) else rng
    base = int(gen.integers(0, 2**63))  # one draw: a seeded rng reproduces the suite
    names = list(PERTURBATIONS) if families is None else families
    unknown = sorted(set(names) - set(PERTURBATIONS))
    if unknown:
        raise ValueError(f"unknown perturbation families: {unknown}")
    out: list[Perturbed] = []
    for family in PERTURBATIONS:
        if family not in names:
            continue
        for strength, fn in PERTURBATIONS[family]:
            # A stable child stream per (family, strength) name.
            key = (zlib.crc32(f"{family}/{strength}".encode()),)
            child = np.random.default_rng(np.random.SeedSequence(base, spawn_key=key))
            out.append(Perturbed(family, strength, fn(image, child, background), expected_verdict(family)))
    return out

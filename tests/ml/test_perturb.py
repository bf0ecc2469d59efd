"""The perturbation suite: coverage of the families, shapes and determinism."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.perturb import PERTURBATIONS, Perturbed, expected_verdict, generate
from ml.rules import Verdict

SAMPLE = Path(__file__).resolve().parents[2] / "demo" / "wga_sample" / "images"


def synthetic(h: int = 150, w: int = 220, seed: int = 0) -> np.ndarray:
    """A textured RGB test card (gradients, shapes, noise) without the demo sample."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 255 // (h + w)], axis=-1).astype(np.uint8)
    for _ in range(12):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(img, (x, y), int(rng.integers(5, 25)), colour, -1)
    return img


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    path = SAMPLE / "a__aagaard__deerlake.jpg"
    if not path.exists():
        return synthetic()
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def background() -> np.ndarray:
    return synthetic(240, 320, seed=1)


@pytest.fixture(scope="module")
def suite(image: np.ndarray, background: np.ndarray) -> list[Perturbed]:
    return generate(image, background=background, rng=np.random.default_rng(42))


def test_every_family_with_several_strengths(suite: list[Perturbed]) -> None:
    expected = {"crop", "resize", "jpeg", "colour", "rotate", "mirror", "frame", "text", "wall", "paste", "detail"}
    assert set(PERTURBATIONS) == expected
    for family, strengths in PERTURBATIONS.items():
        assert len(strengths) >= 2, family
        assert len({name for name, _ in strengths}) == len(strengths), family
    assert len(suite) == sum(len(s) for s in PERTURBATIONS.values())
    assert {(p.family, p.strength) for p in suite} == {(f, s) for f, ss in PERTURBATIONS.items() for s, _ in ss}


def test_outputs_are_rgb_uint8_and_change_the_image(suite: list[Perturbed], image: np.ndarray) -> None:
    for p in suite:
        assert p.image.dtype == np.uint8 and p.image.ndim == 3 and p.image.shape[2] == 3, (p.family, p.strength)
        assert p.image.flags["C_CONTIGUOUS"]
        assert min(p.image.shape[:2]) >= 32, (p.family, p.strength)
        same_shape = p.image.shape == image.shape
        assert not (same_shape and np.array_equal(p.image, image)), (p.family, p.strength)


def test_expected_verdicts(suite: list[Perturbed]) -> None:
    for p in suite:
        assert p.expected_verdict is (Verdict.DETAIL if p.family == "detail" else Verdict.DUPLICATE)
    assert expected_verdict("detail") is Verdict.DETAIL and expected_verdict("wall") is Verdict.DUPLICATE


def test_geometry_of_the_families(suite: list[Perturbed], image: np.ndarray) -> None:
    by = {(p.family, p.strength): p.image for p in suite}
    h, w = image.shape[:2]
    area = h * w
    for strength, fraction in (("90%", 0.90), ("75%", 0.75), ("60%", 0.60)):
        crop = by[("crop", strength)]
        assert crop.shape[0] * crop.shape[1] == pytest.approx(fraction * area, rel=0.03)
    assert by[("resize", "x0.5")].shape[:2] == (round(h * 0.5), round(w * 0.5))
    assert by[("rotate", "90")].shape[:2] == (w, h)
    np.testing.assert_array_equal(by[("rotate", "180")], image[::-1, ::-1])
    np.testing.assert_array_equal(by[("mirror", "horizontal")], image[:, ::-1])
    # frames add a border of 5-20 % of the long side on each side, keeping the picture
    framed = by[("frame", "20%")]
    b = round(max(h, w) * 0.20)
    assert framed.shape[:2] == (h + 2 * b, w + 2 * b)
    np.testing.assert_array_equal(framed[b : b + h, b : b + w], image)
    # wall photo / paste: the picture covers about the stated share of the result
    for family, strength, share in (("wall", "80%", 0.8), ("wall", "50%", 0.5), ("paste", "40%", 0.4)):
        out = by[(family, strength)]
        assert area / (out.shape[0] * out.shape[1]) == pytest.approx(share, rel=0.1), (family, strength)
    # details are upscaled back to the source's long side
    for strength in ("35%", "25%", "15%"):
        assert max(by[("detail", strength)].shape[:2]) == pytest.approx(max(h, w), abs=2)
    assert np.all(by[("colour", "greyscale")][..., 0] == by[("colour", "greyscale")][..., 1])


def test_paste_keeps_the_picture_intact(image: np.ndarray, background: np.ndarray) -> None:
    out = next(p.image for p in generate(image, background=background, rng=3, families=["paste"]))
    h, w = image.shape[:2]
    # locate the pasted picture by template matching, then compare exactly
    res = cv2.matchTemplate(out, image, cv2.TM_SQDIFF)
    _, _, (x, y), _ = cv2.minMaxLoc(res)
    np.testing.assert_array_equal(out[y : y + h, x : x + w], image)


def test_deterministic_for_a_seed(image: np.ndarray, background: np.ndarray) -> None:
    a = generate(image, background=background, rng=np.random.default_rng(5))
    b = generate(image, background=background, rng=np.random.default_rng(5))
    c = generate(image, background=background, rng=np.random.default_rng(6))
    for x, y in zip(a, b, strict=True):
        assert (x.family, x.strength) == (y.family, y.strength)
        np.testing.assert_array_equal(x.image, y.image)
    differs = [
        x.family for x, z in zip(a, c, strict=True) if x.image.shape != z.image.shape or np.any(x.image != z.image)
    ]
    assert {"crop", "wall", "paste", "detail"} <= set(differs)
    assert "jpeg" not in differs  # no randomness there
    # an int seed works too, and a family subset draws the same images as the full suite
    d = generate(image, background=background, rng=5)
    e = generate(image, background=background, rng=5, families=["wall"])
    wall_d = [p.image for p in d if p.family == "wall"]
    assert len(e) == 3
    for x, y in zip(wall_d, (p.image for p in e), strict=True):
        np.testing.assert_array_equal(x, y)


def test_bad_inputs(image: np.ndarray, background: np.ndarray) -> None:
    with pytest.raises(ValueError, match="unknown"):
        generate(image, background=background, rng=0, families=["blur"])
    with pytest.raises(ValueError, match="RGB"):
        generate(image[..., 0], background=background, rng=0)
    with pytest.raises(ValueError, match="background"):
        generate(image, background=None, rng=0, families=["paste"])  # type: ignore[arg-type]

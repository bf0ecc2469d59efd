"""Batched extraction: sizes, bucketing, ordering, versions and the CAM path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml.backbone import OXFORD_WEIGHTS_FILE, Trunk
from ml.cam import CamHead, rmac_regions
from ml.extract import FeatureExtractor, load_extractor, resize_for_trunk, target_size
from ml.modelfiles import CAM_HEAD
from ml.perturb import paste

MAX_SIDE = 48

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    """Mixed shapes so extraction needs several buckets (and several batches in one)."""
    rng = np.random.default_rng(0)
    shapes = [(48, 48), (30, 60), (60, 30), (48, 48), (100, 100), (33, 70)]
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for h, w in shapes]


def _head(seed: int = 0) -> CamHead:
    torch.manual_seed(seed)
    return CamHead({"form": ["painting", "sculpture", "other"], "type": ["landscape", "portrait"]}).eval()


@pytest.mark.parametrize(
    ("hw", "max_side", "expected"),
    [
        ((300, 205), 320, (320, 224)),
        ((205, 300), 320, (224, 320)),
        ((100, 100), 64, (64, 64)),
        ((10, 1000), 64, (16, 64)),
    ],
)
def test_target_size(hw: tuple[int, int], max_side: int, expected: tuple[int, int]) -> None:
    assert target_size(*hw, max_side) == expected


def test_resize_for_trunk_keeps_aspect() -> None:
    out = resize_for_trunk(np.zeros((300, 205, 3), np.uint8), 320)
    assert out.shape == (320, 224, 3)
    assert abs(224 / 320 - 205 / 300) < 0.02


def test_extract_order_unit_norm_and_buckets(trunk: Trunk, images: list[np.ndarray]) -> None:
    extractor = FeatureExtractor(trunk, None, max_side=MAX_SIDE)
    batches = extractor._iter_batches(images, 2)
    assert len(batches) > len({im.shape for _, ims in batches for im in ims})  # >1 batch in a bucket
    vectors = extractor.extract(images, batch_size=2)
    assert vectors.shape == (len(images), 512) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    for i in (0, 1, 2, 5):  # one image of each bucket, alone
        assert np.allclose(vectors[i], extractor.extract([images[i]])[0], atol=1e-4)


def test_model_version_records_pooling(trunk: Trunk) -> None:
    plain = FeatureExtractor(trunk, None, max_side=MAX_SIDE)
    assert plain.model_version == f"vgg16-oxford-caffe+sum@{MAX_SIDE}+r3"
    assert FeatureExtractor(trunk, None, max_side=MAX_SIDE, region_levels=0).model_version.endswith(f"@{MAX_SIDE}")
    head = _head()
    head.version = "abc123def456"
    cam = FeatureExtractor(trunk, head, max_side=320)
    assert cam.model_version == "vgg16-oxford-caffe+cam-abc123def456@320+r3"
    assert FeatureExtractor(trunk, head, top_k=1).model_version.endswith("+cam-abc123def456-k1@320+r3")


def test_cam_extraction_details(trunk: Trunk, images: list[np.ndarray]) -> None:
    extractor = FeatureExtractor(trunk, _head(), max_side=MAX_SIDE, top_k=2)
    detailed = extractor.extract_detailed(images, batch_size=3)
    vectors = np.stack([r.vector for r in detailed])
    assert len(detailed) == len(images)
    assert np.allclose(extractor.extract(images[:2]), vectors[:2], atol=1e-5)
    for res, im in zip(detailed, images, strict=True):
        h, w = target_size(*im.shape[:2], MAX_SIDE)
        assert res.cam.shape == (h // 16, w // 16) and res.cam.dtype == np.float32
        assert res.cam.min() >= 0 and res.cam.max() <= 1
        assert set(res.predictions) == {"form", "type"}
        probs = [p for _, p in res.predictions["form"]]
        assert len(probs) == 2 and probs == sorted(probs, reverse=True)
    # CAM weighting really changes the descriptor compared with sum pooling.
    plain = FeatureExtractor(trunk, None, max_side=MAX_SIDE).extract(images)
    assert not np.allclose(plain, vectors, atol=1e-3)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_no_head_details(trunk: Trunk, images: list[np.ndarray]) -> None:
    res = FeatureExtractor(trunk, None, max_side=MAX_SIDE).extract_detailed(images[:1])[0]
    assert res.predictions == {}
    assert (res.cam == 1.0).all()  # uniform weighting = sum pooling


def test_gap_features(trunk: Trunk, images: list[np.ndarray]) -> None:
    gap = FeatureExtractor(trunk, None, max_side=MAX_SIDE).gap_features(images)
    assert gap.shape == (len(images), 512) and gap.dtype == np.float32
    assert (gap >= 0).all() and gap.sum() > 0


def test_feature_maps_pooled_again_match_one_pass_extraction(trunk: Trunk, images: list[np.ndarray]) -> None:
    """One forward pass, pooled by any head: the same vectors as extracting with that head."""
    maps = FeatureExtractor(trunk, None, max_side=MAX_SIDE).feature_maps(images)
    assert [m.shape[0] for m in maps] == [512] * len(images)
    for head in (None, _head()):
        ext = FeatureExtractor(trunk, head, max_side=MAX_SIDE)
        np.testing.assert_allclose(ext.vectors_from_maps(maps), ext.extract(images), atol=1e-5)


def test_load_extractor(tmp_path: Path, oxford_model_dir: Path) -> None:
    (tmp_path / OXFORD_WEIGHTS_FILE).symlink_to((oxford_model_dir / OXFORD_WEIGHTS_FILE).resolve())
    extractor = load_extractor(tmp_path, max_side=MAX_SIDE, device="cpu", allow_download=False)
    assert extractor.model_version.endswith(f"+sum@{MAX_SIDE}+r3")
    version = _head().save(tmp_path / CAM_HEAD.name)
    extractor = load_extractor(tmp_path, max_side=MAX_SIDE, device="cpu", allow_download=False)
    assert extractor.head is not None and extractor.head.version == version
    assert extractor.model_version == f"vgg16-oxford-caffe+cam-{version}@{MAX_SIDE}+r3"


def test_regional_descriptors(trunk: Trunk, images: list[np.ndarray]) -> None:
    extractor = FeatureExtractor(trunk, _head(), max_side=MAX_SIDE)
    for res, im in zip(extractor.extract_detailed(images, batch_size=3), images, strict=True):
        h, w = target_size(*im.shape[:2], MAX_SIDE)
        assert res.regions.shape == (len(rmac_regions(h // 16, w // 16)), 512)
        if len(res.regions):
            assert np.allclose(np.linalg.norm(res.regions, axis=1), 1.0, atol=1e-4)
    none = FeatureExtractor(trunk, None, max_side=MAX_SIDE, region_levels=0).extract_detailed(images[:1])[0]
    assert none.regions.shape == (0, 512)


def test_region_of_a_pasted_copy_is_closer_than_its_whole(trunk: Trunk, sample_images: list[np.ndarray]) -> None:
    """A painting pasted into another (40 % of the picture): a region of the composite is
    closer to the painting than the composite's global vector is."""
    art, background = sample_images[0], sample_images[3]
    composite = paste(0.40)(art, np.random.default_rng(0), background)
    extractor = FeatureExtractor(trunk, None, max_side=320)
    whole, pasted = extractor.extract_detailed([art, composite])
    assert float((pasted.regions @ whole.vector).max()) > float(pasted.vector @ whole.vector) + 0.05

"""Tests for ml.joint: InfoNCE projection learns a toy paired set and round-trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.joint import recall_at_k


def _paired(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images and texts that share a 16-d latent through different random linear maps."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 16))
    # ReLU like CNN features (abs() would make z and -z indistinguishable).
    img = np.maximum(z @ rng.normal(size=(16, 512)) + 0.1 * rng.normal(size=(n, 512)), 0.0)
    txt = z @ rng.normal(size=(16, 384)) + 0.1 * rng.normal(size=(n, 384))
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    return img.astype(np.float32), txt.astype(np.float32)


def test_recall_at_k() -> None:
    sim = np.array([[0.9, 0.1, 0.0], [0.8, 0.5, 0.0], [0.1, 0.2, 0.3]])
    assert recall_at_k(sim, ks=(1, 2)) == {"R@1": pytest.approx(2 / 3), "R@2": 1.0}


def test_joint_learns_toy_pairs_and_roundtrips(tmp_path: Path) -> None:
    from ml.joint import JointProjection, train_joint

    img, txt = _paired()
    model, report = train_joint(img, txt, epochs=20, seed=0, val_fraction=0.2, dim=64)
    assert report["n_val"] == 60
    r = report["val_text_to_image"]
    assert r["R@1"] > 0.5 and r["R@5"] > 0.9, report  # chance is 1/60 and 5/60
    assert report["val_image_to_text"]["R@5"] > 0.9
    zi, zt = model.project_image(img[:5]), model.project_text(txt[:5])
    assert zi.shape == (5, 64) and zt.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(zi, axis=1), 1.0, atol=1e-5)

    path = tmp_path / "joint.pt"
    model.save(path)
    loaded = JointProjection.load(path)
    assert loaded.version == model.version
    np.testing.assert_allclose(loaded.project_text(txt[:5]), zt, atol=1e-6)
    np.testing.assert_allclose(loaded.project_image(img[0]), zi[:1], atol=1e-6)
    with pytest.raises(ValueError):
        loaded.project_text(img[:2])


def test_joint_default_dim_and_seed() -> None:
    from ml.joint import train_joint

    img, txt = _paired(80, seed=1)
    a, rep = train_joint(img, txt, epochs=2, seed=3, val_fraction=0.1)
    b, _ = train_joint(img, txt, epochs=2, seed=3, val_fraction=0.1)
    assert a.dim == 256 and a.version == b.version and "R@1" in rep["val_text_to_image"]


@pytest.mark.parametrize("method", ["infonce-frozen", "ridge"])
def test_image_map_into_the_frozen_text_space_learns_toy_pairs(method: str, tmp_path: Path) -> None:
    from ml.joint import JointProjection, train_joint

    img, txt = _paired()
    model, report = train_joint(img, txt, method=method, epochs=20, seed=0, val_fraction=0.2)
    assert report["method"] == method and model.dim == 384 and model.config.text_frozen
    assert report["val_text_to_image"]["R@5"] > 0.9, report
    # The text side is the sentence space itself: a caption vector only gets normalised.
    np.testing.assert_allclose(model.project_text(txt[:3]), txt[:3] / np.linalg.norm(txt[:3], axis=1)[:, None],
                               atol=1e-6)
    model.save(tmp_path / "j.pt")
    assert JointProjection.load(tmp_path / "j.pt").version == model.version
    with pytest.raises(ValueError, match="unknown method"):
        train_joint(img, txt, method="svm")


def test_pairs_of_one_image_stay_together_and_are_not_negatives() -> None:
    from ml.joint import _split, train_joint

    img, txt = _paired(100, seed=2)
    # Every image twice, with two noisy versions of its caption: 200 pairs, 100 groups.
    rng = np.random.default_rng(0)
    img2 = np.repeat(img, 2, axis=0)
    txt2 = np.repeat(txt, 2, axis=0) + 0.01 * rng.normal(size=(200, 384)).astype(np.float32)
    groups = np.repeat(np.arange(100), 2)
    va, tr = _split(groups, 0.2, seed=0)
    assert len(va) == 40 and not set(groups[va]) & set(groups[tr])
    _, report = train_joint(img2, txt2, groups=groups, epochs=20, seed=0, val_fraction=0.2, dim=64)
    assert report["n_val"] == 40 and report["val_chance"]["R@1"] == pytest.approx(1 / 20)  # 20 images
    assert report["val_text_to_image"]["R@5"] > 0.9, report
    with pytest.raises(ValueError, match="one entry per pair"):
        train_joint(img2, txt2, groups=groups[:10])


def test_rank_metrics_against_chance() -> None:
    from ml.joint import chance_precision_at_k, first_relevant_ranks, rank_summary

    assert chance_precision_at_k(10, 1, 1) == pytest.approx(0.1)
    assert chance_precision_at_k(10, 2, 1) == pytest.approx(0.2)
    assert chance_precision_at_k(10, 2, 2) == pytest.approx(1 - (8 / 10) * (7 / 9))
    assert chance_precision_at_k(10, 1, 10) == 1.0 and chance_precision_at_k(10, 0, 5) == 0.0
    scores = np.array([[0.9, 0.5, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4]])
    ranks = first_relevant_ranks(scores, [np.array([1]), np.array([0, 2])])
    assert ranks.tolist() == [2, 2]  # query 2's best relevant is column 2 (0.3), behind 0.4
    s = rank_summary(ranks, np.array([1, 2]), 4, ks=(1, 2))
    assert s["Pr@1"] == 0.0 and s["Pr@2"] == 1.0 and s["median_rank"] == 2.0
    assert s["chance@1"] == pytest.approx((0.25 + 0.5) / 2) and s["z@2"] > 0 > s["z@1"]
    assert s["chance_median_rank"] == pytest.approx(np.median([5 / 2, 5 / 3]))

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

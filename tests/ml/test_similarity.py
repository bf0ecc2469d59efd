"""The learned similarity (ml.similarity) on tiny tensors, on the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml.evaluate import label_precision_at_k, nearest_by_group
from ml.similarity import (
    SimilarityConfig,
    SimilarityProjection,
    label_positive_weights,
    supcon_loss,
    train_similarity,
)


def test_positive_weights_count_the_labels_two_items_share() -> None:
    labels = {"form": ["painting", "painting", "sculpture", None], "artist": [1, 2, 2, 2]}
    pos = label_positive_weights(labels, {"form": 1.0, "artist": 2.0})
    expected = np.array([[0, 1, 0, 0],
                         [1, 0, 2, 2],
                         [0, 2, 0, 2],
                         [0, 2, 2, 0]], dtype=np.float32)
    np.testing.assert_array_equal(pos, expected)
    # A label weighted 0 plays no part; a missing value ("" or None) is shared with no one.
    assert label_positive_weights({"form": ["", ""]}, {"form": 1.0}).sum() == 0
    assert label_positive_weights(labels, {"form": 0.0, "artist": 1.0})[0, 1] == 0
    with pytest.raises(ValueError, match="3 values for 4"):
        label_positive_weights({"form": ["a"] * 4, "type": ["b"] * 3}, {"form": 1.0, "type": 1.0})


def test_supcon_loss_is_lower_when_positives_are_nearest() -> None:
    pos = torch.tensor([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    together = torch.tensor([[1.0, 0.0], [0.99, 0.14], [-1.0, 0.0], [-0.99, -0.14]])
    apart = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.99, 0.14], [-0.99, -0.14]])
    normalise = torch.nn.functional.normalize
    good = supcon_loss(normalise(together, dim=1), pos, 0.1)
    bad = supcon_loss(normalise(apart, dim=1), pos, 0.1)
    assert float(good) < 0.01 < float(bad)
    # No anchor with a positive: nothing to learn, a zero that still back-propagates.
    z = normalise(torch.randn(3, 2, requires_grad=True), dim=1)
    none = supcon_loss(z, torch.zeros(3, 3), 0.1)
    none.backward()
    assert float(none.detach()) == 0.0


def _toy(n: int = 48, seed: int = 0) -> tuple[np.ndarray, dict[str, list[str]]]:
    """16-d vectors whose largest directions are noise; the label lives in a weaker one."""
    rng = np.random.default_rng(seed)
    kind = [("a", "b")[i % 2] for i in range(n)]
    x = rng.normal(size=(n, 16)) * np.r_[np.full(8, 3.0), np.ones(8)]
    x[:, 10] += np.where(np.array(kind) == "a", 2.0, -2.0)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), {"kind": kind}


def _precision(vectors: np.ndarray, kind: list[str]) -> float:
    groups = list(range(len(kind)))
    neighbours = nearest_by_group(vectors, vectors, groups, groups, 5)
    return label_precision_at_k(kind, [[kind[j] for j in row] for row in neighbours], 5) or 0.0


def test_training_brings_same_label_vectors_together() -> None:
    x, labels = _toy()
    cfg = SimilarityConfig(in_dim=16, dim=4, hidden=0, mix=1.0, epochs=60, lr=1e-2, dropout=0.0,
                           label_weights={"kind": 1.0})
    model = train_similarity(x, labels, cfg, input_version="v1")
    projected = model.project(x)
    assert projected.shape == (48, 4)
    np.testing.assert_allclose(np.linalg.norm(projected, axis=1), 1.0, atol=1e-5)
    assert _precision(projected, labels["kind"]) > max(0.9, _precision(x, labels["kind"]))
    assert model.report["final_loss"] < model.report["first_loss"]
    # Seeded: the same data gives the same projection.
    assert train_similarity(x, labels, cfg, input_version="v1").version == model.version


def test_blended_vector_cosine_is_the_weighted_sum_of_both() -> None:
    x, labels = _toy(12)
    cfg = SimilarityConfig(in_dim=16, dim=4, hidden=8, mix=0.25, epochs=3, label_weights={"kind": 1.0})
    model = train_similarity(x, labels, cfg)
    both = model.project(x)
    assert both.shape == (12, 4 + 16) and model.dim == 20
    np.testing.assert_allclose(np.linalg.norm(both, axis=1), 1.0, atol=1e-5)
    learned = both[:, :4] / np.linalg.norm(both[:, :4], axis=1, keepdims=True)
    np.testing.assert_allclose(both @ both.T, 0.25 * learned @ learned.T + 0.75 * x @ x.T, atol=1e-5)


def test_save_and_load_give_the_same_projection(tmp_path: Path) -> None:
    x, labels = _toy(10)
    cfg = SimilarityConfig(in_dim=16, dim=4, epochs=2, label_weights={"kind": 1.0})
    model = train_similarity(x, labels, cfg, input_version="cnn-v7")
    model.save(tmp_path / "sim.pt")
    again = SimilarityProjection.load(tmp_path / "sim.pt")
    assert (again.version, again.input_version, again.config) == (model.version, "cnn-v7", cfg)
    np.testing.assert_allclose(again.project(x), model.project(x), atol=1e-6)
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a similarity projection"):
        SimilarityProjection.load(tmp_path / "other.pt")


def test_bad_inputs_are_refused_with_a_reason() -> None:
    x, labels = _toy(6)
    with pytest.raises(ValueError, match="mix"):
        SimilarityConfig(mix=0.0)
    with pytest.raises(ValueError, match="temperature"):
        SimilarityConfig(temperature=0)
    with pytest.raises(ValueError, match="label weights"):
        SimilarityConfig(label_weights={"form": 0.0})
    cfg = SimilarityConfig(in_dim=16, dim=4, epochs=1, label_weights={"kind": 1.0})
    with pytest.raises(ValueError, match=r"\(N, 16\)"):
        train_similarity(x[:, :8], labels, cfg)
    with pytest.raises(ValueError, match="no labels"):
        train_similarity(x, {"other": labels["kind"]}, cfg)
    with pytest.raises(ValueError, match="5 values for 6"):
        train_similarity(x, {"kind": labels["kind"][:5]}, cfg)
    model = train_similarity(x, labels, cfg)
    with pytest.raises(ValueError, match=r"\(N, 16\)"):
        model.project(np.zeros((2, 3), np.float32))

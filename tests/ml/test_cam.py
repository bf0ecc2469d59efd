"""CAM weighting/pooling functions, the CamHead module and its training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml.cam import (
    OTHER_CLASS,
    CamHead,
    cam_weighted_pool,
    class_activation_maps,
    combine_cams,
    l2n,
    regional_cam_pool,
    rmac_regions,
    sum_pool,
    train_cam_head,
)


@pytest.fixture
def fmap() -> torch.Tensor:
    # Non-negative like post-ReLU conv5_3 activations.
    return torch.rand(2, 8, 5, 7, generator=torch.Generator().manual_seed(0))


def test_sum_pool_and_l2n(fmap: torch.Tensor) -> None:
    pooled = sum_pool(fmap)
    assert pooled.shape == (2, 8)
    assert torch.allclose(pooled, fmap.sum(dim=(2, 3)))
    assert torch.allclose(l2n(pooled).norm(dim=-1), torch.ones(2), atol=1e-5)
    assert torch.equal(l2n(torch.zeros(3, 4)), torch.zeros(3, 4))  # no NaN on zero vectors


def test_cams_shape_and_range(fmap: torch.Tensor) -> None:
    weight = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    classes = torch.tensor([[0, 3], [2, 1]])
    cams = class_activation_maps(fmap, weight, classes)
    assert cams.shape == (2, 2, 5, 7)
    assert cams.min() >= 0 and cams.max() <= 1
    for b in range(2):
        for m in range(2):
            assert cams[b, m].min() == 0 and cams[b, m].max() == pytest.approx(1.0)


def test_cam_is_weighted_channel_sum() -> None:
    fmap = torch.zeros(1, 2, 1, 3)
    fmap[0, 0, 0] = torch.tensor([0.0, 1.0, 2.0])
    fmap[0, 1, 0] = torch.tensor([5.0, 5.0, 5.0])
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    cams = class_activation_maps(fmap, weight, torch.tensor([[0, 1]]))
    assert cams[0, 0, 0].tolist() == pytest.approx([0.0, 0.5, 1.0])
    # A constant CAM carries no location information: all ones (plain sum pooling).
    assert cams[0, 1, 0].tolist() == [1.0, 1.0, 1.0]


def test_uniform_cam_equals_sum_pooling(fmap: torch.Tensor) -> None:
    cams = torch.ones(2, 3, 5, 7)
    expected = l2n(sum_pool(fmap))
    assert torch.allclose(cam_weighted_pool(fmap, cams), expected, atol=1e-6)
    probs = torch.tensor([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05]])
    assert torch.allclose(cam_weighted_pool(fmap, cams, probs), expected, atol=1e-6)


def test_cam_pool_unit_norm_and_focus() -> None:
    fmap = torch.zeros(1, 2, 2, 2)
    fmap[0, 0, 0, 0] = 1.0  # channel 0 fires top-left
    fmap[0, 1, 1, 1] = 1.0  # channel 1 fires bottom-right
    cams = torch.zeros(1, 1, 2, 2)
    cams[0, 0, 0, 0] = 1.0
    out = cam_weighted_pool(fmap, cams)
    assert out.norm().item() == pytest.approx(1.0, abs=1e-5)
    assert out[0].tolist() == pytest.approx([1.0, 0.0], abs=1e-5)


def test_combine_cams_range() -> None:
    cams = torch.rand(2, 4, 3, 3)
    mixed = combine_cams(cams, torch.rand(2, 4))
    assert mixed.shape == (2, 3, 3)
    assert mixed.min() >= 0 and mixed.max() <= 1


def _head() -> CamHead:
    torch.manual_seed(0)
    return CamHead({"form": ["painting", "sculpture"], "type": ["portrait", "landscape", "religious"]}, 8)


def test_head_forward_and_top_classes(fmap: torch.Tensor) -> None:
    head = _head().eval()
    logits = head(fmap)
    assert set(logits) == {"form", "type"}
    assert logits["form"].shape == (2, 2) and logits["type"].shape == (2, 3)
    top = head.top_classes(fmap, k=5)  # clipped to the number of classes
    idx, probs = top["type"]
    assert idx.shape == probs.shape == (2, 3)
    assert torch.all(probs[:, :-1] >= probs[:, 1:])
    assert torch.allclose(probs.sum(dim=1), torch.ones(2), atol=1e-5)


def test_head_cam_weight_matches_logits(fmap: torch.Tensor) -> None:
    """CAM averaged over space reproduces the logit up to a per-class constant."""
    head = _head().eval()
    head.feat_std.copy_(torch.linspace(0.5, 2.0, 8))
    head.feat_mean.copy_(torch.linspace(0.0, 1.0, 8))
    w = head.cam_weight("type")
    raw = torch.einsum("kc,bchw->bkhw", w, fmap).mean(dim=(2, 3))
    logits = head(fmap)["type"]
    diff = logits - raw
    assert torch.allclose(diff[0], diff[1], atol=1e-5)


def test_head_save_load_roundtrip(tmp_path: Path, fmap: torch.Tensor) -> None:
    head = _head().eval()
    head.metadata["note"] = "test"
    version = head.save(tmp_path / "cam_head.pt")
    assert version == head.version and len(version) == 12
    loaded = CamHead.load(tmp_path / "cam_head.pt")
    assert loaded.version == version
    assert loaded.tasks == head.tasks and loaded.metadata["note"] == "test"
    for task, logits in head(fmap).items():
        assert torch.allclose(loaded(fmap)[task], logits)
    with torch.no_grad():
        loaded.classifier("form").bias.add_(1.0)
    assert loaded.save(tmp_path / "other.pt") != version


def test_train_cam_head_learns_separable_problem(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n, c = 240, 512
    form = rng.integers(0, 2, n)
    kind = rng.integers(0, 3, n)
    # Like GAP features: non-negative noise plus a class signal spread over all channels.
    form_means, kind_means = rng.uniform(0, 1, (2, c)), rng.uniform(0, 1, (3, c))
    x = (rng.gamma(1.0, 1.0, (n, c)) * 2 + form_means[form] + kind_means[kind]).astype(np.float32)
    form_labels: list[str | None] = [["painting", "sculpture"][v] for v in form]
    type_labels: list[str | None] = [["portrait", "landscape", "religious"][v] for v in kind]
    for i in range(0, n, 7):
        type_labels[i] = None  # unlabelled: ignored for that task
    type_labels[1] = "genre"  # rare classes collapse into "other"
    type_labels[2] = "still-life"
    labels = {"form": form_labels, "type": type_labels}

    head, report = train_cam_head(x, labels, epochs=100, seed=0)
    assert head.tasks["form"] == ["painting", "sculpture"]
    assert head.tasks["type"] == ["landscape", "portrait", "religious", OTHER_CLASS]
    assert report["n_val"] == 48
    assert report["tasks"]["form"]["val_accuracy"] >= 0.9
    assert report["tasks"]["type"]["val_accuracy"] >= 0.85
    assert report["tasks"]["type"]["n_val"] < 48  # None labels not counted

    # The saved head predicts like the trained one, and training is deterministic.
    version = head.save(tmp_path / "head.pt")
    head2, report2 = train_cam_head(x, labels, epochs=100, seed=0)
    assert report2 == report
    assert head2.save(tmp_path / "head2.pt") == version
    loaded = CamHead.load(tmp_path / "head.pt")
    gap = torch.from_numpy(x[:10])
    assert torch.equal(loaded.forward_gap(gap)["form"].argmax(1), torch.from_numpy(form[:10]))


def test_train_cam_head_rejects_degenerate_labels() -> None:
    x = np.ones((20, 512), np.float32)
    with pytest.raises(ValueError, match="two classes"):
        train_cam_head(x, {"form": ["painting"] * 20})
    with pytest.raises(ValueError, match="labels for"):
        train_cam_head(x, {"form": ["painting"] * 3})


@pytest.mark.parametrize("h,w", [(15, 20), (20, 15), (12, 16), (20, 20), (4, 30), (2, 2)])
def test_rmac_regions_inside_the_map_and_square(h: int, w: int) -> None:
    regions = rmac_regions(h, w)
    assert regions and len(regions) == len(set(regions))
    for y0, y1, x0, x1 in regions:
        assert 0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w
        assert y1 - y0 == x1 - x0 >= 2
    # The coarsest level spans the short side; finer levels are smaller.
    assert max(y1 - y0 for y0, y1, _, _ in regions) == min(h, w)
    assert rmac_regions(1, 1) == []


def test_regional_pool_matches_global_pool_on_the_same_window() -> None:
    torch.manual_seed(0)
    fmap = torch.rand(2, 8, 6, 9)
    cams = torch.rand(2, 3, 6, 9)
    weights = torch.rand(2, 3)
    regions = [(0, 6, 0, 6), (1, 5, 2, 6)]
    out = regional_cam_pool(fmap, cams, weights, regions)
    assert out.shape == (2, 2, 8)
    for r, (y0, y1, x0, x1) in enumerate(regions):
        expect = cam_weighted_pool(fmap[..., y0:y1, x0:x1], cams[..., y0:y1, x0:x1], weights)
        assert torch.allclose(out[:, r], expect, atol=1e-6)
    assert regional_cam_pool(fmap, cams, weights, []).shape == (2, 0, 8)

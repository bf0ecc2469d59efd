"""Batched global-descriptor extraction (used by the Celery workers and CLIs).

Images are resized so the long side is ``max_side`` and the short side a
multiple of 16 (the trunk's stride), bucketed by shape, and each bucket runs
through the trunk in batches. Descriptors are CAM-weighted sum pooling
(:mod:`ml.cam`) when a trained :class:`~ml.cam.CamHead` exists, otherwise
plain sum pooling; ``model_version`` records which.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import torch

from ml.backbone import Trunk, load_trunk
from ml.cam import (
    CamHead,
    cam_weighted_pool,
    class_activation_maps,
    combine_cams,
    l2n,
    regional_cam_pool,
    rmac_regions,
    sum_pool,
)
from ml.modelfiles import CAM_HEAD

__all__ = [
    "ExtractResult",
    "FeatureExtractor",
    "load_extractor",
    "resize_for_trunk",
    "set_cpu_threads",
    "target_size",
]

logger = logging.getLogger(__name__)

STRIDE: Final = 16
DEFAULT_TOP_K: Final = 3
DEFAULT_REGION_LEVELS: Final = 3


def target_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(h, w) with long side ``max_side`` and short side rounded to a multiple of 16.

    Rounding the short side (at most 8 px, i.e. < 3% at 320) lets images of
    similar aspect share a bucket and keeps feature maps aligned to the stride.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"invalid image size {height}x{width}")
    long_side = max(height, width)
    short = min(height, width) * max_side / long_side
    short_r = max(STRIDE, round(short / STRIDE) * STRIDE)
    short_r = min(short_r, max_side)
    return (max_side, short_r) if height >= width else (short_r, max_side)


def resize_for_trunk(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Resize an RGB uint8 image to :func:`target_size`."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected RGB uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    th, tw = target_size(h, w, max_side)
    if (th, tw) == (h, w):
        return rgb
    # INTER_AREA avoids aliasing when shrinking; bilinear is fine when enlarging.
    interp = cv2.INTER_AREA if th * tw < h * w else cv2.INTER_LINEAR
    return cv2.resize(rgb, (tw, th), interpolation=interp)


@dataclass
class ExtractResult:
    """Descriptor plus what is needed to explain it in the UI."""

    vector: np.ndarray  # (512,) float32, unit norm
    cam: np.ndarray  # (h, w) float32 in [0, 1] at feature-map resolution
    predictions: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    # (R, 512) unit-norm regional descriptors (R-MAC grid, see ml.cam.rmac_regions); R may be 0.
    regions: np.ndarray = field(default_factory=lambda: np.zeros((0, 512), np.float32))


@dataclass
class _BatchOut:
    vectors: torch.Tensor  # (B, C)
    cams: torch.Tensor  # (B, h, w)
    preds: list[dict[str, list[tuple[str, float]]]]
    regions: torch.Tensor  # (B, R, C)


class FeatureExtractor:
    """Trunk + optional CAM head -> L2-normalised 512-d descriptors."""

    def __init__(
        self,
        trunk: Trunk,
        head: CamHead | None = None,
        *,
        max_side: int = 320,
        top_k: int = DEFAULT_TOP_K,
        batch_size: int = 8,
        region_levels: int = DEFAULT_REGION_LEVELS,
    ) -> None:
        if max_side < 2 * STRIDE:
            raise ValueError(f"max_side must be >= {2 * STRIDE}, got {max_side}")
        if top_k < 1:
            raise ValueError("top_k must be >= 1")
        self.trunk = trunk
        self.head = head.to(trunk.device).eval() if head is not None else None
        self.max_side = max_side
        self.top_k = top_k
        self.batch_size = batch_size
        self.region_levels = max(0, region_levels)

    @property
    def dim(self) -> int:
        return self.trunk.out_channels

    @property
    def model_version(self) -> str:
        """Identifies everything that changes the vectors: weights, pooling, size."""
        if self.head is None:
            pooling = "sum"
        else:
            pooling = f"cam-{self.head.version}"
            if self.top_k != DEFAULT_TOP_K:
                pooling += f"-k{self.top_k}"
        regions = f"+r{self.region_levels}" if self.region_levels else ""
        return f"{self.trunk.name}+{pooling}@{self.max_side}{regions}"

    # -- core -------------------------------------------------------------- #

    def _run_batch(self, images: Sequence[np.ndarray], *, want_preds: bool) -> _BatchOut:
        batch = torch.stack([self.trunk.to_tensor(im) for im in images])
        return self._pool(self.trunk.forward(batch), want_preds=want_preds)

    def _pool(self, fmap: torch.Tensor, *, want_preds: bool) -> _BatchOut:
        n = fmap.shape[0]
        with torch.inference_mode():
            regions = rmac_regions(fmap.shape[-2], fmap.shape[-1], self.region_levels) if self.region_levels else []
            if self.head is None:
                vectors = l2n(sum_pool(fmap))
                cams = torch.ones(fmap.shape[0], *fmap.shape[-2:], device=fmap.device)
                regional = regional_cam_pool(fmap, cams[:, None], None, regions)
                return _BatchOut(vectors, cams, [{} for _ in range(n)], regional)
            top = self.head.top_classes(fmap, self.top_k)
            all_cams, all_weights = [], []
            for task, (idx, probs) in top.items():
                all_cams.append(class_activation_maps(fmap, self.head.cam_weight(task), idx))
                all_weights.append(probs)
            cams = torch.cat(all_cams, dim=1)
            weights = torch.cat(all_weights, dim=1)
            vectors = cam_weighted_pool(fmap, cams, weights)
            regional = regional_cam_pool(fmap, cams, weights, regions)
            combined = combine_cams(cams, weights)
            preds: list[dict[str, list[tuple[str, float]]]] = [{} for _ in range(n)]
            if want_preds:
                for task, (idx, probs) in top.items():
                    names = self.head.tasks[task]
                    idx_l, probs_l = idx.cpu().tolist(), probs.cpu().tolist()
                    for b in range(n):
                        preds[b][task] = [(names[i], float(p)) for i, p in zip(idx_l[b], probs_l[b], strict=True)]
            return _BatchOut(vectors, combined, preds, regional)

    def _iter_batches(
        self, images: Sequence[np.ndarray], batch_size: int | None
    ) -> list[tuple[list[int], list[np.ndarray]]]:
        """Resize and group indices by shape so each batch is one forward pass."""
        bs = batch_size or self.batch_size
        buckets: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = defaultdict(list)
        for i, im in enumerate(images):
            resized = resize_for_trunk(im, self.max_side)
            buckets[resized.shape[:2]].append((i, resized))
        batches: list[tuple[list[int], list[np.ndarray]]] = []
        for items in buckets.values():
            for start in range(0, len(items), bs):
                chunk = items[start : start + bs]
                batches.append(([i for i, _ in chunk], [im for _, im in chunk]))
        return batches

    # -- public ------------------------------------------------------------ #

    def extract(self, images: Sequence[np.ndarray], *, batch_size: int | None = None) -> np.ndarray:
        """(N, 512) float32 unit-norm descriptors, in input order."""
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for indices, batch in self._iter_batches(images, batch_size):
            res = self._run_batch(batch, want_preds=False)
            out[indices] = res.vectors.float().cpu().numpy()
        return out

    def extract_detailed(self, images: Sequence[np.ndarray], *, batch_size: int | None = None) -> list[ExtractResult]:
        """Descriptors plus combined CAM heatmaps and top-k predictions, in input order."""
        results: list[ExtractResult | None] = [None] * len(images)
        for indices, batch in self._iter_batches(images, batch_size):
            res = self._run_batch(batch, want_preds=True)
            vecs = res.vectors.float().cpu().numpy()
            cams = res.cams.float().cpu().numpy()
            regions = res.regions.float().cpu().numpy()
            for j, i in enumerate(indices):
                results[i] = ExtractResult(vector=vecs[j], cam=cams[j], predictions=res.preds[j], regions=regions[j])
        return [r for r in results if r is not None]

    def feature_maps(self, images: Sequence[np.ndarray], *, batch_size: int | None = None) -> list[torch.Tensor]:
        """The conv5_3 map (C, h, w) of each image, in input order: pooled several ways by
        :meth:`vectors_from_maps` (another head, no head) without another forward pass."""
        out: list[torch.Tensor | None] = [None] * len(images)
        for indices, batch in self._iter_batches(images, batch_size):
            fmap = self.trunk.forward(torch.stack([self.trunk.to_tensor(im) for im in batch])).cpu()
            for j, i in enumerate(indices):
                out[i] = fmap[j]
        return [m for m in out if m is not None]

    def vectors_from_maps(self, maps: Sequence[torch.Tensor]) -> np.ndarray:
        """(N, 512) descriptors of :meth:`feature_maps` output, pooled by this extractor's head."""
        out = np.zeros((len(maps), self.dim), dtype=np.float32)
        by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, m in enumerate(maps):
            by_shape[tuple(m.shape)].append(i)
        for indices in by_shape.values():
            fmap = torch.stack([maps[i] for i in indices]).to(self.trunk.device)
            out[indices] = self._pool(fmap, want_preds=False).vectors.float().cpu().numpy()
        return out

    def gap_features(self, images: Sequence[np.ndarray], *, batch_size: int | None = None) -> np.ndarray:
        """(N, 512) float32 global-average-pooled conv5_3 features (for head training)."""
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for indices, batch in self._iter_batches(images, batch_size):
            fmap = self.trunk.forward(torch.stack([self.trunk.to_tensor(im) for im in batch]))
            out[indices] = fmap.mean(dim=(-2, -1)).float().cpu().numpy()
        return out


def set_cpu_threads(num_threads: int | None) -> None:
    """Cap torch's intra-op CPU threads (None leaves torch's default: one per core).

    Set it to 1 when several processes share the cores (e.g. a prefork Celery
    worker with concurrency > 1): OpenMP threads that spin on an oversubscribed
    machine made VGG16 forwards 2-5x *slower* here than a single thread.
    """
    if num_threads is not None:
        torch.set_num_threads(max(1, num_threads))


def load_extractor(
    model_dir: Path,
    *,
    device: str | torch.device | None = None,
    max_side: int = 320,
    top_k: int = DEFAULT_TOP_K,
    batch_size: int = 8,
    num_threads: int | None = None,
    region_levels: int = DEFAULT_REGION_LEVELS,
    weights_path: Path | None = None,
    allow_download: bool = True,
) -> FeatureExtractor:
    """Trunk from :func:`ml.backbone.load_trunk` + ``model_dir/cam_head.pt`` if present.

    ``num_threads``: see :func:`set_cpu_threads`; ``weights_path``, ``allow_download``: see
    :func:`ml.backbone.load_trunk`.
    """
    set_cpu_threads(num_threads)
    model_dir = Path(model_dir)
    trunk = load_trunk(model_dir, device=device, weights_path=weights_path, allow_download=allow_download)
    head_path = model_dir / CAM_HEAD.name
    head = CamHead.load(head_path, map_location=trunk.device) if head_path.is_file() else None
    extractor = FeatureExtractor(
        trunk, head, max_side=max_side, top_k=top_k, batch_size=batch_size, region_levels=region_levels
    )
    logger.info("feature extractor ready: %s on %s", extractor.model_version, trunk.device)
    return extractor

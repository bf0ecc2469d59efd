"""Synthetic image vectors that follow a set of real ones (numpy only).

A synthetic vector is a mixture of MIX random real vectors (Dirichlet weights, the largest
first) plus Gaussian noise scaled to the real per-dimension standard deviation, clipped at 0
when every real component is non-negative (ReLU features; unless the real set is spread wider
than clipped noise can reach), then L2-normalised. Mixing pulls
vectors towards the common direction and noise pushes them apart, so the noise scale is the
one knob: it is calibrated by bisection until the synthetic set's mean pairwise cosine equals
the real set's (CAM-VGG vectors sit in a narrow cone, which is what makes graph indexes hard).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIX = 3  # real vectors mixed into one synthetic vector
CALIBRATION_SAMPLE = 2000
CALIBRATION_STEPS = 24
SIGMA_MAX = 8.0


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def mean_pairwise_cosine(x: np.ndarray, *, sample: int = CALIBRATION_SAMPLE, seed: int = 0) -> float:
    """Mean cosine over all distinct pairs of (a sample of) the rows: O(sample · dim)."""
    if len(x) > sample:
        x = x[np.random.default_rng(seed).choice(len(x), sample, replace=False)]
    u = unit_rows(np.asarray(x, dtype=np.float64))
    n = len(u)
    if n < 2:
        raise ValueError("need at least two vectors")
    s = u.sum(axis=0)
    return float((s @ s - n) / (n * (n - 1)))


def mixture_weights(n: int, rng: np.random.Generator, mix: int = MIX) -> np.ndarray:
    """(n, mix) Dirichlet(1) weights, each row sorted largest first (column 0 is the dominant)."""
    return -np.sort(-rng.dirichlet(np.ones(mix), size=n), axis=1)


@dataclass
class VectorModel:
    """Real unit vectors and the noise scale that makes mixtures of them as spread as they are."""

    real: np.ndarray  # (n, dim) float32, unit rows
    std: np.ndarray  # (dim,) per-dimension standard deviation of the real rows
    sigma: float
    nonnegative: bool
    target_cosine: float

    @classmethod
    def fit(cls, real: np.ndarray, *, seed: int = 0) -> VectorModel:
        real = unit_rows(np.asarray(real, dtype=np.float32))
        model = cls(real=real, std=real.std(axis=0), sigma=0.0, nonnegative=bool((real >= 0).all()),
                    target_cosine=mean_pairwise_cosine(real, seed=seed))
        model.sigma = model._calibrate(seed)
        if model.nonnegative and model.sigma >= SIGMA_MAX:
            # Clipped noise alone has a mean pairwise cosine of ~1/pi; a set spread wider than
            # that (few or unrelated images) is matched with signed noise instead.
            model.nonnegative = False
            model.sigma = model._calibrate(seed)
        return model

    def sample(self, index: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(n, dim) unit vectors: sum_j weights[:, j] * real[index[:, j]] + noise."""
        mixed = np.einsum("nm,nmd->nd", weights, self.real[index])
        return self._finish(mixed, rng.standard_normal(mixed.shape, dtype=np.float32), self.sigma)

    def _finish(self, mixed: np.ndarray, noise: np.ndarray, sigma: float) -> np.ndarray:
        out = mixed + sigma * self.std * noise
        if self.nonnegative:
            np.maximum(out, 0.0, out=out)
        return unit_rows(out)

    def _calibrate(self, seed: int) -> float:
        """The noise scale whose synthetic sample has the real mean pairwise cosine. The same
        draws serve every step, so the cosine falls monotonically as sigma grows."""
        rng = np.random.default_rng([seed, 7])
        n = min(CALIBRATION_SAMPLE, max(2 * len(self.real), 64))
        index = rng.integers(0, len(self.real), size=(n, MIX))
        mixed = np.einsum("nm,nmd->nd", mixture_weights(n, rng), self.real[index])
        noise = rng.standard_normal(mixed.shape, dtype=np.float32)

        def cosine(sigma: float) -> float:
            return mean_pairwise_cosine(self._finish(mixed, noise, sigma), sample=n)

        lo, hi = 0.0, SIGMA_MAX
        if cosine(lo) <= self.target_cosine:
            return lo
        if cosine(hi) >= self.target_cosine:
            return hi  # noise cannot spread them that far (reported by the caller's diagnostics)
        for _ in range(CALIBRATION_STEPS):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if cosine(mid) > self.target_cosine else (lo, mid)
        return (lo + hi) / 2


@dataclass
class SyntheticImages:
    """One batch of synthetic images: global vectors and each image's regional vectors."""

    vectors: np.ndarray  # (n, dim)
    region_counts: np.ndarray  # (n,)
    regions: np.ndarray  # (region_counts.sum(), region_dim), image by image


class ImageGenerator:
    """Synthetic images from real ones: the global vector mixes MIX real images' vectors, and
    its regions are the dominant image's regions, each mixed with random real regions by the
    same weights (so an image's regions stay related to its global vector, as real ones are).
    Globals and regions have their own calibrated noise."""

    def __init__(self, globals_: np.ndarray, regions: list[np.ndarray], *, seed: int = 0) -> None:
        if len(globals_) < 2:
            raise ValueError("need at least two real images")
        self.globals = VectorModel.fit(globals_, seed=seed)
        self.region_offsets = np.cumsum([0] + [len(r) for r in regions])
        flat = [r for r in regions if len(r)]
        self.regions = VectorModel.fit(np.concatenate(flat), seed=seed) if sum(map(len, flat)) >= 2 else None

    def batch(self, n: int, rng: np.random.Generator) -> SyntheticImages:
        index = rng.integers(0, len(self.globals.real), size=(n, MIX))
        weights = mixture_weights(n, rng)
        vectors = self.globals.sample(index, weights, rng)
        if self.regions is None:
            return SyntheticImages(vectors, np.zeros(n, dtype=np.int64), np.zeros((0, 0), dtype=np.float32))
        starts, ends = self.region_offsets[index[:, 0]], self.region_offsets[index[:, 0] + 1]
        counts = ends - starts
        own = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)]).astype(np.int64)
        others = rng.integers(0, len(self.regions.real), size=(len(own), MIX - 1))
        region_index = np.column_stack([own, others])
        regions = self.regions.sample(region_index, np.repeat(weights, counts, axis=0), rng)
        return SyntheticImages(vectors, counts, regions)

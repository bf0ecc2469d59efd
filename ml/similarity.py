"""A learned similarity for "similar artworks": a projection of the CAM-VGG16 vectors trained on the
catalogue's own labels.

The image vectors (512-d, unit norm, :mod:`ml.extract`) rank neighbours by what VGG16 saw on
ImageNet; a visitor notices what kind of work it is, when and where it was made, and by whom. The
projection maps a vector to a ``dim``-d unit vector (linear, or a one-hidden-layer MLP) trained with
a supervised contrastive loss whose positives are weighted by how many catalogue labels two images
share (form, type, school, timeframe, artist: Khosla et al. 2020, "Supervised contrastive learning",
with soft multi-label positives). The stored vector is then ``[sqrt(mix) * projected,
sqrt(1 - mix) * original]``: its cosine with another such vector is
``mix * cos(projected) + (1 - mix) * cos(original)``, so a blend of the learned and the visual
similarity stays one nearest-neighbour query over one indexed column.

torch is imported lazily, so importing this module is cheap.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import numpy as np

from ml.modelfiles import SIMILARITY, check_version, content_version, load_head, save_head

__all__ = [
    "LABELS",
    "SimilarityConfig",
    "SimilarityProjection",
    "blend",
    "label_positive_weights",
    "supcon_loss",
    "train_similarity",
]

# The catalogue labels a visitor notices, in the order reports print them.
LABELS: Final = ("form", "type", "school", "timeframe", "artist")


@dataclass
class SimilarityConfig:
    """Shape and training hyper-parameters (saved with the weights)."""

    in_dim: int = 512
    dim: int = 128
    # The defaults are the product's, chosen on held-out artists (README, "Similar artworks").
    hidden: int = 512  # 0: linear projection; else one ReLU hidden layer of this width
    mix: float = 0.7  # weight of the learned cosine in the stored vector (1 - mix: the original cosine)
    temperature: float = 0.1
    epochs: int = 200
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 1024
    dropout: float = 0.2
    seed: int = 0
    label_weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(LABELS, 1.0))

    def __post_init__(self) -> None:
        if self.dim < 1 or self.in_dim < 1 or self.hidden < 0:
            raise ValueError(f"dims must be positive, got in {self.in_dim}, out {self.dim}, hidden {self.hidden}")
        if not 0.0 < self.mix <= 1.0:
            raise ValueError(f"mix must be in (0, 1], got {self.mix}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not self.label_weights or any(w < 0 for w in self.label_weights.values()) \
                or not any(w > 0 for w in self.label_weights.values()):
            raise ValueError(f"label weights must be >= 0, one > 0, got {self.label_weights}")

    @property
    def out_dim(self) -> int:
        """Width of the stored vector: the projection, plus the original vector when blended."""
        return self.dim if self.mix == 1.0 else self.dim + self.in_dim


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def blend(a: np.ndarray, b: np.ndarray, weight_a: float) -> np.ndarray:
    """Rows of unit vectors a and b side by side, scaled so that the inner product of two blended
    rows is ``weight_a * <a, a'> + (1 - weight_a) * <b, b'>`` (unit norm again): a weighted sum of
    two cosines that stays one nearest-neighbour query."""
    if not 0.0 <= weight_a <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight_a}")
    return np.hstack([math.sqrt(weight_a) * a, math.sqrt(1.0 - weight_a) * b]).astype(np.float32)


def _build_net(cfg: SimilarityConfig) -> Any:
    from torch import nn

    if cfg.hidden:
        return nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.in_dim, cfg.hidden), nn.ReLU(),
                             nn.Linear(cfg.hidden, cfg.dim))
    return nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.in_dim, cfg.dim))


def _label_codes(labels: Mapping[str, Sequence[Any]], n: int) -> dict[str, np.ndarray]:
    """Each label's values as integer codes (-1: missing, None or ""), so batches compare ints."""
    out: dict[str, np.ndarray] = {}
    for name, values in labels.items():
        if len(values) != n:
            raise ValueError(f"label {name!r}: {len(values)} values for {n} samples")
        codes: dict[Any, int] = {}
        out[name] = np.array([codes.setdefault(v, len(codes)) if v not in (None, "") else -1 for v in values],
                             dtype=np.int64)
    return out


def _positives(codes: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    n = len(next(iter(codes.values()))) if codes else 0
    out = np.zeros((n, n), dtype=np.float32)
    for name, ids in codes.items():
        w = float(weights.get(name, 0.0))
        if w:
            out += w * ((ids[:, None] == ids[None, :]) & (ids[:, None] >= 0)).astype(np.float32)
    np.fill_diagonal(out, 0.0)
    return out


def label_positive_weights(labels: Mapping[str, Sequence[Any]], weights: Mapping[str, float]) -> np.ndarray:
    """(N, N) how alike each pair is by the catalogue: the weighted count of labels the two share
    (a missing label, None or "", is shared with no one), 0 on the diagonal."""
    n = len(next(iter(labels.values()))) if labels else 0
    return _positives(_label_codes(labels, n), weights)


def supcon_loss(z: Any, positives: Any, temperature: float) -> Any:
    """Supervised contrastive loss with soft positives.

    ``z`` (B, d) unit vectors, ``positives`` (B, B) non-negative weights (0 on the diagonal). For
    each anchor i with any positive, the cross-entropy between the target distribution
    ``positives[i] / sum(positives[i])`` and the softmax of ``cos(z_i, z_j) / temperature`` over
    j != i; the mean over those anchors (0 when no anchor has one)."""
    import torch

    b = z.shape[0]
    logits = (z @ z.T) / temperature
    eye = torch.eye(b, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    log_prob = logits.log_softmax(dim=1).masked_fill(eye, 0.0)
    total = positives.sum(dim=1)
    has = total > 0
    if not bool(has.any()):
        return z.sum() * 0.0
    target = positives[has] / total[has, None]
    return -(target * log_prob[has]).sum(dim=1).mean()


class SimilarityProjection:
    """A trained projection: :meth:`project` maps (N, in_dim) image vectors to the stored vectors."""

    def __init__(self, net: Any, cfg: SimilarityConfig, *, input_version: str = "",
                 report: Mapping[str, Any] | None = None) -> None:
        self.net = net.eval()
        self.config = cfg
        # The image model version whose vectors it was trained on: another version's vectors live
        # in another space, and projecting them would give meaningless neighbours.
        self.input_version = input_version
        self.report: dict[str, Any] = dict(report or {})
        self.version = self._compute_version()

    @property
    def dim(self) -> int:
        return self.config.out_dim

    def _compute_version(self) -> str:
        return content_version(self.net.state_dict(), repr((asdict(self.config), self.input_version)))

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """(N, in_dim) or (in_dim,) vectors -> (N, out_dim) unit vectors (float32). Cost: one small
        matrix product per row."""
        import torch

        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.config.in_dim:
            raise ValueError(f"expected (N, {self.config.in_dim}) vectors, got {x.shape}")
        with torch.inference_mode():
            y = _l2(self.net(torch.from_numpy(np.ascontiguousarray(x))).numpy())
        return y.astype(np.float32) if self.config.mix == 1.0 else blend(y, _l2(x), self.config.mix)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Weights, config and the input model version, atomically (ml.modelfiles)."""
        save_head(SIMILARITY, path, {"config": asdict(self.config), "input_version": self.input_version,
                                     "report": self.report, "state_dict": self.net.state_dict()},
                  version=self.version)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SimilarityProjection:
        """A projection written by :meth:`save`; ml.modelfiles.ModelFileError for a bad file."""
        payload = load_head(SIMILARITY, path)
        cfg = SimilarityConfig(**payload["config"])
        net = _build_net(cfg)
        net.load_state_dict(payload["state_dict"])
        model = cls(net, cfg, input_version=payload.get("input_version", ""), report=payload.get("report"))
        check_version(SIMILARITY, path, payload, model.version)
        return model


def train_similarity(vectors: np.ndarray, labels: Mapping[str, Sequence[Any]], cfg: SimilarityConfig | None = None,
                     *, input_version: str = "", num_threads: int | None = 1) -> SimilarityProjection:
    """Fit the projection on (N, in_dim) image vectors and their catalogue labels
    (``labels[name][i]``: image i's value, None or "" when unknown; names not in
    ``cfg.label_weights`` are ignored).

    Adam on minibatches of ``batch_size`` rows drawn at random each step (the whole set when
    smaller), ``epochs`` passes over the rows; the pairwise positive weights are built per batch,
    so memory is O(batch²) whatever N. Seeded: the same inputs give the same projection."""
    import torch

    from ml.backbone import torch_threads

    cfg = cfg or SimilarityConfig()
    x_all = np.asarray(vectors, dtype=np.float32)
    if x_all.ndim != 2 or x_all.shape[1] != cfg.in_dim:
        raise ValueError(f"expected (N, {cfg.in_dim}) vectors, got {x_all.shape}")
    n = len(x_all)
    if n < 2:
        raise ValueError("need at least two labelled vectors")
    used = _label_codes({k: v for k, v in labels.items() if cfg.label_weights.get(k, 0.0) > 0}, n)
    if not used:
        raise ValueError(f"no labels to learn from: got {sorted(labels)}, weights {cfg.label_weights}")
    with torch_threads(num_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        net = _build_net(cfg)
        optim = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        x = torch.from_numpy(_l2(x_all))
        batch = min(cfg.batch_size, n)
        steps = max(1, math.ceil(n / batch))
        losses: list[float] = []
        net.train()
        for _ in range(cfg.epochs):
            epoch_loss = 0.0
            for _ in range(steps):
                idx = rng.choice(n, size=batch, replace=False) if batch < n else np.arange(n)
                pos = torch.from_numpy(_positives({k: c[idx] for k, c in used.items()}, cfg.label_weights))
                z = torch.nn.functional.normalize(net(x[idx]), dim=1)
                loss = supcon_loss(z, pos, cfg.temperature)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                epoch_loss += float(loss.detach())
            losses.append(epoch_loss / steps)
        net.eval()
    report = {"n_train": n, "labels": sorted(used), "first_loss": losses[0], "final_loss": losses[-1]}
    return SimilarityProjection(net, cfg, input_version=input_version, report=report)

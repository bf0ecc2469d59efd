"""Joint image/text embedding space: linear maps trained with a symmetric InfoNCE loss.

Images (512-d CAM-VGG16 vectors) and texts (384-d MiniLM embeddings of captions) are projected
to a shared space where cosine similarity ranks images for a text query and vice versa. Three
ways to fit it (``method``):

- ``infonce``: two linear maps into a d-dimensional space (default 256), learned temperature;
- ``infonce-frozen``: the text encoder's space kept as it is (text side the identity), one
  linear map from images into it (fewer parameters: what a small paired set can support);
- ``ridge``: that same image map fitted in closed form by ridge regression onto the caption
  vectors (no negatives at all: the baseline the contrastive fits must beat).

torch is imported lazily so importing this module is cheap.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml.modelfiles import JOINT, check_version, content_version, load_head, save_head

__all__ = ["METHODS", "JointConfig", "JointProjection", "chance_precision_at_k", "recall_at_k", "train_joint"]

METHODS = ("infonce", "infonce-frozen", "ridge")


@dataclass
class JointConfig:
    """Shapes and training hyper-parameters (saved with the weights)."""

    image_dim: int = 512
    text_dim: int = 384
    dim: int = 256
    init_temperature: float = 0.07
    # The text side is the identity (dim == text_dim): images are mapped into the sentence space.
    text_frozen: bool = False


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _build_net(cfg: JointConfig) -> Any:
    import torch
    from torch import nn

    class _Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.image = nn.Linear(cfg.image_dim, cfg.dim)
            self.text = nn.Identity() if cfg.text_frozen else nn.Linear(cfg.text_dim, cfg.dim)
            # Learnable temperature as in CLIP, stored as log(1/T).
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / cfg.init_temperature)))

    return _Net()


def recall_at_k(sim: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Recall@k for a square similarity matrix whose correct match is on the diagonal."""
    n = sim.shape[0]
    if n == 0:
        return {f"R@{k}": 0.0 for k in ks}
    # Rank of the true item = number of items scored strictly higher.
    ranks = (sim > np.diag(sim)[:, None]).sum(axis=1)
    return {f"R@{k}": float((ranks < k).mean()) for k in ks}


def chance_precision_at_k(n_candidates: int, n_relevant: int, k: int) -> float:
    """P(at least one of `n_relevant` items is in the top k of a random order of `n_candidates`)."""
    if n_relevant <= 0 or n_candidates <= 0:
        return 0.0
    miss = 1.0
    for i in range(min(k, n_candidates)):
        if n_candidates - i <= 0:
            break
        miss *= max(0.0, (n_candidates - n_relevant - i) / (n_candidates - i))
    return 1.0 - miss


class JointProjection:
    """Trained projections: ``project_image`` / ``project_text`` return L2-normalised numpy."""

    def __init__(self, net: Any, cfg: JointConfig, image_mean: np.ndarray, image_std: np.ndarray) -> None:
        self.net = net.eval()
        self.config = cfg
        self.dim = cfg.dim
        self.image_mean = np.asarray(image_mean, dtype=np.float32)
        self.image_std = np.asarray(image_std, dtype=np.float32)
        self.version = self._compute_version()

    def _compute_version(self) -> str:
        identity = repr(asdict(self.config)).encode("utf-8") + self.image_mean.tobytes() + self.image_std.tobytes()
        return content_version(self.net.state_dict(), identity)

    @property
    def temperature(self) -> float:
        return float(1.0 / math.exp(float(self.net.logit_scale.detach())))

    def _project(self, layer: Any, x: np.ndarray, expected: int) -> np.ndarray:
        import torch

        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.shape[1] != expected:
            raise ValueError(f"expected {expected}-d vectors, got {x.shape[1]}")
        with torch.inference_mode():
            y = layer(torch.from_numpy(np.ascontiguousarray(x))).numpy()
        return _l2(y).astype(np.float32)

    def project_image(self, vectors: np.ndarray) -> np.ndarray:
        """(N, 512) image vectors -> (N, d) unit vectors in the joint space."""
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        return self._project(self.net.image, (x - self.image_mean) / self.image_std, self.config.image_dim)

    def project_text(self, vectors: np.ndarray) -> np.ndarray:
        """(N, 384) text embeddings -> (N, d) unit vectors in the joint space."""
        return self._project(self.net.text, vectors, self.config.text_dim)

    def save(self, path: str | Path) -> None:
        """Save weights, config and image normalisation atomically (ml.modelfiles)."""
        import torch

        payload = {
            "config": asdict(self.config),
            "image_mean": torch.from_numpy(self.image_mean),
            "image_std": torch.from_numpy(self.image_std),
            "state_dict": self.net.state_dict(),
        }
        save_head(JOINT, path, payload, version=self.version)

    @classmethod
    def load(cls, path: str | Path) -> JointProjection:
        """Load a projection written by save; ml.modelfiles.ModelFileError for a bad file."""
        payload = load_head(JOINT, path)
        cfg = JointConfig(**payload["config"])
        net = _build_net(cfg)
        net.load_state_dict(payload["state_dict"])
        model = cls(net, cfg, payload["image_mean"].numpy(), payload["image_std"].numpy())
        check_version(JOINT, path, payload, model.version)
        return model

def train_joint(
    image_vecs: np.ndarray,
    text_vecs: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    method: str = "infonce",
    epochs: int = 100,
    seed: int = 0,
    val_fraction: float = 0.1,
    dim: int = 256,
    batch_size: int = 256,
    lr: float = 2e-3,
    weight_decay: float = 1e-2,
    ridge: float = 100.0,
    num_threads: int | None = 1,
    on_epoch: Callable[[], None] | None = None,
) -> tuple[JointProjection, dict[str, Any]]:
    """Fit the projection on paired rows (row i of each is one image/caption pair); report val
    Recall@1/5/10 (text→image, image→text).

    ``groups`` (one id per row, e.g. the image's) marks rows that share an image: one image with
    several captions gives several pairs, which the contrastive loss must not push apart as
    negatives of each other, and which the validation split keeps together. Recall is measured
    among the held-out pairs only, so its chance level is k / n_val (given too). ``num_threads``
    caps torch's intra-op threads while training (restored afterwards; ``None`` leaves them).
    """
    from ml.backbone import torch_threads

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    with torch_threads(num_threads):
        return _train_joint(
            image_vecs, text_vecs, groups=groups, method=method, epochs=epochs, seed=seed,
            val_fraction=val_fraction, dim=dim, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
            ridge=ridge, on_epoch=on_epoch,
        )


def _split(groups: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (val, train), whole groups on one side; at least two groups train."""
    uniq = np.unique(groups)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(uniq))
    n_val = min(round(len(uniq) * val_fraction), len(uniq) - 2) if val_fraction > 0 else 0
    val_groups = set(uniq[order[:n_val]].tolist())
    in_val = np.fromiter((g in val_groups for g in groups.tolist()), dtype=bool, count=len(groups))
    return np.flatnonzero(in_val), np.flatnonzero(~in_val)


def _train_joint(
    image_vecs: np.ndarray,
    text_vecs: np.ndarray,
    *,
    groups: np.ndarray | None,
    method: str,
    epochs: int,
    seed: int,
    val_fraction: float,
    dim: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    ridge: float,
    on_epoch: Callable[[], None] | None,
) -> tuple[JointProjection, dict[str, Any]]:
    import torch
    import torch.nn.functional as F

    img = np.asarray(image_vecs, dtype=np.float32)
    txt = np.asarray(text_vecs, dtype=np.float32)
    if img.ndim != 2 or txt.ndim != 2 or len(img) != len(txt):
        raise ValueError("image_vecs and text_vecs must be 2-D with the same number of rows")
    grp = np.arange(len(img)) if groups is None else np.asarray(groups)
    if len(grp) != len(img):
        raise ValueError("groups must have one entry per pair")
    if len(np.unique(grp)) < 2:
        raise ValueError("need at least two images")
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    va, tr = _split(grp, val_fraction, seed)

    frozen = method != "infonce"
    cfg = JointConfig(image_dim=img.shape[1], text_dim=txt.shape[1], dim=txt.shape[1] if frozen else dim,
                      text_frozen=frozen)
    mean = img[tr].mean(0)
    std = img[tr].std(0) + 1e-6  # standardise: CAM features have very different scales per channel
    img_n = (img - mean) / std
    net = _build_net(cfg)
    history: list[float] = []
    if method == "ridge":
        _fit_ridge(net, img_n[tr], txt[tr], ridge)
        epochs = 0
    else:
        history = _fit_infonce(net, img_n, txt, grp, tr, epochs=epochs, seed=seed, batch_size=batch_size, lr=lr,
                               weight_decay=weight_decay, on_epoch=on_epoch, torch=torch, F=F)

    model = JointProjection(net.eval(), cfg, mean, std)
    report: dict[str, Any] = {
        "method": method,
        "n_train": len(tr),
        "n_val": len(va),
        "epochs": epochs,
        "train_loss": history[-1] if history else None,
        "loss_history": history,
        "temperature": model.temperature,
        "version": model.version,
    }
    if len(va):
        # One row per validation image (its first pair): recall over images, not over pairs.
        _, first = np.unique(grp[va], return_index=True)
        rows = va[np.sort(first)]
        zi = model.project_image(img[rows])
        zt = model.project_text(txt[rows])
        sim = zt @ zi.T
        report["val_text_to_image"] = recall_at_k(sim)
        report["val_image_to_text"] = recall_at_k(sim.T)
        report["val_chance"] = {f"R@{k}": min(1.0, k / len(rows)) for k in (1, 5, 10)}
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return model, report


def _fit_ridge(net: Any, x: np.ndarray, y: np.ndarray, alpha: float) -> None:
    """Closed-form ridge regression of caption vectors on standardised image vectors (bias not
    penalised); cost O(n d^2 + d^3) for d = 512."""
    import torch

    xm, ym = x.mean(0), y.mean(0)
    xc, yc = (x - xm).astype(np.float64), (y - ym).astype(np.float64)
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ yc)  # (image_dim, text_dim)
    b = ym - xm @ w
    with torch.no_grad():
        net.image.weight.copy_(torch.from_numpy(w.T.astype(np.float32)))
        net.image.bias.copy_(torch.from_numpy(b.astype(np.float32)))


def _fit_infonce(net: Any, img_n: np.ndarray, txt: np.ndarray, grp: np.ndarray, tr: np.ndarray, *, epochs: int,
                 seed: int, batch_size: int, lr: float, weight_decay: float, on_epoch: Callable[[], None] | None,
                 torch: Any, F: Any) -> list[float]:
    """Symmetric InfoNCE over mini-batches; pairs of one group are not each other's negatives."""
    xi = torch.from_numpy(np.ascontiguousarray(img_n))
    xt = torch.from_numpy(np.ascontiguousarray(txt))
    g = torch.from_numpy(np.unique(grp, return_inverse=True)[1].astype(np.int64))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    gen = torch.Generator().manual_seed(seed)
    tr_t = torch.from_numpy(tr)
    drop = torch.nn.Dropout(0.1)  # light input dropout: a linear map on ~1k pairs overfits fast
    history: list[float] = []
    for _ in range(epochs):
        net.train()
        order = tr_t[torch.randperm(len(tr_t), generator=gen)]
        total, count = 0.0, 0
        for start in range(0, len(order), batch_size):
            ids = order[start : start + batch_size]
            if len(ids) < 2:
                continue
            zi = F.normalize(net.image(drop(xi[ids])), dim=-1)
            zt = F.normalize(net.text(drop(xt[ids])), dim=-1)
            scale = net.logit_scale.clamp(max=math.log(100.0)).exp()
            logits = scale * zt @ zi.T
            gi = g[ids]
            same = (gi[:, None] == gi[None, :]) & ~torch.eye(len(ids), dtype=torch.bool)
            logits = logits.masked_fill(same, float("-inf"))
            target = torch.arange(len(ids))
            loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                net.logit_scale.clamp_(0.0, math.log(100.0))
            total += loss.item() * len(ids)
            count += len(ids)
        sched.step()
        history.append(total / max(count, 1))
        if on_epoch is not None:  # progress for the caller (a command's bar)
            on_epoch()
    return history


def first_relevant_ranks(scores: np.ndarray, relevant: list[np.ndarray]) -> np.ndarray:
    """1-based rank of the best-scored relevant candidate of each query: `scores` is (queries,
    candidates), `relevant[i]` the column indices relevant to query i (ties count in its favour)."""
    ranks = np.empty(len(relevant), dtype=np.int64)
    for i, cols in enumerate(relevant):
        best = scores[i, cols].max()
        ranks[i] = 1 + int((scores[i] > best).sum())
    return ranks


def rank_summary(ranks: np.ndarray, n_relevant: np.ndarray, n_candidates: int,
                 ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Pr@k from first-relevant ranks, beside what a random order gives: chance Pr@k, the z-score
    of the hits against it (hits minus expected hits, over the binomial spread of the expected
    ones: z > 2 is better than chance at about the 2.5 % level), the median rank and the median of
    the expected first-relevant rank of a random order, (N + 1) / (r + 1)."""
    out: dict[str, float] = {"n": float(len(ranks))}
    if not len(ranks):
        return out
    for k in ks:
        p = np.array([chance_precision_at_k(n_candidates, int(r), k) for r in n_relevant])
        hits = float((ranks <= k).sum())
        spread = math.sqrt(float((p * (1 - p)).sum())) or 1.0
        out[f"Pr@{k}"] = hits / len(ranks)
        out[f"chance@{k}"] = float(p.mean())
        out[f"z@{k}"] = (hits - float(p.sum())) / spread
    out["median_rank"] = float(np.median(ranks))
    out["chance_median_rank"] = float(np.median((n_candidates + 1) / (np.asarray(n_relevant) + 1)))
    return out

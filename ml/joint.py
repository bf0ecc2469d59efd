"""Joint image/text embedding space: two linear maps trained with a symmetric InfoNCE loss.

Images (512-d CAM-VGG16 vectors) and texts (384-d MiniLM embeddings of captions) are projected
to a shared d-dimensional space (default 256) where cosine similarity ranks images for a text
query and vice versa. torch is imported lazily so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["JointConfig", "JointProjection", "recall_at_k", "train_joint"]


@dataclass
class JointConfig:
    """Shapes and training hyper-parameters (saved with the weights)."""

    image_dim: int = 512
    text_dim: int = 384
    dim: int = 256
    init_temperature: float = 0.07


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _build_net(cfg: JointConfig) -> Any:
    import torch
    from torch import nn

    class _Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.image = nn.Linear(cfg.image_dim, cfg.dim)
            self.text = nn.Linear(cfg.text_dim, cfg.dim)
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
        h = hashlib.sha256(repr(asdict(self.config)).encode("utf-8"))
        h.update(self.image_mean.tobytes())
        h.update(self.image_std.tobytes())
        state = self.net.state_dict()
        for key in sorted(state):
            h.update(key.encode("utf-8"))
            h.update(np.ascontiguousarray(state[key].detach().cpu().numpy()).tobytes())
        return h.hexdigest()[:12]

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
        """Save weights, config and image normalisation (torch file, safe to load)."""
        import torch

        from ml.backbone import save_torch_file

        payload = {
            "format": "artsearch-joint/1",
            "config": asdict(self.config),
            "image_mean": torch.from_numpy(self.image_mean),
            "image_std": torch.from_numpy(self.image_std),
            "state_dict": self.net.state_dict(),
            "version": self.version,
        }
        save_torch_file(payload, path)

    @classmethod
    def load(cls, path: str | Path) -> JointProjection:
        """Load a projection written by save (weights_only: no pickle code execution)."""
        from ml.backbone import load_torch_file

        payload, _ = load_torch_file(path, fmt="artsearch-joint/1", what="joint-projection")
        cfg = JointConfig(**payload["config"])
        net = _build_net(cfg)
        net.load_state_dict(payload["state_dict"])
        model = cls(net, cfg, payload["image_mean"].numpy(), payload["image_std"].numpy())
        if model.version != payload.get("version"):
            raise ValueError(f"{path}: version mismatch (file corrupted?)")
        return model


def train_joint(
    image_vecs: np.ndarray,
    text_vecs: np.ndarray,
    *,
    epochs: int = 100,
    seed: int = 0,
    val_fraction: float = 0.1,
    dim: int = 256,
    batch_size: int = 256,
    lr: float = 2e-3,
    weight_decay: float = 1e-2,
    num_threads: int | None = 1,
    on_epoch: Callable[[], None] | None = None,
) -> tuple[JointProjection, dict[str, Any]]:
    """Train the two projections on paired rows; report val Recall@1/5/10 (text→image, image→text).

    Recall is measured among the held-out pairs only (candidates = the val images), so its
    chance level is k / n_val, which the report gives too. ``num_threads`` caps torch's
    intra-op threads while training (restored afterwards; ``None`` leaves them alone).
    """
    from ml.backbone import torch_threads

    with torch_threads(num_threads):
        return _train_joint(
            image_vecs,
            text_vecs,
            epochs=epochs,
            seed=seed,
            val_fraction=val_fraction,
            dim=dim,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            on_epoch=on_epoch,
        )


def _train_joint(
    image_vecs: np.ndarray,
    text_vecs: np.ndarray,
    *,
    epochs: int,
    seed: int,
    val_fraction: float,
    dim: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    on_epoch: Callable[[], None] | None,
) -> tuple[JointProjection, dict[str, Any]]:
    import torch
    import torch.nn.functional as F

    img = np.asarray(image_vecs, dtype=np.float32)
    txt = np.asarray(text_vecs, dtype=np.float32)
    if img.ndim != 2 or txt.ndim != 2 or len(img) != len(txt):
        raise ValueError("image_vecs and text_vecs must be 2-D with the same number of rows")
    if len(img) < 2:
        raise ValueError("need at least two pairs")
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(img))
    n_val = min(round(len(img) * val_fraction), len(img) - 2) if val_fraction > 0 else 0
    va, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])

    cfg = JointConfig(image_dim=img.shape[1], text_dim=txt.shape[1], dim=dim)
    mean = img[tr].mean(0)
    std = img[tr].std(0) + 1e-6  # standardise: CAM features have very different scales per channel
    img_n = (img - mean) / std
    xi = torch.from_numpy(np.ascontiguousarray(img_n))
    xt = torch.from_numpy(np.ascontiguousarray(txt))

    net = _build_net(cfg)
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

    model = JointProjection(net.eval(), cfg, mean, std)
    report: dict[str, Any] = {
        "n_train": len(tr),
        "n_val": len(va),
        "epochs": epochs,
        "train_loss": history[-1] if history else None,
        "loss_history": history,
        "temperature": model.temperature,
        "version": model.version,
    }
    if len(va):
        zi = model.project_image(img[va])
        zt = model.project_text(txt[va])
        sim = zt @ zi.T
        report["val_text_to_image"] = recall_at_k(sim)
        report["val_image_to_text"] = recall_at_k(sim.T)
        report["val_chance"] = {f"R@{k}": min(1.0, k / len(va)) for k in (1, 5, 10)}
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return model, report

"""Class-weighted convolutional features (CAM pooling).

Jimenez, Alvarez & Giro-i-Nieto, "Class-weighted convolutional features for
visual instance search", BMVC 2017: a linear classifier on globally
average-pooled conv features yields class activation maps (CAMs); each CAM
re-weights the conv features spatially before sum pooling, and the per-class
descriptors of the top predicted classes are aggregated.

The pure tensor functions come first; :class:`CamHead` is a thin module and
:func:`train_cam_head` fits it on precomputed GAP vectors (the trunk stays
frozen), which takes seconds on a CPU.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.backbone import torch_threads
from ml.modelfiles import CAM_HEAD, check_version, content_version, load_head, save_head

__all__ = [
    "OTHER_CLASS",
    "CamHead",
    "cam_weighted_pool",
    "class_activation_maps",
    "combine_cams",
    "l2n",
    "regional_cam_pool",
    "rmac_regions",
    "sum_pool",
    "train_cam_head",
]

logger = logging.getLogger(__name__)

OTHER_CLASS: Final = "other"
_EPS: Final = 1e-6

# --------------------------------------------------------------------------- #
# Pure functions
# --------------------------------------------------------------------------- #


def l2n(x: torch.Tensor, dim: int = -1, eps: float = _EPS) -> torch.Tensor:
    """L2-normalise along ``dim`` (cirtorch style: x / (||x|| + eps))."""
    return x / (torch.linalg.vector_norm(x, ord=2, dim=dim, keepdim=True) + eps)


def sum_pool(fmap: torch.Tensor) -> torch.Tensor:
    """Sum pooling over space: (B, C, H, W) -> (B, C)."""
    return fmap.sum(dim=(-2, -1))


def _minmax_maps(maps: torch.Tensor) -> torch.Tensor:
    """Normalise each (H, W) map to [0, 1].

    A constant map carries no spatial information; it becomes all ones so that
    weighting by it degrades gracefully to plain sum pooling (instead of 0/0 =
    NaN, or an all-zero map that would wipe out the descriptor).
    """
    flat = maps.flatten(-2)
    lo = flat.amin(dim=-1, keepdim=True)
    hi = flat.amax(dim=-1, keepdim=True)
    span = hi - lo
    constant = span <= _EPS * torch.clamp(hi.abs(), min=1.0)
    normed = torch.where(constant, torch.ones_like(flat), (flat - lo) / torch.where(constant, 1.0, span))
    return normed.view_as(maps)


def class_activation_maps(fmap: torch.Tensor, weight: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """CAMs of selected classes, each min-max normalised to [0, 1].

    ``fmap`` (B, C, H, W), ``weight`` (K, C) classifier weights acting on GAP
    features, ``classes`` (B, M) long indices into K -> (B, M, H, W), where
    ``cam[b, m] = sum_c weight[classes[b, m], c] * fmap[b, c]``.
    """
    if weight.ndim != 2 or weight.shape[1] != fmap.shape[1]:
        raise ValueError(f"weight must be (K, {fmap.shape[1]}), got {tuple(weight.shape)}")
    w = weight.to(fmap.dtype)[classes]  # (B, M, C)
    cams = torch.einsum("bmc,bchw->bmhw", w, fmap)
    return _minmax_maps(cams)


def cam_weighted_pool(
    fmap: torch.Tensor, cams: torch.Tensor, class_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """CAM-weighted sum pooling: (B, C, H, W) x (B, M, H, W) -> (B, C), unit norm.

    For each map m: ``v_m = l2n(sum_hw fmap * cam_m)``; then
    ``l2n(sum_m w_m v_m)`` with ``w`` = ``class_weights`` (B, M) or ones.
    A uniform CAM therefore gives exactly ``l2n(sum_pool(fmap))``.
    """
    if cams.shape[0] != fmap.shape[0] or cams.shape[-2:] != fmap.shape[-2:]:
        raise ValueError(f"cams {tuple(cams.shape)} do not match fmap {tuple(fmap.shape)}")
    per_class = l2n(torch.einsum("bchw,bmhw->bmc", fmap, cams.to(fmap.dtype)))
    if class_weights is not None:
        per_class = per_class * class_weights.to(per_class.dtype).unsqueeze(-1)
    return l2n(per_class.sum(dim=1))


Region = tuple[int, int, int, int]  # y0, y1, x0, x1 on the feature map (end exclusive)


def rmac_regions(height: int, width: int, levels: int = 3, overlap: float = 0.4) -> list[Region]:
    """Square regions of an ``height`` x ``width`` feature map at ``levels`` scales (R-MAC grid).

    The region layout of Tolias et al. (2016) as cirtorch computes it: at level ``l`` squares
    of side ``2 min(h, w) / (l + 1)``, uniformly placed with about ``overlap`` between
    neighbours along the long side. The whole map is not included. Regions smaller than
    2x2 cells are skipped (too little context for a meaningful descriptor).
    """
    if height < 1 or width < 1:
        raise ValueError(f"invalid feature map size {height}x{width}")
    side = min(height, width)
    steps = np.arange(2, 7)
    step_b = (max(height, width) - side) / (steps - 1)
    extra = int(np.argmin(np.abs(((side**2 - side * step_b) / side**2) - overlap))) + 1
    extra_w = extra if height < width else 0
    extra_h = extra if height > width else 0
    out: list[Region] = []
    for level in range(1, levels + 1):
        wl = int(2 * side // (level + 1))
        if wl < 2:
            continue
        half = int(wl / 2 - 1)
        bw = 0.0 if level + extra_w == 1 else (width - wl) / (level + extra_w - 1)
        bh = 0.0 if level + extra_h == 1 else (height - wl) / (level + extra_h - 1)
        xs = [int(half + i * bw) - half for i in range(level + extra_w)]
        ys = [int(half + i * bh) - half for i in range(level + extra_h)]
        out.extend((y, y + wl, x, x + wl) for y in ys for x in xs)
    return list(dict.fromkeys(out))  # small maps repeat regions across levels


def regional_cam_pool(
    fmap: torch.Tensor, cams: torch.Tensor, class_weights: torch.Tensor | None, regions: Sequence[Region]
) -> torch.Tensor:
    """:func:`cam_weighted_pool` restricted to each region: (B, C, H, W) -> (B, R, C), unit norm.

    A copy pasted into a bigger picture, or a detail of a painting, matches a *part* of the
    other image; a regional descriptor of that part is close to the other's global one
    where the global descriptors are not (see ``recommender.search.shortlist``).
    """
    if cams.shape[0] != fmap.shape[0] or cams.shape[-2:] != fmap.shape[-2:]:
        raise ValueError(f"cams {tuple(cams.shape)} do not match fmap {tuple(fmap.shape)}")
    if not regions:
        return fmap.new_zeros(fmap.shape[0], 0, fmap.shape[1])
    cams = cams.to(fmap.dtype)
    out = []
    for y0, y1, x0, x1 in regions:
        out.append(cam_weighted_pool(fmap[..., y0:y1, x0:x1], cams[..., y0:y1, x0:x1], class_weights))
    return torch.stack(out, dim=1)


def combine_cams(cams: torch.Tensor, class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted mean of (B, M, H, W) CAMs -> (B, H, W) renormalised to [0, 1] (for display)."""
    if class_weights is None:
        mixed = cams.mean(dim=1)
    else:
        w = class_weights.to(cams.dtype)
        mixed = (cams * w[:, :, None, None]).sum(dim=1) / w.sum(dim=1).clamp_min(_EPS)[:, None, None]
    return _minmax_maps(mixed)


# --------------------------------------------------------------------------- #
# The head
# --------------------------------------------------------------------------- #


class CamHead(nn.Module):
    """GAP + one linear classifier per label task ("form", "type", ...).

    Inputs are standardised per channel (``(gap - mean) / std``, frozen
    statistics of the training set) because raw VGG activations differ in
    scale by orders of magnitude. The CAM weight of a task is therefore
    ``W / std``; the constant term ``-W mean / std + b`` is the same at every
    position and vanishes under the min-max normalisation of the CAM.
    """

    def __init__(
        self,
        tasks: Mapping[str, Sequence[str]],
        in_channels: int = 512,
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not tasks:
            raise ValueError("CamHead needs at least one task")
        # Plain str: numpy/other str subclasses would not survive weights_only loading.
        self.tasks: dict[str, list[str]] = {str(t): [str(name) for name in c] for t, c in tasks.items()}
        for task, names in self.tasks.items():
            if len(names) < 2:
                raise ValueError(f"task {task!r} needs at least two classes, got {names}")
        self.in_channels = in_channels
        # Task names are user data ("type" would shadow nn.Module.type, dots are
        # illegal), so submodules get positional keys.
        self._keys = {task: f"task{i}" for i, task in enumerate(self.tasks)}
        self.classifiers = nn.ModuleDict({self._keys[t]: nn.Linear(in_channels, len(c)) for t, c in self.tasks.items()})
        self.register_buffer("feat_mean", torch.zeros(in_channels))
        self.register_buffer("feat_std", torch.ones(in_channels))
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.version: str = "unsaved"

    def forward_gap(self, gap: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, C) GAP features -> logits per task."""
        z = (gap - self.feat_mean) / self.feat_std
        return {task: self.classifiers[key](z) for task, key in self._keys.items()}

    def forward(self, fmap: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, C, H, W) conv maps -> logits per task."""
        return self.forward_gap(fmap.mean(dim=(-2, -1)))

    def cam_weight(self, task: str) -> torch.Tensor:
        """(K, C) weights whose dot product with the conv features is the CAM."""
        return self.classifier(task).weight / self.feat_std

    def classifier(self, task: str) -> nn.Linear:
        """The linear layer of ``task``."""
        layer = self.classifiers[self._keys[task]]
        assert isinstance(layer, nn.Linear)
        return layer

    @torch.no_grad()
    def top_classes(self, fmap: torch.Tensor, k: int = 3) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per task: (class indices (B, k'), probabilities (B, k')), k' = min(k, K)."""
        out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for task, logits in self.forward(fmap).items():
            probs = logits.softmax(dim=-1)
            p, idx = probs.topk(min(k, probs.shape[-1]), dim=-1)
            out[task] = (idx, p)
        return out

    # -- persistence ------------------------------------------------------- #

    def _payload(self) -> dict[str, Any]:
        return {
            "in_channels": self.in_channels,
            "tasks": self.tasks,
            "metadata": self.metadata,
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
        }

    def _version(self, state: Mapping[str, torch.Tensor]) -> str:
        return content_version(state, repr((self.in_channels, self.tasks, self.metadata)))

    def save(self, path: str | os.PathLike[str]) -> str:
        """Save atomically (ml.modelfiles); returns (and sets) ``version``."""
        payload = self._payload()
        self.version = self._version(payload["state_dict"])
        save_head(CAM_HEAD, path, payload, version=self.version)
        return self.version

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu") -> CamHead:
        """Load a head written by :meth:`save`; ml.modelfiles.ModelFileError for a bad file."""
        payload = load_head(CAM_HEAD, path, map_location=map_location)
        head = cls(payload["tasks"], payload["in_channels"], metadata=payload.get("metadata"))
        head.load_state_dict(payload["state_dict"], strict=True)
        if "version" in payload:
            head.version = head._version(head.state_dict())
            check_version(CAM_HEAD, path, payload, head.version)
        else:
            # Heads saved without a version stamp are known by the hash of their file's bytes: the
            # version their images were indexed under, so those images stay current.
            head.version = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
        return head.eval()


# --------------------------------------------------------------------------- #
# Training
# --------------------------------------------------------------------------- #


def _class_list(values: Sequence[str | None], min_count: int) -> tuple[list[str], dict[str, int]]:
    """Classes with >= min_count examples, the rest mapped to ``OTHER_CLASS``."""
    counts = Counter(str(v) for v in values if v is not None)
    kept = sorted(c for c, n in counts.items() if n >= min_count and c != OTHER_CLASS)
    rare = [c for c, n in counts.items() if c not in kept]
    classes = kept + ([OTHER_CLASS] if rare else [])
    index = {c: i for i, c in enumerate(classes)}
    for c in rare:
        index[c] = index[OTHER_CLASS]
    return classes, index


def _fit(
    head: CamHead,
    x: torch.Tensor,
    targets: Mapping[str, torch.Tensor],
    *,
    epochs: int,
    lr: float,
    l2: float,
) -> None:
    """Full-batch L-BFGS on the summed per-task cross-entropy + l2 * ||W||^2.

    Each task is an L2-regularised multinomial logistic regression (convex), so
    L-BFGS converges to the same optimum from any start. Adam was measured to
    generalise clearly worse here (with few samples and 512 dims its
    per-coordinate steps spread weight over noise channels).
    """
    head.feat_mean.copy_(x.mean(dim=0))
    head.feat_std.copy_(x.std(dim=0, unbiased=False).clamp_min(1e-3))
    params = [p for name, p in head.named_parameters() if name.startswith("classifiers.")]
    optim = torch.optim.LBFGS(params, lr=lr, max_iter=epochs, history_size=20, line_search_fn="strong_wolfe")
    weights = [head.classifier(t).weight for t in head.tasks]

    def closure() -> torch.Tensor:
        optim.zero_grad(set_to_none=True)
        logits = head.forward_gap(x)
        loss = l2 * sum((w**2).sum() for w in weights)
        for task, y in targets.items():
            if (y >= 0).any():
                loss = loss + F.cross_entropy(logits[task], y, ignore_index=-100)
        loss.backward()
        return loss

    head.train()
    with torch.enable_grad():
        optim.step(closure)
    head.eval()


def train_cam_head(
    gap_features: np.ndarray,
    labels: Mapping[str, Sequence[str | None]],
    *,
    epochs: int = 300,
    lr: float = 1.0,
    l2: float = 1e-2,
    seed: int = 0,
    val_fraction: float = 0.2,
    min_count: int = 5,
    refit_all: bool = True,
) -> tuple[CamHead, dict[str, Any]]:
    """Fit a :class:`CamHead` on GAP vectors (N, C) of the frozen trunk.

    ``labels[task][i]`` is the class name of sample i, or None (ignored for
    that task). Classes with fewer than ``min_count`` examples collapse into
    ``"other"``; tasks with fewer than two classes are dropped. ``epochs`` is
    the L-BFGS iteration budget, ``lr`` its step scale, ``l2`` the weight
    penalty on standardised inputs.

    The report gives per-task accuracy of a head trained on the training split
    and scored on a held-out ``val_fraction`` (split seeded by ``seed``). With
    ``refit_all`` the returned head is then refit on every sample (the usual
    choice with a few hundred labelled images); otherwise it is the scored one.
    """
    x_all = torch.as_tensor(np.asarray(gap_features, dtype=np.float32))
    if x_all.ndim != 2:
        raise ValueError(f"gap_features must be (N, C), got {tuple(x_all.shape)}")
    n, channels = x_all.shape
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError("val_fraction must be in [0, 1)")

    tasks: dict[str, list[str]] = {}
    targets: dict[str, torch.Tensor] = {}
    for task, values in labels.items():
        if len(values) != n:
            raise ValueError(f"task {task!r}: {len(values)} labels for {n} samples")
        classes, index = _class_list(values, min_count)
        if len(classes) < 2:
            logger.warning("task %r skipped: fewer than two classes (%s)", task, classes)
            continue
        tasks[task] = classes
        targets[task] = torch.tensor([index[str(v)] if v is not None else -100 for v in values], dtype=torch.long)
    if not tasks:
        raise ValueError("no task has at least two classes to learn")

    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = round(n * val_fraction)
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    metadata = {"n_samples": n, "min_count": min_count, "epochs": epochs, "l2": l2, "seed": seed}

    def new_head() -> CamHead:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return CamHead(tasks, channels, metadata=metadata)

    with torch_threads(1):
        head = new_head()
        _fit(head, x_all[train_idx], {t: y[train_idx] for t, y in targets.items()}, epochs=epochs, lr=lr, l2=l2)
        with torch.no_grad():
            logits_all = head.forward_gap(x_all)

        report: dict[str, Any] = {
            "n_samples": n,
            "n_train": len(train_idx),
            "n_val": n_val,
            "refit_all": refit_all,
            "tasks": {},
        }
        for task, y in targets.items():
            pred = logits_all[task].argmax(dim=-1)
            entry: dict[str, Any] = {"classes": tasks[task]}
            for split, idx in (("train", train_idx), ("val", val_idx)):
                mask = y[idx] >= 0
                labelled = int(mask.sum())
                entry[f"n_{split}"] = labelled
                entry[f"{split}_accuracy"] = (
                    float((pred[idx][mask] == y[idx][mask]).float().mean()) if labelled else None
                )
            train_y = y[train_idx][y[train_idx] >= 0]
            val_y = y[val_idx][y[val_idx] >= 0]
            if len(train_y) and len(val_y):
                majority = int(torch.bincount(train_y).argmax())
                entry["val_majority_baseline"] = float((val_y == majority).float().mean())
            report["tasks"][task] = entry
            logger.info(
                "CAM head task %s: %d classes, train acc %s, val acc %s (majority %s)",
                task, len(tasks[task]), entry["train_accuracy"], entry["val_accuracy"],
                entry.get("val_majority_baseline"),
            )  # fmt: skip

        if refit_all and n_val:
            head = new_head()
            _fit(head, x_all, targets, epochs=epochs, lr=lr, l2=l2)
    head.metadata["report"] = report
    return head, report

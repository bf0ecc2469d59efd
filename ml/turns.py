"""Turn maps: the CNN vector of an image turned by 90/180/270 degrees, predicted from its upright
vector by one linear map per quarter turn, without another forward pass.

VGG16 features are not rotation invariant, so a sideways copy's vector is far from its
original's (cosine ~0.6, the level of unrelated works) and the image query turns the query back
(the rotation retry of ``recommender.search.copies_find``). Computing those turned vectors costs
three forward passes, most of the time an image query or the duplicate scan spends on an image
that has no copy. But conv5 filters come in families that are turned versions of one another, so
summing a turned image's feature map mostly moves mass between channels: a linear map of the
upright vector predicts the turned one well enough to shortlist the original (ORB, rotation
invariant, then decides). The maps are fitted by ridge regression on images of the collection
turned four ways (every orientation is an input, each quarter turn later its target), once per
CNN model version (``TurnMaps.model_version``): a retrained CAM head makes new vectors, and
maps fitted on the old ones are not used for them (the caller falls back to forward passes).

Framework-free: numpy; torch only to read and write the model file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from ml.modelfiles import TURNS, ModelFileError, check_version, content_version, load_head, save_head

__all__ = ["QUARTERS", "TurnMaps", "fit_turn_maps", "turn_recall"]

QUARTERS: Final = (1, 2, 3)  # np.rot90's k: counter-clockwise quarter turns
DEFAULT_L2: Final = 0.1  # ridge penalty; README Figures, "Turn maps", has the sweep


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12, None)


def fit_turn_maps(by_turn: Sequence[np.ndarray], *, l2: float = DEFAULT_L2) -> dict[int, np.ndarray]:
    """One (D, D) map per quarter turn k such that ``unit(v @ M[k])`` ≈ the vector of the image
    turned by k, fitted on ``by_turn[j]`` = (N, D) vectors of N images turned by j = 0..3.

    Every orientation serves as an input (turning an image turned by j by k more gives the
    one turned by j + k), so N images give 4N pairs per map. Ridge towards zero, closed form:
    (XᵀX + l2·I)⁻¹ XᵀY, in float64. Cost O(N·D² + D³) per map: well under a second at D = 512.
    """
    if len(by_turn) != 4:
        raise ValueError(f"need the vectors of the four orientations, got {len(by_turn)}")
    arrays = [np.asarray(v, dtype=np.float64) for v in by_turn]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 2 or arrays[0].shape[0] < 1:
        raise ValueError(f"each orientation needs the same (N, D) array, got {sorted(shapes)}")
    if l2 <= 0:
        raise ValueError("l2 must be > 0 (the system is underdetermined for fewer images than dimensions)")
    x = np.concatenate(arrays)
    gram = x.T @ x + l2 * np.eye(x.shape[1])
    return {k: np.linalg.solve(gram, x.T @ np.concatenate([arrays[(j + k) % 4] for j in range(4)])).astype(np.float32)
            for k in QUARTERS}


def turn_recall(maps: Mapping[int, np.ndarray] | None, by_turn: Sequence[np.ndarray], *,
                ks: Sequence[int] = (1, 10, 30)) -> dict[str, float]:
    """How often a turned copy finds its original: for each image i and each copy turned by
    j = 1..3 (its vector ``by_turn[j][i]``), the copy's vector turned by every quarter turn
    (``maps``; ``None``: the copy's own vector, no turning) ranks the N upright vectors by the
    best cosine; recall@k is the share with the original within the first k, and ``cosine``
    the median best cosine to the original. Measures maps on images they were not fitted on."""
    upright = _unit(np.asarray(by_turn[0], dtype=np.float32))
    ranks, cosines = [], []
    for j in QUARTERS:
        copies = _unit(np.asarray(by_turn[j], dtype=np.float32))
        queries = [copies] if maps is None else [_unit(copies @ maps[k]) for k in QUARTERS]
        sims = np.max([q @ upright.T for q in queries], axis=0)
        own = np.diagonal(sims)
        ranks.append((sims > own[:, None]).sum(axis=1))
        cosines.append(own)
    rank = np.concatenate(ranks)
    out = {f"recall_at_{k}": float(np.mean(rank < k)) for k in ks}
    out["cosine"] = float(np.median(np.concatenate(cosines)))
    return out


@dataclass(frozen=True)
class TurnMaps:
    """Fitted maps for the vectors of one CNN model version."""

    maps: dict[int, np.ndarray]
    model_version: str
    version: str
    report: dict[str, Any] = field(default_factory=dict)

    def turned(self, vector: Sequence[float] | np.ndarray) -> list[list[float]]:
        """The predicted unit vectors of the image turned by 90, 180 and 270 degrees."""
        v = np.asarray(vector, dtype=np.float32)
        return [[float(x) for x in _unit(v @ self.maps[k])] for k in QUARTERS]

    @staticmethod
    def _identity(model_version: str) -> str:
        return f"turns|{model_version}"

    @classmethod
    def fitted(cls, by_turn: Sequence[np.ndarray], *, model_version: str, l2: float = DEFAULT_L2,
               report: dict[str, Any] | None = None) -> TurnMaps:
        import torch

        maps = fit_turn_maps(by_turn, l2=l2)
        state = {f"turn{k}": torch.from_numpy(m) for k, m in maps.items()}
        return cls(maps=maps, model_version=model_version,
                   version=content_version(state, cls._identity(model_version)), report=dict(report or {}))

    def save(self, path: str | os.PathLike[str]) -> None:
        import torch

        state = {f"turn{k}": torch.from_numpy(m) for k, m in self.maps.items()}
        save_head(TURNS, path, {"state_dict": state, "model_version": self.model_version, "report": self.report},
                  version=self.version)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TurnMaps:
        """ModelFileError for a missing, corrupt, foreign or altered file."""
        payload = load_head(TURNS, path)
        state, model_version = payload["state_dict"], payload.get("model_version")
        if not isinstance(model_version, str) or any(f"turn{k}" not in state for k in QUARTERS):
            raise ModelFileError(f"{path}: a {TURNS.what} file without its maps or model version; "
                                 f"train it again with `python manage.py {TURNS.command}`")
        check_version(TURNS, path, payload, content_version(state, cls._identity(model_version)))
        maps = {k: state[f"turn{k}"].detach().cpu().numpy().astype(np.float32) for k in QUARTERS}
        return cls(maps=maps, model_version=model_version, version=payload["version"],
                   report=dict(payload.get("report") or {}))

"""Turn maps (ml.turns) on synthetic vectors whose turns are exact channel permutations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.modelfiles import ModelFileError
from ml.turns import TurnMaps, fit_turn_maps, turn_recall


def _turned_sets(n: int = 300, d: int = 32, seed: int = 0) -> list[np.ndarray]:
    """Vectors of n images in four orientations: turning by one quarter permutes the channels
    by a 4-cycle of blocks (conv filters that are turned versions of one another)."""
    rng = np.random.default_rng(seed)
    upright = np.abs(rng.normal(size=(n, d))).astype(np.float32)
    perm = np.roll(np.arange(d).reshape(4, -1), 1, axis=0).ravel()
    out = [upright]
    for _ in range(3):
        out.append(out[-1][:, perm])
    return [v / np.linalg.norm(v, axis=1, keepdims=True) for v in out]


def test_maps_learn_the_turns_and_find_turned_copies() -> None:
    sets = _turned_sets()
    train, test = [v[:200] for v in sets], [v[200:] for v in sets]
    maps = fit_turn_maps(train, l2=1e-3)
    assert set(maps) == {1, 2, 3} and maps[1].shape == (32, 32)
    pred = test[0] @ maps[1]
    pred /= np.linalg.norm(pred, axis=1, keepdims=True)
    assert float(np.min(np.sum(pred * test[1], axis=1))) > 0.99
    with_maps, without = turn_recall(maps, test), turn_recall(None, test)
    assert with_maps["recall_at_1"] == 1.0 and with_maps["cosine"] > 0.99
    assert without["recall_at_1"] < 0.5


def test_bad_inputs_are_refused() -> None:
    sets = _turned_sets(n=10)
    with pytest.raises(ValueError, match="four orientations"):
        fit_turn_maps(sets[:3])
    with pytest.raises(ValueError, match="same"):
        fit_turn_maps([sets[0], sets[1], sets[2], sets[3][:5]])
    with pytest.raises(ValueError, match="l2"):
        fit_turn_maps(sets, l2=0)


def test_the_file_round_trips_and_an_altered_one_is_refused(tmp_path: Path) -> None:
    import torch

    maps = TurnMaps.fitted(_turned_sets(n=50), model_version="vgg+sum@256+r3", report={"images": 50})
    path = tmp_path / "turns.pt"
    maps.save(path)
    back = TurnMaps.load(path)
    assert back.model_version == maps.model_version and back.version == maps.version
    assert back.report == {"images": 50}
    turned = back.turned(_turned_sets(n=1)[0][0])
    assert len(turned) == 3 and all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in turned)

    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["turn1"] = payload["state_dict"]["turn1"] * 2
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="version stamp"):
        TurnMaps.load(path)
    path.write_bytes(b"not a torch file")
    with pytest.raises(ModelFileError, match="train_turns"):
        TurnMaps.load(path)

"""The one reload rule for model files: loaded once per process, loaded again when the file is
replaced or removed, and used by every trained model the app reads."""

from __future__ import annotations

from pathlib import Path

import torch
from django.test import override_settings

from ml.modelfiles import CAM_HEAD, CAPTIONER, JOINT, SIMILARITY, ModelFile, content_version, load_head, save_head
from recommender import captioning, joint_search, pipeline, similarity
from recommender.modelfiles import InstalledModel, model_path

TOY = ModelFile("toy.pt", "artsearch-toy/1", "toy head", "train_toy")


def _save(seed: int) -> None:
    state = {"w": torch.full((2, 2), float(seed))}
    save_head(TOY, model_path(TOY), {"state_dict": state}, version=content_version(state, ""))


def test_a_model_is_loaded_again_only_when_its_file_changes(tmp_path: Path) -> None:
    with override_settings(MODEL_DIR=tmp_path):
        loads: list[Path | None] = []

        def load(path: Path | None) -> float | None:
            loads.append(path)
            return float(load_head(TOY, path)["state_dict"]["w"][0, 0]) if path else None

        model = InstalledModel(TOY, load)
        assert model.get() is None and model.get() is None
        assert loads == [None]  # no file: asked once, not on every call

        _save(1)
        assert model.get() == 1.0 and model.get() == 1.0
        assert loads == [None, tmp_path / TOY.name]

        _save(2)  # same size, written within the same second: replaced all the same
        assert model.get() == 2.0 and len(loads) == 3

        model_path(TOY).unlink()
        assert model.get() is None and loads[-1] is None


def test_every_trained_model_is_read_through_the_rule() -> None:
    models = (pipeline._extractor, captioning._captioner, joint_search.projection, similarity._installed)
    assert {m.kind for m in models} == {CAM_HEAD, CAPTIONER, JOINT, SIMILARITY}
    assert all(isinstance(m, InstalledModel) for m in models)

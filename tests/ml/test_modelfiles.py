"""The model-file registry: one atomic save, one safe load with clear errors, one version rule,
and files written before heads carried a version stamp still load under their old version."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.cam import CamHead
from ml.captioner import Captioner, CaptionerConfig, train_captioner
from ml.joint import JointProjection, train_joint
from ml.modelfiles import (
    CAM_HEAD,
    CAPTIONER,
    JOINT,
    MODEL_FILES,
    ModelFile,
    ModelFileError,
    content_version,
    load_head,
    save_head,
)

TOY = ModelFile("toy.pt", "artsearch-toy/1", "toy head", "train_toy")


def _state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(3, 4, generator=g), "b": torch.randn(3, generator=g)}


def test_registry_names_each_file_once() -> None:
    assert len({k.name for k in MODEL_FILES}) == len(MODEL_FILES)
    assert len({k.format for k in MODEL_FILES}) == len(MODEL_FILES)
    assert (CAM_HEAD.name, CAPTIONER.name, JOINT.name) == ("cam_head.pt", "captioner.pt", "joint.pt")


def test_content_version_depends_on_identity_and_every_weight() -> None:
    state = _state()
    v = content_version(state, "cfg")
    assert len(v) == 12 and v == content_version(dict(reversed(list(state.items()))), "cfg")  # key order
    assert content_version(state, "other cfg") != v
    changed = {**state, "b": state["b"].clone()}
    changed["b"][0] += 1e-3
    assert content_version(changed, "cfg") != v


def test_save_head_is_atomic_and_readable_by_other_users(tmp_path: Path) -> None:
    path = tmp_path / "sub" / TOY.name
    state = _state()
    save_head(TOY, path, {"state_dict": state, "note": "x"}, version=content_version(state, "x"))
    assert [p.name for p in path.parent.iterdir()] == [TOY.name]  # no temporary file left behind
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    payload = load_head(TOY, path)
    assert payload["format"] == TOY.format and payload["note"] == "x"
    assert payload["version"] == content_version(payload["state_dict"], "x")
    assert torch.equal(payload["state_dict"]["w"], state["w"])


def test_load_head_refuses_bad_files_naming_the_file_and_the_command(tmp_path: Path) -> None:
    path = tmp_path / TOY.name
    with pytest.raises(ModelFileError, match=r"toy\.pt: no toy head file.*manage\.py train_toy"):
        load_head(TOY, path)

    state = _state()
    save_head(TOY, path, {"state_dict": state}, version=content_version(state, ""))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"not a readable toy head file \(truncated or corrupt.*train_toy"):
        load_head(TOY, path)
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelFileError, match="not a readable toy head file"):
        load_head(TOY, path)

    save_head(CAPTIONER, path, {"state_dict": state}, version="x")
    with pytest.raises(ModelFileError, match=r"not a toy head file \(artsearch-toy/1\): its format is "
                                             r"'artsearch-captioner/1'"):
        load_head(TOY, path)
    torch.save({"format": TOY.format}, path)
    with pytest.raises(ModelFileError, match="without weights"):
        load_head(TOY, path)
    torch.save([1, 2, 3], path)
    with pytest.raises(ModelFileError, match="it has no format tag"):
        load_head(TOY, path)


def _toy_cam_head() -> CamHead:
    torch.manual_seed(0)
    head = CamHead({"form": ["painting", "sculpture"], "type": ["a", "b", "c"]}, 8, metadata={"note": "t"})
    head.feat_std.copy_(torch.linspace(0.5, 2.0, 8))
    return head.eval()


def _tamper(path: Path, key: str) -> None:
    """Change one weight of a saved head and write it back with its old stamp (plain torch.save)."""
    payload = torch.load(path, weights_only=True)
    payload["state_dict"][key] = payload["state_dict"][key] + 1.0
    torch.save(payload, path)


def test_heads_load_with_their_stamp_and_refuse_a_changed_file(tmp_path: Path) -> None:
    head = _toy_cam_head()
    path = tmp_path / CAM_HEAD.name
    version = head.save(path)
    assert CamHead.load(path).version == version
    _tamper(path, "feat_mean")
    with pytest.raises(ModelFileError, match=r"does not match its version stamp.*train_cam_head"):
        CamHead.load(path)

    rng = np.random.default_rng(0)
    model, _ = train_captioner(rng.normal(size=(24, 16)).astype(np.float32), ["a red cow", "a blue sky"] * 12,
                               epochs=1, config=CaptionerConfig(input_dim=16, embed_dim=8, hidden_dim=8))
    path = tmp_path / CAPTIONER.name
    model.save(path)
    assert Captioner.load(path).version == model.version
    _tamper(path, next(iter(torch.load(path, weights_only=True)["state_dict"])))
    with pytest.raises(ModelFileError, match=r"does not match its version stamp.*train_captioner"):
        Captioner.load(path)

    joint, _ = train_joint(rng.normal(size=(30, 512)).astype(np.float32),
                           rng.normal(size=(30, 384)).astype(np.float32), epochs=1, dim=8)
    path = tmp_path / JOINT.name
    joint.save(path)
    assert JointProjection.load(path).version == joint.version
    with pytest.raises(ModelFileError, match=r"not a joint projection file.*'artsearch-captioner/1'"):
        JointProjection.load(tmp_path / CAPTIONER.name)


def test_a_cam_head_saved_without_a_stamp_keeps_its_file_hash_as_version(tmp_path: Path) -> None:
    """CAM heads written before the stamp are known by the hash of their bytes: the version the
    collection was indexed under, so loading one must not make every indexed image stale."""
    head = _toy_cam_head()
    payload = {"format": CAM_HEAD.format, "in_channels": head.in_channels, "tasks": head.tasks,
               "metadata": head.metadata, "state_dict": {k: v.detach().cpu() for k, v in head.state_dict().items()}}
    path = tmp_path / CAM_HEAD.name
    torch.save(payload, path)
    loaded = CamHead.load(path)
    assert loaded.version == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    fmap = torch.rand(2, 8, 3, 3)
    for task, logits in head(fmap).items():
        assert torch.allclose(loaded(fmap)[task], logits)

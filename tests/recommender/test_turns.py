"""The turn maps in the one decision path: a sideways copy is found by the rotation retry with
the turned vectors the maps predict (no forward pass), from the scan and from a visitor's query;
`train_turns` fits them on the collection with the real CNN."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from ml.backbone import OXFORD_WEIGHTS_FILE
from ml.images import decode_image_file
from ml.modelfiles import TURNS
from ml.turns import TurnMaps
from ml.visualize import png_bytes
from recommender import pipeline, search
from recommender.catalogue import images_import_folder
from recommender.duplicates import image_copies
from recommender.models import ArtworkImage
from tests.conftest import DEMO
from tests.recommender.test_scan import MODEL, _stored

pytestmark = pytest.mark.django_db

D = 512
# A 4-cycle of channel blocks: "turning by one quarter" moves each block to the next.
PERM = np.roll(np.arange(D).reshape(4, -1), 1, axis=0).ravel()


def _turn(v: np.ndarray, k: int) -> np.ndarray:
    for _ in range(k):
        v = v[PERM]
    return v


@pytest.fixture
def installed_maps(tmp_path: Path) -> Any:
    """Exact maps for the permutation, installed in a model folder of their own."""
    eye = np.eye(D, dtype=np.float32)
    sets = [np.stack([_turn(row, k) for row in eye]) for k in range(4)]
    maps = TurnMaps.fitted(sets, model_version=MODEL, l2=1e-6)
    maps.save(tmp_path / TURNS.name)
    with override_settings(MODEL_DIR=tmp_path):
        yield maps


def _no_forward_passes(*_: Any) -> Any:
    raise AssertionError("the rotation retry ran forward passes although turn maps fit the model version")


def test_a_sideways_copy_is_found_through_the_maps_by_the_scan_and_by_a_query(
        demo_images: list[Path], installed_maps: TurnMaps, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(5, D)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    original = _stored(demo_images[0].read_bytes(), "original.jpg", vectors[0])
    for i, path in enumerate(demo_images[1:5], start=1):
        _stored(path.read_bytes(), path.name, vectors[i])
    # The copy turned by 90 degrees: its CNN vector is the original's turned three quarters on
    # (cosine ~0 to the original's, so the first pass does not even verify it).
    sideways = png_bytes(np.ascontiguousarray(np.rot90(decode_image_file(demo_images[0]), 1)))
    copy_vector = _turn(vectors[0], 3)
    copy = _stored(sideways, "sideways.png", copy_vector)
    monkeypatch.setattr(pipeline, "rotated_vectors", _no_forward_passes)

    found, _ = image_copies(copy)
    assert [c.image.pk for c in found] == [original.pk] and str(found[0].verdict) == "duplicate"

    def embed(data: bytes, rotations: bool = False) -> dict[str, Any]:
        assert not rotations, "the web asked the worker for forward passes although it sent turned vectors"
        return {"vector": copy_vector.tolist(), "model_version": MODEL,
                "turned": installed_maps.turned(copy_vector)}

    result = search.image_query(data=sideways, embed=embed, exclude_image_id=copy.pk)
    assert result.candidates[0].image.pk == original.pk and str(result.verdict) == "duplicate"
    assert "rotations" in result.timings

    # Off, the retry runs the forward passes (as it does when no maps fit the model version).
    with override_settings(ARTSEARCH_TURN_MAPS=False), pytest.raises(AssertionError, match="forward passes"):
        image_copies(copy)


def test_train_turns_fits_installs_and_skips_when_current(tmp_path: Path) -> None:
    (tmp_path / OXFORD_WEIGHTS_FILE).symlink_to(Path(settings.MODEL_DIR).resolve() / OXFORD_WEIGHTS_FILE)
    with override_settings(MODEL_DIR=tmp_path):
        with pytest.raises(CommandError, match="at least 20"):
            call_command("train_turns", sample=20, stdout=StringIO(), stderr=StringIO())
        images_import_folder(folder=DEMO, manifest=DEMO / "manifest.csv")
        ids = list(ArtworkImage.objects.order_by("id").values_list("id", flat=True)[:20])
        ArtworkImage.objects.exclude(pk__in=ids).delete()
        pipeline.image_index_batch(ids, captions=False)
        out = StringIO()
        call_command("train_turns", sample=20, stdout=out, stderr=StringIO())
        maps = TurnMaps.load(tmp_path / TURNS.name)
        version = pipeline.get_extractor().model_version
        assert maps.model_version == version and maps.report["images"] == 20
        held = maps.report["held_out_recall_maps"]
        assert set(held) >= {"recall_at_1", "recall_at_10", "cosine"}
        # Every stored image's predicted turns are unit vectors of the stored dimension.
        image = ArtworkImage.objects.get(pk=ids[0])
        turned = pipeline.turned_vectors(image.embedding, version)
        assert turned is not None and len(turned) == 3 and len(turned[0]) == D
        assert pipeline.turned_vectors(image.embedding, "another-model") is None
        again = StringIO()
        call_command("train_turns", sample=20, stdout=again, stderr=StringIO())
        assert "already fits" in again.getvalue()

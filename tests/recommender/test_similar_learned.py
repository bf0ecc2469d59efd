"""The learned similarity on real PostgreSQL: `train_similarity` stores projected vectors in their
own HNSW-indexed column, the artwork page's similar artworks read them while a projection is
installed and the CNN vectors otherwise; `evaluate similar` scores both on held-out artists. Image
vectors are set directly (no CNN pass): a strong label-free "nuisance" direction plus a weaker
direction given by the artwork's form (the CNN lists share the form about half the time), so the
CNN cosine ranks by the nuisance and a similarity learned from the catalogue should rank by form."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from ml.backbone import OXFORD_WEIGHTS_FILE
from ml.modelfiles import SIMILARITY
from ml.similarity import SimilarityConfig, train_similarity
from recommender import selectors
from recommender.catalogue import images_import_folder
from recommender.models import SIMILAR_DIM, Artwork, ArtworkImage
from recommender.pipeline import get_extractor, image_index_batch
from recommender.similarity import similar_vectors_fill
from tests.conftest import DEMO

pytestmark = pytest.mark.django_db


@pytest.fixture
def indexed(tmp_path: Path) -> list[ArtworkImage]:
    images_import_folder(folder=DEMO, manifest=DEMO / "manifest.csv")
    rng = np.random.default_rng(0)
    forms = sorted(set(Artwork.objects.values_list("form", flat=True)))
    centres = {f: rng.normal(size=512) for f in forms}
    nuisance = rng.normal(size=(4, 512))  # a 4-d subspace that carries no label
    rows = list(ArtworkImage.objects.select_related("artwork").order_by("id"))
    for im in rows:
        v = 3 * rng.normal(size=4) @ nuisance + 1.5 * centres[im.artwork.form] + 0.5 * rng.normal(size=512)
        im.embedding, im.status, im.model_version = list(v / np.linalg.norm(v)), "indexed", "cnn-test"
    ArtworkImage.objects.bulk_update(rows, ["embedding", "status", "model_version"])
    return rows


def _ids(items: list[selectors.SimilarItem]) -> list[int]:
    return [i.artwork.pk for i in items]


def _same_form(artworks: list[Artwork]) -> float:
    shares = [np.mean([i.artwork.form == art.form for i in selectors.artwork_similar_list(artwork=art, k=10)])
              for art in artworks]
    return float(np.mean(shares))


def test_a_trained_projection_serves_similar_artworks_and_removing_it_restores_the_cnn_list(
        indexed: list[ArtworkImage], tmp_path: Path) -> None:
    sample = [im.artwork for im in indexed[::10]]
    with override_settings(MODEL_DIR=tmp_path):
        cnn_lists = {art.pk: _ids(selectors.artwork_similar_list(artwork=art, k=10)) for art in sample}
        for art in sample:  # no projection: the CNN vectors' own neighbours
            image = art.images.get()
            assert cnn_lists[art.pk] == [a for a in _ids(selectors.similar_to_vector(
                image.embedding, k=10, exclude_image_id=image.pk, model_version="cnn-test")) if a != art.pk]
        cnn_form = _same_form(sample)

        out = StringIO()
        call_command("train_similarity", "--epochs", "60", stdout=out)
        report = json.loads(out.getvalue()[: out.getvalue().rindex("}") + 1])
        assert (tmp_path / SIMILARITY.name).is_file() and report["input_version"] == "cnn-test"
        stored = ArtworkImage.objects.exclude(similar_embedding=None)
        assert stored.count() == len(indexed) == report["filled"]
        assert set(stored.values_list("similar_version", flat=True)) == {report["version"]}
        vec = np.asarray(stored.first().similar_embedding)
        assert vec.shape == (SIMILAR_DIM,) and np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-2)

        learned_lists = {art.pk: _ids(selectors.artwork_similar_list(artwork=art, k=10)) for art in sample}
        for art in sample:  # read through the new column
            image = art.images.get()
            assert learned_lists[art.pk] == [a for a in _ids(selectors.similar_to_vector(
                image.similar_embedding, k=10, exclude_image_id=image.pk, learned_version=report["version"]))
                if a != art.pk]
        assert learned_lists != cnn_lists
        assert cnn_form < 0.7 and _same_form(sample) > cnn_form + 0.15

        # An image re-indexed by another CNN version loses its learned vector (another space).
        moved = indexed[0]
        ArtworkImage.objects.filter(pk=moved.pk).update(model_version="cnn-other")
        assert similar_vectors_fill([moved.pk, indexed[1].pk]) == 1
        moved.refresh_from_db()
        assert moved.similar_embedding is None and moved.similar_version == ""
        # Served by the CNN path, among its own version's vectors: none but itself.
        assert selectors.artwork_similar_list(artwork=moved.artwork, k=5) == []

        ArtworkImage.objects.filter(pk=moved.pk).update(model_version="cnn-test")
        out = StringIO()
        call_command("train_similarity", "--fill", stdout=out)
        assert f"{len(indexed)} of {len(indexed)} images" in out.getvalue()
        call_command("train_similarity", "--remove", stdout=StringIO())
        assert not (tmp_path / SIMILARITY.name).exists()
        assert not ArtworkImage.objects.exclude(similar_version="").exists()
        assert {art.pk: _ids(selectors.artwork_similar_list(artwork=art, k=10)) for art in sample} == cnn_lists


def test_train_similarity_refuses_too_few_images(tmp_path: Path) -> None:
    with override_settings(MODEL_DIR=tmp_path), pytest.raises(CommandError, match="no indexed images"):
        call_command("train_similarity", stdout=StringIO())
    with pytest.raises(CommandError, match="--epochs"):
        call_command("train_similarity", "--epochs", "0", stdout=StringIO())


def test_evaluate_similar_scores_each_similarity_on_held_out_artists(indexed: list[ArtworkImage],
                                                                     tmp_path: Path) -> None:
    out = StringIO()
    call_command("evaluate", "similar", "--stored-vectors", "--epochs", "40", "--seed", "1", "2",
                 "--json", str(tmp_path / "sim.json"), stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "P@10" in text and "may have seen the held-out artists" in text and "mean over seeds 1, 2" in text
    summary = json.loads((tmp_path / "sim.json").read_text())
    results = summary["results"]
    assert {"chance", "CAM-VGG (stored vectors)", "learned linear 512->128"} <= set(results)
    assert set(results["chance"]) == {"form", "type", "school", "timeframe", "artist"}
    assert [s["seed"] for s in summary["splits"]] == [1, 2]
    assert all(0 < s["queries"] < len(indexed) for s in summary["splits"])
    # The stored vectors rank by the nuisance, the learned one by form: well above chance.
    assert results["learned linear 512->128"]["form"] > results["CAM-VGG (stored vectors)"]["form"] + 0.2
    assert results["learned linear 512->128"]["form"] > results["chance"]["form"] + 0.3
    for bad in (["--holdout-artists", "1.5"], ["--k", "0"], ["--epochs", "0"]):
        with pytest.raises(CommandError):
            call_command("evaluate", "similar", "--stored-vectors", *bad, stdout=StringIO())


def test_indexing_stores_the_learned_vector_of_the_installed_projection(tmp_path: Path) -> None:
    """The pipeline fills the column with the image's CNN vector projected, for the CNN version
    the projection was trained on; without a projection a re-index clears it."""
    images_import_folder(folder=DEMO, manifest=DEMO / "manifest.csv")
    ids = list(ArtworkImage.objects.order_by("id").values_list("id", flat=True)[:2])
    (tmp_path / OXFORD_WEIGHTS_FILE).symlink_to(Path(settings.MODEL_DIR).resolve() / OXFORD_WEIGHTS_FILE)
    with override_settings(MODEL_DIR=tmp_path):
        version = get_extractor().model_version
        x = np.random.default_rng(0).normal(size=(8, 512)).astype(np.float32)
        model = train_similarity(x, {"form": list("aabbaabb")}, SimilarityConfig(epochs=2), input_version=version)
        model.save(tmp_path / SIMILARITY.name)
        image_index_batch(ids, captions=False)
        for im in ArtworkImage.objects.filter(pk__in=ids):
            assert im.status == "indexed" and im.similar_version == model.version
            np.testing.assert_allclose(im.similar_embedding, model.project(im.embedding)[0], atol=2e-3)
        (tmp_path / SIMILARITY.name).unlink()
        image_index_batch(ids, force=True, captions=False)
        assert not ArtworkImage.objects.filter(pk__in=ids).exclude(similar_embedding=None).exists()

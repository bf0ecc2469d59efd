"""Schema migrations keep every artwork and image: the halfvec migration (0006) and the learned
similarity's column (0008) on real rows."""

from __future__ import annotations

import numpy as np
import pytest
from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("recommender", "0005_image_regions")]
AFTER = [("recommender", "0006_halfvec_and_scans")]


def _indexed_images(apps: Apps, n: int, *, regions: bool = False) -> np.ndarray:
    """n artworks with an indexed image each (and a region with its vector) in the `apps` state;
    returns their unit vectors in sha256 order."""
    vectors = np.random.default_rng(1).normal(size=(n, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    Artwork, Image = (apps.get_model("recommender", m) for m in ("Artwork", "ArtworkImage"))
    for i, vec in enumerate(vectors):
        art = Artwork.objects.create(title=f"work {i}", source="import")
        img = Image.objects.create(artwork=art, file=f"images/{i}.jpg", source_name=f"{i}.jpg", sha256=f"{i:064x}",
                                   width=3, height=2, status="indexed", model_version="m", embedding=vec.tolist())
        if regions:
            apps.get_model("recommender", "ImageRegion").objects.create(image=img, embedding=vec.tolist())
    return vectors


@pytest.mark.django_db(transaction=True)
def test_halfvec_migration_keeps_every_artwork_image_and_vector() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    vectors = _indexed_images(old, 5, regions=True)
    old.get_model("recommender", "Artwork").objects.create(title="no image", source="catalogue")

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    assert new.get_model("recommender", "Artwork").objects.count() == 6
    images = new.get_model("recommender", "ArtworkImage").objects.order_by("sha256")
    assert images.count() == 5
    for img, vec in zip(images, vectors, strict=True):
        # halfvec keeps ~3 significant digits: the cosine to the old vector is 1 to 1e-5.
        stored = np.asarray(img.embedding, dtype=np.float32)
        assert float(stored @ vec) / float(np.linalg.norm(stored)) == pytest.approx(1.0, abs=1e-4)
    assert new.get_model("recommender", "ImageRegion").objects.count() == 5
    with connection.cursor() as cur:
        cur.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = 'recommender_artworkimage'::regclass AND attname = 'embedding'")
        assert cur.fetchone()[0] == "halfvec(512)"
    MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_similar_embedding_migration_keeps_every_image_and_vector() -> None:
    before, after = [("recommender", "0007_text_subjects")], [("recommender", "0008_similar_embedding")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    vectors = _indexed_images(executor.loader.project_state(before).apps, 3)

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    images = executor.loader.project_state(after).apps.get_model("recommender", "ArtworkImage").objects
    assert images.count() == 3
    assert not images.exclude(similar_embedding=None).exists()
    assert set(images.values_list("similar_version", flat=True)) == {""}
    for img, vec in zip(images.order_by("sha256"), vectors, strict=True):
        assert float(np.asarray(img.embedding) @ vec) == pytest.approx(1.0, abs=1e-2)
    with connection.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'image_similar_hnsw'")
        assert "hnsw (similar_embedding halfvec_cosine_ops)" in cur.fetchone()[0]
    MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

"""Schema migrations keep every artwork and image: the halfvec migration (0006) on real rows."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("recommender", "0005_image_regions")]
AFTER = [("recommender", "0006_halfvec_and_scans")]


@pytest.mark.django_db(transaction=True)
def test_halfvec_migration_keeps_every_artwork_image_and_vector() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(5, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    Artwork, Image, Region = (old.get_model("recommender", n) for n in ("Artwork", "ArtworkImage", "ImageRegion"))
    for i, vec in enumerate(vectors):
        art = Artwork.objects.create(title=f"work {i}", source="import")
        img = Image.objects.create(artwork=art, file=f"images/{i}.jpg", source_name=f"{i}.jpg", sha256=f"{i:064x}",
                                   width=3, height=2, status="indexed", model_version="m", embedding=vec.tolist())
        Region.objects.create(image=img, embedding=vec.tolist())
    Artwork.objects.create(title="no image", source="catalogue")

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

"""End to end with the real worker: import real WGA images and an edited copy, let the
`gpu` worker index them, and ask for similar artworks in SQL (pgvector HNSW)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.test import Client
from django.utils import timezone

from recommender import jobs, selectors
from recommender.catalogue import images_import_folder
from recommender.models import Artwork, ArtworkImage
from tests.recommender.helpers import demo_subset, edited_copy, wait_indexed, wait_processed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_worker_indexes_and_the_copy_finds_its_original(worker, tmp_path: Path) -> None:
    manifest = demo_subset(tmp_path / "demo", 30)
    report = images_import_folder(folder=tmp_path / "demo", manifest=manifest)
    assert report.created == 30
    original = ArtworkImage.objects.select_related("artwork").order_by("id")[7]
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "edited-copy.jpg").write_bytes(edited_copy(Path(original.file.path)))
    images_import_folder(folder=tmp_path / "copy")
    copy = ArtworkImage.objects.get(source_name="edited-copy.jpg")

    ids = list(ArtworkImage.objects.values_list("id", flat=True))
    assert jobs.enqueue_index(ids)
    wait_indexed(ids)

    rows = ArtworkImage.objects.filter(pk__in=ids)
    for img in rows:
        vec = np.asarray(img.embedding)
        # Stored as halfvec: each component keeps ~3 significant digits, so the norm is 1 to ~1e-4.
        assert vec.shape == (512,) and abs(np.linalg.norm(vec) - 1) < 1e-3 and img.model_version
        assert img.n_keypoints > 0 and img.keypoints
    similar = selectors.artwork_similar_list(artwork=copy.artwork, k=5)
    assert similar[0].artwork == original.artwork
    assert similar[0].score > 0.8
    assert all(item.artwork != copy.artwork for item in similar)

    # The artwork page shows the grid with scores; an artwork without an image has none.
    page = Client().get(copy.artwork.get_absolute_url())
    assert page.status_code == 200 and original.artwork.title.encode() in page.content
    bare = Artwork.objects.create(title="No picture")
    page = Client().get(bare.get_absolute_url())
    assert page.status_code == 200 and b"Similar artworks" not in page.content

    # Re-indexing is idempotent: same vectors, nothing failed.
    before = {i.pk: list(i.embedding) for i in rows}
    since = timezone.now()
    jobs.enqueue_index(ids, force=True)
    wait_processed(ids, since)
    after = {i.pk: list(i.embedding) for i in ArtworkImage.objects.filter(pk__in=ids)}
    assert all(np.allclose(before[k], after[k], atol=1e-5) for k in before)

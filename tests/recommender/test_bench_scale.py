"""`manage.py bench_scale` on the real PostgreSQL+pgvector, at a small N with a few demo images:
the scratch collection it builds (inspected from inside, while it exists), its JSON rows, and
that it leaves the user's database and media as they were."""

from __future__ import annotations

import functools
import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection

from recommender.bench import run, storage
from recommender.bench.synthetic import mean_pairwise_cosine
from recommender.management.commands import bench_scale
from recommender.models import Artwork, ArtworkImage, ImageRegion
from tests.recommender.helpers import demo_subset

pytestmark = pytest.mark.django_db(transaction=True)  # the benchmark creates and drops a database


def _vectors(table: str, column: str, key: str, ids: list[int]) -> np.ndarray:
    with connection.cursor() as cur:
        cur.execute(f'SELECT "{column}"::text FROM "{table}" WHERE "{key}" = ANY(%s)', [ids])
        return np.stack([np.array(t.strip("[]").split(","), dtype=np.float32) for (t,) in cur.fetchall()])


def _inspect(state: run.State, seen: dict[str, object]) -> None:
    """Runs inside the scratch database, after the first N is loaded and indexed."""
    assert connection.settings_dict["NAME"] == storage.SCRATCH_DB
    image, region = ArtworkImage._meta.db_table, ImageRegion._meta.db_table
    synthetic, real = state.synthetic_ids, state.real_image_ids
    assert len(synthetic) + len(set(Artwork.objects.values_list("pk", flat=True)) & state.real_artwork_ids) == 300

    vectors = _vectors(image, "embedding", "id", synthetic)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=2e-3)
    real_cos = mean_pairwise_cosine(_vectors(image, "embedding", "id", real))
    assert abs(mean_pairwise_cosine(vectors) - real_cos) < 0.05

    regions = _vectors(region, "embedding", "image_id", synthetic)
    assert len(regions) >= len(synthetic)
    assert np.allclose(np.linalg.norm(regions, axis=1), 1.0, atol=2e-3)
    real_regions = mean_pairwise_cosine(_vectors(region, "embedding", "image_id", real))
    assert abs(mean_pairwise_cosine(regions) - real_regions) < 0.05

    queried = state.original_ids + state.new_ids
    with connection.cursor() as cur:
        # Keypoints come from donors only: no synthetic row is a hidden copy of a queried image.
        cur.execute(f"""SELECT count(*) FROM "{image}" s JOIN "{image}" o ON s.keypoints = o.keypoints
                        WHERE s.id = ANY(%s) AND o.id = ANY(%s)""", [synthetic, queried])
        assert cur.fetchone()[0] == 0
        cur.execute(f"""SELECT count(DISTINCT s.id) FROM "{image}" s JOIN "{image}" d ON s.keypoints = d.keypoints
                        WHERE s.id = ANY(%s) AND d.id = ANY(%s)""", [synthetic, state.donor_ids])
        assert cur.fetchone()[0] == len(synthetic)
    assert not set(state.donor_ids) & set(queried)
    assert storage.vector_indexes([image, region]), "the HNSW indexes are built again"
    seen["inspected"] = True


def test_it_measures_a_scratch_collection_and_leaves_the_users_database_alone(
        tmp_path: Path, media_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = demo_subset(tmp_path, 6)
    mine = Artwork.objects.create(title="The user's own artwork")
    counts = [m.objects.count() for m in (Artwork, ArtworkImage, ImageRegion)]
    media_before = sorted(media_root.rglob("*"))
    user_db = connection.settings_dict["NAME"]
    seen: dict[str, object] = {}
    monkeypatch.setattr(bench_scale, "run_scale_bench",
                        functools.partial(run.run_scale_bench, on_loaded=lambda s: _inspect(s, seen)))

    out = StringIO()
    call_command("bench_scale", "--artworks", "300", "--images", str(tmp_path / "images"), "--manifest",
                 str(manifest), "--queries", "1", "--new-images", "1", "--gates", "0.99", "--json", "--no-progress",
                 stdout=out)

    assert seen == {"inspected": True}
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == 1
    assert list(rows[0])[: len(run.KEYS)] == list(run.KEYS)
    assert all(rows[0][k] is not None for k in run.KEYS), rows[0]
    assert rows[0]["artworks"] == 300 and rows[0]["copy_queries"] == 1 and rows[0]["scan_images"] == 1
    assert 0 <= rows[0]["shortlist_recall_at_100"] <= 1 and rows[0]["db_bytes"] > 0
    gated = rows[0]["by_gate"]["0.99"]  # the queries and the scan again, with the fallback passes gated
    assert gated["copy_queries"] == 1 and gated["scan_images"] == 1 and gated["query_notfound_p50_ms"] is not None

    assert connection.settings_dict["NAME"] == user_db
    assert not storage.database_exists(storage.SCRATCH_DB)
    assert [m.objects.count() for m in (Artwork, ArtworkImage, ImageRegion)] == counts
    assert Artwork.objects.filter(pk=mine.pk, title=mine.title).exists()
    assert sorted(media_root.rglob("*")) == media_before

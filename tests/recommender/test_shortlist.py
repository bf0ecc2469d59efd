"""The image query's SQL and verification bounds on the real PostgreSQL + pgvector (no worker:
rows are written directly with vectors and stored ORB keypoints)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.db import connection
from django.test import override_settings

from ml.images import decode_image_file
from ml.keypoints import QueryMatcher, orb_keypoints
from ml.perturb import detail
from ml.visualize import png_bytes
from recommender import search
from recommender.models import Artwork, ArtworkImage

pytestmark = pytest.mark.django_db

MODEL = "test-model"


def _image(i: int, vector: np.ndarray, keypoints: bytes | None = None, n_keypoints: int = 0) -> ArtworkImage:
    art = Artwork.objects.create(title=f"work {i}", source=Artwork.Source.IMPORT)
    return ArtworkImage.objects.create(
        artwork=art, file=f"images/{i}.jpg", source_name=f"{i}.jpg", sha256=f"{i:064x}", width=300, height=200,
        status=ArtworkImage.Status.INDEXED, model_version=MODEL, embedding=vector.tolist(),
        keypoints=keypoints, n_keypoints=n_keypoints)


def _settings() -> tuple[str, str]:
    with connection.cursor() as cur:
        cur.execute("SELECT current_setting('enable_seqscan'), current_setting('hnsw.ef_search', true)")
        return cur.fetchone()


def test_shortlist_statements_put_the_session_settings_back() -> None:
    """The shortlist forces the HNSW indexes (enable_seqscan off) and sets hnsw.ef_search for its
    own statements; the connection serves the rest of the request, so both come back."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(60, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [_image(i, v).pk for i, v in enumerate(vectors)]
    with connection.cursor() as cur:
        cur.execute("SET hnsw.ef_search = 40")
    before = _settings()
    items = search.shortlist(vectors[0], model_version=MODEL, k=50, regions=[vectors[1]])
    assert len(items) == 50
    assert items[0][0].pk == ids[0] and items[0][1] == pytest.approx(1.0, abs=1e-4)
    assert _settings() == before == ("on", "40")


def test_verification_stops_at_the_certain_top_once_a_copy_is_certain(demo_images: list[Path]) -> None:
    """Once one candidate is a certain copy, candidates below ARTSEARCH_VERIFY_TOP_CERTAIN (and under
    T) are not matched; until then every one of the verified top is."""
    same, other = decode_image_file(demo_images[3]), decode_image_file(demo_images[120])
    kps = {name: orb_keypoints(rgb, n_features=2000) for name, rgb in (("same", same), ("other", other))}
    unit = np.zeros(512, np.float32)
    unit[0] = 1.0
    # Ranks 0-5 another picture, then twelve identical copies of the query's; all under T.
    rows = [_image(i, unit, kps[name].to_bytes(), len(kps[name]))
            for i, name in enumerate(["other"] * 6 + ["same"] * 12)]
    items = [(img, 0.8) for img in rows]
    matcher = QueryMatcher.from_image(same, conclusive_inliers=20)
    with override_settings(ARTSEARCH_VERIFY_TOP=30, ARTSEARCH_VERIFY_TOP_CERTAIN=5):
        out = search.verify(matcher, items, search.thresholds())
    matched = {c.image.pk: c.match is not None for c in out}
    # Not certain before rank 6, so ranks 0-6 are matched (6 is the first copy); none after.
    assert [matched[img.pk] for img in rows] == [True] * 7 + [False] * 11
    assert next(c for c in out if c.image.pk == rows[6].pk).verdict == "duplicate"


def test_a_detail_whose_original_ranks_below_the_verified_top_is_found_by_the_deep_shortlist(
        demo_images: list[Path]) -> None:
    """The first pass matches only the best ARTSEARCH_VERIFY_TOP; when it finds nothing, the rest of
    a deeper shortlist is matched before the rotation retry. A 25 % detail whose original ranks
    40th by CNN similarity (as 15 % details did at 78th and 143rd on the WGA evaluation)."""
    original, other = decode_image_file(demo_images[3]), decode_image_file(demo_images[120])
    kps = {name: orb_keypoints(rgb, n_features=2000) for name, rgb in (("original", original), ("other", other))}
    basis = np.eye(512, dtype=np.float32)
    near = 0.8 * basis[0] + 0.6 * basis[1]  # cosine 0.8 to the query: under T, ranked first
    far = 0.5 * basis[0] + np.sqrt(0.75) * basis[2]  # cosine 0.5: ranked 40th
    rows = [_image(i, near, kps["other"].to_bytes(), len(kps["other"])) for i in range(40)]
    target = _image(40, far, kps["original"].to_bytes(), len(kps["original"]))
    query = png_bytes(detail(0.25)(original, np.random.default_rng(1), other))

    def embed(data: bytes, rotations: bool = False) -> dict[str, object]:
        # The CNN's part is fixed here, so that the ranking is the one described above.
        return {"vector": basis[0].tolist(), "model_version": MODEL}

    with override_settings(ARTSEARCH_SHORTLIST=35, ARTSEARCH_VERIFY_TOP=30, ARTSEARCH_ROTATION_FALLBACK=False,
                           ARTSEARCH_DENSE_ORB_FEATURES=0):
        with override_settings(ARTSEARCH_DEEP_SHORTLIST=0):
            res = search.image_query(data=query, embed=embed)
        assert res.verdict == "similar" and "deep" not in res.timings  # the original was never matched
        res = search.image_query(data=query, embed=embed)
    assert res.verdict == "detail" and "deep" in res.timings
    assert res.candidates[0].image.pk == target.pk and len(rows) == 40


def test_the_caption_search_puts_hnsw_ef_search_back() -> None:
    """text_search.dense_ranks raises hnsw.ef_search for its statement only: the setting is not left
    on the connection that the rest of the request shares."""
    from recommender import text_search

    with connection.cursor() as cur:
        cur.execute("SET hnsw.ef_search = 40")
    assert text_search.dense_ranks([1.0] + [0.0] * 383, {"form": "painting"}, depth=50) == []
    assert _settings() == ("on", "40")


@pytest.mark.parametrize("region_to_region", [True, False])
def test_regional_statement_finds_details_and_pastes_with_or_without_region_to_region(region_to_region: bool) -> None:
    """A detail's whole matches a stored region (whole-to-region) and a pasted copy's region matches
    a stored whole (region-to-whole) either way; only a region-to-region match needs the setting."""
    from django.test import override_settings

    from recommender.models import ImageRegion

    rng = np.random.default_rng(5)
    vecs = rng.normal(size=(40, 512)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    images = [_image(i, vecs[i]) for i in range(30)]
    for i, img in enumerate(images):  # each image's one region is a vector of its own
        ImageRegion.objects.create(image=img, embedding=vecs[30 + i % 10].tolist() if i < 3 else
                                   rng.normal(size=512).tolist())
    with override_settings(ARTSEARCH_REGION_TO_REGION=region_to_region):
        detail = search._regional_best([vecs[30]])  # the query's whole is image 0's region
        paste = search._regional_best([rng.normal(size=512)], [vecs[5]])  # a query region is image 5's whole
        both = search._regional_best([rng.normal(size=512)], [vecs[31]])  # a query region is image 1's region
    assert detail[images[0].pk] == pytest.approx(1.0, abs=1e-3)
    assert paste[images[5].pk] == pytest.approx(1.0, abs=1e-3)
    assert (both.get(images[1].pk, 0.0) > 0.99) is region_to_region

"""Staff review: confirm / detail / reject / undo, the audit log, and what visitors then see.
Vectors are set directly (unit vectors) so the SQL similarity path runs without the CNN."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from recommender import review, selectors
from recommender.models import Artwork, ArtworkImage, AuditLog, DuplicatePair
from tests.recommender.base import users  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def _vec(seed: int, base: np.ndarray | None = None, noise: float = 0.0) -> list[float]:
    rng = np.random.default_rng(seed)
    v = rng.random(512) if base is None else base + noise * rng.random(512)
    return list(v / np.linalg.norm(v))


@pytest.fixture
def collection() -> dict[str, ArtworkImage]:
    base = np.random.default_rng(0).random(512)
    out = {}
    specs = {"original": (1, base, 0.0), "copy": (2, base, 0.05), "cousin": (3, base, 0.6), "other": (4, None, 0.0)}
    for name, (seed, b, noise) in specs.items():
        art = Artwork.objects.create(title=name)
        out[name] = ArtworkImage.objects.create(
            artwork=art, source_name=f"{name}.jpg", file=f"images/{name}.jpg", sha256=str(seed) * 64, width=10,
            height=10, status=ArtworkImage.Status.INDEXED, embedding=_vec(seed, b, noise), model_version="test")
    return out


def titles(items: list[selectors.SimilarItem]) -> list[str]:
    return [i.artwork.title for i in items]


def test_confirmed_duplicates_leave_recommendations_and_undo_brings_them_back(
    collection: dict[str, ArtworkImage], users: dict[str, User]  # noqa: F811
) -> None:
    original, copy = collection["original"], collection["copy"]
    cousin = collection["cousin"].artwork
    assert set(titles(selectors.artwork_similar_list(artwork=cousin))[:2]) == {"original", "copy"}

    pair = review.duplicate_pair_record(first=copy, second=original, verdict="duplicate", cosine=0.99,
                                          inliers=80, evidence={})
    # A detected pair already collapses the group: one entry, the other "also appears as".
    items = selectors.artwork_similar_list(artwork=cousin)
    first = titles(items)[0]
    assert first in {"original", "copy"} and not {"original", "copy"} <= set(titles(items))
    assert [a.title for a in items[0].also] == list({"original", "copy"} - {first})

    review.pair_confirm_duplicate(pair=pair, user=users["staff"], canonical=original.artwork)
    copy.artwork.refresh_from_db()
    assert copy.artwork.duplicate_of == original.artwork
    assert "copy" not in titles(selectors.artwork_similar_list(artwork=cousin))
    page = Client().get(reverse("artwork_detail", args=[copy.artwork.pk]))
    assert b"This is a copy of" in page.content

    review.pair_undo(pair=pair, user=users["staff"])
    copy.artwork.refresh_from_db()
    pair.refresh_from_db()
    assert copy.artwork.duplicate_of is None and pair.status == DuplicatePair.Status.CANDIDATE
    actions = list(AuditLog.objects.order_by("created_at").values_list("action", "actor__username"))
    assert actions == [("confirm_duplicate", "sara"), ("undo", "sara")]


def test_a_rejected_pair_is_never_proposed_again(collection: dict[str, ArtworkImage], users: dict[str, User]  # noqa: F811
                                                ) -> None:
    a, b = collection["original"], collection["cousin"]
    pair = review.duplicate_pair_record(first=a, second=b, verdict="duplicate", cosine=0.8, inliers=25,
                                          evidence={})
    review.pair_reject(pair=pair, user=users["staff"])
    again = review.duplicate_pair_record(first=b, second=a, verdict="duplicate", cosine=0.8, inliers=30,
                                           evidence={})
    assert again.pk == pair.pk and again.status == DuplicatePair.Status.REJECTED
    assert DuplicatePair.objects.count() == 1
    assert not selectors.review_queue().exists()
    # Rejected pairs do not group artworks either.
    assert "cousin" in titles(selectors.artwork_similar_list(artwork=collection["other"].artwork, k=5))


def test_the_review_page_confirms_with_a_chosen_canonical(collection: dict[str, ArtworkImage],
                                                          users: dict[str, User]) -> None:  # noqa: F811
    pair = review.duplicate_pair_record(first=collection["original"], second=collection["copy"],
                                          verdict="duplicate", cosine=0.99, inliers=80, evidence={})
    c = Client()
    c.force_login(users["staff"])
    queue = c.get(reverse("review_queue"))
    assert queue.status_code == 200 and f"#{pair.pk}".encode() in queue.content
    r = c.post(reverse("review_pair", args=[pair.pk]),
               {"action": "confirm", "canonical": collection["copy"].artwork.pk})
    assert r.status_code == 302
    collection["original"].artwork.refresh_from_db()
    assert collection["original"].artwork.duplicate_of == collection["copy"].artwork
    log = c.get(reverse("audit_log"))
    assert b"confirm_duplicate" in log.content and b"sara" in log.content


def test_mark_as_detail_and_visitor_reports(collection: dict[str, ArtworkImage], users: dict[str, User]  # noqa: F811
                                           ) -> None:
    c = Client()
    r = c.post(reverse("report_duplicate", args=[collection["original"].artwork.pk]),
               {"other": f"/artworks/{collection['other'].artwork.pk}/", "note": "same picture"})
    assert r.status_code == 302
    pair = DuplicatePair.objects.get()
    assert pair.source == DuplicatePair.Source.REPORT and pair.evidence["note"] == "same picture"
    review.pair_mark_detail(pair=pair, user=users["staff"])
    pair.refresh_from_db()
    assert (pair.status, pair.verdict) == ("confirmed", "detail")
    r = c.post(reverse("report_duplicate", args=[collection["original"].artwork.pk]), {"other": "not a number"})
    assert r.status_code == 302 and DuplicatePair.objects.count() == 1

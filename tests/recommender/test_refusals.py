"""Domain refusals (ApplicationError) reach the user as a message; any other exception a service
raises is a bug and stays a 500, never a flash message."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from recommender import review
from recommender.exceptions import ApplicationError
from recommender.models import ArtworkImage, DuplicatePair
from tests.recommender.base import users  # noqa: F401 - fixture
from tests.recommender.test_review import collection  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def _pair(collection: dict[str, ArtworkImage]) -> DuplicatePair:  # noqa: F811
    return review.duplicate_pair_record(first=collection["original"], second=collection["copy"],
                                          verdict="duplicate", cosine=0.99, inliers=80, evidence={})


def test_it_refuses_with_an_application_error(collection: dict[str, ArtworkImage],  # noqa: F811
                                              users: dict[str, User]) -> None:  # noqa: F811
    pair = _pair(collection)
    with pytest.raises(ApplicationError, match="canonical artwork must be one of the pair"):
        review.pair_confirm_duplicate(pair=pair, user=users["staff"], canonical=collection["other"].artwork)
    with pytest.raises(ApplicationError, match="cannot duplicate itself"):
        review.duplicate_report(artwork=collection["other"].artwork, other=collection["other"].artwork,
                                  user=users["visitor"])


def test_a_refusal_is_a_message_on_the_page(collection: dict[str, ArtworkImage],  # noqa: F811
                                            users: dict[str, User]) -> None:  # noqa: F811
    pair = _pair(collection)
    c = Client()
    c.force_login(users["staff"])
    r = c.post(reverse("review_pair", args=[pair.pk]),
               {"action": "confirm", "canonical": collection["other"].artwork.pk}, follow=True)
    assert r.status_code == 200
    assert "the canonical artwork must be one of the pair" in r.content.decode()
    pair.refresh_from_db()
    assert pair.status == DuplicatePair.Status.CANDIDATE
    r = c.post(reverse("review_pair", args=[pair.pk]), {"action": "shred"}, follow=True)
    assert "unknown action" in r.content.decode()


def test_a_bug_in_a_service_is_a_500_not_a_message(collection: dict[str, ArtworkImage],  # noqa: F811
                                                   users: dict[str, User],  # noqa: F811
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    pair = _pair(collection)

    def broken(**kwargs: object) -> None:
        raise ValueError("a bug, not a refusal")

    monkeypatch.setattr(review, "pair_reject", broken)
    c = Client(raise_request_exception=False)
    c.force_login(users["staff"])
    r = c.post(reverse("review_pair", args=[pair.pk]), {"action": "reject"})
    assert r.status_code == 500

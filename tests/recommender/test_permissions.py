"""Every view and API endpoint, for anonymous visitors, a logged-in visitor, a curator and staff."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from recommender.models import Artist, Artwork, ArtworkImage, DuplicatePair, Upload
from tests.recommender.base import users  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

PUBLIC = ["catalogue", "search_image", "indexing_status"]
CURATOR = ["upload_new"]
STAFF = ["review_queue", "audit_log"]


@pytest.fixture
def objects() -> dict[str, object]:
    artist = Artist.objects.create(name="ANGELICO, Fra")
    art = Artwork.objects.create(title="Annunciation", artist=artist)
    img_a = ArtworkImage.objects.create(artwork=art, source_name="a.jpg", file="images/a.jpg", sha256="a" * 64,
                                        width=3, height=3)
    art2 = Artwork.objects.create(title="Copy")
    img_b = ArtworkImage.objects.create(artwork=art2, source_name="b.jpg", file="images/b.jpg", sha256="b" * 64,
                                        width=3, height=3)
    pair = DuplicatePair.objects.create(image_a=img_a, image_b=img_b, verdict="duplicate", cosine=0.95, inliers=40)
    upload = Upload.objects.create(artwork=art2, image=img_b)
    return {"artist": artist, "artwork": art, "pair": pair, "upload": upload}


def client_for(user: User | None) -> Client:
    c = Client()
    if user is not None:
        c.force_login(user)
    return c


def urls(objects: dict[str, object]) -> dict[str, list[str]]:
    return {
        "public": [reverse(n) for n in PUBLIC] + [
            reverse("artwork_detail", args=[objects["artwork"].pk]),
            reverse("artist_detail", args=[objects["artist"].pk]),
        ],
        "curator": [reverse(n) for n in CURATOR] + [reverse("upload_status", args=[objects["upload"].pk]),
                                                    reverse("artwork_edit", args=[objects["artwork"].pk])],
        "staff": [reverse(n) for n in STAFF] + [reverse("review_pair", args=[objects["pair"].pk])],
    }


def test_anonymous_visitors_browse_but_are_sent_to_log_in_elsewhere(objects: dict[str, object]) -> None:
    c = client_for(None)
    table = urls(objects)
    for url in table["public"]:
        assert c.get(url).status_code == 200, url
    for url in table["curator"] + table["staff"]:
        r = c.get(url)
        assert r.status_code == 302 and "/accounts/login/" in r["Location"], url


def test_each_role_sees_its_own_pages_only(objects: dict[str, object], users: dict[str, User]) -> None:  # noqa: F811
    table = urls(objects)
    expect = {
        "visitor": {"public": 200, "curator": 403, "staff": 403},
        "curator": {"public": 200, "curator": 200, "staff": 403},
        "staff": {"public": 200, "curator": 200, "staff": 200},
    }
    for role, by_area in expect.items():
        c = client_for(users[role])
        for area, status in by_area.items():
            for url in table[area]:
                assert c.get(url).status_code == status, (role, url)


def test_writes_check_roles_too(objects: dict[str, object], users: dict[str, User]) -> None:  # noqa: F811
    pair, upload = objects["pair"], objects["upload"]
    for role in ("visitor", "curator"):
        r = client_for(users[role]).post(reverse("review_pair", args=[pair.pk]), {"action": "reject"})
        assert r.status_code == 403
    r = client_for(users["visitor"]).post(reverse("upload_decide", args=[upload.pk]), {"decision": "kept"})
    assert r.status_code == 403
    r = client_for(None).post(reverse("upload_retry", args=[upload.pk]))
    assert r.status_code == 302
    pair.refresh_from_db()
    assert pair.status == DuplicatePair.Status.CANDIDATE


def test_forms_need_a_csrf_token(objects: dict[str, object], users: dict[str, User]) -> None:  # noqa: F811
    c = Client(enforce_csrf_checks=True)
    c.force_login(users["staff"])
    r = c.post(reverse("review_pair", args=[objects["pair"].pk]), {"action": "reject"})
    assert r.status_code == 403
    r = Client(enforce_csrf_checks=True).post(reverse("search_image"), {})
    assert r.status_code == 403


def test_the_query_endpoints_are_rate_limited(objects: dict[str, object]) -> None:
    cache.clear()
    c = client_for(None)
    codes = [c.post(reverse("api_search_image"), {}).status_code for _ in range(31)]
    assert codes[0] == 400 and codes[-1] == 429
    cache.clear()

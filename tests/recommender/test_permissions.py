"""Every view and API endpoint, for anonymous visitors, a logged-in visitor, a curator and staff."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace

import django_ratelimit.core
import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from recommender.models import Artist, Artwork, ArtworkImage, AuditLog, DuplicatePair, Upload
from tests.recommender.base import users  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

PUBLIC = ["catalogue", "search_image", "indexing_status"]
CURATOR = ["upload_new"]
STAFF = ["review_queue", "audit_log"]


@pytest.fixture
def objects(users: dict[str, User]) -> dict[str, object]:  # noqa: F811
    artist = Artist.objects.create(name="ANGELICO, Fra")
    art = Artwork.objects.create(title="Annunciation", artist=artist)
    img_a = ArtworkImage.objects.create(artwork=art, source_name="a.jpg", file="images/a.jpg", sha256="a" * 64,
                                        width=3, height=3)
    art2 = Artwork.objects.create(title="Copy")
    img_b = ArtworkImage.objects.create(artwork=art2, source_name="b.jpg", file="images/b.jpg", sha256="b" * 64,
                                        width=3, height=3)
    pair = DuplicatePair.objects.create(image_a=img_a, image_b=img_b, verdict="duplicate", cosine=0.95, inliers=40)
    upload = Upload.objects.create(artwork=art2, image=img_b, uploaded_by=users["curator"])
    return {"artist": artist, "artwork": art, "pair": pair, "upload": upload}


@pytest.fixture
def one_rate_window(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """django-ratelimit counts in fixed windows (a minute, an hour) that end at a per-key offset, so
    a burst that straddled a window's end would start counting again and never reach the limit.
    The limiter's clock is held still for the test: the whole burst falls in one window."""
    now = time.time()
    monkeypatch.setattr(django_ratelimit.core, "time", SimpleNamespace(time=lambda: now))
    cache.clear()
    yield
    cache.clear()


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


def test_the_query_endpoints_are_rate_limited(objects: dict[str, object], one_rate_window: None) -> None:
    cache.clear()
    c = client_for(None)
    codes = [c.post(reverse("api_search_image"), {}).status_code for _ in range(31)]
    assert codes[0] == 400 and codes[-1] == 429
    cache.clear()


@pytest.fixture
def other_curator(db: None) -> User:
    cora = User.objects.create_user("cora", password="pw-cora")
    cora.groups.add(Group.objects.get_or_create(name="curators")[0])
    return cora


def test_curators_act_only_on_their_own_uploads_and_staff_on_all(
    objects: dict[str, object], users: dict[str, User], other_curator: User  # noqa: F811
) -> None:
    upload = objects["upload"]
    Upload.objects.filter(pk=upload.pk).update(decision=Upload.Decision.PENDING, batch="b1",
                                               stage=Upload.Stage.FAILED)
    art = upload.artwork
    cora = client_for(other_curator)
    for url in (reverse("upload_status", args=[upload.pk]), reverse("upload_status", args=[upload.pk]) + "?format=json",
                reverse("upload_batch", args=["b1"])):
        assert cora.get(url).status_code == 404, url
    assert cora.post(reverse("upload_retry", args=[upload.pk])).status_code == 404
    r = cora.post(reverse("upload_decide", args=[upload.pk]),
                  {"decision": "duplicate", "duplicate_of": objects["artwork"].pk})
    assert r.status_code == 404
    assert cora.post(reverse("upload_decide", args=[upload.pk]), {"decision": "withdrawn"}).status_code == 404
    art.refresh_from_db()  # still there, not hidden as a duplicate
    assert art.duplicate_of_id is None
    upload.refresh_from_db()
    assert upload.decision == Upload.Decision.PENDING and upload.stage == Upload.Stage.FAILED

    owner, staff = client_for(users["curator"]), client_for(users["staff"])
    assert owner.get(reverse("upload_batch", args=["b1"])).status_code == 200
    assert staff.get(reverse("upload_status", args=[upload.pk])).status_code == 200
    assert staff.get(reverse("upload_batch", args=["b1"])).status_code == 200
    r = owner.post(reverse("upload_decide", args=[upload.pk]), {"decision": "kept"})
    assert r.status_code == 302
    upload.refresh_from_db()
    assert upload.decision == Upload.Decision.KEPT


def test_a_curator_may_not_edit_another_curators_upload_but_may_correct_the_catalogue(
    objects: dict[str, object], users: dict[str, User], other_curator: User  # noqa: F811
) -> None:
    uploaded, catalogue = objects["upload"].artwork, objects["artwork"]
    cora = client_for(other_curator)
    assert cora.get(reverse("artwork_edit", args=[uploaded.pk])).status_code == 403
    r = cora.post(reverse("artwork_edit", args=[uploaded.pk]), {"title": "Renamed by cora"})
    assert r.status_code == 403
    uploaded.refresh_from_db()
    assert uploaded.title == "Copy"
    for client, title in ((client_for(users["curator"]), "Copy, by its uploader"),
                          (client_for(users["staff"]), "Copy, by staff")):
        assert client.post(reverse("artwork_edit", args=[uploaded.pk]), {"title": title}).status_code == 302
        uploaded.refresh_from_db()
        assert uploaded.title == title
    r = cora.post(reverse("artwork_edit", args=[catalogue.pk]), {"title": "Annunciation (corrected)"})
    assert r.status_code == 302
    entry = AuditLog.objects.filter(action="edit", target=f"artwork:{catalogue.pk}").get()
    assert entry.actor == other_curator and entry.details["changed"] == ["title"]


def test_the_web_form_and_the_api_share_one_image_query_budget(objects: dict[str, object],
                                                              one_rate_window: None) -> None:
    cache.clear()
    c = client_for(None)
    codes = [c.post(reverse("search_image"), {}).status_code for _ in range(30)]
    assert set(codes) == {400}
    r = c.post(reverse("api_search_image"), {})
    assert r.status_code == 429 and "too many" in r.json()["error"]
    cache.clear()


def test_anonymous_duplicate_reports_are_rate_limited(objects: dict[str, object], one_rate_window: None) -> None:
    cache.clear()
    c = client_for(None)
    url = reverse("report_duplicate", args=[objects["artwork"].pk])
    codes = [c.post(url, {"other": str(objects["upload"].artwork_id)}).status_code for _ in range(11)]
    assert codes[:10] == [302] * 10 and codes[10] == 429
    assert b"Too many duplicate reports" in c.post(url, {"other": "1"}).content
    cache.clear()

"""Curator uploads without a worker: validation of every bad file, nothing stored for them;
bulk upload of a zip with a manifest; edits with the curator caption and an audit entry."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from recommender.models import Artwork, ArtworkImage, AuditLog, Caption, Upload
from tests.recommender.bad_images import awkward_but_valid, invalid_inputs
from tests.recommender.base import users  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator(users: dict[str, User]) -> Client:  # noqa: F811
    c = Client()
    c.force_login(users["curator"])
    return c


def test_bad_files_get_a_clear_error_and_store_nothing(curator: Client, demo_images: list[Path]) -> None:
    for name, data in invalid_inputs(demo_images[0]).items():
        f = io.BytesIO(data)
        f.name = "upload.jpg"
        r = curator.post(reverse("upload_new"), {"image": f, "title": name})
        assert r.status_code == 400, name
        assert b"errorlist" in r.content, name
    f = io.BytesIO(b"GIF89a")
    f.name = "notes.txt"
    r = curator.post(reverse("upload_new"), {"image": f, "title": "wrong suffix"})
    assert r.status_code == 400 and b"allowed formats" in r.content
    assert Artwork.objects.count() == 0 and ArtworkImage.objects.count() == 0 and Upload.objects.count() == 0


def test_valid_uploads_are_queued_with_exif_applied(curator: Client, demo_images: list[Path]) -> None:
    data = awkward_but_valid(demo_images[0])["EXIF-rotated JPEG"]
    f = io.BytesIO(data)
    f.name = "sideways.jpg"
    r = curator.post(reverse("upload_new"), {"image": f, "title": "Sideways", "artist": "ANGELICO, Fra",
                                             "caption": "A small panel of the Annunciation"})
    upload = Upload.objects.get()
    assert r.status_code == 302 and r["Location"] == upload.get_absolute_url()
    from PIL import Image

    original = Image.open(demo_images[0])
    assert (upload.image.width, upload.image.height) == original.size  # EXIF orientation applied
    assert upload.stage == Upload.Stage.QUEUED and upload.image.source_name == "sideways.jpg"
    assert Caption.objects.get(source="curator").text == "A small panel of the Annunciation"
    page = curator.get(upload.get_absolute_url())
    assert page.status_code == 200 and b'data-stage="queued"' in page.content
    assert curator.get(upload.get_absolute_url() + "?format=json").json()["stage"] == "queued"
    # The very same file again: an immediate duplicate warning, no second copy of the bytes.
    f = io.BytesIO(data)
    f.name = "again.jpg"
    curator.post(reverse("upload_new"), {"image": f, "title": "Again"})
    again = Upload.objects.order_by("-id").first()
    assert again.decision == Upload.Decision.PENDING and again.matches[0]["artwork_id"] == upload.artwork_id
    assert ArtworkImage.objects.count() == 1
    r = curator.post(reverse("upload_decide", args=[again.pk]), {"decision": "withdrawn"}, follow=True)
    assert r.status_code == 200 and not Artwork.objects.filter(title="Again").exists()


def test_bulk_upload_of_a_zip_with_a_manifest(curator: Client, demo_images: list[Path]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.csv", "file,title,artist,form\none.jpg,First piece,\"ACHEN, Hans von\",painting\n")
        zf.writestr("one.jpg", demo_images[3].read_bytes())
        zf.writestr("two.jpg", demo_images[4].read_bytes())
        zf.writestr("broken.jpg", b"not really")
        zf.writestr("readme.txt", "ignored")
    buf.seek(0)
    buf.name = "batch.zip"
    loose = io.BytesIO(demo_images[5].read_bytes())
    loose.name = "three.png.jpg"
    r = curator.post(reverse("upload_bulk"), {"files": [buf, loose]}, follow=True)
    assert r.status_code == 200
    assert Upload.objects.count() == 3
    first = Artwork.objects.get(title="First piece")
    assert first.form == "painting" and first.artist.name == "ACHEN, Hans von"
    assert b"broken.jpg" in r.content  # reported, not stored
    batch = Upload.objects.first().batch
    progress = curator.get(reverse("upload_batch", args=[batch]) + "?format=json").json()
    assert progress["total"] == 3 and progress["finished"] == 0


def test_curators_edit_artworks_and_the_edit_is_audited(curator: Client, users: dict[str, User]) -> None:  # noqa: F811
    art = Artwork.objects.create(title="Untitled", source=Artwork.Source.UPLOAD)
    r = curator.post(reverse("artwork_edit", args=[art.pk]),
                     {"title": "The Annunciation", "form": "painting", "caption": "Gabriel greets Mary"})
    assert r.status_code == 302
    art.refresh_from_db()
    assert art.title == "The Annunciation" and art.form == "painting"
    assert Caption.objects.get(artwork=art, source="curator").text == "Gabriel greets Mary"
    entry = AuditLog.objects.get(action="edit")
    assert entry.actor == users["curator"] and "title" in entry.details["changed"]

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
    # The very same file again: answered with the artwork that has it; nothing new is stored
    # (no second, public artwork without an image).
    f = io.BytesIO(data)
    f.name = "again.jpg"
    r = curator.post(reverse("upload_new"), {"image": f, "title": "Again"})
    assert r.status_code == 302 and r["Location"] == upload.artwork.get_absolute_url()
    assert curator.get(r["Location"]).status_code == 200
    assert (Artwork.objects.count(), ArtworkImage.objects.count(), Upload.objects.count()) == (1, 1, 1)


def _zip(name: str, entries: dict[str, bytes | str]) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in entries.items():
            zf.writestr(member, data)
    buf.seek(0)
    buf.name = name
    return buf


def test_bulk_upload_of_a_zip_with_a_manifest(curator: Client, demo_images: list[Path]) -> None:
    manifest = "file,title,artist,form\none.jpg,First piece,\"ACHEN, Hans von\",painting\n"
    buf = _zip("batch.zip", {"manifest.csv": manifest, "one.jpg": demo_images[3].read_bytes(),
                             "two.jpg": demo_images[4].read_bytes(), "readme.txt": "ignored"})
    loose = io.BytesIO(demo_images[5].read_bytes())
    loose.name = "three.png.jpg"
    r = curator.post(reverse("upload_bulk"), {"files": [buf, loose]}, follow=True)
    assert r.status_code == 200
    assert Upload.objects.count() == 3
    first = Artwork.objects.get(title="First piece")
    assert first.form == "painting" and first.artist.name == "ACHEN, Hans von"
    batch = Upload.objects.first().batch
    progress = curator.get(reverse("upload_batch", args=[batch]) + "?format=json").json()
    assert progress["total"] == 3 and progress["finished"] == 0
    # The same zip again, with one new file: the known ones are named with their artwork, the
    # new one is uploaded.
    again = _zip("again.zip", {"one.jpg": demo_images[3].read_bytes(), "four.jpg": demo_images[6].read_bytes()})
    r = curator.post(reverse("upload_bulk"), {"files": [again]}, follow=True)
    assert r.status_code == 200 and Upload.objects.count() == 4
    assert f"already in the collection as artwork {first.pk}".encode() in r.content


def test_one_bad_file_or_row_refuses_the_whole_batch_with_every_problem_listed(
    curator: Client, demo_images: list[Path]
) -> None:
    manifest = ("file,title,artist\n"
                "one.jpg,Fine,\n"
                f"two.jpg,{'T' * 600},\n"
                "three.jpg,Nul\x00byte,\n"
                "missing.jpg,Nowhere,\n")
    buf = _zip("batch.zip", {"manifest.csv": manifest, "one.jpg": demo_images[3].read_bytes(),
                             "two.jpg": demo_images[4].read_bytes(), "three.jpg": demo_images[5].read_bytes(),
                             "broken.jpg": b"not really"})
    r = curator.post(reverse("upload_bulk"), {"files": [buf]})
    assert r.status_code == 400
    page = r.content.decode()
    assert "Nothing was saved" in page
    assert "manifest.csv line 3: title is 600 characters; the limit is 500" in page
    assert "manifest.csv line 4: title contains a NUL byte" in page
    assert "manifest.csv line 5: no image &#x27;missing.jpg&#x27; in the zip" in page
    assert Artwork.objects.count() == 0 and Upload.objects.count() == 0
    # With the manifest fixed, the broken image alone still refuses the batch.
    buf = _zip("batch.zip", {"one.jpg": demo_images[3].read_bytes(), "broken.jpg": b"not really"})
    r = curator.post(reverse("upload_bulk"), {"files": [buf]})
    assert r.status_code == 400 and "batch.zip/broken.jpg: File is not a supported image" in r.content.decode()
    assert Artwork.objects.count() == 0 and ArtworkImage.objects.count() == 0 and Upload.objects.count() == 0


def test_zip_bombs_are_refused_by_their_declared_sizes_before_anything_is_inflated(
    curator: Client, demo_images: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("a zip entry was opened")

    zeros = b"\0" * (5 * 2**20)  # 5 MiB of zeros deflate to ~5 kB: 1000:1
    bomb = _zip("bomb.zip", {f"z{i}.jpg": zeros for i in range(3)})
    big = _zip("big.zip", {"huge.jpg": b"\0" * (21 * 2**20)})
    monkeypatch.setattr(zipfile.ZipFile, "open", no_reading)
    r = curator.post(reverse("upload_bulk"), {"files": [bomb]})
    assert r.status_code == 400
    assert r.content.decode().count("more than the 100:1 a real image reaches") == 3
    r = curator.post(reverse("upload_bulk"), {"files": [big]})
    assert r.status_code == 400 and "big.zip/huge.jpg: 21.0 MB; the limit is 20 MB" in r.content.decode()
    assert Upload.objects.count() == 0


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

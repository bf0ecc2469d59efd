"""Query by image with the real worker (`query` queue), the rules and duplicate grouping,
over real WGA images from the bundled demo sample."""

from __future__ import annotations

import io
import json
import time
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db.models import Q
from django.test import Client
from django.urls import reverse
from PIL import Image, ImageOps

from artsearch.celery import app
from ml.perturb import PERTURBATIONS, detail, paste
from recommender import health, jobs, selectors
from recommender.catalogue import images_import_folder
from recommender.models import ArtworkImage, DuplicatePair
from tests.recommender.bad_images import awkward_but_valid, invalid_inputs
from tests.recommender.helpers import demo_subset, edited_copy, wait_indexed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


@pytest.fixture
def indexed(worker, tmp_path: Path) -> list[ArtworkImage]:
    manifest = demo_subset(tmp_path / "demo", 30, start=40)
    images_import_folder(folder=tmp_path / "demo", manifest=manifest)
    ids = list(ArtworkImage.objects.values_list("id", flat=True))
    jobs.enqueue_index(ids)
    wait_indexed(ids)
    cache.clear()  # the rate limiter counts per address
    return list(ArtworkImage.objects.select_related("artwork").order_by("id"))


def test_queries_find_edited_copies_and_refuse_bad_input(indexed: list[ArtworkImage], tmp_path: Path) -> None:
    c = Client()
    original = indexed[5]
    src = Image.open(original.file.path).convert("RGB")
    copies = {
        "mirrored+cropped": _jpeg(ImageOps.mirror(src).crop((10, 10, src.width - 10, src.height - 25))),
        "rotated 90": _jpeg(src.rotate(90, expand=True)),
        "framed": _jpeg(ImageOps.expand(src, border=30, fill=(120, 80, 30))),
        "recoloured": edited_copy(Path(original.file.path)),
    }
    before = ArtworkImage.objects.count()
    for name, data in copies.items():
        r = c.post(reverse("api_search_image"), {"image": io.BytesIO(data)}, format="multipart")
        assert r.status_code == 200, (name, r.content)
        body = r.json()
        assert body["verdict"] == "duplicate", (name, body["results"][:2])
        top = body["results"][0]
        assert top["artwork_id"] == original.artwork_id and top["verdict"] == "duplicate", name
        assert top["source_name"] == original.source_name and top["inliers"] >= 10
        assert "rotations" not in body["timings_ms"] and "dense" not in body["timings_ms"]  # found at once
    # A copy pasted into another picture (40 % of it) and a 25 % detail: their global vectors
    # are far from the original's, a regional vector is not (each indexed image has some).
    assert all(img.regions.exists() for img in indexed)
    stranger = Path(__file__).resolve().parents[2] / "demo" / "wga_sample" / "images"
    rgb = np.asarray(src)
    background = np.asarray(Image.open(sorted(stranger.glob("*.jpg"))[150]).convert("RGB"))
    for name, fn, verdict in (("pasted", paste(0.40), "duplicate"), ("detail", detail(0.25), "detail")):
        data = _jpeg(Image.fromarray(fn(rgb, np.random.default_rng(1), background)))
        r = c.post(reverse("api_search_image"), {"image": io.BytesIO(data)}, format="multipart")
        assert r.status_code == 200, (name, r.content)
        body = r.json()
        assert body["results"][0]["artwork_id"] == original.artwork_id, (name, body["results"][:2])
        assert body["results"][0]["verdict"] == verdict, (name, body["results"][0])
    # A different artwork is never called a duplicate of anything.
    other = sorted(stranger.glob("*.jpg"))[120]
    body = c.post(reverse("api_search_image"), {"image": io.BytesIO(other.read_bytes())}).json()
    assert body["verdict"] in ("similar", "unrelated"), body["results"][:2]
    assert "rotations" in body["timings_ms"]  # nothing found: retried turned by 90/180/270 degrees
    assert "dense" in body["timings_ms"]  # ... and re-matched with a denser query

    # The web page: verdict, keypoint picture and CAM heatmap.
    page = c.post(reverse("search_image"), {"image": io.BytesIO(copies["framed"])})
    assert page.status_code == 200
    assert b'data-verdict="duplicate"' in page.content and b"This is a copy of" in page.content
    assert b"Matching keypoints" in page.content and b"CAM heatmap" in page.content

    real = Path(original.file.path)
    for name, data in invalid_inputs(real).items():
        r = c.post(reverse("api_search_image"), {"image": io.BytesIO(data)})
        assert r.status_code == 400, name
        assert r.json()["error"], name
        r = c.post(reverse("search_image"), {"image": io.BytesIO(data)})
        assert r.status_code == 400 and b"errorlist" in r.content, name
    for name, data in awkward_but_valid(real).items():
        r = c.post(reverse("api_search_image"), {"image": io.BytesIO(data)})
        assert r.status_code == 200, (name, r.content)
    # EXIF orientation is applied: the sideways file still finds its original.
    exif = awkward_but_valid(real)["EXIF-rotated JPEG"]
    assert c.post(reverse("api_search_image"), {"image": io.BytesIO(exif)}).json()["verdict"] == "duplicate"
    assert ArtworkImage.objects.count() == before  # queries store nothing
    assert app.control.ping(timeout=2)  # and the worker is still there

    # The CLI: one JSON object per line, an error line for a bad file.
    good = tmp_path / "copy.jpg"
    good.write_bytes(copies["rotated 90"])
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    out, err = StringIO(), StringIO()
    call_command("query_image", str(good), str(bad), "--json", stdout=out, stderr=err)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["query"] == str(good) and lines[0]["verdict"] == "duplicate"
    assert set(lines[0]["results"][0]) == {"artwork_id", "title", "source_name", "cosine", "inliers", "verdict"}
    assert lines[0]["results"][0]["source_name"] == original.source_name
    assert lines[1]["query"] == str(bad) and "error" in lines[1]


def test_heavy_text_copy_is_found_by_the_dense_rematch(worker, tmp_path: Path) -> None:
    """Opaque text lines over a painting take the query's first 1000 ORB keypoints (0 inliers
    for this one); the shortlist is then matched again with 3000 and the copy is found."""
    manifest = demo_subset(tmp_path / "demo", 5, start=70)  # row 72: Castagno, St Mark
    images_import_folder(folder=tmp_path / "demo", manifest=manifest)
    ids = list(ArtworkImage.objects.values_list("id", flat=True))
    jobs.enqueue_index(ids)
    wait_indexed(ids)
    cache.clear()
    original = ArtworkImage.objects.get(source_name__endswith="024mark.jpg")
    heavy = dict(PERTURBATIONS["text"])["heavy"]
    rgb = np.asarray(Image.open(original.file.path).convert("RGB"))
    data = _jpeg(Image.fromarray(heavy(rgb, np.random.default_rng(0), rgb)))
    body = Client().post(reverse("api_search_image"), {"image": io.BytesIO(data)}).json()
    assert body["verdict"] == "duplicate", body["results"][:2]
    assert body["results"][0]["artwork_id"] == original.artwork_id and body["results"][0]["inliers"] >= 100
    assert "dense" in body["timings_ms"]


def test_find_duplicates_groups_copies_in_recommendations(indexed: list[ArtworkImage], tmp_path: Path) -> None:
    original = indexed[3]
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "same-painting.jpg").write_bytes(edited_copy(Path(original.file.path), crop=0.85))
    images_import_folder(folder=tmp_path / "copy")
    copy = ArtworkImage.objects.get(source_name="same-painting.jpg")
    jobs.enqueue_index([copy.pk])
    wait_indexed([copy.pk])

    out = StringIO()
    call_command("find_duplicates", "--new", stdout=out)
    assert "scanned 31 images" in out.getvalue()
    # The copy is paired with its original only. The demo images hold real pairs of their own
    # (WGA's detail of a fresco next to the whole wall), which the scan may find too.
    pairs = DuplicatePair.objects.filter(Q(image_a=copy) | Q(image_b=copy))
    pair = pairs.get()
    assert {pair.image_a_id, pair.image_b_id} == {original.pk, copy.pk}
    assert pair.verdict == "duplicate" and pair.inliers >= 20
    found = DuplicatePair.objects.count()
    out = StringIO()
    call_command("find_duplicates", "--new", stdout=out)
    assert "scanned 0 images" in out.getvalue()  # incremental
    call_command("find_duplicates", stdout=StringIO())
    assert DuplicatePair.objects.count() == found  # re-running changes nothing

    # A third artwork's recommendations show the work once, with "also appears as".
    for other in indexed:
        items = selectors.artwork_similar_list(artwork=other.artwork, k=30)
        shown = [i.artwork.pk for i in items]
        assert not {original.artwork_id, copy.artwork_id} <= set(shown)
        if original.artwork_id in shown or copy.artwork_id in shown:
            item = next(i for i in items if i.artwork.pk in (original.artwork_id, copy.artwork_id))
            assert item.also
            break
    else:
        pytest.fail("the group never showed up")


def test_curator_uploads_are_flagged_exactly_as_a_visitors_query_of_the_same_file(indexed: list[ArtworkImage]) -> None:
    """One decision path: a sideways copy and a 15 % detail uploaded by a curator get the same
    copies, with the same verdicts, as a visitor's query of the same bytes."""
    from django.contrib.auth.models import Group, User
    from django.db import transaction

    from recommender.curation import artwork_upload
    from recommender.models import Upload

    curator = User.objects.create_user("cora", password="pw")
    curator.groups.add(Group.objects.get_or_create(name="curators")[0])
    original = indexed[7]
    src = Image.open(original.file.path).convert("RGB")
    files = {
        "sideways.jpg": _jpeg(src.rotate(90, expand=True)),
        "detail.jpg": _jpeg(Image.fromarray(detail(0.15)(np.asarray(src), np.random.default_rng(4), np.asarray(src)))),
    }
    c = Client()
    for name, data in files.items():
        # The test's one worker process also runs the upload; wait for its heartbeat to be fresh.
        deadline = time.monotonic() + 60
        while not health.worker_alive("query"):
            assert time.monotonic() < deadline, "the query worker stopped beating"
            time.sleep(0.5)
        r = c.post(reverse("api_search_image"), {"image": io.BytesIO(data)}, format="multipart")
        assert r.status_code == 200, (name, r.content)
        body = r.json()
        visitor = {(r["artwork_id"], r["verdict"]) for r in body["results"] if r["verdict"] in ("duplicate", "detail")}
        assert (original.artwork_id, "duplicate" if name == "sideways.jpg" else "detail") in visitor, (name, body)
        with transaction.atomic():
            upload = artwork_upload(user=curator, data=data, source_name=name, metadata={"title": name})
        deadline = time.monotonic() + 600
        while Upload.objects.get(pk=upload.pk).stage not in (Upload.Stage.DONE, Upload.Stage.FAILED):
            assert time.monotonic() < deadline, "upload not processed in 600 s"
            time.sleep(0.5)
        upload = Upload.objects.get(pk=upload.pk)
        assert upload.stage == Upload.Stage.DONE and upload.decision == Upload.Decision.PENDING, upload.error
        assert {(m["artwork_id"], m["verdict"]) for m in upload.matches} == visitor, name
        cache.clear()

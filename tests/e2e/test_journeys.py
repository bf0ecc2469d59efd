"""A visitor's journeys in a real browser, each at desktop (1280 px) and phone (390 px) width:
browse the gallery and follow recommendations; upload a photo and read the answer; search by
words. Chromium through Playwright against the live server; the catalogue rows are WGA's own
(every ALT… artist of the bundled catalogue, 69 works), 13 of them with their demo image.
Screenshots: test-artifacts/browser/<test>/NN-<width>-<step>.png."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from playwright.sync_api import Page, expect

from recommender import jobs
from recommender.catalogue import images_import_folder
from recommender.models import Artwork, ArtworkImage
from tests.conftest import REPO
from tests.e2e.conftest import Shots
from tests.recommender.helpers import demo_subset, edited_copy, wait_indexed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": 1280, "phone": 390}
N_IMAGES = 13  # demo rows 45-57: von Alt, Altdorfer, Altichiero


@pytest.fixture
def collection(tmp_path: Path) -> None:
    """WGA's catalogue rows of the ALT… artists, and the demo images of 13 of them."""
    with gzip.open(REPO / "demo" / "catalog.csv.gz", "rt", encoding="utf-8") as fh:
        rows = [line for line in fh if line.startswith(("ALT", "AUTHOR;"))]
    (tmp_path / "alt.csv").write_text("".join(rows), encoding="utf-8")
    call_command("import_catalogue", str(tmp_path / "alt.csv"), stdout=StringIO())
    manifest = demo_subset(tmp_path / "demo", N_IMAGES, start=45)
    assert images_import_folder(folder=tmp_path / "demo", manifest=manifest).created == N_IMAGES
    assert Artwork.objects.count() == len(rows) - 1  # the images went to their catalogue rows
    cache.clear()  # rate limits count per address


def _fits(page: Page) -> None:
    """Nothing wider than the window: no sideways scrolling on a phone."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"page is {overflow}px wider than the window at {page.url}"


def _images_loaded(page: Page, selector: str) -> None:
    page.wait_for_function("s => [...document.querySelectorAll(s)].every(i => i.complete && i.naturalWidth > 0)",
                           arg=selector)


def test_browse_the_gallery_and_follow_recommendations(
    collection: None, live_server: object, new_page: Callable[..., Page], shots: Shots
) -> None:
    call_command("build_captions", "--inline", stdout=StringIO(), stderr=StringIO())
    base = live_server.url  # type: ignore[attr-defined]
    for name, width in WIDTHS.items():
        page = new_page(width=width)
        page.goto(f"{base}/")
        # Fewer than half have an image: the gallery shows those, and says how to see the rest.
        expect(page.locator("p.count")).to_contain_text(f"{N_IMAGES} artworks with an image")
        expect(page.locator(".grid a.card")).to_have_count(N_IMAGES)
        expect(page.locator(".grid .noimg")).to_have_count(0)
        _images_loaded(page, ".grid a.card img")
        _fits(page)
        shots(page, f"{name}-gallery")
        if name == "phone":
            expect(page.locator("#facets")).not_to_have_attribute("open", "")  # folded above the gallery
            page.locator("#facets summary").click()
        page.locator("#images-facet").get_by_role("link", name="All artworks").click()
        expect(page.locator("p.count")).to_contain_text(f"{Artwork.objects.count()} artworks")
        shots(page, f"{name}-all-artworks")

        # An artwork with an image: its picture, its facts, and works by the same artist.
        page.goto(f"{base}/")
        card = page.locator(".grid a.card").filter(has_text="Altdorfer").first
        title = card.locator(".title").inner_text()
        card.click()
        expect(page.locator("h1")).to_have_text(re.compile(re.escape(title.rstrip("…"))))
        expect(page.locator(".artwork .picture img")).to_be_visible()
        related = page.locator("#related")
        expect(related.get_by_role("heading", name="More by Albrecht Altdorfer")).to_be_visible()
        _images_loaded(page, "img")
        _fits(page)
        shots(page, f"{name}-artwork-with-image")

        # An artwork without an image still recommends, by artist and by its description.
        bare_card = related.locator("#related-artist + .grid a.card").filter(has=page.locator(".noimg")).first
        bare = Artwork.objects.get(pk=int(re.findall(r"\d+", bare_card.get_attribute("href") or "")[0]))
        assert not bare.images.exists() and bare.artist.name.startswith("ALTDORFER")
        bare_card.click()
        expect(page.locator("h1")).to_have_text(bare.title)
        expect(page.locator(".artwork .noimg")).to_be_visible()
        expect(page.get_by_role("heading", name="Similar artworks")).to_have_count(0)
        expect(page.get_by_role("heading", name="Related works")).to_be_visible()
        expect(page.get_by_role("heading", name="Similar subject and period")).to_be_visible()
        by_text = page.locator("#related-text + p + .grid a.card")
        expect(by_text.first).to_be_visible()
        _fits(page)
        shots(page, f"{name}-artwork-without-image")

        # Follow a recommendation.
        href = by_text.first.get_attribute("href")
        target = Artwork.objects.get(pk=int(re.findall(r"\d+", href or "")[0]))
        assert target.artist_id != bare.artist_id
        by_text.first.click()
        expect(page).to_have_url(f"{base}{href}")
        expect(page.locator("h1")).to_have_text(target.title)
        shots(page, f"{name}-recommendation")
        page.context.close()


@pytest.mark.worker
def test_upload_a_photo_and_read_the_answer(
    collection: None, worker: object, live_server: object, new_page: Callable[..., Page], shots: Shots,
    tmp_path: Path
) -> None:
    base = live_server.url  # type: ignore[attr-defined]
    ids = list(ArtworkImage.objects.values_list("id", flat=True))
    jobs.enqueue_index(ids)
    # The indexing page follows the workers without reloading, and stops asking once done.
    status = new_page()
    polls: list[str] = []
    status.on("request", lambda req: polls.append(req.url) if "format=json" in req.url else None)
    status.goto(f"{base}/indexing/")
    shots(status, "indexing")
    expect(status.locator("#progress-rate")).to_have_text("Done: nothing is waiting.", timeout=900_000)
    expect(status.locator("#progress-text")).to_contain_text(f"{N_IMAGES} of {N_IMAGES} images indexed")
    shots(status, "indexing-done")
    after = len(polls)
    status.wait_for_timeout(5000)
    assert len(polls) == after, "the indexing page kept polling after the work was done"
    status.context.close()
    wait_indexed(ids, timeout=60)
    original = ArtworkImage.objects.select_related("artwork__artist").order_by("-n_keypoints", "id").first()
    assert original is not None
    photo = tmp_path / "photo-of-a-painting.jpg"
    photo.write_bytes(edited_copy(Path(original.file.path)))
    for name, width in WIDTHS.items():
        page = new_page(width=width)
        page.goto(f"{base}/")
        page.get_by_role("link", name="Search by image").click()
        page.locator('input[name="image"]').set_input_files(photo)
        shots(page, f"{name}-upload")
        page.get_by_role("button", name="Search").click()
        # The answer in plain words, naming the artwork, with both pictures.
        headline = page.locator("#overall-verdict")
        expect(headline).to_have_text(f"This is a copy of {original.artwork.title}")
        expect(headline.get_by_role("link", name=original.artwork.title)).to_have_attribute(
            "href", original.artwork.get_absolute_url())
        expect(page.get_by_text("inliers", exact=False).first).not_to_be_visible()  # the evidence waits for Why?
        _images_loaded(page, ".answer img")
        _fits(page)
        shots(page, f"{name}-answer")
        # The evidence, one click away.
        why = page.locator("details#why")
        expect(why.locator("table")).not_to_be_visible()
        why.locator("summary", has_text="Why?").click()
        expect(why.locator("table")).to_be_visible()
        row = why.locator("tr.result").first
        expect(row).to_contain_text(original.artwork.title)
        expect(row).to_contain_text("Copy")
        expect(why.get_by_role("img", name="Matching keypoints").first).to_be_visible()
        expect(why.get_by_role("img", name="CAM heatmap of your image")).to_be_visible()
        _fits(page)
        shots(page, f"{name}-why")
        page.context.close()


@pytest.mark.worker
def test_search_by_words(
    collection: None, worker: object, live_server: object, new_page: Callable[..., Page], shots: Shots
) -> None:
    call_command("build_captions", "--inline", stdout=StringIO(), stderr=StringIO())
    base = live_server.url  # type: ignore[attr-defined]
    george = Artwork.objects.get(title="St George Slays the Dragon", artist__name__startswith="ALTICHIERO")
    for name, width in WIDTHS.items():
        page = new_page(width=width)
        page.goto(f"{base}/")
        page.get_by_role("link", name="Search by words").click()
        page.get_by_role("searchbox", name="Description").fill("St George fighting the dragon")
        shots(page, f"{name}-query")
        page.get_by_role("button", name="Search").click()
        hits = page.locator("#text-results a.card")
        expect(hits.first).to_be_visible()
        expect(page.locator(f'#text-results a.card[href="{george.get_absolute_url()}"]')).to_be_visible()
        _images_loaded(page, "#text-results img")
        _fits(page)
        shots(page, f"{name}-results")
        page.locator(f'#text-results a.card[href="{george.get_absolute_url()}"]').click()
        expect(page.locator("h1")).to_have_text(george.title)
        shots(page, f"{name}-result-opened")
        page.context.close()

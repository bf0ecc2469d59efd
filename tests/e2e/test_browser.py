"""The whole story in a real browser: a visitor browses similar artworks, a curator uploads an
edited copy and is warned live, staff confirm the duplicate, and visitors stop being shown the copy.

Chromium (Debian's) through Playwright, against pytest-django's live server, the real Celery
worker and the real VGG16 features. Screenshots of every step: test-artifacts/browser/<test>/NN-name.png.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import Page, Route, expect

from recommender import jobs, selectors
from recommender.catalogue import images_import_folder
from recommender.models import Artwork, ArtworkImage, DuplicatePair, Upload
from recommender.selectors import UPLOAD_STEPS
from tests.e2e.conftest import Shots
from tests.recommender.helpers import demo_subset, edited_copy, wait_indexed

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

N_IMAGES = 20
# One upload = features + keypoints + duplicate check on a CPU shared with other jobs.
UPLOAD_TIMEOUT_MS = 300_000


def _user(name: str, group: str) -> User:
    user = User.objects.create_user(name, password=f"pw-{name}")
    # get_or_create: a transactional test before this one may have flushed the migration's groups.
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


def _login(page: Page, base: str, name: str, shots: Shots) -> None:
    page.goto(f"{base}/accounts/login/")
    page.locator("#id_username").fill(name)
    page.locator("#id_password").fill(f"pw-{name}")
    shots(page, f"login-{name}")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name=f"Log out {name}")).to_be_visible()


def _card(page: Page, artwork: Artwork) -> Any:
    return page.locator(f'section.similar a.card[href="{artwork.get_absolute_url()}"]')


def test_visitor_curator_and_staff_in_a_browser(
    worker: object, live_server: Any, new_page: Callable[[], Page], shots: Shots, tmp_path: Path
) -> None:
    base = live_server.url

    # ------------------------------------------------------------------ 1. set-up, in Python
    manifest = demo_subset(tmp_path / "demo", N_IMAGES)
    assert images_import_folder(folder=tmp_path / "demo", manifest=manifest).created == N_IMAGES
    ids = list(ArtworkImage.objects.values_list("id", flat=True))
    jobs.enqueue_index(ids)
    wait_indexed(ids, timeout=900)
    _user("carl", "curators")
    _user("sara", "staff")
    # The original of the copy: the image with the most keypoints, so the geometric check has evidence.
    original = ArtworkImage.objects.select_related("artwork").order_by("-n_keypoints", "id").first()
    assert original is not None

    # ------------------------------------------------------------------ 2. a visitor browses
    visitor = new_page()
    visitor.goto(f"{base}/")
    expect(visitor.locator("p.count")).to_have_text(re.compile(rf"^{N_IMAGES} artworks"))
    shots(visitor, "catalogue")
    target = Artwork.objects.exclude(pk=original.artwork_id).order_by("id").first()
    word = max(re.findall(r"[A-Za-z]+", target.title), key=len)
    visitor.get_by_role("searchbox", name="Search title or artist").fill(word)
    visitor.get_by_role("button", name="Search").click()
    expect(visitor).to_have_url(re.compile(rf"\?q={re.escape(word)}"))
    target_card = visitor.locator(f'.grid a.card[href="{target.get_absolute_url()}"]')
    expect(target_card).to_be_visible()
    shots(visitor, "search-results")
    target_card.click()
    expect(visitor.locator("h1")).to_have_text(target.title)
    cards = visitor.locator("section.similar a.card")
    expect(visitor.get_by_role("heading", name="Similar artworks")).to_be_visible()
    expect(cards.first).to_be_visible()
    assert cards.count() == len(selectors.artwork_similar_list(artwork=target)) > 0
    for score in cards.locator(".score").all_inner_texts():
        assert 0 < float(score) <= 1
    shots(visitor, "artwork-similar")
    first_href = cards.first.get_attribute("href")
    first_title = Artwork.objects.get(pk=int(re.findall(r"\d+", first_href)[0])).title
    cards.first.click()
    expect(visitor).to_have_url(f"{base}{first_href}")
    expect(visitor.locator("h1")).to_have_text(first_title)
    shots(visitor, "first-similar")

    # ------------------------------------------------------------------ 3. a curator uploads an edited copy
    curator = new_page()
    _login(curator, base, "carl", shots)
    curator.get_by_role("link", name="Upload", exact=True).click()
    expect(curator.get_by_role("heading", name="Upload an artwork")).to_be_visible()
    copy_file = tmp_path / "edited-copy.jpg"
    copy_file.write_bytes(edited_copy(Path(original.file.path)))
    copy_title = f"Edited copy of {original.artwork.title}"[:200]
    form = curator.locator("#upload-form")
    form.locator('input[name="image"]').set_input_files(copy_file)
    form.locator('input[name="title"]').fill(copy_title)
    shots(curator, "upload-form")

    # Record every state the status page polls: the page updates itself, then reloads when done.
    polled: list[str] = []

    def record(route: Route) -> None:
        response = route.fetch()
        polled.append(response.json()["stage"])
        route.fulfill(response=response)

    curator.route(re.compile(r"/uploads/\d+/\?format=json$"), record)
    # No worker while the upload is sent: the status page opens on a queued upload and has to follow
    # its stages live once a worker starts, however fast the machine.
    worker.stop()  # type: ignore[attr-defined]
    form.get_by_role("button", name="Upload").click()
    expect(curator).to_have_url(re.compile(r"/uploads/\d+/$"))
    upload = Upload.objects.select_related("artwork", "image").get(pk=int(curator.url.rstrip("/").split("/")[-1]))
    assert upload.artwork.title == copy_title
    first_stage = curator.locator("#steps").get_attribute("data-stage")
    assert first_stage == "queued"
    shots(curator, "upload-status")
    worker.start()  # type: ignore[attr-defined]
    warning = curator.locator("#duplicate-warning")
    expect(warning).to_be_visible(timeout=UPLOAD_TIMEOUT_MS)
    # Live: the page polled at least once and saw the stages in order, ending with "done".
    seen = [first_stage, *polled]
    print("upload stages seen by the status page:", seen)
    assert polled and seen[-1] == "done" and len(set(seen)) >= 2, seen
    assert [UPLOAD_STEPS.index(s) for s in seen] == sorted(UPLOAD_STEPS.index(s) for s in seen), seen
    expect(curator.locator("#steps li.done")).to_have_count(len(UPLOAD_STEPS) - 1)
    expect(curator.locator('#steps li[data-step="done"]')).to_have_class("current")
    # Both pictures side by side, loaded, and the original among the matches.
    pair_box = warning.locator(".pair").filter(
        has=curator.locator(f'a[href="{original.artwork.get_absolute_url()}"]'))
    expect(pair_box).to_have_count(1)
    for alt in ("upload", "existing"):
        img = pair_box.locator(f'img[alt="{alt}"]')
        expect(img).to_be_visible()
        curator.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
    shots(curator, "duplicate-warning")
    copy = ArtworkImage.objects.select_related("artwork").get(pk=upload.image_id)
    pair = DuplicatePair.objects.get(image_a_id=min(copy.pk, original.pk), image_b_id=max(copy.pk, original.pk))
    assert (pair.source, pair.status) == (DuplicatePair.Source.UPLOAD, DuplicatePair.Status.CANDIDATE)

    warning.get_by_role("button", name="Keep as new").click()
    expect(curator.locator("ul.messages li.success")).to_have_text("Kept as a new artwork")
    expect(curator.get_by_text("Decision: Kept as a new artwork.")).to_be_visible()
    expect(curator.locator("#duplicate-warning")).to_have_count(0)
    shots(curator, "kept-as-new")
    copy.artwork.refresh_from_db()
    assert copy.artwork.duplicate_of is None
    # Keeping a piece is the curator's view, not proof it is no copy: the pair stays for staff,
    # with the curator's note (curation.upload_decide).
    pair.refresh_from_db()
    assert pair.status == DuplicatePair.Status.CANDIDATE and pair.evidence["curator"] == "kept as new by carl"

    # A third artwork whose similar grid shows the copy now (found in Python, checked in the browser).
    third = next((a for a in Artwork.objects.exclude(pk__in=[original.artwork_id, copy.artwork_id]).order_by("id")
                  if any(i.artwork.pk == copy.artwork_id for i in selectors.artwork_similar_list(artwork=a, k=12))),
                 None)
    assert third is not None, "no artwork recommends the indexed copy"
    visitor.goto(f"{base}{third.get_absolute_url()}")
    expect(_card(visitor, copy.artwork)).to_be_visible()
    shots(visitor, "third-shows-copy")

    # ------------------------------------------------------------------ 4. staff confirm the duplicate
    staff = new_page()
    _login(staff, base, "sara", shots)
    staff.get_by_role("link", name="Review duplicates").click()
    expect(staff.get_by_role("heading", name="Duplicate candidates")).to_be_visible()
    shots(staff, "review-queue")
    staff.get_by_role("link", name=f"#{pair.pk}", exact=True).click()
    expect(staff.get_by_role("heading", name=re.compile(rf"^Pair #{pair.pk}"))).to_be_visible()
    expect(staff.get_by_text("from Curator upload")).to_be_visible()
    staff.locator('select[name="canonical"]').select_option(str(original.artwork_id))
    shots(staff, "review-pair")
    staff.get_by_role("button", name="Confirm duplicate").click()
    expect(staff.locator("ul.messages li.success")).to_have_text(f"Pair {pair.pk}: confirm done.")
    shots(staff, "confirmed")
    copy.artwork.refresh_from_db()
    pair.refresh_from_db()
    assert copy.artwork.duplicate_of_id == original.artwork_id
    assert pair.status == DuplicatePair.Status.CONFIRMED

    # ------------------------------------------------------------------ 5. visitors no longer see the copy
    visitor.goto(f"{base}{third.get_absolute_url()}")
    expect(visitor.locator("section.similar a.card").first).to_be_visible()
    expect(_card(visitor, copy.artwork)).to_have_count(0)
    shots(visitor, "third-without-copy")
    visitor.goto(f"{base}{copy.artwork.get_absolute_url()}")
    notice = visitor.locator("p.messages").filter(has_text="This is a copy of")
    expect(notice).to_be_visible()
    expect(notice.get_by_role("link", name=original.artwork.title)).to_have_attribute(
        "href", original.artwork.get_absolute_url())
    shots(visitor, "copy-page")

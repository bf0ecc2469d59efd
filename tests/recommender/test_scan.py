"""The collection scan (find_duplicates) on the real PostgreSQL + pgvector, without a worker:
images are stored with real files and ORB keypoints, and vectors written directly, so the scan
runs the image query's own decision path (`search.copies_find`) on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.test import override_settings
from django.utils import timezone

from ml.images import decode_image, decode_image_file
from ml.keypoints import orb_keypoints
from ml.perturb import PERTURBATIONS
from ml.visualize import png_bytes
from recommender import search
from recommender.catalogue import image_attach
from recommender.duplicates import duplicates_scan, image_copies
from recommender.models import Artwork, ArtworkImage, DuplicatePair, DuplicateScan, ImageRegion
from tests.recommender.helpers import edited_copy

pytestmark = pytest.mark.django_db

MODEL = "scan-test"


class Killed(Exception):
    """Stands for a scan process killed half-way."""


def _stored(data: bytes, name: str, vector: np.ndarray, regions: np.ndarray | None = None) -> ArtworkImage:
    art = Artwork.objects.create(title=name, source=Artwork.Source.IMPORT)
    image, _ = image_attach(artwork=art, data=data, source_name=name)
    kps = orb_keypoints(decode_image(data), n_features=2000)
    ArtworkImage.objects.filter(pk=image.pk).update(
        status=ArtworkImage.Status.INDEXED, model_version=MODEL, embedding=vector.tolist(),
        keypoints=kps.to_bytes(), n_keypoints=len(kps))
    for region in () if regions is None else regions:
        ImageRegion.objects.create(image_id=image.pk, embedding=region.tolist())
    return ArtworkImage.objects.get(pk=image.pk)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture
def collection(demo_images: list[Path]) -> list[ArtworkImage]:
    """Six demo images plus an edited copy of the first (its vector close to the original's)."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(7, 512)).astype(np.float32)
    vectors[6] = vectors[0] + 0.1 * vectors[6]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    images = [_stored(p.read_bytes(), p.name, vectors[i]) for i, p in enumerate(demo_images[:6])]
    images.append(_stored(edited_copy(demo_images[0], crop=0.85), "copy.jpg", vectors[6]))
    return images


# The rotation retry needs the CNN; these images carry made-up vectors, so it is left out here
# (the worker tests cover it).
@override_settings(ARTSEARCH_ROTATION_FALLBACK=False)
def test_a_scan_killed_half_way_resumes_without_losing_or_repeating_pairs(collection: list[ArtworkImage]) -> None:
    def kill_after_three(done: int, total: int) -> None:
        if done == 3:
            raise Killed

    with pytest.raises(Killed):
        duplicates_scan(only_new=False, progress=kill_after_three)
    unfinished = DuplicateScan.objects.get()
    assert unfinished.finished_at is None
    checked = set(ArtworkImage.objects.filter(duplicates_checked_at__gte=unfinished.started_at)
                  .values_list("pk", flat=True))
    assert len(checked) == 3

    seen: list[int] = []
    out = duplicates_scan(only_new=False, progress=lambda done, total: seen.append(total))
    assert out.resumed and out.scanned == len(collection) - 3 and seen[-1] == len(collection) - 3
    assert DuplicateScan.objects.get().finished_at is not None
    pair = DuplicatePair.objects.get()
    assert {pair.image_a_id, pair.image_b_id} == {collection[0].pk, collection[-1].pk}
    assert pair.verdict == "duplicate"

    # The next full scan is a new one over every image, and stores the same pair once.
    again = duplicates_scan(only_new=False)
    assert not again.resumed and again.scanned == len(collection)
    assert DuplicateScan.objects.count() == 2 and DuplicatePair.objects.count() == 1


@override_settings(ARTSEARCH_ROTATION_FALLBACK=False)
def test_new_only_checks_images_never_checked(collection: list[ArtworkImage]) -> None:
    ArtworkImage.objects.exclude(pk=collection[-1].pk).update(duplicates_checked_at=timezone.now())
    out = duplicates_scan(only_new=True)
    assert out.scanned == 1 and out.pairs == 1
    assert not DuplicateScan.objects.exists()  # --new is incremental by itself: no scan record


@pytest.mark.parametrize(("bound", "fallbacks"), [(0.0, True), (0.5, False)])
def test_fallback_passes_run_only_when_the_evidence_reaches_the_bound(
        collection: list[ArtworkImage], demo_images: list[Path], bound: float, fallbacks: bool) -> None:
    """An image unlike anything stored (its best cosine ~0) skips the deep and dense passes once
    ARTSEARCH_FALLBACK_MIN_EVIDENCE is above that evidence; at 0 every pass runs."""
    from recommender.search import QueryVectors, copies_find

    rng = np.random.default_rng(9)
    vector = rng.normal(size=512)
    vector /= np.linalg.norm(vector)
    timings: dict[str, float] = {}
    with override_settings(ARTSEARCH_FALLBACK_MIN_EVIDENCE=bound):
        verified, _, evidence = copies_find(
            rgb=decode_image(demo_images[20].read_bytes()),
            vectors=QueryVectors(vector=vector.tolist(), regions=[], model_version=MODEL),
            rotated=None, timings=timings)
    assert evidence < 0.5
    assert ("deep" in timings) is fallbacks and ("dense" in timings) is fallbacks
    assert not any(c.verdict in ("duplicate", "detail") for c in verified)


@pytest.fixture
def copies(demo_images: list[Path]) -> dict[str, ArtworkImage]:
    """Eight unrelated demo images, and an edited, a mirrored, a sideways (90°) copy and a 35 %
    detail of the first; every image has three stored regions near its own vector."""
    rng = np.random.default_rng(5)
    base = _unit(rng.normal(size=(8, 512)))
    original = decode_image_file(demo_images[0])
    edits = {
        "edited": edited_copy(demo_images[0], crop=0.85),
        **{name: png_bytes(dict(PERTURBATIONS[family])[strength](original, rng, np.full_like(original, 200)))
           for name, family, strength in (("mirrored", "mirror", "horizontal"), ("sideways", "rotate", "90"),
                                          ("detail", "detail", "35%"))},
    }
    vectors = np.vstack([base, _unit(base[0] + 0.3 * rng.normal(size=(len(edits), 512)) / np.sqrt(512))])
    names = [p.name for p in demo_images[:8]] + list(edits)
    data = [p.read_bytes() for p in demo_images[:8]] + list(edits.values())
    return {name: _stored(blob, name, v, _unit(v + 0.5 * rng.normal(size=(3, 512)) / np.sqrt(512)))
            for name, blob, v in zip(names, data, vectors, strict=True)}


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


@pytest.mark.parametrize("k", [5, 100])
def test_a_batch_of_shortlists_is_each_images_own_shortlist(copies: dict[str, ArtworkImage], k: int) -> None:
    ids = [image.pk for image in copies.values()]
    batch = search.shortlists_batch(ids, k=k)
    for image in copies.values():
        regions = [list(map(float, v)) for v in image.regions.values_list("embedding", flat=True)]
        vector = [float(x) for x in image.embedding]
        regional = search._regional_best([vector], regions)
        alone = search.shortlist(vector, model_version=MODEL, k=k, exclude_image_id=image.pk, regional=regional)
        assert batch[image.pk].regional == pytest.approx(regional, abs=1e-4)
        assert [(i.pk, round(c, 3)) for i, c in batch[image.pk].items] == [(i.pk, round(c, 3)) for i, c in alone]


@override_settings(ARTSEARCH_ROTATION_FALLBACK=False)
def test_the_batched_scan_finds_the_pairs_of_per_image_queries(copies: dict[str, ArtworkImage]) -> None:
    """The scan (shortlists in batches, each pair matched once) and one `copies_find` per image
    reach the same pairs: the edited, mirrored and sideways copies and the detail of the first image."""
    per_image = {_pair(image.pk, c.image.pk) for image in copies.values() for c in image_copies(image)[0]}
    first = next(iter(copies.values()))
    expected = {_pair(first.pk, copies[name].pk) for name in ("edited", "mirrored", "sideways", "detail")}
    assert expected <= per_image
    from_first = {c.image.pk: str(c.verdict) for c in image_copies(first)[0]}

    out = duplicates_scan(only_new=False, batch=3)
    scanned = set(DuplicatePair.objects.values_list("image_a_id", "image_b_id"))
    assert scanned == per_image and out.scanned == len(copies)
    # A pair found from the side scanned first (the lower id) is recorded with that side's verdict.
    recorded = dict(DuplicatePair.objects.filter(image_a_id=first.pk).values_list("image_b_id", "verdict"))
    assert {pk: recorded[pk] for pk in from_first} == from_first


def test_find_duplicates_refuses_a_batch_or_shortlist_below_one() -> None:
    from django.core.management import CommandError, call_command

    for option in ("--batch", "--shortlist"):
        with pytest.raises(CommandError, match=f"{option} must be at least 1"):
            call_command("find_duplicates", option, "0")

"""Duplicate scan over the collection: each stored image goes through the one decision path
(`search.copies_find`, the same passes and thresholds as a visitor's query) with its stored
vectors, and the duplicate/detail pairs it finds are recorded for staff review."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ml.images import ImageError, decode_image
from ml.rules import Verdict
from recommender import review
from recommender.models import ArtworkImage, DuplicateScan
from recommender.search import Candidate, QueryVectors, Shortlist, copies_find, shortlists_batch, thresholds

_FOUND = (Verdict.DUPLICATE, Verdict.DETAIL)


@dataclass
class ScanOutcome:
    scanned: int = 0
    pairs: int = 0
    failed: int = 0
    resumed: bool = False


def stored_vectors(image: ArtworkImage) -> QueryVectors:
    """The stored image as a query: its global vector, its regions, its model version."""
    regions = [[float(x) for x in v] for v in image.regions.values_list("embedding", flat=True)]
    return QueryVectors(vector=[float(x) for x in image.embedding], regions=regions,
                        model_version=image.model_version)


def _rotator(rgb: np.ndarray, vectors: QueryVectors) -> Callable[[], list[list[float]]]:
    def rotated() -> list[list[float]]:
        # Only worker and command processes scan; they may load the CNN (lazily, once). The
        # turn maps predict the turned vectors from the stored one when they fit its model.
        from recommender.pipeline import rotated_vectors
        from recommender.turns import turned_vectors

        return turned_vectors(vectors.vector, vectors.model_version) or rotated_vectors(rgb)

    return rotated


def image_copies(image: ArtworkImage, *, k: int | None = None, ahead: Shortlist | None = None,
                 settled: Mapping[int, bool] | None = None) -> tuple[list[Candidate], list[Candidate]]:
    """(copies, matched): duplicate/detail partners of one indexed image among the other
    artworks' images, and every candidate that was matched geometrically (copies or not).

    Cost: one image decode plus `copies_find` (its fallback passes, the rotation retry's three
    CNN forward passes or the turn maps' product, only when nothing is found and the evidence allows it).
    `ahead` and `settled`: see `copies_find`."""
    with image.file.open("rb") as fh:
        rgb = decode_image(fh.read(), max_pixels=settings.ARTSEARCH_MAX_PIXELS,
                           max_side=settings.ARTSEARCH_DECODE_MAX_SIDE)
    # With a shortlist computed ahead the stored regions are not needed here (only the
    # first pass's regional statement reads them, and that ran in the batch).
    vectors = (stored_vectors(image) if ahead is None else
               QueryVectors(vector=[float(x) for x in image.embedding], regions=[], model_version=image.model_version))
    verified, _, _ = copies_find(rgb=rgb, vectors=vectors, rotated=_rotator(rgb, vectors), exclude_image_id=image.pk,
                                 k=k, ahead=ahead, settled=settled)
    # Two images of one artwork are not a duplicate to review.
    copies = [c for c in verified if c.verdict in _FOUND and c.image.artwork_id != image.artwork_id]
    return copies, [c for c in verified if c.match is not None]


def _record(image: ArtworkImage, found: list[Candidate], source: str) -> None:
    for c in found:
        review.duplicate_pair_record(
            first=image, second=c.image, verdict=str(c.verdict), cosine=c.cosine, inliers=c.inliers, source=source,
            evidence={"reason": c.decision.reason, "mirrored": bool(c.match and c.match.mirrored),
                      "coverage_query": c.match.coverage_query if c.match else None,
                      "coverage_candidate": c.match.coverage_candidate if c.match else None},
        )
    ArtworkImage.objects.filter(pk=image.pk).update(duplicates_checked_at=timezone.now())


def image_duplicates_check(image: ArtworkImage, *, k: int | None = None, source: str = "scan") -> list[Candidate]:
    """Find and record duplicate/detail partners of one indexed image; returns them.
    Idempotent: a pair is stored once (review.duplicate_pair_record updates it)."""
    found, _ = image_copies(image, k=k)
    _record(image, found, source)
    return found


def duplicates_scan(*, only_new: bool, k: int | None = None, batch: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> ScanOutcome:
    """Check every indexed image (or only those never checked) for copies.

    Each image goes through `copies_find`, the image query's own passes and thresholds, but
    its first-pass shortlist comes from `shortlists_batch`, two SQL statements per `batch`
    images (ARTSEARCH_SCAN_BATCH) instead of two per image, and a copy found from one side
    of a pair is not matched again from the other (an image whose copy was found that way
    runs no fallback pass). Pairs found to be no copy are matched again from the other side,
    as a query of that image would: the query's side decides (a mirror is only tried until a
    copy is certain, a detail is seen from its whole differently). Almost every image has no
    copy; its fallback passes run only when its evidence reaches
    ARTSEARCH_FALLBACK_MIN_EVIDENCE, which keeps the scan's cost per image near one
    shortlist plus one verification pass.

    Resumable: a full scan is recorded as a `DuplicateScan`; killed half-way, the next full
    scan resumes it, checking only the images not checked since it started (each image's
    `duplicates_checked_at` is set as soon as its pairs are stored, and pairs are unique, so
    nothing is lost or repeated). `progress(done, total)` after each image.
    """
    outcome = ScanOutcome()
    qs = ArtworkImage.objects.filter(status=ArtworkImage.Status.INDEXED)
    scan: DuplicateScan | None = None
    if only_new:
        qs = qs.filter(duplicates_checked_at__isnull=True)
    else:
        scan = DuplicateScan.objects.filter(finished_at__isnull=True).order_by("-started_at").first()
        outcome.resumed = scan is not None
        if scan is None:
            scan = DuplicateScan.objects.create(started_at=timezone.now())
        qs = qs.filter(Q(duplicates_checked_at__isnull=True) | Q(duplicates_checked_at__lt=scan.started_at))
    images_scan(list(qs.order_by("id").values_list("pk", flat=True)), k=k, batch=batch, progress=progress,
                outcome=outcome)
    if scan is not None:
        DuplicateScan.objects.filter(pk=scan.pk).update(finished_at=timezone.now())
    return outcome


def images_scan(ids: list[int], *, k: int | None = None, batch: int | None = None,
                progress: Callable[[int, int], None] | None = None, outcome: ScanOutcome | None = None
                ) -> ScanOutcome:
    """Check these indexed images (in this order) for copies and record the pairs: the body of
    `duplicates_scan`, which says how."""
    outcome = ScanOutcome() if outcome is None else outcome
    pending = set(ids)
    # Copies found from their first image, kept for the second until it is scanned:
    # settled[second][first] = whether the match was conclusive (it settles the second's gates).
    settled: dict[int, dict[int, bool]] = {}
    size = batch or settings.ARTSEARCH_SCAN_BATCH
    conclusive = thresholds().N  # the matcher's conclusive_inliers (search.copies_find)
    k = k or settings.ARTSEARCH_SHORTLIST
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        ahead = shortlists_batch(chunk, k=k)
        for image in ArtworkImage.objects.filter(pk__in=chunk).defer("keypoints", "joint_embedding").order_by("id"):
            pending.discard(image.pk)
            try:
                found, matched = image_copies(image, k=k, ahead=ahead.get(image.pk),
                                              settled=settled.pop(image.pk, None))
            except (OSError, ImageError):
                outcome.failed += 1
                ArtworkImage.objects.filter(pk=image.pk).update(duplicates_checked_at=timezone.now())
            else:
                _record(image, found, "scan")
                outcome.scanned += 1
                outcome.pairs += len(found)
                for c in matched:
                    if c.image.pk in pending and c.verdict in _FOUND:
                        settled.setdefault(c.image.pk, {})[image.pk] = c.inliers >= conclusive
            if progress is not None:
                progress(outcome.scanned + outcome.failed, len(ids))
    return outcome

"""Duplicate scan over the collection: each stored image goes through the one decision path
(`search.copies_find`, the same passes and thresholds as a visitor's query) with its stored
vectors, and the duplicate/detail pairs it finds are recorded for staff review."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ml.images import ImageError, decode_image
from ml.rules import Verdict
from recommender import review
from recommender.models import ArtworkImage, DuplicateScan
from recommender.search import Candidate, QueryVectors, copies_find

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


def _rotator(rgb: np.ndarray) -> Callable[[], list[list[float]]]:
    def rotated() -> list[list[float]]:
        # Only worker and command processes scan; they may load the CNN (lazily, once).
        from recommender.pipeline import rotated_vectors

        return rotated_vectors(rgb)

    return rotated


def image_copies(image: ArtworkImage, *, k: int | None = None) -> list[Candidate]:
    """Duplicate/detail partners of one indexed image among the other artworks' images.

    Cost: one image decode plus `copies_find` (its fallback passes, the rotation retry's three
    CNN forward passes included, only when nothing is found and the evidence allows it)."""
    with image.file.open("rb") as fh:
        rgb = decode_image(fh.read(), max_pixels=settings.ARTSEARCH_MAX_PIXELS,
                           max_side=settings.ARTSEARCH_DECODE_MAX_SIDE)
    verified, _, _ = copies_find(rgb=rgb, vectors=stored_vectors(image), rotated=_rotator(rgb),
                                 exclude_image_id=image.pk, k=k)
    # Two images of one artwork are not a duplicate to review.
    return [c for c in verified if c.verdict in _FOUND and c.image.artwork_id != image.artwork_id]


def image_duplicates_check(image: ArtworkImage, *, k: int | None = None, source: str = "scan") -> list[Candidate]:
    """Find and record duplicate/detail partners of one indexed image; returns them.
    Idempotent: a pair is stored once (review.duplicate_pair_record updates it)."""
    found = image_copies(image, k=k)
    for c in found:
        review.duplicate_pair_record(
            first=image, second=c.image, verdict=str(c.verdict), cosine=c.cosine, inliers=c.inliers, source=source,
            evidence={"reason": c.decision.reason, "mirrored": bool(c.match and c.match.mirrored),
                      "coverage_query": c.match.coverage_query if c.match else None,
                      "coverage_candidate": c.match.coverage_candidate if c.match else None},
        )
    ArtworkImage.objects.filter(pk=image.pk).update(duplicates_checked_at=timezone.now())
    return found


def duplicates_scan(*, only_new: bool, k: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> ScanOutcome:
    """Check every indexed image (or only those never checked) for copies.

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
    total = qs.count()
    for image in qs.order_by("id").iterator(chunk_size=200):
        try:
            outcome.pairs += len(image_duplicates_check(image, k=k))
        except (OSError, ImageError):
            outcome.failed += 1
            ArtworkImage.objects.filter(pk=image.pk).update(duplicates_checked_at=timezone.now())
        else:
            outcome.scanned += 1
        if progress is not None:
            progress(outcome.scanned + outcome.failed, total)
    if scan is not None:
        DuplicateScan.objects.filter(pk=scan.pk).update(finished_at=timezone.now())
    return outcome

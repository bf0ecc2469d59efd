"""Duplicate scan over the collection: the image query's shortlist + rules, run for stored
images with their stored vectors (no CNN pass needed), recording candidate pairs."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from ml.images import ImageError, decode_image
from ml.keypoints import QueryMatcher
from ml.rules import Verdict
from recommender import services
from recommender.models import ArtworkImage
from recommender.search import Candidate, shortlist, thresholds, verify


@dataclass
class ScanOutcome:
    scanned: int = 0
    pairs: int = 0
    failed: int = 0


def image_duplicates_check(image: ArtworkImage, *, k: int = 100, source: str = "scan") -> list[Candidate]:
    """Find and record duplicate/detail partners of one indexed image; returns them."""
    with image.file.open("rb") as fh:
        rgb = decode_image(fh.read())
    rules = thresholds()
    matcher = QueryMatcher.from_image(rgb, conclusive_inliers=rules.N)
    regions = [list(v) for v in image.regions.values_list("embedding", flat=True)]
    items = shortlist(image.embedding, model_version=image.model_version, k=k, exclude_image_id=image.pk,
                      regions=regions)
    found = [c for c in verify(matcher, items, rules) if c.verdict in (Verdict.DUPLICATE, Verdict.DETAIL)]
    for c in found:
        if c.image.artwork_id == image.artwork_id:
            continue  # two images of one artwork are not a duplicate to review
        services.duplicate_pair_record(
            first=image, second=c.image, verdict=str(c.verdict), cosine=c.cosine, inliers=c.inliers, source=source,
            evidence={"reason": c.decision.reason, "mirrored": bool(c.match and c.match.mirrored),
                      "coverage_query": c.match.coverage_query if c.match else None,
                      "coverage_candidate": c.match.coverage_candidate if c.match else None},
        )
    ArtworkImage.objects.filter(pk=image.pk).update(duplicates_checked_at=timezone.now())
    return found


def duplicates_scan(*, only_new: bool, k: int = 100) -> ScanOutcome:
    qs = ArtworkImage.objects.filter(status=ArtworkImage.Status.INDEXED)
    if only_new:
        qs = qs.filter(duplicates_checked_at__isnull=True)
    outcome = ScanOutcome()
    for image in qs.order_by("id").iterator(chunk_size=200):
        try:
            outcome.pairs += len(image_duplicates_check(image, k=k))
        except (OSError, ImageError):
            outcome.failed += 1
            continue
        outcome.scanned += 1
    return outcome

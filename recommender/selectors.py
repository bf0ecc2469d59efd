"""Reads (HackSoft style): catalogue listing, facets, similar artworks, indexing progress."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet
from pgvector.django import CosineDistance

from recommender.models import Artwork, ArtworkImage, AuditLog, DuplicatePair, Upload

FACETS = ("form", "type", "school", "timeframe")


def artwork_list(*, q: str = "", filters: dict[str, str] | None = None) -> QuerySet[Artwork]:
    """Catalogue rows matching a title/author search and exact facet filters."""
    qs = Artwork.objects.select_related("artist").prefetch_related("images")
    if q:
        for word in q.split()[:8]:
            qs = qs.filter(Q(title__icontains=word) | Q(artist__name__icontains=word))
    for key, value in (filters or {}).items():
        if key in FACETS and value:
            qs = qs.filter(**{key: value})
    return qs.order_by("artist__name", "title", "id")


def facet_counts(qs: QuerySet[Artwork], *, limit: int = 30) -> dict[str, list[tuple[str, int]]]:
    return {
        f: [
            (row[f], row["n"])
            for row in qs.order_by().values(f).annotate(n=Count("id")).order_by("-n", f)[:limit]
            if row[f]
        ]
        for f in FACETS
    }


@dataclass
class SimilarItem:
    artwork: Artwork
    image: ArtworkImage
    score: float  # cosine similarity
    also: list[Artwork] = field(default_factory=list)  # the same work elsewhere in the collection

    @property
    def extra(self) -> str:
        return f"also appears as {', '.join(a.title for a in self.also[:3])}" if self.also else ""


def artwork_primary_image(artwork: Artwork) -> ArtworkImage | None:
    images = sorted(artwork.images.all(), key=lambda i: (i.status != ArtworkImage.Status.INDEXED, i.pk))
    return images[0] if images else None


def duplicate_groups(image_ids: Iterable[int]) -> dict[int, int]:
    """image id -> group root, from stored duplicate/detail pairs that staff did not reject.
    Pairs are read for the given images only (one query), grouped by union-find in memory."""
    ids = list(image_ids)
    pairs = (
        DuplicatePair.objects.filter(Q(image_a__in=ids) | Q(image_b__in=ids))
        .exclude(status=DuplicatePair.Status.REJECTED)
        .values_list("image_a_id", "image_b_id")
    )
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {i: find(i) for i in ids}


def similar_to_vector(vector: Sequence[float], *, k: int, exclude_image_id: int | None = None,
                      model_version: str | None = None) -> list[SimilarItem]:
    """Cosine nearest neighbours in SQL (HNSW); one entry per artwork and per duplicate group.
    Artworks staff marked as duplicates of another are never recommended."""
    qs = ArtworkImage.objects.filter(status=ArtworkImage.Status.INDEXED, artwork__duplicate_of__isnull=True)
    if model_version:
        # Vectors from another model version live in another space: never compare across.
        qs = qs.filter(model_version=model_version)
    if exclude_image_id is not None:
        qs = qs.exclude(pk=exclude_image_id)
    rows = list(
        qs.select_related("artwork", "artwork__artist")
        .defer("embedding", "keypoints")
        .annotate(distance=CosineDistance("embedding", list(vector)))
        .order_by("distance")[: k * 3]
    )
    ids = [img.pk for img in rows] + ([exclude_image_id] if exclude_image_id is not None else [])
    groups = duplicate_groups(ids)
    own_group = groups.get(exclude_image_id) if exclude_image_id is not None else None
    kept: dict[int, SimilarItem] = {}
    root_of_artwork: dict[int, int] = {}
    for img in rows:
        root = root_of_artwork.setdefault(img.artwork_id, groups[img.pk])
        if own_group is not None and root == own_group:
            continue  # a copy of the artwork itself is not a recommendation
        if root in kept:
            item = kept[root]
            if img.artwork_id != item.artwork.pk and all(a.pk != img.artwork_id for a in item.also):
                item.also.append(img.artwork)
            continue
        if len(kept) < k:
            kept[root] = SimilarItem(artwork=img.artwork, image=img, score=1.0 - float(img.distance))
    return list(kept.values())


def artwork_similar_list(*, artwork: Artwork, k: int = 12) -> list[SimilarItem]:
    """Artworks that look like this one (the artwork and its duplicates excluded); empty
    without an indexed image."""
    image = artwork.images.filter(status=ArtworkImage.Status.INDEXED).order_by("id").first()
    if image is None:
        return []
    items = similar_to_vector(image.embedding, k=k, exclude_image_id=image.pk, model_version=image.model_version)
    return [i for i in items if i.artwork.pk != artwork.pk]


def artwork_copies(*, artwork: Artwork) -> list[Artwork]:
    """Other artworks in the same duplicate group as this one (for "also appears as")."""
    image_ids = list(artwork.images.values_list("id", flat=True))
    if not image_ids:
        return []
    pairs = (
        DuplicatePair.objects.filter(Q(image_a__in=image_ids) | Q(image_b__in=image_ids))
        .exclude(status=DuplicatePair.Status.REJECTED)
        .values_list("image_a__artwork_id", "image_b__artwork_id")
    )
    other = {a for pair in pairs for a in pair} - {artwork.pk}
    return list(Artwork.objects.filter(pk__in=other).select_related("artist"))


@dataclass(frozen=True)
class IndexingProgress:
    total: int
    indexed: int
    pending: int
    failed: int

    @property
    def percent(self) -> int:
        return int(100 * self.indexed / self.total) if self.total else 100


def indexing_progress() -> IndexingProgress:
    counts = dict(ArtworkImage.objects.order_by().values_list("status").annotate(n=Count("id")))
    return IndexingProgress(
        total=sum(counts.values()),
        indexed=counts.get(ArtworkImage.Status.INDEXED, 0),
        pending=counts.get(ArtworkImage.Status.PENDING, 0),
        failed=counts.get(ArtworkImage.Status.FAILED, 0),
    )


# --------------------------------------------------------------------------- uploads and review
UPLOAD_STEPS = ["queued", "features", "keypoints", "duplicates", "done"]


def upload_state(upload: Upload) -> dict[str, object]:
    """What the live status page shows (and polls as JSON)."""
    return {
        "id": upload.pk,
        "stage": upload.stage,
        "stage_label": upload.get_stage_display(),
        "step": UPLOAD_STEPS.index(upload.stage) if upload.stage in UPLOAD_STEPS else -1,
        "steps": UPLOAD_STEPS,
        "error": upload.error,
        "decision": upload.decision,
        "matches": len(upload.matches or []),
        "artwork_id": upload.artwork_id,
    }


def upload_matches(upload: Upload) -> list[dict[str, object]]:
    ids = [m["artwork_id"] for m in upload.matches or []]
    arts = {a.pk: a for a in Artwork.objects.filter(pk__in=ids).select_related("artist").prefetch_related("images")}
    return [{**m, "artwork": arts[m["artwork_id"]]} for m in upload.matches or [] if m["artwork_id"] in arts]


def batch_progress(uploads: list[Upload]) -> dict[str, object]:
    total = len(uploads)
    finished = sum(u.stage in (Upload.Stage.DONE, Upload.Stage.FAILED) for u in uploads)
    return {
        "total": total,
        "finished": finished,
        "failed": sum(u.stage == Upload.Stage.FAILED for u in uploads),
        "warnings": sum(u.decision == Upload.Decision.PENDING for u in uploads),
        "percent": int(100 * finished / total) if total else 100,
    }


def review_queue(*, status: str = "candidate") -> QuerySet[DuplicatePair]:
    """Candidate pairs, most confident first (geometric evidence, then CNN similarity)."""
    return (
        DuplicatePair.objects.filter(status=status)
        .select_related("image_a__artwork__artist", "image_b__artwork__artist", "decided_by")
        .order_by("-inliers", "-cosine", "id")
    )


def audit_for(obj: object) -> QuerySet[AuditLog]:
    target = f"{obj._meta.model_name}:{obj.pk}"  # type: ignore[attr-defined]
    return AuditLog.objects.filter(target=target).select_related("actor")


def pair_evidence(pair: DuplicatePair) -> str | None:
    """The inlier keypoint picture for a pair (a PNG data URI), computed from the stored images."""
    from recommender.presentation import pair_picture

    return pair_picture(pair)

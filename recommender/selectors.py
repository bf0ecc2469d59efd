"""Reads (HackSoft style): catalogue listing, facets, similar artworks, indexing progress."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from django.db.models import Case, Count, Exists, OuterRef, Q, QuerySet, When
from pgvector.django import CosineDistance

from recommender import health
from recommender.models import Artwork, ArtworkImage, AuditLog, Caption, DuplicatePair, Upload
from recommender.pgsettings import planner_settings
from recommender.sweeper import upload_is_stuck

FACETS = ("form", "type", "school", "timeframe")


def _has_image() -> Exists:
    return Exists(ArtworkImage.objects.filter(artwork=OuterRef("pk")))


def artwork_list(*, q: str = "", filters: dict[str, str] | None = None, with_images: bool = False
                 ) -> QuerySet[Artwork]:
    """Catalogue rows matching a title/author search and exact facet filters, by artist and title;
    `with_images`: only artworks that have an image (a semi-join on the image table's artwork
    index, so its cost follows the images, not the 45,000 artworks). The page of 24 is a top-N
    sort of the matching rows: O(rows) to scan, O(24) to keep."""
    qs = Artwork.objects.select_related("artist").prefetch_related("images")
    if q:
        for word in q.split()[:8]:
            qs = qs.filter(Q(title__icontains=word) | Q(artist__name__icontains=word))
    for key, value in (filters or {}).items():
        if key in FACETS and value:
            qs = qs.filter(**{key: value})
    if with_images:
        qs = qs.filter(_has_image())
    return qs.order_by("artist__name", "title", "id")


@dataclass(frozen=True)
class ImageCoverage:
    """How many artworks have an image: the catalogue shows only those by default while they are
    fewer than half, so a visitor's first page is a gallery, not a wall of empty frames."""

    artworks: int
    with_image: int

    @property
    def images_by_default(self) -> bool:
        return 0 < self.with_image < self.artworks / 2


def image_coverage() -> ImageCoverage:
    """Two counts: artworks (a scan of 45,000 narrow rows, ~5 ms) and the distinct artworks of
    the images (the image table's artwork index)."""
    return ImageCoverage(
        artworks=Artwork.objects.count(),
        with_image=ArtworkImage.objects.order_by().values("artwork_id").distinct().count(),
    )


def facet_counts(qs: QuerySet[Artwork], *, limit: int = 30) -> dict[str, list[tuple[str, int]]]:
    """Values and counts of each facet over `qs` (the listing's own filters, the "with images"
    one included): one GROUP BY per facet, each a pass over the matching rows."""
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


class Groupable(Protocol):
    """A ranked hit that names its image and artwork and lists the other members of its group."""

    @property
    def image(self) -> ArtworkImage: ...
    @property
    def artwork(self) -> Artwork: ...
    @property
    def also(self) -> list[Artwork]: ...


G = TypeVar("G", bound=Groupable)


def collapse_groups(items: Sequence[G], *, exclude_group_of: int | None = None, limit: int | None = None
                    ) -> list[G]:
    """One entry per duplicate group, the best-ranked member (`items` come best first), the
    others' artworks listed in its `also`. Several images of one artwork count as one group (the
    group of the artwork's first image). `exclude_group_of`: an image id whose group is left out
    (the artwork a recommendation is for); `limit`: at most this many groups, later members of a
    kept group still listed in its `also`. One query for the groups (duplicate_groups)."""
    extra = [exclude_group_of] if exclude_group_of is not None else []
    groups = duplicate_groups([i.image.pk for i in items] + extra)
    own_group = groups.get(exclude_group_of) if exclude_group_of is not None else None
    root_of_artwork: dict[int, int] = {}
    kept: dict[int, G] = {}
    for item in items:
        root = root_of_artwork.setdefault(item.artwork.pk, groups[item.image.pk])
        if own_group is not None and root == own_group:
            continue
        if root in kept:
            first = kept[root]
            if item.artwork.pk != first.artwork.pk and all(a.pk != item.artwork.pk for a in first.also):
                first.also.append(item.artwork)
            continue
        if limit is None or len(kept) < limit:
            kept[root] = item
    return list(kept.values())


def similar_to_vector(vector: Sequence[float], *, k: int, exclude_image_id: int | None = None,
                      model_version: str | None = None, learned_version: str | None = None) -> list[SimilarItem]:
    """Cosine nearest neighbours in SQL (HNSW); one entry per artwork and per duplicate group.
    Artworks staff marked as duplicates of another are never recommended. `learned_version`: the
    vector is a learned-similarity vector of that projection, searched among the stored ones
    (`similar_embedding`); otherwise a CNN vector, among the CNN vectors of `model_version`."""
    qs = ArtworkImage.objects.filter(status=ArtworkImage.Status.INDEXED, artwork__duplicate_of__isnull=True)
    column = "embedding"
    # Vectors from another model version live in another space: never compare across.
    if learned_version:
        qs, column = qs.filter(similar_version=learned_version), "similar_embedding"
    elif model_version:
        qs = qs.filter(model_version=model_version)
    if exclude_image_id is not None:
        qs = qs.exclude(pk=exclude_image_id)
    # Iterative scan: the filters apply after the HNSW search, which would otherwise stop at
    # ef_search rows and cut the list short when many rows are filtered out.
    with planner_settings(hnsw__iterative_scan="relaxed_order"):
        rows = list(
            qs.select_related("artwork", "artwork__artist")
            .defer("embedding", "similar_embedding", "keypoints")
            .annotate(distance=CosineDistance(column, list(vector)))
            .order_by("distance")[: k * 3]
        )
    items = [SimilarItem(artwork=img.artwork, image=img, score=1.0 - float(img.distance)) for img in rows]
    # A copy of the artwork itself is not a recommendation.
    return collapse_groups(items, exclude_group_of=exclude_image_id, limit=k)


def artwork_similar_list(*, artwork: Artwork, k: int = 12) -> list[SimilarItem]:
    """Artworks that look like this one (the artwork and its duplicates excluded); empty
    without an indexed image. By the learned similarity (what kind of work, when, where, by whom:
    ml.similarity) when this image has its vector, which `train_similarity` stores for every image
    while a projection is installed (and `--remove` clears); by the CNN vectors' cosine otherwise.
    One HNSW search either way."""
    image = (artwork.images.filter(status=ArtworkImage.Status.INDEXED).order_by("id")
             .only("id", "embedding", "model_version", "similar_embedding", "similar_version").first())
    if image is None:
        return []
    if image.similar_embedding is not None and image.similar_version:
        items = similar_to_vector(image.similar_embedding, k=k, exclude_image_id=image.pk,
                                  learned_version=image.similar_version)
    else:
        items = similar_to_vector(image.embedding, k=k, exclude_image_id=image.pk,
                                  model_version=image.model_version)
    return [i for i in items if i.artwork.pk != artwork.pk]


@dataclass
class RelatedWorks:
    """Recommendations from what the catalogue says rather than from pixels, in labelled groups:
    `by_artist` (more works by the same artist) and `by_text` (nearest catalogue descriptions:
    subject, kind, school and period), with `text_source` saying which of the two ways made the
    latter ("captions": the caption embeddings; "metadata": the same type, school and period)."""

    by_artist: list[Artwork]
    by_text: list[Artwork]
    text_source: str

    def __bool__(self) -> bool:
        return bool(self.by_artist or self.by_text)


# Caption neighbours read before one per artwork is kept and those with an image are put first:
# within the nearest few dozen descriptions the subject and period barely change, and a gallery of
# pictures reads better than one of empty frames.
RELATED_DEPTH = 48


def _images_first(qs: QuerySet[Artwork]) -> QuerySet[Artwork]:
    return qs.annotate(has_image=_has_image()).order_by("-has_image", "title", "id")


def _caption_neighbours(artwork: Artwork, *, exclude: set[int], k: int) -> list[Artwork] | None:
    """Artworks whose captions are nearest to this artwork's catalogue caption (pgvector HNSW,
    cosine: one index search of RELATED_DEPTH rows, no encoder needed since the stored vector is
    the query); None when the artwork has no embedded caption."""
    own = (Caption.objects.filter(artwork=artwork, embedding__isnull=False)
           .order_by(Case(When(source=Caption.Source.CATALOGUE, then=0), default=1), "chunk")
           .values_list("embedding", "model_version").first())
    if own is None:
        return None
    vector, version = own
    qs = Caption.objects.filter(model_version=version).exclude(artwork=artwork)
    if artwork.artist_id:
        qs = qs.exclude(artwork__artist_id=artwork.artist_id)  # the artist's works have their own list
    # HNSW filters after the search: ef_search rows are read, then those of this artist dropped, so
    # read several times the depth (a few ms at 45,000 captions).
    with planner_settings(hnsw__ef_search=str(4 * RELATED_DEPTH)):
        rows = list(qs.annotate(distance=CosineDistance("embedding", vector))
                    .order_by("distance").values_list("artwork_id", flat=True)[:RELATED_DEPTH])
    ids = [a for a in dict.fromkeys(rows) if a not in exclude]  # nearest first, one per artwork
    arts = Artwork.objects.filter(pk__in=ids, duplicate_of__isnull=True).select_related("artist") \
        .prefetch_related("images").in_bulk()
    ordered = [arts[a] for a in ids if a in arts]
    # Stable: nearest first among those with an image, then nearest first among the others.
    ordered.sort(key=lambda a: not a.images.all())
    return ordered[:k]


def artwork_related_list(*, artwork: Artwork, k: int = 12) -> RelatedWorks:
    """Works related to this one by its artist and by its description; for every artwork, with or
    without an image. Cost: the artist's works (artist index, images first), one HNSW search over
    the caption embeddings, and one fetch of the 2k shown works with their images."""
    by_artist: list[Artwork] = []
    if artwork.artist_id:
        by_artist = list(_images_first(
            Artwork.objects.filter(artist_id=artwork.artist_id, duplicate_of__isnull=True).exclude(pk=artwork.pk)
        ).select_related("artist").prefetch_related("images")[:k])
    exclude = {artwork.pk, *(a.pk for a in by_artist)}
    by_text = _caption_neighbours(artwork, exclude=exclude, k=k)
    if by_text is not None:
        return RelatedWorks(by_artist=by_artist, by_text=by_text, text_source="captions")
    # No embedded caption yet (build_captions not run): the same kind of work from the same school
    # and period, by the indexed facet columns.
    same = {f: getattr(artwork, f) for f in ("type", "school", "timeframe") if getattr(artwork, f)}
    if not same:
        return RelatedWorks(by_artist=by_artist, by_text=[], text_source="metadata")
    qs = Artwork.objects.filter(**same, duplicate_of__isnull=True).exclude(pk__in=exclude)
    by_text = list(_images_first(qs).select_related("artist").prefetch_related("images")[:k])
    return RelatedWorks(by_artist=by_artist, by_text=by_text, text_source="metadata")


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
        # Queued for minutes: its task was probably lost (the sweeper resends it; so may the curator).
        "stuck": upload_is_stuck(upload),
        # Redis down: the upload is saved but no worker can hear of it until it is back.
        "queue_down": upload.stage == Upload.Stage.QUEUED and not health.check_redis().ok,
        "decision": upload.decision,
        "matches": len(upload.matches or []),
        "artwork_id": upload.artwork_id,
    }


def upload_matches(upload: Upload) -> list[dict[str, object]]:
    ids = [m["artwork_id"] for m in upload.matches or []]
    arts = {a.pk: a for a in Artwork.objects.filter(pk__in=ids).select_related("artist").prefetch_related("images")}
    return [{**m, "artwork": arts[m["artwork_id"]]} for m in upload.matches or [] if m["artwork_id"] in arts]


def batch_progress(uploads: list[Upload]) -> dict[str, object]:
    """What the batch page shows and polls: the counts, and each upload's stage (so the page
    updates its list in place instead of reloading)."""
    total = len(uploads)
    finished = sum(u.stage in (Upload.Stage.DONE, Upload.Stage.FAILED) for u in uploads)
    return {
        "total": total,
        "finished": finished,
        "failed": sum(u.stage == Upload.Stage.FAILED for u in uploads),
        "warnings": sum(u.decision == Upload.Decision.PENDING for u in uploads),
        "percent": int(100 * finished / total) if total else 100,
        "items": [{"id": u.pk, "stage": u.stage, "stage_label": u.get_stage_display(),
                   "possible_duplicate": u.decision == Upload.Decision.PENDING} for u in uploads],
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

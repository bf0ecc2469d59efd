"""Reads (HackSoft style): catalogue listing, facets, similar artworks, indexing progress."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from pgvector.django import CosineDistance

from recommender.models import Artwork, ArtworkImage

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
        f: [(row[f], row["n"]) for row in qs.order_by().values(f).annotate(n=Count("id")).order_by("-n", f)[:limit] if row[f]]
        for f in FACETS
    }


@dataclass(frozen=True)
class SimilarItem:
    artwork: Artwork
    image: ArtworkImage
    score: float  # cosine similarity


def artwork_primary_image(artwork: Artwork) -> ArtworkImage | None:
    return artwork.images.filter(status=ArtworkImage.Status.INDEXED).order_by("id").first() or artwork.images.order_by("id").first()


def similar_to_vector(vector: list[float] | object, *, k: int, exclude_artwork_id: int | None = None,
                      model_version: str | None = None) -> list[SimilarItem]:
    """Cosine nearest neighbours in SQL (HNSW), one entry per artwork."""
    qs = ArtworkImage.objects.filter(status=ArtworkImage.Status.INDEXED, embedding__isnull=False)
    if model_version:
        # Vectors from another model version live in another space: never compare across.
        qs = qs.filter(model_version=model_version)
    if exclude_artwork_id is not None:
        qs = qs.exclude(artwork_id=exclude_artwork_id)
    rows = (
        qs.select_related("artwork", "artwork__artist")
        .annotate(distance=CosineDistance("embedding", vector))
        .order_by("distance")[: k * 2]
    )
    seen: set[int] = set()
    out: list[SimilarItem] = []
    for img in rows:
        if img.artwork_id in seen:
            continue
        seen.add(img.artwork_id)
        out.append(SimilarItem(artwork=img.artwork, image=img, score=1.0 - float(img.distance)))
        if len(out) == k:
            break
    return out


def artwork_similar_list(*, artwork: Artwork, k: int = 12) -> list[SimilarItem]:
    """Artworks that look like this one (the artwork itself excluded); empty without an indexed image."""
    image = artwork.images.filter(status=ArtworkImage.Status.INDEXED, embedding__isnull=False).order_by("id").first()
    if image is None:
        return []
    return similar_to_vector(image.embedding, k=k, exclude_artwork_id=artwork.pk, model_version=image.model_version)


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

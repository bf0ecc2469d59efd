"""Every call the scale benchmark makes into the product, in one place: when a signature
changes, this is the file to adapt. Each function measures the product's own code path, end to
end, with nothing of the benchmark's in between."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.db.models import Q

from ml.rules import Verdict
from recommender import search, selectors
from recommender.catalogue import images_import_folder
from recommender.duplicates import duplicates_scan
from recommender.models import Artwork, ArtworkImage, DuplicatePair, ImageRegion

FOUND = (str(Verdict.DUPLICATE), str(Verdict.DETAIL))
# The tables the benchmark fills: artworks, images (global vector, keypoints), regions.
ARTWORK, IMAGE, REGION = Artwork, ArtworkImage, ImageRegion
VECTOR_FIELD = "embedding"  # the vector column of IMAGE and REGION that the shortlist searches


def import_images(folder: Path, manifest: Path | None) -> None:
    """The product's importer (one artwork per image, or the manifest's catalogue rows)."""
    images_import_folder(folder=folder, manifest=manifest)


def index_images(ids: Sequence[int]) -> None:
    """In-process indexing (CNN vector, regions, keypoints), as a `gpu` worker does it."""
    from recommender.pipeline import image_index_batch

    image_index_batch(list(ids), captions=False)  # captions play no part in image search


def query_space(vector: Sequence[float]) -> np.ndarray:
    """A query vector in the space the IMAGE vectors are stored in, for the exact scan the
    shortlist is compared with (the identity while vectors are stored as extracted)."""
    return np.asarray(vector, dtype=np.float32)


class CachedEmbedder:
    """The product's in-process embedder (recommender.pipeline.query_embedding), each image's
    result computed once: the same queries are asked at every N without repeating their CNN
    passes, and a query is charged the CNN seconds measured when its result was computed."""

    def __init__(self) -> None:
        self._cache: dict[tuple[bytes, bool], tuple[dict[str, Any], float]] = {}
        self.charged = 0.0  # CNN seconds of the results handed out since reset()
        self.spent = 0.0  # wall seconds spent inside __call__ since reset()

    def __call__(self, data: bytes, rotations: bool = False) -> dict[str, Any]:
        from recommender.pipeline import query_embedding

        t = time.perf_counter()
        key = (hashlib.sha1(data).digest(), rotations)
        if key not in self._cache:
            t0 = time.perf_counter()
            out = query_embedding(data, rotations)
            self._cache[key] = (out, time.perf_counter() - t0)
        out, cost = self._cache[key]
        self.charged += cost
        self.spent += time.perf_counter() - t
        return out

    def reset(self) -> None:
        self.charged = self.spent = 0.0


def shortlist_ids(vector: Sequence[float], *, model_version: str, k: int,
                  regions: Sequence[Sequence[float]] = ()) -> list[int]:
    """Image ids of the product's shortlist (global HNSW part only when `regions` is empty)."""
    items = search.shortlist(vector, model_version=model_version, k=k, regions=[list(r) for r in regions])
    return [image.pk for image, _ in items]


@dataclass
class QueryAnswer:
    verdict: str
    found: list[int] = field(default_factory=list)  # artwork ids called duplicate/detail, best first
    seconds: float = 0.0  # end to end, the CNN included (see CachedEmbedder)
    cnn_seconds: float = 0.0  # of which the CNN passes


def image_query(data: bytes, embed: CachedEmbedder) -> QueryAnswer:
    """A visitor's image query, end to end (search.image_query)."""
    embed.reset()
    t = time.perf_counter()
    res = search.image_query(data=data, embed=embed)
    seconds = time.perf_counter() - t - embed.spent + embed.charged
    found = [c.artwork.pk for c in res.candidates if str(c.verdict) in FOUND]
    return QueryAnswer(verdict=str(res.verdict), found=found, seconds=seconds, cnn_seconds=embed.charged)


def similar(artwork: Artwork) -> int:
    """Similar artworks of an artwork page; returns how many."""
    return len(selectors.artwork_similar_list(artwork=artwork))


def scan_new(image_ids: Sequence[int]) -> tuple[int, int, float]:
    """`find_duplicates --new` after these images arrive: they are made unchecked (their pairs
    forgotten), then the product's incremental scan runs. Returns (scanned, pairs, seconds of
    the scan alone)."""
    DuplicatePair.objects.filter(Q(image_a__in=image_ids) | Q(image_b__in=image_ids)).delete()
    ArtworkImage.objects.filter(pk__in=image_ids).update(duplicates_checked_at=None)
    t = time.perf_counter()
    outcome = duplicates_scan(only_new=True)
    return outcome.scanned, outcome.pairs, time.perf_counter() - t

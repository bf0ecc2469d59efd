"""The learned similarity on the worker side: its model file, training it on the collection, and the
projected vectors stored per image (`ArtworkImage.similar_embedding`) that the artwork page's
"similar artworks" searches (recommender.selectors.artwork_similar_list).

Imports torch through ml.similarity, so only management commands and the indexing pipeline use it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db.models import Count, Q

from ml.modelfiles import SIMILARITY
from recommender.modelfiles import InstalledModel, model_path, projections_store
from recommender.models import SIMILAR_DIM, ArtworkImage

if TYPE_CHECKING:
    from ml.similarity import SimilarityConfig, SimilarityProjection

logger = logging.getLogger(__name__)

FILL_BATCH = 2000  # images read, projected and written per statement


def similarity_path() -> Path:
    return model_path(SIMILARITY)


def _load(path: Path | None) -> SimilarityProjection | None:
    from ml.similarity import SimilarityProjection

    return SimilarityProjection.load(path) if path is not None else None


_installed: InstalledModel[SimilarityProjection | None] = InstalledModel(SIMILARITY, _load)


def similarity_projection() -> SimilarityProjection | None:
    """The installed projection (loaded again when its file changes), None without one."""
    return _installed.get()


def similarity_train(*, config: SimilarityConfig | None = None) -> tuple[SimilarityProjection, dict[str, Any]]:
    """Train the projection on every indexed image of the most common model version and its
    artwork's catalogue labels, install it (atomically) and store every image's projected vector.
    Raises ValueError with too few labelled images."""
    from ml.similarity import LABELS, SimilarityConfig, train_similarity

    cfg = config or SimilarityConfig()
    if cfg.out_dim != SIMILAR_DIM:
        raise ValueError(f"the stored similar vectors have {SIMILAR_DIM} dimensions; this configuration makes "
                         f"{cfg.out_dim}")
    indexed = ArtworkImage.objects.filter(status=ArtworkImage.Status.INDEXED, embedding__isnull=False)
    counts = dict(indexed.order_by().values_list("model_version").annotate(n=Count("id")))
    if not counts:
        raise ValueError("no indexed images: run `index` first")
    version = max(counts, key=lambda v: counts[v])
    rows = list(indexed.filter(model_version=version).select_related("artwork").order_by("id")
                .values_list("embedding", "artwork__form", "artwork__type", "artwork__school",
                             "artwork__timeframe", "artwork__artist_id"))
    if len(rows) < 20:
        raise ValueError(f"only {len(rows)} indexed images of {version}: need at least 20 to learn from")
    vectors = np.asarray([r[0] for r in rows], dtype=np.float32)
    labels = {name: [r[i + 1] or None for r in rows] for i, name in enumerate(LABELS)}
    model = train_similarity(vectors, labels, cfg, input_version=version)
    model.save(similarity_path())
    filled = similar_vectors_fill()
    report = {**model.report, "version": model.version, "input_version": version, "filled": filled,
              "other_versions": {v: n for v, n in counts.items() if v != version}}
    return model, report


def similar_vectors_fill(image_ids: Sequence[int] | None = None, *,
                         progress: Callable[[int], None] | None = None) -> int:
    """Store the installed projection's vector of these images (every image with None), and clear
    it where it cannot be made: no projection, or the image's vector is from another model
    version than the projection's input (those keep the CNN similarity until a projection is
    trained on their version). Returns how many images got a vector. Cost: O(images), a batch of
    FILL_BATCH rows per read, small matrix product and bulk update; keyset-paged by id."""
    model = similarity_projection()
    qs = ArtworkImage.objects.order_by("id")
    if image_ids is not None:
        qs = qs.filter(pk__in=list(image_ids))
    if model is None or model.dim != SIMILAR_DIM:
        if model is not None:
            logger.warning("similarity projection makes %d-d vectors, the column holds %d: not used",
                           model.dim, SIMILAR_DIM)
        qs.exclude(similar_version="").update(similar_embedding=None, similar_version="")
        return 0
    usable = Q(status=ArtworkImage.Status.INDEXED, embedding__isnull=False, model_version=model.input_version)
    qs.exclude(usable).exclude(similar_version="").update(similar_embedding=None, similar_version="")
    todo = qs.filter(usable)
    return projections_store(todo, model.project, field="similar_embedding", version_field="similar_version",
                             version=model.version, batch=FILL_BATCH, progress=progress)

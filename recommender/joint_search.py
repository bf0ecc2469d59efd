"""Embedding-space retrieval: a sentence vector projected into the joint image/text space
(ml.joint) and matched against projected image vectors in pgvector, so a sentence also
finds images that have no caption."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from django.db import connection

from ml.modelfiles import JOINT
from recommender.modelfiles import InstalledModel, projections_store
from recommender.models import JOINT_DIM, Artwork, ArtworkImage, Caption
from recommender.pgsettings import planner_settings

if TYPE_CHECKING:
    from ml.joint import JointProjection

logger = logging.getLogger(__name__)


def _projection_for(path: Path | None) -> JointProjection | None:
    from ml.joint import JointProjection

    return JointProjection.load(path) if path is not None else None


# The trained projection (`train_joint`), None until one is trained.
projection: InstalledModel[JointProjection | None] = InstalledModel(JOINT, _projection_for)


# Caption sources written by people; `machine` captions (predicted labels, generated title) are not.
HUMAN_SOURCES = tuple(s for s in Caption.Source.values if s != Caption.Source.MACHINE)
# Text written about the work itself. Every artwork also has a `catalogue` caption, but for an image
# import or an upload it is only the sentence made from its title (a file name, perhaps) and fields.
WRITTEN_SOURCES = (Caption.Source.CURATOR, Caption.Source.COMMENTARY)


FILL_BATCH = 500


def joint_vectors_fill(image_ids: Sequence[int] | None = None) -> int:
    """Store the installed projection's joint vector of these indexed images (every one with None), so
    that a sentence's own vector ranks them (text_search's joint list); returns how many. A projection
    that does not map into the sentence space (`joint_embedding`'s JOINT_DIM, text side the identity)
    is not used: the images keep no joint vector until `train_joint` makes one that does. Cost:
    O(images), FILL_BATCH rows per read, a small matrix product and a bulk update; keyset-paged."""

    model = projection.get()
    qs = ArtworkImage.objects.order_by("id")
    if image_ids is not None:
        qs = qs.filter(pk__in=list(image_ids))
    if model is None or not model.config.text_frozen or model.dim != JOINT_DIM:
        if model is not None:
            logger.warning("joint projection (%d-d, text side %s) is not in the sentence space: not used",
                           model.dim, "frozen" if model.config.text_frozen else "learned")
        qs.exclude(joint_version="").update(joint_embedding=None, joint_version="")
        return 0
    todo = qs.filter(status=ArtworkImage.Status.INDEXED, embedding__isnull=False)
    return projections_store(todo, model.project_image, field="joint_embedding", version_field="joint_version",
                             version=model.version, batch=FILL_BATCH)


def joint_ranks_or_none(depth: int = 100, *, uncaptioned_only: bool = False
                        ) -> Callable[[Sequence[float]], list[int]] | None:
    """A callable ranking images by the joint-space similarity of a sentence vector, or None
    without a trained projection.

    `uncaptioned_only` keeps the images without human text, the joint list's purpose in the fused
    query: artworks that are not catalogue rows (plain image imports, curator uploads) and have no
    curator or commentary caption. Their only other caption is the machine one; a catalogue row, or
    an upload with its curator's text, is reached by the caption and word lists already, and fusing
    the joint list over those only displaces their hits (README, joint image/text space)."""
    proj = projection.get()
    if proj is None:
        return None

    def ranks(text_vec: Sequence[float]) -> list[int]:
        import numpy as np

        q = proj.project_text(np.asarray([text_vec], dtype=np.float32))[0]
        lit = "[" + ",".join(f"{float(x):.6g}" for x in q) + "]"
        if uncaptioned_only:
            # Exact scan over the (few) images without human text: HNSW with this filter applied after
            # the index scan would return only the uncaptioned ones among its ef_search candidates.
            sql = """WITH cand AS MATERIALIZED (
                         SELECT i.artwork_id, i.joint_embedding FROM recommender_artworkimage i
                         JOIN recommender_artwork a ON a.id = i.artwork_id
                         WHERE i.joint_embedding IS NOT NULL AND a.duplicate_of_id IS NULL AND a.source <> %s
                               AND NOT EXISTS (SELECT 1 FROM recommender_caption c
                                               WHERE c.artwork_id = i.artwork_id AND c.source = ANY(%s)))
                     SELECT artwork_id FROM cand ORDER BY joint_embedding <=> %s::vector LIMIT %s"""
            params: list[object] = [Artwork.Source.CATALOGUE, list(WRITTEN_SOURCES), lit, depth]
        else:
            sql = """SELECT i.artwork_id FROM recommender_artworkimage i
                     JOIN recommender_artwork a ON a.id = i.artwork_id
                     WHERE i.joint_embedding IS NOT NULL AND a.duplicate_of_id IS NULL
                     ORDER BY i.joint_embedding <=> %s::vector LIMIT %s"""
            params = [lit, depth]
        # Iterative index scan: the join filter (hidden duplicates) and dead index entries left by
        # re-projection would otherwise cut the HNSW scan's ef_search candidates below `depth`.
        with planner_settings(hnsw__iterative_scan="relaxed_order"), connection.cursor() as cur:
            cur.execute(sql, params)
            seen: dict[int, None] = {}
            for (art,) in cur.fetchall():
                seen.setdefault(art, None)
            return list(seen)

    return ranks

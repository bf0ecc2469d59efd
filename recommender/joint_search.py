"""Embedding-space retrieval: a sentence vector projected into the joint image/text space
(ml.joint) and matched against projected image vectors in pgvector, so a sentence also
finds images that have no caption."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.db import connection

JOINT_FILE = "joint.pt"


@lru_cache(maxsize=1)
def _projection(path: str, mtime: float) -> object:
    from ml.joint import JointProjection

    return JointProjection.load(path)


def joint_ranks_or_none(depth: int = 100) -> Callable[[Sequence[float]], list[int]] | None:
    path = Path(settings.MODEL_DIR) / JOINT_FILE
    if not path.exists():
        return None
    proj = _projection(str(path), path.stat().st_mtime)

    def ranks(text_vec: Sequence[float]) -> list[int]:
        import numpy as np

        q = proj.project_text(np.asarray([text_vec], dtype=np.float32))[0]  # type: ignore[attr-defined]
        lit = "[" + ",".join(f"{float(x):.6g}" for x in q) + "]"
        with connection.cursor() as cur:
            cur.execute(
                """SELECT i.artwork_id FROM recommender_artworkimage i
                   JOIN recommender_artwork a ON a.id = i.artwork_id
                   WHERE i.joint_embedding IS NOT NULL AND a.duplicate_of_id IS NULL
                   ORDER BY i.joint_embedding <=> %s::vector LIMIT %s""",
                [lit, depth],
            )
            seen: dict[int, None] = {}
            for (art,) in cur.fetchall():
                seen.setdefault(art, None)
            return list(seen)

    return ranks

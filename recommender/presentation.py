"""Pictures for the query results page: the query, its CAM heatmap and the inlier keypoint
matches for the candidates called duplicate or detail. cv2 only (no torch)."""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np

from ml.images import ImageError, decode_image
from ml.rules import Verdict
from recommender.search import ImageQueryResult, png_data_uri

logger = logging.getLogger(__name__)
MAX_EVIDENCE = 3


def _thumbnail_uri(rgb: np.ndarray, max_side: int = 480) -> str:
    scale = min(1.0, max_side / max(rgb.shape[:2]))
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    from ml.visualize import png_bytes

    return png_data_uri(png_bytes(small))


def query_pictures(result: ImageQueryResult) -> dict[str, Any]:
    """Context for the template: `query_uri`, `heatmap_uri`, and `evidence` {candidate index: uri}."""
    from ml.visualize import draw_matches, heatmap_overlay

    ctx: dict[str, Any] = {"query_uri": _thumbnail_uri(result.query_rgb), "heatmap_uri": None, "evidence": {}}
    if result.cam is not None:
        ctx["heatmap_uri"] = png_data_uri(heatmap_overlay(result.query_rgb, result.cam))
    shown = 0
    for idx, cand in enumerate(result.candidates):
        if shown >= MAX_EVIDENCE or cand.verdict not in (Verdict.DUPLICATE, Verdict.DETAIL) or cand.match is None:
            continue
        try:
            with cand.image.file.open("rb") as fh:
                cand_rgb = decode_image(fh.read())
        except (OSError, ImageError):
            logger.warning("cannot read image %s for the evidence picture", cand.image.pk)
            continue
        ctx["evidence"][idx] = png_data_uri(draw_matches(result.query_rgb, cand_rgb, cand.match))
        shown += 1
    for idx, cand in enumerate(result.candidates):
        cand.evidence_uri = ctx["evidence"].get(idx)  # type: ignore[attr-defined]
    return ctx


def pair_picture(pair: Any) -> str | None:
    """Inlier matches between the two images of a duplicate pair (PNG data URI), or None."""
    try:
        with pair.image_a.file.open("rb") as fh:
            a = decode_image(fh.read())
        with pair.image_b.file.open("rb") as fh:
            b = decode_image(fh.read())
    except (OSError, ImageError):
        return None
    from ml.keypoints import QueryMatcher, orb_keypoints
    from ml.visualize import draw_matches

    match = QueryMatcher.from_image(a).match(orb_keypoints(b))
    return png_data_uri(draw_matches(a, b, match)) if match.inliers else None

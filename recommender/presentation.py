"""Pictures for the query results page: the query, its CAM heatmap and the inlier keypoint
matches for the candidates called duplicate or detail. cv2 only (no torch)."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ml.images import ImageError, decode_image
from ml.rules import Verdict
from recommender.models import Artwork, DuplicatePair
from recommender.search import Candidate, ImageQueryResult, thresholds

logger = logging.getLogger(__name__)
MAX_EVIDENCE = 3


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


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


def pair_picture(pair: DuplicatePair) -> str | None:
    """Inlier matches between the two images of a duplicate pair (PNG data URI), or None.
    Decodes both stored images and runs ORB + RANSAC (tens of ms): called by the review view
    for the one pair on the page."""
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


# --------------------------------------------------------------------------- verdicts in words
# What a visitor reads for each verdict; the rule engine's own words stay under "Why?".
VERDICT_LABELS = {
    Verdict.DUPLICATE: "Copy",
    Verdict.DETAIL: "Detail",
    Verdict.SIMILAR: "Looks similar",
    Verdict.UNRELATED: "Not alike",
}
# Look-alikes shown as a gallery below the headline.
GALLERY_SIZE = 24


def verdict_label(verdict: Verdict | str) -> str:
    return VERDICT_LABELS.get(Verdict(verdict), str(verdict))


def _is_part_of_query(c: Candidate) -> bool:
    """A detail verdict either way round: the upload shows part of the candidate (the usual
    case), or the candidate is a small part of the upload (a whole/detail pair)."""
    return bool(c.match) and c.match.coverage_candidate >= thresholds().detail_coverage  # type: ignore[union-attr]


@dataclass
class Headline:
    """The answer in one sentence: `lead` + the artwork's title (linked) + `tail`."""

    verdict: str
    lead: str
    artwork: Artwork | None = None
    candidate: Candidate | None = None
    tail: str = ""
    note: str = ""
    also: list[Artwork] = field(default_factory=list)


def result_headline(result: ImageQueryResult) -> Headline:
    """"This is a copy of …", "This is a detail of …", "Looks similar", "Nothing in the collection
    looks like this": the query's verdict from its best candidate, in plain words."""
    best = result.candidates[0] if result.candidates else None
    verdict = Verdict(result.verdict)
    if best is None or verdict == Verdict.UNRELATED:
        note = ("The collection has no indexed images yet." if best is None else
                "No artwork in the collection is a copy or a detail of your picture, and none looks much like it.")
        return Headline(verdict=str(Verdict.UNRELATED), lead="Nothing in the collection looks like this", note=note)
    if verdict == Verdict.DUPLICATE:
        mirrored = bool(best.match and best.match.mirrored)
        return Headline(verdict=str(verdict), lead="This is a copy of", artwork=best.artwork, candidate=best,
                        tail=" (mirrored)" if mirrored else "", also=best.also,
                        note="The same picture, even if cropped, recoloured, framed or photographed.")
    if verdict == Verdict.DETAIL:
        if _is_part_of_query(best):
            return Headline(verdict=str(verdict), lead="Your picture contains", artwork=best.artwork,
                            candidate=best, tail=", a detail of it", also=best.also,
                            note="The artwork below is a part of your picture.")
        return Headline(verdict=str(verdict), lead="This is a detail of", artwork=best.artwork, candidate=best,
                        also=best.also, note="Your picture shows a part of this artwork.")
    return Headline(verdict=str(Verdict.SIMILAR), lead="Looks similar",
                    note="This artwork is not in the collection, but these works look like it.")


def result_gallery(result: ImageQueryResult, headline: Headline) -> list[Candidate]:
    """The look-alikes under the headline: every candidate that is not unrelated, the one the
    headline names left out, at most GALLERY_SIZE."""
    shown = [c for c in result.candidates if c.verdict != Verdict.UNRELATED and c is not headline.candidate]
    return shown[:GALLERY_SIZE]

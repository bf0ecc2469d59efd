"""The image-search answer in plain words, from the rules' real decisions on real demo images
(the worker's own query path is covered by test_image_query; here the decisions are made by
ml.rules from given scores, so each wording is reached on purpose)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.template.loader import render_to_string

from ml.keypoints import MatchResult, QueryMatcher
from ml.rules import overall_verdict
from recommender import presentation
from recommender.catalogue import images_import_folder
from recommender.models import ArtworkImage
from recommender.search import Candidate, ImageQueryResult, thresholds
from tests.recommender.helpers import demo_subset

pytestmark = pytest.mark.django_db


@pytest.fixture
def images(tmp_path: Path) -> list[ArtworkImage]:
    manifest = demo_subset(tmp_path / "demo", 4, start=46)
    images_import_folder(folder=tmp_path / "demo", manifest=manifest)
    return list(ArtworkImage.objects.select_related("artwork__artist").order_by("id"))


def _result(images: list[ArtworkImage], scores: list[tuple[float, int, float]]) -> ImageQueryResult:
    """One candidate per (cosine, inliers, coverage of the candidate) against the first image."""
    rules = thresholds()
    rgb = np.zeros((64, 64, 3), np.uint8)
    cands = []
    for img, (cos, inliers, cov_cand) in zip(images, scores, strict=False):
        match = MatchResult(inliers, inliers, coverage_query=0.9, coverage_candidate=cov_cand,
                            query_size=(64, 64), candidate_size=(img.width, img.height))
        decision = rules.decide(cosine=cos, query_keypoints=500, candidate_keypoints=500, match=match)
        cands.append(Candidate(image=img, cosine=cos, decision=decision, match=match))
    return ImageQueryResult(verdict=overall_verdict(c.decision for c in cands), candidates=cands,
                            timings={"total": 0.1}, query_rgb=rgb, matcher=QueryMatcher.from_image(rgb))


def _page(result: ImageQueryResult) -> str:
    headline = presentation.result_headline(result)
    return render_to_string("recommender/search_results.html", {
        "result": result, "headline": headline, "gallery": presentation.result_gallery(result, headline),
        "query_uri": "data:,", "heatmap_uri": "data:,"})


def test_each_verdict_reads_in_plain_words(images: list[ArtworkImage]) -> None:
    copy = _result(images, [(0.95, 120, 0.9), (0.7, 0, 0.0), (0.2, 0, 0.0)])
    h = presentation.result_headline(copy)
    assert (h.lead, h.artwork) == ("This is a copy of", images[0].artwork)
    html = _page(copy)
    assert f"This is a copy of <a href=\"/artworks/{images[0].artwork_id}/\">" in html
    # The look-alikes: a gallery of cards with the verdict as a label, the headline's artwork and
    # the unrelated one left out; the rule engine's words only under "Why?".
    assert [c.image for c in presentation.result_gallery(copy, h)] == [images[1]]
    gallery, why = html.split('<details class="why" id="why">')
    assert 'class="card"' in gallery and "Looks similar" in gallery and "inliers" not in gallery
    assert "<summary>Why?</summary>" in why and "0.950" in why and "120" in why
    assert copy.candidates[0].decision.reason in why.replace("&gt;", ">").replace("&lt;", "<").replace("&#x27;", "'")

    detail = _result(images, [(0.6, 40, 0.2)])
    assert presentation.result_headline(detail).lead == "This is a detail of"
    whole = _result(images, [(0.6, 40, 0.9)])
    whole.candidates[0].match = MatchResult(40, 40, coverage_query=0.1, coverage_candidate=0.9)
    whole.candidates[0].decision = thresholds().decide(cosine=0.6, query_keypoints=500, candidate_keypoints=500,
                                                       match=whole.candidates[0].match)
    whole.verdict = overall_verdict([whole.candidates[0].decision])
    assert presentation.result_headline(whole).lead == "Your picture contains"

    similar = _result(images, [(0.8, 0, 0.0), (0.6, 0, 0.0)])
    h = presentation.result_headline(similar)
    assert (h.lead, h.artwork) == ("Looks similar", None)
    assert len(presentation.result_gallery(similar, h)) == 2
    nothing = _result(images, [(0.05, 0, 0.0)])
    assert presentation.result_headline(nothing).lead == "Nothing in the collection looks like this"
    assert 'id="lookalikes"' not in _page(nothing)

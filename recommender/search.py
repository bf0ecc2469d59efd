"""Image query, top to bottom: decode → embedding (worker) → cosine shortlist in SQL →
ORB/FLANN verification of the candidates the rules need → verdicts → one entry per
duplicate group. Runs in the web process: no torch here (the embedding comes from a
`query` worker, or from an in-process callable for the CLI and evaluation)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from pgvector import Vector
from pgvector.django import CosineDistance

from ml.images import decode_image
from ml.keypoints import Keypoints, MatchResult, QueryMatcher
from ml.rules import Decision, Thresholds, Verdict, overall_verdict
from recommender.models import Artwork, ArtworkImage
from recommender.pgsettings import planner_settings
from recommender.selectors import collapse_groups

# (image bytes, rotations) -> vectors; see recommender.pipeline.query_embedding
Embedder = Callable[[bytes, bool], dict[str, Any]]


@lru_cache(maxsize=1)
def _thresholds_cached(items: tuple[tuple[str, Any], ...]) -> Thresholds:
    return Thresholds.from_mapping(dict(items))


def thresholds() -> Thresholds:
    """The rules from settings (validated once; a bad setting fails loudly)."""
    return _thresholds_cached(tuple(sorted(settings.ARTSEARCH_THRESHOLDS.items())))


@dataclass
class Candidate:
    image: ArtworkImage
    cosine: float
    decision: Decision
    match: MatchResult | None = None
    also: list[Artwork] = field(default_factory=list)  # other members of its duplicate group

    @property
    def artwork(self) -> Artwork:
        return self.image.artwork

    @property
    def verdict(self) -> Verdict:
        return self.decision.verdict

    @property
    def inliers(self) -> int:
        return self.match.inliers if self.match else 0

    def as_json(self) -> dict[str, Any]:
        art = self.artwork
        return {
            "artwork_id": art.pk,
            "title": art.title,
            "author": art.author_display,
            "url": art.url,
            "image_id": self.image.pk,
            "source_name": self.image.source_name,
            "cosine": round(self.cosine, 4),
            "inliers": self.inliers,
            "mirrored": bool(self.match and self.match.mirrored),
            "verdict": str(self.verdict),
            "reason": self.decision.reason,
            "also_appears_as": [{"artwork_id": a.pk, "title": a.title} for a in self.also],
        }


@dataclass
class ImageQueryResult:
    verdict: Verdict
    candidates: list[Candidate]
    timings: dict[str, float]
    query_rgb: np.ndarray
    matcher: QueryMatcher
    cam: np.ndarray | None = None
    predictions: dict[str, list[list[Any]]] = field(default_factory=dict)
    evidence: float = 0.0  # the best global or regional cosine of the shortlist (copy_evidence)

    def as_json(self, *, limit: int = 20) -> dict[str, Any]:
        return {
            "verdict": str(self.verdict),
            "results": [c.as_json() for c in self.candidates[:limit]],
            "timings_ms": {k: round(v * 1000, 1) for k, v in self.timings.items()},
            "predictions": self.predictions,
            "evidence": round(self.evidence, 4),
        }


# Per query vector and list, how many nearest rows each HNSW search returns.
REGION_DEPTH = 20


@contextmanager
def hnsw_scans(ef_search: int, *, filtered: bool = False) -> Iterator[None]:
    """Nearest-neighbour statements inside use the HNSW indexes, returning up to `ef_search` rows.

    On a small collection the planner prefers a sequential scan, which reads every stored vector
    out of line (TOAST) and costs ~10x an index scan here. An HNSW scan returns at most
    ef_search rows, so a top-100 needs ef_search >= 100. `filtered`: the statement filters the
    index's rows (model version, hidden duplicates), so pgvector's iterative scan goes on
    past the first ef_search candidates until k rows pass the filter (relaxed order: the
    caller sorts). The previous values come back afterwards."""
    extra = {"hnsw__iterative_scan": "relaxed_order"} if filtered else {}
    with planner_settings(enable_seqscan="off", hnsw__ef_search=str(ef_search), **extra):
        yield


# The regional statement's hits, per query (`qid`) and stored image: `w(qid, v)` holds the wholes
# (searched against stored wholes and regions), `r(qid, v)` the query regions (against stored
# wholes, and stored regions with region-to-region). One HNSW search per (query vector, index).
_REGIONAL_SQL = """
    WITH {sources},
    to_regions AS (SELECT qid, v FROM w UNION ALL SELECT qid, v FROM r WHERE %(r2r)s),
    to_images AS (SELECT qid, v FROM w UNION ALL SELECT qid, v FROM r),
    hits AS (
        SELECT q.qid, h.image_id, h.d FROM to_regions q CROSS JOIN LATERAL (
            SELECT x.image_id, x.embedding <=> q.v AS d FROM recommender_imageregion x
            ORDER BY x.embedding <=> q.v LIMIT %(depth)s) h
        UNION ALL
        SELECT q.qid, h.id, h.d FROM to_images q CROSS JOIN LATERAL (
            SELECT i.id, i.embedding <=> q.v AS d FROM recommender_artworkimage i
            WHERE i.embedding IS NOT NULL ORDER BY i.embedding <=> q.v LIMIT %(depth)s) h)
    SELECT qid, image_id, 1 - MIN(d) FROM hits GROUP BY qid, image_id"""


def _regional_rows(sources: str, params: dict[str, Any], depth: int) -> list[tuple[int, int, float]]:
    params = {**params, "r2r": bool(settings.ARTSEARCH_REGION_TO_REGION), "depth": depth}
    with hnsw_scans(max(40, depth)), connection.cursor() as cur:
        cur.execute(_REGIONAL_SQL.format(sources=sources), params)
        return [(int(q), int(i), float(sim)) for q, i, sim in cur.fetchall()]


def _regional_best(wholes: Sequence[Sequence[float]], regions: Sequence[Sequence[float]] = (), *,
                   depth: int = REGION_DEPTH) -> dict[int, float]:
    """Best cosine per image between the query's vectors and the image's, in one SQL round trip.

    `wholes` (the query's global vector, or its turned versions) are searched against the stored
    global vectors and the stored regions (a detail's whole ≈ a region of its original);
    `regions` (the query's own) against the stored global vectors (a copy pasted into a bigger
    picture: one of its regions ≈ the original's whole) and, with ARTSEARCH_REGION_TO_REGION,
    against the stored regions too. The region index holds ~20 rows per image, so its searches
    are the shortlist's cost at scale: without region-to-region it is searched once per query
    instead of once per query vector."""
    if not wholes and not regions:
        return {}
    sources = """w AS (SELECT 0 AS qid, v::halfvec(512) AS v FROM unnest(%(wholes)s::text[]) AS t(v)),
        r AS (SELECT 0 AS qid, v::halfvec(512) AS v FROM unnest(%(regions)s::text[]) AS t(v))"""
    rows = _regional_rows(sources, {"wholes": [Vector(v).to_text() for v in wholes],
                                    "regions": [Vector(v).to_text() for v in regions]}, depth)
    return {image_id: sim for _, image_id, sim in rows}


def _candidates(model_version: str, exclude_image_id: int | None) -> QuerySet[ArtworkImage]:
    """Indexed images a query may match: same model version, hidden duplicates left out, the
    big columns not read (keypoints are fetched by `verify` for the few it matches)."""
    qs = ArtworkImage.objects.filter(status=ArtworkImage.Status.INDEXED, model_version=model_version,
                                     artwork__duplicate_of__isnull=True)
    if exclude_image_id is not None:
        qs = qs.exclude(pk=exclude_image_id)
    return qs.select_related("artwork", "artwork__artist").defer("embedding", "keypoints", "joint_embedding")


def shortlist(vector: Iterable[float], *, model_version: str, k: int, exclude_image_id: int | None = None,
              regions: Sequence[Sequence[float]] = (), regional: dict[int, float] | None = None
              ) -> list[tuple[ArtworkImage, float]]:
    """Top-k indexed images (same model version, hidden duplicates left out) with their global cosine.

    Ranked by the best of the global cosine (HNSW) and, when the query brings regional
    vectors, the best region-to-whole / whole-to-region / region-to-region cosine: a copy
    pasted into a bigger picture, or a detail, is found by its region when its global vector
    is not in the top 100 (on the 815-image WGA evaluation, most misses of paste 40 % and
    detail 15 % were such). The rules still see the global cosine. `regional`: those best
    cosines already computed for this query (they do not depend on k).
    """
    vector = [float(x) for x in vector]
    qs = _candidates(model_version, exclude_image_id)
    if regional is not None:
        best = regional
    else:
        best = _regional_best([vector], regions) if regions else {}
    with hnsw_scans(max(40, k), filtered=True):
        rows = list(qs.annotate(distance=CosineDistance("embedding", vector)).order_by("distance")[:k])
    known = {img.pk for img in rows}
    extra = [pk for pk in best if pk not in known]
    if extra:
        rows += list(qs.filter(pk__in=extra).annotate(distance=CosineDistance("embedding", vector)))
    scored = [(img, 1.0 - float(img.distance)) for img in rows]
    scored.sort(key=lambda item: -max(item[1], best.get(item[0].pk, -1.0)))
    return scored[:k]


@dataclass
class Shortlist:
    """A query's first-pass shortlist, computed ahead of `copies_find` (see `shortlists_batch`):
    the ranked top-k (image, global cosine) and the best regional cosine per image."""

    items: list[tuple[ArtworkImage, float]]
    regional: dict[int, float]


# `_candidates` in SQL, for a stored image `q` and a row `i` of recommender_artworkimage joined
# with its artwork `a`: the same filter the per-query shortlist applies through the ORM.
_CANDIDATE_WHERE = """i.status = 'indexed' AND i.model_version = q.model_version AND i.id <> q.id
    AND a.duplicate_of_id IS NULL"""
_BATCH_GLOBAL_SQL = f"""
    WITH q AS (SELECT id, embedding, model_version FROM recommender_artworkimage
               WHERE id = ANY(%(ids)s) AND embedding IS NOT NULL)
    SELECT q.id, g.id, 1 - g.d FROM q CROSS JOIN LATERAL (
        SELECT i.id, i.embedding <=> q.embedding AS d
        FROM recommender_artworkimage i JOIN recommender_artwork a ON a.id = i.artwork_id
        WHERE {_CANDIDATE_WHERE} ORDER BY i.embedding <=> q.embedding LIMIT %(k)s) g
    UNION ALL
    SELECT q.id, i.id, 1 - (i.embedding <=> q.embedding)
    FROM unnest(%(extra_q)s::int[], %(extra_i)s::int[]) AS p(qid, pk)
    JOIN recommender_artworkimage q ON q.id = p.qid
    JOIN recommender_artworkimage i ON i.id = p.pk JOIN recommender_artwork a ON a.id = i.artwork_id
    WHERE {_CANDIDATE_WHERE}"""


def shortlists_batch(image_ids: Sequence[int], *, k: int, depth: int = REGION_DEPTH) -> dict[int, Shortlist]:
    """The first-pass shortlist of many stored images at once, each what `shortlist` gives that
    image as a query with its stored vectors (its regional best cosines included, itself left out).

    Two statements for the whole batch instead of two per image: the regional one (a LATERAL
    HNSW search per stored query vector and index, ~21-42 per image) and the filtered global
    top-k (a LATERAL iterative HNSW scan per image) with the global cosine of the regional
    extras. The stored vectors never leave the database. Images without a vector are left out."""
    ids = [int(pk) for pk in image_ids]
    if not ids:
        return {}
    sources = """w AS (SELECT id AS qid, embedding AS v FROM recommender_artworkimage
                      WHERE id = ANY(%(ids)s) AND embedding IS NOT NULL),
        r AS (SELECT image_id AS qid, embedding AS v FROM recommender_imageregion WHERE image_id = ANY(%(ids)s))"""
    regional: dict[int, dict[int, float]] = {pk: {} for pk in ids}
    for qid, image_id, sim in _regional_rows(sources, {"ids": ids}, depth):
        regional[qid][image_id] = sim
    pairs = [(qid, pk) for qid, best in regional.items() for pk in best]
    with hnsw_scans(max(40, k), filtered=True), connection.cursor() as cur:
        cur.execute(_BATCH_GLOBAL_SQL, {"ids": ids, "k": k, "extra_q": [q for q, _ in pairs],
                                        "extra_i": [pk for _, pk in pairs]})
        rows = cur.fetchall()
    images = ArtworkImage.objects.filter(pk__in={pk for _, pk, _ in rows}).select_related(
        "artwork", "artwork__artist").defer("embedding", "keypoints", "joint_embedding").in_bulk()
    scored: dict[int, dict[int, float]] = {}
    for qid, pk, cosine in rows:
        scored.setdefault(qid, {})[pk] = float(cosine)
    out: dict[int, Shortlist] = {}
    for qid in ids:
        best = regional[qid]
        items = sorted(((images[pk], cosine) for pk, cosine in scored.get(qid, {}).items()),
                       key=lambda item: -max(item[1], best.get(item[0].pk, -1.0)))
        out[qid] = Shortlist(items=items[:k], regional=best)
    return out


def verify(matcher: QueryMatcher, items: list[tuple[ArtworkImage, float]], rules: Thresholds,
           *, top: int | None = None, exhaustive: int | None = None,
           settled: Mapping[int, bool] | None = None) -> list[Candidate]:
    """Decide every shortlisted candidate; geometric matching only where the rules need it.

    Only the `top` best of the shortlist (ARTSEARCH_VERIFY_TOP) are matched geometrically, plus
    any with cosine ≥ T: edited copies rank near the top of the CNN shortlist, and LSH matching
    is the expensive step; the first ARTSEARCH_VERIFY_EXHAUSTIVE without early stops. The mirror
    is searched only above `similar_min`, since a mirrored copy keeps a high CNN similarity
    (sum pooling ignores left and right). Once a copy is certain (`conclusive_inliers`), the rest
    is matched in the query's own orientation and only up to ARTSEARCH_VERIFY_TOP_CERTAIN: the
    query's verdict and first result are settled, and what is left is finding the collection's
    other copies of the same work, which rank high too (what that saves: README, Duplicate
    detection). Images in
    `settled` (copies of this image the collection scan already found from their side; True
    where that match was conclusive) keep their rank and their weight on the gates but are
    neither matched again nor returned.
    """
    out: list[Candidate] = []
    q_kps = len(matcher)
    top = settings.ARTSEARCH_VERIFY_TOP if top is None else top
    exhaustive = settings.ARTSEARCH_VERIFY_EXHAUSTIVE if exhaustive is None else exhaustive
    certain_top = settings.ARTSEARCH_VERIFY_TOP_CERTAIN
    settled = settled or {}
    wanted = [(i, image.pk) for i, (image, cosine) in enumerate(items)
              if (i < top or cosine >= rules.T) and image.pk not in settled
              and rules.needs_verification(cosine, q_kps, image.n_keypoints)]
    blobs: dict[int, bytes] = {}

    def fetch(pks: list[int]) -> None:
        # Keypoint blobs (~80 kB each) are read only for the candidates that get matched.
        if pks:
            blobs.update(ArtworkImage.objects.filter(pk__in=pks).exclude(keypoints=None)
                         .values_list("pk", "keypoints"))

    fetch([pk for i, pk in wanted if i < certain_top])
    rest = [pk for i, pk in wanted if i >= certain_top]
    conclusive = False
    for i, (image, cosine) in enumerate(items):
        match = None
        if i == certain_top and not conclusive:
            fetch(rest)
        if image.pk in settled:
            conclusive = conclusive or settled[image.pk]
            continue
        if image.pk in blobs and not (conclusive and i >= certain_top and cosine < rules.T):
            # Exhaustive search is for a small detail hiding among the best few; once a copy is
            # certain, the gates are enough for the rest (~55 ms saved per query here).
            match = matcher.match(Keypoints.from_bytes(blobs[image.pk]), min_inliers=rules.required_inliers(cosine),
                                  try_mirror=cosine >= rules.similar_min and not conclusive,
                                  exhaustive=i < exhaustive and not conclusive)
            conclusive = conclusive or match.inliers >= matcher.conclusive_inliers
        decision = rules.decide(cosine=cosine, query_keypoints=q_kps, candidate_keypoints=image.n_keypoints,
                                match=match)
        out.append(Candidate(image=image, cosine=cosine, decision=decision, match=match))
    out.sort(key=_rank_key)
    return out


_VERDICT_RANK = {Verdict.DUPLICATE: 0, Verdict.DETAIL: 1, Verdict.SIMILAR: 2, Verdict.UNRELATED: 3}
_FOUND = (Verdict.DUPLICATE, Verdict.DETAIL)


def _rank_key(c: Candidate) -> tuple[int, int, float]:
    """Verified copies first (strongest evidence first), then by CNN similarity."""
    return _VERDICT_RANK[c.verdict], -c.inliers if c.verdict in _FOUND else 0, -c.cosine


def _replace(verified: list[Candidate], newer: list[Candidate]) -> list[Candidate]:
    """`verified` with the images decided again in `newer` taking their new decision, ranked."""
    again = {c.image.pk for c in newer}
    return sorted([c for c in verified if c.image.pk not in again] + newer, key=_rank_key)


def rotated_candidates(vectors: Sequence[Sequence[float]], *, model_version: str, k: int,
                       skip: set[int], exclude_image_id: int | None = None) -> list[tuple[ArtworkImage, float]]:
    """The k best images for the query turned by 90/180/270 degrees (global and regional
    vectors), leaving out those already verified; the cosine is the best turned one."""
    best = _regional_best(vectors)
    rows = _candidates(model_version, exclude_image_id).filter(pk__in=[pk for pk in best if pk not in skip])
    return sorted(((img, best[img.pk]) for img in rows), key=lambda item: -item[1])[:k]


@dataclass
class QueryVectors:
    """What the CNN says about one image: its global vector, its regional vectors and the model
    that made them (a query's from the `query` worker, a stored image's from its row)."""

    vector: list[float]
    regions: list[list[float]]
    model_version: str


# The global vectors of the image turned by 90/180/270 degrees, computed only when asked.
Rotator = Callable[[], list[list[float]]]


def copy_evidence(items: list[tuple[ArtworkImage, float]], regional: dict[int, float]) -> float:
    """The strongest CNN evidence the shortlist holds: the best global or regional cosine.

    The fallback passes (deep shortlist, rotation retry, dense re-match) only run when this is
    at least ARTSEARCH_FALLBACK_MIN_EVIDENCE: below it, `evaluate duplicates` found no copy
    that those passes rescued, so an image that is not in the collection is answered after
    one verification pass instead of four. Only the listed images count: `regional` also holds
    rows the candidate filter leaves out (the query image itself when a stored image is scanned,
    hidden duplicates, other model versions)."""
    return max((max(cosine, regional.get(image.pk, -1.0)) for image, cosine in items), default=-1.0)


def copies_find(*, rgb: np.ndarray, vectors: QueryVectors, rotated: Rotator | None,
                exclude_image_id: int | None = None, k: int | None = None,
                timings: dict[str, float] | None = None, ahead: Shortlist | None = None,
                settled: Mapping[int, bool] | None = None) -> tuple[list[Candidate], QueryMatcher, float]:
    """Which indexed images are copies (duplicate or detail) of this image, and how the rest relate.

    The one decision path: visitors' queries, curators' upload checks and the collection scan
    all call it, with the same passes and thresholds. Returns every decided candidate (ranked,
    not collapsed into duplicate groups), the query's ORB matcher and the CNN evidence.
    Cost: one regional statement (an HNSW search of the image index per query vector, and of the
    region index once, or per query vector with region-to-region), one top-k statement,
    ORB/LSH matching of at most ARTSEARCH_VERIFY_TOP candidates; the fallback passes only when
    nothing is found and the evidence allows it (see `copy_evidence`).

    The collection scan brings what it computed for many images at once: `ahead`, this image's
    first-pass shortlist (`shortlists_batch`, the two statements above), and `settled`, the
    copies of this image it already found from their side (True: by a conclusive match). Those
    are not matched again nor returned; they count as found, so no fallback pass runs.
    """
    timings = {} if timings is None else timings
    settled = settled or {}
    t = time.perf_counter()
    if ahead is not None:
        regional = ahead.regional
    else:
        regional = _regional_best([vectors.vector], vectors.regions) if vectors.regions else {}

    def listed(depth: int) -> list[tuple[ArtworkImage, float]]:
        return shortlist(vectors.vector, model_version=vectors.model_version, k=depth,
                         exclude_image_id=exclude_image_id, regional=regional)

    items = ahead.items if ahead is not None else listed(k or settings.ARTSEARCH_SHORTLIST)
    evidence = copy_evidence(items, regional)
    timings["shortlist"] = time.perf_counter() - t

    t = time.perf_counter()
    rules = thresholds()
    matcher = QueryMatcher.from_image(rgb, conclusive_inliers=rules.N)
    verified = verify(matcher, items, rules, settled=settled)
    timings["verify"] = time.perf_counter() - t

    def found() -> bool:
        return bool(settled) or any(c.verdict in _FOUND for c in verified)

    fallbacks = evidence >= settings.ARTSEARCH_FALLBACK_MIN_EVIDENCE
    if fallbacks and len(items) < settings.ARTSEARCH_DEEP_SHORTLIST and not found():
        # Nothing found among the verified top: match the rest of a deeper shortlist with the
        # same query keypoints and early-stop gates (~1 ms per unrelated candidate). ORB is
        # rotation invariant, so a sideways copy whose original is listed is found here too,
        # before the rotation retry's three forward passes. The sparse query matters: for a
        # small upscaled detail, 3000 query keypoints crowd the ratio test (near-identical
        # fine-scale descriptors) and the gates stop at 7 matches where 1000 give 161.
        t = time.perf_counter()
        items = listed(settings.ARTSEARCH_DEEP_SHORTLIST)
        matched = {c.image.pk for c in verified if c.match is not None}
        rest = [item for item in items if item[0].pk not in matched]
        verified = _replace(verified, verify(matcher, rest, rules, top=len(rest), exhaustive=0, settled=settled))
        timings["deep"] = time.perf_counter() - t
    if fallbacks and rotated is not None and settings.ARTSEARCH_ROTATION_FALLBACK and not found():
        # The query may be a sideways copy, whose CNN vector is far from its original's (ORB
        # itself is rotation invariant): its vectors turned by 90/180/270 degrees, predicted by
        # the turn maps or from three forward passes. Skip only the candidates already matched:
        # the original of a sideways copy is often listed below the verified top, unmatched.
        # The turned top ARTSEARCH_SHORTLIST is matched (early-stop gates past the exhaustive
        # few): a predicted turn ranks the original lower than a computed one (README Figures,
        # "Turn maps": within 30 for 98 %, within 100 for 99.8 % of held-out turned copies).
        t = time.perf_counter()
        more = rotated_candidates(rotated(), model_version=vectors.model_version,
                                  k=settings.ARTSEARCH_SHORTLIST,
                                  skip={c.image.pk for c in verified if c.match is not None} | set(settled),
                                  exclude_image_id=exclude_image_id)
        verified = _replace(verified, verify(matcher, more, rules, top=len(more), settled=settled))
        timings["rotations"] = time.perf_counter() - t
    if fallbacks and settings.ARTSEARCH_DENSE_ORB_FEATURES and not found():
        # Match the whole (deep) shortlist again with a denser query (more keypoints, the best
        # 2 x ARTSEARCH_VERIFY_EXHAUSTIVE without early stops): a copy pasted into a bigger
        # picture or under heavy text loses most of the query's 1000 keypoints to the rest of
        # the picture.
        t = time.perf_counter()
        dense = QueryMatcher.from_image(rgb, n_features=settings.ARTSEARCH_DENSE_ORB_FEATURES,
                                        conclusive_inliers=rules.N)
        verified = _replace(verified, verify(dense, items, rules, top=len(items), settled=settled,
                                             exhaustive=2 * settings.ARTSEARCH_VERIFY_EXHAUSTIVE))
        timings["dense"] = time.perf_counter() - t
    return verified, matcher, evidence


def image_query(*, data: bytes, embed: Embedder, k: int | None = None, exclude_image_id: int | None = None
                ) -> ImageQueryResult:
    """Run one image query. Raises ml.images.ImageError for an unusable upload (nothing stored)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    rgb = decode_image(data, max_pixels=settings.ARTSEARCH_MAX_PIXELS, max_side=settings.ARTSEARCH_DECODE_MAX_SIDE)
    timings["decode"] = time.perf_counter() - t0

    t = time.perf_counter()
    emb = embed(data)
    timings["embed"] = time.perf_counter() - t
    vectors = QueryVectors(vector=emb["vector"], regions=emb.get("regions") or [],
                           model_version=emb["model_version"])
    turned = emb.get("turned")  # predicted by the worker's turn maps, when it has them
    verified, matcher, evidence = copies_find(
        rgb=rgb, vectors=vectors, rotated=(lambda: turned) if turned else (lambda: embed(data, True)["rotated"]),
        exclude_image_id=exclude_image_id, k=k, timings=timings)
    candidates = collapse_groups(verified)
    timings["total"] = time.perf_counter() - t0

    cam = np.asarray(emb["cam"], dtype=np.float32) / 255.0 if emb.get("cam") is not None else None
    return ImageQueryResult(
        verdict=overall_verdict(c.decision for c in candidates),
        candidates=candidates,
        timings=timings,
        query_rgb=rgb,
        matcher=matcher,
        cam=cam,
        predictions=emb.get("predictions") or {},
        evidence=evidence,
    )

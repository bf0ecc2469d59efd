"""Duplicate-detection evaluation over a folder of images, inside a transaction that is
rolled back: originals are indexed in-process, perturbed copies and distractors are queried
through the same `search.image_query` path the web uses, then everything is undone."""

from __future__ import annotations

import csv
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Q
from django.test.utils import override_settings

from ml.evaluate import QueryOutcome, format_report, summarise
from ml.images import IMAGE_SUFFIXES, ImageError, decode_image_file
from ml.perturb import PERTURBATIONS, expected_verdict
from ml.rules import Verdict
from ml.visualize import png_bytes
from recommender import search
from recommender.catalogue import image_attach
from recommender.models import Artwork, ArtworkImage, DuplicatePair
from recommender.progress import Bars, no_bars

logger = logging.getLogger(__name__)


class _Rollback(Exception):
    pass


@dataclass
class DuplicateEvalConfig:
    images: Path
    originals: int = 800
    queries: int = 100
    distractors: int = 100
    seed: int = 0
    families: list[str] | None = None
    manifest: Path | None = None


def _split(cfg: DuplicateEvalConfig, files: list[Path], rng: np.random.Generator) -> tuple[list[Path], list[Path]]:
    """(distractors, originals). With a manifest, distractors are all images of randomly drawn
    artists, so none has a detail or another photograph of itself among the originals."""
    if cfg.manifest is None:
        return files[: cfg.distractors], files[cfg.distractors : cfg.distractors + cfg.originals]
    with cfg.manifest.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not {"file", "artist"} <= set(reader.fieldnames or ()):
            raise ValueError(f"{cfg.manifest}: needs `file` and `artist` columns, has {reader.fieldnames}")
        artist_of = {Path(row["file"]).name: row["artist"] or "" for row in reader}
    by_artist: dict[str, list[Path]] = {}
    for path in files:
        by_artist.setdefault(artist_of.get(path.name, path.name), []).append(path)
    artists = sorted(by_artist)
    rng.shuffle(artists)
    distractors: list[Path] = []
    for artist in artists:
        # Whole artists only, skipping any that would overshoot (the big architecture groups
        # stay in the collection, which keeps it as large as the folder allows).
        if len(distractors) + len(by_artist[artist]) <= cfg.distractors:
            distractors += by_artist.pop(artist)
    rest = [p for p in files if artist_of.get(p.name, p.name) in by_artist]
    return distractors, rest[: cfg.originals]


def evaluate_duplicates(cfg: DuplicateEvalConfig, *, progress: Callable[[str], None] = logger.info,
                        bars: Bars = no_bars) -> tuple[dict[str, Any], str, list[QueryOutcome]]:
    """Returns (summary, report text, outcomes). `progress` gets a line per finished step, `bars`
    draws the indexing of the originals and the queries."""
    from recommender.pipeline import image_index_batch, query_embedding

    files = sorted(p for p in cfg.images.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    rng = np.random.default_rng(cfg.seed)
    rng.shuffle(files)
    need = cfg.originals + cfg.distractors
    if len(files) < min(need, 2):
        raise ValueError(f"{cfg.images}: found {len(files)} images, need at least 2")
    distractor_files, original_files = _split(cfg, files, rng)
    families = cfg.families or list(PERTURBATIONS)
    outcomes: list[QueryOutcome] = []
    via_related: list[str] = []
    stages: list[dict[str, float]] = []  # per-query stage timings (search.image_query)
    evidence: list[dict[str, Any]] = []  # raw scores per query, for `calibrate`
    with tempfile.TemporaryDirectory() as media, override_settings(MEDIA_ROOT=media):
        try:
            with transaction.atomic():
                t0 = time.perf_counter()
                ids: dict[int, Path] = {}
                for path in original_files:
                    try:
                        art = Artwork.objects.create(title=path.stem, source=Artwork.Source.IMPORT)
                        img, created = image_attach(artwork=art, data=path.read_bytes(), source_name=path.name)
                    except ImageError:
                        continue
                    if created:
                        ids[img.pk] = path
                id_list = list(ids)
                with bars("indexing originals", total=len(id_list), unit="img") as advance:
                    for i in range(0, len(id_list), 16):
                        image_index_batch(id_list[i : i + 16], captions=False)  # captions play no part here
                        advance(len(id_list[i : i + 16]))
                progress(f"indexed {len(id_list)} originals in {time.perf_counter() - t0:.0f}s")
                artwork_of = dict(ArtworkImage.objects.filter(pk__in=id_list).values_list("pk", "artwork_id"))
                related = _known_pairs(id_list, progress)
                backgrounds = [decode_image_file(p) for p in distractor_files[:5]] or None

                def run(query_id: str, family: str, rgb: np.ndarray, expected: int | None, verdict: Verdict) -> None:
                    t = time.perf_counter()
                    res = search.image_query(data=png_bytes(rgb), embed=query_embedding)
                    secs = time.perf_counter() - t
                    stages.append(res.timings)
                    top = res.candidates[0].artwork.pk if res.candidates else None
                    if expected is not None and top in related.get(expected, ()):
                        # The collection already holds this artwork twice (e.g. WGA's own detail
                        # of the painting): finding the other copy is finding the artwork.
                        via_related.append(query_id)
                        top = expected
                    right = [c for c in res.candidates if c.artwork.pk == expected]
                    wrong = [c for c in res.candidates if c.artwork.pk != expected]
                    evidence.append({
                        "query_id": query_id, "family": family, "expected_verdict": str(verdict),
                        "right_cosine": max((c.cosine for c in right), default=None),
                        "right_inliers": max((c.inliers for c in right), default=None),
                        "wrong_cosine": max((c.cosine for c in wrong), default=None),
                        "wrong_inliers": max((c.inliers for c in wrong), default=0),
                        # The shortlist's best cosine, and the last pass that ran (passes stop once
                        # a copy is found): what ARTSEARCH_FALLBACK_MIN_EVIDENCE is calibrated on.
                        "evidence": round(res.evidence, 4),
                        "last_pass": next((p for p in ("dense", "rotations", "deep") if p in res.timings), "verify"),
                        # What the fallback passes cost this query: the time a gate above its evidence saves.
                        "fallback_ms": round(1000 * sum(res.timings.get(p, 0.0) for p in _FALLBACKS), 1),
                        "found": top == expected and res.verdict in (Verdict.DUPLICATE, Verdict.DETAIL),
                    })
                    outcomes.append(QueryOutcome(query_id=query_id, family=family, expected_artwork=expected,
                                                 expected_verdict=verdict, top1_artwork=top,
                                                 verdict=res.verdict, seconds=secs))

                queried = id_list[: cfg.queries]
                with bars("queries", total=len(queried) * len(families) + len(distractor_files),
                          unit="query") as advance:
                    for qi, image_id in enumerate(queried):
                        rgb = decode_image_file(ids[image_id])
                        bg = backgrounds[qi % len(backgrounds)] if backgrounds else np.full_like(rgb, 200)
                        for family in families:
                            strengths = PERTURBATIONS[family]
                            # One strength per family per original, rotating, so every strength is covered.
                            strength, fn = strengths[qi % len(strengths)]
                            child = np.random.default_rng([cfg.seed, qi, len(family), len(strength)])
                            copy = fn(rgb, child, bg)
                            run(f"{ids[image_id].name}/{family}/{strength}", family, copy, artwork_of[image_id],
                                expected_verdict(family))
                            advance(1)
                    for path in distractor_files:
                        try:
                            rgb = decode_image_file(path)
                        except ImageError:
                            advance(1)
                            continue
                        run(path.name, "distractor", rgb, None, Verdict.UNRELATED)
                        advance(1)
                raise _Rollback
        except _Rollback:
            pass
    summary = summarise(outcomes)
    summary["collection_size"] = len(original_files)
    summary["hits_via_known_pair"] = via_related
    summary["evidence"] = evidence
    report = format_report(summary)
    if stages:
        names = ["decode", "embed", "shortlist", "verify", "deep", "rotations", "dense"]
        medians = {n: statistics.median([st[n] for st in stages if n in st]) for n in names
                   if any(n in st for st in stages)}
        retried = sum("rotations" in st for st in stages)
        dense = sum("dense" in st for st in stages)
        report += ("\n\nmedian ms per stage: " + ", ".join(f"{n} {v * 1000:.0f}" for n, v in medians.items())
                   + f" (rotation retry in {retried}, dense re-match in {dense} of {len(stages)} queries)")
    report += "\n\n" + fallback_evidence_report(evidence)
    if via_related:
        report += (f"\n\n{len(via_related)} hits were an original's known duplicate/detail in the collection "
                   f"(pairs found among the originals before the queries), counted as the original.")
    return summary, report, outcomes


_FALLBACKS = ("deep", "rotations", "dense")


def gate_effect(evidence: list[dict[str, Any]], bound: float) -> dict[str, Any]:
    """What ARTSEARCH_FALLBACK_MIN_EVIDENCE=`bound` would change on a run made without a gate
    (every pass allowed): copies found only by a fallback pass whose evidence is below the bound
    are lost; distractors below it skip their fallback passes (`fallback_ms` saved)."""
    copies = [e for e in evidence if e["family"] != "distractor"]
    lost = [e["query_id"] for e in copies if e["found"] and e["last_pass"] != "verify" and e["evidence"] < bound]
    found = sum(e["found"] for e in copies)
    absent = [e for e in evidence if e["family"] == "distractor"]
    skipped = [e for e in absent if e["evidence"] < bound]
    return {"bound": bound, "copies": len(copies), "found": found, "found_with_gate": found - len(lost),
            "lost": lost, "distractors": len(absent), "distractors_skipping": len(skipped),
            "distractor_fallback_ms_saved_mean": (sum(e.get("fallback_ms", 0.0) for e in skipped) / len(absent)
                                                  if absent else 0.0)}


def fallback_evidence_report(evidence: list[dict[str, Any]]) -> str:
    """How low the shortlist's evidence was for copies that only a fallback pass found, against
    the evidence of images not in the collection: the basis of ARTSEARCH_FALLBACK_MIN_EVIDENCE."""
    rescued = sorted(e["evidence"] for e in evidence
                     if e["found"] and e["last_pass"] != "verify" and e["family"] != "distractor")
    absent = sorted(e["evidence"] for e in evidence if e["family"] == "distractor")
    if not rescued or not absent:
        return "fallback evidence: too few rescued copies or distractors to calibrate"
    floor = rescued[0]
    skipped = sum(v < floor for v in absent)
    return (f"fallback evidence: {len(rescued)} copies found only by a fallback pass, lowest evidence {floor:.3f} "
            f"(5th lowest {rescued[min(4, len(rescued) - 1)]:.3f}); distractors' evidence p50 "
            f"{absent[len(absent) // 2]:.3f}, {skipped} of {len(absent)} below {floor:.3f} "
            f"(they would skip the fallback passes at ARTSEARCH_FALLBACK_MIN_EVIDENCE={floor:.3f})")


def _known_pairs(image_ids: list[int], progress: Callable[[str], None]) -> dict[int, set[int]]:
    """Artworks among the originals that the pipeline itself calls duplicate/detail of each other.

    WGA holds details next to their whole painting, and near-identical photographs of one
    building; a perturbed copy of one may rightly be matched to the other first. Found by the
    collection scan's own batched path (`find_duplicates`), inside the evaluation's transaction."""
    from recommender.duplicates import images_scan

    t0 = time.perf_counter()
    images_scan(list(ArtworkImage.objects.filter(pk__in=image_ids, status=ArtworkImage.Status.INDEXED)
                     .order_by("id").values_list("pk", flat=True)))
    related: dict[int, set[int]] = {}
    for a, b in DuplicatePair.objects.filter(Q(image_a__in=image_ids) | Q(image_b__in=image_ids)).values_list(
            "image_a__artwork_id", "image_b__artwork_id"):
        if a != b:
            related.setdefault(a, set()).add(b)
            related.setdefault(b, set()).add(a)
    pairs = sum(len(v) for v in related.values()) // 2
    progress(f"{pairs} duplicate/detail pairs among the originals ({time.perf_counter() - t0:.0f}s)")
    return related

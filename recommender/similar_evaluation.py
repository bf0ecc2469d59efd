"""Similar-artworks evaluation (`manage.py evaluate similar`): do an artwork's nearest neighbours
share what a visitor notices (form, type, school, timeframe, artist), for artists no model saw?

The indexed images' artists are split at random (seeded) into training and held-out artists. A CAM
head is trained on the training artists' images only and every image re-pooled with it (one trunk
forward per image, the maps kept), so the "current" vectors are the product's kind of vector from a
head that never saw a held-out artist; each learned similarity is trained on the same images. Each
held-out image then ranks the whole collection (its own artwork left out, one entry per artwork)
by each candidate similarity, and P@k per label is the fraction of its first k artworks that share
its label; chance is the same fraction over the whole pool.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from django.conf import settings

from ml.evaluate import label_precision_at_k, nearest_by_group
from ml.images import decode_image
from ml.similarity import LABELS, SimilarityConfig, blend, train_similarity
from recommender.models import ArtworkImage, Caption
from recommender.progress import Bars, no_bars

logger = logging.getLogger(__name__)

# The learned similarities compared (name -> config); the last is the product's (`train_similarity`,
# SimilarityConfig's defaults), chosen by these measurements.
VARIANTS: dict[str, SimilarityConfig] = {
    "learned linear 512->128": SimilarityConfig(hidden=0, mix=1.0),
    "learned linear, blended 0.7:0.3 with CAM-VGG": SimilarityConfig(hidden=0),
    "learned MLP 512->512->128": SimilarityConfig(mix=1.0),
    "learned MLP, blended 0.7:0.3 with CAM-VGG (product)": SimilarityConfig(),
}


@dataclass
class SimilarEvalConfig:
    holdout_artists: float = 0.3
    seeds: list[int] = field(default_factory=lambda: [0])  # one artist split (and training seed) each
    k: int = 10
    retrain_cam: bool = True  # False: the stored vectors, whose CAM head may have seen every artist
    epochs: int | None = None  # every learned variant's training passes (None: each variant's own)
    variants: dict[str, SimilarityConfig] = field(default_factory=lambda: dict(VARIANTS))

    def __post_init__(self) -> None:
        if not 0.0 < self.holdout_artists < 1.0:
            raise ValueError(f"--holdout-artists must be in (0, 1), got {self.holdout_artists}")
        if self.k < 1:
            raise ValueError(f"--k must be >= 1, got {self.k}")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"--epochs must be >= 1, got {self.epochs}")
        if not self.seeds:
            raise ValueError("at least one --seed")


@dataclass
class _Collection:
    image_ids: list[int]
    artwork_ids: list[int]
    labels: dict[str, list[Any]]  # label -> one value per image (None: unknown)
    stored: np.ndarray  # (N, 512) the index's own vectors
    model_version: str


def _load() -> tuple[_Collection, list[ArtworkImage]]:
    rows = list(ArtworkImage.objects.filter(status=ArtworkImage.Status.INDEXED, embedding__isnull=False)
                .select_related("artwork").order_by("id"))
    versions = {r.model_version for r in rows}
    if len(versions) > 1:
        raise ValueError(f"indexed images come from {len(versions)} model versions; run `index --stale` first")
    labels: dict[str, list[Any]] = {name: [] for name in LABELS}
    for r in rows:
        for name in LABELS:
            value = r.artwork.artist_id if name == "artist" else getattr(r.artwork, name)
            labels[name].append(value or None)
    if len({a for a in labels["artist"] if a is not None}) < 4:
        raise ValueError(f"{len(rows)} indexed images by fewer than 4 artists: need at least 4 artists")
    coll = _Collection(
        image_ids=[r.pk for r in rows], artwork_ids=[r.artwork_id for r in rows], labels=labels,
        stored=np.asarray([r.embedding for r in rows], dtype=np.float32),
        model_version=rows[0].model_version if rows else "",
    )
    return coll, rows


def _held_out(coll: _Collection, fraction: float, seed: int) -> np.ndarray:
    """bool (N,): the image's artist is among a seeded random `fraction` of the artists (at least
    one artist held out, at least one left to train on)."""
    artists = sorted({a for a in coll.labels["artist"] if a is not None})
    order = np.random.default_rng(seed).permutation(len(artists))
    held = {artists[i] for i in order[: min(len(artists) - 1, max(1, round(fraction * len(artists))))]}
    return np.array([a in held for a in coll.labels["artist"]], dtype=bool)


def _feature_maps(rows: list[ArtworkImage], bars: Bars) -> list[Any]:
    """The trunk's conv5_3 map of every image: one forward pass each, pooled below per split."""
    from recommender.pipeline import get_extractor

    product = get_extractor()
    maps = []
    with bars("VGG16 feature maps", total=len(rows), unit="img") as advance:
        for row in rows:
            with row.file.open("rb") as fh:
                rgb = decode_image(fh.read(), max_pixels=settings.ARTSEARCH_MAX_PIXELS,
                                   max_side=settings.ARTSEARCH_DECODE_MAX_SIDE)
            maps += product.feature_maps([rgb])
            advance(1)
    return maps


def _visual_vectors(coll: _Collection, maps: list[Any], held_out: np.ndarray) -> dict[str, np.ndarray]:
    """CAM-VGG vectors from a head trained on the training artists only (the product's labels,
    form and type), and plain sum-pooled VGG16 (off the shelf)."""
    from ml.cam import train_cam_head
    from ml.extract import FeatureExtractor
    from recommender.pipeline import get_extractor

    product = get_extractor()
    gap = np.stack([m.mean(dim=(-2, -1)).numpy() for m in maps])
    train = ~held_out
    head, _ = train_cam_head(gap[train], {t: [v for v, keep in zip(coll.labels[t], train, strict=True) if keep]
                                          for t in ("form", "type")})
    common = {"max_side": product.max_side, "region_levels": 0}
    return {
        "CAM-VGG (the product's kind; head trained on the training artists)":
            FeatureExtractor(product.trunk, head, **common).vectors_from_maps(maps),
        "VGG16 sum-pooled (off the shelf, no head)": FeatureExtractor(product.trunk, None, **common)
        .vectors_from_maps(maps),
    }


def _caption_vectors(coll: _Collection) -> np.ndarray | None:
    """Each image's artwork's catalogue caption embedding (MiniLM; the sentence names the title,
    kind, artist and school), None when an artwork has none."""
    found = dict(Caption.objects.filter(artwork_id__in=set(coll.artwork_ids), source=Caption.Source.CATALOGUE,
                                        chunk=0, embedding__isnull=False).values_list("artwork_id", "embedding"))
    if any(a not in found for a in coll.artwork_ids):
        return None
    vecs = np.asarray([found[a] for a in coll.artwork_ids], dtype=np.float32)
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


def _scores(coll: _Collection, held_out: np.ndarray, vectors: np.ndarray, k: int) -> dict[str, float | None]:
    held = np.flatnonzero(held_out)
    neighbours = nearest_by_group(vectors[held], vectors, [coll.artwork_ids[i] for i in held], coll.artwork_ids, k)
    return {name: label_precision_at_k([values[i] for i in held], [[values[j] for j in row] for row in neighbours], k)
            for name, values in coll.labels.items()}


def _chance(coll: _Collection, held_out: np.ndarray) -> dict[str, float | None]:
    """P@k of a random order: each held-out image's label share over every other artwork."""
    index: dict[int, int] = {}  # artwork -> its first image: one entry per artwork
    for i, a in enumerate(coll.artwork_ids):
        index.setdefault(a, i)
    out = {}
    for name, values in coll.labels.items():
        queries, pools = [], []
        for i in np.flatnonzero(held_out):
            queries.append(values[i])
            pools.append([values[j] for a, j in index.items() if a != coll.artwork_ids[i]])
        out[name] = label_precision_at_k(queries, pools, None)
    return out


def _one_split(cfg: SimilarEvalConfig, coll: _Collection, maps: list[Any] | None, captions: np.ndarray | None,
               seed: int, progress: Callable[[str], None]) -> dict[str, Any]:
    held_out = _held_out(coll, cfg.holdout_artists, seed)
    visual = _visual_vectors(coll, maps, held_out) if maps is not None else {"CAM-VGG (stored vectors)": coll.stored}
    base = next(iter(visual.values()))
    candidates: dict[str, np.ndarray] = dict(visual)
    train = ~held_out
    train_labels = {n: [v for v, keep in zip(vals, train, strict=True) if keep] for n, vals in coll.labels.items()}
    learned: dict[str, np.ndarray] = {}
    for name, variant in cfg.variants.items():
        t = time.perf_counter()
        variant = replace(variant, seed=seed, epochs=cfg.epochs or variant.epochs)
        learned[name] = train_similarity(base[train], train_labels, variant).project(base)
        candidates[name] = learned[name]
        progress(f"seed {seed}: {name} trained in {time.perf_counter() - t:.0f}s")
    if captions is not None:
        candidates["catalogue caption alone (MiniLM; names the artist)"] = captions
        candidates["CAM-VGG + catalogue caption, 1:1"] = blend(base, captions, 0.5)
        if learned:
            name, vecs = list(learned.items())[-1]
            candidates[f"{name} + catalogue caption, 1:1"] = blend(vecs, captions, 0.5)
    results = {name: _scores(coll, held_out, vecs, cfg.k) for name, vecs in candidates.items()}
    results["chance"] = _chance(coll, held_out)
    return {"seed": seed, "queries": int(held_out.sum()),
            "held_out_artists": len({a for a, h in zip(coll.labels["artist"], held_out, strict=True) if h}),
            "results": results}


def evaluate_similar(cfg: SimilarEvalConfig, *, bars: Bars = no_bars,
                     progress: Callable[[str], None] = logger.info) -> tuple[dict[str, Any], str]:
    """(summary, report text): P@k per label of each candidate similarity on held-out artists, per
    seed and averaged over the seeds."""
    coll, rows = _load()
    t0 = time.perf_counter()
    maps = _feature_maps(rows, bars) if cfg.retrain_cam else None
    progress(f"feature maps in {time.perf_counter() - t0:.0f}s")
    cam_note = ("CAM head trained on the training artists' images only" if cfg.retrain_cam else
                f"stored vectors ({coll.model_version}): a CAM head behind them was trained on the collection as "
                "it was then, so it may have seen the held-out artists")
    captions = _caption_vectors(coll)
    splits = [_one_split(cfg, coll, maps, captions, seed, progress) for seed in cfg.seeds]
    mean = {name: {lab: float(np.mean([s["results"][name][lab] for s in splits]))
                   if all(s["results"][name][lab] is not None for s in splits) else None for lab in LABELS}
            for name in splits[0]["results"]}
    summary = {
        "k": cfg.k, "seeds": cfg.seeds, "holdout_artists": cfg.holdout_artists, "images": len(coll.image_ids),
        "artworks": len(set(coll.artwork_ids)), "artists": len({a for a in coll.labels["artist"] if a is not None}),
        "cam": cam_note, "splits": splits, "results": mean,
    }
    return summary, format_similar_report(summary)


def format_similar_report(summary: dict[str, Any]) -> str:
    """An aligned table per seed and one of the means: one row per similarity, P@k per label."""
    k = summary["k"]
    lines = [f"{summary['images']} images of {summary['artworks']} artworks by {summary['artists']} artists; "
             f"held out: {summary['holdout_artists']:.0%} of the artists per seed; P@{k} per label; {summary['cam']}"]
    tables = [(f"seed {s['seed']}: {s['queries']} held-out images by {s['held_out_artists']} artists", s["results"])
              for s in summary["splits"]]
    if len(tables) > 1:
        tables.append((f"mean over seeds {', '.join(map(str, summary['seeds']))}", summary["results"]))
    for title, results in tables:
        width = max(len(n) for n in results)
        head = f"{'similarity':<{width}}  " + "  ".join(f"{lab:>9}" for lab in LABELS)
        lines += ["", title, head, "-" * len(head)]
        for name, cells in results.items():
            lines.append(f"{name:<{width}}  " + "  ".join(
                f"{cells[lab]:>9.3f}" if cells.get(lab) is not None else f"{'-':>9}" for lab in LABELS))
    return "\n".join(lines)

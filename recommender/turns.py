"""The turn maps on the worker side (ml.turns): their model file, fitting them on the collection,
and the turned vectors the rotation retry uses instead of three forward passes.

Imports torch (through the extractor) only to fit; only workers and management commands use it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Count

from ml.images import ImageError, decode_image
from ml.modelfiles import TURNS, ModelFileError
from ml.turns import DEFAULT_L2, TurnMaps, turn_recall
from recommender.modelfiles import InstalledModel, model_path
from recommender.models import ArtworkImage

logger = logging.getLogger(__name__)


def turns_path() -> Path:
    return model_path(TURNS)


def _load(path: Path | None) -> TurnMaps | None:
    if path is None:
        return None
    try:
        return TurnMaps.load(path)
    except ModelFileError as exc:
        # A bad maps file must not break image queries: the forward passes still give the turns.
        logger.error("%s; the rotation retry uses forward passes", exc)
        return None


_installed: InstalledModel[TurnMaps | None] = InstalledModel(TURNS, _load)


def installed_turn_maps() -> TurnMaps | None:
    """The installed maps (loaded again when the file changes), None without a usable file."""
    return _installed.get()


def turned_vectors(vector: Sequence[float] | np.ndarray, model_version: str) -> list[list[float]] | None:
    """The predicted vectors of the image turned by 90/180/270 degrees, or None when no maps are
    installed for this model version (or ARTSEARCH_TURN_MAPS is off): the caller runs the passes."""
    if not settings.ARTSEARCH_TURN_MAPS:
        return None
    maps = installed_turn_maps()
    if maps is None or maps.model_version != model_version:
        return None
    return maps.turned(vector)


def turns_train(*, sample: int = 400, seed: int = 0, l2: float = DEFAULT_L2, holdout: float = 0.25,
                progress: Callable[[int], None] | None = None) -> tuple[TurnMaps, dict[str, Any]]:
    """Fit the maps on `sample` indexed images of the current extractor's model version (random,
    seeded), report their recall on a held-out share of them, refit on all and install them.

    Cost: three forward passes per sampled image (the upright vector is the stored one); 400
    images fit the maps as well as 550 on the WGA sample (README Figures, "Turn maps").
    ValueError when fewer than 20 images are indexed with the current model."""
    from recommender.pipeline import get_extractor

    extractor = get_extractor()
    version = extractor.model_version
    qs = ArtworkImage.objects.filter(status=ArtworkImage.Status.INDEXED, model_version=version,
                                     embedding__isnull=False)
    ids = list(qs.values_list("pk", flat=True))
    if len(ids) < 20:
        counts = dict(ArtworkImage.objects.filter(status=ArtworkImage.Status.INDEXED).order_by()
                      .values_list("model_version").annotate(n=Count("id")))
        raise ValueError(f"{len(ids)} images are indexed with {version} (indexed: {counts or 'none'}); "
                         "turn maps need at least 20: run `manage.py index --stale` first")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(ids, size=min(sample, len(ids)), replace=False).tolist())
    by_turn: list[list[np.ndarray]] = [[], [], [], []]
    for image in qs.filter(pk__in=chosen).only("id", "file", "embedding").order_by("id"):
        try:
            with image.file.open("rb") as fh:
                rgb = decode_image(fh.read(), max_pixels=settings.ARTSEARCH_MAX_PIXELS,
                                   max_side=settings.ARTSEARCH_DECODE_MAX_SIDE)
        except (ImageError, OSError) as exc:
            logger.warning("turn maps: image %s skipped (%s)", image.pk, exc)
            continue
        turned = extractor.extract([np.ascontiguousarray(np.rot90(rgb, k)) for k in (1, 2, 3)])
        by_turn[0].append(np.asarray(image.embedding, dtype=np.float32))
        for k in (1, 2, 3):
            by_turn[k].append(turned[k - 1])
        if progress is not None:
            progress(1)
    arrays = [np.stack(v) for v in by_turn]
    n = len(arrays[0])
    order = rng.permutation(n)
    cut = max(1, round(n * holdout))
    test, train = order[:cut], order[cut:]
    report: dict[str, Any] = {"model_version": version, "images": n, "l2": l2, "held_out": int(cut)}
    held = [a[test] for a in arrays]
    report["held_out_recall_no_turn"] = turn_recall(None, held)
    report["held_out_recall_maps"] = turn_recall(TurnMaps.fitted([a[train] for a in arrays], model_version=version,
                                                                 l2=l2).maps, held)
    maps = TurnMaps.fitted(arrays, model_version=version, l2=l2, report=report)
    maps.save(turns_path())
    return maps, report

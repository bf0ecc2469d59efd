"""Enqueue worker jobs by task name, so the web process never imports the task modules
(and through them torch). Import-linter keeps it that way. Fire-and-forget jobs are sent with
ignore_result: the web never waits on them, so it need not listen on the result store either."""

from __future__ import annotations

import base64
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from artsearch.celery import app
from recommender import health

logger = logging.getLogger(__name__)

INDEX_TASK = "recommender.tasks.index_images"
EMBED_QUERY_TASK = "recommender.tasks.embed_query"
UPLOAD_TASK = "recommender.tasks.process_upload"
EMBED_TEXT_TASK = "recommender.tasks.embed_text"
EMBED_CAPTIONS_TASK = "recommender.tasks.embed_captions"


def embed_text(query: str, *, timeout: float | None = None) -> list[float]:
    """Sentence embedding of a text query, from a `query` worker (the web never loads the model)."""
    return _call(EMBED_TEXT_TASK, query, timeout=timeout)


def enqueue_caption_embeddings(caption_ids: Sequence[int], *, batch: int = 256) -> int:
    """Backfill: on the `bulk` queue, which the gpu worker takes only when no upload waits."""
    ids = list(caption_ids)
    for i in range(0, len(ids), batch):
        app.send_task(EMBED_CAPTIONS_TASK, args=[ids[i : i + batch]], queue="bulk", ignore_result=True)
    return len(ids)


def enqueue_upload(upload_id: int) -> str:
    """Features → keypoints → duplicate check for one curator upload, on the `gpu` queue (before
    any backfill). Returns "" when the broker is down: the upload stays queued and
    recommender.sweeper sends it again once Redis is back, so the curator's request still
    succeeds (this runs in transaction.on_commit, after the rows are saved)."""
    try:
        return app.send_task(UPLOAD_TASK, args=[upload_id], queue="gpu", ignore_result=True).id
    except Exception as exc:  # kombu.OperationalError, redis errors: the broker is unreachable
        logger.warning("upload %s not sent (the sweeper will send it): %s", upload_id, exc)
        return ""


def enqueue_index(image_ids: Sequence[int], *, force: bool = False) -> list[str]:
    """Send images to the `bulk` queue in batches (re-indexing is a backfill: curator uploads on
    `gpu` go first); returns the task ids."""
    batch = max(1, settings.ARTSEARCH_INDEX_BATCH)
    ids = list(image_ids)
    return [
        app.send_task(INDEX_TASK, args=[ids[i : i + batch]], kwargs={"force": force}, queue="bulk",
                      ignore_result=True).id
        for i in range(0, len(ids), batch)
    ]


class WorkerUnavailable(RuntimeError):
    """No query worker is alive, or none answered in time."""


def embed_query(data: bytes, rotations: bool = False, *, timeout: float | None = None) -> dict[str, Any]:
    """Have a `query` worker compute the embedding (and CAM map) of an uploaded image, or with
    ``rotations`` the vectors of the image turned by 90/180/270 degrees."""
    return _call(EMBED_QUERY_TASK, base64.b64encode(data).decode("ascii"), timeout=timeout,
                 kwargs={"rotations": True} if rotations else None)


NO_WORKER = "no query worker is running; start one with `celery -A artsearch worker -Q query`"
BROKER_DOWN = (RedisConnectionError, RedisTimeoutError, OperationalError)
# How often a caller waiting for a query result checks that a query worker is still alive.
POLL_S = 1.0


def _call(task: str, arg: Any, *, timeout: float | None, kwargs: dict[str, Any] | None = None) -> Any:
    """Run `task` on a query worker and return its result. Fails fast: at once when no worker's
    heartbeat is fresh (or Redis is down), and within HEARTBEAT_STALE_S + 1 s when the worker dies
    while the caller waits, instead of waiting out the whole timeout."""
    from celery.exceptions import TimeoutError as CeleryTimeout

    if not health.worker_alive("query"):
        raise WorkerUnavailable(NO_WORKER)
    budget = timeout or settings.ARTSEARCH_QUERY_TIMEOUT
    try:
        # expires: a query nobody took in time is dropped, not computed for a caller long gone.
        result = app.send_task(task, args=[arg], kwargs=kwargs or {}, queue="query", expires=budget)
    except Exception as exc:  # the broker is unreachable
        raise WorkerUnavailable(f"the task queue is unavailable: {exc}") from exc
    deadline = time.monotonic() + budget
    try:
        while True:
            try:
                return result.get(timeout=min(POLL_S, max(0.05, deadline - time.monotonic())))
            except CeleryTimeout as exc:
                if time.monotonic() >= deadline:
                    result.revoke()
                    raise WorkerUnavailable("no query worker answered in time") from exc
                if not health.worker_alive("query"):
                    raise WorkerUnavailable(NO_WORKER) from exc
            except BROKER_DOWN as exc:  # Redis went away while we waited (a task's own error passes)
                raise WorkerUnavailable(f"the task queue is unavailable: {exc}") from exc
    finally:
        with contextlib.suppress(Exception):
            result.forget()


REFRESH_CAPTIONS_TASK = "recommender.tasks.refresh_captions"


def enqueue_caption_refresh(artwork_id: int) -> str:
    """Re-caption one artwork after its text changed (catalogue sentence, embeddings, full text)."""
    return app.send_task(REFRESH_CAPTIONS_TASK, args=[artwork_id], queue="default", ignore_result=True).id

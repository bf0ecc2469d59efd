"""Celery app. Queues: `gpu` (feature extraction, batched), `query` (embeddings for
interactive image queries; its own worker so bulk indexing never starves it), `default`."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "artsearch.settings")

app = Celery("artsearch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _warm_query_worker(sender: Any, **kwargs: Any) -> None:
    """A worker that consumes the `query` queue sends itself a warm-up as it comes up, so that
    VGG16 and the sentence encoder are loaded before the first visitor's query. One per pool
    process: a warm-up takes seconds, so the next one goes to a process still idle (not certain,
    as any worker on the queue may take any of them)."""
    if "query" in sender.app.amqp.queues.consume_from:
        for _ in range(int(getattr(sender.controller, "concurrency", 1) or 1)):
            sender.app.send_task("recommender.tasks.warm_up", queue="query")

"""Celery app. Queues: `gpu` (feature extraction, batched), `query` (embeddings for
interactive image queries; its own worker so bulk indexing never starves it), `default`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "artsearch.settings")

app = Celery("artsearch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

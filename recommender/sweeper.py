"""Nothing stays stuck: uploads left "queued" and images left "pending" whose task is gone (sent
while Redis was down, lost with a broker's data, or never sent) are sent again.

Run every minute by celery beat (`recommender.tasks.sweep_stuck`, scripts/supervisord.conf).
A row counts as stuck once it has waited ARTSEARCH_STUCK_AFTER_S *and* the queue its task would
sit in is empty: then the task cannot be waiting behind others, so sending it again never piles
copies into a long queue. A copy that does run twice is harmless: process_upload and index_images
skip work already done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from artsearch.celery import redis_client
from recommender import jobs
from recommender.models import ArtworkImage, Upload

# kombu's Redis transport keeps a queue's messages of priority p in the list "<queue>\x06\x16<p>"
# (p > 0) beside the plain "<queue>" list.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


@dataclass
class SweepReport:
    uploads: int = 0
    images: int = 0


def queue_length(queue: str) -> int:
    """Messages waiting in a queue (not those a worker has taken). Raises when Redis is down."""
    client = redis_client()
    return sum(int(client.llen(queue + suffix)) for suffix in _PRIORITY_SUFFIXES)


def stuck_requeue(*, older_than_s: float | None = None) -> SweepReport:
    """Send again the stuck uploads (gpu queue) and stuck pending images (bulk queue).

    Costs two indexed queries plus one task per stuck upload and one per 16 stuck images."""
    age = settings.ARTSEARCH_STUCK_AFTER_S if older_than_s is None else older_than_s
    cutoff = timezone.now() - timedelta(seconds=age)
    report = SweepReport()
    if queue_length("gpu") == 0:
        stuck = list(Upload.objects.filter(stage=Upload.Stage.QUEUED, updated_at__lte=cutoff,
                                           image__isnull=False).values_list("pk", flat=True))
        for pk in stuck:
            if jobs.enqueue_upload(pk):
                # Touch it, so the next sweep waits its turn again.
                Upload.objects.filter(pk=pk).update(updated_at=timezone.now())
                report.uploads += 1
    if queue_length("bulk") == 0 and queue_length("gpu") == 0:
        images = list(ArtworkImage.objects.filter(status=ArtworkImage.Status.PENDING, created_at__lte=cutoff,
                                                  uploads__isnull=True).values_list("pk", flat=True))
        if images:
            jobs.enqueue_index(images)
            report.images = len(images)
    return report


def upload_is_stuck(upload: Upload) -> bool:
    """Queued for longer than ARTSEARCH_STUCK_AFTER_S: its curator may send it again ("retry")."""
    cutoff = timezone.now() - timedelta(seconds=settings.ARTSEARCH_STUCK_AFTER_S)
    return upload.stage == Upload.Stage.QUEUED and upload.updated_at <= cutoff

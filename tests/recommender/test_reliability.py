"""A worker killed with SIGKILL mid-batch, and uploads made while no worker runs.
Uses the session's real worker process: stops, kills and restarts it."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from recommender import curation, jobs
from recommender.catalogue import images_import_folder
from recommender.models import ArtworkImage, Upload
from recommender.sweeper import queue_length
from tests.recommender.base import users  # noqa: F401 - fixture
from tests.recommender.helpers import demo_subset, wait_indexed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_worker_killed_mid_batch_leaves_every_image_indexed_exactly_once(worker, tmp_path: Path) -> None:
    manifest = demo_subset(tmp_path / "demo", 24, start=80)
    images_import_folder(folder=tmp_path / "demo", manifest=manifest)
    ids = list(ArtworkImage.objects.order_by("id").values_list("id", flat=True))
    jobs.enqueue_index(ids[:8])  # a first batch that finishes before the kill
    wait_indexed(ids[:8])
    first_done = dict(ArtworkImage.objects.filter(pk__in=ids[:8]).values_list("pk", "indexed_at"))

    jobs.enqueue_index(ids)  # everything again: the first 8 must be skipped, not recomputed
    deadline = time.monotonic() + 300
    while ArtworkImage.objects.filter(pk__in=ids, status=ArtworkImage.Status.INDEXED).count() <= 8:
        assert time.monotonic() < deadline, "the worker never got going"
        time.sleep(0.2)
    worker.kill(signal.SIGKILL)  # the whole process group: parent and pool child, mid-batch
    left = ArtworkImage.objects.filter(pk__in=ids).exclude(status=ArtworkImage.Status.INDEXED).count()
    assert left > 0, "the batch finished before the kill; nothing was tested"

    worker.start()  # acks_late: the unacknowledged batch comes back to the new worker
    wait_indexed(ids, timeout=600)
    rows = ArtworkImage.objects.filter(pk__in=ids)
    assert rows.count() == 24  # no image lost, none duplicated
    assert rows.filter(status=ArtworkImage.Status.INDEXED, embedding__isnull=False).count() == 24
    assert dict(rows.filter(pk__in=ids[:8]).values_list("pk", "indexed_at")) == first_done


def test_uploads_made_while_no_worker_runs_are_processed_when_one_starts(
    worker, tmp_path: Path, users: dict[str, User]  # noqa: F811
) -> None:
    from tests.conftest import DEMO

    worker.stop()
    try:
        files = sorted((DEMO / "images").glob("*.jpg"))[150:152]
        uploads = [
            curation.artwork_upload(user=users["curator"], data=f.read_bytes(), source_name=f.name,
                                    metadata={"title": f.stem})
            for f in files
        ]
        # Saved and sent: each upload's task waits in the broker's gpu queue for a worker.
        assert queue_length("gpu") == len(uploads)
        assert all(Upload.objects.get(pk=u.pk).stage == Upload.Stage.QUEUED for u in uploads)
    finally:
        worker.start()
    deadline = time.monotonic() + 600
    while Upload.objects.filter(pk__in=[u.pk for u in uploads], stage=Upload.Stage.DONE).count() < 2:
        assert time.monotonic() < deadline, list(Upload.objects.values_list("stage", "error"))
        time.sleep(0.5)
    assert ArtworkImage.objects.filter(status=ArtworkImage.Status.INDEXED).count() == 2
    assert all(u.image.duplicates_checked_at <= timezone.now() for u in Upload.objects.select_related("image"))


def test_a_query_worker_loads_its_models_as_it_comes_up(worker) -> None:
    """Each pool process of a worker that serves `query` warms up as it starts (artsearch.celery), so
    the first visitor's query does not wait for VGG16 and the sentence encoder to load."""
    import re

    deadline = time.monotonic() + 180
    while not re.search(r"pool process \d+ warmed up", worker.log.read_text()):
        assert time.monotonic() < deadline, worker.log.read_text()[-3000:]
        time.sleep(1)
    assert "'model_version': 'vgg16-oxford-caffe" in worker.log.read_text()

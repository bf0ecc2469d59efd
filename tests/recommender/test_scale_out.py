"""Scaling out: a worker on another host is a worker with its own ARTSEARCH_HOME pointed at the
first instance's PostgreSQL and Redis by URL. It takes part of an indexing backlog, and no image
is indexed twice (tasks are acked late, one reserved at a time, and re-runs skip indexed rows)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from recommender import jobs
from recommender.catalogue import images_import_folder
from recommender.models import ArtworkImage
from tests.conftest import WorkerProcess
from tests.recommender.helpers import demo_subset, wait_indexed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _indexed_by(log: Path) -> tuple[int, int]:
    """(indexed, skipped) summed over the index tasks a worker logged."""
    found = re.findall(r"indexed (\d+) skipped (\d+) failed", log.read_text(errors="replace"))
    return sum(int(a) for a, _ in found), sum(int(b) for _, b in found)


def test_a_second_host_takes_part_of_an_indexing_batch_and_nothing_is_indexed_twice(
        worker: WorkerProcess, media_root: Path, tmp_path: Path) -> None:
    manifest = demo_subset(tmp_path / "demo", 12, start=120)
    images_import_folder(folder=tmp_path / "demo", manifest=manifest)
    ids = list(ArtworkImage.objects.values_list("id", flat=True))
    first_before = _indexed_by(worker.log)

    db = connection.settings_dict
    remote = {
        "ARTSEARCH_HOME": str(tmp_path / "second-host"),  # its own home: no embedded servers of its own start
        "DATABASE_URL": f"postgres://{db['USER']}@/{db['NAME']}?host={db['HOST']}",
        "REDIS_URL": settings.REDIS_URL,
    }
    second = WorkerProcess(db_name=db["NAME"], media_root=media_root, log=tmp_path / "second.log")
    with mock.patch.dict(os.environ, remote):
        second.start(queues="bulk")
    try:
        deadline = time.monotonic() + 120
        while "ready." not in second.log.read_text(errors="replace"):
            assert time.monotonic() < deadline, second.log.read_text()[-2000:]
            time.sleep(0.5)
        with override_settings(ARTSEARCH_INDEX_BATCH=2):
            jobs.enqueue_index(ids)
        wait_indexed(ids)
    finally:
        second.stop()
    assert not (tmp_path / "second-host" / "pgdata").exists()
    first = _indexed_by(worker.log)
    first_indexed = first[0] - first_before[0]
    second_indexed, second_skipped = _indexed_by(second.log)
    assert second_indexed > 0 and first_indexed > 0
    assert first_indexed + second_indexed == len(ids) and second_skipped == first[1] - first_before[1] == 0

"""Shared fixtures: the real embedded PostgreSQL+pgvector and Redis (started by settings),
a temporary media folder, and a real Celery worker process for tests that need one."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo" / "wga_sample"


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session", autouse=True)
def _isolated_media(media_root: Path) -> Iterator[None]:
    from django.test.utils import override_settings

    with override_settings(MEDIA_ROOT=str(media_root)):
        yield


@pytest.fixture(scope="session")
def demo_images() -> list[Path]:
    return sorted((DEMO / "images").glob("*.jpg"))


def _purge_queues() -> None:
    from artsearch.celery import app

    with app.connection_for_write() as conn:
        for queue in ("gpu", "query", "bulk", "default"):
            # A queue that never existed is already empty.
            with contextlib.suppress(Exception):
                conn.default_channel.queue_purge(queue)


class WorkerProcess:
    """A real `celery worker` subprocess on the test database and media folder."""

    def __init__(self, *, db_name: str, media_root: Path, log: Path) -> None:
        self.db_name, self.media_root, self.log = db_name, media_root, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, queues: str = "gpu,bulk,query,default") -> None:
        env = {
            **os.environ,
            "ARTSEARCH_DB_NAME": self.db_name,
            "MEDIA_ROOT": str(self.media_root),
            # Short visibility timeout: a task held by a killed worker comes back within seconds.
            "CELERY_VISIBILITY_TIMEOUT": "8",
        }
        cmd = [sys.executable, "-m", "celery", "-A", "artsearch", "worker", "-Q", queues, "-c", "1",
               "-n", f"test-{os.getpid()}-{time.monotonic_ns()}@%h", "--without-gossip", "--without-mingle",
               "-l", "INFO"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        from artsearch.celery import app

        deadline = time.monotonic() + 300  # the query pool process's warm-up included
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log.read_text()[-3000:]}")
            if app.control.ping(timeout=0.5):
                break
        else:
            raise RuntimeError(f"worker did not answer a ping:\n{self.log.read_text()[-3000:]}")
        # A query worker beats (and the web sends it queries) once a pool process has warmed up.
        from recommender import health

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log.read_text()[-3000:]}")
            if all(health.live_workers(q) for q in queues.split(",")):
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker never wrote its heartbeat:\n{self.log.read_text()[-3000:]}")

    def kill(self, sig: int) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)


@pytest.fixture(scope="session")
def worker(django_db_setup: None, django_db_blocker: object, media_root: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    from django.db import connection

    _purge_queues()
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    w = WorkerProcess(db_name=connection.settings_dict["NAME"], media_root=media_root, log=log)
    w.start()
    yield w
    w.stop()
    artefacts = REPO / "test-artifacts"
    artefacts.mkdir(exist_ok=True)
    shutil.copy(log, artefacts / "worker.log")

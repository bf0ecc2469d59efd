"""Parts failing while the site runs: a dead or hung query worker, Redis down, PostgreSQL down.
The real worker, Redis and PostgreSQL are stopped and started by the tests; the site must answer
at once and say so, never with a bare 500, and come back without a hand."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse

from artsearch import embedded
from artsearch.celery import HEARTBEAT_STALE_S
from recommender import curation, health, jobs, sweeper
from recommender.models import Upload
from tests.conftest import DEMO
from tests.recommender.base import users  # noqa: F401 - fixture

pytestmark = [pytest.mark.django_db(transaction=True)]

HOME = Path(settings.ARTSEARCH_HOME)
# "At once": far below the 60 s query timeout a caller would wait for a dead worker without the heartbeats.
FAST_S = 8.0


def _wait(pred: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _image() -> bytes:
    return sorted((DEMO / "images").glob("*.jpg"))[0].read_bytes()


def _client() -> Client:
    # Return Django's own response for an exception (handler500) instead of raising it in the test.
    return Client(raise_request_exception=False)


def _image_post(client: Client, url: str) -> tuple[object, float]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    t = time.monotonic()
    r = client.post(url, {"image": SimpleUploadedFile("q.jpg", _image(), content_type="image/jpeg")})
    return r, time.monotonic() - t


@pytest.mark.worker
def test_healthz_reports_each_component(worker) -> None:
    _wait(lambda: health.worker_alive("query"), "the worker's heartbeat")
    r = _client().get("/healthz")
    body = r.json()
    assert r.status_code == 200, body
    assert set(body) >= {"ok", "database", "redis", "query_worker", "gpu_worker"}
    assert all(body[c]["ok"] for c in ("database", "redis", "query_worker", "gpu_worker"))
    assert body["database"]["detail"].startswith("pgvector")


def test_the_json_api_answers_json_on_every_error() -> None:
    client = _client()
    for response, status in ((client.get("/api/v1/search/image"), 405),
                             (client.get("/api/v1/no-such-endpoint"), 404),
                             (client.get("/api/v1/search/text", {"q": "x", "k": "many"}), 400)):
        assert response.status_code == status
        assert response["Content-Type"] == "application/json"
        assert json.loads(response.content)["error"]
    assert "POST" in client.get("/api/v1/search/image")["Allow"]


@pytest.mark.worker
def test_a_hung_query_worker_is_given_up_within_seconds_not_the_whole_timeout(worker) -> None:
    _wait(lambda: health.worker_alive("query"), "the worker's heartbeat")
    os.killpg(worker.proc.pid, signal.SIGSTOP)  # alive but silent, like a worker killed mid-query
    try:
        t = time.monotonic()
        with pytest.raises(jobs.WorkerUnavailable):
            jobs.embed_text("a harbour at dusk", timeout=60)
        assert time.monotonic() - t < HEARTBEAT_STALE_S + FAST_S
    finally:
        os.killpg(worker.proc.pid, signal.SIGCONT)
    _wait(lambda: health.worker_alive("query"), "the heartbeat after SIGCONT")


@pytest.mark.worker
def test_a_killed_query_worker_gives_fast_answers_and_healthz_says_so(worker) -> None:
    client = _client()
    worker.kill(signal.SIGKILL)
    try:
        _wait(lambda: not health.worker_alive("query"), "the dead worker's heartbeat to go stale",
              timeout=HEARTBEAT_STALE_S + 5)
        r = client.get("/healthz")
        assert r.status_code == 503
        assert not r.json()["query_worker"]["ok"] and r.json()["database"]["ok"] and r.json()["redis"]["ok"]

        r, took = _image_post(client, reverse("api_search_image"))
        assert r.status_code == 503 and took < FAST_S
        assert r["Retry-After"] and "worker" in r.json()["error"]
        r, took = _image_post(client, reverse("search_image"))
        assert r.status_code == 503 and took < FAST_S and r["Retry-After"]

        t = time.monotonic()
        r = client.get(reverse("api_search_text"), {"q": "madonna with child"})
        assert r.status_code == 200 and time.monotonic() - t < FAST_S
        assert "words only" in r.json()["warning"]
    finally:
        worker.start()


@pytest.mark.worker
def test_a_replacement_pool_process_warms_up_before_it_takes_work(worker) -> None:
    pattern = re.compile(r"pool process (\d+) warmed up")
    _wait(lambda: pattern.search(worker.log.read_text()), "the first pool process's warm-up", timeout=300)
    children = psutil.Process(worker.proc.pid).children()
    assert len(children) == 1
    old = children[0].pid
    os.kill(old, signal.SIGKILL)
    _wait(lambda: any(int(p) != old for p in pattern.findall(worker.log.read_text())
                      if int(p) in {c.pid for c in psutil.Process(worker.proc.pid).children()}),
          "the replacement's warm-up", timeout=300)
    _wait(lambda: health.worker_alive("query"), "the heartbeat of the warmed replacement")
    assert len(jobs.embed_text("a harbour at dusk")) == 384


@pytest.mark.worker
def test_redis_down_search_degrades_uploads_wait_then_everything_resumes(
    worker, users: dict[str, User]  # noqa: F811
) -> None:
    client = _client()
    client.force_login(users["curator"])
    assert embedded.stop_redis(HOME)
    try:
        with override_settings(ARTSEARCH_REVIVE_EMBEDDED=False):
            _wait(lambda: not embedded._redis_alive(embedded.redis_socket(HOME)), "Redis to stop", timeout=20)
            # The rate limit fails open; the words-only lists answer.
            r = client.get(reverse("api_search_text"), {"q": "madonna with child"})
            assert r.status_code == 200 and r.json()["warning"]
            assert client.get(reverse("search_text"), {"q": "madonna with child"}).status_code == 200
            r, took = _image_post(client, reverse("api_search_image"))
            assert r.status_code == 503 and took < FAST_S and r.json()["error"]

            from django.core.files.uploadedfile import SimpleUploadedFile

            data = sorted((DEMO / "images").glob("*.jpg"))[160].read_bytes()
            t = time.monotonic()
            r = client.post(reverse("upload_new"), {"image": SimpleUploadedFile("down.jpg", data),
                                                    "title": "Made while Redis was down"})
            assert r.status_code == 302 and time.monotonic() - t < FAST_S
            upload = Upload.objects.get(artwork__title="Made while Redis was down")
            assert upload.stage == Upload.Stage.QUEUED
            assert "task queue is unavailable" in client.get(upload.get_absolute_url()).content.decode()

            r = client.get("/healthz")
            assert r.status_code == 503 and not r.json()["redis"]["ok"]
        client.get("/healthz")  # finds Redis down and starts it again
        _wait(lambda: embedded._redis_alive(embedded.redis_socket(HOME)), "the app to start Redis again",
              timeout=30)
    finally:
        embedded.ensure_redis(HOME)  # for the tests after this one, had an assertion failed above
    _wait(lambda: health.worker_alive("query"), "the worker to reconnect", timeout=120)
    assert sweeper.stuck_requeue(older_than_s=0).uploads == 1
    _wait(lambda: Upload.objects.get(pk=upload.pk).stage == Upload.Stage.DONE, "the swept upload", timeout=300)


def test_postgres_down_gives_short_503s_then_the_app_starts_it_again() -> None:
    client = _client()
    assert embedded.stop_postgres(HOME)
    try:
        with override_settings(ARTSEARCH_REVIVE_EMBEDDED=False):
            r = client.get("/healthz")
            assert r.status_code == 503 and not r.json()["database"]["ok"]
            r = client.get(reverse("api_search_text"), {"q": "madonna"})
            assert r.status_code == 503 and r["Content-Type"] == "application/json" and r.json()["error"]
            r = client.get(reverse("catalogue"))
            assert r.status_code == 503 and r["Retry-After"]
            assert "briefly unavailable" in r.content.decode() and "Traceback" not in r.content.decode()
        client.get("/healthz")  # finds it down and starts it again

        def database_ok() -> bool:
            connections.close_all()
            return client.get("/healthz").json()["database"]["ok"]

        _wait(database_ok, "the app to start PostgreSQL again", timeout=60)
    finally:
        embedded.ensure_postgres(HOME)  # for the tests after this one, had an assertion failed above
        connections.close_all()


@pytest.mark.worker
def test_an_upload_is_taken_before_a_backlog_of_bulk_work(worker, users: dict[str, User]) -> None:  # noqa: F811
    worker.stop()
    try:
        # 20 re-indexing batches (of images that do not exist: quick, but each one a task).
        jobs.enqueue_index(list(range(10**9, 10**9 + 20 * settings.ARTSEARCH_INDEX_BATCH)))
        f = sorted((DEMO / "images").glob("*.jpg"))[161]
        upload = curation.artwork_upload(user=users["curator"], data=f.read_bytes(), source_name=f.name,
                                         metadata={"title": "Interactive"})
        offset = len(worker.log.read_bytes())
    finally:
        worker.start()
    _wait(lambda: Upload.objects.get(pk=upload.pk).stage == Upload.Stage.DONE, "the upload", timeout=300)
    received = re.findall(r"Task (recommender\.tasks\.\w+)\[[^\]]+\] received",
                          worker.log.read_bytes()[offset:].decode(errors="replace"))
    assert received and received[0] == "recommender.tasks.process_upload", received[:5]

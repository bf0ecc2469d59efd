"""The embedded PostgreSQL (pgvector) and Redis: started once, reused, and pgvector's distance
functions work on this CPU (the bundled AVX-512 build would kill the backend)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from artsearch import embedded


@pytest.mark.django_db
def test_pgvector_distances_run_and_are_the_portable_build() -> None:
    assert embedded.ensure_portable_pgvector() is False  # already installed, nothing to do
    with connection.cursor() as cur:
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        assert cur.fetchone()[0] == "0.8.6"
        cur.execute("SELECT vector_norm('[3,4]'::vector), '[1,0]'::vector <=> '[0,1]'::vector, "
                    "l2_distance('[0,0]'::vector, '[3,4]'::vector)")
        assert cur.fetchone() == (5.0, 1.0, 5.0)


def test_servers_are_started_once_and_reused() -> None:
    if not settings.DATABASES["default"]["HOST"].startswith("/"):
        pytest.skip("DATABASE_URL points at an external server")
    home = settings.ARTSEARCH_HOME
    pidfile = home / "pgdata" / "postmaster.pid"
    pid_before = pidfile.read_text().split()[0]
    sock = embedded.ensure_postgres(home)
    assert str(sock) == settings.DATABASES["default"]["HOST"]
    assert pidfile.read_text().split()[0] == pid_before
    redis_pid = (home / "redis" / "redis.pid").read_text()
    assert embedded.ensure_redis(home) == embedded.redis_socket(home)
    assert (home / "redis" / "redis.pid").read_text() == redis_pid
    # Unix sockets only: nothing of ours listens on TCP (the machine's own 5432/6379 stay theirs).
    assert "port 0" in (home / "redis" / "redis.conf").read_text()


@pytest.mark.django_db
def test_the_embedded_server_is_sized_from_the_machine() -> None:
    memory_settings = embedded.memory_settings
    wanted = memory_settings(24 * 1024**3, 2)
    assert wanted["shared_buffers"] == "6144MB" and wanted["maintenance_work_mem"] == "3072MB"
    assert memory_settings(1024**3, 1)["maintenance_work_mem"] == "128MB"
    with connection.cursor() as cur:  # written by the server start (ALTER SYSTEM), live after the reload
        cur.execute("SELECT setting FROM pg_file_settings WHERE name = 'maintenance_work_mem' AND applied")
        assert cur.fetchone() is not None

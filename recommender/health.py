"""Is each part of the service up? Database, Redis, and a worker on each of the `query` and `gpu`
queues, answered within about a second, so that the web can say so at once instead of waiting for
a task that no one will take.

Workers are known alive by their heartbeat (artsearch.celery.Heartbeat): one Redis read. When the
embedded PostgreSQL or Redis (artsearch.embedded) is found down, `revive_embedded` starts it again
in the background, so a crashed server comes back without a hand.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import asdict, dataclass

from django.conf import settings

from artsearch.celery import HEARTBEAT_KEY, HEARTBEAT_STALE_S, redis_client

logger = logging.getLogger(__name__)

# The worker kinds /healthz reports, and the queue each one serves.
WORKER_QUEUES = {"query_worker": "query", "gpu_worker": "gpu"}


@dataclass
class Component:
    ok: bool
    detail: str = ""


def live_workers(queue: str) -> list[str]:
    """Names of the workers that beat for this queue within HEARTBEAT_STALE_S. Raises the Redis
    client's error when Redis is down."""
    key = HEARTBEAT_KEY.format(queue=queue)
    names = redis_client(timeout=0.5).zrangebyscore(key, time.time() - HEARTBEAT_STALE_S, "+inf")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def worker_alive(queue: str) -> bool:
    """True when some worker serves `queue` now; False when none does or Redis cannot tell."""
    try:
        return bool(live_workers(queue))
    except Exception as exc:
        revive_embedded(redis=True)
        logger.warning("worker heartbeat unreadable: %s", exc)
        return False


def check_database() -> Component:
    from django.db import connection

    try:
        with connection.cursor() as cur:
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cur.fetchone()
    except Exception as exc:
        revive_embedded(postgres=True)
        return Component(False, f"{type(exc).__name__}: {str(exc).strip()[:200]}")
    return Component(True, f"pgvector {row[0]}" if row else "pgvector missing")


def check_redis() -> Component:
    try:
        redis_client(timeout=0.5).ping()
    except Exception as exc:
        revive_embedded(redis=True)
        return Component(False, f"{type(exc).__name__}: {str(exc).strip()[:200]}")
    return Component(True)


def check_worker(queue: str) -> Component:
    try:
        names = live_workers(queue)
    except Exception as exc:
        return Component(False, f"unknown, Redis unavailable ({type(exc).__name__})")
    return Component(bool(names), ", ".join(names) if names else f"no worker consumes `{queue}`")


def components() -> dict[str, Component]:
    """Every component's state; each check takes at most about a second."""
    return {
        "database": check_database(),
        "redis": check_redis(),
        **{name: check_worker(queue) for name, queue in WORKER_QUEUES.items()},
    }


def report() -> tuple[bool, dict[str, object]]:
    """(all up, JSON body) for /healthz."""
    parts = components()
    ok = all(c.ok for c in parts.values())
    return ok, {"ok": ok, **{name: asdict(c) for name, c in parts.items()}}


# --------------------------------------------------------------------------- self-repair
_revive_lock = threading.Lock()
_last_revive = {"postgres": 0.0, "redis": 0.0}
# At most one start attempt per server per process every this many seconds: a server that cannot
# start (disk full) is not hammered by every request.
REVIVE_EVERY_S = 10.0


def embedded_postgres() -> bool:
    return not os.getenv("DATABASE_URL")


def embedded_redis() -> bool:
    return not os.getenv("REDIS_URL")


def revive_embedded(*, postgres: bool = False, redis: bool = False, wait: bool = False) -> None:
    """Start the embedded PostgreSQL and/or Redis again if this install uses them (never a server
    configured by URL). Runs in a background thread unless `wait`; artsearch.embedded's file locks
    make concurrent starters (web threads, workers) start each server once."""
    if not settings.ARTSEARCH_REVIVE_EMBEDDED:
        return
    wanted = [name for name, asked, embedded in (("postgres", postgres, embedded_postgres()),
                                                 ("redis", redis, embedded_redis())) if asked and embedded]
    now = time.monotonic()
    with _revive_lock:
        wanted = [n for n in wanted if now - _last_revive[n] >= REVIVE_EVERY_S]
        for n in wanted:
            _last_revive[n] = now
    if not wanted:
        return
    if wait:
        _revive(wanted)
    else:
        threading.Thread(target=_revive, args=(wanted,), name="revive-embedded", daemon=True).start()


def _revive(names: list[str]) -> None:
    from artsearch import embedded

    home = settings.ARTSEARCH_HOME
    for name in names:
        try:
            if name == "redis":
                embedded.ensure_redis(home)
            else:
                embedded.ensure_postgres(home)
        except Exception:
            logger.exception("could not start the embedded %s", name)
        else:
            logger.info("embedded %s checked (started again if it was down)", name)

"""Celery app. Queues: `gpu` (curator uploads, interactive feature extraction), `bulk` (backfills:
re-indexing, caption embeddings; consumed by the gpu worker only when `gpu` is empty), `query`
(embeddings for interactive image and text queries; its own worker so bulk indexing never starves
it), `default`.

Every worker writes a heartbeat to Redis (see `Heartbeat`), so the web process knows within a few
seconds whether a worker serves a queue and answers at once when none does (recommender.health).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from typing import Any

from celery import Celery, bootsteps
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "artsearch.settings")

logger = logging.getLogger(__name__)

app = Celery("artsearch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# One sorted set per queue: worker name -> time of its last beat. A worker is alive while its
# last beat is younger than HEARTBEAT_STALE_S. The beat runs on the worker's main process timer,
# which keeps ticking while a pool process computes, so a busy worker still counts as alive; a
# SIGKILLed one stops beating and is given up after HEARTBEAT_STALE_S.
HEARTBEAT_KEY = "artsearch:workers:{queue}"
HEARTBEAT_INTERVAL_S = 1.0
HEARTBEAT_STALE_S = 3.0


@functools.cache
def redis_client(timeout: float = 1.0) -> Any:
    """A Redis client on the broker's Redis with short timeouts (a dead Redis fails in ~1 s, not 20).
    One per process and timeout (thread-safe; its pool reconnects after Redis restarts)."""
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)


class Heartbeat(bootsteps.StartStopStep):
    """Consumer step: once the worker consumes its queues and a pool process is ready (warmed up),
    record `now` under each queue's key every HEARTBEAT_INTERVAL_S; on a clean stop (or lost broker
    connection) remove it at once."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None
        self.parent: Any = None
        self.client: Any = None
        self.keys: list[str] = []
        self.name = ""

    def start(self, parent: Any) -> None:
        self.parent = parent
        self.client = redis_client()
        self.name = parent.hostname
        self.keys = [HEARTBEAT_KEY.format(queue=q) for q in parent.app.amqp.queues.consume_from]
        self.beat()
        self.tref = parent.timer.call_repeatedly(HEARTBEAT_INTERVAL_S, self.beat, priority=10)

    def beat(self) -> None:
        if not _pool_ready(self.parent):
            return  # every pool process is still warming up: tasks sent now would wait for it
        now = time.time()
        try:
            pipe = self.client.pipeline(transaction=False)
            for key in self.keys:
                pipe.zadd(key, {self.name: now})
                pipe.zremrangebyscore(key, 0, now - 60)  # names of long-gone workers
                pipe.expire(key, 60)
            pipe.execute()
        except Exception as exc:  # Redis down: the broker connection's own recovery restarts this step
            logger.warning("heartbeat not written: %s", exc)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        if self.client is not None:
            try:
                for key in self.keys:
                    self.client.zrem(key, self.name)
            except Exception as exc:
                logger.warning("heartbeat not removed: %s", exc)

    shutdown = stop


app.steps["consumer"].add(Heartbeat)


def _pool_ready(consumer: Any) -> bool:
    """Whether some pool process takes work now. A prefork process counts once it has sent its UP
    message, i.e. after worker_process_init (the warm-up below); other pools always count."""
    inner = getattr(getattr(consumer, "pool", None), "_pool", None)
    inqueues = getattr(inner, "_all_inqueues", None)
    return inqueues is None or len(inqueues) > 0


@worker_process_init.connect
def _warm_pool_process(**kwargs: Any) -> None:
    """Each pool process of a worker that consumes `query` loads VGG16 and the sentence encoder
    before it takes its first task: Celery forks a process, runs this, and only then hands it work
    (also a replacement for a process that died or hit its task limit; cold, its first query
    waited 9-13 s). CELERY_WORKER_PROC_ALIVE_TIMEOUT gives the warm-up the time it needs."""
    if "query" not in app.amqp.queues.consume_from:
        return
    try:
        # By name from the registry (the worker imported the tasks before forking), so that this
        # module, which the web process imports too, never imports the task modules (torch).
        done = app.tasks["recommender.tasks.warm_up"]()
    except Exception:  # a broken model shows on the first query's error instead of a dead pool
        logger.exception("warm-up failed in pool process %s", os.getpid())
        return
    logger.info("pool process %s warmed up: %s", os.getpid(), done)

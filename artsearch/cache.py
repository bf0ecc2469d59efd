"""The Redis cache, failing open: with Redis down a read is a miss and a write is dropped (logged),
instead of a 500 from every view that touches the cache (the rate limits, above all). A cache is
an optimisation here; nothing correct depends on what it holds."""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


def _down(op: str, exc: BaseException) -> None:
    logger.warning("cache %s skipped, Redis unavailable: %s", op, exc)


class FailOpenRedisCache(RedisCache):
    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        try:
            return super().add(key, value, timeout, version)
        except DOWN as exc:
            _down("add", exc)
            return False

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except DOWN as exc:
            _down("get", exc)
            return default

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except DOWN as exc:
            _down("set", exc)

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except DOWN as exc:
            _down("delete", exc)
            return False

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        try:
            return super().get_many(keys, version)
        except DOWN as exc:
            _down("get_many", exc)
            return {}

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        try:
            return super().incr(key, delta, version)
        except DOWN as exc:
            # django-ratelimit reads ValueError as "count unknown" and, with RATELIMIT_FAIL_OPEN, lets
            # the request through.
            _down("incr", exc)
            raise ValueError("cache unavailable") from exc

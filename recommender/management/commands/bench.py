from __future__ import annotations

import os
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.images import decode_image
from recommender import selectors
from recommender.metrics import percentile
from recommender.models import Artwork, ArtworkImage


def _cpu_name() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"




class Command(BaseCommand):
    help = (
        "Speed figures for the README: indexing images/s in one worker process next to the raw VGG16 forward "
        "rate at the same size, ms per similar-artworks query, and full image-query latency."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--images", type=int, default=64, help="indexed images used for the timing")
        parser.add_argument("--queries", type=int, default=100)

    def handle(self, *args: Any, images: int, queries: int, **opts: Any) -> None:
        import torch

        from recommender.pipeline import get_extractor, image_index_batch, query_embedding
        from recommender.search import image_query

        rows = list(ArtworkImage.objects.filter(status=ArtworkImage.Status.INDEXED).order_by("id")[:images])
        if len(rows) < 8:
            raise CommandError("index some images first (scripts/run.sh or `manage.py index --inline`)")
        ex = get_extractor()
        self.stdout.write(f"machine: {_cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} "
                          f"({torch.get_num_threads()} threads), device {ex.trunk.device}")
        self.stdout.write(f"model: {ex.model_version}; collection: {ArtworkImage.objects.count()} images")
        rgbs = []
        for r in rows:
            with r.file.open("rb") as fh:
                rgbs.append(decode_image(fh.read()))

        # Raw trunk forward at the same resize/bucketing as indexing (no CAM, no DB, no ORB).
        ex.gap_features(rgbs[:8])  # warm-up
        t = time.perf_counter()
        ex.gap_features(rgbs)
        raw = len(rgbs) / (time.perf_counter() - t)

        batch = settings.ARTSEARCH_INDEX_BATCH
        ids = [r.pk for r in rows]
        t = time.perf_counter()
        for i in range(0, len(ids), batch):
            image_index_batch(ids[i : i + batch], force=True)
        full = len(ids) / (time.perf_counter() - t)
        self.stdout.write(f"indexing: {full:.2f} images/s per worker process (decode + CAM-VGG16 + ORB + DB), "
                          f"raw VGG16 conv forward {raw:.2f} images/s, max side {settings.ARTSEARCH_FEATURE_MAX_SIDE}")

        arts = list(Artwork.objects.filter(images__status=ArtworkImage.Status.INDEXED).distinct()[:500])
        random.Random(0).shuffle(arts)
        times = []
        for art in (arts * (queries // max(len(arts), 1) + 1))[:queries]:
            t = time.perf_counter()
            selectors.artwork_similar_list(artwork=art)
            times.append((time.perf_counter() - t) * 1000)
        self.stdout.write(f"similar-artworks query: p50 {statistics.median(times):.1f} ms, "
                          f"p95 {percentile(times, 0.95):.1f} ms over {len(times)} queries (top 12, HNSW)")

        qtimes, parts = [], []
        datas = []
        for r in rows[: min(queries, 30)]:
            with r.file.open("rb") as fh:
                datas.append(fh.read())
        for data in datas:
            t = time.perf_counter()
            res = image_query(data=data, embed=query_embedding)
            qtimes.append(time.perf_counter() - t)
            parts.append(res.timings)
        keys = ["decode", "embed", "shortlist", "verify"]
        split = ", ".join(f"{k} {statistics.median([p[k] for p in parts]) * 1000:.0f}" for k in keys)
        self.stdout.write(f"image query (in-process CNN + shortlist 100 + ORB/FLANN): p50 "
                          f"{statistics.median(qtimes) * 1000:.0f} ms, p95 {percentile(qtimes, 0.95) * 1000:.0f} ms "
                          f"[median ms: {split}]")

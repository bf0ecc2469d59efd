from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.images import ImageError, decode_image
from ml.modelfiles import CAM_HEAD
from recommender.modelfiles import model_path
from recommender.models import ArtworkImage
from recommender.progress import tqdm_bars


class Command(BaseCommand):
    help = (
        "Train the GAP+linear CAM head on conv5_3 with the catalogue's labels (FORM and TYPE) of every image in "
        "the collection, and save it in the model folder (ARTSEARCH_HOME/models). Re-index with `index --stale` after."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--epochs", type=int, default=200)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--min-images", type=int, default=20)

    def handle(self, *args: Any, epochs: int, seed: int, min_images: int, **options: Any) -> None:
        from ml.cam import train_cam_head
        from recommender.pipeline import get_extractor

        rows = list(ArtworkImage.objects.select_related("artwork").order_by("id"))
        if len(rows) < min_images:
            raise CommandError(f"only {len(rows)} images; import at least {min_images} first")
        extractor = get_extractor()
        bars = tqdm_bars(self.stderr)
        t0 = time.perf_counter()
        images, labels = [], {"form": [], "type": []}
        skipped: list[str] = []
        with bars("reading images", total=len(rows), unit="img") as advance:
            for row in rows:
                advance(1)
                try:
                    with row.file.open("rb") as fh:
                        images.append(decode_image(fh.read(), max_pixels=settings.ARTSEARCH_MAX_PIXELS))
                except (ImageError, OSError) as exc:
                    skipped.append(f"skipped {row.source_name}: {exc}")
                    continue
                labels["form"].append(row.artwork.form or None)
                labels["type"].append(row.artwork.type or None)
        for line in skipped:  # after the bar, which would otherwise be drawn over them
            self.stderr.write(line)
        # The forward passes, a chunk at a time so the bar moves (the extractor batches within each).
        chunk = 4 * settings.ARTSEARCH_INDEX_BATCH
        parts = []
        with bars("GAP features", total=len(images), unit="img") as advance:
            for i in range(0, len(images), chunk):
                parts.append(extractor.gap_features(images[i : i + chunk]))
                advance(len(images[i : i + chunk]))
        feats = np.concatenate(parts) if parts else np.zeros((0, extractor.dim), np.float32)
        self.stdout.write(f"GAP features for {len(images)} images in {time.perf_counter() - t0:.1f}s")
        head, report = train_cam_head(feats, labels, epochs=epochs, seed=seed)
        path = model_path(CAM_HEAD)
        head.save(path)
        self.stdout.write(json.dumps(report, indent=2, default=str))
        self.stdout.write(f"CAM head saved to {path}; run `python manage.py index --stale` to re-index")

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q, QuerySet
from django.test.utils import override_settings
from django.utils import timezone

from recommender import jobs
from recommender.models import ArtworkImage


class Command(BaseCommand):
    help = "Compute CNN vectors and ORB keypoints: enqueue on the `gpu` queue (default) or --inline."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--missing", action="store_true", help="images never indexed (default)")
        which.add_argument("--stale", action="store_true", help="missing, failed, or made by another model version")
        which.add_argument("--all", action="store_true", help="every image, recomputed")
        parser.add_argument("--wait", action="store_true", help="show a progress bar until the workers finish")
        parser.add_argument("--inline", action="store_true", help="compute in this process (no worker needed)")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--timeout", type=float, default=0, help="with --wait: give up after N seconds")

    def handle(self, *args: Any, **opts: Any) -> None:
        from django.conf import settings

        batch = opts["batch_size"] or settings.ARTSEARCH_INDEX_BATCH
        qs = self._selection(opts)
        ids = list(qs.order_by("id").values_list("id", flat=True))
        if not ids:
            self.stdout.write("nothing to index")
            return
        force = bool(opts["all"] or opts["stale"])
        if opts["inline"]:
            self._inline(ids, batch=batch, force=force)
            return
        since = timezone.now()
        with override_settings(ARTSEARCH_INDEX_BATCH=batch):
            jobs.enqueue_index(ids, force=force)
        self.stdout.write(f"enqueued {len(ids)} images on queue 'gpu' in batches of {batch}")
        if opts["wait"]:
            self._wait(ids, since=since, timeout=opts["timeout"])

    def _selection(self, opts: dict[str, Any]) -> QuerySet[ArtworkImage]:
        qs = ArtworkImage.objects.all()
        if opts["all"]:
            return qs
        if opts["stale"]:
            from recommender.pipeline import get_extractor

            version = get_extractor().model_version
            return qs.filter(~Q(status=ArtworkImage.Status.INDEXED) | ~Q(model_version=version))
        return qs.filter(status=ArtworkImage.Status.PENDING)

    def _inline(self, ids: list[int], *, batch: int, force: bool) -> None:
        from tqdm import tqdm

        from recommender.pipeline import image_index_batch

        done = 0
        t0 = time.perf_counter()
        with tqdm(total=len(ids), unit="img", file=self.stdout) as bar:
            for i in range(0, len(ids), batch):
                out = image_index_batch(ids[i : i + batch], force=force)
                done += out.indexed
                bar.update(len(ids[i : i + batch]))
        rate = done / max(time.perf_counter() - t0, 1e-9)
        self.stdout.write(f"indexed {done} of {len(ids)} images inline ({rate:.2f} images/s)")

    def _wait(self, ids: list[int], *, since: datetime, timeout: float) -> None:
        from tqdm import tqdm

        t0 = time.perf_counter()
        # Done = processed (indexed or failed) since we enqueued; works for --all re-runs too.
        processed = ArtworkImage.objects.filter(id__in=ids, indexed_at__gte=since)
        with tqdm(total=len(ids), unit="img", file=self.stdout) as bar:
            while True:
                done = processed.count()
                elapsed = time.perf_counter() - t0
                bar.n = done
                bar.set_postfix_str(f"{done / max(elapsed, 1e-9):.2f} images/s")
                bar.refresh()
                if done >= len(ids):
                    break
                if timeout and elapsed > timeout:
                    raise CommandError(f"gave up after {timeout:.0f}s with {len(ids) - done} images left")
                time.sleep(0.5)
        failed = processed.filter(status=ArtworkImage.Status.FAILED).count()
        self.stdout.write(f"done: {len(ids) - failed} indexed, {failed} failed")

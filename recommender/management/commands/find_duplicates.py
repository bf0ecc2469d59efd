from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from recommender.duplicates import duplicates_scan


class Command(BaseCommand):
    help = ("Check indexed images for copies with the image query's own decision path and store the "
            "duplicate/detail pairs. A full scan killed half-way is resumed by the next full scan.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--new", action="store_true", help="only images not scanned yet (incremental)")
        parser.add_argument("--shortlist", type=int, default=None,
                            help="candidates per image (default ARTSEARCH_SHORTLIST)")
        parser.add_argument("--batch", type=int, default=None,
                            help="images whose shortlists are fetched together (default ARTSEARCH_SCAN_BATCH)")

    def handle(self, *args: Any, new: bool, shortlist: int | None, batch: int | None, **options: Any) -> None:
        for name, value in (("--shortlist", shortlist), ("--batch", batch)):
            if value is not None and value < 1:
                raise CommandError(f"{name} must be at least 1")
        t0 = time.perf_counter()
        bar = tqdm(unit="img", desc="duplicate scan", disable=None)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        out = duplicates_scan(only_new=new, k=shortlist, batch=batch, progress=progress)
        bar.close()
        seconds = time.perf_counter() - t0
        per = f", {1000 * seconds / out.scanned:.0f} ms per image" if out.scanned else ""
        self.stdout.write(
            f"{'resumed an unfinished scan: ' if out.resumed else ''}scanned {out.scanned} images, "
            f"{out.pairs} duplicate/detail matches, {out.failed} unreadable, in {seconds:.1f}s{per}"
        )

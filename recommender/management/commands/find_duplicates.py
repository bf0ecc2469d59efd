from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from recommender.duplicates import duplicates_scan


class Command(BaseCommand):
    help = "Run the shortlist + threshold rules over the collection and store duplicate/detail candidate pairs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--new", action="store_true", help="only images not scanned yet (incremental)")
        parser.add_argument("--shortlist", type=int, default=100)

    def handle(self, *args: Any, new: bool, shortlist: int, **options: Any) -> None:
        t0 = time.perf_counter()
        out = duplicates_scan(only_new=new, k=shortlist)
        self.stdout.write(
            f"scanned {out.scanned} images, {out.pairs} duplicate/detail matches, {out.failed} unreadable, "
            f"in {time.perf_counter() - t0:.1f}s"
        )

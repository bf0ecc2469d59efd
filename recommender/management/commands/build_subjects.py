from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from recommender.progress import tqdm_bars


class Command(BaseCommand):
    help = ("Embed the Iconclass story subjects (ml.iconclass, from the `iconclass` package) for the text "
            "search's subject list; only new or changed entries are embedded (in this process).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=0, help="first N entries only (a quick trial)")

    def handle(self, *args: Any, limit: int, **o: Any) -> None:
        from ml.backbone import torch_threads
        from ml.iconclass import story_subjects
        from recommender.captioning import encoder_version, get_encoder
        from recommender.text_search import subjects_build

        entries = story_subjects()
        entries = entries[:limit] if limit else entries
        encoder = get_encoder()
        t = time.perf_counter()
        with torch_threads(1):
            embedded, deleted = subjects_build(entries, lambda texts: encoder.encode(texts), encoder_version(),
                                               bars=tqdm_bars(self.stderr))
        self.stdout.write(f"{len(entries)} Iconclass subjects: {embedded} embedded, {deleted} removed "
                          f"({time.perf_counter() - t:.0f}s)")

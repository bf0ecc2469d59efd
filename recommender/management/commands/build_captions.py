from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender import jobs
from recommender.progress import tqdm_bars


class Command(BaseCommand):
    help = (
        "Build captions for text search: a catalogue sentence per artwork, WGA commentary (--commentary FILE), "
        "the weighted full-text vectors, and sentence embeddings (on the workers, or --inline)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--commentary", type=Path, action="append", default=[],
                            help="WGA commentary: metadata.json as scraped, or JSON lines with url/description")
        parser.add_argument("--inline", action="store_true", help="embed in this process instead of the workers")
        parser.add_argument("--no-embed", action="store_true")
        parser.add_argument("--embed-only", action="store_true",
                            help="only enqueue/compute the missing or outdated embeddings (captions already built)")

    def handle(self, *args: Any, commentary: list[Path], inline: bool, no_embed: bool, embed_only: bool,
               **o: Any) -> None:
        from recommender.captioning import (
            catalogue_captions_sync,
            commentary_import,
            search_vectors_refresh,
        )

        if embed_only:
            self._embed(inline)
            return
        t0 = time.perf_counter()
        changed = catalogue_captions_sync(bars=tqdm_bars(self.stderr))
        self.stdout.write(f"catalogue captions: {changed} new or changed")
        for path in commentary:
            if not path.exists():
                raise CommandError(f"{path}: no such file")
            r = commentary_import(path)
            self.stdout.write(f"commentary {path.name}: {r.artworks} artworks, {r.chunks} chunks, "
                              f"{r.unmatched} not in the catalogue, {r.empty} empty")
        search_vectors_refresh()
        self.stdout.write(f"full-text vectors refreshed ({time.perf_counter() - t0:.1f}s)")
        if not no_embed:
            self._embed(inline)

    def _embed(self, inline: bool) -> None:
        from recommender.captioning import captions_embed, captions_to_embed

        todo = captions_to_embed()
        if inline:
            t = time.perf_counter()
            n = captions_embed(caption_ids=todo, bars=tqdm_bars(self.stderr))
            self.stdout.write(f"embedded {n} captions inline ({n / max(time.perf_counter() - t, 1e-9):.0f}/s)")
        else:
            jobs.enqueue_caption_embeddings(todo)
            self.stdout.write(f"enqueued {len(todo)} captions for embedding on queue 'gpu'")

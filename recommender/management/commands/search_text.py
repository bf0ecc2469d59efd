from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.text_search import FILTERS, QueryError, text_query


class Command(BaseCommand):
    help = "Find artworks from a sentence (caption embeddings + full-text + trigram, fused by reciprocal rank)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("query")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--k", type=int, default=10)
        for f in FILTERS:
            parser.add_argument(f"--{f}", default="")

    def handle(self, *args: Any, query: str, json: bool, k: int, **o: Any) -> None:
        from recommender.captioning import query_embedding

        try:
            res = text_query(q=query, embed=query_embedding, k=k,
                             filters={f: o[f] for f in FILTERS})
        except QueryError as exc:
            raise CommandError(str(exc)) from exc
        if json:
            out = res.as_json()
            out["results"] = [{k2: r[k2] for k2 in ("artwork_id", "url", "title", "author", "score")}
                              for r in out["results"]]
            out.pop("timings_ms")
            self.stdout.write(_dumps(out))
            return
        for i, h in enumerate(res.hits, 1):
            self.stdout.write(f"{i:2d}. {h.score:.4f}  #{h.artwork.pk} {h.artwork.title} — {h.artwork.author_display}")


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False)

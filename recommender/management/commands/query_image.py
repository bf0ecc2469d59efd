from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ml.images import ImageError
from recommender import search


class Command(BaseCommand):
    help = "Query the collection with image files: verdict and ranked matches (computed in this process)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--json", action="store_true", help="one JSON object per line")
        parser.add_argument("--limit", type=int, default=10)

    def handle(self, *args: Any, paths: list[Path], json: bool, limit: int, **options: Any) -> None:
        from recommender.pipeline import query_embedding

        failures = 0
        for path in paths:
            try:
                data = path.read_bytes()
                result = search.image_query(data=data, embed=query_embedding)
            except (OSError, ImageError) as exc:
                failures += 1
                msg = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                if json:
                    self.stdout.write(_dumps({"query": str(path), "error": msg}))
                else:
                    self.stderr.write(f"{path}: error: {msg}")
                continue
            if json:
                self.stdout.write(_dumps({"query": str(path), "verdict": str(result.verdict),
                                          "results": [_result(c) for c in result.candidates[:limit]]}))
                continue
            self.stdout.write(f"{path}: {result.verdict} ({result.timings['total'] * 1000:.0f} ms)")
            for c in result.candidates[:limit]:
                self.stdout.write(f"  {c.verdict:9} cos {c.cosine:.3f} inliers {c.inliers:4d}  "
                                  f"#{c.artwork.pk} {c.artwork.title} [{c.image.source_name}]")
        if failures:
            self.stderr.write(f"{failures} of {len(paths)} queries failed")


def _result(c: search.Candidate) -> dict[str, Any]:
    return {"artwork_id": c.artwork.pk, "title": c.artwork.title, "source_name": c.image.source_name,
            "cosine": round(c.cosine, 4), "inliers": c.inliers, "verdict": str(c.verdict)}


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False)

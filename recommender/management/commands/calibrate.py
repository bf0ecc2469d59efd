from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Propose thresholds from an `evaluate duplicates --json FILE` run: the smallest inlier counts (N, n) "
        "and cosine T that no unrelated artwork reached, and the recall they keep."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run", type=Path, help="the JSON written by evaluate duplicates --json")
        parser.add_argument("--margin", type=int, default=2, help="inliers added above the worst unrelated match")

    def handle(self, *args: Any, run: Path, margin: int, **o: Any) -> None:
        if not run.is_file():
            raise CommandError(f"{run}: no such file")
        data = json.loads(run.read_text())
        ev = data.get("summary", {}).get("evidence")
        if not ev:
            raise CommandError("this run has no evidence; re-run `evaluate duplicates --json` with this version")
        current = settings.ARTSEARCH_THRESHOLDS
        wrong_inl = [e["wrong_inliers"] or 0 for e in ev]
        wrong_cos = [e["wrong_cosine"] for e in ev if e["wrong_cosine"] is not None]
        hi_wrong_inl = [e["wrong_inliers"] or 0 for e in ev if (e["wrong_cosine"] or 0) >= current["T"]]
        n_big = max(4, max(wrong_inl, default=0) + margin)
        n_small = max(4, min(n_big, max(hi_wrong_inl, default=0) + margin))
        t_cos = min(0.99, round(max(wrong_cos, default=0.0) + 0.01, 2))
        copies = [e for e in ev if e["right_inliers"] is not None]

        def kept(n_req: int, n_hi: int, t: float) -> float:
            def need(e: dict[str, Any]) -> int:
                return n_hi if (e["right_cosine"] or 0) >= t else n_req

            ok = sum(1 for e in copies if (e["right_inliers"] or 0) >= need(e))
            return ok / len(copies) if copies else 0.0

        self.stdout.write(f"queries: {len(ev)} ({len(copies)} with the original in the shortlist)")
        self.stdout.write(f"worst unrelated candidate: {max(wrong_inl, default=0)} inliers, cosine "
                          f"{max(wrong_cos, default=0):.3f}")
        self.stdout.write(f"current  T={current['T']} N={current['N']} n={current['n']}: geometric recall "
                          f"{kept(current['N'], current['n'], current['T']):.3f}")
        self.stdout.write(f"proposed T={t_cos} N={n_big} n={n_small}: geometric recall "
                          f"{kept(n_big, n_small, t_cos):.3f}")
        names = settings.THRESHOLD_ENV_NAMES
        self.stdout.write(f"to use them: {names['T']}={t_cos} {names['N']}={n_big} {names['n']}={n_small}")

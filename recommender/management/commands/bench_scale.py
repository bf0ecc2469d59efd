from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.bench.run import ScaleConfig, run_scale_bench

DEMO = Path(__file__).resolve().parents[3] / "demo" / "wga_sample"

# Table columns: (heading, row key, format); sizes in MB.
_COLUMNS = [
    ("N", "artworks", "{:,}"), ("load s", "load_s", "{}"), ("build s", "build_s", "{}"),
    ("DB MB", "db_bytes", "mb"), ("peak MB", "db_peak_bytes", "mb"),
    ("sl p50", "shortlist_p50_ms", "{}"), ("sl p95", "shortlist_p95_ms", "{}"),
    ("R@10", "shortlist_recall_at_10", "{:.3f}"), ("R@100", "shortlist_recall_at_100", "{:.3f}"),
    ("found p50", "query_found_p50_ms", "{}"), ("absent p50", "query_notfound_p50_ms", "{}"),
    ("dup rec", "dup_recall", "{:.1%}"), ("false dup", "dup_false_duplicates", "{}"),
    ("scan ms/img", "scan_ms_per_new_image", "{}"), ("similar p50", "similar_p50_ms", "{}"),
]


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    return f"{value / 2**20:,.0f}" if fmt == "mb" else fmt.format(value)


class Command(BaseCommand):
    help = (
        "Scale benchmark in a scratch database (never yours): the real indexed images plus synthetic artworks "
        "that follow their distribution, up to each N; per N the load and index build times, sizes, database "
        "memory, the product's shortlist against an exact scan, image queries for copies and for absent images, "
        "duplicate recall, find_duplicates --new per image and similar artworks (times in ms)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--artworks", type=int, nargs="+", default=[10_000, 45_000],
                            help="collection sizes, reached one after the other by adding rows")
        parser.add_argument("--images", type=Path, default=DEMO / "images", help="folder of real images")
        parser.add_argument("--manifest", type=Path, default=None,
                            help="CSV with file (and artist) columns; absent queries are then whole artists")
        parser.add_argument("--queries", type=int, default=50, help="perturbed copies, and absent images, queried")
        parser.add_argument("--new-images", type=int, default=10, help="images timed through find_duplicates --new")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--maintenance-work-mem", default=None,
                            help="for the index builds only (e.g. 2GB); default: the server's setting")
        parser.add_argument("--keep", action="store_true", help="keep the scratch database and its media")
        parser.add_argument("--json", action="store_true", help="one JSON object per N instead of the table")
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument("--gates", type=float, nargs="*", default=[],
                            help="ARTSEARCH_FALLBACK_MIN_EVIDENCE values at which the image queries and the "
                                 "incremental scan are measured again (JSON key by_gate)")

    def handle(self, *args: Any, **opts: Any) -> None:
        manifest = opts["manifest"]
        if manifest is None and opts["images"] == DEMO / "images":
            manifest = DEMO / "manifest.csv"
        if not opts["images"].is_dir():
            raise CommandError(f"{opts['images']}: not a folder")
        cfg = ScaleConfig(artworks=opts["artworks"], images=opts["images"], manifest=manifest,
                          queries=opts["queries"], new_images=opts["new_images"], seed=opts["seed"],
                          keep=opts["keep"], maintenance_work_mem=opts["maintenance_work_mem"],
                          progress=not opts["no_progress"], gates=opts["gates"])
        as_json = opts["json"]
        widths = [max(len(h), 9) for h, _, _ in _COLUMNS]

        def header(text: str) -> None:
            if as_json:  # stdout stays one JSON object per line
                self.stderr.write(text)
                return
            self.stdout.write(text)
            self.stdout.write("  ".join(h.rjust(w) for (h, _, _), w in zip(_COLUMNS, widths, strict=True)))

        def emit(row: dict[str, Any]) -> None:
            if as_json:
                self.stdout.write(json.dumps(row))
            else:
                self.stdout.write("  ".join(_cell(row.get(k), f).rjust(w)
                                            for (_, k, f), w in zip(_COLUMNS, widths, strict=True)))
            self.stdout.flush()

        try:
            run_scale_bench(cfg, emit=emit, header=header)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

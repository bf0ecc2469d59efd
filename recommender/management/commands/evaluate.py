from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.progress import tqdm_bars


class Command(BaseCommand):
    help = ("Measure accuracy and speed: `evaluate duplicates --images DIR` (perturbation suite), `evaluate text "
            "--queries FILE`, `evaluate similar` (similar artworks' labels on held-out artists).")

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        dup = sub.add_parser("duplicates", help="perturbed copies and distractors against an index of originals")
        dup.add_argument("--images", type=Path, required=True)
        dup.add_argument("--originals", type=int, default=800, help="images indexed as the collection")
        dup.add_argument("--queries", type=int, default=100, help="originals whose copies are queried")
        dup.add_argument("--distractors", type=int, default=100, help="images left out of the index and queried")
        dup.add_argument("--manifest", type=Path, default=None,
                         help="CSV with `file` and `artist` columns: distractors are then whole artists with no "
                              "image among the originals (WGA holds details and re-photographs of one work)")
        dup.add_argument("--families", nargs="*", default=None)
        dup.add_argument("--seed", type=int, default=0)
        dup.add_argument("--json", type=Path, help="also write the summary and every outcome here")
        self._add_text(sub)
        self._add_similar(sub)

    def _add_similar(self, sub: Any) -> None:
        sim = sub.add_parser("similar", help="P@k per catalogue label of each similarity, on held-out artists")
        sim.add_argument("--holdout-artists", type=float, default=0.3,
                         help="fraction of the indexed images' artists held out of every training (default 0.3)")
        sim.add_argument("--seed", type=int, nargs="+", default=[0],
                         help="seeds of the artist split and the training; several: one split each, and the mean")
        sim.add_argument("--k", type=int, default=10, help="neighbours scored per query (default 10)")
        sim.add_argument("--stored-vectors", action="store_true",
                         help="score the index's own vectors instead of re-pooling with a CAM head trained on the "
                              "training artists (fast; that head may have seen the held-out artists)")
        sim.add_argument("--epochs", type=int, default=None,
                         help="training passes of every learned similarity (default: each one's own)")
        sim.add_argument("--json", type=Path, help="also write the summary here")

    def _add_text(self, sub: Any) -> None:
        from recommender.text_evaluation import MODES

        txt = sub.add_parser("text", help="description → artwork queries (JSON lines: query, relevant URLs)")
        txt.add_argument("--queries", type=Path, required=True)
        txt.add_argument("--limit", type=int, default=0, help="first N queries only")
        txt.add_argument("--mode", choices=MODES, default="fused",
                         help="fused (the product), one list alone, lexical (no encoder), joint (alone), "
                              "fused+joint (joint list for images without human text), fused+joint-all")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["what"] == "duplicates":
            self._duplicates(opts)
        elif opts["what"] == "text":
            self._text(opts)
        elif opts["what"] == "similar":
            self._similar(opts)

    def _similar(self, opts: dict[str, Any]) -> None:
        from recommender.similar_evaluation import SimilarEvalConfig, evaluate_similar

        try:
            cfg = SimilarEvalConfig(holdout_artists=opts["holdout_artists"], seeds=opts["seed"], k=opts["k"],
                                    retrain_cam=not opts["stored_vectors"], epochs=opts["epochs"])
            summary, report = evaluate_similar(cfg, bars=tqdm_bars(self.stderr),
                                               progress=lambda m: self.stderr.write(m))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(report)
        if opts["json"]:
            opts["json"].write_text(json.dumps(summary, indent=1, default=str))

    def _text(self, opts: dict[str, Any]) -> None:
        from recommender.text_evaluation import evaluate_text

        if not opts["queries"].is_file():
            raise CommandError(f"{opts['queries']}: no such file")
        try:
            report = evaluate_text(opts["queries"], limit=opts["limit"] or None, mode=opts["mode"],
                                   bars=tqdm_bars(self.stderr))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(report)

    def _duplicates(self, opts: dict[str, Any]) -> None:
        from recommender.evaluation import DuplicateEvalConfig, evaluate_duplicates

        if not opts["images"].is_dir():
            raise CommandError(f"{opts['images']}: not a folder")
        if opts["manifest"] is not None and not opts["manifest"].is_file():
            raise CommandError(f"{opts['manifest']}: no such manifest file")
        cfg = DuplicateEvalConfig(images=opts["images"], originals=opts["originals"], queries=opts["queries"],
                                  distractors=opts["distractors"], seed=opts["seed"], families=opts["families"],
                                  manifest=opts["manifest"])
        try:
            summary, report, outcomes = evaluate_duplicates(cfg, progress=lambda m: self.stderr.write(m),
                                                            bars=tqdm_bars(self.stderr))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(report)
        if opts["json"]:
            opts["json"].write_text(json.dumps({"summary": summary, "outcomes": [o.__dict__ for o in outcomes]},
                                               indent=1, default=str))

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.progress import tqdm_bars


class Command(BaseCommand):
    help = (
        "Fit the turn maps (ml.turns) on a sample of the indexed images: the rotation retry of image queries, "
        "upload checks and find_duplicates then predicts an image's turned vectors with one matrix product instead "
        "of three forward passes. Skipped when the installed maps fit the current model version (--force refits)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sample", type=int, default=400, help="images sampled (three forward passes each)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--l2", type=float, default=None, help="ridge penalty (default: ml.turns.DEFAULT_L2)")
        parser.add_argument("--force", action="store_true", help="refit even when the installed maps are current")

    def handle(self, *args: Any, sample: int, seed: int, l2: float | None, force: bool, **options: Any) -> None:
        from ml.turns import DEFAULT_L2
        from recommender.pipeline import get_extractor
        from recommender.turns import installed_turn_maps, turns_path, turns_train

        if sample < 20:
            raise CommandError("--sample must be >= 20")
        current = installed_turn_maps()
        version = get_extractor().model_version
        if not force and current is not None and current.model_version == version:
            self.stdout.write(f"{turns_path()} already fits {version}; --force refits")
            return
        try:
            with tqdm_bars(self.stderr)("turning images", total=sample, unit="img") as advance:
                _, report = turns_train(sample=sample, seed=seed, l2=DEFAULT_L2 if l2 is None else l2,
                                        progress=advance)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(report, indent=1))
        self.stdout.write(f"turn maps saved to {turns_path()} for {version}")

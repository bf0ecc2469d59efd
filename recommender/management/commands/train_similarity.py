from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.progress import tqdm_bars


class Command(BaseCommand):
    help = (
        "Train the learned similarity (a projection of the CAM-VGG16 vectors, supervised contrastive loss on the "
        "catalogue's form, type, school, timeframe and artist) on the indexed images, install it in the model "
        "folder and store every image's projected vector: the artwork page's similar artworks then use it. "
        "--fill re-projects without training (after re-indexing); --remove puts the CNN similarity back."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--fill", action="store_true", help="store the installed projection's vectors only")
        what.add_argument("--remove", action="store_true", help="delete the projection and its stored vectors")
        parser.add_argument("--epochs", type=int, default=None, help="passes over the images (default: the "
                                                                       "configuration's)")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, fill: bool, remove: bool, epochs: int | None, seed: int, **options: Any) -> None:
        from dataclasses import replace

        from ml.similarity import SimilarityConfig
        from recommender.models import ArtworkImage
        from recommender.similarity import similar_vectors_fill, similarity_path, similarity_train

        if remove:
            similarity_path().unlink(missing_ok=True)
            similar_vectors_fill()
            self.stdout.write(f"removed {similarity_path()}; similar artworks use the CNN vectors again")
            return
        if fill:
            total = ArtworkImage.objects.count()
            with tqdm_bars(self.stderr)("projecting", total=total, unit="img") as advance:
                filled = similar_vectors_fill(progress=advance)
            self.stdout.write(f"{filled} of {total} images have a learned-similarity vector")
            return
        if epochs is not None and epochs < 1:
            raise CommandError("--epochs must be >= 1")
        cfg = SimilarityConfig(seed=seed)
        if epochs is not None:
            cfg = replace(cfg, epochs=epochs)
        try:
            _, report = similarity_train(config=cfg)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(report, indent=1, default=str))
        self.stdout.write(f"similarity projection saved to {similarity_path()}; {report['filled']} images projected")

from __future__ import annotations

import json
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.modelfiles import CAPTIONER
from recommender.modelfiles import model_path
from recommender.models import Artwork, ArtworkImage
from recommender.progress import tqdm_bars


class Command(BaseCommand):
    help = (
        "Train the title captioner (CAM-VGG16 image vector → GRU decoder) on the catalogue's image→title pairs; "
        "prints BLEU on a held-out split and saves it in the model folder (ARTSEARCH_HOME/models)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--epochs", type=int, default=30)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, epochs: int, seed: int, **o: Any) -> None:
        from ml.captioner import train_captioner

        rows = list(ArtworkImage.objects.filter(status=ArtworkImage.Status.INDEXED,
                                                artwork__source=Artwork.Source.CATALOGUE)
                    .select_related("artwork").order_by("id"))
        if len(rows) < 20:
            raise CommandError(f"only {len(rows)} indexed catalogue images; index more first")
        vectors = np.asarray([r.embedding for r in rows], dtype=np.float32)
        with tqdm_bars(self.stderr)("training the captioner", total=epochs, unit="epoch") as advance:
            model, report = train_captioner(vectors, [r.artwork.title for r in rows], epochs=epochs, seed=seed,
                                            on_epoch=lambda: advance(1))
        path = model_path(CAPTIONER)
        model.save(path)
        self.stdout.write(json.dumps(report, indent=1, default=str))
        self.stdout.write(f"captioner saved to {path}")

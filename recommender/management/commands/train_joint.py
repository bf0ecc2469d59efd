from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.joint_search import JOINT_FILE
from recommender.models import ArtworkImage, Caption
from recommender.progress import tqdm_bars


def holdout_urls(paths: list[Path]) -> set[str]:
    """The relevant catalogue URLs of JSON-lines query files ({"query", "relevant": [urls]})."""
    from ml.textqueries import read_queries

    urls: set[str] = set()
    for path in paths:
        if not path.is_file():
            raise CommandError(f"{path}: no such query file")
        try:
            urls.update(str(u) for q in read_queries(path) for u in q.get("relevant", []))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
    return urls


class Command(BaseCommand):
    help = (
        "Train the joint image/text projection on (CAM-VGG16 image vector, caption embedding) pairs, then store "
        "every indexed image's projected vector, so sentences also find images without captions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--epochs", type=int, default=100)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--holdout", type=Path, action="append", default=[],
                            help="query file (JSON lines with `relevant` URLs): its relevant artworks are left out "
                                 "of training, so the evaluation does not test on training pairs; repeatable")

    def handle(self, *args: Any, epochs: int, seed: int, holdout: list[Path], **o: Any) -> None:
        from ml.joint import JointProjection, train_joint

        held_urls = holdout_urls(holdout)
        images = list(ArtworkImage.objects.filter(status=ArtworkImage.Status.INDEXED)
                      .select_related("artwork").order_by("id"))
        texts: dict[int, list[np.ndarray]] = defaultdict(list)
        for art_id, emb in Caption.objects.filter(
            artwork_id__in=[i.artwork_id for i in images], embedding__isnull=False
        ).exclude(source=Caption.Source.MACHINE).values_list("artwork_id", "embedding"):
            texts[art_id].append(np.asarray(emb, dtype=np.float32))
        # Held-out artworks lose their pairs only: their images are still projected and searchable below.
        train_images = [i for i in images if i.artwork.url not in held_urls]
        held_out = len(images) - len(train_images)
        pairs = [(i, np.mean(texts[i.artwork_id], axis=0)) for i in train_images if texts.get(i.artwork_id)]
        if len(pairs) < 20:
            raise CommandError(f"only {len(pairs)} images with embedded captions (after {held_out} held out); "
                               "run build_captions first")
        img = np.asarray([p[0].embedding for p in pairs], dtype=np.float32)
        txt = np.asarray([p[1] / np.linalg.norm(p[1]) for p in pairs], dtype=np.float32)
        with tqdm_bars(self.stderr)("training the joint projection", total=epochs, unit="epoch") as advance:
            model, report = train_joint(img, txt, epochs=epochs, seed=seed, on_epoch=lambda: advance(1))
        report["pairs"] = len(pairs)
        report["held_out_images"] = held_out
        path = settings.MODEL_DIR / JOINT_FILE
        model.save(path)
        model = JointProjection.load(path)
        all_vecs = np.asarray([i.embedding for i in images], dtype=np.float32)
        projected = model.project_image(all_vecs)
        version = getattr(model, "version", "")
        for im, vec in zip(images, projected, strict=True):
            im.joint_embedding, im.joint_version = vec.tolist(), str(version)[:64]
        ArtworkImage.objects.bulk_update(images, ["joint_embedding", "joint_version"], batch_size=500)
        self.stdout.write(json.dumps(report, indent=1, default=str))
        self.stdout.write(f"trained on {len(pairs)} image/caption pairs ({report['n_train']} train, "
                          f"{report['n_val']} val); {held_out} images held out by {len(held_urls)} query URLs")
        self.stdout.write(f"joint projection saved to {path}; {len(images)} images projected")

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender import jobs
from recommender.catalogue import images_import_folder
from recommender.exceptions import ApplicationError
from recommender.models import ArtworkImage


class Command(BaseCommand):
    help = (
        "Attach image files to artworks. With --manifest (CSV with `file` and `wga_url`) each file goes to "
        "its catalogue artwork; without one every image becomes a new artwork titled after its file name."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path)
        parser.add_argument("--manifest", type=Path)
        parser.add_argument("--index", action="store_true", help="enqueue the new images for indexing")

    def handle(self, *args: Any, folder: Path, manifest: Path | None, index: bool, **options: Any) -> None:
        if not folder.is_dir():
            raise CommandError(f"{folder}: not a folder")
        if manifest is not None and not manifest.is_file():
            raise CommandError(f"{manifest}: no such manifest")
        try:
            report = images_import_folder(folder=folder, manifest=manifest)
        except (ApplicationError, UnicodeDecodeError) as exc:
            raise CommandError(str(exc)) from exc
        for line in report.errors:
            self.stderr.write(f"invalid: {line}")
        self.stdout.write(report.summary())
        if index:
            ids = list(ArtworkImage.objects.filter(status=ArtworkImage.Status.PENDING).values_list("id", flat=True))
            jobs.enqueue_index(ids)
            self.stdout.write(f"enqueued {len(ids)} images for indexing")

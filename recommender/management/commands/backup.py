"""manage.py backup PATH: database dump + media + model files in one tar (recommender.backup)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from recommender.backup import backup_create


class Command(BaseCommand):
    help = "Back up the database, the media folder and the model files into one tar file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="the tar file to write (replaced if it exists)")
        parser.add_argument("--no-models", action="store_true", help="leave the model files out")

    def handle(self, *args: Any, path: Path, no_models: bool, **options: Any) -> None:
        report = backup_create(path, models=not no_models)
        self.stdout.write(f"wrote {report.path}: database dump {report.database_bytes / 1e6:.1f} MB, "
                          f"{report.media_files} media files, {report.model_files} model files")

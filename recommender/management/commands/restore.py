"""manage.py restore PATH: put a `manage.py backup` tar back (recommender.backup)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.backup import backup_restore


class Command(BaseCommand):
    help = ("Replace the database's contents with a backup's and copy its media and model files back. "
            "Stop the workers and the web server first.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="a tar file written by `manage.py backup`")
        parser.add_argument("--no-models", action="store_true", help="keep the current model files")

    def handle(self, *args: Any, path: Path, no_models: bool, **options: Any) -> None:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            report = backup_restore(path, models=not no_models)
        except (ValueError, RuntimeError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"restored {report.path}: database, {report.media_files} media files, "
                          f"{report.model_files} model files")

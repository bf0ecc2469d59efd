from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.catalogue import catalogue_import, open_text, parse_catalogue


class Command(BaseCommand):
    help = "Import the WGA catalogue (semicolon CSV, optionally .gz). Idempotent on URL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--show-errors", type=int, default=20, help="how many bad rows to list")

    def handle(self, *args: Any, path: Path, show_errors: int, **options: Any) -> None:
        if not path.exists():
            raise CommandError(f"{path}: no such file")
        try:
            with open_text(path) as fh:
                report = catalogue_import(rows=parse_catalogue(fh))
        except (ValueError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: {exc}") from exc
        for line in report.errors[:show_errors]:
            self.stderr.write(f"invalid: {line}")
        if len(report.errors) > show_errors:
            self.stderr.write(f"... and {len(report.errors) - show_errors} more invalid rows")
        self.stdout.write(report.summary())

"""Parsing of the WGA catalogue CSV: pure Python, one row in, one clean record or one error out."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

COLUMNS = (
    "AUTHOR", "BORN-DIED", "TITLE", "DATE", "TECHNIQUE", "LOCATION", "URL", "FORM", "TYPE", "SCHOOL", "TIMEFRAME",
)
# Field -> model max length, so a row that would not fit is reported instead of crashing the import.
MAX_LENGTHS = {"author": 255, "born_died": 255, "title": 500, "date": 100, "technique": 500, "location": 500,
               "url": 500, "form": 64, "type": 64, "school": 64, "timeframe": 32}


@dataclass(frozen=True)
class CatalogueRow:
    line: int
    author: str
    born_died: str
    title: str
    date: str
    technique: str
    location: str
    url: str
    form: str
    type: str
    school: str
    timeframe: str

    def artwork_fields(self) -> dict[str, str]:
        return {
            "title": self.title, "date": self.date, "technique": self.technique, "location": self.location,
            "form": self.form, "type": self.type, "school": self.school, "timeframe": self.timeframe,
        }


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


def open_text(path: Path) -> io.TextIOBase:
    """Open a catalogue file, gzip or plain; utf-8 with or without a BOM."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def parse_catalogue(fh: io.TextIOBase) -> Iterator[CatalogueRow | RowError]:
    """Yield one CatalogueRow or RowError per data row. Never raises on a bad row."""
    reader = csv.reader(fh, delimiter=";")
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip().upper() for h in header]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ValueError(f"not a WGA catalogue: header lacks {', '.join(missing)} (got {';'.join(header)})")
    index = {c: header.index(c) for c in COLUMNS}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            yield RowError(line, f"expected {len(header)} fields, found {len(cells)}")
            continue
        values = {c: cells[i].strip() for c, i in index.items()}
        url = values["URL"]
        if not url.startswith(("http://", "https://")) or " " in url:
            yield RowError(line, f"URL is missing or not a web address: {url!r}")
            continue
        if not values["TITLE"]:
            yield RowError(line, "TITLE is empty")
            continue
        row = CatalogueRow(
            line=line, author=values["AUTHOR"], born_died=values["BORN-DIED"], title=values["TITLE"],
            date=values["DATE"], technique=values["TECHNIQUE"], location=values["LOCATION"], url=url,
            form=values["FORM"].lower(), type=values["TYPE"].lower(), school=values["SCHOOL"],
            timeframe=values["TIMEFRAME"],
        )
        too_long = [f for f, n in MAX_LENGTHS.items() if len(getattr(row, f)) > n]
        if too_long:
            yield RowError(line, f"field too long: {', '.join(too_long)}")
            continue
        yield row

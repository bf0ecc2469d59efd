"""The catalogue: artworks and their images come in here, and nowhere else.

- `parse_catalogue` reads the WGA catalogue CSV (one row in, one clean record or one error out);
  `catalogue_import` creates or updates the artworks it describes.
- `image_attach` validates one image and stores it under an artwork (imports, fetches and curator
  uploads all store their images through it); `images_import_folder` attaches a folder of images.
- `ARTWORK_FIELDS` / `FIELD_MAX_LENGTHS`: the artwork's descriptive fields and their lengths, read
  from the models, for every importer, service and form that fills them.

This module runs in the web process (uploads attach images), so it never imports torch or the CNN
code; indexing is the workers' job (recommender.pipeline).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, models, transaction

from ml.images import IMAGE_SUFFIXES, ImageError, decode_image, oriented_size
from recommender.exceptions import ApplicationError
from recommender.models import Artist, Artwork, ArtworkImage

# --------------------------------------------------------------------------- fields
# What the catalogue, image manifests, curator uploads and edits write on an artwork.
ARTWORK_FIELDS = ("title", "date", "technique", "location", "form", "type", "school", "timeframe")


def _max_length(model: type[models.Model], name: str) -> int:
    length = model._meta.get_field(name).max_length  # type: ignore[union-attr]
    assert length is not None, f"{model.__name__}.{name} has no max_length"
    return length


# Longest value each field takes, from the models' columns, so a value that would not fit is
# refused (or cut, where the import says so) before it reaches the database.
FIELD_MAX_LENGTHS: dict[str, int] = {
    **{k: _max_length(Artwork, k) for k in ARTWORK_FIELDS},
    "url": _max_length(Artwork, "url"),
    "artist": _max_length(Artist, "name"),
    "born_died": _max_length(Artist, "born_died"),
}


# --------------------------------------------------------------------------- the catalogue CSV
COLUMNS = (
    "AUTHOR", "BORN-DIED", "TITLE", "DATE", "TECHNIQUE", "LOCATION", "URL", "FORM", "TYPE", "SCHOOL", "TIMEFRAME",
)
# A row's attribute -> the field whose length bounds it (the catalogue calls the artist AUTHOR).
_ROW_LIMITS = {"author": "artist", "born_died": "born_died", "url": "url", **{k: k for k in ARTWORK_FIELDS}}


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
        return {k: getattr(self, k) for k in ARTWORK_FIELDS}


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
    """Yield one CatalogueRow or RowError per data row. Never raises on a bad row; a file that is
    not a WGA catalogue (header without its columns) raises ValueError."""
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
        too_long = [f for f, key in _ROW_LIMITS.items() if len(getattr(row, f)) > FIELD_MAX_LENGTHS[key]]
        if too_long:
            yield RowError(line, f"field too long: {', '.join(too_long)}")
            continue
        yield row


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}, "
                f"invalid {self.invalid}")


def _artists_for(names: dict[str, str]) -> dict[str, Artist]:
    """name -> Artist, creating the missing ones in bulk (born_died filled on creation/blank)."""
    existing = {a.name: a for a in Artist.objects.filter(name__in=list(names))}
    new = [Artist(name=n, born_died=bd) for n, bd in names.items() if n and n not in existing]
    Artist.objects.bulk_create(new, ignore_conflicts=True, batch_size=2000)
    stale = [a for a in existing.values() if names.get(a.name) and a.born_died != names[a.name]]
    for a in stale:
        a.born_died = names[a.name]
    Artist.objects.bulk_update(stale, ["born_died"], batch_size=2000)
    return {a.name: a for a in Artist.objects.filter(name__in=list(names))}


@transaction.atomic
def catalogue_import(*, rows: Iterable[CatalogueRow | RowError]) -> ImportReport:
    """Create or update artworks from catalogue rows, keyed on URL (idempotent).

    Bad rows are counted and reported with their line number; they never abort the import.
    """
    report = ImportReport()
    good: dict[str, CatalogueRow] = {}
    for row in rows:
        if isinstance(row, RowError):
            report.invalid += 1
            report.errors.append(f"line {row.line}: {row.message}")
            continue
        if row.url in good:
            report.invalid += 1
            report.errors.append(f"line {row.line}: duplicate URL {row.url} (first on line {good[row.url].line})")
            continue
        good[row.url] = row

    artists = _artists_for({r.author: r.born_died for r in good.values() if r.author})
    existing = {a.url: a for a in Artwork.objects.filter(url__in=list(good))}
    to_create: list[Artwork] = []
    to_update: list[Artwork] = []
    for url, row in good.items():
        values = row.artwork_fields()
        artist = artists.get(row.author)
        art = existing.get(url)
        if art is None:
            to_create.append(Artwork(url=url, artist=artist, source=Artwork.Source.CATALOGUE, **values))
            continue
        changed = art.artist_id != (artist.pk if artist else None) or any(
            getattr(art, k) != v for k, v in values.items()
        )
        if changed:
            art.artist = artist
            for k, v in values.items():
                setattr(art, k, v)
            to_update.append(art)
        else:
            report.unchanged += 1
    Artwork.objects.bulk_create(to_create, batch_size=2000)
    Artwork.objects.bulk_update(to_update, ["artist", *ARTWORK_FIELDS], batch_size=2000)
    report.created = len(to_create)
    report.updated = len(to_update)
    return report


# --------------------------------------------------------------------------- images
def image_attach(*, artwork: Artwork, data: bytes, source_name: str) -> tuple[ArtworkImage, bool]:
    """Validate an image and attach it to an artwork. Returns (image, created).

    Identical bytes already in the collection are not stored twice (created=False).
    Raises ImageError for anything that is not a usable image; nothing is stored then.
    """
    sha = hashlib.sha256(data).hexdigest()
    found = ArtworkImage.objects.filter(sha256=sha).first()
    if found is not None:
        return found, False
    # Validated by decoding at most ARTSEARCH_DECODE_MAX_SIDE px on a side (this runs in the web
    # process for uploads; the workers decode the stored file themselves); the size recorded is
    # the stored image's.
    decode_image(data, max_pixels=settings.ARTSEARCH_MAX_PIXELS, max_side=settings.ARTSEARCH_DECODE_MAX_SIDE)
    width, height = oriented_size(data)
    safe_name = Path(source_name).name or "image"
    image = ArtworkImage(artwork=artwork, source_name=safe_name, sha256=sha, height=height, width=width)
    # The stored file keeps its original name, under a folder named by the content hash. A file
    # already there holds these very bytes (left by an attempt that was rolled back): reuse it
    # rather than let the storage invent a new name.
    name = image.file.field.generate_filename(image, f"{sha[:2]}/{sha[2:12]}/{safe_name}")
    storage = image.file.storage
    if storage.exists(name) and storage.size(name) == len(data):
        image.file.name = name
    else:
        image.file.save(f"{sha[:2]}/{sha[2:12]}/{safe_name}", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            image.save()
    except IntegrityError:  # a concurrent import stored the same bytes first (the file is shared: keep it)
        return ArtworkImage.objects.get(sha256=sha), False
    return image, True


def title_from_filename(name: str) -> str:
    """A readable title for an image that came without one: 'the_last-supper.jpg' -> 'The last supper'."""
    stem = Path(name).stem.replace("__", " ").replace("_", " ").replace("-", " ").strip()
    return " ".join(stem.split()).capitalize() or "Untitled"


def images_import_folder(*, folder: Path, manifest: Path | None = None) -> ImportReport:
    """Attach every image in `folder` to an artwork.

    With a manifest (CSV with columns `file` and `wga_url`, like the WGA sample's), each file goes
    to the artwork with that catalogue URL, created from the manifest's own metadata when the
    catalogue was not imported. Without one, every image file becomes a new artwork titled after
    its file name. Re-running changes nothing.
    """
    report = ImportReport()
    if manifest is not None:
        entries = _manifest_entries(folder, manifest, report)
    else:
        entries = [(p, None) for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    for path, meta in entries:
        try:
            data = path.read_bytes()
        except OSError as exc:
            report.invalid += 1
            report.errors.append(f"{path}: cannot read ({exc.strerror})")
            continue
        sha = hashlib.sha256(data).hexdigest()
        if ArtworkImage.objects.filter(sha256=sha).exists():
            report.unchanged += 1
            continue
        try:
            # image_attach validates (decodes) the image; a bad one rolls the new artwork back.
            with transaction.atomic():
                artwork = _artwork_for(path, meta)
                image_attach(artwork=artwork, data=data, source_name=path.name)
        except ImageError as exc:
            report.invalid += 1
            report.errors.append(f"{path}: {exc}")
            continue
        report.created += 1
    return report


def _manifest_entries(folder: Path, manifest: Path, report: ImportReport) -> list[tuple[Path, dict[str, str]]]:
    entries: list[tuple[Path, dict[str, str]]] = []
    with open(manifest, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "wga_url" not in reader.fieldnames or "file" not in reader.fieldnames:
            raise ApplicationError(f"{manifest}: a manifest needs the columns 'file' and 'wga_url'")
        for row in reader:
            rel = (row.get("file") or "").strip()
            url = (row.get("wga_url") or "").strip()
            if not rel or not url.startswith(("http://", "https://")):
                report.invalid += 1
                report.errors.append(f"{manifest}:{reader.line_num}: needs a file and a wga_url")
                continue
            # Paths in the manifest are relative to the image folder or to the manifest itself.
            path = folder / rel
            if not path.exists():
                path = manifest.parent / rel
            if not path.exists():
                path = folder / Path(rel).name
            entries.append((path, row))
    return entries


def _artwork_for(path: Path, meta: dict[str, str] | None) -> Artwork:
    """The artwork an imported image belongs to. A manifest's metadata is cut to the columns'
    lengths: it describes images already published, so a long title is kept in part, not refused."""
    if meta is None:
        return Artwork.objects.create(title=title_from_filename(path.name), source=Artwork.Source.IMPORT)
    url = meta["wga_url"].strip()
    artwork = Artwork.objects.filter(url=url).first()
    if artwork is not None:
        return artwork
    artist = None
    if (meta.get("artist") or "").strip():
        artist, _ = Artist.objects.get_or_create(name=meta["artist"].strip()[:FIELD_MAX_LENGTHS["artist"]])
    fields = {k: (meta.get(k) or "").strip()[:FIELD_MAX_LENGTHS[k]] for k in ARTWORK_FIELDS}
    fields["title"] = fields["title"] or title_from_filename(path.name)
    return Artwork.objects.create(url=url, artist=artist, source=Artwork.Source.CATALOGUE, **fields)

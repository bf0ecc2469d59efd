"""Writes (HackSoft style): every change to the catalogue and its images goes through here.

This module runs in the web process, so it must never import torch or the CNN code; work that
needs them is enqueued by name through `recommender.jobs`.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from ml.images import ImageError, decode_image
from recommender.catalogue import CatalogueRow, RowError
from recommender.models import Artist, Artwork, ArtworkImage, DuplicatePair

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


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


# --------------------------------------------------------------------------- catalogue
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
    update_fields = ["artist", "title", "date", "technique", "location", "form", "type", "school", "timeframe"]
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
    Artwork.objects.bulk_update(to_update, update_fields, batch_size=2000)
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
    rgb = decode_image(data)
    safe_name = Path(source_name).name or "image"
    image = ArtworkImage(
        artwork=artwork, source_name=safe_name, sha256=sha, height=rgb.shape[0], width=rgb.shape[1]
    )
    # The stored file keeps its original name, under a folder named by the content hash.
    image.file.save(f"{sha[:2]}/{sha[2:12]}/{safe_name}", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            image.save()
    except IntegrityError:  # a concurrent import stored the same bytes first
        image.file.delete(save=False)
        return ArtworkImage.objects.get(sha256=sha), False
    return image, True


def _title_from_filename(name: str) -> str:
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
            decode_image(data)
        except ImageError as exc:
            report.invalid += 1
            report.errors.append(f"{path}: {exc}")
            continue
        with transaction.atomic():
            artwork = _artwork_for(path, meta)
            image_attach(artwork=artwork, data=data, source_name=path.name)
        report.created += 1
    return report


def _manifest_entries(folder: Path, manifest: Path, report: ImportReport) -> list[tuple[Path, dict[str, str]]]:
    entries: list[tuple[Path, dict[str, str]]] = []
    with open(manifest, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "wga_url" not in reader.fieldnames or "file" not in reader.fieldnames:
            raise ValueError(f"{manifest}: a manifest needs the columns 'file' and 'wga_url'")
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
    if meta is None:
        return Artwork.objects.create(title=_title_from_filename(path.name), source=Artwork.Source.IMPORT)
    url = meta["wga_url"].strip()
    artwork = Artwork.objects.filter(url=url).first()
    if artwork is not None:
        return artwork
    artist = None
    if meta.get("artist"):
        artist, _ = Artist.objects.get_or_create(name=meta["artist"].strip())
    return Artwork.objects.create(
        url=url, artist=artist, source=Artwork.Source.CATALOGUE,
        title=(meta.get("title") or _title_from_filename(path.name))[:500],
        **{k: (meta.get(k) or "")[:n] for k, n in (("date", 100), ("technique", 500), ("location", 500),
                                                    ("form", 64), ("type", 64), ("school", 64), ("timeframe", 32))},
    )


# --------------------------------------------------------------------------- duplicates
def duplicate_pair_record(*, first: ArtworkImage, second: ArtworkImage, verdict: str, cosine: float,
                          inliers: int, evidence: dict[str, object]) -> DuplicatePair:
    """Store a candidate pair (one row per unordered pair). Fresh evidence updates the scores,
    but never a decision staff already made on the pair."""
    a, b = sorted((first.pk, second.pk))
    pair, created = DuplicatePair.objects.get_or_create(
        image_a_id=a, image_b_id=b,
        defaults={"verdict": verdict, "cosine": cosine, "inliers": inliers, "evidence": evidence},
    )
    if not created and pair.status == DuplicatePair.Status.CANDIDATE:
        pair.verdict, pair.cosine, pair.inliers, pair.evidence = verdict, cosine, inliers, evidence
        pair.save(update_fields=["verdict", "cosine", "inliers", "evidence", "updated_at"])
    return pair

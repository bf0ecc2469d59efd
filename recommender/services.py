"""Writes (HackSoft style): every change to the catalogue and its images goes through here.

This module runs in the web process, so it must never import torch or the CNN code; work that
needs them is enqueued by name through `recommender.jobs`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from ml.images import IMAGE_SUFFIXES, ImageError, decode_image, oriented_size
from recommender import jobs, sweeper
from recommender.catalogue import CatalogueRow, RowError
from recommender.exceptions import ApplicationError
from recommender.models import Artist, Artwork, ArtworkImage, AuditLog, Caption, DuplicatePair, Upload

logger = logging.getLogger(__name__)


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
    # Validated by decoding at most ARTSEARCH_DECODE_MAX_SIDE px on a side (this runs in the web
    # process for uploads; the workers decode the stored file themselves); the size recorded is
    # the stored image's.
    decode_image(data, max_pixels=settings.ARTSEARCH_MAX_PIXELS, max_side=settings.ARTSEARCH_DECODE_MAX_SIDE)
    width, height = oriented_size(data)
    safe_name = Path(source_name).name or "image"
    image = ArtworkImage(artwork=artwork, source_name=safe_name, sha256=sha, height=height, width=width)
    # The stored file keeps its original name, under a folder named by the content hash. A file
    # already there holds these very bytes (left by an earlier, rolled-back attempt): reuse it
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
                          inliers: int, evidence: dict[str, object], source: str = "scan") -> DuplicatePair:
    """Store a candidate pair (one row per unordered pair). Fresh evidence updates the scores,
    but never a decision staff already made on the pair."""
    a, b = sorted((first.pk, second.pk))
    pair, created = DuplicatePair.objects.get_or_create(
        image_a_id=a, image_b_id=b,
        defaults={"verdict": verdict, "cosine": cosine, "inliers": inliers, "evidence": evidence, "source": source},
    )
    if not created and pair.status == DuplicatePair.Status.CANDIDATE:
        pair.verdict, pair.cosine, pair.inliers, pair.evidence = verdict, cosine, inliers, evidence
        pair.save(update_fields=["verdict", "cosine", "inliers", "evidence", "updated_at"])
    return pair


# --------------------------------------------------------------------------- audit
def audit(*, actor: Any, action: str, target: models.Model, **details: object) -> AuditLog:
    return AuditLog.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        target=f"{target._meta.model_name}:{target.pk}",
        details=details,
    )


# --------------------------------------------------------------------------- curator uploads
UPLOAD_FIELDS = ("title", "date", "technique", "location", "form", "type", "school", "timeframe")
CAPTION_MAX_CHARS = 5000
# Longest value of each piece of upload metadata, from the models (the forms and the bulk
# manifest check the same numbers).
FIELD_MAX_CHARS: dict[str, int] = {
    **{k: Artwork._meta.get_field(k).max_length for k in UPLOAD_FIELDS},  # type: ignore[union-attr]
    "artist": Artist._meta.get_field("name").max_length,  # type: ignore[union-attr]
    "caption": CAPTION_MAX_CHARS,
}


class AlreadyInCollection(ApplicationError):
    """The very same bytes are already an image of `artwork`: nothing new to upload."""

    def __init__(self, artwork: Artwork) -> None:
        super().__init__(f"This exact file is already in the collection: “{artwork.title}” "
                         f"(artwork {artwork.pk}, {artwork.get_absolute_url()}).")
        self.artwork = artwork


def metadata_problems(meta: dict[str, str]) -> list[str]:
    """What is wrong with one upload's metadata (NUL bytes, values longer than the model takes)."""
    problems = []
    for key, limit in FIELD_MAX_CHARS.items():
        value = meta.get(key) or ""
        if "\x00" in value:
            problems.append(f"{key} contains a NUL byte")
        elif len(value.strip()) > limit:
            problems.append(f"{key} is {len(value.strip())} characters; the limit is {limit}")
    return problems


@transaction.atomic
def artwork_upload(*, user: Any, data: bytes, source_name: str, metadata: dict[str, str], artist_name: str = "",
                   batch: str = "") -> Upload:
    """Create an artwork from a curator's upload and queue it for the workers.

    Raises ImageError for a file that is not a usable image and AlreadyInCollection for bytes
    that are already an artwork's image (nothing is stored then).
    """
    existing = ArtworkImage.objects.select_related("artwork").filter(sha256=hashlib.sha256(data).hexdigest()).first()
    if existing is not None:
        raise AlreadyInCollection(existing.artwork)
    # image_attach below validates the image; an ImageError rolls back everything made here.
    artist = None
    if artist_name.strip():
        artist, _ = Artist.objects.get_or_create(name=artist_name.strip()[:255])
    fields = {k: (metadata.get(k) or "").strip() for k in UPLOAD_FIELDS}
    fields["title"] = fields["title"] or _title_from_filename(source_name)
    artwork = Artwork.objects.create(artist=artist, source=Artwork.Source.UPLOAD, **fields)
    if (metadata.get("caption") or "").strip():
        Caption.objects.create(artwork=artwork, source=Caption.Source.CURATOR, text=metadata["caption"].strip())
    image, created = image_attach(artwork=artwork, data=data, source_name=source_name)
    if not created:  # a concurrent upload of the same bytes came first: roll this one back
        raise AlreadyInCollection(image.artwork)
    upload = Upload.objects.create(artwork=artwork, image=image, batch=batch,
                                   uploaded_by=user if user.is_authenticated else None)
    transaction.on_commit(lambda: jobs.enqueue_upload(upload.pk))
    audit(actor=user, action="upload", target=artwork, source_name=source_name, upload=upload.pk)
    return upload


def upload_retry(*, upload: Upload, user: Any) -> Upload:
    if upload.stage != Upload.Stage.FAILED and not sweeper.upload_is_stuck(upload):
        raise ApplicationError("only a failed upload, or one queued for more than a few minutes, can be retried")
    Upload.objects.filter(pk=upload.pk).update(stage=Upload.Stage.QUEUED, error="")
    if upload.image_id:
        ArtworkImage.objects.filter(pk=upload.image_id).update(status=ArtworkImage.Status.PENDING, error="")
    transaction.on_commit(lambda: jobs.enqueue_upload(upload.pk))
    audit(actor=user, action="upload_retry", target=upload)
    upload.refresh_from_db()
    return upload


@transaction.atomic
def upload_decide(*, upload: Upload, user: Any, decision: str, duplicate_of: Artwork | None = None) -> Upload:
    """The curator's answer to a duplicate warning: keep, mark as duplicate of X, or withdraw."""
    upload = Upload.objects.select_for_update().get(pk=upload.pk)
    if upload.decision != Upload.Decision.PENDING:
        raise ApplicationError("this upload has no open duplicate warning")
    artwork = upload.artwork
    if decision == Upload.Decision.KEPT:
        # The curator's view goes with the pair, but staff still review it: keeping a piece is
        # not proof that it is not a copy.
        if upload.image_id:
            for pair in _pairs_of(upload.image_id).filter(status=DuplicatePair.Status.CANDIDATE):
                pair.evidence = {**pair.evidence, "curator": f"kept as new by {user}"}
                pair.save(update_fields=["evidence", "updated_at"])
    elif decision == Upload.Decision.DUPLICATE:
        if duplicate_of is None or artwork is None or duplicate_of.pk == artwork.pk:
            raise ApplicationError("choose the artwork this upload duplicates")
        artwork.duplicate_of = duplicate_of
        artwork.save(update_fields=["duplicate_of", "updated_at"])
        if upload.image_id:
            _pairs_of(upload.image_id).filter(Q(image_a__artwork=duplicate_of) | Q(image_b__artwork=duplicate_of)
                                              ).update(status=DuplicatePair.Status.CONFIRMED, decided_by=user,
                                                       decided_at=timezone.now())
    elif decision == Upload.Decision.WITHDRAWN:
        if artwork is not None:
            for img in artwork.images.all():
                img.file.delete(save=False)
            artwork.delete()
            upload.artwork = None
            upload.image = None
    else:
        raise ApplicationError(f"unknown decision {decision!r}")
    upload.decision = decision
    upload.save(update_fields=["decision", "artwork", "image", "updated_at"])
    audit(actor=user, action=f"upload_{decision}", target=upload,
          duplicate_of=duplicate_of.pk if duplicate_of else None)
    return upload


# --------------------------------------------------------------------------- staff review
def _pairs_of(image_id: int) -> QuerySet[DuplicatePair]:
    return DuplicatePair.objects.filter(Q(image_a_id=image_id) | Q(image_b_id=image_id))


def _decide(pair: DuplicatePair, *, user: Any, status: str, verdict: str | None = None) -> None:
    pair.status = status
    if verdict:
        pair.verdict = verdict
    pair.decided_by = user
    pair.decided_at = timezone.now()
    pair.save(update_fields=["status", "verdict", "decided_by", "decided_at", "updated_at"])


@transaction.atomic
def pair_confirm_duplicate(*, pair: DuplicatePair, user: Any, canonical: Artwork) -> DuplicatePair:
    """Confirm a duplicate: the other artwork is hidden from recommendations and points to the canonical one."""
    pair = DuplicatePair.objects.select_for_update().select_related("image_a__artwork", "image_b__artwork").get(
        pk=pair.pk)
    arts = {pair.image_a.artwork, pair.image_b.artwork}
    if canonical not in arts:
        raise ApplicationError("the canonical artwork must be one of the pair")
    (other,) = arts - {canonical} or {None}
    previous = other.duplicate_of_id if other else None
    if other is not None:
        other.duplicate_of = canonical
        other.save(update_fields=["duplicate_of", "updated_at"])
    pair.evidence = {**pair.evidence, "undo": {"artwork": other.pk if other else None, "duplicate_of": previous}}
    pair.save(update_fields=["evidence"])
    _decide(pair, user=user, status=DuplicatePair.Status.CONFIRMED, verdict=DuplicatePair.Verdict.DUPLICATE)
    audit(actor=user, action="confirm_duplicate", target=pair, canonical=canonical.pk,
          hidden=other.pk if other else None)
    return pair


@transaction.atomic
def pair_mark_detail(*, pair: DuplicatePair, user: Any) -> DuplicatePair:
    _decide(pair, user=user, status=DuplicatePair.Status.CONFIRMED, verdict=DuplicatePair.Verdict.DETAIL)
    audit(actor=user, action="mark_detail", target=pair)
    return pair


@transaction.atomic
def pair_reject(*, pair: DuplicatePair, user: Any) -> DuplicatePair:
    """Not a duplicate: the pair stays stored as rejected, so no scan proposes it again."""
    _decide(pair, user=user, status=DuplicatePair.Status.REJECTED)
    audit(actor=user, action="reject", target=pair)
    return pair


@transaction.atomic
def pair_undo(*, pair: DuplicatePair, user: Any) -> DuplicatePair:
    """Back to a candidate; a confirmed duplicate's hidden artwork comes back."""
    pair = DuplicatePair.objects.select_for_update().get(pk=pair.pk)
    undo = pair.evidence.get("undo") or {}
    if pair.status == DuplicatePair.Status.CONFIRMED and undo.get("artwork"):
        Artwork.objects.filter(pk=undo["artwork"]).update(duplicate_of_id=undo.get("duplicate_of"))
    previous = pair.status
    pair.evidence = {k: v for k, v in pair.evidence.items() if k != "undo"}
    pair.status = DuplicatePair.Status.CANDIDATE
    pair.decided_by, pair.decided_at = None, None
    pair.save()
    audit(actor=user, action="undo", target=pair, previous=previous)
    return pair


def duplicate_report(*, artwork: Artwork, other: Artwork, user: Any, note: str = "") -> DuplicatePair:
    """A visitor says two artworks are the same work: queue the pair for staff."""
    if artwork.pk == other.pk:
        raise ApplicationError("an artwork cannot duplicate itself")
    a = artwork.images.order_by("id").first()
    b = other.images.order_by("id").first()
    if a is None or b is None:
        raise ApplicationError("both artworks need an image to be compared")
    lo, hi = sorted((a.pk, b.pk))
    pair, created = DuplicatePair.objects.get_or_create(
        image_a_id=lo, image_b_id=hi,
        defaults={"verdict": DuplicatePair.Verdict.DUPLICATE, "cosine": 0.0, "inliers": 0,
                  "source": DuplicatePair.Source.REPORT, "evidence": {"note": note[:1000]}},
    )
    audit(actor=user, action="report_duplicate", target=pair, created=created, note=note[:200])
    return pair


# --------------------------------------------------------------------------- bulk uploads
MAX_BULK_ENTRIES = 2000
MAX_MANIFEST_BYTES = 5 * 2**20
# Zip bombs: an entry that inflates to more than this many times its compressed size, or a zip
# whose entries do in all, is refused before it is read. JPEG, PNG and WebP barely compress; an
# uncompressed TIFF or BMP reaches ~10x, a flat one more, hence the allowance for small entries.
MAX_ENTRY_RATIO = 100
MAX_TOTAL_RATIO = 50
RATIO_FREE_BYTES = 2**20
MANIFEST = "manifest.csv"


@dataclass
class BulkEntry:
    """One image of a bulk upload: a loose file or a member of a zip, read when needed."""

    label: str  # how reports name it: "one.jpg" or "batch.zip/one.jpg"
    name: str  # the file name the upload keeps
    source: Any  # the uploaded file (loose) or the open ZipFile
    member: zipfile.ZipInfo | None = None
    meta: dict[str, str] = field(default_factory=dict)
    line: int | None = None  # its manifest line

    def read(self, cap: int) -> bytes:
        """The entry's bytes, never more than `cap` + 1 of them (a longer entry is refused)."""
        if self.member is None:
            self.source.seek(0)
            return self.source.read(cap + 1)
        with self.source.open(self.member) as fh:
            return fh.read(cap + 1)

    def where(self) -> str:
        return f"{self.label} ({MANIFEST} line {self.line})" if self.line else self.label


@dataclass
class BulkReport:
    batch: str = ""  # empty when nothing was saved
    errors: list[str] = field(default_factory=list)  # the batch was refused, nothing saved
    skipped: list[str] = field(default_factory=list)  # files already in the collection
    created: int = 0


def _is_image_name(name: str) -> bool:
    base = Path(name).name
    return bool(base) and not base.startswith(".") and Path(base).suffix.lower() in IMAGE_SUFFIXES


def _zip_entries(label: str, zf: zipfile.ZipFile, *, max_file_bytes: int, errors: list[str]) -> list[BulkEntry]:
    """The zip's images with their manifest rows, every problem appended to `errors`. Reads
    nothing but the manifest (size-capped); entries are checked by their declared sizes."""
    members = [m for m in zf.infolist() if not m.is_dir() and "__MACOSX/" not in m.filename]
    entries: dict[str, BulkEntry] = {}
    manifest = None
    declared = compressed = 0
    for m in members:
        base = Path(m.filename).name
        if base.lower() == MANIFEST and manifest is None:
            manifest = m
            cap = MAX_MANIFEST_BYTES
        elif _is_image_name(m.filename):
            cap = max_file_bytes
        else:
            continue  # a readme or the like: never read
        where = f"{label}/{m.filename}"
        if m.file_size > cap:
            errors.append(f"{where}: {m.file_size / 2**20:.1f} MB; the limit is {cap / 2**20:.0f} MB")
        elif m.file_size > RATIO_FREE_BYTES and m.file_size > MAX_ENTRY_RATIO * max(m.compress_size, 1):
            errors.append(f"{where}: compressed {m.file_size // max(m.compress_size, 1)}:1, "
                          f"more than the {MAX_ENTRY_RATIO}:1 a real image reaches (refused unread)")
        declared += m.file_size
        compressed += m.compress_size
        if m is manifest:
            continue
        if base in entries:
            errors.append(f"{where}: a second file named {base} (names must be unique in a batch)")
            continue
        entries[base] = BulkEntry(label=where, name=base, source=zf, member=m)
    if declared > RATIO_FREE_BYTES and declared > MAX_TOTAL_RATIO * max(compressed, 1):
        errors.append(f"{label}: its files inflate {declared // max(compressed, 1)}:1 in all, more than "
                      f"{MAX_TOTAL_RATIO}:1 (refused unread)")
    if manifest is not None and not errors:
        try:
            raw = zf.read(manifest)  # inflates to its declared size at most (checked above)
        except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
            errors.append(f"{label}/{manifest.filename}: cannot be read ({exc})")
        else:
            _apply_manifest(f"{label}/{manifest.filename}", raw, entries, errors)
    return list(entries.values())


def _apply_manifest(label: str, raw: bytes, entries: dict[str, BulkEntry], errors: list[str]) -> None:
    """Attach each manifest row to its image; report every bad row by its line."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        errors.append(f"{label}: not UTF-8 text (byte {exc.start})")
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        if "file" not in (reader.fieldnames or []):
            errors.append(f"{label}: needs a 'file' column (columns: file, {', '.join(FIELD_MAX_CHARS)})")
            return
        for row in reader:
            line = reader.line_num
            meta = {k.strip(): (v or "") for k, v in row.items() if isinstance(k, str) and isinstance(v, str)}
            base = Path(meta.get("file", "").strip()).name
            problems = metadata_problems(meta)
            if not base:
                problems.insert(0, "no file named")
            elif base not in entries:
                problems.insert(0, f"no image {base!r} in the zip")
            elif entries[base].line is not None:
                problems.insert(0, f"{base} is already described on line {entries[base].line}")
            if problems:
                errors.append(f"{label} line {line}: {'; '.join(problems)}")
                continue
            entries[base].meta, entries[base].line = meta, line
    except csv.Error as exc:
        errors.append(f"{label} line {reader.line_num}: {exc}")


def _bulk_entries(files: Iterable[Any], *, max_file_bytes: int, errors: list[str],
                  zips: list[zipfile.ZipFile]) -> list[BulkEntry]:
    entries: list[BulkEntry] = []
    for f in files:
        name = Path(f.name or "").name
        if name.lower().endswith(".zip"):
            try:
                zf = zipfile.ZipFile(f)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                errors.append(f"{name}: not a readable zip ({exc})")
                continue
            zips.append(zf)
            entries += _zip_entries(name, zf, max_file_bytes=max_file_bytes, errors=errors)
        elif not _is_image_name(name):
            errors.append(f"{name}: allowed formats are {', '.join(sorted(IMAGE_SUFFIXES))} and .zip")
        elif f.size > max_file_bytes:
            errors.append(f"{name}: {f.size / 2**20:.1f} MB; the limit is {max_file_bytes / 2**20:.0f} MB")
        else:
            entries.append(BulkEntry(label=name, name=name, source=f))
    if len(entries) > MAX_BULK_ENTRIES:
        errors.append(f"{len(entries)} images; a batch takes at most {MAX_BULK_ENTRIES}")
    return entries


def bulk_upload(*, user: Any, files: Iterable[Any], max_file_bytes: int, max_total_bytes: int,
                max_pixels: int, max_side: int) -> BulkReport:
    """Many images, or zips holding images and an optional manifest.csv (columns: file and the
    metadata), as one batch of uploads: all of it or nothing.

    Everything is checked before anything is saved: the manifest row by row (reported by line),
    each zip entry by its declared size and compression ratio before it is read, then every image
    read with a cap and decoded (at most `max_side` px, ml.images); one bad file refuses the whole
    batch with every problem listed. Files whose bytes are already in the collection (or earlier
    in the batch) are skipped and named. The good ones are then read again, one at a time, and
    saved in one transaction. Memory: one entry (<= max_file_bytes) at a time, plus the manifest.
    """
    report = BulkReport()
    zips: list[zipfile.ZipFile] = []
    try:
        entries = _bulk_entries(files, max_file_bytes=max_file_bytes, errors=report.errors, zips=zips)
        if report.errors:
            return report
        digests: dict[int, str] = {}
        total = 0
        for i, entry in enumerate(entries):
            try:
                data = entry.read(max_file_bytes)
            except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:  # RuntimeError: encrypted
                report.errors.append(f"{entry.where()}: cannot be read ({exc})")
                continue
            total += len(data)
            if len(data) > max_file_bytes:
                report.errors.append(f"{entry.where()}: larger than the {max_file_bytes / 2**20:.0f} MB limit")
            elif total > max_total_bytes:
                report.errors.append(f"{entry.where()}: the batch unpacks to more than "
                                     f"{max_total_bytes / 2**20:.0f} MB")
                break
            else:
                try:
                    decode_image(data, max_pixels=max_pixels, max_side=max_side)
                except ImageError as exc:
                    report.errors.append(f"{entry.where()}: {exc}")
                else:
                    digests[i] = hashlib.sha256(data).hexdigest()
        if report.errors:
            return report
        known = dict(ArtworkImage.objects.filter(sha256__in=set(digests.values())).values_list("sha256", "artwork"))
        first: dict[str, str] = {}
        todo = []
        for i, entry in enumerate(entries):
            sha = digests[i]
            if sha in known:
                report.skipped.append(f"{entry.where()}: already in the collection as artwork {known[sha]} "
                                      f"(/artworks/{known[sha]}/); not uploaded again")
            elif sha in first:
                report.skipped.append(f"{entry.where()}: the same file as {first[sha]}; uploaded once")
            else:
                first[sha] = entry.label
                todo.append(entry)
        if todo:
            batch = uuid.uuid4().hex[:12]
            try:
                with transaction.atomic():
                    for entry in todo:
                        artwork_upload(user=user, data=entry.read(max_file_bytes), source_name=entry.name,
                                       metadata=entry.meta, artist_name=entry.meta.get("artist", ""), batch=batch)
            except (ImageError, AlreadyInCollection) as exc:  # changed under us since the check: none saved
                report.errors.append(f"{entry.where()}: {exc}")
                return report
            report.batch, report.created = batch, len(todo)
        return report
    finally:
        for zf in zips:
            zf.close()


@transaction.atomic
def artwork_update(*, artwork: Artwork, user: Any, fields: dict[str, str], artist_name: str = "",
                   caption: str | None = None) -> Artwork:
    """A curator's edit: metadata and the curator caption; the workers then refresh the
    artwork's captions, embeddings and full-text vector."""
    before = {k: getattr(artwork, k) for k in UPLOAD_FIELDS}
    for key in UPLOAD_FIELDS:
        if key in fields:
            setattr(artwork, key, (fields[key] or "").strip())
    if artist_name.strip():
        artwork.artist, _ = Artist.objects.get_or_create(name=artist_name.strip()[:255])
    artwork.save()
    if caption is not None:
        if caption.strip():
            Caption.objects.update_or_create(artwork=artwork, source=Caption.Source.CURATOR, chunk=0,
                                             defaults={"text": caption.strip(), "embedding": None})
        else:
            Caption.objects.filter(artwork=artwork, source=Caption.Source.CURATOR).delete()
    changed = {k: v for k, v in before.items() if getattr(artwork, k) != v}
    audit(actor=user, action="edit", target=artwork, changed=sorted(changed))
    transaction.on_commit(lambda: jobs.enqueue_caption_refresh(artwork.pk))
    return artwork

"""Curator uploads: one image, a batch (many images or zips with a manifest), a retry, the
curator's answer to a duplicate warning, and a curator's edit of an artwork's metadata.

An upload is stored (recommender.catalogue.image_attach) and queued for the workers
(recommender.jobs), which index it and check it for duplicates (recommender.pipeline). This module
runs in the web process, so it never imports torch or the CNN code.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from ml.images import IMAGE_SUFFIXES, ImageError, decode_image
from recommender import jobs, review, sweeper
from recommender.audit import audit
from recommender.catalogue import ARTWORK_FIELDS, FIELD_MAX_LENGTHS, image_attach, title_from_filename
from recommender.exceptions import ApplicationError
from recommender.models import Artist, Artwork, ArtworkImage, Caption, Upload

# The longest curator caption. Captions are text columns without a length, so this is the rule for
# what a curator may write (and the longest form field, settings.ARTSEARCH_MAX_FIELD_CHARS).
CAPTION_MAX_CHARS = 5000
# Longest value of each piece of upload metadata: the artwork's columns, the artist's name, the
# caption (the forms and the bulk manifest check the same numbers).
FIELD_MAX_CHARS: dict[str, int] = {
    **{k: FIELD_MAX_LENGTHS[k] for k in ARTWORK_FIELDS},
    "artist": FIELD_MAX_LENGTHS["artist"],
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


def _artist(name: str) -> Artist | None:
    """The artist named (created when new), or None for no name; a name is cut to the column."""
    name = name.strip()[:FIELD_MAX_LENGTHS["artist"]]
    return Artist.objects.get_or_create(name=name)[0] if name else None


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
    fields = {k: (metadata.get(k) or "").strip() for k in ARTWORK_FIELDS}
    fields["title"] = fields["title"] or title_from_filename(source_name)
    artwork = Artwork.objects.create(artist=_artist(artist_name), source=Artwork.Source.UPLOAD, **fields)
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
    """Queue a failed upload (or one stuck in the queue, recommender.sweeper) for the workers again."""
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
        if upload.image_id:
            review.upload_pairs_kept(image_id=upload.image_id, user=user)
    elif decision == Upload.Decision.DUPLICATE:
        if duplicate_of is None or artwork is None or duplicate_of.pk == artwork.pk:
            raise ApplicationError("choose the artwork this upload duplicates")
        artwork.duplicate_of = duplicate_of
        artwork.save(update_fields=["duplicate_of", "updated_at"])
        if upload.image_id:
            review.upload_pairs_confirm(image_id=upload.image_id, duplicate_of=duplicate_of, user=user)
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


@transaction.atomic
def artwork_update(*, artwork: Artwork, user: Any, fields: dict[str, str], artist_name: str = "",
                   caption: str | None = None) -> Artwork:
    """A curator's edit: metadata and the curator caption; the workers then refresh the
    artwork's captions, embeddings and full-text vector."""
    before = {k: getattr(artwork, k) for k in ARTWORK_FIELDS}
    for key in ARTWORK_FIELDS:
        if key in fields:
            setattr(artwork, key, (fields[key] or "").strip())
    if artist_name.strip():
        artwork.artist = _artist(artist_name)
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

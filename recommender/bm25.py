"""BM25 over the artworks' weighted tsvectors, as a postings table, and the artists' name keys.

Each artwork's `search_vector` (title A, artist and school B, captions C) becomes one posting per
lexeme with tf = 3·A + 2·B + 1·C occurrences and the precomputed Okapi BM25 weight
idf · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl)), idf = ln(1 + (N − df + 0.5)/(df + 0.5)).
A query then sums the weights of its lexemes' postings (recommender.text_search.lexical_ranks):
no ts_rank over thousands of matching documents.

`postings_rebuild()` recomputes everything (build_captions); `postings_refresh(ids)` replaces the
postings of a few artworks after their text changed, with the current N and avgdl, and updates the
df of the lexemes involved. The weights of other artworks for those lexemes are not rewritten (a df
that moved by one changes an idf at N ≈ 45,000 in the fourth decimal); the next full rebuild
makes them exact again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction

from ml.names import author_name_tokens
from recommender.models import Artist

K1 = 1.2
B = 0.75

# One row per (artwork, lexeme) of the weighted tsvector, with tf = 3·A + 2·B + 1·C (D counts 1).
_TF_SQL = """
DROP TABLE IF EXISTS _bm25_tf;
CREATE TEMP TABLE _bm25_tf ON COMMIT DROP AS
SELECT a.id AS artwork_id, u.lexeme,
       coalesce((SELECT sum(CASE w WHEN 'A' THEN 3 WHEN 'B' THEN 2 ELSE 1 END)
                 FROM unnest(u.weights) AS w), 1)::float8 AS tf
FROM recommender_artwork a, unnest(a.search_vector) AS u
WHERE a.search_vector IS NOT NULL {where}
"""

_WEIGHT_SQL = """
INSERT INTO recommender_lexemeposting (lexeme, artwork_id, tf, weight)
SELECT t.lexeme, t.artwork_id, t.tf,
       ln(1 + (%(n)s - l.df + 0.5) / (l.df + 0.5))
       * t.tf * (%(k1)s + 1) / (t.tf + %(k1)s * (1 - %(b)s + %(b)s * d.dl / %(avgdl)s))
FROM _bm25_tf t
JOIN (SELECT artwork_id, sum(tf) AS dl FROM _bm25_tf GROUP BY artwork_id) d USING (artwork_id)
JOIN recommender_lexeme l USING (lexeme)
ORDER BY t.lexeme, t.artwork_id
"""


@transaction.atomic
def postings_rebuild() -> tuple[int, int]:
    """Recompute every posting and document frequency; returns (lexemes, postings)."""
    with connection.cursor() as cur:
        counts = postings_rebuild_sql(cur)
    artist_name_keys_refresh()
    return counts


def postings_rebuild_sql(cur: Any) -> tuple[int, int]:
    """The rebuild in plain SQL on a cursor (also run by migration 0004 on existing catalogues)."""
    # TRUNCATE refuses while postings written earlier in this transaction still have deferred FK
    # checks pending (commentary_import inside build_captions): run them now, then go back to
    # Django's default of deferred constraints.
    cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cur.execute("TRUNCATE recommender_lexemeposting, recommender_lexeme")
    cur.execute("SET CONSTRAINTS ALL DEFERRED")
    cur.execute(_TF_SQL.format(where=""))
    cur.execute("INSERT INTO recommender_lexeme (lexeme, df) SELECT lexeme, count(*) FROM _bm25_tf GROUP BY lexeme")
    cur.execute("SELECT count(DISTINCT artwork_id), coalesce(sum(tf), 0) FROM _bm25_tf")
    n, total = cur.fetchone()
    if n:
        # Rows are written in lexeme order, so one lexeme's postings sit on neighbouring pages.
        cur.execute(_WEIGHT_SQL, {"n": float(n), "avgdl": total / n, "k1": K1, "b": B})
    cur.execute("DROP TABLE _bm25_tf")
    cur.execute("SELECT (SELECT count(*) FROM recommender_lexeme), (SELECT count(*) FROM recommender_lexemeposting)")
    lexemes, postings = cur.fetchone()
    cur.execute("ANALYZE recommender_lexeme")
    cur.execute("ANALYZE recommender_lexemeposting")
    return lexemes, postings


@transaction.atomic
def postings_refresh(artwork_ids: Sequence[int]) -> None:
    """Replace the postings of these artworks (their search_vector changed) and update df."""
    ids = list(artwork_ids)
    if not ids:
        return
    with connection.cursor() as cur:
        cur.execute("DELETE FROM recommender_lexemeposting WHERE artwork_id = ANY(%s) RETURNING lexeme", [ids])
        touched = {r[0] for r in cur.fetchall()}
        cur.execute(_TF_SQL.format(where="AND a.id = ANY(%s)"), [ids])
        cur.execute("SELECT DISTINCT lexeme FROM _bm25_tf")
        touched |= {r[0] for r in cur.fetchall()}
        # df = the postings left elsewhere + this batch's; lexemes no artwork uses any more go.
        cur.execute(
            """INSERT INTO recommender_lexeme (lexeme, df)
               SELECT t.lexeme, (SELECT count(*) FROM recommender_lexemeposting p WHERE p.lexeme = t.lexeme)
                                + (SELECT count(*) FROM _bm25_tf b WHERE b.lexeme = t.lexeme)
               FROM unnest(%s::text[]) AS t(lexeme)
               ON CONFLICT (lexeme) DO UPDATE SET df = EXCLUDED.df""",
            [sorted(touched)],
        )
        cur.execute("DELETE FROM recommender_lexeme WHERE df = 0 AND lexeme = ANY(%s)", [sorted(touched)])
        # N and avgdl of the whole catalogue, this batch included.
        cur.execute(
            """SELECT (SELECT count(*) FROM recommender_artwork WHERE search_vector IS NOT NULL),
                      (SELECT coalesce(sum(tf), 0) FROM recommender_lexemeposting)
                      + (SELECT coalesce(sum(tf), 0) FROM _bm25_tf)"""
        )
        n, total = cur.fetchone()
        if n:
            cur.execute(_WEIGHT_SQL, {"n": float(n), "avgdl": total / n, "k1": K1, "b": B})
    artist_name_keys_refresh(artwork_ids=ids)


def artist_name_keys_refresh(*, artwork_ids: Sequence[int] | None = None) -> int:
    """Store each artist's surname words (`name_key`) for the query-name list; returns how many changed."""
    qs = Artist.objects.all()
    if artwork_ids is not None:
        qs = qs.filter(artworks__in=list(artwork_ids)).distinct()
    changed = []
    for artist in qs.only("id", "name", "name_key"):
        key = " ".join(author_name_tokens(artist.name))
        if key != artist.name_key:
            artist.name_key = key
            changed.append(artist)
    Artist.objects.bulk_update(changed, ["name_key"], batch_size=2000)
    return len(changed)

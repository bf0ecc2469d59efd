"""Text → artwork evaluation: Pr@k (a hit when a relevant artwork is in the top k), MRR and
latency, over JSON-lines queries {"query": ..., "relevant": [catalogue URLs]} and/or
{"relevant_where": [catalogue predicates]} (ml.textqueries.predicate_rows), with Pr@k per
"kind" and per "lang" when the queries carry them (demo/text_queries_visitor.jsonl)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ml import multilingual
from ml.evaluate import Run, mean_reciprocal_rank, percentile, precision_at_k
from ml.textqueries import fold_columns, predicate_rows, read_queries
from recommender import text_search
from recommender.models import Artwork
from recommender.progress import Bars, no_bars

KS = (1, 3, 5, 10)


def group_table(runs: Sequence[Run], groups: Sequence[Sequence[str]]) -> str:
    """Pr@1/3/5/10 per group: `runs[i]` is query i's (ranked ids, relevant ids), `groups[i]` the
    groups it counts in (e.g. "kind known", "lang it")."""
    members: dict[str, list[Run]] = {}
    for run, names in zip(runs, groups, strict=True):
        for name in names:
            members.setdefault(name, []).append(run)
    lines = [f"{'group':<16} {'n':>4}  " + "  ".join(f"Pr@{k:<3}" for k in KS)]
    for name in sorted(members):
        cells = "  ".join(f"{precision_at_k(members[name], k):.3f}" for k in KS)
        lines.append(f"{name:<16} {len(members[name]):>4}  {cells}")
    return "\n".join(lines)


def _title_list(q: str) -> list[int]:
    """The multilingual title list alone, best 10 (its order: title rank, wholes first, id)."""
    encoder = multilingual.get_encoder()
    if encoder is None:
        return []
    by_id = text_search.title_ranks(encoder.query(q), {})
    return list(by_id)[:10]


def _predicate_relevance(queries: list[dict]) -> dict[int, set[int]]:
    """Query index -> artwork ids matching any of its `relevant_where` predicates, over the
    whole catalogue (one read of ~45k rows, matched in Python column by column)."""
    todo = [i for i, q in enumerate(queries) if q.get("relevant_where")]
    if not todo:
        return {}
    fields = ("id", "title", "technique", "location", "form", "type", "school", "timeframe", "artist__name")
    rows = list(Artwork.objects.filter(duplicate_of__isnull=True).values_list(*fields))
    ids = [r[0] for r in rows]
    names = ("id", "title", "technique", "location", "form", "type", "school", "timeframe", "author")
    columns = fold_columns(dict(zip(names, (v or "" for v in r), strict=True)) for r in rows)
    return {i: {ids[j] for p in queries[i]["relevant_where"] for j in predicate_rows(p, columns)} for i in todo}


MODES = ("fused", "fused-sequential", "dense", "bm25", "names", "fulltext", "subjects", "titles", "lexical",
         "fused-nosubjects", "fused-noe5", "fused-plain", "lexical-plain", "joint", "fused+joint", "fused+joint-all")


def evaluate_text(path: Path, *, limit: int | None = None, mode: str = "fused", bars: Bars = no_bars) -> str:
    """Run the queries through one mode: `fused` (the product), one list alone (`dense`, `bm25`,
    `names`, `fulltext` = the short-query `websearch_to_tsquery` list), `lexical` (the fused query
    without the sentence encoder, as when no worker answers), `joint` (the joint image/text space
    alone, over every projected image), `fused+joint` (the joint list fused for images without
    human-written text only, its purpose) and `fused+joint-all` (fused over every image);
    `fused-sequential` is the product with the sentence vector computed before the word lists
    instead of beside them (same ranking; for the latency comparison);
    `subjects` is the Iconclass subject list alone, `fused-nosubjects` the product without it;
    `titles` is the multilingual title list alone (e5, ml.multilingual), `fused-noe5` the product
    without it; `fused-plain` and `lexical-plain` leave out the subject vocabulary (ml.vocabulary),
    the Iconclass subjects and the title list, and `lexical` the title list too (no encoder at all)."""
    from recommender.captioning import get_encoder, query_embedding
    from recommender.joint_search import joint_ranks_or_none

    queries = read_queries(path)  # ValueError for a line that is not a JSON object
    queries = queries[:limit] if limit else queries
    enc = get_encoder()
    enc.encode(["warm-up"])
    e5 = multilingual.get_encoder()
    if e5 is not None:
        e5.query("warm-up")
    load_start = os.getloadavg()[0]

    def embed(q: str) -> Sequence[float]:
        return query_embedding(q, encoder=enc)

    joint: Callable[[Sequence[float]], list[int]] | None = (
        joint_ranks_or_none(uncaptioned_only=mode == "fused+joint") if "joint" in mode else None)
    if "joint" in mode and joint is None:
        return "no joint projection trained: run `manage.py train_joint` first"
    url_of = dict(Artwork.objects.exclude(url=None).values_list("url", "id"))
    by_predicate = _predicate_relevance(queries)
    runs: list[Run] = []
    times: list[float] = []
    stages: dict[str, list[float]] = {}
    evaluated = 0
    groups: list[list[str]] = []
    with bars("queries", total=len(queries), unit="query") as advance:
        for index, item in enumerate(queries):
            advance(1)
            relevant = {url_of[u] for u in item.get("relevant", []) if u in url_of} | by_predicate.get(index, set())
            if not relevant:
                continue
            evaluated += 1
            q = text_search.clean_query(item["query"])
            t = time.perf_counter()
            if mode == "dense":
                ranked = text_search.dense_ranks(embed(q), {}, depth=10)
            elif mode in ("bm25", "names"):
                ranked = text_search.lexical_ranks(q, {}, depth=10)[mode]
            elif mode == "fulltext":
                ranked = text_search.fulltext_ranks(q, {}, depth=10)
            elif mode == "subjects":
                ranked = text_search.subject_ranks(embed(q), {}, depth=10)
            elif mode == "titles":
                ranked = _title_list(q)
            elif mode == "joint":
                ranked = joint(embed(q))[:10]  # type: ignore[misc]
            else:
                res = text_search.text_query(q=q, embed=None if mode.startswith("lexical") else embed, k=10,
                                             joint=joint, vocabulary=not mode.endswith("-plain"),
                                             subjects=not mode.endswith(("-plain", "-nosubjects")),
                                             titles=not mode.startswith("lexical") and not mode.endswith(
                                                 ("-plain", "-noe5")),
                                             concurrent=mode != "fused-sequential")
                ranked = [h.artwork.pk for h in res.hits]
                for stage, secs in res.timings.items():
                    stages.setdefault(stage, []).append(secs)
            times.append(time.perf_counter() - t)
            runs.append((ranked, relevant))
            groups.append([f"{key} {item[key]}" for key in ("kind", "lang") if item.get(key)])
    if not evaluated:
        return "no query has a relevant artwork in the catalogue: import it first"
    n = evaluated
    # Pr@10: the measure SemArt's own Text2Art results are given in.
    pr = {k: precision_at_k(runs, k) for k in KS}
    catalogue = Artwork.objects.count()
    breakdown = ", ".join(f"{stage} {statistics.median(v) * 1000:.1f}" for stage, v in stages.items()
                          if stage != "total")
    return (
        f"text evaluation ({mode}) on {n} queries over {catalogue} artworks\n"
        f"Pr@1 {pr[1]:.3f}  Pr@3 {pr[3]:.3f}  Pr@5 {pr[5]:.3f}  Pr@10 {pr[10]:.3f}  "
        f"MRR@10 {mean_reciprocal_rank(runs):.3f}\n"
        f"latency (encode + SQL, in-process): p50 {statistics.median(times) * 1000:.0f} ms, "
        f"p95 {percentile(times, 0.95) * 1000:.0f} ms; load average (1 min) {load_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end"
        + (f"\nmedian ms per stage: {breakdown}" if breakdown else "")
        + (f"\n{group_table(runs, groups)}" if any(groups) else "")
    )

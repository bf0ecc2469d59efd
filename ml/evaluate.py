"""Retrieval/verification metrics over evaluation queries (pure functions).

A query is either a perturbed copy of a known artwork (``expected_artwork``
set) or a distractor that is not in the collection (``expected_artwork is
None``).  Definitions used by :func:`summarise`:

* ``recall_at_1``: among non-distractors, top-1 artwork == expected artwork;
* ``verdict_recall``: among non-distractors, verdict == expected verdict;
* ``found_recall``: among non-distractors, verdict is DUPLICATE or DETAIL
  (either counts as "found") *and* the top-1 artwork is the expected one;
* ``precision``: among all queries whose verdict is DUPLICATE or DETAIL, the
  fraction whose top-1 artwork is the expected one (a distractor called a
  duplicate/detail is always a false positive); ``None`` if nothing was claimed;
* ``distractor_fp_rate``: distractors called DUPLICATE or DETAIL;
* ``p50_seconds`` / ``p95_seconds``: per-query latency percentiles (:func:`percentile`).

Neighbour lists of "similar artworks" (:func:`nearest_by_group`) are scored by
:func:`label_precision_at_k`: the fraction of a query's first k neighbours that share its
catalogue label (form, type, artist ...), averaged over queries; over the whole pool it is the
chance level of a random order.

Ranked-list measures for text queries, over (ranked ids, relevant ids) runs:
:func:`precision_at_k` (as SemArt's Text2Art results define Pr@k: the fraction of queries
with a relevant item in the top k) and :func:`mean_reciprocal_rank`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml.rules import Verdict

__all__ = [
    "QueryOutcome",
    "first_relevant_rank",
    "format_report",
    "label_precision_at_k",
    "mean_reciprocal_rank",
    "nearest_by_group",
    "percentile",
    "precision_at_k",
    "summarise",
]

# (ranked ids best first, relevant ids) for one query.
Run = tuple[Sequence[Hashable], Iterable[Hashable]]

_FOUND = frozenset({Verdict.DUPLICATE, Verdict.DETAIL})


@dataclass(frozen=True)
class QueryOutcome:
    """What the pipeline answered for one evaluation query."""

    query_id: Hashable
    family: str
    expected_artwork: Hashable | None  # None: a distractor (not in the collection)
    expected_verdict: Verdict
    top1_artwork: Hashable | None
    verdict: Verdict
    seconds: float

    @property
    def is_distractor(self) -> bool:
        return self.expected_artwork is None

    @property
    def top1_correct(self) -> bool:
        return self.expected_artwork is not None and self.top1_artwork == self.expected_artwork

    @property
    def claimed(self) -> bool:
        """The pipeline says it found the artwork (as a duplicate or a detail)."""
        return Verdict(self.verdict) in _FOUND


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (q in [0, 1]) of a non-empty list, interpolated linearly between the two
    nearest ranks (numpy's default, Hyndman & Fan type 7): p50 of [1, 2, 3, 4] is 2.5. Every
    latency figure the commands print (evaluate, bench, load_test) uses this one definition."""
    if not len(values):
        raise ValueError("percentile of an empty list")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q}")
    return float(np.percentile(np.asarray(values, dtype=np.float64), 100.0 * q))


def _percentile_or_none(values: Sequence[float], q: float) -> float | None:
    return percentile(values, q) if len(values) else None


def _metrics(outcomes: Sequence[QueryOutcome]) -> dict[str, Any]:
    positives = [o for o in outcomes if not o.is_distractor]
    distractors = [o for o in outcomes if o.is_distractor]
    claimed = [o for o in outcomes if o.claimed]
    seconds = [o.seconds for o in outcomes]
    return {
        "queries": len(outcomes),
        "positives": len(positives),
        "distractors": len(distractors),
        "recall_at_1": _ratio(sum(o.top1_correct for o in positives), len(positives)),
        "verdict_recall": _ratio(
            sum(Verdict(o.verdict) == Verdict(o.expected_verdict) for o in positives), len(positives)
        ),
        "found_recall": _ratio(sum(o.claimed and o.top1_correct for o in positives), len(positives)),
        "precision": _ratio(sum(o.top1_correct for o in claimed), len(claimed)),
        "claimed": len(claimed),
        "distractor_fp_rate": _ratio(sum(o.claimed for o in distractors), len(distractors)),
        "p50_seconds": _percentile_or_none(seconds, 0.5),
        "p95_seconds": _percentile_or_none(seconds, 0.95),
    }


def summarise(outcomes: Iterable[QueryOutcome]) -> dict[str, Any]:
    """Overall metrics, the same per family (``by_family``) and a verdict confusion table.

    ``confusion[expected][actual]`` counts verdicts; ratios are ``None`` when
    their denominator is empty.
    """
    items = list(outcomes)
    summary = _metrics(items)
    families = sorted({o.family for o in items})
    summary["by_family"] = {f: _metrics([o for o in items if o.family == f]) for f in families}
    confusion: dict[str, dict[str, int]] = {}
    for o in items:
        row = confusion.setdefault(Verdict(o.expected_verdict).value, {v.value: 0 for v in Verdict})
        row[Verdict(o.verdict).value] += 1
    summary["confusion"] = confusion
    return summary


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "ms":
        return f"{1000 * value:.0f}"
    return str(value)


_COLUMNS = [
    ("queries", "n", "int"),
    ("recall_at_1", "R@1", "pct"),
    ("verdict_recall", "verdict", "pct"),
    ("found_recall", "found", "pct"),
    ("precision", "precision", "pct"),
    ("distractor_fp_rate", "distr.FP", "pct"),
    ("p50_seconds", "p50 ms", "ms"),
    ("p95_seconds", "p95 ms", "ms"),
]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    # First column left-aligned (names), numbers right-aligned.
    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def format_report(summary: dict[str, Any]) -> str:
    """An aligned plain-text report of :func:`summarise`'s output."""
    header = ["family", *(title for _, title, _ in _COLUMNS)]
    rows = [[family, *(_fmt(m[key], kind) for key, _, kind in _COLUMNS)] for family, m in summary["by_family"].items()]
    rows.append(["ALL", *(_fmt(summary[key], kind) for key, _, kind in _COLUMNS)])
    lines = _table(header, rows)
    confusion = summary.get("confusion") or {}
    if confusion:
        verdicts = [v.value for v in Verdict]
        crows = [[expected, *(str(confusion[expected].get(v, 0)) for v in verdicts)] for expected in confusion]
        lines += ["", "expected \\ verdict", *_table(["", *verdicts], crows)]
    return "\n".join(lines)


def first_relevant_rank(ranked: Sequence[Hashable], relevant: Iterable[Hashable]) -> int | None:
    """1-based rank of the first relevant item in `ranked`, None when none is there."""
    wanted = set(relevant)
    return next((rank for rank, item in enumerate(ranked, start=1) if item in wanted), None)


def precision_at_k(runs: Sequence[Run], k: int) -> float:
    """Pr@k: the fraction of runs with a relevant item in their top k; 0.0 without runs."""
    if not runs:
        return 0.0
    hits = 0
    for ranked, relevant in runs:
        first = first_relevant_rank(ranked, relevant)
        hits += first is not None and first <= k
    return hits / len(runs)


def mean_reciprocal_rank(runs: Sequence[Run]) -> float:
    """Mean of 1 / (rank of the first relevant item), 0 for a run without one; 0.0 without runs.
    The depth is the ranked lists' own (MRR@10 for lists of 10)."""
    if not runs:
        return 0.0
    ranks = [first_relevant_rank(ranked, relevant) for ranked, relevant in runs]
    return sum(1.0 / r for r in ranks if r) / len(runs)


def label_precision_at_k(query_labels: Sequence[Hashable | None], ranked_labels: Sequence[Sequence[Hashable | None]],
                         k: int | None) -> float | None:
    """Mean, over the queries that have a label (None and "" are no label), of the fraction of
    their first ``k`` ranked items that have the same label (every ranked item with ``k`` None:
    the chance level when the ranked list is the whole pool). A list shorter than k counts over
    the items it has; an empty one scores 0. None when no query has a label."""
    if len(query_labels) != len(ranked_labels):
        raise ValueError(f"{len(query_labels)} query labels for {len(ranked_labels)} ranked lists")
    if k is not None and k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    scores = []
    for label, ranked in zip(query_labels, ranked_labels, strict=True):
        if label is None or label == "":
            continue
        top = ranked[:k] if k is not None else ranked
        scores.append(sum(r == label for r in top) / len(top) if len(top) else 0.0)
    return sum(scores) / len(scores) if scores else None


def nearest_by_group(queries: np.ndarray, pool: np.ndarray, query_groups: Sequence[Hashable],
                     pool_groups: Sequence[Hashable], k: int) -> list[list[int]]:
    """For each query vector, the pool indices of its k nearest groups by inner product (cosine for
    unit vectors), best first: one index per group (its best-scoring row), the query's own group
    left out (an artwork is not similar to itself, nor to its other photographs). Exact: O(Q·N·d)."""
    q = np.asarray(queries, dtype=np.float32)
    p = np.asarray(pool, dtype=np.float32)
    if q.ndim != 2 or p.ndim != 2 or q.shape[1] != p.shape[1]:
        raise ValueError(f"queries {q.shape} and pool {p.shape} must be (n, d) with the same d")
    if len(query_groups) != len(q) or len(pool_groups) != len(p):
        raise ValueError("one group per query row and per pool row")
    out: list[list[int]] = []
    order = np.argsort(-(q @ p.T), axis=1, kind="stable")
    for row, own in zip(order, query_groups, strict=True):
        seen: set[Hashable] = {own}
        picked: list[int] = []
        for j in row:
            g = pool_groups[j]
            if g in seen:
                continue
            seen.add(g)
            picked.append(int(j))
            if len(picked) == k:
                break
        out.append(picked)
    return out

"""Evaluation metrics on hand-made outcomes."""

from __future__ import annotations

import numpy as np
import pytest

from ml.evaluate import (
    QueryOutcome,
    first_relevant_rank,
    format_report,
    label_precision_at_k,
    mean_reciprocal_rank,
    nearest_by_group,
    percentile,
    precision_at_k,
    summarise,
)
from ml.rules import Verdict

D, T, S, U = Verdict.DUPLICATE, Verdict.DETAIL, Verdict.SIMILAR, Verdict.UNRELATED


def outcome(
    qid: str, family: str, expected: str | None, expected_verdict: Verdict, top1: str | None, verdict: Verdict, s: float
) -> QueryOutcome:
    return QueryOutcome(qid, family, expected, expected_verdict, top1, verdict, s)


OUTCOMES = [
    # crop: 3 queries; one wrong top-1 (but called duplicate -> a false positive)
    outcome("q1", "crop", "a", D, "a", D, 0.10),
    outcome("q2", "crop", "b", D, "b", D, 0.20),
    outcome("q3", "crop", "c", D, "x", D, 0.30),
    # detail: one found as detail, one found only as a duplicate, one missed
    outcome("q4", "detail", "d", T, "d", T, 0.40),
    outcome("q5", "detail", "e", T, "e", D, 0.50),
    outcome("q6", "detail", "f", T, "f", S, 0.60),
    # distractors (not in the collection): one wrongly called a duplicate
    outcome("q7", "distractor", None, U, "g", S, 0.70),
    outcome("q8", "distractor", None, U, "h", D, 0.80),
]


def test_summarise_overall() -> None:
    s = summarise(OUTCOMES)
    assert (s["queries"], s["positives"], s["distractors"]) == (8, 6, 2)
    assert s["recall_at_1"] == pytest.approx(5 / 6)  # q3 wrong
    assert s["verdict_recall"] == pytest.approx(4 / 6)  # q1 q2 q3 q4 (q3's verdict is right, its artwork is not)
    assert s["found_recall"] == pytest.approx(4 / 6)  # q1 q2 q4 q5 found the right artwork
    # claimed (duplicate/detail): q1 q2 q3 q4 q5 q8 -> right artwork q1 q2 q4 q5
    assert s["claimed"] == 6
    assert s["precision"] == pytest.approx(4 / 6)
    assert s["distractor_fp_rate"] == pytest.approx(0.5)
    assert s["p50_seconds"] == pytest.approx(0.45)
    assert s["p95_seconds"] == pytest.approx(0.765)


def test_summarise_by_family_and_confusion() -> None:
    s = summarise(OUTCOMES)
    assert list(s["by_family"]) == ["crop", "detail", "distractor"]
    crop, detail, distractor = (s["by_family"][k] for k in ("crop", "detail", "distractor"))
    assert crop["recall_at_1"] == pytest.approx(2 / 3) and crop["precision"] == pytest.approx(2 / 3)
    assert detail["verdict_recall"] == pytest.approx(1 / 3) and detail["found_recall"] == pytest.approx(2 / 3)
    assert detail["precision"] == pytest.approx(1.0)
    assert distractor["recall_at_1"] is None and distractor["precision"] == 0.0
    assert distractor["distractor_fp_rate"] == 0.5
    assert s["confusion"]["detail"] == {"duplicate": 1, "detail": 1, "similar": 1, "unrelated": 0}
    assert s["confusion"]["unrelated"] == {"duplicate": 1, "detail": 0, "similar": 1, "unrelated": 0}


def test_summarise_empty_and_nothing_claimed() -> None:
    empty = summarise([])
    assert empty["queries"] == 0 and empty["recall_at_1"] is None and empty["p50_seconds"] is None
    assert empty["by_family"] == {}
    quiet = summarise([outcome("q", "jpeg", "a", D, "a", S, 0.1)])
    assert quiet["precision"] is None and quiet["recall_at_1"] == 1.0 and quiet["found_recall"] == 0.0
    assert "-" in format_report(quiet)


def test_format_report_is_an_aligned_table() -> None:
    text = format_report(summarise(OUTCOMES))
    lines = text.splitlines()
    table = lines[: lines.index("")]
    assert table[0].split()[:3] == ["family", "n", "R@1"]
    assert len({len(line) for line in table}) == 1  # every row equally wide
    rows = {line.split()[0]: line.split() for line in table[2:]}
    assert set(rows) == {"crop", "detail", "distractor", "ALL"}
    assert rows["ALL"][1:3] == ["8", "83.3%"]
    assert rows["distractor"][2] == "-"
    assert rows["ALL"][-2:] == ["450", "765"]  # p50 / p95 in ms
    assert "expected \\ verdict" in text


def test_percentile_interpolates_between_the_nearest_ranks() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert percentile([0.0, 10.0], 0.95) == pytest.approx(9.5)
    assert percentile([7.0], 0.95) == 7.0
    assert (percentile([1.0, 2.0, 3.0], 0.0), percentile([1.0, 2.0, 3.0], 1.0)) == (1.0, 3.0)
    with pytest.raises(ValueError, match="empty"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        percentile([1.0], 95)


def test_precision_at_k_and_mrr() -> None:
    runs = [(["a", "b", "c"], {"a"}), (["x", "y", "b"], {"b", "z"}), (["x", "y"], {"a"})]
    assert [first_relevant_rank(r, rel) for r, rel in runs] == [1, 3, None]
    assert precision_at_k(runs, 1) == pytest.approx(1 / 3)
    assert precision_at_k(runs, 3) == pytest.approx(2 / 3)
    assert precision_at_k(runs, 10) == pytest.approx(2 / 3)
    assert mean_reciprocal_rank(runs) == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert precision_at_k([], 10) == 0.0 and mean_reciprocal_rank([]) == 0.0


def test_label_precision_at_k_is_the_share_of_neighbours_with_the_query_label() -> None:
    queries = ["painting", "sculpture", None, ""]
    ranked = [["painting", "sculpture", "painting", None],  # 2 of the first 3, 2 of 4 overall
              ["painting", "painting", "painting"],  # none
              ["painting"], ["painting"]]  # no label: not counted
    assert label_precision_at_k(queries, ranked, 3) == pytest.approx((2 / 3 + 0) / 2)
    assert label_precision_at_k(queries, ranked, None) == pytest.approx((2 / 4 + 0) / 2)  # chance over the pool
    assert label_precision_at_k(["a"], [["a"]], 10) == 1.0  # a short list counts over what it has
    assert label_precision_at_k(["a"], [[]], 10) == 0.0
    assert label_precision_at_k([None], [["a"]], 10) is None
    with pytest.raises(ValueError, match="k must be"):
        label_precision_at_k(["a"], [["a"]], 0)
    with pytest.raises(ValueError, match="2 query labels for 1"):
        label_precision_at_k(["a", "b"], [["a"]], 1)


def test_nearest_by_group_skips_the_own_group_and_keeps_one_row_per_group() -> None:
    pool = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0], [0.6, 0.4]])
    groups = ["q", "x", "x", "y", "z"]  # pool row 0 is the query's own artwork; rows 1-2 one artwork
    got = nearest_by_group(np.array([[1.0, 0.0]]), pool, ["q"], groups, k=3)
    assert got == [[1, 4, 3]]
    assert nearest_by_group(np.array([[1.0, 0.0]]), pool, ["q"], groups, k=2) == [[1, 4]]
    with pytest.raises(ValueError, match="same d"):
        nearest_by_group(np.zeros((1, 3)), pool, ["q"], groups, k=1)

"""The threshold rules: a table of cases, validation and combination."""

from __future__ import annotations

import pytest

from ml.keypoints import MatchResult
from ml.rules import Decision, Thresholds, Verdict, overall_verdict

TH = Thresholds()


def match(inliers: int, cov_query: float = 1.0, cov_cand: float = 1.0, mirrored: bool = False) -> MatchResult:
    return MatchResult(
        good_matches=inliers + 5,
        inliers=inliers,
        mirrored=mirrored,
        coverage_query=cov_query,
        coverage_candidate=cov_cand,
        query_size=(300, 200),
        candidate_size=(300, 200),
    )


def test_defaults_are_the_study_values() -> None:
    assert (TH.T, TH.t, TH.K, TH.N, TH.n) == (0.91, 0.10, 10, 20, 10)
    assert (TH.similar_min, TH.detail_coverage, TH.whole_coverage) == (0.5, 0.5, 0.25)


# (cosine, query kps, candidate kps, match, expected verdict, required inliers)
CASES = [
    # 1. cosine < t: unrelated, never verified (even with a perfect match)
    (0.05, 500, 500, match(400), Verdict.UNRELATED, 0),
    # 2. too few keypoints: cosine alone
    (0.95, 5, 500, None, Verdict.DUPLICATE, 0),
    (0.95, 500, 9, None, Verdict.DUPLICATE, 0),
    (0.91, 0, 0, None, Verdict.DUPLICATE, 0),
    (0.70, 5, 500, None, Verdict.SIMILAR, 0),
    (0.30, 500, 3, None, Verdict.UNRELATED, 0),
    # 3./4. enough inliers: duplicate, or detail by coverage
    (0.80, 500, 500, match(20), Verdict.DUPLICATE, 20),
    (0.30, 500, 500, match(60, 0.45, 1.0), Verdict.DUPLICATE, 20),  # pasted/photographed: fills 45 %
    (0.95, 500, 500, match(10), Verdict.DUPLICATE, 10),  # high cosine needs only n
    (0.91, 500, 500, match(10), Verdict.DUPLICATE, 10),  # T itself counts as high
    (0.95, 500, 500, match(10, mirrored=True), Verdict.DUPLICATE, 10),
    (0.80, 500, 500, match(50, 1.0, 0.3), Verdict.DETAIL, 20),  # query shows part of candidate
    (0.80, 500, 500, match(50, 0.2, 1.0), Verdict.DETAIL, 20),  # candidate is small in query
    (0.80, 500, 500, match(50, 1.0, 0.5), Verdict.DUPLICATE, 20),  # boundary: 0.5 is not < 0.5
    (0.80, 500, 500, match(50, 0.25, 1.0), Verdict.DUPLICATE, 20),
    # 5. not enough inliers: similar / unrelated by cosine
    (0.80, 500, 500, match(19), Verdict.SIMILAR, 20),
    (0.90, 500, 500, match(15), Verdict.SIMILAR, 20),  # below T: N applies
    (0.95, 500, 500, match(9), Verdict.SIMILAR, 10),
    (0.50, 500, 500, match(0), Verdict.SIMILAR, 20),
    (0.49, 500, 500, match(0), Verdict.UNRELATED, 20),
    (0.10, 500, 500, match(0), Verdict.UNRELATED, 20),  # t itself is verified
    (0.10, 10, 10, match(20), Verdict.DUPLICATE, 20),  # K itself is enough
]


@pytest.mark.parametrize(("cosine", "qk", "ck", "m", "verdict", "required"), CASES)
def test_rules_table(cosine: float, qk: int, ck: int, m: MatchResult | None, verdict: Verdict, required: int) -> None:
    decision = TH.decide(cosine=cosine, query_keypoints=qk, candidate_keypoints=ck, match=m)
    assert decision.verdict is verdict, decision.reason
    assert decision.required_inliers == required
    assert decision.reason


def test_reasons_explain_the_rule() -> None:
    assert "not verified" in TH.decide(cosine=0.0, query_keypoints=500, candidate_keypoints=500, match=None).reason
    few = TH.decide(cosine=0.95, query_keypoints=3, candidate_keypoints=500, match=None)
    assert "cosine alone" in few.reason and "keypoints" in few.reason
    mirrored = TH.decide(cosine=0.95, query_keypoints=500, candidate_keypoints=500, match=match(30, mirrored=True))
    assert "mirrored" in mirrored.reason
    detail = TH.decide(cosine=0.5, query_keypoints=500, candidate_keypoints=500, match=match(30, 1.0, 0.2))
    assert "part of the candidate" in detail.reason


def test_needs_verification() -> None:
    assert TH.needs_verification(0.5, 500, 500)
    assert TH.needs_verification(0.10, 10, 10)
    assert not TH.needs_verification(0.09, 500, 500)
    assert not TH.needs_verification(0.99, 9, 500)
    assert not TH.needs_verification(0.99, 500, 9)
    assert TH.required_inliers(0.91) == 10 and TH.required_inliers(0.9) == 20


def test_missing_match_falls_back_to_cosine() -> None:
    """A candidate whose stored keypoints are missing is judged like one without keypoints."""
    high = TH.decide(cosine=0.95, query_keypoints=500, candidate_keypoints=500, match=None)
    assert high.verdict is Verdict.DUPLICATE and "no geometric match" in high.reason
    assert TH.decide(cosine=0.6, query_keypoints=500, candidate_keypoints=500, match=None).verdict is Verdict.SIMILAR
    assert TH.decide(cosine=0.2, query_keypoints=500, candidate_keypoints=500, match=None).verdict is Verdict.UNRELATED


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"t": 0.95, "T": 0.9}, "t <= T"),
        ({"T": 1.2}, r"\[0, 1\]"),
        ({"t": -0.1}, r"\[0, 1\]"),
        ({"n": 25, "N": 20}, "n <= N"),
        ({"K": 3}, "K must be >= 4"),
        ({"n": 3}, "n must be >= 4"),
        ({"N": 20.5}, "integer"),
        ({"K": True}, "integer"),
        ({"similar_min": float("nan")}, "finite"),
        ({"detail_coverage": "0.5"}, "finite number"),
        ({"whole_coverage": 1.5}, r"\[0, 1\]"),
    ],
)
def test_threshold_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Thresholds(**kwargs)  # type: ignore[arg-type]


def test_boundary_values_are_valid() -> None:
    Thresholds(T=1.0, t=1.0, K=4, N=4, n=4, similar_min=0.0, detail_coverage=0.0, whole_coverage=1.0)
    Thresholds(T=0.0, t=0.0)


def test_from_mapping() -> None:
    assert Thresholds.from_mapping(None) == TH
    assert Thresholds.from_mapping({}) == TH
    custom = Thresholds.from_mapping({"T": 0.95, "N": 30, "n": 12})
    assert (custom.T, custom.N, custom.n, custom.t) == (0.95, 30, 12, 0.10)
    with pytest.raises(ValueError, match="unknown threshold"):
        Thresholds.from_mapping({"TT": 0.9})
    with pytest.raises(ValueError, match="n <= N"):
        Thresholds.from_mapping({"N": 5})


def test_overall_verdict_is_the_most_specific() -> None:
    d = {v: Decision(v, "x") for v in Verdict}
    assert overall_verdict([]) is Verdict.UNRELATED
    assert overall_verdict([d[Verdict.UNRELATED], d[Verdict.SIMILAR]]) is Verdict.SIMILAR
    assert overall_verdict([d[Verdict.SIMILAR], d[Verdict.DETAIL], d[Verdict.UNRELATED]]) is Verdict.DETAIL
    assert overall_verdict(list(d.values())) is Verdict.DUPLICATE
    assert overall_verdict(iter([Verdict.DETAIL, "similar"])) is Verdict.DETAIL  # plain verdict values too


def test_verdict_values() -> None:
    assert [v.value for v in Verdict] == ["duplicate", "detail", "similar", "unrelated"]
    assert Verdict("detail") is Verdict.DETAIL and f"{Verdict.SIMILAR}" == "similar"

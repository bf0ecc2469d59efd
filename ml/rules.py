"""Threshold rules turning a cosine score and a geometric match into a verdict.

All thresholds live in :class:`Thresholds` (defaults from the original study
on the Web Gallery of Art); all rules live in :meth:`Thresholds.decide`:

1. ``cosine < t`` -> UNRELATED; nothing is verified.
2. Verification needs at least ``K`` keypoints on both sides.  If either side
   has fewer (blank, tiny or flat images) -- or no match result is given --
   the CNN alone decides: ``cosine >= T`` -> DUPLICATE (reason says "by
   cosine alone"), otherwise SIMILAR if ``cosine >= similar_min`` else
   UNRELATED.
3. Required inliers: ``n`` when ``cosine >= T`` else ``N`` -- a very similar
   CNN vector needs less geometric evidence.
4. ``inliers >= required``:

   * DETAIL if ``coverage_candidate < detail_coverage`` (the query shows only
     part of the candidate) or ``coverage_query < whole_coverage`` (the
     candidate is a small part of the query: a whole/detail pair);
   * otherwise DUPLICATE -- crop, resize, recompression, colour change,
     rotation, mirror, frame, text overlay, photographed on a wall or pasted
     into another picture: the candidate fills a good part of the query.

5. Otherwise SIMILAR if ``cosine >= similar_min`` else UNRELATED.

A query's overall verdict is its most specific candidate verdict
(duplicate > detail > similar > unrelated).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for annotations: keeps this module free of cv2 at import
    from ml.keypoints import MatchResult

__all__ = ["Decision", "Thresholds", "Verdict", "overall_verdict"]


class Verdict(StrEnum):
    """Relation between a query image and one artwork."""

    DUPLICATE = "duplicate"
    DETAIL = "detail"
    SIMILAR = "similar"
    UNRELATED = "unrelated"


# Most specific first; used to rank and to combine verdicts.
_SPECIFICITY = {Verdict.DUPLICATE: 3, Verdict.DETAIL: 2, Verdict.SIMILAR: 1, Verdict.UNRELATED: 0}


@dataclass(frozen=True)
class Decision:
    """A verdict, a human-readable reason and the inliers the rule asked for (0: none)."""

    verdict: Verdict
    reason: str
    required_inliers: int = 0


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds (names as in the study: T, t, K, N, n).

    ``T``: cosine above which a candidate is a near-copy by the CNN;
    ``t``: cosine below which nothing is verified; ``K``: keypoints needed on
    each side to verify; ``N`` / ``n``: RANSAC inliers required below / above
    ``T``; ``similar_min``: cosine for SIMILAR without geometric evidence;
    ``detail_coverage`` / ``whole_coverage``: see the module docstring.
    """

    T: float = 0.91
    t: float = 0.10
    K: int = 10
    N: int = 20
    n: int = 10
    similar_min: float = 0.5
    detail_coverage: float = 0.5
    whole_coverage: float = 0.25

    def __post_init__(self) -> None:
        # Validate at the boundary (as imagededup does) so a bad setting fails
        # at start-up with a message, not as odd verdicts later.
        for name in ("T", "t", "similar_min", "detail_coverage", "whole_coverage"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"threshold {name} must be a finite number, got {value!r}")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"threshold {name} must be within [0, 1], got {value}")
            object.__setattr__(self, name, float(value))  # plain float even if given a numpy scalar
        for name in ("K", "N", "n"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(f"threshold {name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.t > self.T:
            raise ValueError(f"need t <= T, got t={self.t} > T={self.T}")
        if self.K < 4:
            raise ValueError(f"K must be >= 4 (a homography needs 4 matches), got {self.K}")
        if self.n < 4:
            raise ValueError(f"n must be >= 4 (a homography needs 4 inliers), got {self.n}")
        if self.n > self.N:
            raise ValueError(f"need n <= N, got n={self.n} > N={self.N}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> Thresholds:
        """Build from a settings dict; unknown keys are an error (typos must not pass)."""
        if not values:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown threshold setting(s) {unknown}; known: {sorted(known)}")
        return cls(**dict(values))

    def required_inliers(self, cosine: float) -> int:
        """Inliers needed for a geometric match at this cosine."""
        return self.n if cosine >= self.T else self.N

    def needs_verification(self, cosine: float, query_kps: int, cand_kps: int) -> bool:
        """Whether the decision depends on a geometric match at all."""
        return cosine >= self.t and query_kps >= self.K and cand_kps >= self.K

    def _by_cosine(self, cosine: float, why: str) -> Decision:
        if cosine >= self.similar_min:
            return Decision(Verdict.SIMILAR, f"{why}; cosine {cosine:.3f} >= similar_min {self.similar_min}")
        return Decision(Verdict.UNRELATED, f"{why}; cosine {cosine:.3f} < similar_min {self.similar_min}")

    def decide(
        self,
        *,
        cosine: float,
        query_keypoints: int,
        candidate_keypoints: int,
        match: MatchResult | None,
    ) -> Decision:
        """Apply the rules of the module docstring to one candidate."""
        if cosine < self.t:
            return Decision(Verdict.UNRELATED, f"cosine {cosine:.3f} < t {self.t}; not verified")
        if query_keypoints < self.K or candidate_keypoints < self.K or match is None:
            if match is None and query_keypoints >= self.K and candidate_keypoints >= self.K:
                why = "no geometric match given (e.g. stored keypoints missing)"
            else:
                why = (
                    f"too few keypoints to verify ({query_keypoints} query, "
                    f"{candidate_keypoints} candidate, K={self.K})"
                )
            if cosine >= self.T:
                return Decision(Verdict.DUPLICATE, f"duplicate by cosine alone ({cosine:.3f} >= T {self.T}); {why}")
            return self._by_cosine(cosine, why)
        required = self.required_inliers(cosine)
        if match.inliers >= required:
            geometry = (
                f"{match.inliers} inliers >= {required}{' (mirrored)' if match.mirrored else ''}, "
                f"coverage query {match.coverage_query:.2f} / candidate {match.coverage_candidate:.2f}"
            )
            if match.coverage_candidate < self.detail_coverage:
                return Decision(
                    Verdict.DETAIL,
                    f"{geometry}: query shows part of the candidate (< {self.detail_coverage})",
                    required,
                )
            if match.coverage_query < self.whole_coverage:
                return Decision(
                    Verdict.DETAIL,
                    f"{geometry}: candidate is a small part of the query (< {self.whole_coverage})",
                    required,
                )
            return Decision(Verdict.DUPLICATE, geometry, required)
        decision = self._by_cosine(cosine, f"{match.inliers} inliers < {required} required")
        return Decision(decision.verdict, decision.reason, required)


def overall_verdict(decisions: Iterable[Decision | Verdict]) -> Verdict:
    """The most specific verdict (duplicate > detail > similar > unrelated); empty -> unrelated."""
    best = Verdict.UNRELATED
    for item in decisions:
        verdict = item.verdict if isinstance(item, Decision) else Verdict(item)
        if _SPECIFICITY[verdict] > _SPECIFICITY[best]:
            best = verdict
    return best

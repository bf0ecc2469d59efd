"""Staff review of duplicate pairs: every write to a DuplicatePair goes through here.

A pair comes in from the duplicate scan or an upload's check (`duplicate_pair_record`), or from a
visitor's report (`duplicate_report`); staff confirm it (the copy is hidden behind its canonical
artwork), mark it a detail, reject it, or undo their decision. A curator's answer to an upload's
duplicate warning is recorded on the same pairs (`upload_pairs_kept`, `upload_pairs_confirm`).
Reads (the queue, a pair's evidence) are in recommender.selectors.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from recommender.audit import audit
from recommender.exceptions import ApplicationError
from recommender.models import Artwork, ArtworkImage, DuplicatePair

# How much of a visitor's note on a reported pair is kept with the pair, and in the audit log.
NOTE_MAX_CHARS = 1000
AUDIT_NOTE_MAX_CHARS = 200


def duplicate_pair_record(*, first: ArtworkImage, second: ArtworkImage, verdict: str, cosine: float,
                          inliers: int, evidence: dict[str, object], source: str = "scan") -> DuplicatePair:
    """Store a candidate pair (one row per unordered pair). Fresh evidence updates the scores,
    but never a decision staff already made on the pair."""
    a, b = sorted((first.pk, second.pk))
    pair, created = DuplicatePair.objects.get_or_create(
        image_a_id=a, image_b_id=b,
        defaults={"verdict": verdict, "cosine": cosine, "inliers": inliers, "evidence": evidence, "source": source},
    )
    if not created and pair.status == DuplicatePair.Status.CANDIDATE:
        pair.verdict, pair.cosine, pair.inliers, pair.evidence = verdict, cosine, inliers, evidence
        pair.save(update_fields=["verdict", "cosine", "inliers", "evidence", "updated_at"])
    return pair


def duplicate_report(*, artwork: Artwork, other: Artwork, user: Any, note: str = "") -> DuplicatePair:
    """A visitor says two artworks are the same work: queue the pair for staff."""
    if artwork.pk == other.pk:
        raise ApplicationError("an artwork cannot duplicate itself")
    a = artwork.images.order_by("id").first()
    b = other.images.order_by("id").first()
    if a is None or b is None:
        raise ApplicationError("both artworks need an image to be compared")
    lo, hi = sorted((a.pk, b.pk))
    pair, created = DuplicatePair.objects.get_or_create(
        image_a_id=lo, image_b_id=hi,
        defaults={"verdict": DuplicatePair.Verdict.DUPLICATE, "cosine": 0.0, "inliers": 0,
                  "source": DuplicatePair.Source.REPORT, "evidence": {"note": note[:NOTE_MAX_CHARS]}},
    )
    audit(actor=user, action="report_duplicate", target=pair, created=created, note=note[:AUDIT_NOTE_MAX_CHARS])
    return pair


def _pairs_of(image_id: int) -> QuerySet[DuplicatePair]:
    return DuplicatePair.objects.filter(Q(image_a_id=image_id) | Q(image_b_id=image_id))


def _decide(pair: DuplicatePair, *, user: Any, status: str, verdict: str | None = None) -> None:
    pair.status = status
    if verdict:
        pair.verdict = verdict
    pair.decided_by = user
    pair.decided_at = timezone.now()
    pair.save(update_fields=["status", "verdict", "decided_by", "decided_at", "updated_at"])


@transaction.atomic
def pair_confirm_duplicate(*, pair: DuplicatePair, user: Any, canonical: Artwork) -> DuplicatePair:
    """Confirm a duplicate: the other artwork is hidden from recommendations and points to the canonical one."""
    pair = DuplicatePair.objects.select_for_update().select_related("image_a__artwork", "image_b__artwork").get(
        pk=pair.pk)
    arts = {pair.image_a.artwork, pair.image_b.artwork}
    if canonical not in arts:
        raise ApplicationError("the canonical artwork must be one of the pair")
    (other,) = arts - {canonical} or {None}
    previous = other.duplicate_of_id if other else None
    if other is not None:
        other.duplicate_of = canonical
        other.save(update_fields=["duplicate_of", "updated_at"])
    pair.evidence = {**pair.evidence, "undo": {"artwork": other.pk if other else None, "duplicate_of": previous}}
    pair.save(update_fields=["evidence"])
    _decide(pair, user=user, status=DuplicatePair.Status.CONFIRMED, verdict=DuplicatePair.Verdict.DUPLICATE)
    audit(actor=user, action="confirm_duplicate", target=pair, canonical=canonical.pk,
          hidden=other.pk if other else None)
    return pair


@transaction.atomic
def pair_mark_detail(*, pair: DuplicatePair, user: Any) -> DuplicatePair:
    _decide(pair, user=user, status=DuplicatePair.Status.CONFIRMED, verdict=DuplicatePair.Verdict.DETAIL)
    audit(actor=user, action="mark_detail", target=pair)
    return pair


@transaction.atomic
def pair_reject(*, pair: DuplicatePair, user: Any) -> DuplicatePair:
    """Not a duplicate: the pair stays stored as rejected, so no scan proposes it again."""
    _decide(pair, user=user, status=DuplicatePair.Status.REJECTED)
    audit(actor=user, action="reject", target=pair)
    return pair


@transaction.atomic
def pair_undo(*, pair: DuplicatePair, user: Any) -> DuplicatePair:
    """Back to a candidate; a confirmed duplicate's hidden artwork comes back."""
    pair = DuplicatePair.objects.select_for_update().get(pk=pair.pk)
    undo = pair.evidence.get("undo") or {}
    if pair.status == DuplicatePair.Status.CONFIRMED and undo.get("artwork"):
        Artwork.objects.filter(pk=undo["artwork"]).update(duplicate_of_id=undo.get("duplicate_of"))
    previous = pair.status
    pair.evidence = {k: v for k, v in pair.evidence.items() if k != "undo"}
    pair.status = DuplicatePair.Status.CANDIDATE
    pair.decided_by, pair.decided_at = None, None
    pair.save()
    audit(actor=user, action="undo", target=pair, previous=previous)
    return pair


def upload_pairs_kept(*, image_id: int, user: Any) -> None:
    """A curator kept an upload as new despite its duplicate warning. Their view goes with the
    open pairs, which stay candidates: keeping a piece is not proof that it is not a copy."""
    for pair in _pairs_of(image_id).filter(status=DuplicatePair.Status.CANDIDATE):
        pair.evidence = {**pair.evidence, "curator": f"kept as new by {user}"}
        pair.save(update_fields=["evidence", "updated_at"])


def upload_pairs_confirm(*, image_id: int, duplicate_of: Artwork, user: Any) -> None:
    """A curator marked an upload a duplicate of `duplicate_of`: the pairs between them are confirmed."""
    _pairs_of(image_id).filter(Q(image_a__artwork=duplicate_of) | Q(image_b__artwork=duplicate_of)).update(
        status=DuplicatePair.Status.CONFIRMED, decided_by=user, decided_at=timezone.now())

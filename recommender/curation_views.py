"""Curator uploads and the staff review queue. Thin: parse → service/selector → render."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django_ratelimit.decorators import ratelimit

from ml.images import ImageError
from recommender import curation, presentation, review, selectors
from recommender.catalogue import ARTWORK_FIELDS
from recommender.exceptions import ApplicationError
from recommender.forms import (
    ArtworkEditForm,
    ArtworkUploadForm,
    BulkUploadForm,
    DecisionForm,
    ReportDuplicateForm,
)
from recommender.middleware import refusal
from recommender.models import Artwork, AuditLog, DuplicatePair, Upload
from recommender.roles import curator_required, may_edit_artwork, staff_required, uploads_of

# Visitors' duplicate reports each put a pair in the staff's queue: a budget per address.
REPORT_RATE = "10/h"


# --------------------------------------------------------------------------- curators
@curator_required
def upload_new(request: HttpRequest) -> HttpResponse:
    form = ArtworkUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        f = form.cleaned_data["image"]
        try:
            upload = curation.artwork_upload(
                user=request.user, data=f.read(), source_name=f.name, metadata=form.cleaned_data,
                artist_name=form.cleaned_data["artist"],
            )
        except ImageError as exc:
            form.add_error("image", str(exc))
        except curation.AlreadyInCollection as exc:
            messages.info(request, f"This exact file is already in the collection as this artwork; "
                                   f"nothing was uploaded ({f.name}).")
            return redirect(exc.artwork)
        else:
            return redirect(upload)
    status = 400 if request.method == "POST" else 200
    return render(request, "curation/upload_form.html", {"form": form, "bulk": BulkUploadForm()}, status=status)


@curator_required
@require_POST
def upload_bulk(request: HttpRequest) -> HttpResponse:
    form = BulkUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "curation/upload_form.html", {"form": ArtworkUploadForm(), "bulk": form}, status=400)
    report = curation.bulk_upload(
        user=request.user, files=form.cleaned_data["files"], max_file_bytes=settings.ARTSEARCH_MAX_UPLOAD_BYTES,
        max_total_bytes=settings.ARTSEARCH_MAX_BULK_BYTES, max_pixels=settings.ARTSEARCH_MAX_PIXELS,
        max_side=settings.ARTSEARCH_DECODE_MAX_SIDE,
    )
    if report.errors:
        return render(request, "curation/upload_form.html",
                      {"form": ArtworkUploadForm(), "bulk": form, "bulk_errors": report.errors}, status=400)
    for line in report.skipped:
        messages.info(request, line)
    if not report.batch:
        messages.warning(request, "Nothing new to upload: every file is already in the collection.")
        return redirect("upload_new")
    return redirect("upload_batch", batch=report.batch)


@curator_required
def upload_status(request: HttpRequest, pk: int) -> HttpResponse:
    upload = get_object_or_404(uploads_of(request.user).select_related("artwork", "image"), pk=pk)
    if request.GET.get("format") == "json":
        return JsonResponse(selectors.upload_state(upload))
    return render(request, "curation/upload_status.html", {
        "upload": upload, "state": selectors.upload_state(upload), "matches": selectors.upload_matches(upload),
    })


@curator_required
def upload_batch(request: HttpRequest, batch: str) -> HttpResponse:
    uploads = list(uploads_of(request.user).filter(batch=batch).select_related("artwork").order_by("id"))
    if not uploads:
        raise Http404("no such batch of yours")
    progress = selectors.batch_progress(uploads)
    if request.GET.get("format") == "json":
        return JsonResponse(progress)
    return render(request, "curation/upload_batch.html", {"uploads": uploads, "batch": batch, "progress": progress})


@curator_required
@require_POST
def upload_retry(request: HttpRequest, pk: int) -> HttpResponse:
    upload = get_object_or_404(uploads_of(request.user), pk=pk)
    try:
        curation.upload_retry(upload=upload, user=request.user)
    except ApplicationError as exc:
        messages.error(request, str(exc))
    return redirect(upload)


@curator_required
@require_POST
def upload_decide(request: HttpRequest, pk: int) -> HttpResponse:
    upload = get_object_or_404(uploads_of(request.user), pk=pk)
    form = DecisionForm(request.POST)
    if form.is_valid():
        other = None
        if form.cleaned_data["duplicate_of"]:
            other = Artwork.objects.filter(pk=form.cleaned_data["duplicate_of"]).first()
        try:
            curation.upload_decide(upload=upload, user=request.user, decision=form.cleaned_data["decision"],
                                   duplicate_of=other)
        except ApplicationError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, Upload.Decision(form.cleaned_data["decision"]).label)
    return redirect(upload)


# --------------------------------------------------------------------------- visitors
@require_POST
@ratelimit(key="ip", rate=REPORT_RATE, method="POST", block=False)
def report_duplicate(request: HttpRequest, pk: int) -> HttpResponse:
    if getattr(request, "limited", False):
        return refusal(request, 429, "Too many duplicate reports from your address; thank you, and try again "
                                     "in an hour.", title="Too many reports")
    artwork = get_object_or_404(Artwork, pk=pk)
    form = ReportDuplicateForm(request.POST)
    if form.is_valid():
        other = Artwork.objects.filter(pk=form.cleaned_data["other"]).first()
        if other is None:
            messages.error(request, "No artwork with that number.")
        else:
            try:
                review.duplicate_report(artwork=artwork, other=other, user=request.user,
                                          note=form.cleaned_data["note"])
            except ApplicationError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, "Thank you: staff will review this pair.")
    else:
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
    return redirect(artwork)


# --------------------------------------------------------------------------- staff
@staff_required
def review_queue(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or DuplicatePair.Status.CANDIDATE
    if status not in DuplicatePair.Status.values:
        return refusal(request, 400, f"Unknown status; choose one of {', '.join(DuplicatePair.Status.values)}.")
    qs = selectors.review_queue(status=status)
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    return render(request, "curation/review_queue.html", {"page": page, "status": status,
                                                         "statuses": DuplicatePair.Status.choices})


@staff_required
def review_pair(request: HttpRequest, pk: int) -> HttpResponse:
    pair = get_object_or_404(DuplicatePair.objects.select_related("image_a__artwork", "image_b__artwork"), pk=pk)
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "confirm":
                canonical = get_object_or_404(Artwork, pk=request.POST.get("canonical"))
                review.pair_confirm_duplicate(pair=pair, user=request.user, canonical=canonical)
            elif action == "detail":
                review.pair_mark_detail(pair=pair, user=request.user)
            elif action == "reject":
                review.pair_reject(pair=pair, user=request.user)
            elif action == "undo":
                review.pair_undo(pair=pair, user=request.user)
            else:
                raise ApplicationError(f"unknown action {action!r}")
        except ApplicationError as exc:
            messages.error(request, str(exc))
            return redirect("review_pair", pk=pair.pk)
        messages.success(request, f"Pair {pair.pk}: {action} done.")
        return redirect("review_queue")
    return render(request, "curation/review_pair.html", {"pair": pair, "evidence": presentation.pair_picture(pair),
                                                        "log": selectors.audit_for(pair)})


@staff_required
def audit_log(request: HttpRequest) -> HttpResponse:
    page = Paginator(AuditLog.objects.select_related("actor"), 50).get_page(request.GET.get("page"))
    return render(request, "curation/audit_log.html", {"page": page})


@curator_required
def artwork_edit(request: HttpRequest, pk: int) -> HttpResponse:
    artwork = get_object_or_404(Artwork.objects.select_related("artist"), pk=pk)
    if not may_edit_artwork(request.user, artwork):
        raise PermissionDenied("this artwork came from another curator's upload; staff may edit it")
    curator_caption = artwork.captions.filter(source="curator").first()
    initial = {k: getattr(artwork, k) for k in ARTWORK_FIELDS}
    initial["artist"] = artwork.artist.name if artwork.artist else ""
    initial["caption"] = curator_caption.text if curator_caption else ""
    form = ArtworkEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        curation.artwork_update(artwork=artwork, user=request.user, fields=form.cleaned_data,
                                artist_name=form.cleaned_data["artist"], caption=form.cleaned_data["caption"])
        messages.success(request, "Saved; its captions are being refreshed.")
        return redirect(artwork)
    return render(request, "curation/artwork_edit.html", {"form": form, "artwork": artwork},
                  status=400 if request.method == "POST" else 200)

"""Request guards that run before any view reads the request.

* Bodies larger than the upload limit are refused from their Content-Length, before a byte of
  them is read (413).
* NUL bytes (PostgreSQL cannot store them: let through, they fail deep in a query as a 500) and
  over-long values in the path, the query string or a form field are refused with a 400 that
  says which parameter and why.

Under /api/ the answer is JSON like every other API error; elsewhere a short page.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

API_PREFIX = "/api/"


def megabytes(n: int) -> str:
    """A byte count as people read upload limits: MB of 2**20 bytes, like the help texts."""
    mb = n / 2**20
    return f"{mb:.0f} MB" if mb >= 10 or mb == int(mb) else f"{mb:.1f} MB"


def refusal(request: HttpRequest, status: int, message: str, *, title: str = "Request refused") -> HttpResponse:
    """The one shape of a refused request: JSON under /api/, a short page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"error": message}, status=status)
    return render(request, "request_refused.html", {"title": title, "message": message}, status=status)


def body_limit(path: str) -> int:
    """Largest request body accepted at `path`: the bulk upload takes a zip or many files, every
    other form at most one upload-sized file (plus room for the multipart framing and fields)."""
    if path == reverse("upload_bulk"):
        return settings.ARTSEARCH_MAX_BULK_BYTES
    return settings.ARTSEARCH_MAX_UPLOAD_BYTES + settings.ARTSEARCH_MAX_FORM_OVERHEAD_BYTES


class RequestBoundsMiddleware:
    """Refuse over-large bodies (413) and NUL bytes or over-long values (400) up front."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = self._body_too_large(request) or self._bad_values(request)
        return refused or self.get_response(request)

    def _body_too_large(self, request: HttpRequest) -> HttpResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return refusal(request, 400, "The Content-Length header is not a number.")
        limit = body_limit(request.path)
        if length > limit:
            return refusal(request, 413, f"The request is {megabytes(length)}; the limit here is {megabytes(limit)}.",
                           title="Too large")
        return None

    def _bad_values(self, request: HttpRequest) -> HttpResponse | None:
        if "\x00" in request.path:
            return refusal(request, 400, "The address contains a NUL byte.")
        sources = [("query string", request.GET, settings.ARTSEARCH_MAX_PARAM_CHARS)]
        if request.method == "POST":
            # Parses the form (files go to the upload handlers, as the view would have them);
            # the body's size was checked above.
            sources.append(("form", request.POST, settings.ARTSEARCH_MAX_FIELD_CHARS))
        for where, params, limit in sources:
            for key, values in params.lists():
                if "\x00" in key or any("\x00" in v for v in values):
                    return refusal(request, 400, f"The {where} parameter {key[:40]!r} contains a NUL byte.")
                longest = max((len(v) for v in values), default=0)
                if longest > limit:
                    return refusal(request, 400, f"The {where} parameter {key[:40]!r} is {longest:,} characters "
                                                 f"long; the limit is {limit:,}.")
        return None

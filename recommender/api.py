"""JSON API (v1). Thin: parse, call search, serialise."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from django_ratelimit.decorators import ratelimit

from ml.images import ImageError
from recommender import errors, jobs, search, text_search
from recommender.forms import ImageQueryForm

QUERY_RATE = "30/m"
TEXT_RATE = "120/m"
# The web form and this API share one image-query budget per address (django-ratelimit group).
QUERY_GROUP = "image-query"


def error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@csrf_exempt  # an anonymous, side-effect-free query endpoint for scripts; nothing is stored
@require_POST
@ratelimit(key="ip", rate=QUERY_RATE, method="POST", block=False, group=QUERY_GROUP)
def search_image(request: HttpRequest) -> JsonResponse:
    if getattr(request, "limited", False):
        return error(429, f"too many queries; the limit is {QUERY_RATE} per address")
    form = ImageQueryForm(request.POST, request.FILES)
    if not form.is_valid():
        problems = form.errors.get("image") or ["send the image as multipart field 'image'"]
        return error(400, " ".join(problems))
    try:
        result = search.image_query(data=form.cleaned_data["image"], embed=jobs.embed_query)
    except ImageError as exc:
        return error(400, str(exc))
    except jobs.WorkerUnavailable as exc:
        response = error(503, str(exc))
        response["Retry-After"] = str(errors.RETRY_AFTER_S)
        return response
    try:
        limit = max(1, min(100, int(request.GET.get("limit", 20))))
    except ValueError:
        limit = 20
    return JsonResponse(result.as_json(limit=limit))


@require_GET
@ratelimit(key="ip", rate=TEXT_RATE, method="GET", block=False)
def search_text(request: HttpRequest) -> JsonResponse:
    if getattr(request, "limited", False):
        return error(429, f"too many queries; the limit is {TEXT_RATE} per address")
    try:
        k = int(request.GET.get("k", 10))
    except ValueError:
        return error(400, "k must be a number")
    try:
        result, degraded = text_search.text_query_web(q=request.GET.get("q", ""), k=k,
                                                      filters={f: request.GET.get(f, "") for f in text_search.FILTERS})
    except text_search.QueryError as exc:
        return error(400, str(exc))
    body = result.as_json()
    if degraded:
        body["warning"] = degraded
    return JsonResponse(body)

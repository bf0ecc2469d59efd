"""Thin views: parse the request, call a selector or service, render."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django_ratelimit.decorators import ratelimit

from ml.images import ImageError
from recommender import api, errors, health, jobs, presentation, search, selectors, text_search
from recommender.forms import ImageQueryForm
from recommender.models import Artist, Artwork


def catalogue(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    filters = {f: request.GET.get(f, "").strip() for f in selectors.FACETS if request.GET.get(f)}
    coverage = selectors.image_coverage()
    # "with images": ?images=1 / ?images=0, else on while fewer than half the artworks have one.
    with_images = request.GET.get("images", "1" if coverage.images_by_default else "0") == "1"
    qs = selectors.artwork_list(q=q, filters=filters, with_images=with_images)
    page = Paginator(qs, 24).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    params["images"] = "1" if with_images else "0"
    return render(
        request,
        "recommender/catalogue.html",
        {
            "page": page,
            "q": q,
            "filters": filters,
            "with_images": with_images,
            "coverage": coverage,
            # What the other setting of the "with images" facet would show, for its count.
            "other_count": selectors.artwork_list(q=q, filters=filters, with_images=not with_images).count(),
            "facets": selectors.facet_counts(qs),
            "querystring": params.urlencode(),
        },
    )


def artwork_detail(request: HttpRequest, pk: int) -> HttpResponse:
    artwork = get_object_or_404(Artwork.objects.select_related("artist"), pk=pk)
    return render(
        request,
        "recommender/artwork_detail.html",
        {
            "artwork": artwork,
            "image": selectors.artwork_primary_image(artwork),
            "similar": selectors.artwork_similar_list(artwork=artwork),
            "related": selectors.artwork_related_list(artwork=artwork),
            "copies": selectors.artwork_copies(artwork=artwork),
        },
    )


def artist_detail(request: HttpRequest, pk: int) -> HttpResponse:
    artist = get_object_or_404(Artist, pk=pk)
    qs = selectors.artwork_list().filter(artist=artist)
    page = Paginator(qs, 24).get_page(request.GET.get("page"))
    return render(request, "recommender/artist_detail.html", {"artist": artist, "page": page})


def indexing_status(request: HttpRequest) -> HttpResponse:
    progress = selectors.indexing_progress()
    if request.headers.get("accept", "").startswith("application/json") or request.GET.get("format") == "json":
        return JsonResponse({**progress.__dict__, "percent": progress.percent})
    return render(request, "recommender/indexing.html", {"progress": progress})


def healthz(request: HttpRequest) -> JsonResponse:
    """Each component (database, redis, query_worker, gpu_worker); 503 when one is down."""
    ok, body = health.report()
    return JsonResponse(body, status=200 if ok else 503)


@ratelimit(key="ip", rate=api.QUERY_RATE, method="POST", block=False, group=api.QUERY_GROUP)
def search_image(request: HttpRequest) -> HttpResponse:
    """Visitor upload: find the artwork in a photo and its look-alikes."""
    if request.method != "POST":
        return render(request, "recommender/search_image.html", {"form": ImageQueryForm()})
    if getattr(request, "limited", False):
        return render(request, "recommender/search_image.html",
                      {"form": ImageQueryForm(), "error": "Too many queries from your address; wait a minute."},
                      status=429)
    form = ImageQueryForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "recommender/search_image.html", {"form": form}, status=400)
    try:
        result = search.image_query(data=form.cleaned_data["image"], embed=jobs.embed_query)
    except ImageError as exc:
        form.add_error("image", str(exc))
        return render(request, "recommender/search_image.html", {"form": form}, status=400)
    except jobs.WorkerUnavailable as exc:
        response = render(request, "recommender/search_image.html", {"form": form, "error": str(exc)}, status=503)
        response["Retry-After"] = str(errors.RETRY_AFTER_S)
        return response
    headline = presentation.result_headline(result)
    return render(request, "recommender/search_results.html", {
        "result": result, "headline": headline, "gallery": presentation.result_gallery(result, headline),
        **presentation.query_pictures(result)})


@ratelimit(key="ip", rate=api.TEXT_RATE, method="GET", block=False)
def search_text(request: HttpRequest) -> HttpResponse:
    """Find artworks from a sentence."""
    q = request.GET.get("q", "")
    filters = {f: request.GET.get(f, "") for f in text_search.FILTERS if request.GET.get(f)}
    ctx: dict[str, object] = {"q": q, "filters": filters, "facets": selectors.facet_counts(Artwork.objects.all())}
    if getattr(request, "limited", False):
        ctx["error"] = "Too many searches from your address; wait a minute."
        return render(request, "recommender/search_text.html", ctx, status=429)
    if "q" in request.GET:
        try:
            ctx["result"], ctx["warning"] = text_search.text_query_web(q=q, k=24, filters=filters, highlight=True)
        except text_search.QueryError as exc:
            ctx["error"] = str(exc)
    return render(request, "recommender/search_text.html", ctx)

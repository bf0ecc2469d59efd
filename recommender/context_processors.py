from django.http import HttpRequest

from recommender.selectors import indexing_progress


def indexing(request: HttpRequest) -> dict[str, object]:
    """Indexing progress for the header badge on every page."""
    return {"indexing": indexing_progress()}

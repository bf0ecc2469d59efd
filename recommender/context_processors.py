from django.http import HttpRequest

from recommender.roles import is_curator, is_staff_reviewer
from recommender.selectors import indexing_progress


def indexing(request: HttpRequest) -> dict[str, object]:
    """Indexing progress for the header badge, and the user's roles for the menu."""
    return {
        "indexing": indexing_progress(),
        "is_curator": is_curator(request.user),
        "is_staff_reviewer": is_staff_reviewer(request.user),
    }

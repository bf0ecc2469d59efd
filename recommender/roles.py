"""Who may do what. Visitors are anonymous; curators and staff are auth groups (migration
0002); superusers may do everything.

Curators act on their own work: their uploads and batches (view, retry, decide, withdraw, mark
as duplicate) and the artworks those uploads made. Catalogue and imported artworks belong to
no one, so any curator may correct them; every edit is in the audit log. Staff act on all."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from recommender.models import Artwork, Upload

CURATORS = "curators"
STAFF = "staff"


def _in_group(user: Any, name: str) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.groups.filter(name=name).exists()))


def is_curator(user: Any) -> bool:
    return _in_group(user, CURATORS) or _in_group(user, STAFF)


def is_staff_reviewer(user: Any) -> bool:
    return _in_group(user, STAFF)


def uploads_of(user: Any) -> QuerySet[Upload]:
    """The uploads `user` may see and act on: all for staff, their own for a curator, none else.
    Views look uploads and batches up through this, so another curator's are a 404."""
    if is_staff_reviewer(user):
        return Upload.objects.all()
    if is_curator(user):
        return Upload.objects.filter(uploaded_by=user)
    return Upload.objects.none()


def may_edit_artwork(user: Any, artwork: Artwork) -> bool:
    """Staff edit every artwork; a curator edits the catalogue's and their own uploads' artworks,
    not an artwork another curator uploaded (it is that curator's work until staff step in)."""
    if is_staff_reviewer(user):
        return True
    if not is_curator(user):
        return False
    uploaders = set(artwork.uploads.values_list("uploaded_by", flat=True))
    return not uploaders or user.pk in uploaders


def role_required(check: Callable[[Any], bool]) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Anonymous → login page; logged in without the role → 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not check(request.user):
                raise PermissionDenied("your account does not have this role")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


curator_required = role_required(is_curator)
staff_required = role_required(is_staff_reviewer)

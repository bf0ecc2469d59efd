"""Who may do what. Visitors are anonymous; curators and staff are auth groups (migration
0002); superusers may do everything."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

CURATORS = "curators"
STAFF = "staff"


def _in_group(user: Any, name: str) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.groups.filter(name=name).exists()))


def is_curator(user: Any) -> bool:
    return _in_group(user, CURATORS) or _in_group(user, STAFF)


def is_staff_reviewer(user: Any) -> bool:
    return _in_group(user, STAFF)


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

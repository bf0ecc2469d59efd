"""Account pages: log in and out, change the password, and reset it by mail when a mail server
is configured (settings.ARTSEARCH_PASSWORD_RESET). Wrong passwords are throttled by django-axes
(settings); the reset form, which sends mail to whoever asks, by a rate limit per address and per
e-mail address here."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from django_ratelimit.decorators import ratelimit

from recommender.middleware import refusal

RESET_RATE = "5/h"


class LoginView(auth_views.LoginView):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "password_reset": settings.ARTSEARCH_PASSWORD_RESET}


def reset_offered(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """404 unless a mail server can deliver the reset link: a form that says "sent" while nothing
    is sent leaves the person waiting for a mail that never comes."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.ARTSEARCH_PASSWORD_RESET:
            raise Http404("Password reset is not offered here; ask a staff member to set a new password.")
        return view(request, *args, **kwargs)

    return wrapped


@reset_offered
@ratelimit(key="ip", rate=RESET_RATE, method="POST", block=False)
@ratelimit(key="post:email", rate=RESET_RATE, method="POST", block=False)
def password_reset(request: HttpRequest) -> HttpResponse:
    if getattr(request, "limited", False):
        return refusal(request, 429, "Too many password reset requests for this address or account; "
                                     "try again in an hour.", title="Too many requests")
    return auth_views.PasswordResetView.as_view()(request)


urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", password_reset, name="password_reset"),
    path("password_reset/done/", reset_offered(auth_views.PasswordResetDoneView.as_view()),
         name="password_reset_done"),
    path("reset/<uidb64>/<token>/", reset_offered(auth_views.PasswordResetConfirmView.as_view()),
         name="password_reset_confirm"),
    path("reset/done/", reset_offered(auth_views.PasswordResetCompleteView.as_view()),
         name="password_reset_complete"),
]

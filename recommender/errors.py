"""What a failure looks like from outside: the JSON API answers JSON on every error, and an outage
of PostgreSQL or Redis is a short 503 (JSON under /api/ and /healthz, a small HTML page elsewhere)
instead of a 500 traceback page; the embedded server found down is started again."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from http import HTTPStatus

from django.db import InterfaceError as DbInterfaceError
from django.db import OperationalError as DbOperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from kombu.exceptions import OperationalError as BrokerDown
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from recommender import health

logger = logging.getLogger(__name__)

JSON_PATHS = ("/api/", "/healthz")
RETRY_AFTER_S = 10

_PAGE_503 = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ArtSearch is unavailable</title>
</head><body><h1>ArtSearch is briefly unavailable</h1><p>Part of the service is restarting. Please try
again in a few seconds.</p></body></html>"""
_PAGE_500 = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Server error</title></head>
<body><h1>Something went wrong</h1><p>The error has been logged.</p></body></html>"""


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(JSON_PATHS)


def _outage(exc: BaseException | None) -> str:
    """Which server an exception says is unreachable: "postgres", "redis" or "" (a bug)."""
    if isinstance(exc, DbOperationalError | DbInterfaceError):
        return "postgres"
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | BrokerDown):
        return "redis"
    return ""


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500. Django calls it inside its `except` block, so sys.exc_info() is the exception."""
    down = _outage(sys.exc_info()[1])
    if down:
        health.revive_embedded(postgres=down == "postgres", redis=down == "redis")
        status, message, page = 503, f"service temporarily unavailable ({down} is down); try again shortly", _PAGE_503
    else:
        status, message, page = 500, "internal server error", _PAGE_500
    response: HttpResponse
    if wants_json(request):
        response = JsonResponse({"error": message}, status=status)
    else:
        response = HttpResponse(page, status=status, content_type="text/html; charset=utf-8")
    if status == 503:
        response["Retry-After"] = str(RETRY_AFTER_S)
    return response


class JsonApiErrorsMiddleware:
    """Under /api/, an error response that is not JSON (Django's 404/405/400/403 pages, a
    CSRF failure) becomes {"error": "..."} with the same status and headers (Allow, Retry-After).
    Outermost in MIDDLEWARE, so it sees every response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (response.status_code >= 400 and wants_json(request)
                and not response.get("Content-Type", "").startswith("application/json")):
            reason = response.reason_phrase or HTTPStatus(response.status_code).phrase
            converted = JsonResponse({"error": reason.lower()}, status=response.status_code)
            for header in ("Allow", "Retry-After"):
                if header in response:
                    converted[header] = response[header]
            return converted
        return response

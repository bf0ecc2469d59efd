"""Start-up checks of the ArtSearch settings (Django system checks, run by `manage.py check`,
`migrate`, `runserver` and every other command that checks): an impossible value stops the start
with a message naming the variable, instead of surfacing as odd verdicts on a visitor's first query."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.checks import Warning as CheckWarning

from ml.rules import Thresholds

# Settings that must be at least 1 (a size, a count or a time limit of zero or less cannot work).
POSITIVE = (
    "ARTSEARCH_MAX_UPLOAD_BYTES", "ARTSEARCH_MAX_BULK_BYTES", "ARTSEARCH_MAX_PIXELS", "ARTSEARCH_MAX_PARAM_CHARS",
    "ARTSEARCH_MAX_FIELD_CHARS", "ARTSEARCH_DECODE_MAX_SIDE", "ARTSEARCH_FEATURE_MAX_SIDE", "ARTSEARCH_INDEX_BATCH",
    "ARTSEARCH_SHORTLIST", "ARTSEARCH_VERIFY_TOP", "ARTSEARCH_VERIFY_TOP_CERTAIN", "ARTSEARCH_ORB_FEATURES",
    "ARTSEARCH_QUERY_TIMEOUT", "ARTSEARCH_STUCK_AFTER_S", "ARTSEARCH_SCAN_BATCH",
)
# Settings where 0 means "off" but a negative value means nothing.
NOT_NEGATIVE = (
    "ARTSEARCH_MAX_FORM_OVERHEAD_BYTES", "ARTSEARCH_VERIFY_EXHAUSTIVE", "ARTSEARCH_DEEP_SHORTLIST",
    "ARTSEARCH_DENSE_ORB_FEATURES", "ARTSEARCH_FALLBACK_MIN_EVIDENCE",
)


def _error(name: str, message: str, n: int) -> Error:
    return Error(f"{name}={getattr(settings, name, None)!r}: {message}", hint=f"set {name} (README, Settings)",
                 id=f"artsearch.E{n:03d}")


def _setting_errors() -> Iterable[Error]:
    for name in POSITIVE:
        if getattr(settings, name) <= 0:
            yield _error(name, "must be greater than 0", 1)
    for name in NOT_NEGATIVE:
        if getattr(settings, name) < 0:
            yield _error(name, "must not be negative (0 turns it off)", 2)
    if settings.ARTSEARCH_FALLBACK_MIN_EVIDENCE > 1:
        yield _error("ARTSEARCH_FALLBACK_MIN_EVIDENCE", "is a cosine: at most 1 (0: always run the fallbacks)", 3)
    if settings.ARTSEARCH_VERIFY_TOP > settings.ARTSEARCH_SHORTLIST:
        yield _error("ARTSEARCH_VERIFY_TOP", f"verifies more than the shortlist holds "
                                             f"(ARTSEARCH_SHORTLIST={settings.ARTSEARCH_SHORTLIST})", 4)
    if 0 < settings.ARTSEARCH_DEEP_SHORTLIST < settings.ARTSEARCH_SHORTLIST:
        yield _error("ARTSEARCH_DEEP_SHORTLIST", f"must be deeper than ARTSEARCH_SHORTLIST "
                                                 f"({settings.ARTSEARCH_SHORTLIST}), or 0 to turn it off", 5)
    try:
        Thresholds.from_mapping(settings.ARTSEARCH_THRESHOLDS)
    except ValueError as exc:
        names = ", ".join(settings.THRESHOLD_ENV_NAMES.values())
        yield Error(f"threshold settings {settings.ARTSEARCH_THRESHOLDS}: {exc}",
                    hint=f"T, t, K, N, n are {names} (README, Settings)", id="artsearch.E006")


@register("artsearch")
def settings_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every impossible ArtSearch setting, and the deprecated threshold names still in use."""
    messages: list[CheckMessage] = list(_setting_errors())
    for letter, name in settings.THRESHOLD_ENV_NAMES.items():
        if f"ARTSEARCH_{letter}" in os.environ:
            messages.append(CheckWarning(f"ARTSEARCH_{letter} is deprecated and will stop working in the next release",
                                    hint=f"set {name} instead", id="artsearch.W001"))
    return messages

from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def get_item(mapping: dict[str, str], key: str) -> str:
    return mapping.get(key, "") if isinstance(mapping, dict) else ""


@register.filter
def safe_marks(text: str) -> SafeString:
    """Escape a ts_headline excerpt, then let only its <mark> tags through."""
    escaped = escape(text or "")
    return mark_safe(escaped.replace("&lt;mark&gt;", "<mark>").replace("&lt;/mark&gt;", "</mark>"))

from __future__ import annotations

from django import template
from django.http import QueryDict
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


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, *pairs: object, **changes: object) -> str:
    """This page's query string with some parameters set (or removed, given "") and the page
    number dropped: `{% query_with images=1 %}`, or with a name from a variable as key/value
    pairs: `{% query_with name value %}`."""
    if len(pairs) % 2:
        raise template.TemplateSyntaxError("query_with takes key/value pairs")
    request = context.get("request")
    params = request.GET.copy() if request is not None else QueryDict(mutable=True)
    params.pop("page", None)
    for key, value in [*zip(pairs[::2], pairs[1::2], strict=True), *changes.items()]:
        if value is None or value == "":
            params.pop(str(key), None)
        else:
            params[str(key)] = str(value)
    return "?" + params.urlencode()


@register.filter
def verdict_label(verdict: str) -> str:
    """A verdict in a visitor's words ("Copy", "Detail", "Looks similar")."""
    from recommender.presentation import verdict_label as label

    return label(verdict)

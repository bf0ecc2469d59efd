"""The domain's refusal: a request the rules do not allow (retry an upload that is not stuck, confirm
a pair with a canonical artwork outside it, …). Services raise it with a message the user can act on;
views turn it into that message. Anything else a service raises is a bug and stays a 500."""

from __future__ import annotations


class ApplicationError(Exception):
    """A refusal with a message for the person who asked (shown as is)."""

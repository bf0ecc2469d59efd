"""The audit log's one writer: every curator and staff action is recorded here, with who did it,
on what, and the details the action's service chose to keep (read back by selectors.audit_for)."""

from __future__ import annotations

from typing import Any

from django.db import models

from recommender.models import AuditLog


def audit(*, actor: Any, action: str, target: models.Model, **details: object) -> AuditLog:
    """Record `action` by `actor` (an anonymous visitor is stored as no one) on `target`."""
    return AuditLog.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        target=f"{target._meta.model_name}:{target.pk}",
        details=details,
    )

"""Shared users for permission tests, healthchecks-style: a visitor account with no role,
a curator and a staff reviewer."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User


@pytest.fixture
def users(db: None) -> dict[str, User]:
    visitor = User.objects.create_user("alice", password="pw-alice")
    curator = User.objects.create_user("carl", password="pw-carl")
    curator.groups.add(Group.objects.get(name="curators"))
    staff = User.objects.create_user("sara", password="pw-sara")
    staff.groups.add(Group.objects.get(name="staff"))
    return {"visitor": visitor, "curator": curator, "staff": staff}

"""Shared users for permission tests, healthchecks-style: a visitor account with no role,
a curator and a staff reviewer. The groups come from migration 0002; transactional tests
flush them, hence get_or_create."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User


@pytest.fixture
def users(db: None) -> dict[str, User]:
    visitor = User.objects.create_user("alice", password="pw-alice")
    curator = User.objects.create_user("carl", password="pw-carl")
    curator.groups.add(Group.objects.get_or_create(name="curators")[0])
    staff = User.objects.create_user("sara", password="pw-sara")
    staff.groups.add(Group.objects.get_or_create(name="staff")[0])
    return {"visitor": visitor, "curator": curator, "staff": staff}

"""Login throttling (django-axes) on the site's and the admin's login, per account and per
address; the password reset form only where mail can be sent, and rate-limited there."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse

from tests.recommender.base import users  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def _login(c: Client, username: str, password: str, *, ip: str = "10.0.0.1", url: str = "") -> object:
    return c.post(url or reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_wrong_passwords_lock_the_account_even_for_the_right_password(users: dict[str, User]) -> None:  # noqa: F811
    c = Client()
    for _ in range(4):
        assert _login(c, "carl", "wrong").status_code == 200  # the form again, with its error
    assert _login(c, "carl", "wrong").status_code == 429  # the fifth failure locks
    r = _login(c, "carl", "pw-carl")
    assert r.status_code == 429 and b"Too many failed logins" in r.content
    assert "_auth_user_id" not in c.session
    # From another address the account is still locked (per account)...
    assert _login(Client(), "carl", "pw-carl", ip="10.0.0.2").status_code == 429
    # ...while other accounts log in there as usual.
    assert _login(Client(), "sara", "pw-sara", ip="10.0.0.2").status_code == 302


def test_one_address_guessing_many_accounts_is_locked(users: dict[str, User]) -> None:  # noqa: F811
    c = Client()
    for name in ("ann", "bob", "cid", "dan", "eve"):
        _login(c, name, "guess", ip="10.0.0.9")
    assert _login(c, "carl", "pw-carl", ip="10.0.0.9").status_code == 429
    assert _login(Client(), "carl", "pw-carl", ip="10.0.0.10").status_code == 302


def test_the_admin_login_is_throttled_too(users: dict[str, User]) -> None:  # noqa: F811
    User.objects.create_superuser("root", password="pw-root")
    c = Client()
    url = reverse("admin:login")
    for _ in range(5):
        _login(c, "root", "wrong", url=url)
    r = _login(c, "root", "pw-root", url=url)
    assert r.status_code == 429 and b"Too many failed logins" in r.content


def test_no_password_reset_without_a_mail_server() -> None:
    page = Client().get(reverse("login")).content.decode()
    assert "Ask a staff member" in page and 'id="password-reset"' not in page
    for name in ("password_reset", "password_reset_done", "password_reset_complete"):
        assert Client().get(reverse(name)).status_code == 404, name


@override_settings(ARTSEARCH_PASSWORD_RESET=True, EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_password_reset_with_a_mail_server_is_rate_limited(users: dict[str, User]) -> None:  # noqa: F811
    cache.clear()
    User.objects.filter(username="carl").update(email="carl@example.org")
    assert 'id="password-reset"' in Client().get(reverse("login")).content.decode()
    c = Client()
    codes = [c.post(reverse("password_reset"), {"email": "carl@example.org"}).status_code for _ in range(6)]
    assert codes == [302] * 5 + [429]
    assert len(mail.outbox) == 5
    # The per-account budget holds from another address too.
    r = Client().post(reverse("password_reset"), {"email": "carl@example.org"}, REMOTE_ADDR="10.1.1.1")
    assert r.status_code == 429
    cache.clear()

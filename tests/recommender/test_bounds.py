"""Bounded inputs: NUL bytes and over-long values are a 400 with a message (JSON under /api/),
over-large bodies a 413 before they are read, the size-limit message in the help text's MB;
and the production switches: CSP with nonces, the per-install secret key, check --deploy."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from artsearch.settings import install_secret_key
from recommender.models import Artwork
from tests.conftest import REPO
from tests.recommender.base import users  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def _as(user: User | None) -> Client:
    c = Client()
    if user is not None:
        c.force_login(user)
    return c


def test_nul_bytes_anywhere_are_a_400_with_a_message(users: dict[str, User]) -> None:  # noqa: F811
    anonymous, curator, staff = _as(None), _as(users["curator"]), _as(users["staff"])
    for client, url in [(anonymous, "/?q=%00"), (anonymous, "/?type=%00"), (anonymous, "/?school=a%00b"),
                        (anonymous, "/search/?q=%00"), (curator, "/upload/batch/%00/"),
                        (staff, "/review/?status=%00"), (anonymous, "/?%00=1")]:
        r = client.get(url)
        assert r.status_code == 400 and b"NUL byte" in r.content, url
    r = anonymous.get("/api/v1/search/text?q=%00")
    assert r.status_code == 400 and "NUL byte" in r.json()["error"]
    r = curator.post(reverse("upload_new"), {"title": "Nul\x00title"})
    assert r.status_code == 400 and b"NUL byte" in r.content
    assert staff.get("/review/?status=bogus").status_code == 400
    assert Artwork.objects.count() == 0


def test_over_long_values_are_refused_and_the_api_answers_json() -> None:
    c = Client()
    long_q = "angel " * 400  # 2,400 characters
    r = c.get(reverse("api_search_text"), {"q": long_q})
    assert r.status_code == 400 and r["Content-Type"] == "application/json"
    assert r.json()["error"] == "The query string parameter 'q' is 2,400 characters long; the limit is 2,000."
    r = c.get(reverse("search_text"), {"q": long_q})
    assert r.status_code == 400 and b"the limit is 2,000" in r.content


def test_over_large_bodies_are_refused_from_their_content_length() -> None:
    c = Client()
    # The body claims 60 MB but holds a few bytes: the answer comes from the header alone.
    r = c.post(reverse("search_image"), data=b"x" * 10, content_type="application/octet-stream",
               CONTENT_LENGTH=str(60 * 2**20))
    assert r.status_code == 413 and b"the limit here is 21 MB" in r.content
    r = c.post(reverse("api_search_image"), data=b"x" * 10, content_type="application/octet-stream",
               CONTENT_LENGTH=str(60 * 2**20))
    assert r.status_code == 413 and r.json()["error"] == "The request is 60 MB; the limit here is 21 MB."


def test_the_size_limit_message_says_the_same_mb_as_the_help_text() -> None:
    cache.clear()
    c = Client()
    help_text = c.get(reverse("search_image")).content.decode()
    assert "up to 20 MB" in help_text
    f = io.BytesIO(b"\xff" * (settings.ARTSEARCH_MAX_UPLOAD_BYTES + 2**19))
    f.name = "big.jpg"
    r = c.post(reverse("api_search_image"), {"image": f})
    assert r.status_code == 400 and r.json()["error"] == "big.jpg is 20.5 MB; the limit is 20 MB."
    cache.clear()


def test_inline_scripts_carry_the_csp_nonce() -> None:
    r = Client().get(reverse("indexing_status"))
    header = r.get("Content-Security-Policy-Report-Only") or r["Content-Security-Policy"]
    nonce = header.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in r.content.decode()
    assert "script-src 'self' 'nonce-" in header and "frame-ancestors 'none'" in header


def test_each_install_makes_its_own_secret_key_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)
    (tmp_path / "a").mkdir()
    first = install_secret_key(tmp_path / "a")
    assert len(first) >= 50 and install_secret_key(tmp_path / "a") == first
    assert (tmp_path / "a" / "secret_key").stat().st_mode & 0o777 == 0o600
    (tmp_path / "b").mkdir()
    assert install_secret_key(tmp_path / "b") != first
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert install_secret_key(tmp_path / "a") == "from-the-environment"


def test_check_deploy_is_clean_with_the_production_variables() -> None:
    env = {**os.environ, "HTTPS": "true", "ALLOWED_HOSTS": "artsearch.example", "ARTSEARCH_CSP": "enforce",
           "DEBUG": "false"}
    env.pop("SECRET_KEY", None)
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "no issues" in out.stdout, out.stdout + out.stderr


def test_gunicorn_lets_a_long_api_query_reach_the_app_for_a_json_answer(tmp_path: Path) -> None:
    """gunicorn's own limit (4094 bytes by default) answered long request lines with an HTML 414;
    gunicorn.conf.py raises it, so the API's JSON 400 is what a long `q` gets."""
    import socket
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "artsearch.wsgi", "-b", f"127.0.0.1:{port}",
                             "--workers", "1"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/api/v1/search/text?q=" + "angel+" * 1000  # a 6 kB request line
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url, timeout=10)
            except urllib.error.HTTPError as exc:
                status, ctype, body = exc.code, exc.headers["Content-Type"], exc.read()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.5)
        assert (status, ctype) == (400, "application/json"), body[:200]
        assert b"the limit is 2,000" in body
    finally:
        proc.terminate()
        proc.wait(30)

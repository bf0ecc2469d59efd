"""fetch_images against a real local HTTP server (no internet here)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from recommender.management.commands.fetch_images import image_url_for
from recommender.models import Artwork, ArtworkImage

HITS: list[str] = []


@pytest.fixture
def server(demo_images: list[Path]) -> Iterator[str]:
    jpeg = {"ok.jpg": demo_images[0].read_bytes(), "flaky.jpg": demo_images[1].read_bytes()}
    flaky = {"count": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            HITS.append(self.path)
            if self.path.endswith("flaky.jpg") and flaky["count"] == 0:
                flaky["count"] += 1
                self.send_response(503)
                self.end_headers()
                return
            if self.path.endswith(("ok.jpg", "flaky.jpg")):
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.end_headers()
                self.wfile.write(jpeg[self.path.rsplit("/", 1)[1]])
                return
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_page_urls_map_to_image_urls() -> None:
    url = image_url_for("https://www.wga.hu/html/a/aachen/allegory.html")
    assert url == "https://www.wga.hu/art/a/aachen/allegory.jpg"
    assert image_url_for("https://example.org/x") is None


@pytest.mark.django_db
def test_it_downloads_retries_and_resumes(server: str) -> None:
    for name in ("ok", "flaky", "gone"):
        Artwork.objects.create(title=name, url=f"https://www.wga.hu/html/t/{name}.html")
    out = StringIO()
    call_command("fetch_images", "--base-url", server, "--delay", "0.01", stdout=out, stderr=StringIO())
    assert "fetched 2, missing 1, failed 0" in out.getvalue()  # gone is a 404
    assert ArtworkImage.objects.filter(source_name="ok.jpg").exists()
    assert HITS.count("/art/t/flaky.jpg") == 2  # retried after the 503
    HITS.clear()
    out = StringIO()
    call_command("fetch_images", "--base-url", server, "--delay", "0.01", stdout=out, stderr=StringIO())
    assert "/art/t/ok.jpg" not in HITS  # resumed: artworks with an image are skipped

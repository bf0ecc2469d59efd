"""fetch_images against a real local HTTP server (no internet here): images, retries, resume, and the
commentary read from each artwork's WGA page."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.postgres.search import SearchQuery
from django.core.management import call_command

from recommender.captioning import captions_embed, captions_to_embed
from recommender.management.commands.fetch_images import commentary_from_page, image_url_for, page_url_for
from recommender.models import Artwork, ArtworkImage, Caption

HITS: list[str] = []

# The shape of a WGA artwork page: the image and navigation in tables, the commentary in the cell
# that holds the `Comment Start` marker (old HTML: upper-case tags, unclosed <p>, entities, cp1252).
PAGE_WITH_COMMENTARY = """<HTML><HEAD><TITLE>OK, Master - Annunciation</TITLE>
<script>var x = "<!-- Comment Start -->";</script></HEAD><BODY>
<TABLE><TR><TD><A HREF="/art/t/ok.jpg"><IMG SRC="/detail/t/ok.jpg"></A></TD></TR></TABLE>
<TABLE WIDTH=600><TR><TD class="comment">
<!-- Comment Start -->
<P>The angel Gabriel kneels before the Virgin in a loggia; the lily in his hand stands for her purity.
<TABLE><TR><TD><A HREF="/index1.html">Back to the index</A></TD></TR></TABLE>
<P>The panel was painted for the convent of San Domenico in Fiesole &amp; moved to Madrid in 1611. Caf\u00e9 d\u00e9cor.
<!-- Comment End -->
<P>Return to the artist's page</P>
</TD></TR></TABLE></BODY></HTML>"""
PAGE_WITHOUT_COMMENTARY = """<HTML><BODY><TABLE><TR><TD><IMG SRC="/detail/t/flaky.jpg"></TD></TR></TABLE>
<P>Author: FLAKY</P></BODY></HTML>"""
PAGE_MALFORMED = "<HTML><BODY><TD><!-- Comment Start --><P>Half a sentence <b><i <<<>>> &#xZZ; <!-- unterminated"


@pytest.fixture
def server(demo_images: list[Path]) -> Iterator[str]:
    jpeg = {f"{n}.jpg": demo_images[i].read_bytes() for i, n in enumerate(("ok", "flaky", "broken"))}
    pages = {"ok.html": PAGE_WITH_COMMENTARY.encode("cp1252"), "flaky.html": PAGE_WITHOUT_COMMENTARY.encode(),
             "broken.html": PAGE_MALFORMED.encode()}
    flaky = {"count": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            HITS.append(self.path)
            name = self.path.rsplit("/", 1)[1]
            if name == "flaky.jpg" and flaky["count"] == 0:
                flaky["count"] += 1
                self.send_response(503)
                self.end_headers()
                return
            body = jpeg.get(name) if self.path.startswith("/art/") else pages.get(name)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg" if name.endswith(".jpg") else "text/html")
            self.end_headers()
            self.wfile.write(body)

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
    assert page_url_for("https://www.wga.hu/html/a/aachen/allegory.html", base="http://h:1/") == \
        "http://h:1/html/a/aachen/allegory.html"
    assert page_url_for("https://example.org/x.html") is None


def test_commentary_is_the_marked_cell_without_nested_tables() -> None:
    text = commentary_from_page(PAGE_WITH_COMMENTARY)
    assert text.startswith("The angel Gabriel kneels before the Virgin in a loggia;")
    assert "Fiesole & moved to Madrid in 1611. Café décor." in text
    assert "Back to the index" not in text and "Return to the artist" not in text and "var x" not in text
    assert commentary_from_page(PAGE_WITHOUT_COMMENTARY) == ""
    for junk in (PAGE_MALFORMED, "", "<!-- Comment Start -->", "\x00\ufffd<td></td></td></table>", "<" * 5000):
        assert isinstance(commentary_from_page(junk), str)  # never raises


@pytest.mark.django_db
def test_it_downloads_retries_and_resumes(server: str) -> None:
    for name in ("ok", "flaky", "gone", "broken"):
        Artwork.objects.create(title=name, url=f"https://www.wga.hu/html/t/{name}.html")
    out = StringIO()
    call_command("fetch_images", "--base-url", server, "--delay", "0.01", stdout=out, stderr=StringIO())
    assert "fetched 3, missing 1, failed 0" in out.getvalue()  # gone is a 404
    assert ArtworkImage.objects.filter(source_name="ok.jpg").exists()
    assert HITS.count("/art/t/flaky.jpg") == 2  # retried after the 503

    # The page with commentary stores it (a caption per chunk, in the full text at once); the page
    # without stores nothing; the malformed page stores at most the words it had, and never crashes.
    ok = Caption.objects.filter(artwork__title="ok", source=Caption.Source.COMMENTARY)
    assert ok.count() == 1 and ok.get().text.startswith("The angel Gabriel kneels")
    assert "Back to the index" not in ok.get().text
    assert not Caption.objects.filter(artwork__title="flaky", source=Caption.Source.COMMENTARY).exists()
    assert Artwork.objects.filter(title="ok", search_vector=SearchQuery("Fiesole")).exists()
    # Embedded like every other caption: queued for the workers' embedding pass, which takes it.
    assert ok.get().pk in captions_to_embed()
    captions_embed(caption_ids=[ok.get().pk])
    assert ok.get().embedding is not None

    HITS.clear()
    out = StringIO()
    call_command("fetch_images", "--base-url", server, "--delay", "0.01", stdout=out, stderr=StringIO())
    assert "/art/t/ok.jpg" not in HITS and "/html/t/ok.html" not in HITS  # resumed: done artworks skipped


@pytest.mark.django_db
def test_commentary_store_is_idempotent() -> None:
    from recommender.captioning import commentary_store

    art = Artwork.objects.create(title="x", url="https://www.wga.hu/html/t/x.html")
    text = commentary_from_page(PAGE_WITH_COMMENTARY)
    first = commentary_store(artwork_id=art.pk, text=text)
    assert first and commentary_store(artwork_id=art.pk, text=text) == []  # unchanged: kept, not re-made
    assert list(Caption.objects.filter(artwork=art).values_list("pk", flat=True)) == first
    assert commentary_store(artwork_id=art.pk, text="   ") == []
    again = commentary_store(artwork_id=art.pk, text="A different text about the panel.")
    assert len(again) == 1 and Caption.objects.filter(artwork=art).count() == 1

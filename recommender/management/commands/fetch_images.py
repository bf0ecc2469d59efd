from __future__ import annotations

import logging
import re
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ml.images import ImageError
from recommender import jobs
from recommender.catalogue import image_attach
from recommender.models import Artwork

logger = logging.getLogger(__name__)

WGA = "https://www.wga.hu"
USER_AGENT = "ArtSearch/0.1 (educational; polite: 1 request/s)"
# A WGA artwork page is a few kB; anything far larger is not one (read no more than this).
MAX_PAGE_BYTES = 2 * 1024 * 1024
# Status codes worth another try; any other HTTP error is final for this run.
RETRY_CODES = (429, 500, 502, 503, 504)


def image_url_for(page_url: str, *, base: str = WGA) -> str | None:
    """WGA page `/html/<path>.html` → image `/art/<path>.jpg` (on `base`)."""
    path = _wga_path(page_url)
    return None if path is None else f"{base.rstrip('/')}/art/{path}.jpg"


def page_url_for(page_url: str, *, base: str = WGA) -> str | None:
    """The artwork's WGA page `/html/<path>.html`, on `base` (a mirror, or a local server in tests)."""
    path = _wga_path(page_url)
    return None if path is None else f"{base.rstrip('/')}/html/{path}.html"


def _wga_path(page_url: str) -> str | None:
    if "/html/" not in page_url or not page_url.endswith(".html"):
        return None
    return page_url.split("/html/", 1)[1][: -len(".html")]


class _CommentaryParser(HTMLParser):
    """Text between WGA's `<!-- Comment Start -->` marker and `<!-- Comment End -->` (or the end of
    the table cell holding the marker), without nested tables (WGA puts navigation and image links
    in them), scripts or styles. Paragraphs and line breaks become blank lines."""

    _SKIP = ("script", "style")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.capturing = self.done = False
        self.td_depth = self.table_depth = self.skip_depth = 0
        self._start_td = self._start_table = 0

    def handle_comment(self, data: str) -> None:
        marker = " ".join(data.split()).lower()
        if marker == "comment start" and not self.done:
            self.capturing, self.parts = True, []
            self._start_td, self._start_table = self.td_depth, self.table_depth
        elif marker == "comment end" and self.capturing:
            self.capturing, self.done = False, True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "td":
            self.td_depth += 1
        elif tag == "table":
            self.table_depth += 1
        elif tag in self._SKIP:
            self.skip_depth += 1
        elif tag in ("p", "br", "div") and self.capturing:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self.td_depth = max(0, self.td_depth - 1)
            if self.capturing and self.td_depth < self._start_td:  # the marker's cell closed
                self.capturing, self.done = False, True
        elif tag == "table":
            self.table_depth = max(0, self.table_depth - 1)
        elif tag in self._SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.capturing and not self.skip_depth and self.table_depth <= self._start_table:
            self.parts.append(data)


def commentary_from_page(html: str) -> str:
    """The commentary text of a WGA artwork page, or "" when it has none. Never raises: a page
    too broken to parse yields what was read before the break (or nothing)."""
    parser = _CommentaryParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception as exc:  # html.parser is lenient, but a fetch must never stop on one bad page
        logger.warning("unparsable WGA page: %s", exc)
    if not parser.parts:
        return ""
    text = "".join(parser.parts)
    return "\n\n".join(" ".join(p.split()) for p in re.split(r"\n\s*\n|\n", text) if p.strip())


def _decode_page(data: bytes, charset: str | None) -> str:
    """WGA pages are old HTML: declared charset if any, else UTF-8, else Windows-1252."""
    for enc in (charset, "utf-8"):
        if enc:
            try:
                return data.decode(enc)
            except (LookupError, UnicodeDecodeError):
                continue
    return data.decode("cp1252", errors="replace")


class Command(BaseCommand):
    _last = 0.0  # when the last request went out (the rate limit spans images and pages)
    help = (
        "Download catalogue images from WGA for artworks that have none, with the commentary of each "
        "artwork's WGA page stored as its `commentary` captions (embeddings queued on the workers): "
        "rate-limited, with retries; re-running resumes where it stopped (artworks with an image are skipped)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=100)
        parser.add_argument("--delay", type=float, default=1.0, help="seconds between requests")
        parser.add_argument("--retries", type=int, default=3)
        parser.add_argument("--timeout", type=float, default=30.0)
        parser.add_argument("--base-url", default=WGA, help="image host (a mirror, or a local server in tests)")
        parser.add_argument("--form", default="", help="only artworks of this FORM (e.g. painting)")
        parser.add_argument("--no-commentary", action="store_true", help="images only, no page requests")

    def handle(self, *args: Any, **o: Any) -> None:
        from recommender.captioning import commentary_store

        qs = Artwork.objects.filter(url__isnull=False, images__isnull=True).order_by("id")
        if o["form"]:
            qs = qs.filter(form=o["form"])
        fetched = missing = failed = commented = 0
        to_embed: list[int] = []
        for art in qs[: o["limit"]]:
            url = image_url_for(art.url, base=o["base_url"])
            if url is None:
                failed += 1
                continue
            data, _ = self._get(url, o, max_bytes=None)
            if data is None:
                missing += 1
                self.stderr.write(f"no image for #{art.pk} at {url}")
                continue
            try:
                image_attach(artwork=art, data=data, source_name=url.rsplit("/", 1)[1])
            except ImageError as exc:
                failed += 1
                self.stderr.write(f"#{art.pk} {url}: {exc}")
                continue
            fetched += 1
            if not o["no_commentary"]:
                page = page_url_for(art.url, base=o["base_url"])
                html, charset = self._get(page, o, max_bytes=MAX_PAGE_BYTES) if page else (None, None)
                text = commentary_from_page(_decode_page(html, charset)) if html else ""
                if text:
                    to_embed += commentary_store(artwork_id=art.pk, text=text)
                    commented += 1
        self.stdout.write(f"fetched {fetched}, missing {missing}, failed {failed}; commentary for {commented}")
        if to_embed:
            try:
                jobs.enqueue_caption_embeddings(to_embed)
                self.stdout.write(f"enqueued {len(to_embed)} commentary captions for embedding on queue 'bulk'")
            except Exception as exc:  # broker down: the words are searchable; embed later
                self.stderr.write(f"commentary embeddings not queued ({exc}): run `build_captions --embed-only`")

    def _get(self, url: str, o: dict[str, Any], *, max_bytes: int | None) -> tuple[bytes | None, str | None]:
        """GET with the rate limit and retries; (body, declared charset) or (None, None)."""
        for attempt in range(o["retries"] + 1):
            wait = self._last + o["delay"] - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()
            try:
                req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
                with urllib.request.urlopen(req, timeout=o["timeout"]) as resp:
                    body = resp.read() if max_bytes is None else resp.read(max_bytes)
                    return body, resp.headers.get_content_charset()
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRY_CODES:
                    return None, None
            except (urllib.error.URLError, TimeoutError):
                pass
            time.sleep(min(30.0, o["delay"] * 2**attempt))  # back off before retrying
        return None, None

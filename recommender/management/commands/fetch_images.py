from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ml.images import ImageError
from recommender.catalogue import image_attach
from recommender.models import Artwork

WGA = "https://www.wga.hu"
USER_AGENT = "ArtSearch/0.1 (educational; polite: 1 request/s)"


def image_url_for(page_url: str, *, base: str = WGA) -> str | None:
    """WGA page `/html/<path>.html` → image `/art/<path>.jpg` (on `base`)."""
    if "/html/" not in page_url or not page_url.endswith(".html"):
        return None
    path = page_url.split("/html/", 1)[1][: -len(".html")]
    return f"{base.rstrip('/')}/art/{path}.jpg"


class Command(BaseCommand):
    help = (
        "Download catalogue images from WGA for artworks that have none: rate-limited, with retries; "
        "re-running resumes where it stopped (artworks with an image are skipped)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=100)
        parser.add_argument("--delay", type=float, default=1.0, help="seconds between requests")
        parser.add_argument("--retries", type=int, default=3)
        parser.add_argument("--timeout", type=float, default=30.0)
        parser.add_argument("--base-url", default=WGA, help="image host (a mirror, or a local server in tests)")
        parser.add_argument("--form", default="", help="only artworks of this FORM (e.g. painting)")

    def handle(self, *args: Any, **o: Any) -> None:
        qs = Artwork.objects.filter(url__isnull=False, images__isnull=True).order_by("id")
        if o["form"]:
            qs = qs.filter(form=o["form"])
        fetched = missing = failed = 0
        last = 0.0
        for art in qs[: o["limit"]]:
            url = image_url_for(art.url, base=o["base_url"])
            if url is None:
                failed += 1
                continue
            data = None
            for attempt in range(o["retries"] + 1):
                wait = last + o["delay"] - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                last = time.monotonic()
                try:
                    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
                    with urllib.request.urlopen(req, timeout=o["timeout"]) as resp:
                        data = resp.read()
                    break
                except urllib.error.HTTPError as exc:
                    if exc.code == 404:
                        break
                    if exc.code not in (429, 500, 502, 503, 504):
                        break
                except (urllib.error.URLError, TimeoutError):
                    pass
                time.sleep(min(30.0, o["delay"] * 2**attempt))  # back off before retrying
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
        self.stdout.write(f"fetched {fetched}, missing {missing}, failed {failed}")

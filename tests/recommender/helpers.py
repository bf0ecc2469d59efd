"""Test helpers: real demo images, edited copies, waiting for the real worker."""

from __future__ import annotations

import csv
import io
import shutil
import time
from pathlib import Path

from PIL import Image, ImageEnhance

from recommender.models import ArtworkImage
from tests.conftest import DEMO


def demo_subset(dest: Path, n: int, *, start: int = 0) -> Path:
    """Copy n demo images with a manifest of their own into dest; return the manifest path."""
    (dest / "images").mkdir(parents=True, exist_ok=True)
    with open(DEMO / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))[start : start + n]
    with open(dest / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for row in rows:
            shutil.copy(DEMO / row["file"], dest / row["file"])
            w.writerow(row)
    return dest / "manifest.csv"


def edited_copy(src: Path, *, crop: float = 0.8, colour: float = 0.4, quality: int = 70) -> bytes:
    """A cropped (keep `crop` of each side), recoloured, recompressed JPEG of src."""
    im = Image.open(src).convert("RGB")
    w, h = im.size
    dw, dh = int(w * (1 - crop) / 2), int(h * (1 - crop) / 2)
    im = im.crop((dw + 3, dh, w - dw + 3, h - dh))
    im = ImageEnhance.Color(im).enhance(colour)
    im = ImageEnhance.Brightness(im).enhance(1.15)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def wait_indexed(ids: list[int], *, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = ArtworkImage.objects.filter(pk__in=ids).exclude(status=ArtworkImage.Status.INDEXED).count()
        if left == 0:
            return
        time.sleep(0.5)
    states = list(ArtworkImage.objects.filter(pk__in=ids).values_list("id", "status", "error"))
    raise AssertionError(f"not indexed in {timeout}s: {states}")


def wait_processed(ids: list[int], since: object, *, timeout: float = 600) -> None:
    """Wait until every image was processed by a worker after `since` (for forced re-runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ArtworkImage.objects.filter(pk__in=ids, indexed_at__gte=since).count() == len(ids):
            return
        time.sleep(0.5)
    raise AssertionError(f"not re-processed in {timeout}s")

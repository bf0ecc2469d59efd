from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from recommender.models import Artwork, ArtworkImage
from tests.conftest import DEMO


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_images", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_it_attaches_images_through_a_manifest(tmp_path: Path) -> None:
    folder = tmp_path / "sample"
    (folder / "images").mkdir(parents=True)
    lines = (DEMO / "manifest.csv").read_text().splitlines()
    (folder / "manifest.csv").write_text("\n".join(lines[:6]) + "\n")
    for line in lines[1:6]:
        rel = line.split(",")[0]
        shutil.copy(DEMO / rel, folder / rel)
    out, _ = run(str(folder), "--manifest", str(folder / "manifest.csv"))
    assert "created 5" in out
    img = ArtworkImage.objects.select_related("artwork").first()
    assert img.artwork.url.startswith("https://www.wga.hu/html/")
    assert img.source_name.endswith(".jpg") and img.file.name.endswith(img.source_name)
    assert img.status == ArtworkImage.Status.PENDING
    out, _ = run(str(folder), "--manifest", str(folder / "manifest.csv"))
    assert "created 0, updated 0, unchanged 5, invalid 0" in out


@pytest.mark.django_db
def test_any_folder_of_images_becomes_artworks_and_bad_files_are_reported(
    tmp_path: Path, demo_images: list[Path]
) -> None:
    shutil.copy(demo_images[0], tmp_path / "My_Favourite-painting.jpg")
    (tmp_path / "sub").mkdir()
    shutil.copy(demo_images[1], tmp_path / "sub" / "other.JPG")
    (tmp_path / "notes.jpg").write_bytes(b"this is not an image")
    (tmp_path / "cut.jpg").write_bytes(demo_images[2].read_bytes()[:500])
    out, err = run(str(tmp_path))
    assert "created 2, updated 0, unchanged 0, invalid 2" in out
    assert "notes.jpg" in err and "cut.jpg" in err
    assert Artwork.objects.filter(title="My favourite painting", source=Artwork.Source.IMPORT).exists()
    assert ArtworkImage.objects.filter(source_name="other.JPG").exists()

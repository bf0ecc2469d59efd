"""manage.py backup / restore: a round trip on a few demo images (real PostgreSQL, real files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test.utils import override_settings

from recommender.catalogue import images_import_folder
from recommender.models import Artwork, ArtworkImage
from tests.recommender.helpers import demo_subset

pytestmark = pytest.mark.django_db(transaction=True)


def test_backup_then_restore_brings_back_rows_images_and_models(tmp_path: Path) -> None:
    manifest = demo_subset(tmp_path / "demo", 3, start=40)
    images_import_folder(folder=tmp_path / "demo", manifest=manifest)
    models = tmp_path / "models"
    models.mkdir()
    (models / "cam_head.pt").write_bytes(b"weights")
    before = sorted(Artwork.objects.values_list("pk", "title"))
    image = ArtworkImage.objects.first()
    assert image is not None and len(before) == 3
    image_file = Path(settings.MEDIA_ROOT) / image.file.name
    image_bytes = image_file.read_bytes()

    with override_settings(MODEL_DIR=models):
        call_command("backup", str(tmp_path / "site.tar"))
        # Lose things: a row, an image file, a model file; add a row the backup never saw.
        Artwork.objects.filter(pk=before[0][0]).delete()
        Artwork.objects.create(title="Made after the backup")
        image_file.unlink()
        (models / "cam_head.pt").unlink()
        call_command("restore", str(tmp_path / "site.tar"))

    assert sorted(Artwork.objects.values_list("pk", "title")) == before
    assert ArtworkImage.objects.count() == 3
    assert image_file.read_bytes() == image_bytes
    assert (models / "cam_head.pt").read_bytes() == b"weights"


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path: Path) -> None:
    import tarfile

    with tarfile.open(tmp_path / "other.tar", "w") as tar:
        tar.add(__file__, "manifest.json")
    with pytest.raises(CommandError):
        call_command("restore", str(tmp_path / "other.tar"))

"""Machine captions, the title captioner and the joint image/text projection, trained through
their commands on small real data (catalogue titles, MiniLM caption embeddings) with image
vectors set directly, so no CNN pass is needed."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.test import override_settings

from recommender.captioning import machine_captions_update
from recommender.models import Artwork, ArtworkImage, Caption
from recommender.services import images_import_folder
from tests.conftest import DEMO

pytestmark = pytest.mark.django_db


@pytest.fixture
def indexed_with_vectors(tmp_path: Path) -> list[ArtworkImage]:
    images_import_folder(folder=DEMO, manifest=DEMO / "manifest.csv")
    rng = np.random.default_rng(0)
    # Vectors that carry the artwork's form, so the models have something real to learn.
    forms = sorted(set(Artwork.objects.values_list("form", flat=True)))
    centres = {f: rng.random(512) for f in forms}
    rows = list(ArtworkImage.objects.select_related("artwork"))
    for im in rows:
        v = centres[im.artwork.form] + 0.3 * rng.random(512)
        im.embedding, im.status, im.model_version = list(v / np.linalg.norm(v)), "indexed", "test"
    ArtworkImage.objects.bulk_update(rows, ["embedding", "status", "model_version"])
    call_command("build_captions", "--inline", stdout=StringIO())
    out = StringIO()
    call_command("build_captions", "--embed-only", "--inline", stdout=out)
    assert "embedded 0 captions" in out.getvalue()  # nothing left to embed, nothing rebuilt
    return rows


def test_captioner_and_joint_projection_train_and_serve(indexed_with_vectors: list[ArtworkImage],
                                                        tmp_path: Path) -> None:
    with override_settings(MODEL_DIR=tmp_path):
        out = StringIO()
        call_command("train_captioner", "--epochs", "3", stdout=out)
        assert "bleu" in out.getvalue().lower() and (tmp_path / "captioner.pt").exists()
        out = StringIO()
        call_command("train_joint", "--epochs", "5", stdout=out)
        assert (tmp_path / "joint.pt").exists()
        assert not ArtworkImage.objects.filter(joint_embedding__isnull=True).exists()

        # A plain image import has no human text: it gets a machine caption (predicted labels and a
        # generated title), embedded and searchable.
        im = indexed_with_vectors[0]
        Artwork.objects.filter(pk=im.artwork_id).update(source=Artwork.Source.IMPORT)
        ArtworkImage.objects.filter(pk=im.pk).update(predictions={"form": [["painting", 0.93]],
                                                                  "type": [["religious", 0.71]]})
        assert machine_captions_update([im.pk]) == 1
        cap = Caption.objects.get(artwork_id=im.artwork_id, source=Caption.Source.MACHINE)
        assert "form painting (93%)" in cap.text and cap.embedding is not None

        queries = tmp_path / "q.jsonl"
        art = indexed_with_vectors[1].artwork
        queries.write_text(json.dumps({"query": art.title, "relevant": [art.url]}) + "\n")
        for mode in ("fused", "joint", "fused+joint"):
            out = StringIO()
            call_command("evaluate", "text", "--queries", str(queries), "--mode", mode, stdout=out)
            assert "Pr@1" in out.getvalue() and "MRR" in out.getvalue(), out.getvalue()

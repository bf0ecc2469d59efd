"""Long commands draw a progress bar with the rate and the time left on stderr, and leave their
stdout (the report) clean. Small real data: the demo catalogue's captions and titles, image
vectors set directly (the fixture of test_caption_models)."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from recommender.models import ArtworkImage
from tests.recommender.test_caption_models import indexed_with_vectors  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_training_and_evaluation_show_progress(indexed_with_vectors: list[ArtworkImage],  # noqa: F811
                                               tmp_path: Path) -> None:
    with override_settings(MODEL_DIR=tmp_path):
        out, err = _run("train_captioner", "--epochs", "3")
        assert "training the captioner: 100%" in err and "3/3" in err and ("epoch/s" in err or "s/epoch" in err)
        assert "%|" not in out and json.loads(out[: out.rindex("}") + 1])["epochs"] == 3
        out, err = _run("train_joint", "--epochs", "4")
        assert "training the joint projection: 100%" in err and "4/4" in err
        assert "%|" not in out
        art = indexed_with_vectors[1].artwork
        queries = tmp_path / "q.jsonl"
        queries.write_text(json.dumps({"query": art.title, "relevant": [art.url]}) + "\n")
        out, err = _run("evaluate", "text", "--queries", str(queries), "--mode", "lexical")
        assert "queries: 100%" in err and "1/1" in err
        assert out.startswith("text evaluation (lexical) on 1 queries")


def test_the_batch_page_polls_each_uploads_stage() -> None:
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from recommender import selectors
    from recommender.models import Upload

    carl = User.objects.create_user("carl", password="pw-carl")
    carl.groups.add(Group.objects.get_or_create(name="curators")[0])
    done = Upload.objects.create(uploaded_by=carl, batch="b1", stage=Upload.Stage.DONE,
                                 decision=Upload.Decision.PENDING)
    busy = Upload.objects.create(uploaded_by=carl, batch="b1", stage=Upload.Stage.FEATURES)
    progress = selectors.batch_progress([done, busy])
    assert (progress["total"], progress["finished"], progress["warnings"]) == (2, 1, 1)
    assert progress["items"] == [
        {"id": done.pk, "stage": "done", "stage_label": "Done", "possible_duplicate": True},
        {"id": busy.pk, "stage": "features", "stage_label": "Computing features", "possible_duplicate": False},
    ]
    c = Client()
    c.force_login(carl)
    page = c.get("/upload/batch/b1/")
    assert page.status_code == 200 and f'data-upload="{busy.pk}"'.encode() in page.content
    assert "location.reload" not in page.content.decode()  # a finished batch stops asking, it does not reload
    assert c.get("/upload/batch/b1/?format=json").json()["items"][1]["stage"] == "features"

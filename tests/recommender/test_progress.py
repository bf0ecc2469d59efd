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

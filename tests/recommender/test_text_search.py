"""Text search over captions: embeddings in pgvector + weighted full-text + trigram, fused by
reciprocal rank; the API through the real query worker; awkward queries."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from recommender.models import Artwork, Caption
from recommender.services import images_import_folder
from tests.conftest import DEMO

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(tmp_path) -> None:
    # The 200 demo artworks come with their catalogue metadata through the manifest.
    images_import_folder(folder=DEMO, manifest=DEMO / "manifest.csv")
    commentary = tmp_path / "commentary.jsonl"
    art = Artwork.objects.get(url="https://www.wga.hu/html/a/angelico/01/2prado.html")
    commentary.write_text(json.dumps({"url": art.url, "description": (
        '"The angel Gabriel kneels before the Virgin in a loggia, while Adam and Eve are expelled from '
        'paradise on the left.\\n\\n The predella shows scenes from the life of the Virgin."')}) + "\n")
    out = StringIO()
    call_command("build_captions", "--inline", "--commentary", str(commentary), stdout=out)
    assert "commentary commentary.jsonl: 1 artworks" in out.getvalue()
    cache.clear()


def search(q: str, **params: str) -> dict:
    out = StringIO()
    call_command("search_text", q, "--json", *[f"--{k}={v}" for k, v in params.items()], stdout=out)
    return json.loads(out.getvalue())


def test_captions_exist_per_source_with_embeddings(catalogue: None) -> None:
    assert Caption.objects.filter(source="catalogue").count() == Artwork.objects.count() == 200
    assert Caption.objects.filter(source="commentary").count() == 1
    assert not Caption.objects.filter(embedding__isnull=True).exists()
    cap = Caption.objects.get(source="catalogue", artwork__url__endswith="01/2prado.html")
    assert "Fra Angelico" in cap.text and "Annunciation" in cap.text


def test_sentences_names_and_misspellings_find_the_artwork(catalogue: None) -> None:
    body = search("the angel Gabriel kneels before the Virgin Mary", k="5")
    assert set(body) == {"query", "results"}
    assert set(body["results"][0]) == {"artwork_id", "url", "title", "author", "score"}
    urls = [r["url"] for r in body["results"]]
    assert "https://www.wga.hu/html/a/angelico/01/2prado.html" in urls[:3]
    misspelt = search("Fra Angelcio", k="10")
    assert misspelt["results"] and all("ANGELICO" in r["author"].upper() for r in misspelt["results"][:3])
    only = search("church facade", k="10", form="architecture")
    ids = [r["artwork_id"] for r in only["results"]]
    forms = set(Artwork.objects.filter(pk__in=ids).values_list("form", flat=True))
    assert forms == {"architecture"}


def test_the_api_uses_the_query_worker_and_answers_awkward_queries(catalogue: None, worker) -> None:
    c = Client()
    r = c.get(reverse("api_search_text"), {"q": "Annunciation by Fra Angelico"})
    assert r.status_code == 200
    assert r.json()["results"][0]["url"].startswith("https://www.wga.hu/html/a/angelico/")
    assert "warning" not in r.json()
    cases = {
        "very long": "an angel visiting the Virgin " * 345,  # 10,000 characters
        "non-Latin": "受胎告知 天使 聖母 Благовещение",
        "SQL-looking": "'; DROP TABLE recommender_artwork; -- \" OR 1=1",
        "only punctuation": "?!?! & | ! :*",
    }
    for name, q in cases.items():
        r = c.get(reverse("api_search_text"), {"q": q[:10_000]})
        assert r.status_code == 200, (name, r.content[:300])
        assert isinstance(r.json()["results"], list)
    r = c.get(reverse("api_search_text"), {"q": "   "})
    assert r.status_code == 400 and "Type a few words" in r.json()["error"]
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM recommender_artwork")
        assert cur.fetchone()[0] == 200
    page = c.get(reverse("search_text"), {"q": "angel Gabriel Virgin loggia"})
    assert page.status_code == 200 and b"<mark>" in page.content
    assert c.get(reverse("search_text"), {"q": ""}).status_code == 200

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

from recommender.catalogue import images_import_folder
from recommender.models import Artwork, Caption
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
    # The full sentence is shown and indexed as words; its embedding is made from the compact one.
    assert cap.model_version.endswith("+compact")
    assert Caption.objects.get(source="commentary").model_version == "sentence-transformers/all-MiniLM-L6-v2"
    from recommender.captioning import captions_to_embed

    assert captions_to_embed() == []


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
        "long": "an angel visiting the Virgin " * 68,  # 1,972 characters, just under the parameter limit
        "non-Latin": "受胎告知 天使 聖母 Благовещение",
        "SQL-looking": "'; DROP TABLE recommender_artwork; -- \" OR 1=1",
        "only punctuation": "?!?! & | ! :*",
    }
    for name, q in cases.items():
        r = c.get(reverse("api_search_text"), {"q": q[:10_000]})
        assert r.status_code == 200, (name, r.content[:300])
        assert isinstance(r.json()["results"], list)
    # Longer than any parameter may be (recommender.middleware): a JSON 400 that says the limit.
    r = c.get(reverse("api_search_text"), {"q": "an angel visiting the Virgin " * 345})
    assert r.status_code == 400 and "limit" in r.json()["error"]
    r = c.get(reverse("api_search_text"), {"q": "   "})
    assert r.status_code == 400 and "Type a few words" in r.json()["error"]
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM recommender_artwork")
        assert cur.fetchone()[0] == 200
    page = c.get(reverse("search_text"), {"q": "angel Gabriel Virgin loggia"})
    assert page.status_code == 200 and b"<mark>" in page.content
    assert c.get(reverse("search_text"), {"q": ""}).status_code == 200


# ----------------------------------------------------------------------------- BM25, names, details
def _tiny_catalogue() -> dict[str, Artwork]:
    """Five artworks whose only text is a curator caption, so BM25 scores are easy to reason about."""
    from recommender.captioning import search_vectors_refresh
    from recommender.models import Artist

    honthorst = Artist.objects.create(name="HONTHORST, Gerrit van")
    other = Artist.objects.create(name="BLOEMAERT, Abraham")
    texts = {
        "unicorn": (other, "Lady", "A unicorn rests its head in the lap of a lady in a garden."),
        "unicorns": (other, "Hunt", "The hunters chase a unicorn through a garden, a unicorn again at the well."),
        "garden": (other, "Garden", "A walled garden with roses, a fountain and a garden path."),
        "supper": (honthorst, "Supper", "Candlelight falls on a merry company at supper."),
        "supper-detail": (honthorst, "Supper (detail)", "Candlelight falls on a merry company at supper."),
    }
    arts = {}
    for key, (artist, title, text) in texts.items():
        arts[key] = Artwork.objects.create(title=title, artist=artist, form="painting")
        Caption.objects.create(artwork=arts[key], source=Caption.Source.CURATOR, text=text)
    search_vectors_refresh()
    return arts


def test_bm25_postings_rank_rare_and_repeated_words_first() -> None:
    from recommender.models import Lexeme, LexemePosting
    from recommender.text_search import lexical_ranks

    arts = _tiny_catalogue()
    assert Lexeme.objects.get(lexeme="unicorn").df == 2
    assert Lexeme.objects.get(lexeme="garden").df == 3
    # tf = 3·title + 2·artist/school + 1·captions: "garden" is the title of one work and twice in its caption.
    assert LexemePosting.objects.get(lexeme="garden", artwork=arts["garden"]).tf == 3 + 2
    ranks = lexical_ranks("a unicorn in the garden", {})["bm25"]
    # Two unicorns beat one (tf), and the rarer "unicorn" outweighs the commoner "garden" (idf).
    assert ranks[:3] == [arts["unicorns"].pk, arts["unicorn"].pk, arts["garden"].pk]
    # Capping the postings read: with "garden" (df 3) skipped only the unicorn works are scored.
    capped = lexical_ranks("a unicorn in the garden", {}, max_df=2)["bm25"]
    assert capped == [arts["unicorns"].pk, arts["unicorn"].pk]
    assert lexical_ranks("a unicorn in the garden", {"form": "sculpture"})["bm25"] == []


def test_postings_follow_a_caption_change() -> None:
    from recommender.captioning import artwork_captions_refresh
    from recommender.models import Lexeme, LexemePosting

    arts = _tiny_catalogue()
    lady = arts["unicorn"]
    Caption.objects.filter(artwork=lady, source=Caption.Source.CURATOR).update(text="A dragon guards a lady.")
    artwork_captions_refresh(lady.pk)
    lexemes = set(LexemePosting.objects.filter(artwork=lady).values_list("lexeme", flat=True))
    assert "dragon" in lexemes and "unicorn" not in lexemes
    assert Lexeme.objects.get(lexeme="unicorn").df == 1
    assert Lexeme.objects.get(lexeme="dragon").df == 1
    # The catalogue sentence arrived with the refresh, and the artist's surname with it (weight B).
    assert LexemePosting.objects.filter(artwork=lady, lexeme="bloemaert").exists()


def test_the_name_list_finds_an_artists_works_from_a_misspelt_name() -> None:
    from recommender.text_search import lexical_ranks

    arts = _tiny_catalogue()
    lists = lexical_ranks("In this picture, close to Honthors in manner, a company sits at a merry supper.", {})
    assert set(lists["names"]) == {arts["supper"].pk, arts["supper-detail"].pk}
    assert lexical_ranks("a garden in spring", {})["names"] == []  # no capitalised name-like word


def test_a_detail_ranks_below_the_other_hits_when_its_whole_is_listed() -> None:
    from recommender.text_search import demote_details, detail_base, text_query

    arts = _tiny_catalogue()
    assert detail_base("Altarpiece (central panel, detail)") == "altarpiece"
    assert detail_base("Detail of a study") is None
    whole, det, garden = arts["supper"].pk, arts["supper-detail"].pk, arts["garden"].pk
    hits = Artwork.objects.in_bulk([det, whole, garden])
    assert demote_details([det, whole, garden], hits) == [whole, garden, det]
    # The whole is not a hit: the detail stays where it is.
    assert demote_details([det, garden], {a: hits[a] for a in (det, garden)}) == [det, garden]
    ids = [h.artwork.pk for h in text_query(q="merry company at supper in a garden", embed=None, k=5).hits]
    assert ids.index(whole) < ids.index(garden) < ids.index(det)

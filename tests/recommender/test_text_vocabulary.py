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


def _catalogue(artists: tuple[str, str], rows: dict[str, tuple[int, str, str]], school: str, *,
               embed: bool = False) -> dict[str, Artwork]:
    """Paintings by two artists (`rows`: key -> (artist 0 or 1, title, type)) with their catalogue
    captions, full text and (`embed`) caption embeddings."""
    from recommender.captioning import captions_embed, catalogue_captions_sync, search_vectors_refresh

    people = [Artist.objects.create(name=name) for name in artists]
    arts = {key: Artwork.objects.create(title=t, artist=people[a], form="painting", type=ty, school=school)
            for key, (a, t, ty) in rows.items()}
    catalogue_captions_sync()
    search_vectors_refresh()
    if embed:
        captions_embed()
    return arts


def _small_catalogue() -> dict[str, Artwork]:
    """Works whose catalogue text shares no word with the other-language queries below."""
    return _catalogue(("LEONARDO da Vinci", "CASTAGNO, Andrea del"), {
        "supper": (0, "The Last Supper", "religious"),
        "supper-detail": (0, "The Last Supper (detail)", "religious"),
        "other-supper": (1, "Last Supper", "religious"),
        "lisa": (0, "Mona Lisa (La Gioconda)", "portrait"),
        "annunciation": (0, "Annunciation", "religious"),
        "flight": (1, "Flight into Egypt", "religious"),
        "noli": (1, "Noli me tangere", "religious"),
        "garden": (1, "Garden with a Gardener", "genre"),
    }, "Italian")


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


# ----------------------------------------------------------------------------- Iconclass subjects
def _story_catalogue() -> dict[str, Artwork]:
    """Works titled by a story's name only (Actaeon, Lucretia, …): no word of the queries below."""
    return _catalogue(("TIZIANO Vecellio", "CRANACH, Lucas the Elder"), {
        "actaeon": (0, "Diana and Actaeon", "mythological"),
        "lucretia": (1, "Lucretia", "mythological"),
        "adonis": (0, "Venus and Adonis", "mythological"),
        "paris": (1, "The Judgment of Paris", "mythological"),
        "deer": (1, "Stag Hunt of the Elector Frederick the Wise", "genre"),
        "bath": (0, "Woman at her Toilet", "genre"),
    }, "German", embed=True)


def _store_subjects() -> None:
    """Three stories and a few hundred other Iconclass entries, embedded with the product's encoder."""
    from ml.iconclass import story_subjects
    from recommender.captioning import encoder_version, get_encoder
    from recommender.text_search import subjects_build

    entries = story_subjects()
    wanted = [e for e in entries if "Actaeon" in e.text or "LUCRETIA" in e.notation or e.notation == "97B1"]
    assert len(wanted) > 3
    encoder = get_encoder()
    subjects_build(wanted + entries[::60], lambda texts: encoder.encode(texts), encoder_version())


def test_a_story_told_without_its_names_finds_the_work_titled_by_them() -> None:
    from recommender.captioning import query_embedding
    from recommender.text_search import subject_ranks, subject_texts, text_query

    arts = _story_catalogue()
    _store_subjects()
    q = "the goddess turns the hunter into a stag as punishment for seeing her bathe"
    vec = query_embedding(q)
    assert any("Actaeon" in text for text, _ in subject_texts(vec))
    assert subject_ranks(vec, {})[0] == arts["actaeon"].pk
    genre = subject_ranks(vec, {"type": "genre"})  # the filters hold
    assert genre and set(genre) <= {arts["deer"].pk, arts["bath"].pk}
    # The query's own "stag" finds the stag hunt by its title too; the story's work is beside it.
    hits = {h.artwork.pk: h for h in text_query(q=q, embed=query_embedding, k=2).hits}
    assert arts["actaeon"].pk in hits and hits[arts["actaeon"].pk].ranks["subjects"] == 1
    q = "the Roman matron who stabbed herself after Tarquin raped her"
    assert text_query(q=q, embed=query_embedding, k=3).hits[0].artwork.pk == arts["lucretia"].pk
    # Nothing near enough: a query about something else reads no subject.
    assert subject_texts(query_embedding("a bowl of lemons on a table")) == []


def test_the_concurrent_path_ranks_as_the_sequential_one() -> None:
    from recommender.captioning import query_embedding
    from recommender.text_search import text_query

    _story_catalogue()
    _store_subjects()
    for q in ["a huntsman is changed into a deer", "Tiziano Vecellio", "La Cène de Léonard", "Ἀγία Τράπεζα 👼",
              "a goddess mourns her young lover killed by a boar, in a German painting"]:
        together = text_query(q=q, embed=query_embedding, k=10)
        apart = text_query(q=q, embed=query_embedding, k=10, concurrent=False)
        assert [(h.artwork.pk, h.score, h.ranks) for h in together.hits] == [
            (h.artwork.pk, h.score, h.ranks) for h in apart.hits], q
        assert {"embed", "lexical", "dense", "subjects"} <= set(together.timings)


def test_subjects_are_embedded_once_and_follow_the_entries() -> None:
    import numpy as np

    from ml.iconclass import Entry
    from recommender.models import TEXT_DIM
    from recommender.text_search import SUBJECT_TABLE, subjects_build

    seen: list[str] = []

    def encode(texts: list[str]) -> np.ndarray:
        seen.extend(texts)
        rows = np.random.default_rng(len(seen)).normal(size=(len(texts), TEXT_DIM))
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    a, b = Entry("98C(LUCRETIA)", "(story of) Lucretia"), Entry("97B1", "Adonis' blood changed into an anemone")
    assert subjects_build([a, b], encode, "v1") == (2, 0)
    assert subjects_build([a, b], encode, "v1") == (0, 0) and len(seen) == 2  # nothing new: nothing embedded
    changed = Entry("97B1", "Adonis' blood becomes an anemone")
    assert subjects_build([changed], encode, "v1") == (1, 1)  # the changed text re-embedded, Lucretia gone
    assert subjects_build([changed], encode, "v2") == (1, 0)  # a new encoder version re-embeds
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"SELECT notation, text, model_version FROM {SUBJECT_TABLE}")
        assert cur.fetchall() == [("97B1", "Adonis' blood becomes an anemone", "v2")]

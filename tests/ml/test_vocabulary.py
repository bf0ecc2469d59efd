"""The iconographic vocabulary (query expansion) and the relevance predicates of the visitor queries."""

from __future__ import annotations

import pytest

from ml.textqueries import predicate_matches, read_queries
from ml.visitorqueries import QUERIES
from ml.vocabulary import expand, fold


@pytest.mark.parametrize("query", [
    "L'Ultima Cena di Leonardo", "La Cène de Léonard de Vinci", "Das letzte Abendmahl",
    "La Última Cena", "Het laatste avondmaal", "Leonardo's painting of Jesus at the table with his twelve disciples",
])
def test_the_last_supper_is_named_in_every_language_and_in_other_words(query: str) -> None:
    assert "Last Supper" in expand(query).titles


def test_subjects_by_their_story_and_artists_by_their_exonyms() -> None:
    assert expand("Mary Magdalene meets the risen Christ, who she takes for a gardener").titles == ["Noli me tangere"]
    assert "Flight into Egypt" in expand("la huida a Egipto").titles
    assert expand("Die Geburt der Venus").work_artists == ["BOTTICELLI"]
    assert expand("La Cène de Léonard de Vinci").artists == ["LEONARDO"]
    assert expand("el jardín de las delicias del Bosco").artists == ["BOSCH"]
    assert "Leonardo" in expand("la Joconde").words()
    # A plain English title or an attribute query needs no expansion.
    assert not expand("Annunciation by Fra Angelico").titles
    assert not expand("Dutch still life with flowers in a vase")


@pytest.mark.parametrize("query", ["", "   ", "受胎告知 天使 聖母", "Благовещение", "🎨🖼️ Mona 🙂", "'\"; --",
                                   "é" * 5000])
def test_awkward_text_never_raises(query: str) -> None:
    expand(query)
    assert fold(query).startswith(" ")


def test_fold_removes_accents_case_and_punctuation() -> None:
    assert fold("L'Annonciation À Éloïse") == " l annonciation a eloise "


def test_predicates_match_catalogue_rows_accent_and_case_insensitive() -> None:
    row = {"author": "REMBRANDT Harmenszoon van Rijn", "title": "Danaë (detail)", "form": "painting",
           "type": "mythological", "school": "Dutch", "technique": "Oil on canvas", "location": "Hermitage"}
    assert predicate_matches({"author_contains": "rembrandt", "title_contains": "danae"}, row)
    assert predicate_matches({"title_contains": ["Dan", "detail"], "school": "dutch"}, row)
    assert not predicate_matches({"title_contains": ["Dan", "Europa"]}, row)
    assert not predicate_matches({"form": "sculpture", "title_contains": "Dan"}, row)
    with pytest.raises(ValueError, match="unknown relevance condition"):
        predicate_matches({"painter": "REMBRANDT"}, row)


def test_the_shipped_visitor_queries_are_the_module_and_cover_kinds_and_languages() -> None:
    from pathlib import Path

    shipped = read_queries(Path(__file__).resolve().parents[2] / "demo" / "text_queries_visitor.jsonl")
    assert [{k: v for k, v in q.items() if k != "id"} for q in shipped] == QUERIES
    assert len(shipped) >= 100
    assert {q["kind"] for q in shipped} == {"known", "attribute", "subject", "language"}
    assert {q["lang"] for q in shipped} == {"en", "it", "fr", "de", "es", "nl"}
    # Every predicate is well-formed (an unknown key would raise).
    row = {"author": "", "title": "", "form": "", "type": "", "school": "", "technique": "", "location": ""}
    for q in shipped:
        assert q["relevant_where"]
        for pred in q["relevant_where"]:
            predicate_matches(pred, row)


@pytest.mark.parametrize(("name", "set_name"), [("HELDOUT", "visitor_heldout"), ("HELDOUT2", "visitor_heldout2")])
def test_the_shipped_held_out_queries_are_the_module(name: str, set_name: str) -> None:
    from pathlib import Path

    import ml.visitorqueries

    shipped = read_queries(Path(__file__).resolve().parents[2] / "demo" / f"text_queries_{set_name}.jsonl")
    assert [{k: v for k, v in q.items() if k != "id"} for q in shipped] == getattr(ml.visitorqueries, name)
    assert {q["lang"] for q in shipped} == {"en", "it", "fr", "de", "es", "nl"}

"""Iconclass story subjects: which entries are kept and how their texts are cleaned."""

from __future__ import annotations

from ml.iconclass import ancestors, clean_text, parse_entries, story_subjects


def test_story_entries_are_kept_cleaned_and_named() -> None:
    lines = [
        "83(OVID, Metamorphoses III:165-205)|Actaeon sees Diana naked and is turned into a stag.",
        "73C422|a paralytic on his bed is brought to the house (Matthew 9:1-8; Mark 2:1-12)",
        "98C(LUCRETIA)|(story of) Lucretia",
        "98C(TIMOCLEA)|(story of) the woman of Thebes",
        "11H(LAURENCE)68|martyrdom of St. Laurence - death, deathbed of male saint",  # a key variant
        "11H(...)|male saints (with NAME)",  # a template
        "25F23|beasts of prey",  # not a story section
        "71A1|",
        "no separator",
    ]
    entries = parse_entries(lines)
    assert [e.notation for e in entries] == ["83(OVID, Metamorphoses III:165-205)", "73C422", "98C(LUCRETIA)",
                                             "98C(TIMOCLEA)"]
    assert entries[0].text == "Actaeon sees Diana naked and is turned into a stag."
    assert entries[1].text == "a paralytic on his bed is brought to the house"
    assert entries[2].text == "(story of) Lucretia"  # the name is in the text already
    assert entries[3].text == "(story of) the woman of Thebes (Timoclea)"
    assert clean_text("'Noli me tangere' (John 20:17) ;") == "Noli me tangere"
    assert clean_text("Christ's \"cloak\"") == "Christ's cloak"


def test_the_installed_package_gives_the_story_sections() -> None:
    entries = story_subjects()
    assert len(entries) > 10_000
    texts = {e.notation: e.text for e in entries}
    assert texts["73D24"].lower().startswith("last supper")
    assert not any(" - " in t for t in texts.values())
    assert {n[:2] for n in texts} <= {"11", "71", "73", "82", "83", "84", "85", "86", "91", "92", "93", "94", "95",
                                      "96", "97", "98"}


def test_ancestors_climb_the_notation() -> None:
    assert ancestors("71C131311", 3) == ["71C13131", "71C1313", "71C131"]
    assert ancestors("11H(LAURENCE)62", 3) == ["11H(LAURENCE)6", "11H(LAURENCE)", "11H"]
    assert ancestors("83(OVID, Metamorphoses III:165-205)", 2) == ["83", "8"]
    assert ancestors("7", 3) == []

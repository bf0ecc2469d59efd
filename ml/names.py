"""Artists' names: WGA's "SURNAME, Given" written for people, and the name words a description
may use, for trigram matching. Framework-free and light (only `re`), so the web process can use it."""

from __future__ import annotations

import re

__all__ = ["author_name_tokens", "display_author", "query_name_tokens"]

# Name particles that stay lower case inside a name ("Luca della Robbia", "Rusiñol y Prats").
_PARTICLES = {
    "d'",
    "da",
    "dal",
    "dalla",
    "dalle",
    "das",
    "de",
    "dei",
    "degli",
    "del",
    "della",
    "delle",
    "den",
    "der",
    "des",
    "di",
    "do",
    "dos",
    "du",
    "el",
    "il",
    "la",
    "le",
    "lo",
    "of",
    "op",
    "ten",
    "ter",
    "the",
    "van",
    "vander",
    "von",
    "y",
    "zu",
    "zum",
    "zur",
}
_ROMAN = re.compile(r"^(?:I|II|III|IV|V|VI|VII|VIII|IX|X)$")
# Generation markers that WGA writes after the given name but English puts last.
_SUFFIX = re.compile(r"\s*\b(the Elder|the Younger|the Elder\.|I|II|III|IV|Jr\.?|Sr\.?)$")


def _case_word(word: str) -> str:
    """Title-case one fully upper-case word, keeping roman numerals and apostrophes sensible."""
    if _ROMAN.match(word) or not any(c.isalpha() for c in word):
        return word
    if word != word.upper():  # already mixed case (WGA writes given names that way)
        return word
    parts = re.split(r"([-'’])", word.lower())
    out: list[str] = []
    for i, part in enumerate(parts):
        if not part or part in "-'’":
            out.append(part)
            continue
        # After an apostrophe only an elided one-letter prefix capitalises ("O'Keeffe"),
        # not an inner apostrophe ("Prud'hon").
        after_apostrophe = i >= 2 and parts[i - 1] in "'’"
        if after_apostrophe and len(parts[i - 2]) != 1:
            out.append(part)
        else:
            out.append(part[:1].upper() + part[1:])
    return "".join(out)


def _case_upper_run(text: str) -> str:
    """Title-case the upper-case words of a WGA name fragment, lower-casing inner particles."""
    words = text.split()
    out = []
    for i, w in enumerate(words):
        cased = _case_word(w)
        if i > 0 and cased.lower() in _PARTICLES and w.isupper():
            cased = cased.lower()
        out.append(cased)
    return " ".join(out)


def _join_name(given: str, surname: str) -> str:
    """Join given name and surname; no space after an elided particle ("Jacques d'Arthois")."""
    if not given:
        return surname
    if given.endswith(("'", "’")):
        return given + surname
    return f"{given} {surname}"


def display_author(author: str) -> str:
    """Turn a WGA author ("ANGELICO, Fra", "AACHEN, Hans von") into "Fra Angelico", "Hans von Aachen"."""
    author = " ".join((author or "").replace('"', " ").split())
    if not author:
        return ""
    # One catalogue row writes "ANQUETIN. Louis": treat an upper-case head + ". " as a comma.
    m = re.match(r"^([A-ZÀ-ÞŠŽ' -]{2,})\. (.+)$", author)
    if m and "," not in author:
        author = f"{m.group(1)}, {m.group(2)}"
    if "," not in author:
        # "LEONARDO da Vinci", "ARNOLFO DI CAMBIO", "MASTER of Flémalle", "GIAMPIETRINO"
        return _case_upper_run(author)
    head, rest = (s.strip() for s in author.split(",", 1))
    surname = _case_upper_run(head)
    if head.upper().startswith("UNKNOWN"):
        # "UNKNOWN MASTER, Hungarian" -> "Unknown Hungarian master"
        tail = surname.split(" ", 1)[1].lower() if " " in surname else "artist"
        return f"Unknown {rest} {tail}".strip()
    segments = [s.strip() for s in rest.split(",") if s.strip()]
    given = segments[0] if segments else ""
    extra = segments[1:]  # ", the Elder", ", III", ", 3rd Earl of Burlington"
    suffix = ""
    m = _SUFFIX.search(given)
    if m and m.start() > 0:  # "Frans II" -> given "Frans", suffix "II"
        suffix = m.group(1)
        given = given[: m.start()].strip()
    name = _join_name(given, surname)
    tail = " ".join(x for x in [suffix, *extra] if x)
    return f"{name} {tail}".strip() if tail else name


# Words in WGA author heads that name a role or a nationality, not a person ("UNKNOWN MASTER,
# Hungarian", "MINIATURIST, German"): matching them would tie a query to hundreds of anonymous works.
_GENERIC_NAME_WORDS = {
    "unknown", "master", "masters", "miniaturist", "architect", "painter", "sculptor", "weaver",
    "goldsmith", "illuminator", "engraver", "glass", "icon", "the", "elder", "younger", "of", "and",
    "workshop", "follower", "circle", "school", "other", "artist", "della", "delle", "dalla", "degli",
    "still", "life", "saint", "virgin", "holy",
    "german", "italian", "french", "dutch", "flemish", "spanish", "english", "netherlandish",
    "austrian", "hungarian", "swiss", "american", "russian", "danish", "scottish", "catalan",
    "portuguese", "belgian", "bohemian", "irish", "greek", "swedish", "polish", "norwegian", "finnish",
}  # fmt: skip
# Capitalised words of commentary that are subjects or places, not artists' names.
_QUERY_NAME_STOP = {
    "this", "that", "these", "those", "there", "their", "then", "than", "with", "from", "which",
    "while", "when", "where", "what", "after", "before", "saint", "virgin", "christ", "madonna",
    "child", "church", "museum", "chapel", "king", "queen", "lord", "holy", "gallery", "national",
    "painting", "paintings", "portrait", "although", "however", "though", "since", "also", "both",
    "other", "many", "most", "some", "such", "during",
}  # fmt: skip


def author_name_tokens(author: str) -> list[str]:
    """Lower-case surname words (>= 4 letters) of a raw WGA author, for trigram name matching.

    "AACHEN, Hans von" -> ["aachen"]; "LEONARDO da Vinci" -> ["leonardo"];
    "MASTER of Flémalle" -> ["flémalle"]; "UNKNOWN MASTER, Hungarian" -> [].
    """
    author = " ".join((author or "").split())
    if "," in author:
        head = author.split(",", 1)[0]
    else:
        # No comma: the upper-case run is the name WGA files it under ("ARNOLFO DI CAMBIO").
        head = " ".join(w for w in author.split() if w.isupper() and len(w) > 1) or author
    words = [w.lower() for w in re.findall(r"[^\W\d_]+", head)]
    if words and words[0] == "master":  # "MASTER of Flémalle": the rest of the name is the key
        words = [w.lower() for w in re.findall(r"[^\W\d_]+", author)]
    out: list[str] = []
    for w in words:
        if len(w) >= 4 and w not in _GENERIC_NAME_WORDS and w not in out:
            out.append(w)
    return out


def query_name_tokens(text: str) -> list[str]:
    """Capitalised words (>= 4 letters) of a free-text query that may be artists' names, lower-cased.

    Meant for trigram matching against author_name_tokens (pg_trgm ``similarity >= 0.6``),
    which also catches misspellings ("Honthors" -> "honthorst").
    """
    seen: list[str] = []
    for w in re.findall(r"\b[A-ZÀ-Þ][^\W\d_]{3,}", text or ""):
        low = w.lower()
        if low not in _QUERY_NAME_STOP and low not in seen:
            seen.append(low)
    return seen

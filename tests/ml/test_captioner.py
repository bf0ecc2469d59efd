"""Tests for ml.captioner: BLEU, tokenisation, training on a toy set, save/load."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml.captioner import Vocab, corpus_bleu, detokenize, tokenize


def test_bleu_identical_is_one() -> None:
    refs = [[["the", "cat", "sat", "on", "the", "mat"]], [["a", "dog", "in", "the", "park"]]]
    hyps = [r[0] for r in refs]
    scores = corpus_bleu(refs, hyps)
    for n in range(1, 5):
        assert scores[f"bleu{n}"] == pytest.approx(1.0)


def test_bleu_hand_computed() -> None:
    refs = [[["the", "cat", "is", "on", "the", "mat"]]]
    hyp = [["the", "cat", "sat", "on", "the", "mat"]]
    s = corpus_bleu(refs, hyp, smoothing="none")
    assert s["bleu1"] == pytest.approx(5 / 6)  # "sat" is the only miss
    assert s["bleu2"] == pytest.approx(math.sqrt(5 / 6 * 3 / 5))  # 3 of 5 bigrams match
    assert s["bleu3"] == pytest.approx((5 / 6 * 3 / 5 * 1 / 4) ** (1 / 3))  # only "on the mat"
    assert s["bleu4"] == 0.0  # no 4-gram matches and no smoothing
    smoothed = corpus_bleu(refs, hyp, smoothing="epsilon", epsilon=0.1)
    assert smoothed["bleu4"] == pytest.approx((5 / 6 * 3 / 5 * 1 / 4 * 0.1 / 3) ** 0.25)


def test_bleu_clipping_and_brevity() -> None:
    # "the the the" against "the cat": unigram precision clipped to 1/3.
    s = corpus_bleu([[["the", "cat"]]], [["the", "the", "the"]], max_n=1)
    assert s["bleu1"] == pytest.approx(1 / 3)
    # Short hypothesis: precision 1 but brevity penalty exp(1 - 4/2).
    s = corpus_bleu([[["a", "b", "c", "d"]]], [["a", "b"]], max_n=1)
    assert s["bleu1"] == pytest.approx(math.exp(1 - 4 / 2))
    # Multiple references: the closest length is used, clipping takes the max count.
    s = corpus_bleu([[["a", "b", "c"], ["a", "a", "x", "y", "z"]]], [["a", "a", "b"]], max_n=1)
    assert s["bleu1"] == pytest.approx(1.0)
    assert corpus_bleu([[["a"]]], [[]])["bleu1"] == 0.0
    with pytest.raises(ValueError):
        corpus_bleu([[["a"]]], [])


def test_tokenize_roundtrip() -> None:
    toks = tokenize("Portrait of a Young Man (detail)")
    assert toks == ["portrait", "of", "a", "young", "man", "(", "detail", ")"]
    assert detokenize(toks) == "Portrait of a young man (detail)"
    assert tokenize("St Mark's Square, Venice") == ["st", "mark's", "square", ",", "venice"]
    assert detokenize(["st", "mark's", "square", ",", "venice", "<eos>"]) == "St mark's square, venice"


def test_vocab_min_count() -> None:
    v = Vocab.build([["a", "b"], ["a", "c"]], min_count=2)
    assert v.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"] and "a" in v.stoi and "b" not in v.stoi
    assert v.decode([*v.encode(["a", "b"]), v.stoi["<eos>"], v.stoi["a"]]) == ["a", "<unk>"]


def _toy(seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    titles = [
        "Portrait of a Man",
        "The Annunciation",
        "Landscape with a River",
        "Still-Life with Flowers",
        "Madonna and Child with Saints",
        "View of Venice",
    ]
    centers = rng.normal(size=(len(titles), 512)).astype(np.float32)
    idx = np.repeat(np.arange(len(titles)), 8)
    vecs = centers[idx] + 0.05 * rng.normal(size=(len(idx), 512)).astype(np.float32)
    return np.abs(vecs), [titles[i] for i in idx]


def test_captioner_overfits_toy_and_roundtrips(tmp_path: Path) -> None:
    from ml.captioner import Captioner, CaptionerConfig, train_captioner

    vecs, titles = _toy()
    # Small widths keep this fast on a busy 2-core CI box; the task is memorising 6 titles.
    cfg = CaptionerConfig(min_count=1, dropout=0.0, embed_dim=32, hidden_dim=64)
    model, report = train_captioner(vecs, titles, epochs=40, seed=0, val_fraction=0.25, config=cfg, batch_size=16)
    assert report["n_val"] == 12 and report["n_train"] == 36
    assert report["bleu"]["bleu4"] > 0.9, report
    assert report["bleu"]["bleu1"] > report["baseline_bleu"]["bleu1"]
    out = model.generate(vecs[:6])
    assert [o.lower() for o in out] == [t.lower() for t in titles[:6]]
    beam = model.generate(vecs[:6], beam_size=3)
    assert [o.lower() for o in beam] == [t.lower() for t in titles[:6]]

    path = tmp_path / "captioner.pt"
    model.save(path)
    loaded = Captioner.load(path)
    assert loaded.version == model.version and len(model.version) == 12
    assert loaded.generate(vecs[:6]) == out
    assert loaded.generate(vecs[0]) == out[:1]  # a single 1-D vector is accepted
    with pytest.raises(ValueError):
        loaded.generate(np.zeros((1, 10), dtype=np.float32))


def test_captioner_is_deterministic_per_seed() -> None:
    from ml.captioner import CaptionerConfig, train_captioner

    vecs, titles = _toy(1)
    cfg = CaptionerConfig(min_count=1, hidden_dim=64, embed_dim=32)
    a, _ = train_captioner(vecs, titles, epochs=3, seed=7, val_fraction=0.0, config=cfg)
    b, _ = train_captioner(
        vecs,
        titles,
        epochs=3,
        seed=7,
        val_fraction=0.0,
        config=CaptionerConfig(min_count=1, hidden_dim=64, embed_dim=32),
    )
    assert a.version == b.version


def test_import_is_cheap() -> None:
    code = "import sys, ml.captioner, ml.joint; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""Tests for ml.textqueries: SemArt query building on small synthetic files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml.textqueries import (
    build_commentary_queries,
    build_semart_queries,
    indexed_commentary_urls,
    main,
    read_queries,
    write_queries,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = REPO_ROOT / "demo" / "text_queries_semart.jsonl"
SHIPPED_WGA = REPO_ROOT / "demo" / "text_queries_wga_commentary.jsonl"
URL = "https://www.wga.hu/html/{}.html"


def _write_fixture(root: Path) -> tuple[Path, Path, Path]:
    semart = root / "semart"
    semart.mkdir()
    header = "IMAGE_FILE\tDESCRIPTION\tAUTHOR\tTITLE\tTECHNIQUE\tDATE\tTYPE\tSCHOOL\tTIMEFRAME\n"
    rows = [
        ("1-a.jpg", "The painting shows a king.The crown is gold."),
        ("2-b.jpg", '"A quoted ""description"" with a tab-free body."'),
        ("3-c.jpg", "Commentary the app already indexes."),
        ("4-d.jpg", "No catalogue URL for this one."),
        ("5-e.jpg", ""),
        ("6-f.jpg", "The painting shows a king.The crown is gold."),  # duplicate text
        ("7-g.jpg", "Only in the val split mapping."),
    ]
    body = "".join(f"{img}\t{desc}\tX, Y\tT\tOil\t1500\treligious\tItalian\t1501-1550\n" for img, desc in rows)
    (semart / "semart_test.csv").write_text(header + body, encoding="utf-8")
    mapping = semart / "semart_to_wga_url.csv"
    mapping.write_text(
        "split,image_file,author,title,wga_url,match\n"
        f"test,1-a.jpg,X,T,{URL.format('a')},file+author+title\n"
        f"test,2-b.jpg,X,T,{URL.format('b')},file+author\n"
        f"test,3-c.jpg,X,T,{URL.format('c')},file+author+title\n"
        "test,4-d.jpg,X,T,,unmatched\n"
        f"test,5-e.jpg,X,T,{URL.format('e')},file+author+title\n"
        f"test,6-f.jpg,X,T,{URL.format('f')},file+author+title\n"
        f"val,7-g.jpg,X,T,{URL.format('g')},file+author+title\n",
        encoding="utf-8",
    )
    meta = root / "metadata.json"
    meta.write_text(
        json.dumps(
            {
                "images/c.jpg": {"url": URL.format("c"), "description": "\n\n\r\nCommentary the app indexes.\r\n"},
                "images/a.jpg": {"url": URL.format("a"), "description": "\n\n\n\n"},  # empty: not indexed
            }
        ),
        encoding="utf-8",
    )
    return semart, mapping, meta


def test_indexed_commentary_urls(tmp_path: Path) -> None:
    _, _, meta = _write_fixture(tmp_path)
    assert indexed_commentary_urls(meta) == {URL.format("c")}


def test_build_excludes_and_skips_unmapped(tmp_path: Path) -> None:
    semart, mapping, meta = _write_fixture(tmp_path)
    queries = build_semart_queries(semart, mapping, exclude_urls=indexed_commentary_urls(meta), limit=None, seed=0)
    assert [q["relevant"] for q in queries] == [[URL.format("a")], [URL.format("b")]]
    assert queries[0]["query"] == "The painting shows a king. The crown is gold."
    assert queries[1]["query"] == 'A quoted "description" with a tab-free body.'
    assert queries[0]["id"] == "1-a.jpg"
    everything = build_semart_queries(semart, mapping, exclude_urls=set(), limit=None, seed=0)
    assert {q["relevant"][0] for q in everything} == {URL.format(c) for c in "abc"}  # never the unmapped rows


def test_limit_is_seeded_sample_in_file_order(tmp_path: Path) -> None:
    semart, mapping, _ = _write_fixture(tmp_path)
    a = build_semart_queries(semart, mapping, exclude_urls=set(), limit=2, seed=1)
    b = build_semart_queries(semart, mapping, exclude_urls=set(), limit=2, seed=1)
    assert a == b and len(a) == 2
    order = [q["id"] for q in build_semart_queries(semart, mapping, exclude_urls=set(), limit=None, seed=0)]
    assert [q["id"] for q in a] == [i for i in order if i in {q["id"] for q in a}]


def test_roundtrip_and_cli(tmp_path: Path) -> None:
    semart, mapping, meta = _write_fixture(tmp_path)
    queries = build_semart_queries(semart, mapping, exclude_urls=set(), limit=None, seed=0)
    path = tmp_path / "q.jsonl"
    assert write_queries(queries, path) == len(queries)
    assert read_queries(path) == queries
    # CLI reads the shared-data layout: <data>/wga_texts/{semart,wga_scraped_descriptions}
    data = tmp_path / "data" / "wga_texts"
    (data / "wga_scraped_descriptions").mkdir(parents=True)
    semart.rename(data / "semart")
    meta.rename(data / "wga_scraped_descriptions" / "metadata.json")
    out = tmp_path / "cli.jsonl"
    assert main(["--data-dir", str(tmp_path / "data"), "--out", str(out)]) == 0
    assert [q["id"] for q in read_queries(out)] == ["1-a.jpg", "2-b.jpg"]


@pytest.mark.skipif(not SHIPPED.exists(), reason="shipped query file not generated")
def test_shipped_file_is_well_formed() -> None:
    queries = read_queries(SHIPPED)
    assert 900 <= len(queries) <= 1100
    for q in queries:
        assert q["query"].strip() and "\n" not in q["query"]
        assert len(q["relevant"]) == 1 and q["relevant"][0].startswith("https://www.wga.hu/html/")
    assert len({q["query"] for q in queries}) == len(queries)


SHARED_META = REPO_ROOT.parent / "shared" / "data" / "wga_texts" / "wga_scraped_descriptions" / "metadata.json"


@pytest.mark.skipif(not (SHIPPED.exists() and SHARED_META.exists()), reason="needs ../shared/data and the shipped file")
def test_shipped_file_excludes_indexed_commentary() -> None:
    urls = {q["relevant"][0] for q in read_queries(SHIPPED)}
    assert not urls & indexed_commentary_urls(SHARED_META)


def _write_commentary_fixture(root: Path) -> tuple[Path, Path]:
    """A manifest of five images and scraped commentary: one without text, a work and its detail
    sharing one text, one text with scrape artefacts, one commentary for an artwork with no image."""
    manifest = root / "manifest.csv"
    manifest.write_text(
        "file,artist,title,wga_url\n"
        + "".join(f"images/{c}.jpg,A,T,{URL.format(c)}\n" for c in "abcde"),
        encoding="utf-8",
    )
    meta = root / "metadata.json"
    meta.write_text(json.dumps({
        "a": {"url": URL.format("a"), "description": "\n\n\r\n\"The altarpiece.The panel is lost.\"\r\n"},
        "b": {"url": URL.format("b"), "description": "\n\n\n"},
        "c": {"url": URL.format("c"), "description": "Shared text of a work and its detail."},
        "d": {"url": URL.format("d"), "description": "Shared text of a work and its detail."},
        "e": {"url": URL.format("e"), "description": "It shows Andrea\"'s teacher."},
        "z": {"url": URL.format("z"), "description": "No image for this one."},
    }), encoding="utf-8")
    return manifest, meta


def test_commentary_queries(tmp_path: Path) -> None:
    manifest, meta = _write_commentary_fixture(tmp_path)
    queries = build_commentary_queries(manifest, meta)
    assert queries == [
        {"id": "images/a.jpg", "query": "The altarpiece. The panel is lost.", "relevant": [URL.format("a")]},
        {"id": "images/c.jpg", "query": "Shared text of a work and its detail.",
         "relevant": [URL.format("c"), URL.format("d")]},
        {"id": "images/e.jpg", "query": "It shows Andrea's teacher.", "relevant": [URL.format("e")]},
    ]
    data = tmp_path / "data"
    (data / "wga_texts" / "wga_scraped_descriptions").mkdir(parents=True)
    (data / "wga_art_or_trash").mkdir()
    meta.rename(data / "wga_texts" / "wga_scraped_descriptions" / "metadata.json")
    manifest.rename(data / "wga_art_or_trash" / "manifest.csv")
    out = tmp_path / "wga.jsonl"
    assert main(["--set", "wga-commentary", "--data-dir", str(data), "--out", str(out)]) == 0
    assert read_queries(out) == queries


SHARED_MANIFEST = REPO_ROOT.parent / "shared" / "data" / "wga_art_or_trash" / "manifest.csv"


@pytest.mark.skipif(not SHIPPED_WGA.exists(), reason="shipped query file not generated")
def test_shipped_commentary_file_is_well_formed() -> None:
    queries = read_queries(SHIPPED_WGA)
    assert 250 <= len(queries) <= 280
    for q in queries:
        assert q["query"].strip() and "\n" not in q["query"] and not q["query"].startswith('"')
        assert q["relevant"] and all(u.startswith("https://www.wga.hu/html/") for u in q["relevant"])
    assert len({q["query"] for q in queries}) == len(queries)


@pytest.mark.skipif(not (SHIPPED_WGA.exists() and SHARED_META.exists() and SHARED_MANIFEST.exists()),
                    reason="needs ../shared/data and the shipped file")
def test_shipped_commentary_file_is_reproducible() -> None:
    assert read_queries(SHIPPED_WGA) == build_commentary_queries(SHARED_MANIFEST, SHARED_META)

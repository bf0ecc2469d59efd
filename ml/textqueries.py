"""Build text→artwork evaluation queries from WGA commentary.

Two sets:

* ``semart``: each query is a SemArt DESCRIPTION and its single relevant answer is the WGA
  catalogue URL of the described artwork. Artworks whose own WGA commentary is indexed by the app
  are excluded, because their description would then be found verbatim (a leak, not retrieval).
* ``wga-commentary``: each query is the scraped WGA commentary of an artwork that has an *image*
  (wga_art_or_trash manifest), so that modes which rank images (the joint image/text space) can be
  measured. The database it is evaluated on must not index these commentaries as captions.

CLI: ``python -m ml.textqueries --data-dir ../shared/data --out demo/text_queries_semart.jsonl``
or ``python -m ml.textqueries --set wga-commentary --out demo/text_queries_wga_commentary.jsonl``
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import random
import sys
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from ml.text import clean_commentary

__all__ = [
    "build_commentary_queries",
    "build_semart_queries",
    "commentary_by_url",
    "fold_columns",
    "indexed_commentary_urls",
    "predicate_matches",
    "predicate_rows",
    "read_queries",
    "write_queries",
]

# SemArt descriptions can be long; the csv module's default field limit is 128 KiB.
csv.field_size_limit(1 << 24)


def commentary_by_url(metadata_json: str | Path) -> dict[str, str]:
    """Catalogue URL -> cleaned, non-empty commentary from wga_scraped_descriptions/metadata.json
    (the first non-empty text when a URL occurs twice)."""
    with open(metadata_json, encoding="utf-8") as fh:
        data = json.load(fh)
    items = data.values() if isinstance(data, dict) else data
    out: dict[str, str] = {}
    for item in items:
        url = str(item.get("url") or "").strip().strip('"')
        text = clean_commentary(item.get("description") or "")
        if url and text:
            out.setdefault(url, text)
    return out


def indexed_commentary_urls(metadata_json: str | Path) -> set[str]:
    """URLs of artworks with a non-empty commentary in wga_scraped_descriptions/metadata.json."""
    return set(commentary_by_url(metadata_json))


def build_commentary_queries(manifest_csv: str | Path, metadata_json: str | Path) -> list[dict]:
    """Return ``{"id", "query", "relevant": [urls]}`` for the manifest's images that have commentary.

    The manifest is wga_art_or_trash/manifest.csv (columns ``file`` and ``wga_url``). WGA gives a
    work and its details the same commentary, so one text can describe several of these images: it
    becomes one query with all of them relevant (two identical queries each expecting a different
    first hit would cap Pr@1 by construction). Queries are in manifest order; ``id`` is the
    manifest file of the first relevant image.
    """
    # One more scrape artefact than clean_commentary handles (that one also feeds the index, so it
    # stays as it is): a quote glued to a possessive, "Andrea\"'s teacher".
    texts = {url: text.replace("\"'", "'") for url, text in commentary_by_url(metadata_json).items()}
    by_text: dict[str, dict] = {}
    with open(manifest_csv, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            url = (row.get("wga_url") or "").strip()
            text = texts.get(url)
            if not text:
                continue
            query = by_text.setdefault(text, {"id": (row.get("file") or url).strip(), "query": text, "relevant": []})
            if url not in query["relevant"]:
                query["relevant"].append(url)
    return list(by_text.values())


def _read_mapping(mapping_csv: str | Path, split: str) -> dict[str, str]:
    """IMAGE_FILE -> catalogue URL for one split; rows without a URL are left out."""
    out: dict[str, str] = {}
    with open(mapping_csv, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if (row.get("split") or split) != split:
                continue
            url = (row.get("wga_url") or "").strip()
            image = (row.get("image_file") or "").strip()
            if image and url:
                out[image] = url
    return out


def build_semart_queries(
    semart_dir: str | Path,
    mapping_csv: str | Path,
    *,
    exclude_urls: set[str],
    limit: int | None = None,
    seed: int = 0,
    split: str = "test",
) -> list[dict]:
    """Return ``{"id", "query", "relevant": [url]}`` dicts for SemArt rows with a mapped URL.

    Rows whose URL is in ``exclude_urls`` (the app indexes their commentary) or that have no
    mapped URL or an empty description are skipped. Duplicate descriptions are kept once.
    With ``limit``, a seeded random sample of that size is returned, in file order.
    """
    mapping = _read_mapping(mapping_csv, split)
    path = Path(semart_dir) / f"semart_{split}.csv"
    queries: list[dict] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8", newline="") as fh:
        # Tab-separated with standard CSV quoting (fields holding quotes are quoted).
        for row in csv.DictReader(fh, delimiter="\t"):
            image = (row.get("IMAGE_FILE") or "").strip()
            url = mapping.get(image)
            if not url or url in exclude_urls:
                continue
            text = clean_commentary(row.get("DESCRIPTION") or "")
            if not text or text in seen:
                continue
            seen.add(text)
            queries.append({"id": image, "query": text, "relevant": [url]})
    if limit is not None and limit < len(queries):
        keep = sorted(random.Random(seed).sample(range(len(queries)), limit))
        queries = [queries[i] for i in keep]
    return queries


def write_queries(queries: Iterable[dict], path: str | Path) -> int:
    """Write queries as JSON lines (UTF-8); return the number written."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for q in queries:
            fh.write(json.dumps(q, ensure_ascii=False) + "\n")
            n += 1
    return n


@functools.lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """Case- and accent-insensitive form of a catalogue value ("Danaë" -> "danae")."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


# Catalogue fields a relevance predicate may name: substring conditions and equality conditions.
PREDICATE_CONTAINS = {"author_contains": "author", "title_contains": "title", "location_contains": "location",
                      "technique_contains": "technique"}
PREDICATE_EQUALS = ("form", "type", "school", "timeframe")


def fold_columns(rows: Iterable[dict[str, str]]) -> dict[str, list[str]]:
    """Catalogue rows as folded columns, one list per predicate field, for predicate_rows."""
    keys = (*PREDICATE_CONTAINS.values(), *PREDICATE_EQUALS)
    columns: dict[str, list[str]] = {key: [] for key in keys}
    for row in rows:
        for key in keys:
            columns[key].append(fold(row.get(key) or ""))
    return columns


def predicate_rows(predicate: dict, columns: dict[str, list[str]]) -> list[int]:
    """Indexes of the rows (folded columns from fold_columns) that satisfy every condition of a
    relevance predicate: substrings for the ``*_contains`` keys (author, title, location,
    technique), equality for form, type, school and timeframe; a list value means every item must
    hold (ml.visitorqueries explains the keys). An unknown key is an error, not a silent miss.
    Cost: each condition scans the rows the previous ones kept (the first one: all of them)."""
    n = len(next(iter(columns.values()), []))
    keep = range(n)
    for key, value in predicate.items():
        values = [fold(v) for v in (value if isinstance(value, list) else [value])]
        if key in PREDICATE_CONTAINS:
            col = columns[PREDICATE_CONTAINS[key]]
            for v in values:
                keep = [i for i in keep if v in col[i]]
        elif key in PREDICATE_EQUALS:
            col = columns[key]
            for v in values:
                keep = [i for i in keep if col[i] == v]
        else:
            raise ValueError(f"unknown relevance condition {key!r}")
    return list(keep)


def predicate_matches(predicate: dict, row: dict[str, str]) -> bool:
    """Whether one catalogue row satisfies a relevance predicate (see predicate_rows)."""
    return bool(predicate_rows(predicate, fold_columns([row])))


def read_queries(path: str | Path) -> list[dict]:
    """Read a JSON-lines query file written by write_queries. Raises ValueError naming the first
    line that is not a JSON object (a CSV or a JSON array passed by mistake)."""
    out: list[dict] = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: line {n} is not JSON ({exc.msg})") from exc
            if not isinstance(item, dict):
                raise ValueError(f"{path}: line {n} is not a JSON object")
            out.append(item)
    return out


# Hand-written visitor query sets (ml.visitorqueries): --set name -> (list name, id prefix).
VISITOR_SETS = {"visitor": ("QUERIES", "v"), "visitor-heldout": ("HELDOUT", "h"), "visitor-heldout2": ("HELDOUT2", "g")}


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: write the SemArt (default) or WGA-commentary query file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data", help="folder with wga_texts/ (and wga_art_or_trash/)")
    parser.add_argument("--set", dest="which", default="semart", choices=["semart", "wga-commentary", *VISITOR_SETS])
    parser.add_argument("--out", default=None,
                        help="default demo/text_queries_semart.jsonl, demo/text_queries_wga_commentary.jsonl "
                             "or demo/text_queries_<visitor set>.jsonl")
    parser.add_argument("--split", default="test", choices=["test", "val"])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.which in VISITOR_SETS:
        import ml.visitorqueries

        attr, prefix = VISITOR_SETS[args.which]
        out = args.out or f"demo/text_queries_{args.which.replace('-', '_')}.jsonl"
        queries = getattr(ml.visitorqueries, attr)
        n = write_queries(({"id": f"{prefix}{i:03d}", **q} for i, q in enumerate(queries, 1)), out)
        print(f"wrote {n} hand-written visitor queries to {out}")
        return 0
    texts = Path(args.data_dir) / "wga_texts"
    metadata = texts / "wga_scraped_descriptions" / "metadata.json"
    if args.which == "wga-commentary":
        out = args.out or "demo/text_queries_wga_commentary.jsonl"
        queries = build_commentary_queries(Path(args.data_dir) / "wga_art_or_trash" / "manifest.csv", metadata)
        n = write_queries(queries, out)
        images = sum(len(q["relevant"]) for q in queries)
        print(f"wrote {n} queries ({images} relevant images) to {out}")
        return 0
    args.out = args.out or "demo/text_queries_semart.jsonl"
    semart = texts / "semart"
    exclude = indexed_commentary_urls(metadata)
    queries = build_semart_queries(
        semart,
        semart / "semart_to_wga_url.csv",
        exclude_urls=exclude,
        limit=args.limit,
        seed=args.seed,
        split=args.split,
    )
    n = write_queries(queries, args.out)
    print(f"wrote {n} queries to {args.out} (excluded {len(exclude)} indexed-commentary URLs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

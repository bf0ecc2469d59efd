"""Build text→artwork evaluation queries from SemArt descriptions (WGA commentary).

Each query is a SemArt DESCRIPTION and its single relevant answer is the WGA catalogue URL of
the described artwork. Artworks whose own WGA commentary is indexed by the app are excluded,
because their description would then be found verbatim (a leak, not retrieval).

CLI: ``python -m ml.textqueries --data-dir ../shared/data --out demo/text_queries_semart.jsonl``
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections.abc import Iterable
from pathlib import Path

from ml.text import clean_commentary

__all__ = [
    "build_semart_queries",
    "indexed_commentary_urls",
    "read_queries",
    "write_queries",
]

# SemArt descriptions can be long; the csv module's default field limit is 128 KiB.
csv.field_size_limit(1 << 24)


def indexed_commentary_urls(metadata_json: str | Path) -> set[str]:
    """URLs of artworks with a non-empty commentary in wga_scraped_descriptions/metadata.json."""
    with open(metadata_json, encoding="utf-8") as fh:
        data = json.load(fh)
    items = data.values() if isinstance(data, dict) else data
    urls: set[str] = set()
    for item in items:
        url = str(item.get("url") or "").strip().strip('"')
        if url and clean_commentary(item.get("description") or ""):
            urls.add(url)
    return urls


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


def read_queries(path: str | Path) -> list[dict]:
    """Read a JSON-lines query file written by write_queries."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: write the SemArt query file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data", help="folder with wga_texts/")
    parser.add_argument("--out", default="demo/text_queries_semart.jsonl")
    parser.add_argument("--split", default="test", choices=["test", "val"])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    texts = Path(args.data_dir) / "wga_texts"
    semart = texts / "semart"
    exclude = indexed_commentary_urls(texts / "wga_scraped_descriptions" / "metadata.json")
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

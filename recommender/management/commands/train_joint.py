from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.modelfiles import JOINT
from recommender.joint_search import HUMAN_SOURCES
from recommender.modelfiles import model_path
from recommender.models import ArtworkImage, Caption
from recommender.progress import tqdm_bars

KS = (1, 5, 10)


def holdout_urls(paths: list[Path]) -> set[str]:
    """The relevant catalogue URLs of JSON-lines query files ({"query", "relevant": [urls]})."""
    return {u for q in _read(paths) for u in q.get("relevant", [])}


def _read(paths: list[Path]) -> list[dict[str, Any]]:
    from ml.textqueries import read_queries

    out: list[dict[str, Any]] = []
    for path in paths:
        if not path.is_file():
            raise CommandError(f"{path}: no such query file")
        try:
            out += [{"query": str(q.get("query", "")), "relevant": [str(u) for u in q.get("relevant", [])]}
                    for q in read_queries(path)]
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
    return out


@dataclass
class Collection:
    """The indexed images (one row each) and the human-written caption vectors of their artworks."""

    images: list[ArtworkImage]
    vectors: np.ndarray  # (images, 512)
    captions: dict[int, list[tuple[str, np.ndarray]]] = field(default_factory=dict)  # artwork -> (source, vec)
    sources: tuple[str, ...] = HUMAN_SOURCES  # the caption sources that make training pairs

    @classmethod
    def load(cls, sources: tuple[str, ...] = HUMAN_SOURCES) -> Collection:
        images = list(ArtworkImage.objects.filter(status=ArtworkImage.Status.INDEXED)
                      .select_related("artwork").order_by("id"))
        captions: dict[int, list[tuple[str, np.ndarray]]] = defaultdict(list)
        for art_id, source, emb in (Caption.objects.filter(artwork_id__in=[i.artwork_id for i in images],
                                                           embedding__isnull=False)
                                    .order_by("artwork_id", "source", "chunk")
                                    .values_list("artwork_id", "source", "embedding")):
            captions[art_id].append((source, np.asarray(emb, dtype=np.float32)))
        vectors = np.asarray([i.embedding for i in images], dtype=np.float32).reshape(len(images), -1)
        return cls(images=images, vectors=vectors, captions=dict(captions), sources=sources)

    def pairs(self, artworks: set[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(image vectors, caption vectors, image ids): one pair per caption of `sources` (by default every
        human one: catalogue sentence, each commentary chunk, curator text) of each image of these
        artworks. Machine captions are left out: they are made from the image vector itself, so they
        carry no human information."""
        rows: list[tuple[int, np.ndarray]] = []
        for n, im in enumerate(self.images):
            if im.artwork_id in artworks:
                rows += [(n, vec) for source, vec in self.captions.get(im.artwork_id, []) if source in self.sources]
        if not rows:
            return np.zeros((0, self.vectors.shape[1]), np.float32), np.zeros((0, 384), np.float32), np.zeros(0)
        img = self.vectors[[r[0] for r in rows]]
        txt = np.asarray([r[1] / max(float(np.linalg.norm(r[1])), 1e-12) for r in rows], dtype=np.float32)
        return img, txt, np.asarray([self.images[r[0]].pk for r in rows])


class Command(BaseCommand):
    help = (
        "Train the joint image/text projection on (CAM-VGG16 image vector, caption embedding) pairs and store every "
        "indexed image's projected vector; or, with --curve, measure its learning curve on held-out queries "
        "(nothing stored)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        from ml.joint import METHODS

        parser.add_argument("--epochs", type=int, default=100)
        parser.add_argument("--seed", type=int, default=0)
        # The product's method maps images into the sentence space, so a query's own MiniLM vector ranks
        # them (the web process never loads torch to project it); `infonce` is kept for --curve.
        parser.add_argument("--method", choices=METHODS, default="infonce-frozen")
        parser.add_argument("--holdout", type=Path, action="append", default=[],
                            help="query file (JSON lines with `relevant` URLs): its relevant artworks are left out "
                                 "of training, so the evaluation does not test on training pairs; repeatable")
        parser.add_argument("--curve", default="",
                            help="comma-separated training-set sizes in image/caption pairs (`all` for every pair "
                                 "outside the evaluation): train on each and rank the --holdout queries' images")
        parser.add_argument("--methods", default=",".join(METHODS), help="with --curve: the methods compared")
        parser.add_argument("--seeds", type=int, default=3, help="with --curve: random splits averaged")
        parser.add_argument("--joint-weight", type=float, default=None,
                            help="with --curve: the joint list's weight in the fusion (RRF; default 1 in the "
                                 "two-list fusion, text_search.JOINT_WEIGHT in --product)")
        parser.add_argument("--sources", default=",".join(HUMAN_SOURCES),
                            help="caption sources that make training pairs (comma-separated; default every human one)")
        parser.add_argument("--product", action="store_true",
                            help="with --curve: also run the product's fused text query (every list) without and "
                                 "with the joint list, per split, the held-out artworks made image imports without "
                                 "captions (in a transaction rolled back afterwards; --method, all pairs)")
        parser.add_argument("--eval-fraction", type=float, default=0.5,
                            help="with --curve: the share of the --holdout queries evaluated in each split (their "
                                 "artworks are left out); the other queries' artworks train")

    def handle(self, *args: Any, **o: Any) -> None:
        if o["curve"]:
            self._curve(o)
            return
        self._train(o)

    # ------------------------------------------------------------------ the product: train and project
    def _train(self, o: dict[str, Any]) -> None:
        from ml.joint import train_joint
        from recommender.joint_search import joint_vectors_fill

        held_urls = holdout_urls(o["holdout"])
        col = Collection.load(_sources(o["sources"]))
        keep = {i.artwork_id for i in col.images if i.artwork.url not in held_urls}
        held_out = sum(i.artwork.url in held_urls for i in col.images)
        img, txt, groups = col.pairs(keep)
        if len(set(groups.tolist())) < 20:
            raise CommandError(f"only {len(set(groups.tolist()))} images with embedded captions (after {held_out} "
                               "held out); run build_captions first")
        epochs = o["epochs"]
        with tqdm_bars(self.stderr)("training the joint projection", total=epochs, unit="epoch") as advance:
            model, report = train_joint(img, txt, groups=groups, method=o["method"], epochs=epochs, seed=o["seed"],
                                        on_epoch=lambda: advance(1))
        report["pairs"] = len(img)
        report["held_out_images"] = held_out
        path = model_path(JOINT)
        model.save(path)
        projected = joint_vectors_fill()
        self.stdout.write(json.dumps(report, indent=1, default=str))
        self.stdout.write(f"trained on {len(img)} image/caption pairs ({report['n_train']} train, "
                          f"{report['n_val']} val); {held_out} images held out by {len(held_urls)} query URLs")
        self.stdout.write(f"joint projection saved to {path}; {projected} images projected")

    # ------------------------------------------------------------------ the learning curve
    def _curve(self, o: dict[str, Any]) -> None:
        from ml.joint import METHODS

        if not o["holdout"]:
            raise CommandError("--curve needs the evaluation queries: --holdout FILE")
        methods = [m.strip() for m in o["methods"].split(",") if m.strip()]
        if bad := [m for m in methods if m not in METHODS]:
            raise CommandError(f"unknown method(s) {', '.join(bad)}; choose from {', '.join(METHODS)}")
        try:
            sizes = [0 if s.strip() == "all" else int(s) for s in o["curve"].split(",") if s.strip()]
        except ValueError as exc:
            raise CommandError(f"--curve: sizes are numbers of pairs or `all` ({exc})") from exc
        if not sizes or min(sizes) < 0 or not 0 < o["eval_fraction"] < 1 or o["seeds"] < 1:
            raise CommandError("--curve needs sizes >= 1 (or all), 0 < --eval-fraction < 1 and --seeds >= 1")
        col = Collection.load(_sources(o["sources"]))
        queries = self._queries(col, _read(o["holdout"]))
        if len(queries) < 4:
            raise CommandError(f"only {len(queries)} --holdout queries have a relevant indexed image")
        from recommender.captioning import QUERY_MAX_WORDS, get_encoder

        qvecs = get_encoder().encode([" ".join(q["query"].split()[:QUERY_MAX_WORDS]) for q in queries])
        results = _curve_runs(col, queries, np.asarray(qvecs, dtype=np.float32), sizes=sizes, methods=methods,
                              seeds=o["seeds"], seed=o["seed"], eval_fraction=o["eval_fraction"],
                              epochs=o["epochs"], joint_weight=1.0 if o["joint_weight"] is None else o["joint_weight"],
                              bars=tqdm_bars(self.stderr))
        self.stdout.write(_curve_report(results, n_images=len(col.images), n_queries=len(queries),
                                        seeds=o["seeds"], eval_fraction=o["eval_fraction"]))
        if o["product"]:
            self.stdout.write(_product_report(col, queries, seeds=o["seeds"], seed=o["seed"],
                                              eval_fraction=o["eval_fraction"], epochs=o["epochs"],
                                              method=o["method"], weight=o["joint_weight"]))

    @staticmethod
    def _queries(col: Collection, raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Queries with the image rows and artworks they are relevant to (indexed ones only)."""
        by_url: dict[str, list[int]] = defaultdict(list)
        for n, im in enumerate(col.images):
            by_url[im.artwork.url or ""].append(n)
        out = []
        for q in raw:
            cols = sorted({c for u in q["relevant"] for c in by_url.get(u, [])})
            if q["query"].strip() and cols:
                out.append({**q, "cols": np.asarray(cols), "artworks": {col.images[c].artwork_id for c in cols}})
        return out


def _sources(text: str) -> tuple[str, ...]:
    sources = tuple(s.strip() for s in text.split(",") if s.strip())
    if not sources or set(sources) - set(HUMAN_SOURCES):
        raise CommandError(f"--sources: comma-separated, from {', '.join(HUMAN_SOURCES)}")
    return sources


def _curve_runs(col: Collection, queries: list[dict[str, Any]], qvecs: np.ndarray, *, sizes: list[int],
                methods: list[str], seeds: int, seed: int, eval_fraction: float, epochs: int,
                joint_weight: float, bars: Any) -> dict[str, Any]:
    """Per split: the evaluation queries' artworks are held out (never trained on, and counted as images
    without human text); the rest of the collection's pairs, shuffled by artwork, train on growing
    prefixes. Ranks are pooled over the splits."""
    from ml.joint import first_relevant_ranks, train_joint

    art_of_col = np.asarray([im.artwork_id for im in col.images])
    joint: dict[tuple[int, str], dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    fused: dict[tuple[int, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    base: dict[str, list[int]] = defaultdict(list)
    runs = len(sizes) * len(methods) * seeds
    with bars("learning curve", total=runs, unit="fit") as advance:
        for s, (rng, ev, held) in enumerate(_splits(len(queries), queries, seeds=seeds, seed=seed,
                                                    eval_fraction=eval_fraction)):
            others = [i for i in range(len(queries)) if i not in set(ev.tolist())]
            pool = sorted({a for a in art_of_col.tolist() if a not in held and a in col.captions})
            order = [pool[i] for i in rng.permutation(len(pool))]
            counts = np.cumsum([len(col.pairs({a})[0]) for a in order])
            captions_only = _caption_ranks(col, queries, qvecs, held)
            held_cols = np.flatnonzero(np.isin(art_of_col, list(held)))
            # Control: the same fusion with the images without text in a random order. The joint list
            # holds only those few images, so even a random one lifts them; the model must beat this.
            shuffled = _dedupe(art_of_col[rng.permutation(held_cols)].tolist())[:100]
            for group, idx in (("uncaptioned", ev), ("captioned", others)):
                base[group] += [captions_only[i] for i in idx]
                base[f"{group}+random"] += [_first(_fused(captions_only[i][1], shuffled, joint_weight),
                                                   queries[i]["artworks"]) for i in idx]
            for size in sizes:
                n_arts = len(order) if size == 0 else int(np.searchsorted(counts, size) + 1)
                img, txt, groups = col.pairs(set(order[:n_arts]))
                for method in methods:
                    model, _ = train_joint(img, txt, groups=groups, method=method, epochs=epochs, seed=seed + s,
                                           val_fraction=0.0)
                    zi = model.project_image(col.vectors)
                    scores = model.project_text(qvecs[ev]) @ zi.T
                    cell = joint[(size, method)]
                    cell["ranks"] += first_relevant_ranks(scores, [queries[i]["cols"] for i in ev]).tolist()
                    cell["n_rel"] += [len(queries[i]["cols"]) for i in ev]
                    cell["pairs"].append(len(img))
                    # The product's fusion: the joint list over the images without human text only.
                    jl = model.project_text(qvecs) @ zi[held_cols].T
                    for group, idx in (("uncaptioned", ev), ("captioned", others)):
                        for i in idx:
                            jlist = _dedupe(art_of_col[held_cols[np.argsort(-jl[i])[:100]]].tolist())
                            ranked = _fused(captions_only[i][1], jlist, joint_weight)
                            fused[(size, method)][group].append(_first(ranked, queries[i]["artworks"]))
                    advance(1)
    return {"joint": joint, "fused": fused, "base": base, "sizes": sizes, "methods": methods}


def _fused(dense: list[int], joint: list[int], weight: float) -> list[int]:
    from recommender.text_search import fuse

    return [a for a, _, _ in fuse({"dense": dense, "joint": joint}, weights={"joint": weight})]


def _caption_ranks(col: Collection, queries: list[dict[str, Any]], qvecs: np.ndarray,
                   held: set[int]) -> list[tuple[int, list[int]]]:
    """Caption retrieval when the held-out artworks have no human text: each artwork scored by its best
    caption cosine — catalogue sentences (commentary is not indexed here: the queries are commentary
    and would find themselves), machine captions for the held-out ones if the collection has them.
    Returns, per query, (rank of its first relevant artwork, the top-100 artwork list)."""
    arts, vecs = [], []
    for art, caps in col.captions.items():
        for source, vec in caps:
            if (source == Caption.Source.MACHINE) if art in held else (source == Caption.Source.CATALOGUE):
                arts.append(art)
                vecs.append(vec / max(float(np.linalg.norm(vec)), 1e-12))
    if not vecs:
        return [(0, []) for _ in queries]
    sims = np.asarray(qvecs) @ np.asarray(vecs).T
    out = []
    for i, q in enumerate(queries):
        ranked = _dedupe([arts[j] for j in np.argsort(-sims[i])])[:100]
        out.append((_first(ranked, q["artworks"]), ranked))
    return out


def _dedupe(ids: list[int]) -> list[int]:
    return list(dict.fromkeys(ids))


def _first(ranked: list[int], relevant: set[int]) -> int:
    """1-based rank of the first relevant artwork in a list; 0 when it is not there."""
    return next((n for n, a in enumerate(ranked, 1) if a in relevant), 0)


def _pr(ranks: list[Any], k: int) -> float:
    firsts = [r[0] if isinstance(r, tuple) else r for r in ranks]
    return sum(0 < r <= k for r in firsts) / max(len(firsts), 1)


def _curve_report(res: dict[str, Any], *, n_images: int, n_queries: int, seeds: int, eval_fraction: float) -> str:
    from ml.joint import rank_summary

    lines = [f"joint space learning curve: {n_queries} queries, {seeds} splits, {eval_fraction:.0%} of the queries "
             f"held out per split (their artworks never trained on), ranking all {n_images} indexed images",
             "", "joint list alone (held-out queries):",
             f"{'pairs':>6} {'method':<15} {'Pr@1':>6} {'Pr@5':>6} {'Pr@10':>6} {'chance@10':>9} {'z@10':>6} "
             f"{'med.rank':>8} {'chance':>6}"]
    for size in res["sizes"]:
        for method in res["methods"]:
            cell = res["joint"][(size, method)]
            s = rank_summary(np.asarray(cell["ranks"]), np.asarray(cell["n_rel"]), n_images, KS)
            lines.append(f"{np.mean(cell['pairs']):>6.0f} {method:<15} {s['Pr@1']:>6.3f} {s['Pr@5']:>6.3f} "
                         f"{s['Pr@10']:>6.3f} {s['chance@10']:>9.3f} {s['z@10']:>6.1f} {s['median_rank']:>8.0f} "
                         f"{s['chance_median_rank']:>6.0f}")
    lines += ["", "caption retrieval with the held-out artworks as images without human text: alone, fused (RRF) with "
              "those images in a random order (the control), and fused with the joint list over them:",
              f"{'pairs':>6} {'method':<15} {'targets':<12} {'n':>4} " + " ".join(f"{'Pr@' + str(k):>6}" for k in KS)]
    for group in ("uncaptioned", "captioned"):
        for name, ranks in (("captions alone", res["base"][group]),
                            ("random order", res["base"][f"{group}+random"])):
            lines.append(f"{'-':>6} {name:<15} {group:<12} {len(ranks):>4} "
                         + " ".join(f"{_pr(ranks, k):>6.3f}" for k in KS))
    for size in res["sizes"]:
        for method in res["methods"]:
            cell = res["fused"][(size, method)]
            pairs = np.mean(res["joint"][(size, method)]["pairs"])
            for group in ("uncaptioned", "captioned"):
                ranks = cell[group]
                lines.append(f"{pairs:>6.0f} {method:<15} {group:<12} {len(ranks):>4} "
                             + " ".join(f"{_pr(ranks, k):>6.3f}" for k in KS))
    return "\n".join(lines)


class _RolledBack(Exception):
    pass


def _splits(n_queries: int, queries: list[dict[str, Any]], *, seeds: int, seed: int, eval_fraction: float
            ) -> list[tuple[np.random.Generator, np.ndarray, set[int]]]:
    """Per split: its generator, the evaluated query indices and their artworks (held out)."""
    out = []
    for s in range(seeds):
        rng = np.random.default_rng(seed + s)
        ev = np.sort(rng.permutation(n_queries)[: max(1, round(eval_fraction * n_queries))])
        out.append((rng, ev, set().union(*(queries[i]["artworks"] for i in ev))))
    return out


def _product_report(col: Collection, queries: list[dict[str, Any]], *, seeds: int, seed: int, eval_fraction: float,
                    epochs: int, method: str, weight: float | None) -> str:
    """The product's fused text query (recommender.text_search.text_query, every list) with no joint list,
    with the held-out images in a random order as the joint list (the control), and with the product's own
    joint list (the stored joint vectors of images without human text). In each split, inside a
    transaction that is rolled back: no commentary is indexed (the queries are commentary), the held-out
    artworks become image imports with no caption at all (they keep title and artist, which the word lists
    read), and every image gets its joint vector from a projection trained on the other artworks' pairs."""
    from unittest import mock

    from django.db import transaction

    from ml.joint import train_joint
    from recommender import text_search
    from recommender.captioning import get_encoder, query_embedding, search_vectors_refresh
    from recommender.models import JOINT_DIM, Artwork

    enc = get_encoder()
    cache: dict[str, list[float]] = {}

    def embed(q: str) -> list[float]:
        if q not in cache:
            cache[q] = query_embedding(q, encoder=enc)
        return cache[q]

    weight = text_search.JOINT_WEIGHT if weight is None else weight
    firsts: dict[tuple[str, str], list[int]] = defaultdict(list)
    splits = _splits(len(queries), queries, seeds=seeds, seed=seed, eval_fraction=eval_fraction)
    for s, (rng, ev, held) in enumerate(splits):
        img, txt, groups = col.pairs({im.artwork_id for im in col.images if im.artwork_id not in held})
        model, _ = train_joint(img, txt, groups=groups, method=method, epochs=epochs, seed=seed + s,
                               val_fraction=0.0)
        if model.dim != JOINT_DIM:
            raise CommandError(f"--product stores the joint vectors: --method {method} makes {model.dim}-d ones, "
                               f"the column holds {JOINT_DIM}")
        shuffled = [sorted(held)[j] for j in rng.permutation(len(held))][:100]
        evs = set(ev.tolist())
        lists: tuple[tuple[str, Any], ...] = (("none", lambda v: []), ("random order", lambda v, order=shuffled: order),
                                              ("joint list", None))
        try:
            with transaction.atomic(), mock.patch.dict(text_search.LIST_WEIGHTS, {"joint": weight}):
                Caption.objects.filter(source=Caption.Source.COMMENTARY).delete()
                Caption.objects.filter(artwork_id__in=held).delete()
                Artwork.objects.filter(pk__in=held).update(source=Artwork.Source.IMPORT)
                search_vectors_refresh()
                for im, vec in zip(col.images, model.project_image(col.vectors), strict=True):
                    im.joint_embedding = vec.tolist()
                ArtworkImage.objects.bulk_update(col.images, ["joint_embedding"], batch_size=500)
                for name, joint in lists:
                    for i, q in enumerate(queries):
                        res = text_search.text_query(q=q["query"], embed=embed, k=10, joint=joint, concurrent=False)
                        group = "uncaptioned" if i in evs else "captioned"
                        firsts[(name, group)].append(_first([h.artwork.pk for h in res.hits], q["artworks"]))
                raise _RolledBack
        except _RolledBack:
            pass
    lines = ["", f"the product's fused text query (all lists; joint weight {weight}, --method {method}), "
             f"{seeds} splits, the held-out artworks as image imports without captions:",
             f"{'joint list':<15} {'targets':<12} {'n':>4} "
             + " ".join(f"{'Pr@' + str(k):>6}" for k in KS)]
    for (name, group), ranks in sorted(firsts.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(f"{name:<15} {group:<12} {len(ranks):>4} " + " ".join(f"{_pr(ranks, k):>6.3f}" for k in KS))
    return "\n".join(lines)

"""The scale benchmark's phases, top to bottom:

1. split the real images: `absent` (queried as images that are not in the collection), `new`
   (indexed, then made unchecked for the `find_duplicates --new` timing), `originals` (queried as
   perturbed copies) and `donors` (the rest; the only source of synthetic rows' keypoints, so a
   synthetic row is never a hidden copy of a queried original);
2. in a scratch database: import and index the real images with the product's own code, read
   their stored vectors back and fit the synthetic generator (recommender.bench.synthetic);
3. embed the queries once (one extractor), reused at every N;
4. for each N, ascending: add synthetic artworks up to N (binary COPY with the vector indexes
   dropped), build the indexes, ANALYZE, then measure sizes, the shortlist against an exact
   scan, image queries, similar artworks and the incremental scan.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone
from tqdm import tqdm

from ml.images import IMAGE_SUFFIXES, ImageError, decode_image_file
from ml.perturb import PERTURBATIONS, expected_verdict
from ml.visualize import png_bytes
from recommender.bench import product, storage
from recommender.bench.synthetic import ImageGenerator, mean_pairwise_cosine
from recommender.metrics import percentile

# The keys every row of a scale report has, in this order (extra keys follow).
KEYS = ("artworks", "load_s", "build_s", "db_bytes", "shortlist_p50_ms", "shortlist_p95_ms",
        "shortlist_recall_at_10", "shortlist_recall_at_100", "query_found_p50_ms", "query_notfound_p50_ms",
        "dup_recall", "dup_false_duplicates", "scan_ms_per_new_image", "similar_p50_ms")
SHORTLIST_K = 100
LOAD_CHUNK = 500  # synthetic images generated and copied at a time (~40 MB of vectors with regions)
SERVER_SETTINGS = ("shared_buffers", "maintenance_work_mem", "max_parallel_maintenance_workers", "work_mem")


@dataclass
class ScaleConfig:
    artworks: list[int]
    images: Path
    manifest: Path | None = None
    queries: int = 50
    new_images: int = 10
    seed: int = 0
    keep: bool = False
    maintenance_work_mem: str | None = None
    progress: bool = True
    # ARTSEARCH_FALLBACK_MIN_EVIDENCE values at which the image queries and the incremental scan
    # are measured again (key `by_gate`), next to the configured one.
    gates: list[float] = field(default_factory=list)


@dataclass
class Split:
    absent: list[Path]
    new: list[Path]
    originals: list[Path]
    donors: list[Path]


def split_images(files: list[Path], *, queries: int, new: int, manifest: Path | None,
                 rng: np.random.Generator) -> Split:
    """With a manifest naming artists, `absent` holds whole artists, so none of them has a
    detail or a second photograph of itself in the collection."""
    files = [files[i] for i in rng.permutation(len(files))]
    artist_of: dict[str, str] = {}
    if manifest is not None:
        with manifest.open(newline="", encoding="utf-8-sig") as fh:
            artist_of = {Path(row["file"]).name: row.get("artist") or "" for row in csv.DictReader(fh)}
    absent: list[Path] = []
    if artist_of:
        by_artist: dict[str, list[Path]] = {}
        for path in files:
            by_artist.setdefault(artist_of.get(path.name) or path.name, []).append(path)
        for group in by_artist.values():
            if len(absent) + len(group) <= queries:
                absent += group
    else:
        absent = files[:queries]
    held_out = set(absent)
    rest = [p for p in files if p not in held_out]
    split = Split(absent=absent, new=rest[:new], originals=rest[new : new + queries], donors=rest[new + queries :])
    if not split.originals or not split.donors:
        raise ValueError(f"{len(files)} images are too few for {queries} queries and {new} new images: "
                         "lower --queries or give more images")
    return split


@dataclass
class CopyQuery:
    name: str
    family: str
    data: bytes
    image_id: int  # the original's image
    artwork_id: int
    expected: str  # verdict


@dataclass
class State:
    """What a step and the tests need to know about the scratch collection."""

    real_image_ids: list[int]
    original_ids: list[int]
    new_ids: list[int]
    donor_ids: list[int]
    real_artwork_ids: set[int]
    ids: np.ndarray  # every indexed image id, row-aligned with `vectors`
    vectors: np.ndarray  # global vectors as stored (float32), for the exact scan
    synthetic_ids: list[int] = field(default_factory=list)
    diagnostics: dict[str, Any] = field(default_factory=dict)


def run_scale_bench(cfg: ScaleConfig, *, emit: Callable[[dict[str, Any]], None],
                    header: Callable[[str], None] = lambda s: None,
                    on_loaded: Callable[[State], None] | None = None) -> list[dict[str, Any]]:
    """Run every N of `cfg.artworks` (ascending) and return one row per N (also handed to
    `emit` as soon as it is measured). `on_loaded(state)` runs once, inside the scratch database,
    after the first N is loaded (the tests inspect it there)."""
    rng = np.random.default_rng(cfg.seed)
    files = sorted(p for p in cfg.images.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    split = split_images(files, queries=cfg.queries, new=cfg.new_images, manifest=cfg.manifest, rng=rng)
    media = Path(settings.ARTSEARCH_HOME) / "bench" / "media"
    shutil.rmtree(media, ignore_errors=True)  # a kept run's files go with its database
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, storage.scratch_database(keep=cfg.keep, media_root=media):
        state, copies = _load_real(cfg, split, Path(tmp), rng)
        embed = product.CachedEmbedder()
        absent = [p.read_bytes() for p in split.absent]
        for data in _bar(cfg, [q.data for q in copies] + absent, "embed queries"):
            embed(data)
        loader = _SyntheticLoader(state, seed=cfg.seed)
        state.diagnostics = loader.diagnostics
        tables = [m._meta.db_table for m in (product.ARTWORK, product.IMAGE, product.REGION)]
        header(_header(cfg, split, state, loader))
        memory = storage.ServerMemory()
        for n in sorted(set(cfg.artworks)):
            have = product.ARTWORK.objects.count()
            if n < have:
                raise ValueError(f"--artworks {n}: the real images alone make {have} artworks")
            indexes = storage.vector_indexes(tables)
            storage.indexes_drop(indexes)
            t = time.perf_counter()
            loader.add(n - have, bar=lambda total, desc=f"load {n:,}": _bar(cfg, None, desc, total=total))
            load_s = time.perf_counter() - t
            with memory:
                build = storage.indexes_build(indexes, maintenance_work_mem=cfg.maintenance_work_mem)
                storage.analyze(tables)
                if on_loaded is not None and not rows:
                    on_loaded(state)
                row = {"artworks": n, "load_s": round(load_s, 1), "build_s": round(sum(build.values()), 1),
                       **_measure(cfg, state, copies, absent, embed, n),
                       "build_s_per_index": {k: round(v, 1) for k, v in build.items()}}
            row.update(storage.sizes(tables))
            row["db_peak_bytes"] = memory.peak
            row.update(state.diagnostics)
            row["loadavg"] = [round(x, 2) for x in os.getloadavg()]
            rows.append({k: row[k] for k in KEYS} | {k: v for k, v in row.items() if k not in KEYS})
            emit(rows[-1])
    if not cfg.keep:
        shutil.rmtree(media, ignore_errors=True)
    return rows


def _bar(cfg: ScaleConfig, items: Any, desc: str, *, total: int | None = None) -> Any:
    """A progress bar on stderr: over `items`, or updated by hand up to `total`."""
    return tqdm(items, desc=desc, total=total, file=sys.stderr, disable=not cfg.progress)


def _load_real(cfg: ScaleConfig, split: Split, tmp: Path, rng: np.random.Generator
               ) -> tuple[State, list[CopyQuery]]:
    """Import and index the collection's real images; the perturbed copies of the originals."""
    chosen = split.originals + split.new + split.donors
    folder = tmp / "images"
    folder.mkdir()
    for path in chosen:
        (folder / path.name).symlink_to(path.resolve())
    manifest = None
    if cfg.manifest is not None:
        names = {p.name for p in chosen}
        manifest = tmp / "manifest.csv"
        with cfg.manifest.open(newline="", encoding="utf-8-sig") as src, manifest.open("w", newline="") as dst:
            reader = csv.DictReader(src)
            writer = csv.DictWriter(dst, fieldnames=list(reader.fieldnames or ()))
            writer.writeheader()
            for row in reader:
                if Path(row["file"]).name in names:
                    writer.writerow({**row, "file": Path(row["file"]).name})
    product.import_images(folder, manifest)
    sha = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in chosen}
    image_of = {sha[s]: pk for pk, s in product.IMAGE.objects.filter(sha256__in=list(sha)).values_list("pk", "sha256")}
    pending = sorted(image_of.values())
    bar = _bar(cfg, None, "index real images", total=len(pending))
    for i in range(0, len(pending), 16):
        product.index_images(pending[i : i + 16])
        bar.update(len(pending[i : i + 16]))
    bar.close()
    indexed = product.IMAGE.objects.filter(pk__in=pending, status=product.IMAGE.Status.INDEXED)
    # Checked already: the synthetic rows copy this, and `--new` then scans only the new images.
    indexed.update(duplicates_checked_at=timezone.now())
    ok = set(indexed.values_list("pk", flat=True))
    artwork_of = dict(indexed.values_list("pk", "artwork_id"))

    def ids(paths: list[Path]) -> list[int]:
        return [image_of[p] for p in paths if image_of.get(p) in ok]

    ids_all, vectors = _stored_globals(sorted(ok))
    real_artworks = set(product.ARTWORK.objects.values_list("pk", flat=True))
    state = State(real_image_ids=sorted(ok), original_ids=ids(split.originals), new_ids=ids(split.new),
                  donor_ids=ids(split.donors), real_artwork_ids=real_artworks, ids=ids_all, vectors=vectors)
    if not state.donor_ids or not state.original_ids:
        raise ValueError("no donor or no original image could be indexed")
    try:
        background = decode_image_file(split.absent[0]) if split.absent else None
    except ImageError:
        background = None
    families = list(PERTURBATIONS)
    copies: list[CopyQuery] = []
    for qi, path in enumerate(p for p in split.originals if image_of.get(p) in ok):
        family = families[qi % len(families)]
        strength, fn = PERTURBATIONS[family][(qi // len(families)) % len(PERTURBATIONS[family])]
        rgb = decode_image_file(path)
        bg = background if background is not None else np.full_like(rgb, 200)
        copy = fn(rgb, np.random.default_rng([cfg.seed, qi]), bg)
        copies.append(CopyQuery(name=f"{path.name}/{family}/{strength}", family=family, data=png_bytes(copy),
                                image_id=image_of[path], artwork_id=artwork_of[image_of[path]],
                                expected=str(expected_verdict(family))))
    return state, copies


def _parse(text: str) -> np.ndarray:
    return np.array(text.strip("[]").split(","), dtype=np.float32)


def _stored_globals(image_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    table, column = product.IMAGE._meta.db_table, product.VECTOR_FIELD
    with connection.cursor() as cur:
        cur.execute(f'SELECT id, "{column}"::text FROM "{table}" WHERE id = ANY(%s) ORDER BY id', [image_ids])
        rows = cur.fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64), np.stack([_parse(r[1]) for r in rows])


def _stored_regions(image_ids: np.ndarray) -> list[np.ndarray]:
    table, column = product.REGION._meta.db_table, product.VECTOR_FIELD
    fk = product.REGION._meta.get_field("image").column
    with connection.cursor() as cur:
        cur.execute(f'SELECT "{fk}", "{column}"::text FROM "{table}" WHERE "{fk}" = ANY(%s) ORDER BY "{fk}", id',
                    [[int(i) for i in image_ids]])
        by_image: dict[int, list[np.ndarray]] = {}
        for image_id, text in cur.fetchall():
            by_image.setdefault(image_id, []).append(_parse(text))
    dim = next((len(v[0]) for v in by_image.values()), 0)
    return [np.stack(by_image[int(i)]) if int(i) in by_image else np.zeros((0, dim), np.float32) for i in image_ids]


class _SyntheticLoader:
    """Adds synthetic artworks: an artwork row, an image row copied from a donor (keypoints,
    size, model version, status, …) with its own id, names and generated global vector, and
    its generated regions. Every column not overridden keeps the donor's value."""

    def __init__(self, state: State, *, seed: int) -> None:
        self.state = state
        self.rng = np.random.default_rng([seed, 1])
        self.generator = ImageGenerator(state.vectors, _stored_regions(state.ids), seed=seed)
        self.tables = {m: m._meta.db_table for m in (product.ARTWORK, product.IMAGE, product.REGION)}
        self.columns = {m: storage.table_columns(t) for m, t in self.tables.items()}
        img, art, reg = product.IMAGE, product.ARTWORK, product.REGION
        self.donors = storage.rows_binary(self.tables[img], self.columns[img], state.donor_ids)
        self.donor_ids = sorted(self.donors)
        template_art = img.objects.get(pk=self.donor_ids[0]).artwork_id
        self.artwork = storage.rows_binary(self.tables[art], self.columns[art], [template_art])[template_art]
        fk = reg._meta.get_field("image").column
        region_pk = reg.objects.filter(**{fk: self.donor_ids[0]}).values_list("pk", flat=True).first()
        self.region_columns = [c for c in self.columns[reg] if c.name != reg._meta.pk.column]
        self.region = (storage.rows_binary(self.tables[reg], self.region_columns, [region_pk])[region_pk]
                       if region_pk is not None else None)
        self.region_fk = fk
        self.diagnostics = self._diagnostics(seed)

    def _column(self, model: Any, name: str) -> storage.Column:
        return next(c for c in self.columns[model] if c.name == name)

    def _diagnostics(self, seed: int) -> dict[str, Any]:
        sample = self.generator.batch(1000, np.random.default_rng([seed, 2]))
        out = {"real_mean_cosine": round(self.generator.globals.target_cosine, 4),
               "synthetic_mean_cosine": round(mean_pairwise_cosine(sample.vectors), 4),
               "noise_sigma": round(self.generator.globals.sigma, 4),
               "noise_clipped": self.generator.globals.nonnegative}
        if self.generator.regions is not None and len(sample.regions) >= 2:
            out |= {"real_region_mean_cosine": round(self.generator.regions.target_cosine, 4),
                    "synthetic_region_mean_cosine": round(mean_pairwise_cosine(sample.regions), 4),
                    "region_noise_sigma": round(self.generator.regions.sigma, 4)}
        return out

    @staticmethod
    def _unique(model: Any, pk: int) -> dict[str, object]:
        """Unique columns get a value of their own (NULL where allowed)."""
        return {f.column: (None if f.null else f"synthetic-{pk}") for f in model._meta.concrete_fields
                if f.unique and not f.primary_key}

    def _row(self, model: Any, template: list[bytes | None], values: dict[str, object]) -> list[bytes | None]:
        row = list(template)
        for i, col in enumerate(self.columns[model]):
            if col.name in values:
                row[i] = storage.encode(col, values[col.name])
        return row

    def add(self, count: int, *, bar: Callable[[int], Any]) -> None:
        art, img, reg = product.ARTWORK, product.IMAGE, product.REGION
        vec_col = self._column(img, product.VECTOR_FIELD)
        region_vec = next(c for c in self.region_columns if c.name == product.VECTOR_FIELD)
        progress = bar(count)
        ids: list[np.ndarray] = []
        vectors: list[np.ndarray] = []
        for start in range(0, count, LOAD_CHUNK):
            n = min(LOAD_CHUNK, count - start)
            batch = self.generator.batch(n, self.rng)
            art_ids = storage.reserve_ids(self.tables[art], n)
            img_ids = storage.reserve_ids(self.tables[img], n)
            storage.copy_rows(self.tables[art], self.columns[art], (
                self._row(art, self.artwork, {art._meta.pk.column: a, "title": f"Synthetic artwork {a}",
                                              "duplicate_of_id": None, **self._unique(art, a)})
                for a in art_ids))
            donors = self.rng.integers(0, len(self.donor_ids), size=n)
            storage.copy_rows(self.tables[img], self.columns[img], (
                self._row(img, self.donors[self.donor_ids[d]], {
                    img._meta.pk.column: i, "artwork_id": a, **self._unique(img, i),
                    "file": f"synthetic/{i}.jpg", "source_name": f"synthetic-{i}.jpg", vec_col.name: v})
                for i, a, d, v in zip(img_ids, art_ids, donors, batch.vectors, strict=True)))
            if self.region is not None and len(batch.regions):
                owners = np.repeat(np.asarray(img_ids), batch.region_counts)
                storage.copy_rows(self.tables[reg], self.region_columns, (
                    self._region_row(int(o), v, region_vec) for o, v in zip(owners, batch.regions, strict=True)))
            ids.append(np.asarray(img_ids, dtype=np.int64))
            vectors.append(storage.stored(vec_col, batch.vectors))
            self.state.synthetic_ids += img_ids
            progress.update(n)
        progress.close()
        # One concatenation per step: growing the arrays chunk by chunk would copy O(N^2) bytes.
        self.state.ids = np.concatenate([self.state.ids, *ids])
        self.state.vectors = np.concatenate([self.state.vectors, *vectors])

    def _region_row(self, owner: int, vector: np.ndarray, column: storage.Column) -> list[bytes | None]:
        assert self.region is not None
        row = list(self.region)
        for i, col in enumerate(self.region_columns):
            if col.name == self.region_fk:
                row[i] = storage.encode(col, owner)
            elif col is column:
                row[i] = storage.encode(col, vector)
        return row


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first: O(n) selection, then a sort of k."""
    idx = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
    return idx[np.argsort(-scores[idx])]


def _ms(values: list[float], q: float) -> float | None:
    return round(percentile(values, q) * 1000, 1) if values else None


def _measure(cfg: ScaleConfig, state: State, copies: list[CopyQuery], absent: list[bytes],
             embed: product.CachedEmbedder, n: int) -> dict[str, Any]:
    """Every figure of one N, in the order: shortlist (timing, recall against an exact scan of
    the stored global vectors), image queries (copies, then absent images), similar artworks,
    incremental duplicate scan."""
    norms = np.linalg.norm(state.vectors, axis=1)
    norms[norms == 0] = 1.0
    sl_times: list[float] = []
    recall10: list[float] = []
    recall100: list[float] = []
    in_exact = in_product = 0
    for q in _bar(cfg, copies, f"shortlist {n:,}"):
        emb = embed(q.data)
        t = time.perf_counter()
        full = product.shortlist_ids(emb["vector"], model_version=emb["model_version"], k=SHORTLIST_K,
                                     regions=emb.get("regions") or ())
        sl_times.append(time.perf_counter() - t)
        glob = product.shortlist_ids(emb["vector"], model_version=emb["model_version"], k=SHORTLIST_K)
        qv = product.query_space(emb["vector"])
        sims = state.vectors @ qv / (norms * max(float(np.linalg.norm(qv)), 1e-12))
        top = min(SHORTLIST_K, len(sims))
        exact = state.ids[_top(sims, top)]
        recall10.append(len(set(glob[:10]) & set(exact[:10].tolist())) / max(min(10, top), 1))
        recall100.append(len(set(glob) & set(exact.tolist())) / max(top, 1))
        if q.image_id in set(exact.tolist()):
            in_exact += 1
            in_product += q.image_id in full
    row = {
        "shortlist_p50_ms": _ms(sl_times, 0.5), "shortlist_p95_ms": _ms(sl_times, 0.95),
        "shortlist_recall_at_10": round(float(np.mean(recall10)), 4) if recall10 else None,
        "shortlist_recall_at_100": round(float(np.mean(recall100)), 4) if recall100 else None,
        "originals_in_exact_top100": in_exact, "originals_in_shortlist_when_exact": in_product,
        **_queries(cfg, state, copies, absent, embed, n),
    }
    sim_times: list[float] = []
    pick = np.random.default_rng([cfg.seed, n])
    picked = pick.choice(len(state.ids), min(len(state.ids), cfg.queries), replace=False)
    sample_ids = [int(state.ids[i]) for i in picked]
    artworks = [img.artwork for img in product.IMAGE.objects.filter(pk__in=sample_ids).select_related("artwork")]
    for art in _bar(cfg, artworks, f"similar {n:,}"):
        t = time.perf_counter()
        product.similar(art)
        sim_times.append(time.perf_counter() - t)
    row.update({"similar_p50_ms": _ms(sim_times, 0.5), "similar_p95_ms": _ms(sim_times, 0.95),
                "real_images": len(state.real_image_ids), "synthetic_images": len(state.synthetic_ids)})
    if cfg.gates:
        row["by_gate"] = {}
        for gate in cfg.gates:
            with override_settings(ARTSEARCH_FALLBACK_MIN_EVIDENCE=gate):
                row["by_gate"][str(gate)] = _queries(cfg, state, copies, absent, embed, n, f" (gate {gate})")
    return row


def _queries(cfg: ScaleConfig, state: State, copies: list[CopyQuery], absent: list[bytes],
             embed: product.CachedEmbedder, n: int, label: str = "") -> dict[str, Any]:
    """Image queries (copies, then absent images) and the incremental duplicate scan: the
    figures the fallback passes' evidence gate changes."""
    found_times, notfound_times, cnn_times = [], [], []
    found = false_dup = false_synthetic = 0
    by_family: dict[str, list[bool]] = {}
    for q in _bar(cfg, copies, f"copy queries {n:,}{label}"):
        ans = product.image_query(q.data, embed)
        found_times.append(ans.seconds)
        cnn_times.append(ans.cnn_seconds)
        hit = bool(ans.found) and ans.found[0] == q.artwork_id
        found += hit
        by_family.setdefault(q.family, []).append(hit)
        wrong = [a for a in ans.found if a != q.artwork_id]
        false_dup += bool(wrong)
        false_synthetic += any(a not in state.real_artwork_ids for a in wrong)
    for data in _bar(cfg, absent, f"absent queries {n:,}{label}"):
        ans = product.image_query(data, embed)
        notfound_times.append(ans.seconds)
        cnn_times.append(ans.cnn_seconds)
        false_dup += bool(ans.found)
        false_synthetic += any(a not in state.real_artwork_ids for a in ans.found)
    scanned, pairs, scan_s = product.scan_new(state.new_ids) if state.new_ids else (0, 0, 0.0)
    return {
        "query_found_p50_ms": _ms(found_times, 0.5), "query_found_p95_ms": _ms(found_times, 0.95),
        "query_notfound_p50_ms": _ms(notfound_times, 0.5), "query_notfound_p95_ms": _ms(notfound_times, 0.95),
        "query_cnn_p50_ms": _ms(cnn_times, 0.5),  # the CNN passes inside those query times
        "dup_recall": round(found / len(copies), 4) if copies else None,
        "dup_false_duplicates": false_dup,
        "scan_ms_per_new_image": round(scan_s / scanned * 1000, 1) if scanned else None,
        "dup_recall_by_family": {f: f"{sum(v)}/{len(v)}" for f, v in sorted(by_family.items())},
        "dup_false_synthetic": false_synthetic, "copy_queries": len(copies), "absent_queries": len(absent),
        "scan_images": scanned, "scan_pairs": pairs,
    }


def _header(cfg: ScaleConfig, split: Split, state: State, loader: _SyntheticLoader) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU") if Path("/proc/cpuinfo").exists() else "unknown CPU"
    types = {m._meta.db_table: [f"{c.name} {c.type}" for c in loader.columns[m] if c.type in storage.VECTOR_TYPES]
             for m in (product.IMAGE, product.REGION)}
    return (f"machine: {cpu}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}\n"
            f"server: {storage.server_settings(SERVER_SETTINGS)}\n"
            f"vector columns: {types}\n"
            f"real images: {len(state.real_image_ids)} indexed (originals {len(state.original_ids)}, new "
            f"{len(state.new_ids)}, donors {len(state.donor_ids)}), {len(split.absent)} absent; from {cfg.images}\n"
            f"generator: {loader.diagnostics}")

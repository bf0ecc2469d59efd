"""The turn-map sweep of README Figures ("Turn maps"): CNN vectors of a folder of images in four
orientations (VGG16 conv5, CAM head fitted on the manifest's form and type), ridge maps fitted
on 60 % of the artists, recall of turned copies among the other 40 %. Framework-free (ml only).

    .venv/bin/python scripts/turns_sweep.py ../shared/data/wga_art_or_trash [--cache vectors.npz]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml.turns import fit_turn_maps, turn_recall


def vectors(folder: Path, model_dir: Path, max_side: int) -> dict[str, np.ndarray]:
    import cv2

    from ml.cam import train_cam_head
    from ml.extract import FeatureExtractor, load_extractor

    rows = list(csv.DictReader((folder / "manifest.csv").open(encoding="utf-8")))
    ext = load_extractor(model_dir, max_side=max_side, allow_download=False)
    images = [cv2.cvtColor(cv2.imread(str(folder / r["file"])), cv2.COLOR_BGR2RGB) for r in rows]
    maps = ext.feature_maps(images)
    gap = np.stack([m.mean(dim=(-2, -1)).numpy() for m in maps])
    head, _ = train_cam_head(gap, {"form": [r["form"] for r in rows], "type": [r["type"] for r in rows]})
    cam = FeatureExtractor(ext.trunk, head, max_side=max_side)
    out = {"artist": np.array([r["artist"] for r in rows]), "sum0": ext.vectors_from_maps(maps),
           "cam0": cam.vectors_from_maps(maps)}
    for k in (1, 2, 3):
        turned = ext.feature_maps([np.ascontiguousarray(np.rot90(im, k)) for im in images])
        out[f"sum{k}"], out[f"cam{k}"] = ext.vectors_from_maps(turned), cam.vectors_from_maps(turned)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="images with a manifest.csv (file, artist, form, type)")
    parser.add_argument("--cache", type=Path, help="vectors .npz: read if present, else written")
    parser.add_argument("--model-dir", type=Path, default=Path("var/models"))
    parser.add_argument("--max-side", type=int, default=320)
    parser.add_argument("--l2", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.3, 1.0, 10.0])
    args = parser.parse_args()
    if args.cache and args.cache.is_file():
        data = dict(np.load(args.cache))
    else:
        data = vectors(args.folder, args.model_dir, args.max_side)
        if args.cache:
            np.savez(args.cache, **data)
    artists = data["artist"]
    names = np.unique(artists)
    np.random.default_rng(0).shuffle(names)
    train = np.isin(artists, names[: int(0.6 * len(names))])
    print(f"{int(train.sum())} images fit the maps, {int((~train).sum())} held out (other artists)")
    print(f"{'pooling':8} {'maps':>12}  R@1    R@10   R@30   R@100  median cosine to the original")
    for pooling in ("cam", "sum"):
        sets = [data[f"{pooling}{k}"] for k in range(4)]
        held = [v[~train] for v in sets]
        rows = [("none", turn_recall(None, held, ks=(1, 10, 30, 100)))]
        rows += [(f"l2 {l2:g}", turn_recall(fit_turn_maps([v[train] for v in sets], l2=l2), held, ks=(1, 10, 30, 100)))
                 for l2 in args.l2]
        for name, r in rows:
            print(f"{pooling:8} {name:>12}  {r['recall_at_1']:.3f}  {r['recall_at_10']:.3f}  {r['recall_at_30']:.3f}  "
                  f"{r['recall_at_100']:.3f}  {r['cosine']:.3f}")


if __name__ == "__main__":
    main()

"""`evaluate duplicates` and `calibrate` on a handful of real demo images (CNN in-process)."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from recommender.evaluation import DuplicateEvalConfig, _split
from recommender.models import Artwork, ArtworkImage

pytestmark = pytest.mark.django_db


def test_evaluate_reports_per_family_and_rolls_back_and_calibrate_reads_it(
    demo_images: list[Path], tmp_path: Path
) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in demo_images[20:26]:
        shutil.copy(p, folder / p.name)
    run = tmp_path / "run.json"
    out = StringIO()
    call_command("evaluate", "duplicates", "--images", str(folder), "--originals", "5", "--queries", "1",
                 "--distractors", "1", "--families", "crop", "mirror", "--json", str(run),
                 stdout=out, stderr=StringIO())
    report = out.getvalue()
    assert "crop" in report and "mirror" in report and "distractor" in report and "ALL" in report
    assert Artwork.objects.count() == 0 and ArtworkImage.objects.count() == 0  # rolled back
    data = json.loads(run.read_text())
    assert len(data["outcomes"]) == 3 and len(data["summary"]["evidence"]) == 3
    assert data["summary"]["precision"] == 1.0
    out = StringIO()
    call_command("calibrate", str(run), stdout=out)
    assert "proposed T=" in out.getvalue() and "ARTSEARCH_INLIERS_HIGH=" in out.getvalue()


def test_manifest_split_keeps_every_artist_on_one_side(tmp_path: Path) -> None:
    """Distractors are whole artists, so none has a detail or re-photograph among the originals."""
    files = [tmp_path / f"{artist}_{i}.jpg" for artist, n in (("a", 5), ("b", 2), ("c", 3), ("d", 1)) for i in range(n)]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,artist\n" + "".join(f"images/{p.name},{p.name.split('_')[0]}\n" for p in files))
    cfg = DuplicateEvalConfig(images=tmp_path, originals=100, distractors=3, manifest=manifest)
    distractors, originals = _split(cfg, files, np.random.default_rng(0))
    artists = {p.name.split("_")[0] for p in distractors}
    assert 0 < len(distractors) <= 3 and not artists & {p.name.split("_")[0] for p in originals}
    assert "a" not in artists  # a group bigger than the budget stays in the collection
    assert len(distractors) + len(originals) == len(files)


def test_bad_manifest_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("path,painter\na.jpg,x\n")
    with pytest.raises(ValueError, match="needs `file` and `artist` columns"):
        _split(DuplicateEvalConfig(images=tmp_path, manifest=wrong), [tmp_path / "a.jpg"], np.random.default_rng(0))
    with pytest.raises(CommandError, match="no such manifest"):
        call_command("evaluate", "duplicates", "--images", str(tmp_path), "--manifest", str(tmp_path / "none.csv"))


def test_gate_effect_counts_the_copies_lost_and_the_absent_time_saved() -> None:
    """A gate loses exactly the copies only a fallback pass found with evidence below it, and
    saves the fallback time of the distractors below it."""
    from recommender.evaluation import gate_effect

    def row(family: str, evidence: float, last_pass: str, found: bool, fallback_ms: float = 0.0) -> dict:
        return {"query_id": f"{family}-{evidence}", "family": family, "evidence": evidence,
                "last_pass": last_pass, "found": found, "fallback_ms": fallback_ms}

    runs = [row("crop", 0.95, "verify", True), row("rotate", 0.62, "rotations", True),
            row("detail", 0.40, "deep", True), row("paste", 0.30, "dense", False),
            row("distractor", 0.50, "dense", False, 900.0), row("distractor", 0.70, "dense", False, 1100.0)]
    effect = gate_effect(runs, 0.55)
    assert effect["found"] == 3 and effect["found_with_gate"] == 2 and effect["lost"] == ["detail-0.4"]
    assert effect["distractors_skipping"] == 1 and effect["distractor_fallback_ms_saved_mean"] == 450.0
    assert gate_effect(runs, 0.0)["found_with_gate"] == 3

"""Machine captions, the title captioner and the joint image/text projection, trained through
their commands on small real data (catalogue titles, MiniLM caption embeddings) with image
vectors set directly, so no CNN pass is needed."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from recommender.captioning import machine_captions_update
from recommender.catalogue import images_import_folder
from recommender.models import Artwork, ArtworkImage, Caption
from tests.conftest import DEMO

pytestmark = pytest.mark.django_db


@pytest.fixture
def indexed_with_vectors(tmp_path: Path) -> list[ArtworkImage]:
    images_import_folder(folder=DEMO, manifest=DEMO / "manifest.csv")
    rng = np.random.default_rng(0)
    # Vectors that carry the artwork's form, so the models have something real to learn.
    forms = sorted(set(Artwork.objects.values_list("form", flat=True)))
    centres = {f: rng.random(512) for f in forms}
    rows = list(ArtworkImage.objects.select_related("artwork"))
    for im in rows:
        v = centres[im.artwork.form] + 0.3 * rng.random(512)
        im.embedding, im.status, im.model_version = list(v / np.linalg.norm(v)), "indexed", "test"
    ArtworkImage.objects.bulk_update(rows, ["embedding", "status", "model_version"])
    call_command("build_captions", "--inline", stdout=StringIO())
    out = StringIO()
    call_command("build_captions", "--embed-only", "--inline", stdout=out)
    assert "embedded 0 captions" in out.getvalue()  # nothing left to embed, nothing rebuilt
    return rows


def test_captioner_and_joint_projection_train_and_serve(indexed_with_vectors: list[ArtworkImage],
                                                        tmp_path: Path) -> None:
    with override_settings(MODEL_DIR=tmp_path):
        out = StringIO()
        call_command("train_captioner", "--epochs", "3", stdout=out)
        assert "bleu" in out.getvalue().lower() and (tmp_path / "captioner.pt").exists()
        out = StringIO()
        call_command("train_joint", "--epochs", "5", stdout=out)
        assert (tmp_path / "joint.pt").exists()
        assert not ArtworkImage.objects.filter(joint_embedding__isnull=True).exists()

        # A plain image import has no human text: it gets a machine caption (predicted labels and a
        # generated title), embedded and searchable.
        im = indexed_with_vectors[0]
        Artwork.objects.filter(pk=im.artwork_id).update(source=Artwork.Source.IMPORT)
        ArtworkImage.objects.filter(pk=im.pk).update(predictions={"form": [["painting", 0.93]],
                                                                  "type": [["religious", 0.71]]})
        assert machine_captions_update([im.pk]) == 1
        cap = Caption.objects.get(artwork_id=im.artwork_id, source=Caption.Source.MACHINE)
        assert "form painting (93%)" in cap.text and cap.embedding is not None

        queries = tmp_path / "q.jsonl"
        art = indexed_with_vectors[1].artwork
        queries.write_text(json.dumps({"query": art.title, "relevant": [art.url]}) + "\n")
        for mode in ("fused", "joint", "fused+joint", "fused+joint-all"):
            out = StringIO()
            call_command("evaluate", "text", "--queries", str(queries), "--mode", mode, stdout=out)
            assert "Pr@1" in out.getvalue() and "Pr@10" in out.getvalue() and "MRR" in out.getvalue(), out.getvalue()


def test_train_joint_holdout_leaves_query_artworks_out(indexed_with_vectors: list[ArtworkImage],
                                                       tmp_path: Path) -> None:
    """`--holdout FILE` drops the pairs of the file's relevant artworks from training (the evaluation
    must not test on them) but still projects every indexed image, held-out ones included."""
    held = [im.artwork.url for im in indexed_with_vectors[:7]]
    queries = tmp_path / "holdout.jsonl"
    queries.write_text("".join(json.dumps({"query": f"q{i}", "relevant": [u]}) + "\n" for i, u in enumerate(held))
                       + json.dumps({"query": "not in the catalogue", "relevant": ["https://example.org/x"]}) + "\n")
    with override_settings(MODEL_DIR=tmp_path):
        out = StringIO()
        call_command("train_joint", "--epochs", "2", stdout=out)
        full = json.loads(out.getvalue().split("\ntrained on")[0])
        out = StringIO()
        call_command("train_joint", "--epochs", "2", "--holdout", str(queries), stdout=out)
        text = out.getvalue()
        report = json.loads(text.split("\ntrained on")[0])
        assert report["held_out_images"] == 7
        assert report["pairs"] == full["pairs"] - 7 == report["n_train"] + report["n_val"]
        assert f"trained on {report['pairs']} image/caption pairs" in text and "7 images held out" in text
        assert not ArtworkImage.objects.filter(status="indexed", joint_embedding__isnull=True).exists()

        # In the fused query the joint list serves only images without human-written text.
        from recommender.joint_search import joint_ranks_or_none

        # An image import whose only text is the machine caption and the sentence of its file-name title;
        # an upload with its curator's text and a catalogue row are not served by the joint list.
        bare, typed = indexed_with_vectors[3].artwork_id, indexed_with_vectors[4].artwork_id
        Artwork.objects.filter(pk=bare).update(source=Artwork.Source.IMPORT)
        Artwork.objects.filter(pk=typed).update(source=Artwork.Source.UPLOAD)
        Caption.objects.filter(artwork_id__in=[bare, typed]).exclude(source=Caption.Source.CATALOGUE).delete()
        Caption.objects.create(artwork_id=bare, source=Caption.Source.MACHINE, text="Predicted form painting.")
        Caption.objects.create(artwork_id=typed, source=Caption.Source.CURATOR, text="A curator's note.")
        vec = np.asarray(Caption.objects.filter(embedding__isnull=False).first().embedding, dtype=np.float32)
        every, uncaptioned = joint_ranks_or_none(), joint_ranks_or_none(uncaptioned_only=True)
        assert every is not None and uncaptioned is not None
        assert len(every(vec)) > 20
        assert uncaptioned(vec) == [bare]
        with pytest.raises(CommandError, match="no such query file"):
            call_command("train_joint", "--holdout", str(tmp_path / "missing.jsonl"), stdout=StringIO())
        # A CSV or a JSON array passed by mistake: a clear error naming the line, for both commands.
        for name, text, why in (("q.csv", "query,relevant\nx,y\n", "line 1 is not JSON"),
                                ("q.json", '["a", "b"]\n', "line 1 is not a JSON object")):
            bad = tmp_path / name
            bad.write_text(text)
            with pytest.raises(CommandError, match=why):
                call_command("train_joint", "--holdout", str(bad), stdout=StringIO())
            with pytest.raises(CommandError, match=why):
                call_command("evaluate", "text", "--queries", str(bad), stdout=StringIO())


def test_train_joint_curve_prints_the_learning_curve_and_stores_nothing(indexed_with_vectors: list[ArtworkImage],
                                                                         tmp_path: Path) -> None:
    """`--curve` trains on growing sets of pairs outside the evaluation queries' artworks and ranks the
    queries' images: the joint list alone against chance, and caption retrieval with and without it."""
    queries = tmp_path / "q.jsonl"
    arts = [im.artwork for im in indexed_with_vectors[:16]]
    queries.write_text("".join(json.dumps({"query": f"{a.form} {a.type} {a.title}", "relevant": [a.url]}) + "\n"
                               for a in arts))
    before = Caption.objects.count()
    with override_settings(MODEL_DIR=tmp_path):
        out = StringIO()
        call_command("train_joint", "--curve", "30,all", "--holdout", str(queries), "--seeds", "2", "--epochs", "3",
                     "--methods", "infonce-frozen,ridge", "--product", stdout=out, stderr=StringIO())
        text = out.getvalue()
        assert not (tmp_path / "joint.pt").exists()
        assert not ArtworkImage.objects.filter(joint_embedding__isnull=False).exists()
    assert "16 queries, 2 splits" in text and "ranking all 200 indexed images" in text, text
    # The product's query, in a transaction rolled back per split: the collection is as it was.
    product = text.split("the product's fused text query")[1].splitlines()
    assert [line.split()[-5] for line in product[2:]] == ["captioned"] * 3 + ["uncaptioned"] * 3, product
    assert not Artwork.objects.filter(source=Artwork.Source.IMPORT).exists()
    assert Caption.objects.count() == before
    table = [line.split() for line in text.splitlines() if line.split()[1:2] in (["ridge"], ["infonce-frozen"])]
    joint_rows = [r for r in table if r[2] not in ("uncaptioned", "captioned")]
    fused_rows = [r for r in table if r[2] in ("uncaptioned", "captioned")]
    assert len(joint_rows) == 4 and len(fused_rows) == 8
    assert 30 <= float(joint_rows[0][0]) < float(joint_rows[2][0])  # `all` trains on more pairs than 30
    assert all(0 <= float(x) <= 1 for r in joint_rows for x in r[2:6])
    for args, why in ((["--curve", "10"], "needs the evaluation queries"),
                      (["--curve", "ten", "--holdout", str(queries)], "sizes are numbers"),
                      (["--curve", "10", "--holdout", str(queries), "--methods", "svm"], "unknown method"),
                      (["--curve", "10", "--holdout", str(queries), "--eval-fraction", "1"], "eval-fraction"),
                      (["--curve", "10", "--holdout", str(queries), "--sources", "machine"], "--sources")):
        with pytest.raises(CommandError, match=why):
            call_command("train_joint", *args, stdout=StringIO())


def test_a_sentence_finds_an_image_without_text_through_the_joint_list(indexed_with_vectors: list[ArtworkImage],
                                                                       tmp_path: Path) -> None:
    """The product's text query fuses the joint list: an image import with no text but its file-name title is
    ranked by its stored joint vector against the query's own sentence vector. Images indexed later get their
    joint vector from the installed projection; one that is not in the sentence space is not used."""
    from recommender.captioning import query_embedding
    from recommender.joint_search import joint_vectors_fill
    from recommender.text_search import text_query

    im = indexed_with_vectors[5]
    art = im.artwork
    query = f"{art.title} by {art.artist.name if art.artist else ''}"
    Artwork.objects.filter(pk=art.pk).update(source=Artwork.Source.IMPORT, title="Img 0001", artist=None)
    Caption.objects.filter(artwork_id=art.pk).delete()
    with override_settings(MODEL_DIR=tmp_path):
        assert joint_vectors_fill() == 0  # no projection installed
        res = text_query(q=query, embed=query_embedding, k=100, concurrent=False)
        assert all("joint" not in h.ranks for h in res.hits)

        call_command("train_joint", "--epochs", "20", stdout=StringIO(), stderr=StringIO())
        ArtworkImage.objects.filter(pk=im.pk).update(joint_embedding=None, joint_version="")
        assert joint_vectors_fill([im.pk]) == 1  # what indexing does for each new image
        res = text_query(q=query, embed=query_embedding, k=100, concurrent=False)
        joint_hits = [h for h in res.hits if "joint" in h.ranks]
        # The only image without text is the joint list's whole list, at weight below 1.
        assert [h.artwork.pk for h in joint_hits] == [art.pk] and joint_hits[0].ranks["joint"] == 1
        # A filter applies to it like to every list.
        other = "sculpture" if art.form != "sculpture" else "painting"
        res = text_query(q=query, embed=query_embedding, k=100, filters={"form": other}, concurrent=False)
        assert art.pk not in [h.artwork.pk for h in res.hits]

        # Two linear maps (not the sentence space): no joint vectors are stored or searched.
        call_command("train_joint", "--epochs", "2", "--method", "infonce", stdout=StringIO(), stderr=StringIO())
        assert not ArtworkImage.objects.filter(joint_embedding__isnull=False).exists()

"""Things written once and used everywhere: the duplicate-group collapse (image query results and
recommendations), the artist's display name (ml.names), the image file suffixes (ml.images), the
artwork's fields and their lengths (read from the models by recommender.catalogue)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest

from ml.images import IMAGE_SUFFIXES
from recommender import catalogue, curation, forms, review, search, selectors
from recommender.models import Artist, Artwork, ArtworkImage


@dataclass
class Hit:
    image: ArtworkImage
    also: list[Artwork] = field(default_factory=list)

    @property
    def artwork(self) -> Artwork:
        return self.image.artwork


def _image(art: Artwork, name: str) -> ArtworkImage:
    return ArtworkImage.objects.create(artwork=art, source_name=f"{name}.jpg", file=f"images/{name}.jpg",
                                       sha256=name.ljust(64, "0"), width=10, height=10)


@pytest.mark.django_db
def test_collapse_groups_keeps_the_best_member_of_each_group() -> None:
    a, b, c = (Artwork.objects.create(title=t) for t in "ABC")
    a1, a2, b1, c1 = _image(a, "a1"), _image(a, "a2"), _image(b, "b1"), _image(c, "c1")
    review.duplicate_pair_record(first=a1, second=b1, verdict="duplicate", cosine=0.99, inliers=80, evidence={})
    hits = [Hit(a1), Hit(b1), Hit(a2), Hit(c1)]
    kept = selectors.collapse_groups(hits)
    assert [h.image for h in kept] == [a1, c1]
    assert kept[0].also == [b]  # a second image of A is not "another artwork"
    assert search.collapse_groups is selectors.collapse_groups

    fresh = [Hit(a1), Hit(b1), Hit(a2), Hit(c1)]
    assert [h.image for h in selectors.collapse_groups(fresh, exclude_group_of=b1.pk)] == [c1]
    fresh = [Hit(a1), Hit(c1), Hit(b1)]
    kept = selectors.collapse_groups(fresh, limit=1)
    assert [h.image for h in kept] == [a1] and kept[0].also == [b]  # members past the limit still listed


@pytest.mark.parametrize(("raw", "shown"), [
    ("ALTICHIERO da Zevio", "Altichiero da Zevio"),
    ("ANGELICO, Fra", "Fra Angelico"),
    ("FRANCKEN, Frans II", "Frans Francken II"),
])
def test_artist_display_name_is_ml_names(raw: str, shown: str) -> None:
    assert Artist(name=raw).display_name == shown


def test_image_suffixes_are_stated_once() -> None:
    assert catalogue.IMAGE_SUFFIXES is IMAGE_SUFFIXES and curation.IMAGE_SUFFIXES is IMAGE_SUFFIXES
    assert forms.IMAGE_SUFFIXES is IMAGE_SUFFIXES
    assert all(s == s.lower() and s.startswith(".") for s in IMAGE_SUFFIXES)


def test_artwork_field_lengths_come_from_the_model() -> None:
    """The importer, the upload checks and the forms read one definition of the artwork's fields."""
    lengths = {f.name: f.max_length for f in Artwork._meta.get_fields() if getattr(f, "max_length", None)}
    for name in catalogue.ARTWORK_FIELDS:
        assert catalogue.FIELD_MAX_LENGTHS[name] == curation.FIELD_MAX_CHARS[name] == lengths[name]
        assert forms.ArtworkUploadForm.base_fields[name].max_length == lengths[name]
        assert forms.ArtworkEditForm.base_fields[name].max_length == lengths[name]
    artist = Artist._meta.get_field("name").max_length
    assert catalogue.FIELD_MAX_LENGTHS["artist"] == forms.ArtworkEditForm.base_fields["artist"].max_length == artist
    assert set(curation.FIELD_MAX_CHARS) <= set(forms.ArtworkUploadForm.base_fields)
    assert forms.ReportDuplicateForm.base_fields["note"].max_length == review.NOTE_MAX_CHARS

    longest = "x" * lengths["timeframe"]
    header = "AUTHOR;BORN-DIED;TITLE;DATE;TECHNIQUE;LOCATION;URL;FORM;TYPE;SCHOOL;TIMEFRAME\n"
    rows = [f"A;;T;;;;https://e.org/{i};;;;{tf}\n" for i, tf in enumerate((longest, longest + "x"))]
    parsed = list(catalogue.parse_catalogue(io.StringIO(header + "".join(rows))))
    assert isinstance(parsed[0], catalogue.CatalogueRow)
    assert isinstance(parsed[1], catalogue.RowError) and "timeframe" in parsed[1].message
    assert curation.metadata_problems({"timeframe": longest}) == []
    assert curation.metadata_problems({"timeframe": longest + "x"}) == [
        f"timeframe is {len(longest) + 1} characters; the limit is {len(longest)}"]

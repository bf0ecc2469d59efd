"""The catalogue as a gallery: artworks with an image first while they are few, facet counts that
follow, and an artwork page that recommends related works with or without an image (real
PostgreSQL + pgvector; the caption embeddings made by build_captions --inline)."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from recommender import selectors
from recommender.catalogue import images_import_folder
from recommender.models import Artist, Artwork, ArtworkImage
from tests.recommender.helpers import demo_subset

pytestmark = pytest.mark.django_db

N_IMAGES = 12  # demo rows 46-57: five by Altdorfer, seven by Altichiero


@pytest.fixture
def gallery(tmp_path: Path) -> dict[str, Artwork]:
    manifest = demo_subset(tmp_path / "demo", N_IMAGES, start=46)
    assert images_import_folder(folder=tmp_path / "demo", manifest=manifest).created == N_IMAGES
    altdorfer = Artist.objects.get(name__startswith="ALTDORFER")
    other = Artist.objects.create(name="ZZTEST, Pieter")
    # Twenty artworks without an image: three more by Altdorfer, the rest by someone else (two of
    # them German landscapes of Altdorfer's time).
    bare = [Artwork.objects.create(title=f"Landscape with a castle {i}", artist=altdorfer, form="painting",
                                   type="landscape", school="German", timeframe="1501-1550") for i in range(3)]
    bare += [Artwork.objects.create(title=f"Landscape with a mill {i}", artist=other, form="painting",
                                    type="landscape", school="German", timeframe="1501-1550") for i in range(2)]
    bare += [Artwork.objects.create(title=f"Portrait of a merchant {i}", artist=other, form="painting",
                                    type="portrait", school="Flemish", timeframe="1551-1600") for i in range(15)]
    return {"bare": bare[0], "altdorfer_image": Artwork.objects.filter(artist=altdorfer, images__isnull=False)[0]}


def _card_links(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'class="card" href="/artworks/(\d+)/"', html)]


def test_it_shows_the_artworks_with_an_image_first_while_they_are_few(gallery: dict[str, Artwork]) -> None:
    assert selectors.image_coverage().images_by_default  # 12 of 32
    c = Client()
    r = c.get("/")
    assert r.context["with_images"] is True and r.context["page"].paginator.count == N_IMAGES
    html = r.content.decode()
    with_image = set(ArtworkImage.objects.values_list("artwork_id", flat=True))
    assert set(_card_links(html)) == with_image
    assert 'class="noimg"' not in html
    # The facet counts follow the filter: they add up to the artworks with an image.
    assert sum(n for _, n in r.context["facets"]["form"]) == N_IMAGES
    assert r.context["other_count"] == N_IMAGES + 20 and "show all 32" in html
    # The visible facet turns it off, and the counts follow again.
    r = c.get("/", {"images": "0"})
    assert r.context["with_images"] is False and r.context["page"].paginator.count == N_IMAGES + 20
    assert sum(n for _, n in r.context["facets"]["form"]) == N_IMAGES + 20
    # Facet links keep the images setting and the other filters.
    r = c.get("/", {"images": "1", "q": "altdorfer"})
    assert r.context["page"].paginator.count == 5
    assert 'href="?images=1&amp;q=altdorfer&amp;form=painting"' in r.content.decode() or \
        'href="?q=altdorfer&amp;images=1&amp;form=painting"' in r.content.decode()
    # A search that matches only artworks without an image says so and links to them.
    r = c.get("/", {"q": "merchant"})
    assert r.context["page"].paginator.count == 0 and "show 15 without" in r.content.decode()


def test_it_shows_every_artwork_once_most_have_an_image(gallery: dict[str, Artwork]) -> None:
    Artwork.objects.filter(images__isnull=True).exclude(pk=gallery["bare"].pk).delete()
    assert not selectors.image_coverage().images_by_default  # 12 of 13
    r = Client().get("/")
    assert r.context["with_images"] is False and r.context["page"].paginator.count == N_IMAGES + 1


def test_an_artwork_without_an_image_recommends_by_artist_and_metadata(gallery: dict[str, Artwork]) -> None:
    bare = gallery["bare"]
    r = Client().get(bare.get_absolute_url())
    assert r.status_code == 200
    html = r.content.decode()
    assert "Similar artworks" not in html and "Related works" in html
    related = r.context["related"]
    # The artist's other works, those with an image first, labelled with the artist's name.
    assert "More by Albrecht Altdorfer" in html
    assert [a.artist_id for a in related.by_artist] == [bare.artist_id] * 7
    assert [bool(a.images.all()) for a in related.by_artist] == [True] * 5 + [False] * 2
    # No caption embeddings yet: the same type, school and period.
    assert related.text_source == "metadata" and "Same kind, school and period" in html
    assert {a.title for a in related.by_text} == {"Landscape with a mill 0", "Landscape with a mill 1"}
    assert bare.pk not in {a.pk for a in related.by_artist + related.by_text}


def test_related_works_come_from_the_caption_embeddings(gallery: dict[str, Artwork]) -> None:
    out, err = StringIO(), StringIO()
    call_command("build_captions", "--inline", stdout=out, stderr=err)
    # Progress bars with the rate go to stderr; stdout keeps the report only.
    assert "embedding captions: 100%" in err.getvalue() and "caption/s" in err.getvalue()
    assert "catalogue captions: 100%" in err.getvalue()
    assert "%|" not in out.getvalue() and "embedded 32 captions inline" in out.getvalue()
    bare = gallery["bare"]
    related = selectors.artwork_related_list(artwork=bare, k=12)
    assert related.text_source == "captions" and related.by_text
    # The artist's works are in their own list, never repeated in the description list.
    assert all(a.artist_id != bare.artist_id for a in related.by_text)
    # Among the neighbours those with an image come first (a gallery, not empty frames).
    flags = [bool(a.images.all()) for a in related.by_text]
    assert flags == sorted(flags, reverse=True) and flags[0]
    html = Client().get(bare.get_absolute_url()).content.decode()
    assert "Similar subject and period" in html
    # An artwork with an image recommends related works too, below its look-alikes.
    html = Client().get(gallery["altdorfer_image"].get_absolute_url()).content.decode()
    assert "Related works" in html and "More by Albrecht Altdorfer" in html

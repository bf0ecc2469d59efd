from __future__ import annotations

import gzip
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from recommender.models import Artist, Artwork

HEADER = "AUTHOR;BORN-DIED;TITLE;DATE;TECHNIQUE;LOCATION;URL;FORM;TYPE;SCHOOL;TIMEFRAME\r\n"
ROWS = [
    "AACHEN, Hans von;(b. 1552, Köln, d. 1615, Praha);Allegory;1598;Oil on copper, 56 x 47 cm;Alte Pinakothek, Munich;https://www.wga.hu/html/a/aachen/allegory.html;painting;mythological;German;1601-1650\r\n",
    'ANGELICO, Fra;(b. ca. 1400, Vicchio, d. 1455, Roma);"Annunciation; small";c. 1424;Tempera;San Marco, Florence;https://www.wga.hu/html/a/angelico/12/00_annun.html;painting;religious;Italian;1401-1450\r\n',
]
BAD = [
    "only;three;fields\r\n",
    "X;;No URL;;;;not-a-url;painting;other;Italian;1401-1450\r\n",
    "Y;;;;;;https://www.wga.hu/html/y/empty_title.html;painting;other;Italian;1401-1450\r\n",
]


def run(path: Path) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_catalogue", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_it_imports_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text(HEADER + "".join(ROWS), encoding="utf-8")
    out, _ = run(path)
    assert "created 2, updated 0, unchanged 0, invalid 0" in out
    art = Artwork.objects.get(url__endswith="00_annun.html")
    assert art.title == "Annunciation; small"  # quoted field with the separator inside
    assert art.artist.display_name == "Fra Angelico"
    assert Artist.objects.count() == 2

    out, _ = run(path)
    assert "created 0, updated 0, unchanged 2, invalid 0" in out
    assert Artwork.objects.count() == 2

    path.write_text(HEADER + ROWS[0].replace("Allegory", "Allegory of Peace") + ROWS[1], encoding="utf-8")
    out, _ = run(path)
    assert "created 0, updated 1, unchanged 1, invalid 0" in out
    assert Artwork.objects.filter(title="Allegory of Peace").count() == 1


@pytest.mark.django_db
def test_it_reports_malformed_rows_with_line_numbers_and_keeps_going(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        fh.write(HEADER + BAD[0] + ROWS[0] + BAD[1] + BAD[2] + ROWS[1] + ROWS[1])
    out, err = run(path)
    assert "created 2, updated 0, unchanged 0, invalid 4" in out
    assert "line 2: expected 11 fields, found 3" in err
    assert "line 4: URL is missing" in err
    assert "line 5: TITLE is empty" in err
    assert "line 7: duplicate URL" in err


@pytest.mark.django_db
def test_it_refuses_a_file_that_is_not_a_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a;b;c\r\n1;2;3\r\n")
    with pytest.raises(CommandError, match="not a WGA catalogue"):
        run(path)
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "missing.csv")


@pytest.mark.django_db
def test_it_imports_the_bundled_full_catalogue() -> None:
    path = Path(__file__).resolve().parents[2] / "demo" / "catalog.csv.gz"
    out, err = run(path)
    assert "created 44809, updated 0, unchanged 0, invalid 0" in out, err
    assert Artwork.objects.filter(form="painting").count() == 30309

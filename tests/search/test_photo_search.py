"""Search by a photo of a person: by the garment asked for, or by each in turn; product shots as before."""

from __future__ import annotations

import json

import pytest

from tests.helpers import COLOURS, people_config, people_shop
from vestis.catalog.catalog import Catalog
from vestis.catalog.ingest import ingest
from vestis.cli.main import main
from vestis.errors import InputError
from vestis.parse.backends.test_figure import figure
from vestis.search.searcher import Searcher


@pytest.fixture
def shop(tmp_path):
    """The people shop in a catalog, and a photo of a person not in it: the red-navy figure's top
    and bottom with white shoes instead of black."""
    folder = people_shop(tmp_path / "shop")
    catalog = Catalog.create(tmp_path / "cat", people_config())
    ingest(catalog, str(folder), progress=False)
    query = tmp_path / "me.png"
    figure(COLOURS["red"], COLOURS["navy"], COLOURS["white"]).save(query)
    return catalog, folder, query


def test_each_garment_finds_its_match_in_the_catalog(shop):
    catalog, _, query = shop
    groups = Searcher(catalog).search_photo(str(query), k=3)
    assert [(g.garment, g.category, g.box) for g in groups] == [
        (0, "top", (20, 30, 80, 100)),
        (1, "bottom", (30, 100, 70, 190)),
        (2, "footwear", (30, 190, 70, 200)),
    ]
    top, bottom, shoes = (g.hits[0] for g in groups)
    assert top.path.endswith("red-navy.png") and (top.garment, top.box) == (0, (20, 30, 80, 100))
    assert bottom.path.endswith("red-navy.png") and bottom.garment == 1
    assert shoes.path.endswith("green-yellow.png") and shoes.garment == 2  # the white shoes
    assert top.to_dict()["box"] == [20, 30, 80, 100] and top.to_dict()["class"] == "top"


def test_item_searches_with_that_garment_alone(shop):
    catalog, _, query = shop
    searcher = Searcher(catalog)
    [group] = searcher.search_photo(str(query), item=2, k=3)
    each = searcher.search_photo(str(query), k=3)[2].hits  # the same query, embedded in a batch
    assert group.garment == 2 and [h.id for h in group.hits] == [h.id for h in each]
    assert [h.score for h in group.hits] == pytest.approx([h.score for h in each], abs=1e-5)


def test_an_item_the_photo_does_not_have_is_a_one_line_error(shop):
    catalog, _, query = shop
    with pytest.raises(InputError) as err:
        Searcher(catalog).search_photo(str(query), item=3)
    message = str(err.value)
    assert "\n" not in message and "--item 3" in message
    assert "0 top (20,30,80,100), 1 bottom (30,100,70,190), 2 footwear (30,190,70,200)" in message
    with pytest.raises(InputError, match="a product shot"):
        Searcher(catalog).search_photo(str(shop[1] / "products" / "navy-top.png"), item=1)


def test_a_product_shot_searches_exactly_as_before(shop):
    catalog, folder, _ = shop
    searcher = Searcher(catalog)
    product = str(folder / "products" / "red-shoe.png")
    for item in (None, 0):
        [group] = searcher.search_photo(product, item=item, k=5)
        assert group.garment is None and group.hits == searcher.search(image=product, k=5)


def test_the_cli_searches_garment_by_garment(shop, capsys, monkeypatch):
    from vestis.cli.common import console

    monkeypatch.setattr(console, "width", 200)  # tables wide enough not to fold the paths
    catalog, folder, query = shop
    base = ["search", "--catalog", str(catalog.directory), "--image", str(query), "--k", "2"]
    assert main([*base, "--item", "1", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["path"].endswith("red-navy.png") and hits[0]["garment"] == 1
    assert main([*base, "--json"]) == 0
    grouped = json.loads(capsys.readouterr().out)
    assert grouped["photo"] == str(query) and [g["class"] for g in grouped["garments"]] == [
        "top",
        "bottom",
        "footwear",
    ]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "garment 0: top (20,30,80,100)" in out and "garment 2: footwear" in out
    assert "[20,30,80,100]" in out  # the box of a garment hit beside its photo
    assert main([*base, "--item", "7"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "test-figure found 0 top" in err
    product = [
        "search",
        "--catalog",
        str(catalog.directory),
        "--image",
        str(folder / "products" / "red-shoe.png"),
    ]
    assert main([*product, "--json"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out), list)  # as before: a list of hits


def test_a_whole_catalog_lends_the_garment_parser_only_for_item(tmp_path):
    catalog = Catalog.create(tmp_path / "cat", people_config("whole"))
    assert catalog.load_parser().name == "whole"
    assert catalog.load_parser("test-figure", garments=True).name == "test-figure"
    try:
        lent = catalog.load_parser(garments=True)
    except ImportError as exc:  # the lite extra is not installed
        pytest.skip(str(exc))
    assert lent.name == "lite-parser"

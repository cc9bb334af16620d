"""Photos of people in a catalog: one item per garment, linked to its photo and box; product shots
stay one item; re-ingesting, renaming and old catalogs keep working."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3

import numpy as np
import pytest
from PIL import Image

from tests.catalog.conftest import write_photo
from tests.helpers import people_config, people_shop
from vestis.catalog.catalog import Catalog, CatalogConfig
from vestis.catalog.ingest import ingest
from vestis.catalog.store import SCHEMA_VERSION
from vestis.cli.main import main
from vestis.parse.backends.test_figure import SKIN, figure
from vestis.search.searcher import Searcher

FORMAT_1_COLUMNS = (
    "id, content_hash, source, path, added_at, meta, attributes, confidence, thumbnail, embedding"
)
FORMAT_1_ITEMS = """CREATE TABLE items_v1 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    content_hash TEXT UNIQUE NOT NULL,
    source TEXT,
    path TEXT,
    added_at TEXT NOT NULL,
    meta TEXT,
    attributes TEXT,
    confidence TEXT,
    thumbnail BLOB,
    embedding BLOB
)"""
FIGURE_BOXES = [(20, 30, 80, 100), (30, 100, 70, 190), (30, 190, 70, 200)]  # top, bottom, shoes


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def items_by_name(catalog) -> dict[str, list]:
    out: dict[str, list] = {}
    for item in catalog.store.get(catalog.store.ids()):
        out.setdefault(item.path.rsplit("/", 1)[-1], []).append(item)
    return out


@pytest.fixture
def shop(tmp_path):
    return people_shop(tmp_path / "shop")


def test_a_photo_of_a_person_gives_one_linked_item_per_garment(shop, tmp_path):
    catalog = Catalog.create(tmp_path / "cat", people_config())
    summary = ingest(catalog, str(shop), progress=False)
    assert (summary.added, summary.people, summary.garments, summary.items) == (4, 2, 6, 8)
    found = items_by_name(catalog)
    person = shop / "people" / "red-navy.png"
    garments = sorted(found["red-navy.png"], key=lambda it: it.garment)
    assert [g.box for g in garments] == FIGURE_BOXES
    assert [g.garment for g in garments] == [0, 1, 2]
    assert [g.garment_class for g in garments] == ["top", "bottom", "footwear"]
    assert [g.attributes["category"] for g in garments] == ["top", "bottom", "footwear"]  # the parser's
    assert {g.path for g in garments} == {str(person)} and {g.photo_hash for g in garments} == {
        digest(person)
    }
    assert [g.content_hash for g in garments] == [f"{digest(person)}#{n}" for n in range(3)]
    assert len({g.embedding.tobytes() for g in garments}) == 3  # each from its own crop
    product = shop / "products" / "navy-top.png"
    [item] = found["navy-top.png"]  # a product shot stays one item, exactly as without a parser
    assert (item.box, item.garment, item.garment_class) == (None, None, None)
    assert item.content_hash == item.photo_hash == digest(product)
    assert len(catalog.index) == catalog.store.count() == 8


def test_product_shots_are_as_without_a_parser(shop, tmp_path):
    products = shop / "products"
    plain = Catalog.create(tmp_path / "plain", people_config("whole"))
    parsed = Catalog.create(tmp_path / "parsed", people_config())
    ingest(plain, str(products), progress=False)
    ingest(parsed, str(products), progress=False)
    a, b = (catalog.store.get(catalog.store.ids()) for catalog in (plain, parsed))
    assert [(x.content_hash, x.attributes, x.thumbnail) for x in a] == [
        (x.content_hash, x.attributes, x.thumbnail) for x in b
    ]
    assert all((x.embedding == y.embedding).all() for x, y in zip(a, b, strict=True))
    whole = Catalog.create(tmp_path / "whole", people_config("whole"))  # the default parser
    assert ingest(whole, str(shop), progress=False).garments == 0 and whole.store.count() == 4


def test_re_ingesting_and_renaming_keep_one_set_of_garments(shop, tmp_path):
    catalog = Catalog.create(tmp_path / "cat", people_config())
    ingest(catalog, str(shop), progress=False)
    again = ingest(catalog, str(shop), progress=False)
    assert (again.added, again.duplicates, catalog.store.count()) == (0, 4, 8)
    shutil.copy(shop / "people" / "red-navy.png", shop / "copy.png")  # same bytes: a duplicate
    assert ingest(catalog, str(shop), progress=False).duplicates == 5
    (shop / "copy.png").unlink()
    (shop / "people" / "red-navy.png").rename(shop / "people" / "renamed.png")
    synced = ingest(catalog, str(shop), progress=False, sync=True)
    assert (synced.moved, synced.removed, catalog.store.count()) == (3, 0, 8)  # each garment moved
    assert len(items_by_name(catalog)["renamed.png"]) == 3
    (shop / "people" / "renamed.png").unlink()
    assert ingest(catalog, str(shop), progress=False, sync=True).removed == 3
    assert catalog.store.count() == len(catalog.index) == 5


def test_boxes_are_in_pixels_of_the_photo_even_when_decoded_smaller(tmp_path):
    (tmp_path / "src").mkdir()
    figure().resize((400, 800), Image.NEAREST).save(tmp_path / "src" / "big.png")
    catalog = Catalog.create(tmp_path / "cat", people_config())
    ingest(catalog, str(tmp_path / "src"), progress=False, max_side=200)  # decoded at 100 x 200
    garments = sorted(catalog.store.get(catalog.store.ids()), key=lambda it: it.garment)
    assert len(garments) == 2
    for garment, box in zip(garments, FIGURE_BOXES, strict=False):  # edges blur by a decoded pixel
        assert np.abs(np.subtract(garment.box, [4 * v for v in box])).max() <= 4, garment.box


def test_a_person_without_garments_is_kept_whole(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    Image.new("RGB", (60, 80), SKIN).save(folder / "face.png")  # all skin: a person, no garment
    catalog = Catalog.create(tmp_path / "cat", people_config())
    summary = ingest(catalog, str(folder), progress=False)
    assert (summary.added, summary.people, summary.garments) == (1, 0, 0)
    [item] = catalog.store.get(catalog.store.ids())
    assert item.garment is None and item.content_hash == digest(folder / "face.png")


def test_the_cli_ingests_garments_and_lists_them_with_their_boxes(shop, tmp_path, capsys):
    catalog = tmp_path / "cat"
    argv = [
        "ingest",
        str(shop),
        "-c",
        str(catalog),
        "-b",
        "majority",
        "-e",
        "test-random",
        "--index",
        "exact",
    ]
    assert main([*argv, "--parser", "test-figure", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["added"], summary["people"], summary["garments"]) == (4, 2, 6)
    assert json.loads((catalog / "catalog.json").read_text())["parser"] == "test-figure"
    assert main([*argv, "--json"]) == 0  # the catalog's parser by default: nothing new
    assert json.loads(capsys.readouterr().out)["duplicates"] == 4
    assert main(["catalog", "stats", "-c", str(catalog), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["items"], stats["photos"], stats["people"], stats["garments"]) == (8, 4, 2, 6)
    assert main(["catalog", "stats", "-c", str(catalog)]) == 0
    assert "from 4 photos: 2 of people gave 6 garment items" in capsys.readouterr().out
    assert main(["catalog", "dedup", "-c", str(catalog), "--min-similarity", "-1", "--json"]) == 0
    [group] = json.loads(capsys.readouterr().out)  # everything pairs at -1
    boxes = sorted(tuple(x["box"]) for x in group if "box" in x)
    assert len(group) == 8 and boxes == sorted(FIGURE_BOXES * 2)


def test_the_ray_engine_refuses_a_parser(shop, tmp_path, capsys):
    argv = ["ingest", str(shop), "-c", str(tmp_path / "cat"), "-e", "test-random", "--engine", "ray"]
    assert main([*argv, "--parser", "test-figure"]) == 2
    assert "--parser runs with the local engine" in capsys.readouterr().err
    assert not (tmp_path / "cat").exists()


def test_a_catalog_of_the_previous_format_opens_and_takes_garments(shop, tmp_path):
    directory = tmp_path / "old"
    old = Catalog.create(
        directory, CatalogConfig(extractor="majority", embedder="test-random", index="exact")
    )
    ingest(old, str(shop / "products"), progress=False)
    old.close()
    db = sqlite3.connect(directory / "catalog.sqlite")  # back to format 1, as vestis wrote it before
    db.execute(FORMAT_1_ITEMS)
    db.execute(f"INSERT INTO items_v1 SELECT {FORMAT_1_COLUMNS} FROM items")
    db.execute("DROP TABLE items")
    db.execute("ALTER TABLE items_v1 RENAME TO items")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.commit()
    assert [r[1] for r in db.execute("PRAGMA table_info(items)")] == FORMAT_1_COLUMNS.split(", ")
    db.close()
    config = json.loads((directory / "catalog.json").read_text())
    config.pop("parser"), config.pop("parser_options")  # catalog.json of before, too
    (directory / "catalog.json").write_text(json.dumps(config))

    catalog = Catalog.open(directory)
    assert catalog.config.parser == "whole" and catalog.store.meta["schema_version"] == SCHEMA_VERSION
    items = catalog.store.get(catalog.store.ids())
    assert len(items) == 2 and all(it.photo_hash == it.content_hash and it.box is None for it in items)
    hits = Searcher(catalog).search(image=str(shop / "products" / "navy-top.png"), k=1)
    assert hits[0].path.endswith("navy-top.png")
    assert ingest(catalog, str(shop / "products"), progress=False).duplicates == 2
    summary = ingest(catalog, str(shop / "people"), progress=False, parser="test-figure")
    assert (summary.people, summary.garments, catalog.store.count()) == (2, 6, 8)


def test_random_photos_stay_product_shots(tmp_path):
    for i in range(3):
        write_photo(tmp_path / "src" / f"{i}.png", i)
    catalog = Catalog.create(tmp_path / "cat", people_config())
    assert ingest(catalog, str(tmp_path / "src"), progress=False).people == 0


def test_street_photos_become_garments_with_the_shipped_parser(shared_data, tmp_path):
    pytest.importorskip("scipy")
    from vestis.data.street import load_street
    from vestis.parse.base import COARSE

    photos = [p for p in load_street(shared_data / "street") if p.split() == "val" and p.mask is not None][:2]
    for p in photos:
        shutil.copy(p.image, tmp_path / p.image.name)
    config = CatalogConfig(extractor="lite", embedder="lite", index="exact", parser="lite-parser")
    catalog = Catalog.create(tmp_path / "cat", config)
    summary = ingest(catalog, str(tmp_path), progress=False)
    assert (summary.added, summary.people) == (2, 2) and summary.garments >= 4
    for name, garments in items_by_name(catalog).items():
        w, h = Image.open(tmp_path / name).size
        assert [g.garment for g in sorted(garments, key=lambda g: g.garment)] == list(range(len(garments)))
        assert all(0 <= g.box[0] < g.box[2] <= w and 0 <= g.box[1] < g.box[3] <= h for g in garments)
        assert all(g.garment_class in COARSE for g in garments)
    query = str(tmp_path / photos[0].image.name)
    [group] = Searcher(catalog).search_photo(query, item=0, k=1)
    assert group.hits[0].path == query and group.hits[0].garment == 0  # its own garment, first

"""Folder → catalog → search, end to end on generated images with a tiny random model."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.helpers import draw_item
from vestis.cli.main import main

ITEMS = [("red", "top"), ("navy", "bottom"), ("yellow", "footwear"), ("green", "top"), ("black", "bottom")]


@pytest.fixture
def shop(tmp_path):
    folder = tmp_path / "shop"
    for i, (colour, category) in enumerate(ITEMS):
        draw_item(folder / f"{colour}-{category}-{i}.jpg", colour, category, size=72 + 6 * i)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    (folder / "readme.txt").write_text("not an image")
    return folder


@pytest.fixture(params=["faiss", "exact", "qdrant"])
def index_backend(request):
    if request.param == "faiss":
        pytest.importorskip("faiss")
    if request.param == "qdrant":
        pytest.importorskip("qdrant_client")
    return request.param


def ingest(shop, catalog, model, index, capsys):
    code = main(
        ["ingest", str(shop), "--catalog", str(catalog), "--model", str(model), "--index", index, "--json"]
    )
    assert code == 0
    return json.loads(capsys.readouterr().out)


def test_ingest_is_idempotent_incremental_and_reports_skips(shop, tmp_path, tiny_lite, index_backend, capsys):
    catalog = tmp_path / "catalog"
    first = ingest(shop, catalog, tiny_lite, index_backend, capsys)
    assert first["added"] == len(ITEMS) and first["skipped"] == 1
    assert first["skip_reasons"] in ({"truncated": 1}, {"corrupt": 1})
    again = ingest(shop, catalog, tiny_lite, index_backend, capsys)
    assert again["added"] == 0 and again["duplicates"] == len(ITEMS)
    shutil.copy(shop / "red-top-0.jpg", shop / "copy-of-red.jpg")  # same bytes, new name: a duplicate
    draw_item(shop / "new" / "white-top.jpg", "white", "top")
    third = ingest(shop, catalog, tiny_lite, index_backend, capsys)
    assert third["added"] == 1 and third["duplicates"] == len(ITEMS) + 1
    assert main(["catalog", "stats", "--catalog", str(catalog), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["items"] == stats["indexed"] == len(ITEMS) + 1


def test_search_text_image_composed_and_filters(shop, tmp_path, tiny_lite, index_backend, capsys):
    catalog = tmp_path / "catalog"
    ingest(shop, catalog, tiny_lite, index_backend, capsys)
    assert main(["search", "red top", "--catalog", str(catalog), "--k", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and hits[0]["score"] >= hits[-1]["score"]
    photo = str(shop / "navy-bottom-1.jpg")
    assert main(["search", "--catalog", str(catalog), "--image", photo, "--k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["path"].endswith("navy-bottom-1.jpg")  # finds itself
    assert main(["search", "--catalog", str(catalog), "--image", photo, "--modify", "in red", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)
    # filters: whatever the random model predicted, every hit must satisfy the filter
    assert main(["catalog", "stats", "--catalog", str(catalog), "--json"]) == 0
    category = json.loads(capsys.readouterr().out)["facets"]["category"][0][0]
    assert (
        main(["search", "garment", "--catalog", str(catalog), "--where", f"category = {category}", "--json"])
        == 0
    )
    hits = json.loads(capsys.readouterr().out)
    assert hits and all(h["attributes"]["category"] == category for h in hits)
    assert (
        main(["search", "garment", "--catalog", str(catalog), "--where", f"category != {category}", "--json"])
        == 0
    )
    assert all(h["attributes"]["category"] != category for h in json.loads(capsys.readouterr().out))


def test_bad_queries_are_clear_errors(shop, tmp_path, tiny_lite, capsys):
    catalog = tmp_path / "catalog"
    ingest(shop, catalog, tiny_lite, "exact", capsys)
    assert main(["search", "x", "--catalog", str(catalog), "--where", "colour = chartreuse"]) == 2
    assert "chartreuse" in capsys.readouterr().err
    assert main(["search", "--catalog", str(catalog), "--modify", "in red"]) == 2
    assert main(["search", "x", "--catalog", str(tmp_path / "nope")]) == 2
    assert "no catalog" in capsys.readouterr().err


def test_index_is_repaired_from_the_database_after_a_crash(shop, tmp_path, tiny_lite, capsys):
    from vestis.catalog.catalog import INDEX_DIR, Catalog

    catalog = tmp_path / "catalog"
    ingest(shop, catalog, tiny_lite, "exact", capsys)
    shutil.rmtree(catalog / INDEX_DIR)  # as if killed after the database commit, before the index save
    reopened = Catalog.open(catalog)
    assert len(reopened.index) == len(ITEMS)
    assert (catalog / INDEX_DIR / "CURRENT.json").is_file()


def test_catalog_settings_cannot_be_mixed(shop, tmp_path, tiny_lite, capsys):
    catalog = tmp_path / "catalog"
    ingest(shop, catalog, tiny_lite, "exact", capsys)
    assert (
        main(["ingest", str(shop), "--catalog", str(catalog), "--model", str(tiny_lite), "--index", "faiss"])
        == 2
    )
    assert "created with index='exact'" in capsys.readouterr().err

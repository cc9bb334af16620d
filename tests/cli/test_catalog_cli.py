"""Catalog commands on a small catalog (pixel-colour attributes, test-random vectors)."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_errors_cli import one_line_error
from tests.helpers import draw_item
from vestis.cli.main import main

ITEMS = [("red", "top"), ("navy", "bottom"), ("black", "footwear"), ("green", "top")]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shop")
    for i, (colour, category) in enumerate(ITEMS):
        draw_item(
            folder / "a-long-directory-name-to-show-paths-are-never-cut" / f"{colour}-{category}.jpg",
            colour,
            category,
            size=72 + 6 * i,
        )
    from PIL import Image

    original = folder / "a-long-directory-name-to-show-paths-are-never-cut" / "red-top.jpg"
    Image.open(original).resize((80, 104)).save(folder / "red-top-resized.jpg", quality=70)
    return folder


@pytest.fixture(scope="module")
def catalog(shop, tmp_path_factory):
    directory = tmp_path_factory.mktemp("catalog") / "cat"
    argv = ["ingest", str(shop), "-c", str(directory), "-b", "pixel-colour", "-e", "test-random"]
    assert main([*argv, "--index", "exact", "--json"]) == 0
    return directory


def test_search_table_shows_ids_and_whole_paths(catalog, capsys):
    assert main(["search", "red top", "-c", str(catalog), "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert all(isinstance(h["id"], int) for h in hits)
    assert main(["search", "red top", "-c", str(catalog)]) == 0
    out = capsys.readouterr().out
    assert "id" in out.splitlines()[1]
    flat = "".join(part.strip() for line in out.splitlines() for part in line.split("│"))
    for h in hits:
        assert h["path"].rsplit("/", 1)[-1] in flat  # folded when narrow, never cut
        assert str(h["id"]) in out


def test_search_narrow_terminal_keeps_every_path(catalog, capsys, monkeypatch):
    from vestis.cli.common import console

    monkeypatch.setattr(console, "_width", 40)
    assert main(["search", "red top", "-c", str(catalog), "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert "┃" not in out  # one hit per line, not a cropped table
    assert out.count("a-long-directory-name-to-show-paths-are-never-cut/") + out.count("red-top-resized") == 2


def test_search_image_errors_are_one_line(catalog, tmp_path, capsys):
    assert main(["search", "-c", str(catalog), "--image", str(tmp_path / "missing.jpg")]) == 2
    assert "missing.jpg: not_found" in one_line_error(capsys)
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    assert main(["search", "-c", str(catalog), "--image", str(notes)]) == 2
    assert "not_image" in one_line_error(capsys)


def test_dedup_min_similarity(catalog, capsys):
    assert main(["catalog", "dedup", "-c", str(catalog), "--min-similarity", "0.9", "--json"]) == 0
    groups = json.loads(capsys.readouterr().out)
    names = [sorted(x["path"].rsplit("/", 1)[-1] for x in g) for g in groups]
    assert ["red-top-resized.jpg", "red-top.jpg"] in names
    assert main(["catalog", "dedup", "-c", str(catalog), "--min-similarity", "2"]) == 2
    assert "min_similarity is a cosine similarity" in one_line_error(capsys)


def test_outfits_score_needs_ids_or_photos(catalog, capsys):
    assert main(["outfits", "score", "abc", "1", "-c", str(catalog)]) == 2
    assert "'abc' is neither a catalog item id nor a photo" in one_line_error(capsys)


def test_ingest_unknown_engine_creates_nothing(shop, tmp_path, capsys):
    target = tmp_path / "cat"
    assert main(["ingest", str(shop), "-c", str(target), "-b", "pixel-colour", "--engine", "spark"]) == 2
    assert "unknown engine 'spark'" in one_line_error(capsys)
    assert not target.exists()


def test_ingest_missing_source(tmp_path, capsys):
    argv = ["ingest", str(tmp_path / "missing_dir"), "-c", str(tmp_path / "cat"), "-b", "pixel-colour"]
    assert main([*argv, "-e", "test-random"]) == 2
    assert "not found" in one_line_error(capsys)


def test_ingest_empty_source(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = ["ingest", str(tmp_path / "empty"), "-c", str(tmp_path / "cat"), "-b", "pixel-colour"]
    assert main([*argv, "-e", "test-random"]) == 2
    assert "no images" in one_line_error(capsys)
    assert not (tmp_path / "cat" / "catalog.json").exists()


def test_not_a_catalog(tmp_path, capsys):
    assert main(["catalog", "stats", "-c", str(tmp_path)]) == 2
    assert "no catalog at" in one_line_error(capsys)

"""Every file an ingest meets is ingested or recorded with a reason; counts are rows inserted;
decoding memory is bounded; bad sources and bad queries are one-line errors."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.catalog.conftest import write_photo
from vestis.catalog.catalog import CONFIG_NAME, Catalog
from vestis.catalog.ingest import ingest, open_source, read_source
from vestis.cli.main import main
from vestis.data import DatasetError, Example
from vestis.images import REASONS, load_image, path_text

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file types and byte names")


def skipped(summary) -> dict[str, str]:
    return {Path(p).name: reason for p, reason, _ in summary.skipped}


@posix_only
def test_odd_entries_are_recorded_and_never_block(tmp_path, fast_config):
    src = tmp_path / "src"
    write_photo(src / "ok.png", 0)
    os.mkfifo(src / "pipe.jpg")  # opening it for reading would block forever
    (src / "loop.jpg").symlink_to("loop.jpg")
    (src / "dangling.png").symlink_to(src / "gone.png")
    (src / "folder.jpg").mkdir()
    write_photo(src / "folder.jpg" / "inside.png", 1)  # a directory with an image suffix is still walked
    (src / "linkdir.jpg").symlink_to(src / "folder.jpg")
    (src / "loopdir").symlink_to(src)  # links to directories are not followed: no endless walk
    catalog = Catalog.create(tmp_path / "cat", fast_config())
    summary = ingest(catalog, str(src), progress=False)
    assert summary.added == 2
    assert skipped(summary) == {
        "pipe.jpg": "not_a_file",
        "loop.jpg": "not_a_file",
        "dangling.png": "not_found",
        "folder.jpg": "not_a_file",
        "linkdir.jpg": "not_a_file",
    }
    stored = {Path(s.source_path).name: s.reason for s in catalog.store.skipped_files()}
    assert stored == skipped(summary)
    assert set(stored.values()) <= set(REASONS)


@posix_only
def test_non_utf8_names_are_ingested_losslessly(tmp_path, fast_config):
    src = tmp_path / "src"
    src.mkdir()
    raw = os.fsencode(src) + b"/caf\xe9.png"
    write_photo(Path(os.fsdecode(raw)), 3)
    write_photo(src / "plain.png", 4)
    catalog = Catalog.create(tmp_path / "cat", fast_config())
    assert ingest(catalog, str(src), progress=False).added == 2
    paths = sorted(item.path for item in catalog.store.get(catalog.store.ids()))
    assert paths[0].endswith("/caf\\xe9.png") and paths[0] == path_text(os.fsdecode(raw))
    assert paths[0].encode("utf-8").decode("unicode_escape").encode("latin-1") == raw  # ASCII tmp path
    again = ingest(catalog, str(src), progress=False)  # the same name gives the same text: a duplicate
    assert (again.added, again.duplicates) == (0, 2)
    assert main(["search", "x", "--catalog", str(tmp_path / "cat"), "--json"]) == 0  # printable results


def test_unreadable_file_is_skipped_not_a_traceback(tmp_path, fast_config, monkeypatch):
    # chmod 000 does not stop root (the tests may run as root), so opening it is made to fail instead
    src = tmp_path / "src"
    write_photo(src / "a.png", 0)
    locked = write_photo(src / "locked.png", 1)
    real_open = os.open

    def deny(path, *args, **kwargs):
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny)
    catalog = Catalog.create(tmp_path / "cat", fast_config())
    summary = ingest(catalog, str(src), progress=False)
    assert summary.added == 1 and skipped(summary) == {"locked.png": "unreadable"}
    assert catalog.store.skipped_files()[0].detail == "Permission denied"
    real_builtin_open = open
    monkeypatch.setattr(
        "builtins.open",
        lambda path, *a, **k: (
            deny(path) if os.fspath(path) == str(locked) else real_builtin_open(path, *a, **k)
        ),
    )
    with pytest.raises(Exception) as info:
        load_image(locked)  # the library path too: a typed error, not a PermissionError
    assert getattr(info.value, "reason", None) == "unreadable"


@posix_only
def test_unlistable_directory_is_recorded(tmp_path, monkeypatch, fast_config):
    src = tmp_path / "src"
    write_photo(src / "a.png", 0)
    write_photo(src / "private" / "b.png", 1)
    real_scandir = os.scandir

    def deny(path="."):
        if os.fspath(path).endswith("private"):
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", deny)
    catalog = Catalog.create(tmp_path / "cat", fast_config())
    summary = ingest(catalog, str(src), progress=False)
    assert summary.added == 1 and skipped(summary) == {"private": "unreadable"}


def test_read_source_refuses_non_regular_files(tmp_path):
    (tmp_path / "d.jpg").mkdir()
    with pytest.raises(Exception) as info:
        read_source(Example("d", str(tmp_path / "d.jpg")))
    assert info.value.reason == "not_a_file"
    with pytest.raises(Exception) as info:
        read_source(Example("x", str(tmp_path / "missing.jpg")))
    assert info.value.reason == "not_found"


def test_added_counts_rows_inserted_not_rows_attempted(tmp_path, fast_config):
    """Two ingests of the same files into one catalog: the second one's batch finds the first's rows."""
    src = tmp_path / "src"
    for i in range(6):
        write_photo(src / f"{i}.png", i)
    first = Catalog.create(tmp_path / "cat", fast_config())
    second = Catalog.open(tmp_path / "cat")
    original = second.store.has_hash
    second.store.has_hash = lambda hashes: set()  # as if it checked before the first one committed
    a = ingest(first, str(src), progress=False)
    b = ingest(second, str(src), progress=False)
    second.store.has_hash = original
    assert (a.added, b.added, b.duplicates) == (6, 0, 6)
    run = second.store.ingest_runs()[-1]
    assert (run.added, run.duplicates) == (0, 6)
    assert first.store.count() == 6


def test_huge_images_are_decoded_small(tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (4000, 3000), (200, 10, 10)).save(big)
    img = load_image(big, max_side=1024)
    assert img.size == (1024, 768) and img.mode == "RGB"
    jpeg = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (10, 200, 10)).save(jpeg)
    assert load_image(jpeg, max_side=1024).size == (1024, 768)
    small = write_photo(tmp_path / "small.png", 0)
    assert load_image(small, max_side=1024).tobytes() == load_image(small).tobytes()  # untouched


def test_batches_close_at_the_pixel_budget(tmp_path, fast_config, monkeypatch):
    src = tmp_path / "src"
    for i in range(5):
        write_photo(src / f"{i}.png", i, size=(100, 100))
    sizes = []
    import vestis.extract.items as items_module  # each batch's photos are described together

    real = items_module.extract_and_embed
    monkeypatch.setattr(
        items_module,
        "extract_and_embed",
        lambda ex, em, images: sizes.append(len(images)) or real(ex, em, images),
    )
    catalog = Catalog.create(tmp_path / "cat", fast_config())
    ingest(catalog, str(src), progress=False, batch_size=64, batch_pixels=25_000)
    assert sizes == [3, 2]


def test_missing_and_empty_sources_leave_no_catalog(tmp_path, capsys):
    cat = tmp_path / "cat"
    assert main(["ingest", str(tmp_path / "nope"), "--catalog", str(cat), "--embedder", "test-random"]) == 2
    assert "not found" in capsys.readouterr().err and not (cat / CONFIG_NAME).exists()
    (tmp_path / "empty").mkdir()
    assert main(["ingest", str(tmp_path / "empty"), "--catalog", str(cat), "--embedder", "test-random"]) == 2
    err = capsys.readouterr().err
    assert "no images found in" in err and not (cat / CONFIG_NAME).exists()
    with pytest.raises(DatasetError, match="no images found"):
        open_source(str(tmp_path / "empty"))


def test_majority_backend_builds_a_searchable_catalog_and_bounds_are_one_line_errors(tmp_path, capsys):
    src = tmp_path / "src"
    for i in range(4):
        write_photo(src / f"{i}.png", i)
    cat = str(tmp_path / "cat")
    args = [
        "ingest",
        str(src),
        "--catalog",
        cat,
        "--backend",
        "majority",
        "--embedder",
        "test-random",
        "--json",
    ]
    assert main([*args, "--index", "exact"]) == 0
    assert json.loads(capsys.readouterr().out)["added"] == 4
    assert main(["search", "red top", "--catalog", cat, "--json", "--k", "2"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert main(["search", "--catalog", cat, "--image", str(src / "1.png"), "--k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["path"].endswith("1.png")
    assert main(["search", "red", "--catalog", cat, "--k", "1000000000"]) == 2
    err = capsys.readouterr().err
    assert "k must be between 1 and" in err and len(err.strip().splitlines()) == 1
    assert main(["search", "x" * 1_000_000, "--catalog", cat]) == 2
    err = capsys.readouterr().err
    assert "the limit is" in err and len(err.strip().splitlines()) == 1


def test_ingest_gives_the_shipped_model_the_same_attributes_as_extract(tmp_path):
    """Bounded decoding leaves ordinary images as they are: ingest and extract agree on the CC0 photos."""
    pytest.importorskip("efficientnet_lite_pytorch")
    from vestis.catalog.catalog import CatalogConfig

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "cc0"
    catalog = Catalog.create(tmp_path / "cat", CatalogConfig(index="exact"))
    ingest(catalog, str(fixtures), progress=False)
    stored = {Path(item.path).name: item.attributes for item in catalog.store.get(catalog.store.ids())}
    photos = sorted(fixtures.glob("*.jpg"))
    direct = catalog.extractor.extract([str(p) for p in photos])
    assert stored == {p.name: r.attributes for p, r in zip(photos, direct, strict=True)}

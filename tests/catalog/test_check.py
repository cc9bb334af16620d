"""``check_catalog``: every kind of damage a crash (or a disk) leaves is found, and what derives from
the database is repaired so that a second check is clean."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from tests.catalog.conftest import ingested_catalog, write_photo
from tests.cli.test_errors_cli import one_line_error
from tests.helpers import people_config, people_shop
from vestis.catalog.catalog import DB_NAME, INDEX_DIR, Catalog
from vestis.catalog.check import check_catalog
from vestis.catalog.index import load_index
from vestis.catalog.index_folder import MANIFEST, IndexFolder
from vestis.catalog.ingest import ingest
from vestis.cli.main import main
from vestis.search.searcher import Searcher

N = 6


def build(tmp_path: Path, config, n: int = N) -> Path:
    return ingested_catalog(tmp_path, config, n, seed=700)


def generation(directory: Path) -> Path:
    folder = directory / INDEX_DIR
    return folder / json.loads((folder / MANIFEST).read_text())["generation"]


def sql(directory: Path, statement: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(directory / DB_NAME) as db:
        return db.execute(statement, params).fetchall()


def tamper(directory: Path, change) -> None:
    """Change the saved index through its backend (its files, or qdrant's points), in place."""
    path = generation(directory)
    index = load_index(path)
    change(index)
    index.save(path)
    index.close()


def problems(report) -> list[tuple[str, str]]:
    return [(f.part, f.severity) for f in report.findings]


def assert_repaired_then_clean(directory: Path, *parts: str) -> None:
    report = check_catalog(directory, repair=True)
    assert report.ok and {f.part for f in report.findings} == set(parts), report.to_dict()
    assert all(f.repaired for f in report.findings), report.to_dict()
    again = check_catalog(directory)
    assert again.ok and not again.findings, again.to_dict()


@pytest.fixture(params=["exact", "faiss", "qdrant"])
def backend(request) -> str:
    if request.param != "exact":
        pytest.importorskip("faiss" if request.param == "faiss" else "qdrant_client")
    return request.param


@pytest.fixture
def shop(tmp_path, fast_config, backend) -> Path:
    return build(tmp_path, fast_config(backend))


def test_a_healthy_catalog_checks_clean(shop):
    report = check_catalog(shop)
    assert report.ok and not report.findings, report.to_dict()
    assert report.checked == {"items": N, "embeddings": N, "thumbnails": N, "indexed": N}
    assert report.verdict() == f"catalog ok ({N} items checked)"
    assert check_catalog(shop, repair=True).findings == []


def test_an_item_deleted_behind_the_index_is_found_and_the_index_rebuilt(shop):
    sql(shop, "DELETE FROM items WHERE id = 2")
    report = check_catalog(shop)
    assert not report.ok and problems(report) == [("index", "error")]
    assert "ids in the index with no item with an embedding in the database" in report.findings[0].message
    assert report.findings[0].message.endswith("(deleted behind its back?): 1 (ids 2)")
    assert_repaired_then_clean(shop, "index")


def test_an_altered_index_vector_is_found(shop):
    def alter(index):
        vector = index.stored_vectors([3])[0]
        index.add([3], -vector[None, :])

    tamper(shop, alter)
    report = check_catalog(shop)
    assert problems(report) == [("index", "error")]
    assert "differ from the database's (read back): 1 (ids 3)" in report.findings[0].message
    assert_repaired_then_clean(shop, "index")
    photo = sql(shop, "SELECT path FROM items WHERE id = 3")[0][0]
    assert Searcher(Catalog.open(shop)).search(image=photo, k=1)[0].id == 3


def test_an_extra_id_in_the_index_is_found_and_removed(shop):
    tamper(shop, lambda index: index.add([999], index.stored_vectors([1])))
    report = check_catalog(shop)
    messages = " | ".join(f.message for f in report.findings)
    assert "(deleted behind its back?): 1 (ids 999)" in messages
    assert f"says {N} vectors, its generation holds {N + 1}" in messages
    assert_repaired_then_clean(shop, "index")
    index, _ = IndexFolder(shop / INDEX_DIR).load()
    assert index.stored_ids().tolist() == list(range(1, N + 1))  # qdrant's points too
    index.close()


@pytest.mark.parametrize("damage", ["garbage", "torn", "missing"])
def test_a_damaged_manifest_is_found_and_a_new_generation_saved(tmp_path, fast_config, damage):
    shop = build(tmp_path, fast_config("exact"))
    manifest = shop / INDEX_DIR / MANIFEST
    if damage == "garbage":
        manifest.write_bytes(b"\x00\xffnot json")
    elif damage == "torn":
        manifest.write_text(manifest.read_text()[:12])
    else:
        manifest.unlink()
    report = check_catalog(shop)
    assert not report.ok and problems(report) == [("index", "error")], report.to_dict()
    assert MANIFEST in report.findings[0].message
    assert_repaired_then_clean(shop, "index")
    assert [p.name for p in (shop / INDEX_DIR).glob("gen-*")] == [generation(shop).name]


def test_leftover_generations_are_a_warning_and_removed(tmp_path, fast_config):
    shop = build(tmp_path, fast_config("exact"))
    current = generation(shop)
    for name in ("gen-1-1-aaaaaa", "gen-2-1-bbbbbb"):  # older saves than the current one
        shutil.copytree(current, shop / INDEX_DIR / name)
    (shop / INDEX_DIR / f".{MANIFEST}.gen-3.tmp").write_text("{")  # a save killed before its rename
    report = check_catalog(shop)
    assert report.ok and problems(report) == [("index", "warning")]
    assert report.findings[0].count == 2  # the newest other generation is kept for readers
    assert_repaired_then_clean(shop, "index")
    assert sorted(p.name for p in (shop / INDEX_DIR).glob("gen-*")) == sorted(
        [current.name, "gen-2-1-bbbbbb"]
    )


def test_an_index_lagging_the_database_is_a_warning(tmp_path, fast_config):
    from vestis.catalog.store import ItemRecord

    shop = build(tmp_path, fast_config("exact"))
    thumb = sql(shop, "SELECT thumbnail FROM items WHERE id = 1")[0][0]
    catalog = Catalog.open(shop)
    dim = catalog.store.embedding_dim()
    vector = np.ones(dim, np.float32) / np.sqrt(dim)
    catalog.store.add_items([ItemRecord("f" * 64, thumbnail=thumb, embedding=vector)])  # the index not told
    catalog.close()
    report = check_catalog(shop)
    assert report.ok and problems(report) == [("index", "warning")]
    assert f"items added since the index was last saved: 1 (ids {N + 1})" in report.findings[0].message
    assert_repaired_then_clean(shop, "index")


def test_a_backend_that_cannot_read_back_is_checked_by_self_search(tmp_path, fast_config, monkeypatch):
    from vestis.catalog.index.exact import ExactIndex

    shop = build(tmp_path, fast_config("exact"))
    tamper(shop, lambda index: index.add([4], -index.stored_vectors([4])))
    monkeypatch.setattr(ExactIndex, "_stored_ids", lambda self: None)
    monkeypatch.setattr(ExactIndex, "_stored_vectors", lambda self, ids: None)
    report = check_catalog(shop)
    assert problems(report) == [("index", "error")]
    assert "(by self-search on a sample of 6): 1 (ids 4)" in report.findings[0].message
    assert_repaired_then_clean(shop, "index")


def test_corrupt_and_missing_thumbnails_are_made_again_from_the_photos(tmp_path, fast_config):
    shop = build(tmp_path, fast_config("exact"))
    before = dict(sql(shop, "SELECT id, thumbnail FROM items"))
    sql(shop, "UPDATE items SET thumbnail = ? WHERE id = 1", (b"garbage",))
    sql(shop, "UPDATE items SET thumbnail = ? WHERE id = 2", (before[2][: len(before[2]) // 2],))
    sql(shop, "UPDATE items SET thumbnail = NULL WHERE id = 3")
    report = check_catalog(shop)
    assert problems(report) == [("thumbnails", "error"), ("thumbnails", "error")]
    assert report.findings[0].message == "thumbnails missing: 1 (ids 3)"
    assert report.findings[1].message == "thumbnails corrupt (they do not decode): 2 (ids 1, 2)"
    assert_repaired_then_clean(shop, "thumbnails")
    assert dict(sql(shop, "SELECT id, thumbnail FROM items")) == before  # exactly what ingest made


def test_a_thumbnail_whose_photo_is_gone_cannot_be_made_again(tmp_path, fast_config, capsys):
    shop = build(tmp_path, fast_config("exact"))
    sql(shop, "UPDATE items SET thumbnail = ? WHERE id IN (1, 2)", (b"garbage",))
    path = sql(shop, "SELECT path FROM items WHERE id = 1")[0][0]
    Path(path).unlink()
    other = sql(shop, "SELECT path FROM items WHERE id = 2")[0][0]
    write_photo(Path(other), 1)  # same name, other content: not the item's photo any more
    report = check_catalog(shop, repair=True)
    assert not report.ok
    left = report.remaining
    assert [(f.part, f.count) for f in left] == [("thumbnails", 2)]
    assert "0 made again, 2 could not be (source photo changed since ingest; source photo missing)" in (
        left[0].message
    )
    assert main(["catalog", "check", "-c", str(shop)]) == 1
    assert "problems remain: 1 error" in capsys.readouterr().out


def test_a_garment_thumbnail_is_cut_from_its_photo_again(tmp_path):
    shop = people_shop(tmp_path / "shop")
    catalog = Catalog.create(tmp_path / "cat", people_config())
    ingest(catalog, str(shop), progress=False)
    catalog.close()
    directory = tmp_path / "cat"
    garments = sql(directory, "SELECT id, thumbnail FROM items WHERE box IS NOT NULL ORDER BY id")
    assert len(garments) == 6
    damaged = [garments[0][0], garments[4][0]]
    sql(directory, "UPDATE items SET thumbnail = ? WHERE box IS NOT NULL AND id IN (?, ?)", (b"x", *damaged))
    assert_repaired_then_clean(directory, "thumbnails")
    assert sql(directory, "SELECT id, thumbnail FROM items WHERE box IS NOT NULL ORDER BY id") == garments


def test_unfinished_and_unmarked_uploads(tmp_path, fast_config):
    shop = build(tmp_path, fast_config("exact"))
    uploads = shop / "uploads"
    stale, young = uploads / ".tmp-0123456789abcdef", uploads / ".tmp-fedcba9876543210"
    for folder in (stale, young):
        write_photo(folder / "000-photo.png", 77)
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    accepted = uploads / "a1b2c3d4e5f60718"
    write_photo(accepted / "000-new.png", 901)
    write_photo(accepted / "001-new.png", 902)
    done = uploads / "0000000000000001"
    write_photo(done / "000-old.png", 700)  # ingested and marked: nothing to do
    (done / ".done").touch()

    report = check_catalog(shop)
    assert report.ok and problems(report) == [("uploads", "warning"), ("uploads", "warning")]
    assert (
        "never accepted (.tmp-*): 2 (.tmp-0123456789abcdef, .tmp-fedcba9876543210)"
        in report.findings[0].message
    )
    assert "not wholly ingested (no .done): 1 (a1b2c3d4e5f60718)" in report.findings[1].message

    report = check_catalog(shop, repair=True)
    unfinished, pending = report.findings
    assert pending.repaired and not unfinished.repaired and "1 younger than 10 min" in unfinished.message
    assert not stale.exists() and young.exists() and (accepted / ".done").exists()
    catalog = Catalog.open(shop)
    assert catalog.store.count() == N + 2 and len(catalog.index) == N + 2
    catalog.close()
    shutil.rmtree(young)
    again = check_catalog(shop)
    assert again.ok and not again.findings, again.to_dict()


@pytest.mark.parametrize("damage", ["header", "pages"])
def test_a_corrupt_database_cannot_be_repaired(tmp_path, fast_config, capsys, damage):
    shop = build(tmp_path, fast_config("exact"), n=40)
    path = shop / DB_NAME
    data = bytearray(path.read_bytes())
    if damage == "header":
        data[:100] = os.urandom(100)
    else:
        page = 4096
        for start in range(2 * page, len(data) - page, 3 * page):  # every third page after the schema
            data[start + 8 : start + page] = b"\x5a" * (page - 8)
    path.write_bytes(bytes(data))
    report = check_catalog(shop, repair=True)
    assert not report.ok and problems(report) == [("database", "error")], report.to_dict()
    found = report.findings[0]
    assert "restore it from a backup" in found.message and "\n" not in found.message
    assert found.count == 1 if damage == "header" else found.count > 1
    assert main(["catalog", "check", "-c", str(shop)]) == 1
    out = capsys.readouterr().out
    assert "catalog.sqlite is damaged" in out and "problems remain: 1 error" in out


def test_database_content_errors_are_reported_and_block_the_index_rebuild(tmp_path, fast_config):
    shop = build(tmp_path, fast_config("exact"))
    sql(shop, "UPDATE items SET attributes = '{\"colour\": ' WHERE id = 1")
    sql(shop, "UPDATE items SET embedding = ? WHERE id = 2", (np.zeros(3, np.float32).tobytes(),))
    dim = len(sql(shop, "SELECT embedding FROM items WHERE id = 3")[0][0]) // 4
    sql(shop, "UPDATE items SET embedding = ? WHERE id = 3", (np.full(dim, np.nan, np.float32).tobytes(),))
    sql(shop, "UPDATE items SET embedding = NULL WHERE id = 4")
    sql(shop, "INSERT INTO ingest_log (started_at, source) VALUES ('2024-01-01T00:00:00+00:00', 'photos/')")
    report = check_catalog(shop, repair=True)
    found = {(f.part, f.severity, f.message.split(";")[0]) for f in report.findings}
    assert ("database", "error", "items whose attributes JSON does not parse: 1 (ids 1)") in found
    assert (
        "database",
        "error",
        "items whose embedding is not of the catalog's dimension 32: 1 (ids 2)",
    ) in found
    assert ("database", "error", "items whose embedding holds NaN or infinite values: 1 (ids 3)") in found
    assert ("database", "warning", "items without an embedding (search cannot find them): 1 (ids 4)") in found
    run = "ingest runs that did not finish: 1 (#2 of photos/ at 2024-01-01T00:00:00+00:00)"
    assert ("database", "warning", run) in found
    extra = "ids in the index with no item with an embedding in the database (deleted behind its back?)"
    extra += ": 1 (ids 4)"
    assert ("index", "error", extra) in found
    assert not report.ok and "the index was not rebuilt: fix the database's errors first" in report.notes
    assert not any(f.repaired for f in report.findings)


def test_an_interrupted_ingest_is_a_warning_until_the_same_ingest_runs_again(tmp_path, fast_config):
    shop = build(tmp_path, fast_config("exact"))
    source = str(tmp_path / "src")
    catalog = Catalog.open(shop)
    catalog.store.begin_ingest(source)  # never finished: killed
    report = check_catalog(catalog)
    assert report.ok and problems(report) == [("database", "warning")]
    assert report.findings[0].message.startswith(f"ingest runs that did not finish: 1 (#2 of {source} at ")
    ingest(catalog, source, progress=False)
    assert check_catalog(catalog).findings == []
    catalog.close()


def test_a_writer_holding_the_lock_blocks_repairs(tmp_path, fast_config):
    shop = build(tmp_path, fast_config("exact"))
    sql(shop, "DELETE FROM items WHERE id = 2")
    other = IndexFolder(shop / INDEX_DIR)  # another open file description: as another process
    assert other.try_lock()
    try:
        report = check_catalog(shop, repair=True)
    finally:
        other.unlock()
    assert not report.ok and not any(f.repaired for f in report.findings)
    assert "another process holds the index writer lock" in report.notes[0]


def test_an_unreadable_config_is_reported_and_the_rest_still_checked(tmp_path, fast_config):
    shop = build(tmp_path, fast_config("exact"))
    (shop / "catalog.json").write_text("{")
    sql(shop, "DELETE FROM items WHERE id = 2")
    report = check_catalog(shop, repair=True)
    assert problems(report) == [("config", "error"), ("index", "error")]
    assert "nothing repaired: catalog.json cannot be read" in report.notes[0]


# ---- the command -----------------------------------------------------------------------------------
def test_cli_exit_codes_and_json(tmp_path, fast_config, capsys):
    shop = build(tmp_path, fast_config("exact"))
    assert main(["catalog", "check", "-c", str(shop)]) == 0
    assert f"catalog ok ({N} items checked)" in capsys.readouterr().out
    sql(shop, "DELETE FROM items WHERE id = 2")
    assert main(["catalog", "check", "-c", str(shop), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["findings"][0]["part"] == "index"
    assert data["findings"][0]["repairable"] is True and data["checked"]["items"] == N - 1
    assert main(["catalog", "check", "-c", str(shop)]) == 1
    out = capsys.readouterr().out
    assert "--repair fixes 1" in out and "--repair fixes" in out
    assert main(["catalog", "check", "-c", str(shop), "--repair"]) == 0
    assert "catalog ok after 1 repair" in capsys.readouterr().out
    assert main(["catalog", "check", "-c", str(shop), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []


def test_cli_missing_catalog_and_bad_flag_are_one_line(tmp_path, capsys):
    assert main(["catalog", "check", "-c", str(tmp_path / "nothing")]) == 2
    assert "no catalog at" in one_line_error(capsys)
    assert main(["catalog", "check", "-c", str(tmp_path), "--repiar"]) == 2
    assert "No such option: --repiar" in one_line_error(capsys)

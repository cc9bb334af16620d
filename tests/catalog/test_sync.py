"""``ingest(..., sync=True)`` / ``vestis ingest --sync``: the catalog matches the source afterwards."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.catalog.conftest import write_photo
from vestis.catalog.catalog import Catalog
from vestis.catalog.ingest import ingest
from vestis.cli.main import main
from vestis.search.searcher import Searcher


@pytest.fixture(params=["exact", "faiss"])
def synced(request, tmp_path, fast_config):
    src = tmp_path / "src"
    for name in ("a", "b", "c", "d"):
        write_photo(src / f"{name}.png", ord(name))
    catalog = Catalog.create(tmp_path / "cat", fast_config(request.param))
    assert ingest(catalog, str(src), progress=False).added == 4
    return catalog, src


def by_path(catalog) -> dict[str, object]:
    return {os.path.basename(item.path): item for item in catalog.store.get(catalog.store.ids())}


def top_path(catalog, image) -> str:
    return os.path.basename(Searcher(catalog).search(image=str(image), k=1)[0].path)


def test_sync_replaces_modified_deletes_gone_and_moves_renamed(synced):
    catalog, src = synced
    before = by_path(catalog)
    write_photo(src / "a.png", 1000)  # modified: same path, new content
    (src / "b.png").unlink()  # deleted
    (src / "sub").mkdir()
    shutil.move(src / "c.png", src / "sub" / "c2.png")  # renamed
    plain = ingest(catalog, str(src), progress=False)  # without sync: additive, stale items stay
    assert (plain.added, plain.removed, plain.moved) == (1, 0, 0) and catalog.store.count() == 5
    summary = ingest(catalog, str(src), sync=True, progress=False)
    assert (summary.added, summary.removed, summary.moved) == (0, 2, 1)
    after = by_path(catalog)
    assert set(after) == {"a.png", "c2.png", "d.png"} and catalog.store.count() == 3
    assert after["a.png"].content_hash != before["a.png"].content_hash
    assert after["c2.png"].id == before["c.png"].id  # same item, not re-extracted
    assert after["c2.png"].meta["id"] == "sub/c2.png"
    assert len(catalog.index) == 3
    reopened = Catalog.open(catalog.directory)
    assert len(reopened.index) == 3
    assert top_path(reopened, src / "sub" / "c2.png") == "c2.png"
    hits = Searcher(reopened).search(image=str(src / "d.png"), k=10)
    assert {os.path.basename(h.path) for h in hits} == {"a.png", "c2.png", "d.png"}  # b is gone


def test_sync_with_a_modified_file_in_one_step(synced):
    catalog, src = synced
    write_photo(src / "d.png", 2000)
    summary = ingest(catalog, str(src), sync=True, progress=False)
    assert (summary.added, summary.removed, summary.moved) == (1, 1, 0)
    assert catalog.store.count() == 4 and len(Catalog.open(catalog.directory).index) == 4


def test_sync_leaves_items_of_other_sources_alone(synced, tmp_path):
    catalog, src = synced
    other = tmp_path / "other"
    write_photo(other / "z.png", 3000)
    ingest(catalog, str(other), progress=False)
    (src / "a.png").unlink()
    summary = ingest(catalog, str(src), sync=True, progress=False)
    assert summary.removed == 1 and "z.png" in by_path(catalog)


def test_cli_sync(tmp_path, capsys):
    src = tmp_path / "src"
    for i in range(3):
        write_photo(src / f"{i}.png", i)
    cat = str(tmp_path / "cat")
    base = ["ingest", str(src), "--catalog", cat, "--backend", "majority", "--embedder", "test-random"]
    assert main([*base, "--json"]) == 0
    capsys.readouterr()
    (src / "0.png").unlink()
    assert main([*base, "--sync", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["removed"] == 1 and out["added"] == 0
    assert main(["catalog", "stats", "--catalog", cat, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["items"] == stats["indexed"] == 2

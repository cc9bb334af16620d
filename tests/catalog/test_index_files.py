"""The saved index: atomic generations, one writer, and self-healing from the database."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pytest

from tests.catalog.conftest import ingested_catalog, write_photo
from vestis.catalog.catalog import INDEX_DIR, Catalog, CatalogConfig
from vestis.catalog.index_folder import MANIFEST, IndexFolder
from vestis.catalog.ingest import ingest
from vestis.search.searcher import Searcher

BACKENDS = {
    "exact": ("vectors.npy", "ids.npy", "payloads.json", "index.json"),
    "faiss": ("vectors.faiss", "ids.npy", "index.json"),
}


def build(tmp_path: Path, config, n: int = 6) -> Catalog:
    return Catalog.open(ingested_catalog(tmp_path, config, n, seed=500))


def generation(catalog_dir: Path) -> Path:
    folder = catalog_dir / INDEX_DIR
    return folder / json.loads((folder / MANIFEST).read_text())["generation"]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("damage", ["garbage", "truncate", "delete"])
def test_a_damaged_index_file_is_rebuilt_from_the_database(tmp_path, fast_config, backend, damage, caplog):
    for name in (*BACKENDS[backend], MANIFEST):
        case = tmp_path / f"{name}-{damage}"
        catalog = build(case, fast_config(backend))
        target = (
            (catalog.directory / INDEX_DIR / MANIFEST)
            if name == MANIFEST
            else generation(catalog.directory) / name
        )
        if damage == "garbage":
            target.write_bytes(b"\x00garbage\xff" * 3)
        elif damage == "truncate":
            target.write_bytes(target.read_bytes()[: max(1, target.stat().st_size // 2)])
        else:
            target.unlink()
        reopened = Catalog.open(catalog.directory)
        hits = Searcher(reopened).search(image=str(case / "src" / "3.png"), k=1)
        assert hits and hits[0].path.endswith("3.png"), name
        assert len(reopened.index) == 6
        reopened.close()
        loaded, state = IndexFolder(catalog.directory / INDEX_DIR).load()  # saved again, whole
        assert len(loaded) == 6 and state.count == 6, name


def test_mismatched_vectors_and_ids_are_detected(tmp_path, fast_config):
    catalog = build(tmp_path, fast_config("exact"))
    ids = generation(catalog.directory) / "ids.npy"
    np.save(ids, np.load(ids)[:-1])  # ids of another save
    reopened = Catalog.open(catalog.directory)
    assert len(reopened.index) == 6


def test_a_lagging_reader_catches_up_in_memory_while_a_writer_holds_the_lock(tmp_path, fast_config, caplog):
    from vestis.catalog.store import ItemRecord

    catalog = build(tmp_path, fast_config("exact"))
    writer = Catalog.open(catalog.directory)
    with writer.writing():
        saved = generation(catalog.directory)
        dim = writer.embedder.dim
        writer.store.add_items([ItemRecord("f" * 64, embedding=np.ones(dim, np.float32) / np.sqrt(dim))])
        reader = Catalog.open(catalog.directory)
        assert len(reader.index) == 7  # the saved 6 plus the newer item, added in memory
        assert generation(catalog.directory) == saved  # the writer's files untouched
        reader.close()
    assert "rebuilding" not in caplog.text  # newer items are added, not a rebuild
    writer.close()
    reader = Catalog.open(catalog.directory)  # lock free: the repair is saved
    assert len(reader.index) == 7 and generation(catalog.directory) != saved


# ---- concurrency: one writer ingesting, two readers searching ---------------------------------
def _writer(directory: str, src: str, rounds: int, seconds: float) -> None:
    from vestis.catalog.catalog import Catalog

    end = time.monotonic() + seconds
    for r in range(rounds):
        for i in range(3):
            write_photo(Path(src) / f"r{r}-{i}.png", 10_000 + 10 * r + i)
        catalog = Catalog.open(directory)
        ingest(catalog, src, progress=False, batch_size=2, save_every=1)
        catalog.close()
        if time.monotonic() > end:
            break


def _reader(directory: str, probe: str, seconds: float, out) -> None:
    from vestis.catalog.catalog import Catalog
    from vestis.catalog.index_folder import IndexFolder
    from vestis.search.searcher import Searcher

    opens = failures = mismatches = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            catalog = Catalog.open(directory)
            hits = Searcher(catalog).search(image=probe, k=3)
            if not hits or len(catalog.index) < 6:
                failures += 1
            loaded = IndexFolder(Path(directory) / "index").load()  # the files on disk, whole or not
            if loaded is not None and loaded[1] is not None and len(loaded[0]) != loaded[1].count:
                mismatches += 1
            catalog.close()
        except Exception as exc:
            failures += 1
            out.put(repr(exc))
        opens += 1
    out.put((opens, failures, mismatches))


@pytest.mark.parametrize("backend", ["exact", "faiss"])
def test_one_writer_and_two_readers_never_fail(tmp_path, backend):
    if backend == "faiss":
        pytest.importorskip("faiss")
    config = CatalogConfig(extractor="majority", embedder="test-random", index=backend)
    catalog = build(tmp_path, config)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    seconds = 5.0
    probe = str(tmp_path / "src" / "1.png")
    procs = [ctx.Process(target=_writer, args=(str(catalog.directory), str(tmp_path / "src"), 40, seconds))]
    procs += [
        ctx.Process(target=_reader, args=(str(catalog.directory), probe, seconds, out)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert all(p.exitcode == 0 for p in procs)
    results, errors = [], []
    while not out.empty():
        item = out.get()
        (results if isinstance(item, tuple) else errors).append(item)
    assert len(results) == 2 and not errors, errors
    assert sum(r[0] for r in results) > 4  # the readers did open the catalog repeatedly
    assert sum(r[1] for r in results) == 0 and sum(r[2] for r in results) == 0, results
    final = Catalog.open(catalog.directory)
    assert len(final.index) == final.store.count()

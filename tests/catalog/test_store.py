"""The catalog database: idempotent, all-or-nothing batches, schema checks, embeddings, journal."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vestis.catalog.store import SCHEMA_VERSION, CatalogMismatchError, CatalogStore, ItemRecord, content_hash
from vestis.schema import Schema
from vestis.schema.filters import parse_filter

SCHEMA_DATA = {
    "name": "tiny",
    "fields": {
        "category": {"values": ["top", "bottom", {"name": "dress", "synonyms": ["dresses"]}]},
        "colour": {
            "values": ["red", "pink", {"name": "navy", "synonyms": ["navy blue"]}],
            "description": "c",
        },
        "style": {"kind": "multi", "values": ["casual", "formal", "party"]},
        "brand": {"kind": "text", "max_length": 12},
    },
}
SCHEMA = Schema.from_dict(SCHEMA_DATA)
DIM = 8


def record(i: int, **attributes) -> ItemRecord:
    rng = np.random.default_rng(i)
    return ItemRecord(
        content_hash=f"h{i:04d}",
        source="test",
        path=f"/images/{i}.jpg",
        meta={"sku": i, "title": "Kleid ü"},
        attributes=attributes or {"category": "top", "colour": "red", "style": ["casual"]},
        confidence={"category": 0.9},
        thumbnail=bytes([i % 256]) * 4,
        embedding=rng.standard_normal(DIM).astype(np.float32),
    )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cat" / "catalog.sqlite"


@pytest.fixture
def store(path: Path):
    with CatalogStore(path, SCHEMA, embedding_model="test-embedder", embedding_dim=DIM) as s:
        yield s


def table_counts(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    try:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("items", "attributes")}
    finally:
        db.close()


def test_creates_a_versioned_wal_database(store: CatalogStore, path: Path) -> None:
    meta = store.meta
    assert meta["schema_version"] == SCHEMA_VERSION == 2
    assert meta["attribute_schema_name"] == "tiny"
    assert Schema.from_dict(meta["attribute_schema"]).fields.keys() == SCHEMA.fields.keys()
    assert (store.embedding_model(), store.embedding_dim()) == ("test-embedder", DIM)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
    assert {"meta", "items", "attributes", "ingest_log", "skipped", "attributes_by_value"} <= tables
    db.close()
    assert store._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_add_and_get_round_trip(store: CatalogStore) -> None:
    records = [record(i) for i in range(3)]
    ids = store.add_items(records)
    assert ids == [1, 2, 3]
    items = store.get([3, 99, 1])  # order kept, unknown ids left out
    assert [it.id for it in items] == [3, 1]
    got, want = items[1], records[0]
    assert (got.content_hash, got.source, got.path) == (want.content_hash, "test", "/images/0.jpg")
    assert got.meta == want.meta and got.attributes == want.attributes and got.confidence == want.confidence
    assert got.thumbnail == want.thumbnail and got.added_at
    np.testing.assert_array_equal(got.embedding, want.embedding)
    assert got.embedding.dtype == np.float32 and got.embedding.flags.writeable


def test_re_adding_is_idempotent_by_hash(store: CatalogStore) -> None:
    run = store.begin_ingest("folder")
    first = store.add_items([record(1), record(2)], run_id=run)
    again = store.add_items([record(2), record(3), record(3), record(1)], run_id=run)
    assert again == [first[1], 3, 3, first[0]]
    assert store.count() == 3
    assert store.has_hash(["h0001", "h0003", "nope", "h0001"]) == {"h0001", "h0003"}
    assert table_counts(store.path)["attributes"] == 3 * 3  # category, colour, one style each
    finished = store.finish_ingest(run)
    assert (finished.added, finished.duplicates, finished.finished_at is not None) == (3, 3, True)


def test_invalid_item_leaves_the_database_unchanged(store: CatalogStore) -> None:
    store.add_items([record(0)])
    before = table_counts(store.path)
    bad = [
        ({"colour": "Navy Blue"}, "field 'colour'.*canonical value is 'navy'"),
        ({"colour": "purple"}, "field 'colour'"),
        ({"style": "casual"}, "field 'style': expected a list"),
        ({"style": ["casual", "grunge"]}, "field 'style'"),
        ({"brand": "x" * 13}, "field 'brand'"),
        ({"Colour": "red"}, "unknown field 'Colour' \\(did you mean 'colour'\\?\\)"),
    ]
    for attributes, message in bad:
        batch = [record(1), record(2, **attributes), record(3)]
        with pytest.raises(ValueError, match=message) as info:
            store.add_items(batch)
        assert "item h0002" in str(info.value)
        assert table_counts(store.path) == before
        assert store.has_hash(["h0001", "h0003"]) == set()
    wrong_dim = record(4)
    wrong_dim.embedding = np.zeros(DIM + 1, np.float32)
    with pytest.raises(ValueError, match="dimension 9"):
        store.add_items([record(1), wrong_dim])
    with pytest.raises(ValueError, match="meta must be a dict"):
        store.add_items([record(1), ItemRecord("h9", meta=[1])])
    assert table_counts(store.path) == before


def test_a_failure_inside_the_transaction_rolls_back(store: CatalogStore, monkeypatch) -> None:
    import vestis.catalog.store as module

    calls = []

    def flaky(schema, attributes):
        calls.append(1)
        if len(calls) == 2:
            raise sqlite3.OperationalError("disk I/O error")
        return real(schema, attributes)

    real = module._attribute_rows
    monkeypatch.setattr(module, "_attribute_rows", flaky)
    with pytest.raises(sqlite3.OperationalError):
        store.add_items([record(1), record(2)])
    assert store.count() == 0 and table_counts(store.path) == {"items": 0, "attributes": 0}
    monkeypatch.setattr(module, "_attribute_rows", real)
    assert store.add_items([record(1), record(2)]) == [1, 2]


def test_attribute_rows_and_facets(store: CatalogStore) -> None:
    store.add_items(
        [
            record(1, category="dress", colour="red", style=["casual", "party"], brand="Zara"),
            record(2, category="dress", colour="pink", style=["party"]),
            record(3, category="top", colour="red", style=[]),
            record(4, category="top", colour=None),
        ]
    )
    assert store.facets("colour") == [("red", 2), ("pink", 1)]
    assert store.facets("Style") == [("party", 2), ("casual", 1)]
    assert store.facets("brand") == [("Zara", 1)]
    where = parse_filter("category = dress", SCHEMA)
    assert store.facets("colour", where=where) == [("pink", 1), ("red", 1)]
    assert store.facets("style", where=parse_filter("NOT style = casual", SCHEMA)) == [("party", 1)]
    assert store.ids_matching(parse_filter("colour = red AND style = party", SCHEMA)) == {1}
    assert store.count(where) == 2
    with pytest.raises(ValueError, match="unknown field 'size'"):
        store.facets("size")


def test_remove_cascades_and_ids_are_never_reused(store: CatalogStore) -> None:
    ids = store.add_items([record(i) for i in range(3)])
    assert store.remove([ids[2], ids[2], 42]) == 1
    assert store.count() == 2 and table_counts(store.path)["attributes"] == 2 * 3
    assert store.get([ids[2]]) == []
    assert store.add_items([record(7)]) == [4]
    assert store.add_items([record(2)]) == [5]  # the same image comes back as a new item
    assert store.ids() == [1, 2, 4, 5]


def test_embeddings_round_trip_in_batches(store: CatalogStore) -> None:
    records = [record(i) for i in range(10)]
    records[4].embedding = None  # an item without a vector is left out
    ids = store.add_items(records)
    store.remove([ids[0]])
    batches = list(store.iter_embeddings(batch=3))
    assert [len(b[0]) for b in batches] == [3, 3, 2]
    got_ids = np.concatenate([b[0] for b in batches])
    vectors = np.concatenate([b[1] for b in batches])
    assert got_ids.dtype == np.int64 and vectors.dtype == np.float32 and vectors.shape == (8, DIM)
    expected = [(i, r) for i, r in zip(ids, records, strict=True) if r.embedding is not None][1:]
    assert got_ids.tolist() == [i for i, _ in expected]
    np.testing.assert_array_equal(vectors, np.stack([r.embedding for _, r in expected]))


def test_embedding_batches_carry_index_payloads(store: CatalogStore) -> None:
    store.add_items([record(1, category="dress", colour=None, style=["party"], brand="Zara"), record(2)])
    store.add_items([ItemRecord("no-vector", attributes={"category": "top"})])
    assert store.count() == 3 and store.count_embeddings() == 2
    (batch,) = store.iter_embeddings(payloads=True)
    ids, vectors, payloads = batch
    assert ids.tolist() == [1, 2] and vectors.shape == (2, DIM)
    assert payloads == [  # closed fields with a value; text fields stay in SQL
        {"category": "dress", "style": ["party"]},
        {"category": "top", "colour": "red", "style": ["casual"]},
    ]
    assert next(store.iter_embeddings()).payloads is None


def test_embedding_dim_is_learnt_from_the_first_vectors(tmp_path: Path) -> None:
    with CatalogStore(tmp_path / "c.sqlite", SCHEMA) as s:
        assert s.embedding_dim() is None
        s.add_items([record(1)])
        assert s.embedding_dim() == DIM
        with pytest.raises(ValueError, match="dimension"):
            s.add_items([ItemRecord("h2", embedding=np.ones(3))])
    with pytest.raises(CatalogMismatchError, match="dimension 8, not 16"):
        CatalogStore(tmp_path / "c.sqlite", SCHEMA, embedding_dim=16)


def test_reopen_checks_schema_and_embedding_model(path: Path) -> None:
    CatalogStore(path, SCHEMA, embedding_model="m1", embedding_dim=DIM).close()
    cosmetic = Schema.from_dict({**SCHEMA_DATA, "description": "new words"})  # no stored value changes
    with CatalogStore(path, cosmetic, embedding_model="m1") as s:
        assert s.meta["attribute_schema"]["description"] == "new words"
    with CatalogStore(path, SCHEMA) as s:  # no model named: reading is fine
        assert s.embedding_model() == "m1"

    fields = dict(SCHEMA_DATA["fields"])
    fields["colour"] = {"values": ["red", "green"]}
    changed = Schema.from_dict({**SCHEMA_DATA, "fields": fields})
    with pytest.raises(
        CatalogMismatchError, match=r"field 'colour' values changed \(removed \['navy', 'pink'\]"
    ):
        CatalogStore(path, changed)
    other = Schema.from_dict({**SCHEMA_DATA, "name": "other"})
    with pytest.raises(CatalogMismatchError, match="built with attribute schema 'tiny', not 'other'"):
        CatalogStore(path, other)
    with pytest.raises(CatalogMismatchError, match=r"embeddings come from 'm1', not 'm2'.*allow_mismatch"):
        CatalogStore(path, SCHEMA, embedding_model="m2")
    with CatalogStore(path, changed, embedding_model="m2", allow_mismatch=True) as s:
        assert s.embedding_model() == "m1"  # opened as it is, nothing rewritten
        assert s.meta["attribute_schema"]["fields"]["colour"]["values"][1]["name"] == "pink"


def test_refuses_files_that_are_not_catalogs(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ValueError, match="not a vestis catalog"):
        CatalogStore(junk, SCHEMA)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ValueError, match="not a vestis catalog"):
        CatalogStore(other, SCHEMA)


def test_skips_and_ingest_log(store: CatalogStore) -> None:
    run = store.begin_ingest("/images")
    store.record_skip("/images/1.jpg", "unreadable", "truncated JPEG", run_id=run)
    store.record_skip("/images/2.jpg", "too_small", run_id=run)
    store.record_skip("/images/2.jpg", "unreadable", "again", run_id=run)  # latest reason kept
    store.record_skip("/images/3.jpg", "extract_error", "boom", run_id=run, failed=True)
    assert store.skip_summary() == {"unreadable": 2, "extract_error": 1}
    assert [s.detail for s in store.skipped_files("unreadable")] == ["truncated JPEG", "again"]
    store.add_items([record(1)], run_id=run)  # /images/1.jpg made it in after all
    assert [s.source_path for s in store.skipped_files()] == ["/images/2.jpg", "/images/3.jpg"]
    (logged,) = store.ingest_runs()
    assert (logged.source, logged.added, logged.skipped, logged.failed, logged.finished_at) == (
        "/images",
        1,
        3,
        1,
        None,
    )


def test_ingest_totals_and_lenient_metadata(store: CatalogStore) -> None:
    run = store.begin_ingest("table.csv")
    meta = {"price": np.float32(9.5), "stock": np.int64(3), "colour_code": float("nan"), "when": Path("/x")}
    (item_id,) = store.add_items([ItemRecord("h1", meta=meta)], run_id=run)
    assert store.get([item_id])[0].meta == {"price": 9.5, "stock": 3, "colour_code": None, "when": "/x"}
    done = store.finish_ingest(run, added=5, duplicates=2, skipped=1)  # a caller's totals win
    assert (done.added, done.duplicates, done.skipped, done.failed) == (5, 2, 1, 0)
    with pytest.raises(KeyError):
        store.finish_ingest(999)


def test_content_hash_of_bytes_and_files(tmp_path: Path) -> None:
    data = b"\xff\xd8 image bytes"
    (tmp_path / "a.jpg").write_bytes(data)
    assert content_hash(data) == content_hash(tmp_path / "a.jpg") == content_hash(memoryview(data))
    assert len(content_hash(data)) == 64 and content_hash(data) != content_hash(data + b"!")


CHILD = """
import sys
import numpy as np
from vestis.catalog.store import CatalogStore, ItemRecord
from vestis.schema import Schema
from tests.catalog.test_store import SCHEMA, record

store = CatalogStore(sys.argv[1], SCHEMA)
for start in range(0, 100_000, 10):
    store.add_items([record(i) for i in range(start, start + 10)])
    print(start + 10, flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_mid_ingest_loses_and_duplicates_nothing(path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(path)],
        stdout=subprocess.PIPE,
        cwd=repo,
        env=env,
        text=True,
    )
    try:
        for _ in range(5):  # five committed batches, then kill it wherever it is
            assert child.stdout.readline(), "the writer died early"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
    with CatalogStore(path, SCHEMA) as store:
        assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n = store.count()
        assert n >= 50 and n % 10 == 0  # whole batches only
        assert table_counts(path)["attributes"] == n * 3
        ids = store.add_items([record(i) for i in range(n + 20)])  # resume: the whole source again
        assert store.count() == n + 20 and len(set(ids)) == n + 20

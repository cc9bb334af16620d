"""The catalog database: one SQLite file holding items, their attributes and the ingest journal.

Every item is keyed by the hash of its image bytes, so adding the same image twice gives
one item. :meth:`CatalogStore.add_items` writes a batch in one transaction: after a crash
(even ``kill -9``) a batch is either wholly in the database or not at all, so re-running
an ingest adds exactly what is missing. The database runs in WAL mode with
``synchronous=NORMAL``: a committed batch survives a process crash; a power cut may lose
the last commits but never leaves the file inconsistent.

Attributes live twice: as JSON on the item (what the extractor said) and as one
``attributes(item_id, field, value)`` row per value (several for a multi field), indexed
for filters and facets. Embeddings are stored as float32 bytes, so the vector index can
always be rebuilt from the database.

>>> import tempfile, numpy as np
>>> from pathlib import Path
>>> from vestis.schema import load_schema
>>> store = CatalogStore(Path(tempfile.mkdtemp()) / "catalog.sqlite", load_schema("vestis"))
>>> store.add_items([ItemRecord("ab12", attributes={"category": "dress", "colour": "red"})])
[1]
>>> store.add_items([ItemRecord("ab12")])  # same content hash: the existing id, nothing added
[1]
>>> store.facets("colour")
[('red', 1)]
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vestis.catalog.embeddings import (
    EmbeddingState,
    InsertResult,
    StoreSnapshot,
    _embedding_state,
    _iter_embeddings,
    _sequence,
)
from vestis.catalog.filters import select_sql, where_sql
from vestis.catalog.migrations import migrate
from vestis.catalog.records import (
    EmbeddingBatch,
    IngestRun,
    Item,
    ItemRecord,
    SkippedFile,
    _attribute_rows,
    _dumps,
    content_hash,
    index_payload,
    validate_attributes,
)
from vestis.errors import UserError

if TYPE_CHECKING:
    from vestis.schema.filters import FilterExpr
    from vestis.schema.model import Schema

log = logging.getLogger(__name__)

__all__ = [
    "CatalogMismatchError",
    "CatalogStore",
    "Item",
    "ItemRecord",
    "content_hash",
    "index_payload",
    "validate_attributes",
]

SCHEMA_VERSION = 2  # layout of the database itself; bump with a migration in vestis.catalog.migrations
_CHUNK = 500  # ids per "IN (...)" query, well under SQLite's variable limit

_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so a stale index entry cannot alias a new item
    content_hash TEXT UNIQUE NOT NULL,
    source TEXT,
    path TEXT,
    added_at TEXT NOT NULL,
    meta TEXT,         -- JSON
    attributes TEXT,   -- JSON, canonical values
    confidence TEXT,   -- JSON
    thumbnail BLOB,
    embedding BLOB,    -- float32, dim in meta.embedding_dim
    photo_hash TEXT,   -- hash of the photo the item comes from (its content_hash for a whole photo)
    box TEXT,          -- JSON [x0, y0, x1, y1] of a garment in its photo, NULL for a whole photo
    garment INTEGER,   -- the garment's number in its photo, as the parser numbered them
    garment_class TEXT -- the parser's coarse class of the garment
);
CREATE INDEX items_by_photo ON items (photo_hash);
CREATE TABLE attributes (
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (item_id, field, value)
) WITHOUT ROWID;
CREATE INDEX attributes_by_value ON attributes (field, value, item_id);
CREATE TABLE ingest_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    source TEXT,
    added INTEGER NOT NULL DEFAULT 0,       -- new items
    duplicates INTEGER NOT NULL DEFAULT 0,  -- already in the catalog (same content hash)
    skipped INTEGER NOT NULL DEFAULT 0,     -- left out on purpose (unreadable, unsupported, ...)
    failed INTEGER NOT NULL DEFAULT 0       -- errors while processing
);
CREATE TABLE skipped (
    source_path TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    detail TEXT,
    at TEXT NOT NULL,
    run_id INTEGER REFERENCES ingest_log(id) ON DELETE SET NULL
);
"""
_ITEM_COLUMNS = (
    "id, content_hash, source, path, added_at, meta, attributes, confidence, thumbnail, embedding,"
    " photo_hash, box, garment, garment_class"
)


class CatalogMismatchError(UserError, ValueError):
    """The catalog was built with another attribute schema or embedding model than the one given."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class CatalogStore:
    """A catalog database file. Thread-safe; one connection guarded by a lock.

    ``embedding_model`` / ``embedding_dim`` are recorded on creation (or on first use) and
    checked on every open; so is the attribute schema (its name, fields, kinds and values;
    descriptions, weights and synonyms may change). A mismatch raises
    :class:`CatalogMismatchError` unless ``allow_mismatch=True``, which opens the catalog as
    it is and leaves what it records unchanged.
    """

    def __init__(
        self,
        path: str | Path,
        schema: Schema,
        *,
        embedding_model: str | None = None,
        embedding_dim: int | None = None,
        allow_mismatch: bool = False,
    ) -> None:
        self.path = Path(path)
        self.schema = schema
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._open(embedding_model, embedding_dim, allow_mismatch)
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
                raise CatalogMismatchError(f"{self.path}: not a vestis catalog ({exc})") from None
            raise

    # ---- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> CatalogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error: a write is all or nothing."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _open(self, model: str | None, dim: int | None, allow_mismatch: bool) -> None:
        """Create the tables in a new file, or check an existing catalog (reading takes no write lock)."""
        if not self._tables():
            with self._transaction() as db:
                if not self._tables():  # another process may have created it meanwhile
                    for statement in filter(str.strip, _DDL.split(";")):  # executescript would COMMIT
                        db.execute(statement)
                    self._write_meta(
                        db,
                        schema_version=SCHEMA_VERSION,
                        created_at=_now(),
                        attribute_schema_name=self.schema.name,
                        attribute_schema=self.schema.to_dict(),
                        embedding_model=model,
                        embedding_dim=dim,
                    )
                    return
        if "meta" not in self._tables():
            raise CatalogMismatchError(
                f"{self.path}: an SQLite database but not a vestis catalog (no meta table)"
            )
        meta = self.meta
        version = meta.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise CatalogMismatchError(
                f"{self.path}: catalog format {version!r} is newer than this vestis understands "
                f"({SCHEMA_VERSION}); upgrade vestis"
            )
        if version < SCHEMA_VERSION:
            self._upgrade()
        problems = _schema_differences(meta, self.schema)
        stored_model, stored_dim = meta.get("embedding_model"), meta.get("embedding_dim")
        if model is not None and stored_model is not None and model != stored_model:
            problems.append(f"its embeddings come from {stored_model!r}, not {model!r}")
        if dim is not None and stored_dim is not None and dim != stored_dim:
            problems.append(f"its embeddings have dimension {stored_dim}, not {dim}")
        if problems:
            message = f"{self.path}: " + "; ".join(problems)
            if not allow_mismatch:
                raise CatalogMismatchError(
                    message + ". Build a new catalog (or re-extract / re-embed into one), "
                    "or open it with allow_mismatch=True to use it as it is."
                )
            log.warning("%s (opened anyway: allow_mismatch=True)", message)
            return
        wanted = {"attribute_schema": self.schema.to_dict(), "embedding_model": model, "embedding_dim": dim}
        if any(v is not None and meta.get(k) != v for k, v in wanted.items()):
            with self._transaction() as db:
                current = self._read_meta(db)
                # the schema's cosmetic parts (descriptions, synonyms) follow the latest opener;
                # the embedding model and dim are only ever filled in, never changed
                updates = {"attribute_schema": wanted["attribute_schema"]}
                updates.update(
                    {k: wanted[k] for k in ("embedding_model", "embedding_dim") if current.get(k) is None}
                )
                self._write_meta(db, **{k: v for k, v in updates.items() if v is not None})

    def _upgrade(self) -> None:
        """Bring a catalog of an older format to this one (once: another process may have meanwhile)."""
        with self._transaction() as db:
            version = self._read_meta(db).get("schema_version")
            if version < SCHEMA_VERSION:
                self._write_meta(db, schema_version=migrate(db, version))
                log.info("%s: catalog format %d upgraded to %d", self.path, version, SCHEMA_VERSION)

    def _tables(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    @staticmethod
    def _read_meta(db: sqlite3.Connection) -> dict[str, Any]:
        return {key: json.loads(value) for key, value in db.execute("SELECT key, value FROM meta")}

    @staticmethod
    def _write_meta(db: sqlite3.Connection, **values: Any) -> None:
        db.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, json.dumps(v, sort_keys=True)) for k, v in values.items()],
        )

    @property
    def meta(self) -> dict[str, Any]:
        """What the catalog records about itself: format version, schema, embedding model and dim."""
        with self._lock:
            return self._read_meta(self._db)

    def embedding_model(self) -> str | None:
        return self.meta.get("embedding_model")

    def embedding_dim(self) -> int | None:
        """Dimension of the stored embeddings (None until the first one arrives)."""
        return self.meta.get("embedding_dim")

    # ---- items ---------------------------------------------------------------------------
    def add_items(self, records: list[ItemRecord], *, run_id: int | None = None) -> list[int]:
        """Add a batch in one transaction; return each record's id (the existing one for a known hash).

        Every record is validated first: an invalid attribute raises ValueError naming the
        item and field, and nothing of the batch is written. With ``run_id`` the ingest
        run's counters move in the same transaction. :meth:`insert_items` also says which
        records were new.
        """
        return self.insert_items(records, run_id=run_id).ids

    def insert_items(self, records: list[ItemRecord], *, run_id: int | None = None) -> InsertResult:
        """:meth:`add_items`, saying which records this call inserted (another process may have
        inserted the same content meanwhile: that record counts as a duplicate, not as added)."""
        rows = [self._row(r) for r in records]
        ids: list[int] = []
        inserted: list[bool] = []
        with self._transaction() as db:
            seq_before = _sequence(db)
            dim = self._check_dims(db, records)
            for record, row in zip(records, rows, strict=True):
                known = db.execute("SELECT id FROM items WHERE content_hash = ?", (record.content_hash,))
                found = known.fetchone()
                if found is not None:  # checked first: a failed insert would still use up an id
                    ids.append(found[0])
                    inserted.append(False)
                    continue
                item_id = db.execute(
                    "INSERT INTO items (content_hash, source, path, added_at, meta, attributes, confidence,"
                    " thumbnail, embedding, photo_hash, box, garment, garment_class)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                ).lastrowid
                db.executemany(
                    "INSERT INTO attributes (item_id, field, value) VALUES (?, ?, ?)",
                    [(item_id, f, v) for f, v in _attribute_rows(self.schema, record.attributes)],
                )
                if record.path:
                    db.execute("DELETE FROM skipped WHERE source_path = ?", (str(record.path),))
                ids.append(int(item_id))  # type: ignore[arg-type]
                inserted.append(True)
            if dim is not None:
                self._write_meta(db, embedding_dim=dim)
            added = sum(inserted)
            if run_id is not None:
                self._bump(db, run_id, added=added, duplicates=len(records) - added)
            seq_after = _sequence(db)
        return InsertResult(ids, inserted, seq_before, seq_after)

    def _row(self, record: ItemRecord) -> tuple[Any, ...]:
        if not isinstance(record.content_hash, str) or not record.content_hash:
            raise ValueError(f"item {record.path or record}: content_hash must be a non-empty string")
        attributes = validate_attributes(self.schema, record.attributes, item=record.content_hash)
        embedding = None
        if record.embedding is not None:
            vector = np.asarray(record.embedding, dtype=np.float32)
            if vector.ndim != 1 or not vector.size or not np.isfinite(vector).all():
                raise ValueError(
                    f"item {record.content_hash}: embedding must be a finite 1-D vector, "
                    f"got shape {vector.shape}"
                )
            embedding = vector.tobytes()
        return (
            record.content_hash,
            record.source,
            None if record.path is None else str(record.path),
            _now(),
            _dumps(record.meta, record.content_hash, "meta"),
            json.dumps(attributes),
            _dumps(record.confidence, record.content_hash, "confidence"),
            record.thumbnail,
            embedding,
            record.photo_hash or record.content_hash,
            None if record.box is None else json.dumps([int(v) for v in record.box]),
            record.garment,
            record.garment_class,
        )

    def _check_dims(self, db: sqlite3.Connection, records: list[ItemRecord]) -> int | None:
        """Check every embedding has the catalog's dimension; return it when this batch sets it."""
        row = db.execute("SELECT value FROM meta WHERE key = 'embedding_dim'").fetchone()
        stored = json.loads(row[0]) if row else None
        dim = stored
        for r in records:
            if r.embedding is None:
                continue
            size = int(np.asarray(r.embedding).size)
            if dim is None:
                dim = size
            elif size != dim:
                raise ValueError(f"item {r.content_hash}: embedding has dimension {size}, the catalog {dim}")
        return dim if dim != stored else None

    def has_hash(self, hashes: Iterable[str]) -> set[str]:
        """The given hashes already in the catalog, as an item's content hash or as the photo of
        its garments (to skip work on re-ingest)."""
        found: set[str] = set()
        with self._lock:
            for chunk in _chunks(list(dict.fromkeys(hashes))):
                marks = ", ".join("?" * len(chunk))
                sql = (
                    f"SELECT content_hash FROM items WHERE content_hash IN ({marks})"
                    f" UNION SELECT photo_hash FROM items WHERE photo_hash IN ({marks})"
                )
                found.update(r[0] for r in self._db.execute(sql, chunk + chunk))
        return found

    def photo_ids(self, photo_hash: str) -> list[int]:
        """Ids of the items that come from the photo with this hash (its garments, or itself)."""
        with self._lock:
            rows = self._db.execute("SELECT id FROM items WHERE photo_hash = ? ORDER BY id", (photo_hash,))
            return [r[0] for r in rows]

    def photo_counts(self) -> dict[str, int]:
        """How many photos the items come from, and how many of them are photos of people whose
        garments are items (``garments``: those items)."""
        with self._lock:
            photos, people, garments = self._db.execute(
                "SELECT COUNT(DISTINCT photo_hash), COUNT(DISTINCT CASE WHEN garment IS NOT NULL"
                " THEN photo_hash END), COUNT(garment) FROM items"
            ).fetchone()
        return {"photos": photos, "people": people, "garments": garments}

    def get(self, ids: Iterable[int]) -> list[Item]:
        """Items in the order of ``ids``; ids not in the catalog (removed since) are left out."""
        wanted = [int(i) for i in ids]
        found: dict[int, Item] = {}
        with self._lock:
            for chunk in _chunks(list(dict.fromkeys(wanted))):
                marks = ", ".join("?" * len(chunk))
                sql = f"SELECT {_ITEM_COLUMNS} FROM items WHERE id IN ({marks})"
                found.update((row[0], _item(row)) for row in self._db.execute(sql, chunk))
        return [found[i] for i in wanted if i in found]

    def remove(self, ids: Iterable[int]) -> int:
        """Delete items (and their attribute rows); return how many existed."""
        removed = 0
        with self._transaction() as db:
            for chunk in _chunks(list(dict.fromkeys(int(i) for i in ids))):
                marks = ", ".join("?" * len(chunk))
                removed += db.execute(f"DELETE FROM items WHERE id IN ({marks})", chunk).rowcount
        return removed

    def locations(self, *, under: str | None = None, source: str | None = None) -> list[tuple[int, str, str]]:
        """``(id, path, photo hash)`` of the items whose path lies under the folder ``under``, or
        (with ``source``) that an ingest of that source added: what a sync compares with the source
        (the photo hash of a whole photo is its content hash)."""
        with self._lock:
            if under is not None:
                prefix = under.rstrip("/") + "/"
                rows = self._db.execute(
                    "SELECT id, path, photo_hash FROM items WHERE substr(path, 1, ?) = ?",
                    (len(prefix), prefix),
                )
            else:
                rows = self._db.execute("SELECT id, path, photo_hash FROM items WHERE source = ?", (source,))
            return [(int(i), p, h) for i, p, h in rows.fetchall()]

    def move(self, item_id: int, path: str, item_key: str | None = None) -> bool:
        """Give an item a new path (a renamed file: same content, nothing re-extracted); with
        ``item_key`` its ``meta["id"]`` too. Returns whether the item exists."""
        with self._transaction() as db:
            row = db.execute("SELECT meta FROM items WHERE id = ?", (int(item_id),)).fetchone()
            if row is None:
                return False
            meta = json.loads(row[0]) if row[0] else {}
            if item_key is not None:
                meta["id"] = item_key
            db.execute(
                "UPDATE items SET path = ?, meta = ? WHERE id = ?",
                (path, _dumps(meta, str(item_id), "meta"), int(item_id)),
            )
            db.execute("DELETE FROM skipped WHERE source_path = ?", (path,))
        return True

    def count(self, where: FilterExpr | None = None) -> int:
        with self._lock:
            if where is None:
                return self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
            sql, params = where_sql(where, "id")
            return self._db.execute(f"SELECT COUNT(*) FROM items WHERE {sql}", params).fetchone()[0]

    def count_embeddings(self) -> int:
        """Number of items with an embedding: what a complete vector index holds."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM items WHERE embedding IS NOT NULL").fetchone()[0]

    def ids(self) -> list[int]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM items ORDER BY id")]

    def embedded_ids(self) -> np.ndarray:
        """Ids of the items with an embedding, sorted int64: the ids a complete vector index holds."""
        with self._lock:
            rows = self._db.execute("SELECT id FROM items WHERE embedding IS NOT NULL ORDER BY id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def set_thumbnails(self, thumbnails: dict[int, bytes]) -> int:
        """Replace items' thumbnails (JPEG bytes) in one transaction; returns how many items exist."""
        with self._transaction() as db:
            return sum(
                db.execute("UPDATE items SET thumbnail = ? WHERE id = ?", (data, int(i))).rowcount
                for i, data in thumbnails.items()
            )

    def embedding_state(self) -> EmbeddingState:
        """(items with an embedding, highest id ever given): any insert or delete changes it."""
        with self._lock:
            return _embedding_state(self._db)

    def iter_embeddings(
        self, batch: int = 4096, *, payloads: bool = False, after: int = 0
    ) -> Iterator[EmbeddingBatch]:
        """Batches of every item with an embedding (and an id above ``after``), by id: what
        rebuilding a vector index needs.

        With ``payloads=True`` each batch also carries the items' :func:`index_payload`.
        Each batch is its own query, so writers are not blocked while the caller works; for
        one consistent view, use :meth:`snapshot`.
        """
        yield from _iter_embeddings(self._db, self._lock, self.schema, batch, payloads, after)

    @contextmanager
    def snapshot(self) -> Iterator[StoreSnapshot]:
        """A consistent read-only view of the embeddings (one read transaction on its own
        connection; in WAL mode it never blocks writers): what an index rebuild reads."""
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            db.execute("BEGIN")
            yield StoreSnapshot(db, self.schema)
            db.execute("COMMIT")
        finally:
            db.close()

    # ---- filters and facets ---------------------------------------------------------------
    def ids_matching(self, expr: FilterExpr) -> set[int]:
        """Ids of the items matching a filter (see :mod:`vestis.schema.filters`)."""
        sql, params = select_sql(expr)
        with self._lock:
            return {r[0] for r in self._db.execute(sql, params)}

    def id_array_matching(self, expr: FilterExpr) -> np.ndarray:
        """The same ids as :meth:`ids_matching`, sorted, as int64: what vector indexes take fastest."""
        sql, params = select_sql(expr)
        with self._lock:
            rows = self._db.execute(f"SELECT id FROM ({sql}) ORDER BY id", params).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def facets(self, field: str, where: FilterExpr | None = None) -> list[tuple[str, int]]:
        """(value, number of items) for one field, most frequent first, over the items matching ``where``."""
        name = self.schema.field_name(field)
        if name is None:
            raise ValueError(f"unknown field {field!r}; the schema has {', '.join(self.schema.fields)}")
        sql = "SELECT value, COUNT(*) AS n FROM attributes WHERE field = ?"
        params: list[Any] = [name]
        if where is not None:
            predicate, more = where_sql(where, "item_id")
            sql += f" AND {predicate}"
            params += more
        sql += " GROUP BY value ORDER BY n DESC, value"
        with self._lock:
            return [(value, n) for value, n in self._db.execute(sql, params)]

    # ---- ingest journal -------------------------------------------------------------------
    def begin_ingest(self, source: str) -> int:
        """Open an ingest run; pass its id to :meth:`add_items` and :meth:`record_skip`.

        Its counters then move in the same transactions as the work, so they stay right
        across a crash; a run without ``finished_at`` was interrupted (or is running).
        """
        with self._transaction() as db:
            cursor = db.execute("INSERT INTO ingest_log (started_at, source) VALUES (?, ?)", (_now(), source))
            return int(cursor.lastrowid)  # type: ignore[arg-type]

    def finish_ingest(
        self,
        run_id: int,
        *,
        added: int | None = None,
        duplicates: int | None = None,
        skipped: int | None = None,
        failed: int | None = None,
    ) -> IngestRun:
        """Close a run. Counts given here replace the running counters (for callers that keep totals)."""
        totals = {"added": added, "duplicates": duplicates, "skipped": skipped, "failed": failed}
        columns = [c for c, v in totals.items() if v is not None]  # names from the fixed dict above
        sets = "".join(f", {c} = ?" for c in columns)
        with self._transaction() as db:
            cursor = db.execute(
                f"UPDATE ingest_log SET finished_at = ?{sets} WHERE id = ?",
                [_now(), *(int(totals[c]) for c in columns), run_id],  # type: ignore[arg-type]
            )
            if cursor.rowcount == 0:
                raise KeyError(f"no ingest run {run_id}")
        return next(r for r in self.ingest_runs() if r.id == run_id)

    def ingest_runs(self) -> list[IngestRun]:
        """Every ingest run, oldest first; an unfinished one was interrupted (or is running)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, started_at, finished_at, source, added, duplicates, skipped, failed"
                " FROM ingest_log ORDER BY id"
            ).fetchall()
        return [IngestRun(*row) for row in rows]

    def record_skip(
        self,
        source_path: str | Path,
        reason: str,
        detail: str | None = "",
        *,
        run_id: int | None = None,
        failed: bool = False,
    ) -> None:
        """Note a file that was not ingested (the latest reason per path is kept).

        ``failed=True`` counts it as an error in the run rather than a deliberate skip.
        """
        with self._transaction() as db:
            db.execute(
                "INSERT INTO skipped (source_path, reason, detail, at, run_id) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(source_path) DO UPDATE SET reason = excluded.reason,"
                " detail = excluded.detail, at = excluded.at, run_id = excluded.run_id",
                (str(source_path), reason, detail or "", _now(), run_id),
            )
            if run_id is not None:
                self._bump(db, run_id, **{"failed" if failed else "skipped": 1})

    def skipped_files(self, reason: str | None = None) -> list[SkippedFile]:
        sql = "SELECT source_path, reason, detail, at, run_id FROM skipped"
        params: tuple[str, ...] = ()
        if reason is not None:
            sql, params = sql + " WHERE reason = ?", (reason,)
        with self._lock:
            return [SkippedFile(*row) for row in self._db.execute(sql + " ORDER BY source_path", params)]

    def skip_summary(self) -> dict[str, int]:
        """Number of skipped files per reason, most frequent first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT reason, COUNT(*) AS n FROM skipped GROUP BY reason ORDER BY n DESC, reason"
            )
            return dict(rows.fetchall())

    @staticmethod
    def _bump(db: sqlite3.Connection, run_id: int, **counts: int) -> None:
        columns = [c for c in ("added", "duplicates", "skipped", "failed") if counts.get(c)]
        if columns:  # column names come from the fixed tuple above, never from input
            assignments = ", ".join(f"{c} = {c} + ?" for c in columns)
            db.execute(
                f"UPDATE ingest_log SET {assignments} WHERE id = ?", [counts[c] for c in columns] + [run_id]
            )


# ---- helpers ----------------------------------------------------------------------------------
def _schema_differences(meta: dict[str, Any], schema: Schema) -> list[str]:
    """What about the stored attribute schema differs from ``schema`` in ways that change stored data."""
    stored_name = meta.get("attribute_schema_name")
    if stored_name != schema.name:
        return [f"it was built with attribute schema {stored_name!r}, not {schema.name!r}"]
    stored = {
        name: (spec.get("kind", "single"), [v["name"] for v in spec.get("values", [])])
        for name, spec in (meta.get("attribute_schema") or {}).get("fields", {}).items()
    }
    given = {name: (f.kind, list(f.values)) for name, f in schema.fields.items()}
    out = []
    if missing := [n for n in stored if n not in given]:
        out.append(f"schema {schema.name!r} has lost fields {missing}")
    if extra := [n for n in given if n not in stored]:
        out.append(f"schema {schema.name!r} has new fields {extra}")
    for name in stored.keys() & given.keys():
        (kind_a, values_a), (kind_b, values_b) = stored[name], given[name]
        if kind_a != kind_b:
            out.append(f"field {name!r} was {kind_a}, is now {kind_b}")
        elif set(values_a) != set(values_b):
            gone, new = sorted(set(values_a) - set(values_b)), sorted(set(values_b) - set(values_a))
            out.append(f"field {name!r} values changed (removed {gone}, added {new})")
    return out


def _item(row: tuple[Any, ...]) -> Item:
    item_id, chash, source, path, added_at, meta, attributes, confidence, thumbnail, embedding = row[:10]
    photo_hash, box, garment, garment_class = row[10:]
    return Item(
        id=item_id,
        content_hash=chash,
        source=source or "",
        path=path,
        added_at=added_at,
        meta=json.loads(meta) if meta else {},
        attributes=json.loads(attributes) if attributes else {},
        confidence=json.loads(confidence) if confidence else {},
        thumbnail=thumbnail,
        embedding=np.frombuffer(embedding, dtype=np.float32).copy() if embedding is not None else None,
        photo_hash=photo_hash,
        box=tuple(json.loads(box)) if box else None,
        garment=garment,
        garment_class=garment_class,
    )


def _chunks(values: list[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


__all__ = [
    "CatalogMismatchError",
    "CatalogStore",
    "EmbeddingBatch",
    "EmbeddingState",
    "IngestRun",
    "InsertResult",
    "Item",
    "ItemRecord",
    "SkippedFile",
    "content_hash",
    "index_payload",
    "validate_attributes",
]

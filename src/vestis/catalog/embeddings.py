"""Reading the stored embeddings: their state, batches by id, and consistent snapshots.

A vector index mirrors the items that have an embedding. :class:`EmbeddingState` says what a
complete mirror holds (how many vectors, and the highest item id ever given), so comparing
the state an index was built from with the database's tells whether it lags, and whether
only newer items are missing (then they are added) or something else changed (rebuild).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from vestis.catalog.records import EmbeddingBatch, index_payload

if TYPE_CHECKING:
    from vestis.schema.model import Schema


class EmbeddingState(NamedTuple):
    """What a vector index mirroring the database must hold: ``count`` vectors, and ``seq``, the
    highest item id ever given (ids are never reused, so an insert always raises it)."""

    count: int
    seq: int


class InsertResult(NamedTuple):
    """What :meth:`CatalogStore.insert_items` did: each record's id, whether this call inserted
    it, and the highest item id ever given before and after the transaction."""

    ids: list[int]
    inserted: list[bool]
    seq_before: int
    seq_after: int

    @property
    def added(self) -> int:
        return sum(self.inserted)


class StoreSnapshot:
    """One read transaction of :meth:`CatalogStore.snapshot`."""

    def __init__(self, db: sqlite3.Connection, schema: Schema) -> None:
        self._db, self._schema = db, schema
        self._lock = threading.RLock()

    def state(self) -> EmbeddingState:
        return _embedding_state(self._db)

    def count_embeddings(self, upto: int) -> int:
        """Items with an embedding and an id of at most ``upto``."""
        sql = "SELECT COUNT(*) FROM items WHERE embedding IS NOT NULL AND id <= ?"
        return self._db.execute(sql, (upto,)).fetchone()[0]

    def iter_embeddings(
        self, batch: int = 4096, *, payloads: bool = False, after: int = 0
    ) -> Iterator[EmbeddingBatch]:
        yield from _iter_embeddings(self._db, self._lock, self._schema, batch, payloads, after)


def _sequence(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'items'").fetchone()
    return int(row[0]) if row else 0


def _embedding_state(db: sqlite3.Connection) -> EmbeddingState:
    count = db.execute("SELECT COUNT(*) FROM items WHERE embedding IS NOT NULL").fetchone()[0]
    return EmbeddingState(int(count), _sequence(db))


def _iter_embeddings(db, lock, schema, batch: int, payloads: bool, after: int) -> Iterator[EmbeddingBatch]:
    columns = "id, embedding, attributes" if payloads else "id, embedding"
    last = int(after)
    while True:
        with lock:
            rows = db.execute(
                f"SELECT {columns} FROM items WHERE id > ? AND embedding IS NOT NULL ORDER BY id LIMIT ?",
                (last, batch),
            ).fetchall()
        if not rows:
            return
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
        extra = [index_payload(schema, json.loads(r[2] or "{}")) for r in rows] if payloads else None
        yield EmbeddingBatch(ids, vectors, extra)
        last = int(ids[-1])

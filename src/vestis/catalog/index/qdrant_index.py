"""Qdrant index: local mode (on disk or in memory) for tests and small setups, a server or cluster by URL.

Exactly one of ``path`` (local mode, data in that folder), ``url`` (server; the API key
comes from ``api_key`` or the ``VESTIS_QDRANT_API_KEY`` environment variable and is never
saved) or ``location=":memory:"`` (the default; cannot be saved). The collection uses
cosine distance; payloads are stored per point and :class:`Condition` filters are pushed
down as ``must`` / ``must_not`` ``MatchAny`` conditions, ``allowed_ids`` as a ``HasIdCondition``
(prefer conditions for large sets: the ids travel in every request).

Local mode is qdrant-client's pure-Python engine (brute force, ~0.2 s per query at 100k
items): measure latency on a server. ``save`` writes only ``index.json``; the points live
in ``path`` or on the server.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vestis.catalog.index.base import INDEXES, Filter, Hits, VectorIndex

API_KEY_ENV = "VESTIS_QDRANT_API_KEY"


def _import_qdrant() -> Any:
    try:
        import qdrant_client
    except ImportError as exc:
        raise ImportError("the 'qdrant' index needs qdrant-client: pip install 'vestis[scale]'") from exc
    return qdrant_client


@INDEXES.register("qdrant")
class QdrantIndex(VectorIndex):
    """A Qdrant collection behind the index contract."""

    name = "qdrant"
    supports_payload_filters = True

    def __init__(
        self,
        dim: int,
        *,
        path: str | None = None,
        url: str | None = None,
        location: str | None = None,
        api_key: str | None = None,
        collection: str = "vestis",
        hnsw_ef: int | None = None,
        payload_indexes: Sequence[str] = (),
        prefer_grpc: bool = False,
        batch_size: int = 1000,
        create: bool = True,
    ) -> None:
        """
        Args:
            path: local-mode storage folder.
            url: server or cluster URL, e.g. ``http://qdrant:6333``.
            location: ``":memory:"`` for a throw-away local collection.
            api_key: server API key (default: ``$VESTIS_QDRANT_API_KEY``); never written to disk.
            collection: collection name.
            hnsw_ef: search beam width (server default when None).
            payload_indexes: payload fields to index as keywords when creating the collection on a
                server (filters on them then use the index; local mode has no payload indexes).
            prefer_grpc: talk gRPC to the server.
            batch_size: points per upsert request.
            create: create the collection when it is missing (else raise).
        """
        if sum(x is not None for x in (path, url, location)) > 1:
            raise ValueError("give at most one of path=, url= and location= for a qdrant index")
        super().__init__(
            dim,
            path=str(Path(path).resolve()) if path is not None else None,
            url=url,
            collection=collection,
            hnsw_ef=hnsw_ef,
            payload_indexes=list(payload_indexes),
            prefer_grpc=prefer_grpc,
            batch_size=batch_size,
        )
        qdrant = _import_qdrant()
        self._models = qdrant.models
        self.collection = collection
        self.batch_size = batch_size
        self.in_memory = path is None and url is None
        if url is not None:
            self.client = qdrant.QdrantClient(
                url=url, api_key=api_key or os.environ.get(API_KEY_ENV), prefer_grpc=prefer_grpc
            )
        elif path is not None:
            self.client = qdrant.QdrantClient(path=self.options["path"])
        else:
            self.client = qdrant.QdrantClient(location=location or ":memory:")
        self._params = self._models.SearchParams(hnsw_ef=hnsw_ef) if hnsw_ef else None
        self._open_collection(create, list(payload_indexes) if url is not None else [])

    def _open_collection(self, create: bool, payload_indexes: list[str]) -> None:
        models = self._models
        where = self.options["url"] or self.options["path"] or "memory"
        if self.client.collection_exists(self.collection):
            vectors = self.client.get_collection(self.collection).config.params.vectors
            size = getattr(vectors, "size", None)
            if size != self.dim:
                raise ValueError(
                    f"qdrant collection {self.collection!r} at {where} holds vectors of dimension "
                    f"{size}, not {self.dim} (or uses named vectors)"
                )
            return
        if not create:
            raise FileNotFoundError(f"qdrant collection {self.collection!r} not found at {where}")
        self.client.create_collection(
            self.collection,
            vectors_config=models.VectorParams(size=self.dim, distance=models.Distance.COSINE),
        )
        for field in payload_indexes:
            self.client.create_payload_index(
                self.collection, field_name=field, field_schema=models.PayloadSchemaType.KEYWORD
            )

    def __len__(self) -> int:
        return self.client.count(self.collection, exact=True).count

    def close(self) -> None:
        self.client.close()

    def _add(self, ids: np.ndarray, vectors: np.ndarray, payloads: list[dict[str, Any]]) -> None:
        for start in range(0, ids.size, self.batch_size):
            end = start + self.batch_size
            batch = self._models.Batch(
                ids=ids[start:end].tolist(), vectors=vectors[start:end].tolist(), payloads=payloads[start:end]
            )
            self.client.upsert(self.collection, points=batch, wait=True)

    def _remove(self, ids: np.ndarray) -> None:
        for start in range(0, ids.size, self.batch_size):
            selector = self._models.PointIdsList(points=ids[start : start + self.batch_size].tolist())
            self.client.delete(self.collection, points_selector=selector, wait=True)

    def _stored_ids(self) -> np.ndarray:
        ids: list[int] = []
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.collection, limit=self.batch_size, offset=offset, with_payload=False, with_vectors=False
            )
            ids.extend(int(p.id) for p in points)
            if offset is None:
                return np.asarray(ids, dtype=np.int64)

    def _stored_vectors(self, ids: np.ndarray) -> np.ndarray:
        out = np.full((ids.size, self.dim), np.nan, dtype=np.float32)
        row = {int(i): n for n, i in enumerate(ids.tolist())}
        for start in range(0, ids.size, self.batch_size):
            points = self.client.retrieve(
                self.collection,
                ids=ids[start : start + self.batch_size].tolist(),
                with_payload=False,
                with_vectors=True,
            )
            for p in points:
                out[row[int(p.id)]] = p.vector
        return out

    def _search(self, queries: np.ndarray, k: int, filter: Filter | None) -> Hits:
        query_filter = self._query_filter(filter)
        requests = [
            self._models.QueryRequest(
                query=q.tolist(), limit=k, filter=query_filter, params=self._params, with_payload=False
            )
            for q in queries
        ]
        responses = self.client.query_batch_points(self.collection, requests=requests)
        return [[(int(p.id), float(p.score)) for p in r.points] for r in responses]

    def _query_filter(self, filter: Filter | None) -> Any:
        """The qdrant Filter for a vestis Filter (None when it restricts nothing)."""
        if filter is None:
            return None
        models = self._models
        must: list[Any] = []
        must_not: list[Any] = []
        for c in filter.conditions:
            condition = models.FieldCondition(key=c.field, match=models.MatchAny(any=list(c.values)))
            (must_not if c.negate else must).append(condition)
        if filter.allowed_array is not None:
            must.append(models.HasIdCondition(has_id=filter.allowed_array.tolist()))
        if not must and not must_not:
            return None
        return models.Filter(must=must or None, must_not=must_not or None)

    def _save(self, directory: Path) -> dict[str, Any]:
        if self.in_memory:
            raise ValueError("an in-memory qdrant index cannot be saved: create it with path= or url=")
        options = dict(self.options)
        if options["path"] is not None:  # inside the saved folder: record it relative, so the folder can move
            path = Path(options["path"])
            if path.is_relative_to(directory.resolve()):
                options["path"] = str(path.relative_to(directory.resolve()))
        return options

    @classmethod
    def _load(cls, directory: Path, dim: int, options: dict[str, Any]) -> QdrantIndex:
        if options.get("path") is not None:
            options["path"] = str(directory / options["path"])  # an absolute path stays as it is
        return cls(dim, create=False, **options)

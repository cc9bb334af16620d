"""Brute-force numpy index: exact, dependency-free, the fallback when faiss is missing.

Search costs one ``[q, n]`` matrix product, fine up to ~100k items. Payload conditions
are evaluated in Python on the stored payloads, so the catalog may push them down here.
Saved as ``vectors.npy``, ``ids.npy`` and ``payloads.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vestis.catalog.index.base import INDEXES, Filter, Hits, VectorIndex, top_k


@INDEXES.register("exact")
class ExactIndex(VectorIndex):
    """Vectors in one growable array; removal moves the last row into the freed one."""

    name = "exact"
    supports_payload_filters = True

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self._vectors = np.empty((0, self.dim), dtype=np.float32)  # capacity >= len
        self._ids = np.empty(0, dtype=np.int64)
        self._payloads: list[dict[str, Any]] = []
        self._row: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._payloads)

    def _add(self, ids: np.ndarray, vectors: np.ndarray, payloads: list[dict[str, Any]]) -> None:
        fresh = [i for i, id_ in enumerate(ids.tolist()) if id_ not in self._row]
        self._reserve(len(self) + len(fresh))
        for i, id_ in enumerate(ids.tolist()):
            row = self._row.get(id_)
            if row is None:
                row = self._row[id_] = len(self._payloads)
                self._payloads.append(payloads[i])
                self._ids[row] = id_
            else:
                self._payloads[row] = payloads[i]
            self._vectors[row] = vectors[i]

    def _reserve(self, size: int) -> None:
        if size <= self._ids.size:
            return
        capacity = max(size, 2 * self._ids.size, 64)
        vectors = np.empty((capacity, self.dim), dtype=np.float32)
        vectors[: len(self)] = self._vectors[: len(self)]
        ids = np.empty(capacity, dtype=np.int64)
        ids[: len(self)] = self._ids[: len(self)]
        self._vectors, self._ids = vectors, ids

    def _remove(self, ids: np.ndarray) -> None:
        for id_ in ids.tolist():
            row = self._row.pop(id_, None)
            if row is None:
                continue
            last = len(self._payloads) - 1
            if row != last:
                moved = int(self._ids[last])
                self._vectors[row] = self._vectors[last]
                self._ids[row] = moved
                self._payloads[row] = self._payloads[last]
                self._row[moved] = row
            self._payloads.pop()

    def _search(self, queries: np.ndarray, k: int, filter: Filter | None) -> Hits:
        n = len(self)
        scores = queries @ self._vectors[:n].T
        if filter is not None:
            mask = np.ones(n, dtype=bool)
            if filter.allowed_array is not None:
                mask = np.isin(self._ids[:n], filter.allowed_array)
            if filter.conditions:
                mask &= np.fromiter((filter.passes(p) for p in self._payloads), dtype=bool, count=n)
            rows = np.flatnonzero(mask)
            scores, row_ids = scores[:, rows], self._ids[rows]
        else:
            row_ids = self._ids[:n]
        cols, best = top_k(scores, k)
        return [
            list(zip(row_ids[c].tolist(), s.tolist(), strict=True)) for c, s in zip(cols, best, strict=True)
        ]

    def _stored_ids(self) -> np.ndarray:
        return self._ids[: len(self)].copy()

    def _stored_vectors(self, ids: np.ndarray) -> np.ndarray:
        rows = np.fromiter((self._row.get(i, -1) for i in ids.tolist()), dtype=np.int64, count=ids.size)
        out = np.full((ids.size, self.dim), np.nan, dtype=np.float32)
        found = rows >= 0
        out[found] = self._vectors[rows[found]]
        return out

    def _save(self, directory: Path) -> dict[str, Any]:
        n = len(self)
        np.save(directory / "vectors.npy", self._vectors[:n])
        np.save(directory / "ids.npy", self._ids[:n])
        (directory / "payloads.json").write_text(json.dumps(self._payloads))
        return self.options

    @classmethod
    def _load(cls, directory: Path, dim: int, options: dict[str, Any]) -> ExactIndex:
        index = cls(dim, **options)
        ids = np.load(directory / "ids.npy")
        if ids.size:
            payloads = json.loads((directory / "payloads.json").read_text())
            vectors = np.load(directory / "vectors.npy")
            if not (ids.ndim == 1 and len(vectors) == ids.size == len(payloads)):
                raise ValueError(
                    f"{directory}: {ids.size} ids, {len(vectors)} vectors and {len(payloads)} payloads"
                )
            index.add(ids, vectors, payloads)
        return index

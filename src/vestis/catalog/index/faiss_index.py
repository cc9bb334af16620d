"""FAISS embedded index: exact below a size threshold, HNSW above it.

Below ``hnsw_threshold`` items the vectors sit in an ``IndexFlatIP`` (exact); when the
index grows past it they are rebuilt once into an ``IndexHNSWFlat`` (inner product).
Both index the same *row* space: row → id lives in a numpy array, id → row in a
:class:`_RowMap`, so filters, removal and rebuilds share one code path and the vectors
are read back from faiss's own storage (one copy in memory).

- Removal marks rows dead (tombstones, excluded through a bitmap selector). The flat
  index compacts as soon as more than 10% of its rows are dead; HNSW compacts on
  ``save`` past that fraction (a rebuild, minutes at a million items).
- ``allowed_ids``: HNSW walks the whole graph and keeps only allowed nodes (an
  ``IDSelectorBitmap``), so under a filter of selectivity s the beam is widened to
  ``filtered_ef / s``: it then holds about ``filtered_ef`` allowed nodes, and recall stays
  level across selectivities. That walk costs ∝ 1/s while scoring the allowed rows
  exactly (read in place through an ``IDSelectorArray``) costs ∝ s, so each search takes
  the cheaper one: exact when ``allowed ≤ EXACT_ROWS_PER_SLOT × beam``, which at 1M items
  sends filters under ~3-4% to the exact path (or set ``exact_threshold``).
- Payloads are accepted and not stored: this backend does not push payload conditions
  down, the catalog turns them into ``allowed_ids``.

Defaults were measured with ``benchmarks/index_scale.py`` (1M × 256 on 2 shared cores:
build 20 min, 1.2 GiB; recall@10 1.00 at 0.4 ms p50 unfiltered, 3-3.5 ms p50 / 7.5 ms p99
with a 6-10% filter, 1.6 ms p50 with a 0.6% one). ``ef_construction=100`` halves the
build for ~1 point of recall (at 200k items), which a larger ``ef_search`` buys back.
Saved as ``vectors.faiss`` (``faiss.write_index``) and ``ids.npy`` (row → id, -1 when dead).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from vestis.catalog.index.base import INDEXES, Filter, Hits, VectorIndex

logger = logging.getLogger(__name__)

# One slot of a filtered HNSW beam (~9 µs at 1M × 256) costs about as much as scoring this
# many allowed rows exactly (~0.2 µs each), measured with benchmarks/index_scale.py.
EXACT_ROWS_PER_SLOT = 40
DEAD_FRACTION = 0.10  # compact once more than this fraction of rows are tombstones
BUILD_CHUNK = 100_000  # rows per faiss ``add`` call during a rebuild (progress is logged between)


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise ImportError(
            "the 'faiss' index needs faiss-cpu: pip install 'vestis[scale]' "
            "(or use the dependency-free 'exact' index)"
        ) from exc
    return faiss


class _RowMap:
    """External id → row for whole arrays at once (a filter maps ~100k ids per query).

    A dense table indexed by id while ids are compact, as catalog row ids are (100k
    lookups in 0.4 ms); sorted arrays and binary search otherwise (~5 ms, and each
    insertion re-sorts).
    """

    SLACK = 8  # the dense table may hold this many slots per stored id...
    MIN_TABLE = 1 << 20  # ...or this many, whichever is larger

    def __init__(self) -> None:
        self.count = 0
        self._table: np.ndarray | None = np.empty(0, dtype=np.int64)  # None once sparse
        self._keys = np.empty(0, dtype=np.int64)  # sparse: sorted ids
        self._vals = np.empty(0, dtype=np.int64)  # sparse: their rows

    @classmethod
    def from_row_ids(cls, row_ids: np.ndarray) -> _RowMap:
        """The map of a row → id array in which dead rows hold -1."""
        rows = np.flatnonzero(row_ids >= 0)
        mapping = cls()
        if rows.size:
            mapping.set(row_ids[rows], rows)
        return mapping

    def get(self, ids: np.ndarray) -> np.ndarray:
        """Row of each id, -1 for ids not stored."""
        if self._table is not None:
            out = np.full(ids.size, -1, dtype=np.int64)
            inside = (ids >= 0) & (ids < self._table.size)
            out[inside] = self._table[ids[inside]]
            return out
        if self._keys.size == 0:
            return np.full(ids.size, -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self._keys, ids), self._keys.size - 1)
        return np.where(self._keys[pos] == ids, self._vals[pos], -1)

    def set(self, ids: np.ndarray, rows: np.ndarray) -> None:
        """Point unique ``ids`` at ``rows``."""
        if self._table is not None:
            self._fit(int(ids.max()) + 1, ids.size)
        if self._table is not None:
            self.count += int(np.count_nonzero(self._table[ids] < 0))
            self._table[ids] = rows
            return
        known = self.get(ids) >= 0
        self._vals[np.searchsorted(self._keys, ids[known])] = rows[known]
        if not known.all():
            keys = np.concatenate([self._keys, ids[~known]])
            order = np.argsort(keys, kind="stable")
            self._keys, self._vals = keys[order], np.concatenate([self._vals, rows[~known]])[order]
            self.count += int(np.count_nonzero(~known))

    def delete(self, ids: np.ndarray) -> None:
        """Forget unique ``ids`` (unknown ones are ignored)."""
        if self._table is not None:
            ids = ids[ids < self._table.size]
            self.count -= int(np.count_nonzero(self._table[ids] >= 0))
            self._table[ids] = -1
            return
        keep = ~np.isin(self._keys, ids)
        self.count = int(np.count_nonzero(keep))
        self._keys, self._vals = self._keys[keep], self._vals[keep]

    def _fit(self, size: int, incoming: int) -> None:
        """Grow the dense table to ``size`` slots, or switch to sparse arrays if that would waste memory."""
        assert self._table is not None
        if size <= self._table.size:
            return
        if size > max(self.SLACK * (self.count + incoming), self.MIN_TABLE):
            self._keys = np.flatnonzero(self._table >= 0)
            self._vals = self._table[self._keys]
            self._table = None
            return
        grown = np.full(max(size, 2 * self._table.size), -1, dtype=np.int64)
        grown[: self._table.size] = self._table
        self._table = grown


@INDEXES.register("faiss")
class FaissIndex(VectorIndex):
    """Embedded FAISS index (``pip install 'vestis[scale]'``); see the module docstring."""

    name = "faiss"

    def __init__(
        self,
        dim: int,
        *,
        hnsw_threshold: int = 20_000,
        m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 64,
        filtered_ef: int = 32,
        exact_threshold: int | None = None,
    ) -> None:
        """
        Args:
            hnsw_threshold: item count from which the index is HNSW rather than exact.
            m: HNSW graph degree (memory ~ 8·m bytes per item on top of the vectors).
            ef_construction: HNSW build beam width (build time grows about linearly).
            ef_search: HNSW search beam width without a filter (recall vs latency).
            filtered_ef: allowed nodes the beam should hold under a filter (beam = filtered_ef / s).
            exact_threshold: filters leaving at most this many ids are scored exactly, more go
                through the graph (None: whichever is cheaper, see the module docstring).
        """
        super().__init__(
            dim,
            hnsw_threshold=hnsw_threshold,
            m=m,
            ef_construction=ef_construction,
            ef_search=ef_search,
            filtered_ef=filtered_ef,
            exact_threshold=exact_threshold,
        )
        self._faiss = _import_faiss()
        self.hnsw_threshold = hnsw_threshold
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.filtered_ef = filtered_ef
        self.exact_threshold = exact_threshold
        self._index = self._new_index(0)
        self._row_ids = np.empty(0, dtype=np.int64)  # row → id; -1 marks a dead row
        self._rows = _RowMap()
        self._dead = 0
        self._alive_bits: np.ndarray | None = None  # packed bitmap of live rows, rebuilt lazily

    @property
    def is_hnsw(self) -> bool:
        return isinstance(self._index, self._faiss.IndexHNSWFlat)

    def __len__(self) -> int:
        return self._rows.count

    def __repr__(self) -> str:
        kind = "hnsw" if self.is_hnsw else "flat"
        return f"FaissIndex(dim={self.dim}, len={len(self)}, {kind}, dead={self._dead})"

    # -- storage -------------------------------------------------------------------------------
    def _new_index(self, size: int) -> Any:
        if size < self.hnsw_threshold:
            return self._faiss.IndexFlatIP(self.dim)
        index = self._faiss.IndexHNSWFlat(self.dim, self.m, self._faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        index.hnsw.efSearch = self.ef_search
        return index

    def _vectors(self) -> np.ndarray:
        """A zero-copy view of every row's vector (valid until the next add or rebuild)."""
        n = self._index.ntotal
        if n == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        flat = self._faiss.downcast_index(self._index.storage) if self.is_hnsw else self._index
        return self._faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim)

    def _build(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Replace the faiss index by a fresh one (flat or HNSW by size) holding exactly these rows."""
        index = self._new_index(ids.size)
        kind = "HNSW" if isinstance(index, self._faiss.IndexHNSWFlat) else "flat"
        for start in range(0, ids.size, BUILD_CHUNK):
            index.add(vectors[start : start + BUILD_CHUNK])
            if ids.size > BUILD_CHUNK:
                logger.info("building %s index: %d / %d", kind, min(start + BUILD_CHUNK, ids.size), ids.size)
        self._index = index
        self._row_ids = ids.copy()
        self._rows = _RowMap.from_row_ids(self._row_ids)
        self._dead = 0
        self._alive_bits = None

    def _compact(self) -> None:
        alive = np.flatnonzero(self._row_ids >= 0)
        self._build(self._row_ids[alive], self._vectors()[alive])

    def _kill(self, rows: np.ndarray) -> None:
        if rows.size:
            self._row_ids[rows] = -1
            self._dead += rows.size
            self._alive_bits = None

    def _maybe_compact(self) -> None:
        if not self.is_hnsw and self._dead > DEAD_FRACTION * self._index.ntotal:
            self._compact()

    # -- contract ------------------------------------------------------------------------------
    def _add(self, ids: np.ndarray, vectors: np.ndarray, payloads: list[dict[str, Any]]) -> None:
        old = self._rows.get(ids)
        self._kill(old[old >= 0])
        if not self.is_hnsw and len(self) - np.count_nonzero(old >= 0) + ids.size >= self.hnsw_threshold:
            alive = np.flatnonzero(self._row_ids >= 0)
            logger.info("%d items reach hnsw_threshold: rebuilding as HNSW", alive.size + ids.size)
            self._build(
                np.concatenate([self._row_ids[alive], ids]), np.concatenate([self._vectors()[alive], vectors])
            )
            return
        start = self._index.ntotal
        self._index.add(vectors)
        self._row_ids = np.concatenate([self._row_ids, ids])
        self._rows.set(ids, np.arange(start, start + ids.size))
        self._alive_bits = None
        self._maybe_compact()

    def _remove(self, ids: np.ndarray) -> None:
        rows = self._rows.get(ids)
        self._rows.delete(ids)
        self._kill(rows[rows >= 0])
        self._maybe_compact()

    def _search(self, queries: np.ndarray, k: int, filter: Filter | None) -> Hits:
        if len(self) == 0:
            return [[] for _ in range(queries.shape[0])]
        allowed = filter.allowed_array if filter is not None else None
        if allowed is None:
            bits = self._alive_bitmap() if self._dead else None
            return self._graph_search(queries, k, bits, max(self.ef_search, k))
        rows = self._rows.get(allowed)
        rows = rows[rows >= 0]
        if rows.size == 0:
            return [[] for _ in range(queries.shape[0])]
        beam = self.filtered_beam(k, rows.size)
        if beam is None:
            return self._exact_search(queries, k, rows)
        mask = np.zeros(self._index.ntotal, dtype=bool)
        mask[rows] = True
        return self._graph_search(queries, k, np.packbits(mask, bitorder="little"), beam)

    def filtered_beam(self, k: int, allowed: int) -> int | None:
        """HNSW beam width for a filter leaving ``allowed`` ids, or None when exact scoring is cheaper."""
        if not self.is_hnsw:
            return None
        beam = math.ceil(max(self.filtered_ef, k) * len(self) / allowed)
        threshold = EXACT_ROWS_PER_SLOT * beam if self.exact_threshold is None else self.exact_threshold
        return None if allowed <= threshold else max(beam, self.ef_search, k)

    def _alive_bitmap(self) -> np.ndarray:
        if self._alive_bits is None:
            self._alive_bits = np.packbits(self._row_ids >= 0, bitorder="little")
        return self._alive_bits

    def _exact_search(self, queries: np.ndarray, k: int, rows: np.ndarray) -> Hits:
        """Score only ``rows``, read in place by faiss (IDSelectorArray): 2-3x faster than a numpy gather."""
        faiss = self._faiss
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        flat = faiss.downcast_index(self._index.storage) if self.is_hnsw else self._index
        params = faiss.SearchParameters(sel=faiss.IDSelectorArray(rows.size, faiss.swig_ptr(rows)))
        return self._hits(*flat.search(queries, k, params=params))

    def _graph_search(self, queries: np.ndarray, k: int, bits: np.ndarray | None, ef: int) -> Hits:
        faiss = self._faiss
        params = faiss.SearchParametersHNSW(efSearch=ef) if self.is_hnsw else faiss.SearchParameters()
        selector = faiss.IDSelectorBitmap(bits.size, faiss.swig_ptr(bits)) if bits is not None else None
        if selector is not None:
            params.sel = selector
        return self._hits(*self._index.search(queries, k, params=params))

    def _hits(self, scores: np.ndarray, labels: np.ndarray) -> Hits:
        """faiss (scores, rows) → (id, score) lists, without padding (-1) and dead rows."""
        ids = np.where(labels >= 0, self._row_ids[np.maximum(labels, 0)], -1)
        hits = []
        for row_ids, row_scores in zip(ids, scores, strict=True):
            keep = row_ids >= 0
            hits.append(list(zip(row_ids[keep].tolist(), row_scores[keep].tolist(), strict=True)))
        return hits

    def _stored_ids(self) -> np.ndarray:
        return self._row_ids[self._row_ids >= 0]

    def _stored_vectors(self, ids: np.ndarray) -> np.ndarray:
        rows = self._rows.get(ids)
        out = np.full((ids.size, self.dim), np.nan, dtype=np.float32)
        found = rows >= 0
        out[found] = self._vectors()[rows[found]]
        return out

    def _save(self, directory: Path) -> dict[str, Any]:
        if self._dead > DEAD_FRACTION * self._index.ntotal:
            self._compact()
        self._faiss.write_index(self._index, str(directory / "vectors.faiss"))
        np.save(directory / "ids.npy", self._row_ids)
        return self.options

    @classmethod
    def _load(cls, directory: Path, dim: int, options: dict[str, Any]) -> FaissIndex:
        index = cls(dim, **options)
        index._index = index._faiss.read_index(str(directory / "vectors.faiss"))
        if index._index.d != dim:
            raise ValueError(f"{directory}: faiss file has dimension {index._index.d}, index.json says {dim}")
        index._row_ids = np.load(directory / "ids.npy")
        if index._row_ids.ndim != 1 or index._row_ids.size != index._index.ntotal:
            raise ValueError(
                f"{directory}: ids.npy has {index._row_ids.size} rows, vectors.faiss {index._index.ntotal}"
            )
        index._rows = _RowMap.from_row_ids(index._row_ids)
        index._dead = int(np.count_nonzero(index._row_ids < 0))
        return index

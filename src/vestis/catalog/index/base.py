"""The vector index contract: ids + vectors (+ payloads) in, filtered nearest neighbours out.

Vectors are L2-normalised float32 rows chosen by the caller (the embedder normalises);
the score is the inner product, i.e. the cosine. Ids are non-negative integers (the
catalog's SQLite row ids); re-adding an id replaces its vector and payload.

A search takes a :class:`Filter`: ``allowed_ids`` (precomputed by the catalog, honoured
by every backend) and payload ``conditions`` (pushed down by backends whose
``supports_payload_filters`` is true; the others ignore them, and the catalog then always
supplies ``allowed_ids``).

Subclasses implement ``_add``, ``_remove``, ``_search``, ``__len__`` and, to persist
anything besides ``index.json``, ``_save`` and ``_load``. They may assume what the public
methods check here: ids are unique non-negative int64, vectors are C-contiguous float32
``[n, dim]``, queries are ``[q, dim]`` (at least one), ``k >= 1`` and an ``allowed_ids``
filter is a non-empty sorted unique int64 array. An empty index must answer ``[]`` per query.
A backend that can read back what it holds also implements ``_stored_ids`` and
``_stored_vectors``: ``vestis catalog check`` then compares every id and vector with the
database (without them it samples self-searches instead).

>>> import numpy as np
>>> index = create_index("exact", dim=2)
>>> index.add([10, 11], np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
>>> index.search(np.array([0.0, 1.0], dtype=np.float32), k=1)
[[(11, 1.0)]]
"""

from __future__ import annotations

import importlib.util
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vestis.registry import Registry

INDEX_FILE = "index.json"
Hits = list[list[tuple[int, float]]]


@dataclass(frozen=True)
class Condition:
    """One payload condition: the payload value (or any element of a list value) is in ``values``.

    A missing field never matches, so a negated condition on it passes. Payload keys are
    flat and values are strings or lists of strings.
    """

    field: str
    values: tuple[str, ...]
    negate: bool = False

    def matches(self, payload: dict[str, Any]) -> bool:
        value = payload.get(self.field)
        if isinstance(value, (list, tuple)):
            hit = any(v in self.values for v in value)
        else:
            hit = value is not None and value in self.values
        return hit != self.negate


@dataclass(frozen=True, eq=False)
class Filter:
    """What a search may return: ids in ``allowed_ids`` (when given) whose payload passes every condition.

    ``allowed_ids`` may also be an integer numpy array, which skips a Python-level set
    conversion on large sets (100k ids cost ~3 ms as a frozenset); sorted, it is used as is.
    """

    allowed_ids: frozenset[int] | np.ndarray | None = None
    conditions: tuple[Condition, ...] = ()

    @cached_property
    def allowed_array(self) -> np.ndarray | None:
        """``allowed_ids`` as a sorted unique int64 array (None when unrestricted)."""
        ids = self.allowed_ids
        if ids is None:
            return None
        if isinstance(ids, np.ndarray):
            array = np.ascontiguousarray(ids.ravel(), dtype=np.int64)
        else:
            array = np.fromiter(ids, dtype=np.int64, count=len(ids))
        if array.size > 1 and not np.all(array[1:] > array[:-1]):  # SQL ``ORDER BY id`` skips this sort
            array = np.unique(array)
        return array

    def passes(self, payload: dict[str, Any]) -> bool:
        """Whether a payload satisfies every condition (for backends evaluating them in Python)."""
        return all(c.matches(payload) for c in self.conditions)


class VectorIndex(ABC):
    """Base class of vector indexes. Register with ``@INDEXES.register(name)`` and set ``name``."""

    name: ClassVar[str] = ""
    supports_payload_filters: ClassVar[bool] = False

    def __init__(self, dim: int, **options: Any) -> None:
        if int(dim) < 1:
            raise ValueError(f"index dimension must be positive, got {dim}")
        self.dim = int(dim)
        self.options = options  # recorded in index.json; JSON values only, never secrets

    # -- what a backend implements -------------------------------------------------------------
    @abstractmethod
    def _add(self, ids: np.ndarray, vectors: np.ndarray, payloads: list[dict[str, Any]]) -> None:
        """Upsert unique ids (each replaces any stored vector and payload of that id)."""

    @abstractmethod
    def _remove(self, ids: np.ndarray) -> None:
        """Remove ids; unknown ids are ignored."""

    @abstractmethod
    def _search(self, queries: np.ndarray, k: int, filter: Filter | None) -> Hits:
        """At most k (id, score) per query, best first, only ids passing the filter."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of stored ids."""

    def _save(self, directory: Path) -> dict[str, Any]:
        """Write the backend's files into directory; return the options index.json records."""
        return self.options

    @classmethod
    def _load(cls, directory: Path, dim: int, options: dict[str, Any]) -> VectorIndex:
        """Rebuild an index from directory (after ``_save``)."""
        return cls(dim, **options)

    def close(self) -> None:  # noqa: B027  (an optional hook: most backends hold nothing)
        """Release files, locks or connections (qdrant local mode locks its folder)."""

    def _stored_ids(self) -> np.ndarray | None:
        """Every stored id (any order), or None when the backend cannot list them."""
        return None

    def _stored_vectors(self, ids: np.ndarray) -> np.ndarray | None:
        """``[n, dim]`` float32 rows of unique ``ids``, NaN rows for ids not stored; or None when the
        backend cannot read its vectors back."""
        return None

    # -- the public contract -------------------------------------------------------------------
    def add(
        self,
        ids: Sequence[int] | np.ndarray,
        vectors: np.ndarray,
        payloads: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        """Insert or replace ``ids`` with their vectors (``[n, dim]``) and optional payloads."""
        id_array = _check_ids(ids)
        matrix = self._check_vectors(vectors, "vectors")
        if matrix.shape[0] != id_array.size:
            raise ValueError(f"got {id_array.size} ids but {matrix.shape[0]} vectors")
        if payloads is not None and len(payloads) != id_array.size:
            raise ValueError(f"got {id_array.size} ids but {len(payloads)} payloads")
        if id_array.size == 0:
            return
        # a repeated id within one call: the last occurrence wins, as if added one by one
        _, last_reversed = np.unique(id_array[::-1], return_index=True)
        keep = np.sort(id_array.size - 1 - last_reversed)
        if keep.size != id_array.size:
            id_array, matrix = id_array[keep], matrix[keep]
            payloads = [payloads[i] for i in keep] if payloads is not None else None
        rows = list(payloads) if payloads is not None else [{} for _ in range(id_array.size)]
        self._add(id_array, np.ascontiguousarray(matrix), rows)

    def remove(self, ids: Sequence[int] | np.ndarray) -> None:
        """Remove ``ids``; ids not in the index are ignored."""
        id_array = np.unique(_check_ids(ids))
        if id_array.size:
            self._remove(id_array)

    def search(self, queries: np.ndarray, k: int, filter: Filter | None = None) -> Hits:
        """The ``k`` best (id, score) per query row, best first; a single ``[dim]`` query gives one list."""
        matrix = self._check_vectors(queries, "queries")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        empty: Hits = [[] for _ in range(matrix.shape[0])]
        if matrix.shape[0] == 0:
            return empty
        if filter is not None and filter.allowed_array is not None and filter.allowed_array.size == 0:
            return empty
        return self._search(np.ascontiguousarray(matrix), k, filter)

    def stored_ids(self) -> np.ndarray | None:
        """Every id the index holds, sorted int64; None when this backend cannot list them (then a
        check compares by searching instead)."""
        ids = self._stored_ids()
        return None if ids is None else np.unique(np.asarray(ids, dtype=np.int64))

    def stored_vectors(self, ids: Sequence[int] | np.ndarray) -> np.ndarray | None:
        """The vectors stored for ``ids`` (``[n, dim]`` float32, a NaN row for an id not stored), as the
        backend keeps them (qdrant normalises); None when this backend cannot read them back."""
        id_array = _check_ids(ids)
        unique, inverse = np.unique(id_array, return_inverse=True)
        if unique.size == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        rows = self._stored_vectors(unique)
        return None if rows is None else np.asarray(rows, dtype=np.float32)[inverse]

    def save(self, directory: str | Path) -> None:
        """Write the index into ``directory``: the backend's files, then ``index.json``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        options = self._save(directory)
        meta = {"backend": self.name, "dim": self.dim, "count": len(self), "options": options}
        partial = directory / (INDEX_FILE + ".partial")
        partial.write_text(json.dumps(meta, indent=2) + "\n")
        partial.replace(directory / INDEX_FILE)  # index.json appears only once everything is written

    @classmethod
    def load(cls, directory: str | Path) -> VectorIndex:
        """Open an index saved by :meth:`save` (``cls`` must be the backend that wrote it)."""
        directory = Path(directory)
        meta = read_meta(directory)
        if meta["backend"] != cls.name:
            raise ValueError(f"{directory} holds a {meta['backend']!r} index, not {cls.name!r}")
        return cls._load(directory, int(meta["dim"]), dict(meta.get("options", {})))

    def __enter__(self) -> VectorIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim}, len={len(self)})"

    def _check_vectors(self, vectors: np.ndarray, what: str) -> np.ndarray:
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim == 1 and what == "queries":
            matrix = matrix[None, :]
        if matrix.ndim != 2 or matrix.shape[1] != self.dim:
            got = matrix.shape[-1] if matrix.ndim else "a scalar"
            raise ValueError(
                f"{self.name} index has dimension {self.dim}, got {what} of dimension {got} "
                f"(shape {matrix.shape}); expected [n, {self.dim}]"
            )
        return matrix


def _check_ids(ids: Sequence[int] | np.ndarray) -> np.ndarray:
    array = np.asarray(ids)
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"ids must be a flat sequence of integers, got dtype {array.dtype} shape {array.shape}"
        )
    if array.min() < 0:
        raise ValueError(f"ids must be non-negative integers, got {int(array.min())}")
    return array.astype(np.int64, copy=False)


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and scores of the ``k`` largest scores per row, best first."""
    k = min(k, scores.shape[1])
    if k == 0:
        return np.empty((scores.shape[0], 0), np.int64), np.empty((scores.shape[0], 0), scores.dtype)
    cols = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    best = np.take_along_axis(scores, cols, axis=1)
    order = np.argsort(-best, axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1), np.take_along_axis(best, order, axis=1)


def read_meta(directory: Path) -> dict[str, Any]:
    path = Path(directory) / INDEX_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no vector index in {directory} ({INDEX_FILE} is missing)")
    return json.loads(path.read_text())


INDEXES: Registry[type[VectorIndex]] = Registry(
    "vector index", "vestis.indexes", builtins="vestis.catalog.index"
)


def create_index(name: str, dim: int, **options: Any) -> VectorIndex:
    """A new empty index of a registered backend; the backend and its options are configuration.

    >>> create_index("exact", dim=256)
    ExactIndex(dim=256, len=0)
    """
    return INDEXES.get(name)(dim, **options)


def load_index(directory: str | Path) -> VectorIndex:
    """Open the index saved in ``directory``, whichever backend wrote it."""
    meta = read_meta(Path(directory))
    return INDEXES.get(meta["backend"]).load(directory)


def default_backend() -> str:
    """``faiss`` when faiss is installed (``vestis[scale]``), else the dependency-free ``exact``."""
    return "faiss" if importlib.util.find_spec("faiss") is not None else "exact"

"""Vector indexes behind one small contract; the backend is configuration (``create_index(name, ...)``).

Built-in backends: ``exact`` (numpy, no dependency), ``faiss`` (embedded; exact then HNSW)
and ``qdrant`` (local mode or a server by URL). faiss and qdrant-client are imported only
when such an index is created (``pip install 'vestis[scale]'``).
"""

from __future__ import annotations

from vestis.catalog.index.base import (
    INDEXES,
    Condition,
    Filter,
    VectorIndex,
    create_index,
    default_backend,
    load_index,
)
from vestis.catalog.index.exact import ExactIndex
from vestis.catalog.index.faiss_index import FaissIndex
from vestis.catalog.index.qdrant_index import QdrantIndex

__all__ = [
    "INDEXES",
    "Condition",
    "ExactIndex",
    "FaissIndex",
    "Filter",
    "QdrantIndex",
    "VectorIndex",
    "create_index",
    "default_backend",
    "load_index",
]

"""A catalog directory: the SQLite store (the source of truth) plus a vector index.

    catalog/
      catalog.json      which schema, extractor backend, model and index backend it uses
      catalog.sqlite    items, attributes, embeddings, thumbnails, ingest journal
      index/            the vector index (rebuilt from catalog.sqlite whenever it lags)

The index is derived data: after a crash it may miss the last batches that the database
committed, so opening a catalog re-adds whatever the index lacks.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vestis.schema import Schema, load_schema

log = logging.getLogger(__name__)
CONFIG_NAME = "catalog.json"
DB_NAME = "catalog.sqlite"
INDEX_DIR = "index"


@dataclass
class CatalogConfig:
    schema: str = "vestis"
    backend: str = "lite"
    model: str | None = None
    index: str = field(default_factory=lambda: _default_index())
    index_options: dict[str, Any] = field(default_factory=dict)


def _default_index() -> str:
    from vestis.catalog.index import default_backend

    return default_backend()


class CatalogError(ValueError):
    """A catalog directory is missing, or was made with other settings."""


class Catalog:
    """Open with :meth:`open` (existing) or :meth:`create`; both are idempotent for the same config."""

    def __init__(self, directory: str | Path, config: CatalogConfig) -> None:
        self.directory = Path(directory)
        self.config = config
        self.schema: Schema = load_schema(config.schema)
        self._store = None
        self._index = None
        self._extractor = None

    # ---- lifecycle -------------------------------------------------------------------------
    @classmethod
    def create(cls, directory: str | Path, config: CatalogConfig | None = None) -> Catalog:
        directory = Path(directory)
        config = config or CatalogConfig()
        path = directory / CONFIG_NAME
        if path.is_file():
            existing = CatalogConfig(**json.loads(path.read_text()))
            for key in ("schema", "backend", "model", "index"):
                if getattr(existing, key) != getattr(config, key):
                    raise CatalogError(
                        f"{directory} was created with {key}={getattr(existing, key)!r}, not "
                        f"{getattr(config, key)!r}; use another --catalog directory"
                    )
            return cls(directory, existing)
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(config), indent=1))
        return cls(directory, config)

    @classmethod
    def open(cls, directory: str | Path) -> Catalog:
        path = Path(directory) / CONFIG_NAME
        if not path.is_file():
            raise CatalogError(
                f"no catalog at {directory} (run `vestis ingest SOURCE --catalog {directory}` first)"
            )
        return cls(directory, CatalogConfig(**json.loads(path.read_text())))

    # ---- parts (lazy) ------------------------------------------------------------------------
    @property
    def extractor(self):
        if self._extractor is None:
            from vestis.extract.base import create_extractor

            options = {"model": self.config.model} if self.config.model else {}
            self._extractor = create_extractor(self.config.backend, self.schema, **options)
        return self._extractor

    @property
    def store(self):
        if self._store is None:
            from vestis.catalog.store import CatalogStore

            self._store = CatalogStore(
                self.directory / DB_NAME, self.schema, embedding_model=self.embedding_model_id()
            )
        return self._store

    @property
    def index(self):
        if self._index is None:
            self._index = self._load_or_create_index()
            self.sync_index()
        return self._index

    def _load_or_create_index(self):
        from vestis.catalog.index import create_index, load_index

        folder = self.directory / INDEX_DIR
        if (folder / "index.json").is_file():
            return load_index(folder)
        dim = self.store.embedding_dim()
        if dim is None:
            return None  # nothing ingested yet: created with the first embeddings
        return create_index(self.config.index, dim, **self._index_options())

    def _index_options(self) -> dict[str, Any]:
        options = dict(self.config.index_options)
        if self.config.index == "qdrant" and not any(k in options for k in ("url", "location", "path")):
            options["path"] = str(self.directory / "qdrant")
        return options

    def add_vectors(self, ids: list[int], vectors: np.ndarray, payloads: list[dict[str, Any]]) -> None:
        if self._index is None:
            self._index = self._load_or_create_index()
        if self._index is None:
            from vestis.catalog.index import create_index

            self._index = create_index(self.config.index, vectors.shape[1], **self._index_options())
        self._index.add(ids, vectors, payloads)

    def sync_index(self) -> int:
        """Add to the index every stored item it lacks (after a crash); returns how many were added."""
        if self._index is None:
            return 0
        have = len(self._index)
        total = self.store.count_embeddings()
        if have == total:
            return 0
        log.warning("index holds %d of %d items: rebuilding it from the database", have, total)
        from vestis.catalog.index import create_index

        self._index = create_index(self.config.index, self.store.embedding_dim(), **self._index_options())
        added = 0
        for ids, vectors, payloads in self.store.iter_embeddings(batch=4096, payloads=True):
            self._index.add(list(ids), vectors, payloads)
            added += len(ids)
        self.save_index()
        return added

    def save_index(self) -> None:
        if self._index is not None:
            self._index.save(self.directory / INDEX_DIR)

    def payload(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """What the index stores per item for filters pushed down to it (the same as a rebuild)."""
        from vestis.catalog.store import index_payload

        return index_payload(self.schema, attributes)

    def embedding_model_id(self) -> str:
        """Identity of the embedding model: vectors from another model cannot share this catalog's index."""
        if self.config.backend == "lite":
            from vestis.models.registry import lite_model_id

            return lite_model_id(self.config.model)
        return f"{self.config.backend}:{self.config.model or 'default'}"

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

"""A catalog directory: the SQLite store (the source of truth) plus a vector index.

    catalog/
      catalog.json      which schema, extractor, embedder (and its vector space) and index it uses
      catalog.sqlite    items, attributes, embeddings, thumbnails, ingest journal
      index/            the vector index (rebuilt from catalog.sqlite whenever it lags)

The index is derived data: after a crash it may miss the last batches that the database
committed, so opening a catalog re-adds whatever the index lacks.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from vestis.errors import UserError
from vestis.schema import Schema, load_schema

log = logging.getLogger(__name__)
CONFIG_NAME = "catalog.json"
DB_NAME = "catalog.sqlite"
INDEX_DIR = "index"


@dataclass
class CatalogConfig:
    """What a catalog is made with. Any extractor pairs with any embedder.

    ``embedding_model`` is the embedder's ``model_id``, recorded when the catalog is created:
    vectors of another space are refused.
    """

    schema: str = "vestis"
    extractor: str = "lite"
    extractor_options: dict[str, Any] = field(default_factory=dict)
    embedder: str = "lite"
    embedder_options: dict[str, Any] = field(default_factory=dict)
    index: str = field(default_factory=lambda: _default_index())
    index_options: dict[str, Any] = field(default_factory=dict)
    embedding_model: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CatalogConfig:
        """Read a ``catalog.json``; catalogs written before extractor and embedder were separate
        (``backend`` + ``model``) open as the same lite extractor and lite embedder."""
        data = dict(data)
        if "backend" in data:
            backend, model = data.pop("backend"), data.pop("model", None)
            data.setdefault("extractor", backend)
            if model:
                data.setdefault("extractor_options", {"model": model})
                data.setdefault("embedder_options", {"model": model} if backend == "lite" else {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CatalogError(f"catalog.json has unknown keys {unknown}; known: {sorted(known)}")
        return cls(**data)

    def same_as(self, other: CatalogConfig) -> str | None:
        """The first setting that differs in a way the catalog cannot absorb, else None."""
        for key in ("schema", "extractor", "extractor_options", "embedder", "embedder_options", "index"):
            if getattr(self, key) != getattr(other, key):
                return key
        return None


def _default_index() -> str:
    from vestis.catalog.index import default_backend

    return default_backend()


class CatalogError(UserError, ValueError):
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
        self._embedder = None

    # ---- lifecycle -------------------------------------------------------------------------
    @classmethod
    def create(cls, directory: str | Path, config: CatalogConfig | None = None) -> Catalog:
        directory = Path(directory)
        config = config or CatalogConfig()
        path = directory / CONFIG_NAME
        if path.is_file():
            existing = _read_config(path)
            key = existing.same_as(config)
            if key:
                raise CatalogError(
                    f"{directory} was created with {key}={getattr(existing, key)!r}, not "
                    f"{getattr(config, key)!r}; use another --catalog directory"
                )
            return cls(directory, existing)
        catalog = cls(directory, config)
        config.embedding_model = catalog.embedder.model_id  # loads the embedder: the ingest needs it
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(config), indent=1))
        tmp.replace(path)
        return catalog

    @classmethod
    def open(cls, directory: str | Path) -> Catalog:
        path = Path(directory) / CONFIG_NAME
        if not path.is_file():
            raise CatalogError(
                f"no catalog at {directory} (run `vestis ingest SOURCE --catalog {directory}` first)"
            )
        return cls(directory, _read_config(path))

    # ---- parts (lazy) ------------------------------------------------------------------------
    @property
    def extractor(self):
        """The extractor that wrote the catalog's attributes (loaded on first use)."""
        if self._extractor is None:
            from vestis.extract.base import load_extractor

            self._extractor = load_extractor(
                self.config.extractor, self.schema, **self.config.extractor_options
            )
        return self._extractor

    @property
    def embedder(self):
        """The embedder of the catalog's vectors (loaded on first use; its space must be the recorded one)."""
        if self._embedder is None:
            from vestis.embed import load_embedder

            embedder = load_embedder(self.config.embedder, **self.config.embedder_options)
            recorded = self.config.embedding_model
            if recorded is not None and embedder.model_id != recorded:
                raise CatalogError(
                    f"{self.directory} holds vectors of {recorded}, but the {self.config.embedder!r} "
                    f"embedder now gives {embedder.model_id}; ingest into a new catalog"
                )
            self._embedder = embedder
        return self._embedder

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
        """Identity of the vector space: vectors from another model cannot share this catalog's index."""
        return self.config.embedding_model or self.embedder.model_id

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def _read_config(path: Path) -> CatalogConfig:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CatalogError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path} is not a JSON object")
    return CatalogConfig.from_dict(data)

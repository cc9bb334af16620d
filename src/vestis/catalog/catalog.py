"""A catalog directory: the SQLite store (the source of truth) plus a vector index.

    catalog/
      catalog.json      which schema, extractor, embedder (and its vector space) and index it uses
      catalog.sqlite    items, attributes, embeddings, thumbnails, ingest journal
      index/            the vector index (rebuilt from catalog.sqlite whenever it lags)

The index is derived data, saved in atomic generations by one writer at a time (see
:mod:`vestis.catalog.index_folder`). Opening a catalog compares the state the saved index
mirrors with the database: items added since are added to it, anything else (a crash, a
deletion, a torn or corrupt file) rebuilds it from the database, with a warning. A process
that holds the writer lock, or can take it at once, then saves the repaired index; the
others (searches while an ingest runs) keep the repair in memory.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from vestis.catalog.embeddings import EmbeddingState
from vestis.catalog.index_folder import IndexFolder
from vestis.errors import UserError
from vestis.schema import Schema, load_schema

log = logging.getLogger(__name__)
GARMENT_PARSER = "lite-parser"  # finds a photo's garments where the catalog's parser does not
CONFIG_NAME = "catalog.json"
DB_NAME = "catalog.sqlite"
INDEX_DIR = "index"


@dataclass
class CatalogConfig:
    """What a catalog is made with. Any extractor pairs with any embedder.

    ``embedding_model`` is the embedder's ``model_id``, recorded when the catalog is created:
    vectors of another space are refused. ``parser`` finds the items of each photo an ingest adds
    (``whole``: every photo is one item; ``lite-parser``: each garment of a photo of a person is an
    item, linked to the photo and its box, and a product shot stays one item); an ingest may name
    another, so one catalog can hold both.
    """

    schema: str = "vestis"
    extractor: str = "lite"
    extractor_options: dict[str, Any] = field(default_factory=dict)
    embedder: str = "lite"
    embedder_options: dict[str, Any] = field(default_factory=dict)
    index: str = field(default_factory=lambda: _default_index())
    index_options: dict[str, Any] = field(default_factory=dict)
    embedding_model: str | None = None
    parser: str = "whole"
    parser_options: dict[str, Any] = field(default_factory=dict)

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

    @classmethod
    def with_models(
        cls,
        extractor: str = "lite",
        model: str | None = None,
        embedder: str = "lite",
        embedder_model: str | None = None,
        **settings: Any,
    ) -> CatalogConfig:
        """A config from backend names and model paths (what ``vestis ingest`` takes).

        When extractor and embedder are both vestis-lite and only ``model`` is given, the embedder
        uses that model too: one model gives attributes and vectors in one forward pass.
        """
        if embedder_model is None and model and extractor == embedder == "lite":
            embedder_model = model
        return cls(
            extractor=extractor,
            extractor_options={"model": model} if model else {},
            embedder=embedder,
            embedder_options={"model": embedder_model} if embedder_model else {},
            **settings,
        )

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
        self._index_state: EmbeddingState | None = None  # the database state the index mirrors
        self._index_folder = IndexFolder(self.directory / INDEX_DIR)
        self._extractor = None
        self._embedder = None
        self._parsers: dict[str, Any] = {}

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

    def load_parser(self, name: str | None = None, *, garments: bool = False):
        """The parser ``name`` (loaded once), else the catalog's. With ``garments`` (a search by one
        of a photo's garments, an outfit from a photo) a catalog whose parser is ``whole`` lends
        :data:`GARMENT_PARSER`, which finds them."""
        if name is None:
            name = self.config.parser
            if garments and name == "whole":
                name = GARMENT_PARSER
        if name not in self._parsers:
            from vestis.parse.base import load_parser

            options = self.config.parser_options if name == self.config.parser else {}
            self._parsers[name] = load_parser(name, **options)
        return self._parsers[name]

    def describe(self, images: list, parser: Any = None) -> list:
        """Each RGB image's items with the catalog's extractor and embedder (a list of
        :class:`~vestis.extract.items.PhotoItems`): ``parser`` (a name or a Parser; default the
        catalog's) finds them, and a photo in which it finds no item is described whole, as a
        product shot."""
        from vestis.extract.items import ItemExtractor

        if parser is None or isinstance(parser, str):
            parser = self.load_parser(parser)
        photos = ItemExtractor(self.extractor, parser).describe(images, self.embedder)
        empty = [i for i, photo in enumerate(photos) if not photo.items]
        if empty:
            whole = ItemExtractor(self.extractor, "whole").describe([images[i] for i in empty], self.embedder)
            for i, photo in zip(empty, whole, strict=True):
                photos[i] = photo
        return photos

    @property
    def store(self):
        if self._store is None:
            from vestis.catalog.store import CatalogStore

            self._store = CatalogStore(
                self.directory / DB_NAME, self.schema, embedding_model=self.embedding_model_id()
            )
        return self._store

    @property
    def index_folder(self) -> IndexFolder:
        """The ``index/`` folder: its manifest, generations and writer lock."""
        return self._index_folder

    @property
    def index(self):
        """The vector index, in line with the database (None until something is ingested)."""
        if self._index is None:
            self._index, self._index_state = self._open_index()
        return self._index

    def _open_index(self) -> tuple[Any, EmbeddingState | None]:
        try:
            loaded = self._index_folder.load()
        except Exception as exc:
            log.warning("the vector index in %s cannot be loaded (%s): rebuilding it", self.directory, exc)
            loaded, broken = None, True
        else:
            broken = False
        index, state = loaded if loaded is not None else (None, None)
        index, state, added = self._catch_up(index, state)
        self._index, self._index_state = index, state
        if index is not None and (added is not None or broken):
            self.save_index()
        return self._index, self._index_state

    def _catch_up(self, index, state: EmbeddingState | None) -> tuple[Any, EmbeddingState, int | None]:
        """Bring ``index`` (mirroring ``state``) in line with the database: add the items newer than
        ``state`` when nothing else changed, else rebuild. Returns (index, its state, vectors
        added, or None when nothing changed)."""
        with self.store.snapshot() as snap:
            now = snap.state()
            if index is not None and len(index) == now.count and state in (now, None):
                return index, now, None  # in line (without a recorded state: trusted by its count)
            if now.count == 0 and index is None:
                return None, now, None
            if (
                index is not None
                and state is not None
                and len(index) == state.count
                and snap.count_embeddings(state.seq) == state.count
            ):
                log.info("index lags the database by %d items: adding them", now.count - state.count)
            else:
                have = len(index) if index is not None else 0
                if index is not None:
                    log.warning(
                        "index holds %d of %d items: rebuilding it from the database", have, now.count
                    )
                    index.close()
                index = self._new_index(self.store.embedding_dim())
                state = EmbeddingState(0, 0)
            added = 0
            for ids, vectors, payloads in snap.iter_embeddings(batch=4096, payloads=True, after=state.seq):
                index.add(ids, vectors, payloads)
                added += len(ids)
        return index, now, added

    def _new_index(self, dim: int):
        from vestis.catalog.index import create_index

        return create_index(self.config.index, dim, **self._index_options())

    def _index_options(self) -> dict[str, Any]:
        options = dict(self.config.index_options)
        if self.config.index == "qdrant" and not any(k in options for k in ("url", "location", "path")):
            options["path"] = str(self.directory / "qdrant")
        return options

    # ---- writing ----------------------------------------------------------------------------
    def add_items(self, records: list, *, run_id: int | None = None):
        """Add items to the database (one transaction), then the ones it did not hold yet to the
        index; returns the :class:`~vestis.catalog.embeddings.InsertResult`."""
        index = self.index
        result = self.store.insert_items(records, run_id=run_id)
        new = [(i, r) for i, r, fresh in zip(result.ids, records, result.inserted, strict=True) if fresh]
        new = [(i, r) for i, r in new if r.embedding is not None]
        if new:
            vectors = np.stack([np.asarray(r.embedding, dtype=np.float32) for _, r in new])
            if index is None:
                index = self._index = self._new_index(vectors.shape[1])
            index.add([i for i, _ in new], vectors, [self.payload(r.attributes) for _, r in new])
        state = self._index_state
        if (
            state is not None
            and state.seq == result.seq_before
            and (index is None or len(index) == state.count + len(new))
        ):
            self._index_state = EmbeddingState(state.count + len(new), result.seq_after)
        else:
            self._index_state = None  # another process wrote meanwhile: the next save rebuilds
        return result

    def remove_items(self, ids: list[int]) -> int:
        """Delete items from the database and the index; returns how many the database held."""
        index = self.index
        removed = self.store.remove(ids)
        if index is not None and ids:
            index.remove(ids)
            state = self._index_state
            if state is not None and len(index) == state.count - removed:
                self._index_state = EmbeddingState(len(index), state.seq)
            else:
                self._index_state = None
        return removed

    def sync_index(self) -> int:
        """Bring the index in line with the database now; returns how many vectors were added."""
        index = self.index
        self._index, self._index_state, added = self._catch_up(index, self._index_state)
        return added or 0

    @contextlib.contextmanager
    def writing(self) -> Iterator[bool]:
        """Hold the index writer lock while writing to the catalog (an ingest does), if no other
        process holds it; yields whether it is held. Without it, saves are left to the holder."""
        with self._index_folder.lock() as held:
            if not held:
                log.info(
                    "another process is writing the index of %s; it catches up when saved", self.directory
                )
            yield held

    def save_index(self) -> bool:
        """Save the index as a new generation, in line with the database, if this process holds
        the writer lock or can take it at once; returns whether it saved."""
        if self._index is None:
            return False
        with self._index_folder.lock() as held:
            if not held:
                return False
            self._index, self._index_state, _ = self._catch_up(self._index, self._index_state)
            if self._index is None or self._index_state is None:
                return False
            self._index_folder.save(self._index, self._index_state)
        return True

    def rebuild_index(self) -> int | None:
        """Rebuild the vector index from the database alone, whatever the saved one holds, and save it
        as a new generation (what ``vestis catalog check --repair`` does to a damaged index). Returns
        how many vectors it holds, or None when another process holds the writer lock (then nothing
        changes). A backend whose points outside the index folder survive a rebuild (qdrant) loses
        the ids the database no longer has."""
        with self._index_folder.lock() as held:
            if not held:
                return None
            if self._index is not None:
                self._index.close()  # qdrant local mode: one client per folder
                self._index = None
            index, state, _ = self._catch_up(None, None)
            if index is None:  # no embedding in the database
                dim = self.store.embedding_dim()
                if dim is None:
                    return 0
                index = self._new_index(dim)
            stored = index.stored_ids()
            if stored is not None:
                index.remove(np.setdiff1d(stored, self.store.embedded_ids()))
            self._index, self._index_state = index, state
            self._index_folder.save(index, state)
            return len(index)

    def payload(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """What the index stores per item for filters pushed down to it (the same as a rebuild)."""
        from vestis.catalog.store import index_payload

        return index_payload(self.schema, attributes)

    def embedding_model_id(self) -> str:
        """Identity of the vector space: vectors from another model cannot share this catalog's index."""
        return self.config.embedding_model or self.embedder.model_id

    def close(self) -> None:
        self._index_folder.unlock()
        if self._index is not None:
            self._index.close()
            self._index = None
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

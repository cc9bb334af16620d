"""Search a catalog by text, by photo, or by photo + modification, with attribute filters.

* text: the query is embedded by the text tower; values of the schema it names ("black leather
  jacket") become soft constraints that re-rank the nearest candidates (hybrid scoring);
* photo: the image tower's embedding;
* photo + modification: the embedder composes both into one query vector (``Embedder.compose``:
  vestis-lite's composer when its validation report beats the sum, else the normalised sum);
* ``where``: the filter language of :mod:`vestis.schema.filters`, pushed down to the index
  when it can take it (Qdrant), else resolved to item ids with SQL.

>>> searcher = Searcher(Catalog.open("runs/catalog"))  # doctest: +SKIP
>>> searcher.search(text="red floral midi dress", where="category = dress", k=5)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from vestis.catalog.catalog import Catalog
from vestis.catalog.filters import index_filter
from vestis.errors import InputError
from vestis.images import ImageSource
from vestis.schema.filters import parse_filter
from vestis.search.query import agreement, attribute_mentions

log = logging.getLogger(__name__)
MAX_K = 10_000  # results per query; deeper pagination is not what a vector search is for


@dataclass
class Hit:
    id: int
    score: float
    similarity: float
    agreement: float
    path: str
    attributes: dict[str, Any]
    meta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "score": round(self.score, 4),
            "similarity": round(self.similarity, 4),
            "agreement": round(self.agreement, 3),
            "path": self.path,
            "attributes": self.attributes,
            "meta": self.meta,
        }


class Searcher:
    def __init__(self, catalog: Catalog, hybrid_weight: float = 0.1, candidates: int = 200) -> None:
        self.catalog = catalog
        self.hybrid_weight = hybrid_weight
        self.candidates = candidates

    # ---- query vectors -----------------------------------------------------------------------
    def query_vector(
        self, text: str | None = None, image: ImageSource | None = None, modify: str | None = None
    ) -> np.ndarray:
        """The query as one vector in the catalog's space (text, photo, or photo + modification)."""
        embedder = self.catalog.embedder
        if image is not None:
            vec = embedder.embed_images(image)[0]
            if modify:
                vec = embedder.compose(vec, embedder.embed_texts(modify)[0])
            return vec
        if modify:
            raise InputError("--modify needs --image: a modification applies to a reference photo")
        if not text:
            raise InputError("give a text query, an image, or an image with a modification")
        return embedder.embed_texts(text)[0]

    # ---- search ------------------------------------------------------------------------------
    def search(
        self,
        text: str | None = None,
        image: ImageSource | None = None,
        modify: str | None = None,
        where: str | None = None,
        k: int = 10,
        hybrid: bool = True,
    ) -> list[Hit]:
        if not 1 <= k <= MAX_K:
            raise InputError(f"k must be between 1 and {MAX_K}, not {k}")
        index = self.catalog.index
        if index is None or len(index) == 0:
            return []
        vector = self.query_vector(text, image, modify)
        flt = self._filter(where)
        mentions = (
            attribute_mentions(text, self.catalog.schema) if (text and image is None and hybrid) else {}
        )
        fetch = max(k, self.candidates) if mentions else k
        raw = index.search(vector[None].astype(np.float32), fetch, flt)[0]
        if not raw:
            return []
        items = {item.id: item for item in self.catalog.store.get([i for i, _ in raw])}
        hits = []
        for item_id, sim in raw:
            item = items.get(item_id)
            if item is None:  # removed from the database after the index was saved
                continue
            agree = agreement(item.attributes, mentions)
            hits.append(
                Hit(
                    item_id,
                    sim + self.hybrid_weight * agree,
                    sim,
                    agree,
                    item.path,
                    item.attributes,
                    item.meta,
                )
            )
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:k]

    def _filter(self, where: str | None):
        if not where:
            return None
        expr = parse_filter(where, self.catalog.schema)
        store = self.catalog.store
        if getattr(self.catalog.index, "supports_payload_filters", False):
            closed = [name for name, f in self.catalog.schema.fields.items() if f.closed]
            return index_filter(expr, store.ids_matching, payload_fields=closed)
        from vestis.catalog.index import Filter

        return Filter(allowed_ids=store.id_array_matching(expr))

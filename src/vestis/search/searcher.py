"""Search a catalog by text, by photo, or by photo + modification, with attribute filters.

* text: the query is embedded by the text tower; values of the schema it names ("black leather
  jacket") become soft constraints that re-rank the nearest candidates (hybrid scoring);
* photo: the image tower's embedding;
* photo + modification: the composer combines both into one query vector (falls back to the
  normalised sum of the two embeddings when no composer is shipped with the model);
* ``where``: the filter language of :mod:`vestis.search.filters`, pushed down to the index
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
from vestis.images import ImageSource, load_image
from vestis.search.filters import index_filter, parse_filter
from vestis.search.query import agreement, attribute_mentions

log = logging.getLogger(__name__)


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


def composer_beats_sum(report_path) -> bool:
    """True when the composer's validation R@1 + R@10, summed over datasets, beats the sum baseline's.

    No report means no evidence either way: the composer is used.
    """
    import json
    from pathlib import Path

    path = Path(report_path)
    if not path.is_file():
        return True
    val = json.loads(path.read_text()).get("val", {})

    def total(mode: str) -> float:
        return sum(m.get(mode, {}).get("R@1", 0) + m.get(mode, {}).get("R@10", 0) for m in val.values())

    return total("composer") > total("sum")


class Searcher:
    def __init__(self, catalog: Catalog, hybrid_weight: float = 0.1, candidates: int = 200) -> None:
        self.catalog = catalog
        self.hybrid_weight = hybrid_weight
        self.candidates = candidates
        self._composer: Any = False  # False = not loaded yet, None = none shipped

    # ---- query vectors -----------------------------------------------------------------------
    @property
    def composer(self):
        """The shipped composer, if its validation report shows it beating image + text (else None: sum)."""
        if self._composer is False:
            from vestis.models.composer import Composer
            from vestis.models.registry import resolve_lite

            path = resolve_lite(self.catalog.config.model) / "composer"
            self._composer = None
            if (path / "composer.json").is_file() and composer_beats_sum(path / "composer_report.json"):
                self._composer = Composer.load(path)
            else:
                log.info("composed queries use the normalised sum of image and text embeddings")
        return self._composer

    def query_vector(
        self, text: str | None = None, image: ImageSource | None = None, modify: str | None = None
    ) -> np.ndarray:
        extractor = self.catalog.extractor
        if image is not None:
            vec = extractor.embed_images([load_image(image)])[0]
            if modify:
                mod = extractor.embed_texts([modify])[0]
                vec = self._compose(vec, mod)
            return vec
        if modify:
            raise ValueError("--modify needs --image: a modification applies to a reference photo")
        if not text:
            raise ValueError("give a text query, an image, or an image with a modification")
        return extractor.embed_texts([text])[0]

    def _compose(self, image_vec: np.ndarray, text_vec: np.ndarray) -> np.ndarray:
        composer = self.composer
        if composer is None:
            v = image_vec + text_vec
            return v / np.linalg.norm(v)
        import torch

        with torch.no_grad():
            out = composer(torch.from_numpy(image_vec)[None], torch.from_numpy(text_vec)[None])
        return out[0].numpy()

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
        if k < 1:
            raise ValueError("k must be at least 1")
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

"""Search a catalog by text, by photo, or by photo + modification, with attribute filters.

* text: the query is embedded by the text tower (and carried towards the photos of its wording by
  the embedder's text bank, when it has one); values of the schema it names ("black leather
  jacket") become soft constraints that re-rank the nearest candidates (hybrid scoring), and a
  bank with an item side adds how well each candidate's caption vector matches the query's words
  (:meth:`TextBank.item_scores`) to its score;
* photo: the image tower's embedding;
* photo + modification: the embedder composes both into one query vector (``Embedder.compose``:
  vestis-lite's composer when its validation report beats the sum, else the normalised sum);
* catalog item ("more like this", with a modification "but in black"): the item's stored vector
  stands for its photo, and the item itself is left out of its results;
* ``where``: the filter language of :mod:`vestis.schema.filters`, pushed down to the index
  when it can take it (Qdrant), else resolved to item ids with SQL.

A photo of a person holds several garments: :meth:`Searcher.search_photo` parses the photo and
searches with the garment asked for, or with each in turn; a product shot is one query, exactly
:meth:`Searcher.search` with the photo.

>>> searcher = Searcher(Catalog.open("runs/catalog"))  # doctest: +SKIP
>>> searcher.search(text="red floral midi dress", where="category = dress", k=5)  # doctest: +SKIP
>>> [g.category for g in searcher.search_photo("street.jpg")]  # doctest: +SKIP
['top', 'bottom', 'footwear']
>>> searcher.search_photo("street.jpg", item=2, k=5)[0].hits  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from vestis.catalog.catalog import Catalog
from vestis.catalog.filters import index_filter
from vestis.errors import InputError
from vestis.images import ImageSource, load_image, path_text
from vestis.schema.filters import parse_filter
from vestis.search.query import agreement, attribute_mentions

log = logging.getLogger(__name__)
MAX_K = 10_000  # results per query; deeper pagination is not what a vector search is for
CAPTION_CACHE = 50_000  # items whose text-bank caption vector a searcher keeps (about 100 MB at 256-d)


@dataclass
class Hit:
    id: int
    score: float
    similarity: float
    agreement: float
    path: str  # of the photo; for a garment of a photo of a person, ``box`` says where in it
    attributes: dict[str, Any]
    meta: dict[str, Any]
    box: tuple[int, int, int, int] | None = None
    garment: int | None = None  # its number among the photo's garments
    garment_class: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "score": round(self.score, 4),
            "similarity": round(self.similarity, 4),
            "agreement": round(self.agreement, 3),
            "path": self.path,
            "attributes": self.attributes,
            "meta": self.meta,
        }
        if self.garment is not None:
            out.update(garment=self.garment, box=list(self.box or ()), **{"class": self.garment_class})
        return out


@dataclass
class GarmentHits:
    """The hits for one item of a query photo: a garment of a photo of a person (its number as
    the parser numbered them, its box in the photo's pixels and coarse class), or the whole photo
    (``garment`` None: a product shot, or a photo in which the parser found no garment)."""

    garment: int | None
    box: tuple[int, int, int, int] | None
    category: str | None
    hits: list[Hit]

    def to_dict(self) -> dict[str, Any]:
        return {
            "garment": self.garment,
            "class": self.category,
            "box": None if self.box is None else list(self.box),
            "hits": [h.to_dict() for h in self.hits],
        }


@dataclass(frozen=True)
class Query:
    """One search: a text, a photo, or a photo + modification text (see :meth:`Searcher.search`);
    ``item``, a catalog item's id, stands for a photo (its stored vector)."""

    text: str | None = None
    image: ImageSource | None = None
    modify: str | None = None
    item: int | None = None

    @property
    def reference(self) -> bool:
        """Whether the query starts from a photo (uploaded or a catalog item's)."""
        return self.image is not None or self.item is not None


class Searcher:
    def __init__(self, catalog: Catalog, hybrid_weight: float = 0.1, candidates: int = 200) -> None:
        self.catalog = catalog
        self.hybrid_weight = hybrid_weight
        self.candidates = candidates
        self._caption_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # item id → (vector, caption)
        self._caption_bank: Any = None
        self._caption_lock = threading.Lock()

    # ---- query vectors -----------------------------------------------------------------------
    def query_vector(
        self,
        text: str | None = None,
        image: ImageSource | None = None,
        modify: str | None = None,
        item: int | None = None,
    ) -> np.ndarray:
        """The query as one vector in the catalog's space (text, photo, or photo + modification)."""
        return self.query_vectors([Query(text, image, modify, item)])[0]

    def query_vectors(self, queries: Sequence[Query]) -> np.ndarray:
        """``[len(queries), dim]`` query vectors; texts and photos are embedded in batches."""
        return self._query_vectors(queries)[0]

    def _query_vectors(self, queries: Sequence[Query]) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """The query vectors, and the direct text vectors of the text queries by position (before
        the embedder's text bank carried them across: :meth:`Embedder.embed_queries`)."""
        for q in queries:
            if q.image is not None and q.item is not None:
                raise InputError("give a query photo or a catalog item, not both")
            if not q.reference and q.modify:
                raise InputError("--modify needs --image: a modification applies to a reference photo")
            if not q.reference and not q.text:
                raise InputError("give a text query, an image, or an image with a modification")
        embedder = self.catalog.embedder
        out = np.zeros((len(queries), embedder.dim), dtype=np.float32)
        photos = [i for i, q in enumerate(queries) if q.image is not None]
        items = [i for i, q in enumerate(queries) if q.item is not None]
        texts = [i for i, q in enumerate(queries) if not q.reference]
        direct: dict[int, np.ndarray] = {}
        if photos:
            out[photos] = embedder.embed_images([queries[i].image for i in photos])
        if items:
            out[items] = self._item_vectors([queries[i].item for i in items])  # type: ignore[misc]
        if texts:
            plain = embedder.embed_texts([queries[i].text for i in texts])
            direct = dict(zip(texts, plain, strict=True))
            out[texts] = plain if embedder.text_bank is None else embedder.text_bank.expand(plain)
        modified = [i for i in photos + items if queries[i].modify]
        if modified:
            wording = sorted({queries[i].modify for i in modified})
            mods = dict(zip(wording, embedder.embed_texts(wording), strict=True))
            for i in modified:
                out[i] = embedder.compose(out[i], mods[queries[i].modify])
        return out, direct

    def _item_vectors(self, ids: list[int]) -> np.ndarray:
        stored = {it.id: it for it in self.catalog.store.get(ids)}
        missing = [i for i in ids if i not in stored or stored[i].embedding is None]
        if missing:
            raise InputError(
                f"no item with an embedding in the catalog for id(s) {', '.join(map(str, missing))}"
            )
        return np.stack([stored[i].embedding for i in ids])

    # ---- search ------------------------------------------------------------------------------
    def search(
        self,
        text: str | None = None,
        image: ImageSource | None = None,
        modify: str | None = None,
        where: str | None = None,
        k: int = 10,
        hybrid: bool = True,
        item: int | None = None,
    ) -> list[Hit]:
        """The ``k`` best items for one query.

        A text query (``hybrid``) fetches ``candidates`` nearest items and re-ranks them by
        similarity + ``hybrid_weight`` × agreement with the attributes the text names, plus the
        embedder's text bank's item side when it has one (``TextBank.item_scores``).
        ``item`` searches by a catalog item's photo ("more like this"); it is not among its hits.
        """
        return self.search_many([Query(text, image, modify, item)], where=where, k=k, hybrid=hybrid)[0]

    def search_many(
        self, queries: Sequence[Query], where: str | None = None, k: int = 10, hybrid: bool = True
    ) -> list[list[Hit]]:
        """:meth:`search` for many queries: the same hits, with batched embedding and index calls."""
        if not 1 <= k <= MAX_K:
            raise InputError(f"k must be between 1 and {MAX_K}, not {k}")
        index = self.catalog.index
        if not queries or index is None or len(index) == 0:
            return [[] for _ in queries]
        vectors, direct = self._query_vectors(queries)
        flt = self._filter(where)
        schema = self.catalog.schema
        mentions = [
            attribute_mentions(q.text, schema) if (q.text and not q.reference and hybrid) else {}
            for q in queries
        ]
        bank = self.catalog.embedder.text_bank
        captioned = set(direct) if hybrid and bank is not None and bank.item_weight > 0 else set()
        fetch = [
            (max(k, self.candidates) if (m or i in captioned) else k) + (q.item is not None)
            for i, (m, q) in enumerate(zip(mentions, queries, strict=True))
        ]
        raw: list[list[tuple[int, float]]] = [[] for _ in queries]
        for depth in sorted(set(fetch)):  # one index call per fetch depth
            rows = [i for i, f in enumerate(fetch) if f == depth]
            for i, found in zip(rows, index.search(vectors[rows], depth, flt), strict=True):
                raw[i] = found
        for found, q in zip(raw, queries, strict=True):
            if q.item is not None:  # "more like this" is not the item itself
                found[:] = [(i, sim) for i, sim in found if i != q.item]
        items = {item.id: item for item in self.catalog.store.get({i for r in raw for i, _ in r})}
        bonus = self._caption_bonus(bank, {i: direct[i] for i in captioned}, raw, items)
        return [
            self._rank(found, items, wanted, k, bonus.get(i))
            for i, (found, wanted) in enumerate(zip(raw, mentions, strict=True))
        ]

    def _caption_bonus(
        self,
        bank: Any,
        direct: dict[int, np.ndarray],
        raw: list[list[tuple[int, float]]],
        items: dict[int, Any],
    ) -> dict[int, dict[int, float]]:
        """Per captioned text query, each candidate's ``item_weight`` × the cosine of the query's
        direct vector to the candidate's caption vector (:meth:`TextBank.item_scores`)."""
        ids = sorted({j for q in direct for j, _ in raw[q] if j in items and items[j].embedding is not None})
        if not direct or not ids:
            return {}
        captions = self._captions(bank, ids, items)
        scores = bank.item_weight * (np.stack(list(direct.values())) @ captions.T)
        col = {j: n for n, j in enumerate(ids)}
        return {
            q: {j: float(scores[row, col[j]]) for j, _ in raw[q] if j in col} for row, q in enumerate(direct)
        }

    def _captions(self, bank: Any, ids: list[int], items: dict[int, Any]) -> np.ndarray:
        """The bank's caption vectors of the items ``ids``, remembered per item (popular items are
        candidates again and again; a caption costs a pass over the whole bank). An entry counts only
        for the same bank and the same stored vector."""
        with self._caption_lock:  # a service's worker threads share one searcher
            if self._caption_bank is not bank:
                self._caption_cache.clear()
                self._caption_bank = bank
            out = np.zeros((len(ids), bank.dim), dtype=np.float32)
            todo = []
            for n, j in enumerate(ids):
                hit = self._caption_cache.get(j)
                if hit is not None and np.array_equal(hit[0], items[j].embedding):
                    out[n] = hit[1]
                else:
                    todo.append(n)
            if todo:
                vectors = np.stack([items[ids[n]].embedding for n in todo])
                out[todo] = bank.captions(vectors)
                for n, vector, caption in zip(todo, vectors, out[todo], strict=True):
                    self._caption_cache.pop(ids[n], None)
                    self._caption_cache[ids[n]] = (vector, caption)
                while len(self._caption_cache) > CAPTION_CACHE:  # the oldest first
                    self._caption_cache.pop(next(iter(self._caption_cache)))
        return out

    def search_photo(
        self,
        image: ImageSource,
        item: int | None = None,
        modify: str | None = None,
        where: str | None = None,
        k: int = 10,
        parser: Any = None,
    ) -> list[GarmentHits]:
        """Search with a photo, item by item: one :class:`GarmentHits` per garment of a photo of a
        person (only garment ``item`` when given, numbered as the parser numbers them), or one for
        the whole photo of a product shot, whose hits are exactly :meth:`search`'s.

        ``parser`` (a name or a Parser) finds the garments; default the catalog's, or
        :data:`~vestis.catalog.catalog.GARMENT_PARSER` when ``item`` is given and the catalog's
        is ``whole``. An ``item`` the photo does not have raises :class:`InputError` listing
        the items found.
        """
        if parser is None or isinstance(parser, str):
            parser = self.catalog.load_parser(parser, garments=item is not None)
        photo = load_image(image)
        parsed = parser.parse(photo)
        count = len(parsed.regions) if parsed.garments else 1
        if item is not None and not 0 <= item < count:
            name = "the photo" if isinstance(image, (bytes, Image.Image)) else path_text(image)
            raise InputError(
                f"--item {item}: {name} has no item {item}; {parser.name} found {parsed.listing()}"
            )
        if not parsed.garments:
            return [GarmentHits(None, None, None, self.search(image=image, modify=modify, where=where, k=k))]
        crops = parsed.crops(photo)
        numbers = list(range(count)) if item is None else [item]
        found = self.search_many([Query(image=crops[n], modify=modify) for n in numbers], where=where, k=k)
        return [
            GarmentHits(n, parsed.regions[n].box, parsed.regions[n].category, hits)
            for n, hits in zip(numbers, found, strict=True)
        ]

    def _rank(
        self,
        raw: list[tuple[int, float]],
        items: dict[int, Any],
        mentions: dict[str, set[str]],
        k: int,
        bonus: dict[int, float] | None = None,
    ) -> list[Hit]:
        hits = []
        for item_id, sim in raw:
            item = items.get(item_id)
            if item is None:  # removed from the database after the index was saved
                continue
            agree = agreement(item.attributes, mentions)
            hits.append(
                Hit(
                    item_id,
                    sim + self.hybrid_weight * agree + (bonus or {}).get(item_id, 0.0),
                    sim,
                    agree,
                    item.path,
                    item.attributes,
                    item.meta,
                    item.box,
                    item.garment,
                    item.garment_class,
                )
            )
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:k]

    def browse(self, where: str | None = None, k: int = 10, offset: int = 0) -> tuple[int, list[Hit]]:
        """Items matching ``where`` (every item without one) in the order they were added, without a
        query: ``(how many match, the k from offset on)``. Hits score 0."""
        if not 1 <= k <= MAX_K:
            raise InputError(f"k must be between 1 and {MAX_K}, not {k}")
        if offset < 0:
            raise InputError(f"offset must be at least 0, not {offset}")
        store = self.catalog.store
        expr = parse_filter(where, self.catalog.schema) if where else None
        ids = sorted(store.ids_matching(expr)) if expr is not None else store.ids()
        page = store.get(ids[offset : offset + k])
        return len(ids), [Hit(it.id, 0.0, 0.0, 0.0, it.path, it.attributes, it.meta) for it in page]

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

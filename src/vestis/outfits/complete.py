"""Outfits over a catalog: score a set of items, complete a look, find complementary items.

Items are catalog ids; their embeddings and attributes come from the catalog store, so these
functions need no model beyond the scorer. An item's category is the value of the field with
the schema's ``category`` role; completing a look needs that role. Suggestions for a slot are
the catalog items of that category (or of a finer field whose ``parent`` it is) that raise the
outfit's score most, optionally filtered
(``where``, the search filter language), then re-ranked for variety with maximal marginal
relevance over their embeddings, so five suggestions are not five near-identical black boots.

An outfit may also come from a photo of a person: :func:`photo_outfit` parses it and describes
each garment with the catalog's models, and its :class:`~vestis.outfits.base.ItemFeatures` go
wherever catalog ids do ("what shoes go with what I'm wearing"); the catalog items of that same
photo, if it was ingested, are never suggested for it.

>>> from vestis.catalog.catalog import Catalog  # doctest: +SKIP
>>> cat = Catalog.open("catalog/")  # doctest: +SKIP
>>> complete_outfit(cat, [12, 40], load_scorer(), slots=["shoes"], k=3)  # doctest: +SKIP
{'footwear': [Suggestion(id=311, score=..., ...), ...]}
>>> complete_outfit(cat, photo_outfit(cat, "me.jpg"), load_scorer(), slots=["shoes"])  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vestis.errors import InputError
from vestis.images import ImageSource, load_image, path_text
from vestis.outfits.base import ItemFeatures, OutfitScorer
from vestis.schema import Field, Schema

# What a full outfit has, in vestis category values; another schema's category field spells them
# through its synonyms, and a vocabulary sharing none of them makes each of its values a slot.
MAIN_SLOTS = ("top", "bottom", "dress", "outerwear", "footwear", "bag", "accessory")
ONE_PIECE = frozenset({"dress", "jumpsuit"})  # stand in for a top and a bottom


@dataclass
class Suggestion:
    """A catalog item proposed for a slot; ``score`` is the outfit's score with it added."""

    id: int
    score: float
    path: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    box: tuple[int, int, int, int] | None = None  # a garment of the photo at ``path``: where in it
    garment: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.garment is None:
            del out["box"], out["garment"]
        return out


@dataclass(frozen=True)
class PhotoGarment:
    """The id of an outfit item that comes from a photo (:func:`photo_outfit`): the photo, the
    garment's number as the parser numbered them (None: the whole photo, a product shot), its box
    in the photo's pixels and the parser's coarse class. Prints as ``photo#garment``."""

    photo: str
    garment: int | None
    box: tuple[int, int, int, int] | None = None
    category: str | None = None
    photo_hash: str | None = None  # SHA-256 of the photo file's bytes (what a catalog keys it by)

    def __str__(self) -> str:
        return self.photo if self.garment is None else f"{self.photo}#{self.garment}"


OutfitItem = int | ItemFeatures  # a catalog id, or an item described from a photo


@dataclass
class OutfitScore:
    """An outfit's score, its pairwise scores, and the pair and item that fit worst."""

    ids: list[Any]  # catalog ids, or PhotoGarment for the items of a photo
    score: float
    pair_scores: np.ndarray  # [n, n], diagonal NaN
    weakest_pair: tuple[Any, Any, float]  # (id, id, score)
    item_fit: list[float]  # each item's mean score with the others

    def to_dict(self) -> dict[str, Any]:
        return {
            "ids": [i if isinstance(i, int) else str(i) for i in self.ids],
            "score": self.score,
            "weakest_pair": [i if isinstance(i, (int, float)) else str(i) for i in self.weakest_pair],
            "item_fit": dict(zip(map(str, self.ids), self.item_fit, strict=True)),
        }


def missing_slots(categories: Iterable[str | None], category_field: Field | None = None) -> list[str]:
    """The main categories an outfit lacks; a dress (or jumpsuit) stands in for a top and a bottom.

    Categories are values of ``category_field`` (default: the vestis category values).

    >>> missing_slots(["top", "footwear"])
    ['bottom', 'outerwear', 'bag', 'accessory']
    >>> missing_slots(["dress"])
    ['outerwear', 'footwear', 'bag', 'accessory']
    """

    def spell(values: Iterable[str]) -> list[str]:
        found = values if category_field is None else map(category_field.canonical, values)
        return list(dict.fromkeys(v for v in found if v))

    slots = spell(MAIN_SLOTS) or list(category_field.values if category_field is not None else ())
    one_piece, separates = set(spell(ONE_PIECE)), set(spell(("top", "bottom")))
    have = set(categories)
    out = []
    for slot in slots:
        if slot in have or (slot in separates and have & one_piece):
            continue
        if slot in one_piece and have & (separates | one_piece):
            continue
        out.append(slot)
    return out


def resolve_slot(schema: Schema, text: str) -> tuple[str, str]:
    """(field, value) a slot names: a category value, else a value of a field whose parent is the category.

    ``"shoes"`` → ``("category", "footwear")``; ``"sneakers"`` → ``("type", "sneakers")`` (vestis schema).
    """
    category = schema.require_role("category", "completing an outfit")
    finer = [f for f in schema.fields.values() if f.parent == category.name and f.closed]
    for f in (category, *finer):
        value = f.canonical(text)
        if value:
            return f.name, value
    examples = "".join(f" or a {f.name} ({', '.join(list(f.values)[:3])}, ...)" for f in finer)
    raise InputError(
        f"unknown slot {text!r}: give a {category.name} ({', '.join(category.values)}){examples}"
    )


def mmr(relevance: np.ndarray, vectors: np.ndarray, k: int, diversity: float = 0.3) -> list[int]:
    """Indices of ``k`` items balancing relevance (min-max scaled) against similarity to those chosen.

    >>> mmr(np.array([1.0, 0.99, 0.5]), np.array([[1.0, 0], [1.0, 0], [0, 1.0]]), 2, diversity=0.5)
    [0, 2]
    """
    n = len(relevance)
    if n == 0 or k <= 0:
        return []
    span = relevance.max() - relevance.min()
    rel = (relevance - relevance.min()) / span if span > 0 else np.zeros(n)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    closest = np.zeros(n)
    chosen: list[int] = []
    for _ in range(min(k, n)):
        value = (1 - diversity) * rel - (diversity * closest if chosen else 0.0)
        value[chosen] = -np.inf
        pick = int(np.argmax(value))
        chosen.append(pick)
        closest = np.maximum(closest, unit @ unit[pick])
    return chosen


# ---- catalog access ----------------------------------------------------------------------------
def catalog_features(catalog) -> dict[int, ItemFeatures]:
    """Id → features of every catalog item with an embedding (category and closed attributes).

    The category is the value of the schema's ``category`` role (None for every item without one).
    """
    role = catalog.schema.by_role("category")
    items: dict[int, ItemFeatures] = {}
    for batch in catalog.store.iter_embeddings(payloads=True):
        for i, vector, payload in zip(batch.ids, batch.vectors, batch.payloads, strict=True):
            category = payload.get(role.name) if role is not None else None
            items[int(i)] = ItemFeatures(vector, category, payload, int(i))
    return items


def photo_outfit(catalog, image: ImageSource, parser: Any = None) -> list[ItemFeatures]:
    """The items of a photo as an outfit: each garment of a photo of a person (a product shot,
    or a photo in which no garment is found: the whole photo), embedded from its crop and
    described by the catalog's extractor (the parser's class overriding a contradicting
    category), with a :class:`PhotoGarment` id.

    ``parser`` (a name or a Parser) finds the garments: default the catalog's, or
    ``lite-parser`` where the catalog's is ``whole`` (see ``Catalog.load_parser``).
    """
    if parser is None or isinstance(parser, str):
        parser = catalog.load_parser(parser, garments=True)
    photo = load_image(image)
    [described] = catalog.describe([photo], parser)
    name, digest = "photo", None
    if not isinstance(image, (bytes, Image.Image)):
        name, digest = path_text(image), hashlib.sha256(Path(image).read_bytes()).hexdigest()
    elif isinstance(image, bytes):
        digest = hashlib.sha256(image).hexdigest()
    role = catalog.schema.by_role("category")
    garments = described.parsed.garments
    out = []
    for n, (region, item, vector) in enumerate(
        zip(described.parsed.regions, described.items, described.vectors, strict=True)
    ):
        label = (
            PhotoGarment(name, n, region.box, region.category, digest)
            if garments
            else PhotoGarment(name, None, photo_hash=digest)
        )
        category = item.attributes.get(role.name) if role is not None else None
        out.append(
            ItemFeatures(
                np.asarray(vector, dtype=np.float32), category, catalog.payload(item.attributes), label
            )
        )
    return out


def _prepare(catalog, scorer: OutfitScorer, outfit: Sequence[OutfitItem]):
    """(every item by id, the outfit's items in order) after checking and adapting the scorer."""
    scorer.check_embeddings(catalog.store.embedding_model())
    everything = catalog_features(catalog)
    ids = [int(x) for x in outfit if not isinstance(x, ItemFeatures)]
    missing = [i for i in ids if i not in everything]
    if missing:
        raise InputError(f"no item with an embedding in the catalog for id(s) {', '.join(map(str, missing))}")
    scorer.adapt(list(everything.values()))
    return everything, [x if isinstance(x, ItemFeatures) else everything[int(x)] for x in outfit]


def score_outfit(catalog, outfit: Sequence[OutfitItem], scorer: OutfitScorer) -> OutfitScore:
    """Score an outfit (catalog ids and/or items of a photo: :func:`photo_outfit`) and name its
    weakest pair."""
    if len(outfit) < 2:
        raise InputError("an outfit needs at least two items")
    _, items = _prepare(catalog, scorer, outfit)
    ids = [it.id for it in items]
    pairs = scorer.pair_scores(items)
    n = len(items)
    s, i, j = min((pairs[i, j], i, j) for i in range(n) for j in range(i + 1, n))
    return OutfitScore(
        ids=ids,
        score=float(scorer.score([items])[0]),
        pair_scores=pairs,
        weakest_pair=(ids[i], ids[j], float(s)),
        item_fit=[float(np.nanmean(pairs[r])) for r in range(n)],
    )


def complete_outfit(
    catalog,
    outfit: Sequence[OutfitItem],
    scorer: OutfitScorer,
    slots: Sequence[str] | None = None,
    k: int = 5,
    where: str | None = None,
    diversity: float = 0.3,
) -> dict[str, list[Suggestion]]:
    """For each slot (default: :func:`missing_slots`), the ``k`` items that best complete the outfit
    (catalog ids and/or items of a photo: :func:`photo_outfit`)."""
    from vestis.schema.filters import parse_filter

    schema = catalog.schema
    category = schema.require_role("category", "completing an outfit")
    by_id, given = _prepare(catalog, scorer, outfit)
    wanted = (
        [resolve_slot(schema, s) for s in slots]
        if slots
        else [(category.name, c) for c in missing_slots((it.category for it in given), category)]
    )
    extra = parse_filter(where, schema) if where else None
    taken = {int(i) for i in outfit if not isinstance(i, ItemFeatures)}
    for photo in {it.id.photo_hash for it in given if isinstance(it.id, PhotoGarment) and it.id.photo_hash}:
        taken.update(catalog.store.photo_ids(photo))  # the photo's own garments, if it was ingested
    out: dict[str, list[Suggestion]] = {}
    for field_name, value in wanted:
        expr = parse_filter(f"{field_name} = {value}", schema)
        if extra is not None:
            expr = expr & extra
        candidates = [
            by_id[i] for i in sorted(catalog.store.ids_matching(expr)) if i in by_id and i not in taken
        ]
        out[value] = _suggest(catalog, scorer, given, candidates, k, diversity)
    return out


def complement(
    catalog,
    item_id: int,
    scorer: OutfitScorer,
    k: int = 5,
    where: str | None = None,
    diversity: float = 0.3,
) -> dict[str, list[Suggestion]]:
    """Items of the other main categories that go with one item (a one-item outfit, completed)."""
    return complete_outfit(catalog, [item_id], scorer, None, k, where, diversity)


def _suggest(catalog, scorer, given, candidates, k, diversity) -> list[Suggestion]:
    if not candidates:
        return []
    scores = scorer.score_with(given, candidates)
    shortlist = np.argsort(-scores, kind="stable")[: max(k * 10, 50)]
    vectors = np.stack([np.asarray(candidates[j].embedding) for j in shortlist])
    picked = [int(shortlist[j]) for j in mmr(scores[shortlist], vectors, k, diversity)]
    stored = {it.id: it for it in catalog.store.get([candidates[j].id for j in picked])}
    out = []
    for j in picked:
        item = stored.get(candidates[j].id)
        out.append(
            Suggestion(
                id=int(candidates[j].id),
                score=float(scores[j]),
                path=str(item.path) if item is not None and item.path else None,
                attributes=dict(item.attributes) if item is not None else dict(candidates[j].attributes),
                box=item.box if item is not None else None,
                garment=item.garment if item is not None else None,
            )
        )
    return out

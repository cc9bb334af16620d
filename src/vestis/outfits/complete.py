"""Outfits over a catalog: score a set of items, complete a look, find complementary items.

Items are catalog ids; their embeddings and attributes come from the catalog store, so these
functions need no model beyond the scorer. An item's category is the value of the field with
the schema's ``category`` role; completing a look needs that role.

A scorer with a structure (:mod:`vestis.outfits.structure`, learned from real looks) decides
which slots a look still needs (a look with a dress needs no top or bottom; one with shoes no
second pair) and which candidates may fill a slot: :func:`complete_outfit` never proposes an item
that breaks a rule, and says why a slot has no candidates. Without one, the main slots are
:data:`MAIN_SLOTS` (:func:`missing_slots`). Suggestions for a slot are the catalog items of that
category (or of a finer field whose ``parent`` it is) that raise the outfit's score most,
optionally filtered (``where``, the search filter language); with a calibrated scorer only those
whose completed look is at least ``min_probability`` likely a real outfit. For variety, the
``k`` shown are chosen among the best by maximal marginal relevance over their embeddings (five
suggestions are not five near-identical black boots), and shown best first.

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
from vestis.outfits.structure import Problem, Structure, article
from vestis.schema import Field, Schema

# What a full outfit has, in vestis category values; another schema's category field spells them
# through its synonyms, and a vocabulary sharing none of them makes each of its values a slot.
MAIN_SLOTS = ("top", "bottom", "dress", "outerwear", "footwear", "bag", "accessory")
ONE_PIECE = frozenset({"dress", "jumpsuit"})  # stand in for a top and a bottom


@dataclass
class Suggestion:
    """A catalog item proposed for a slot; ``score`` is the outfit's raw score with it added,
    ``probability`` the probability that the completed look is a real outfit (None: uncalibrated)."""

    id: int
    score: float
    probability: float | None = None
    path: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    box: tuple[int, int, int, int] | None = None  # a garment of the photo at ``path``: where in it
    garment: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.garment is None:
            del out["box"], out["garment"]
        return out


class Suggestions(list):
    """The suggestions for one slot, best first; ``reason`` says why there are none."""

    def __init__(self, items: Iterable[Suggestion] = (), reason: str | None = None) -> None:
        super().__init__(items)
        self.reason = reason

    def to_dict(self) -> dict[str, Any]:
        return {"suggestions": [s.to_dict() for s in self], "reason": self.reason}


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
    """An outfit's score and what explains it: the probability that it is a real outfit (None
    without a calibration), its pairwise scores, the pair and item that fit worst, its structural
    problems (each lowers the probability) and the slots it still needs."""

    ids: list[Any]  # catalog ids, or PhotoGarment for the items of a photo
    score: float
    pair_scores: np.ndarray  # [n, n], diagonal NaN
    weakest_pair: tuple[Any, Any, float]  # (id, id, score)
    item_fit: list[float]  # each item's mean score with the others
    probability: float | None = None
    problems: list[Problem] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def name(i: Any) -> Any:
            return i if isinstance(i, (int, float)) else str(i)

        return {
            "ids": [name(i) for i in self.ids],
            "probability": self.probability,
            "score": self.score,
            "weakest_pair": [name(i) for i in self.weakest_pair],
            "item_fit": dict(zip(map(str, self.ids), self.item_fit, strict=True)),
            "problems": [
                {**p.to_dict(), "items": [name(self.ids[i]) for i in p.items]} for p in self.problems
            ],
            "needs": self.needs,
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
    raw = scorer.score([items])
    probability = scorer.probability([items], raw)
    categories = [it.category for it in items]
    structure = catalog_structure(catalog, scorer)
    return OutfitScore(
        ids=ids,
        score=float(raw[0]),
        pair_scores=pairs,
        weakest_pair=(ids[i], ids[j], float(s)),
        item_fit=[float(np.nanmean(pairs[r])) for r in range(n)],
        probability=None if probability is None else float(probability[0]),
        problems=structure.problems(categories) if structure is not None else [],
        needs=_needs(catalog, structure, categories),
    )


def catalog_structure(catalog, scorer: OutfitScorer) -> Structure | None:
    """The scorer's structure spelled in the catalog's category values (None: it has none, or
    none of its categories exist in the catalog's schema)."""
    role = catalog.schema.by_role("category")
    if scorer.structure is None or role is None:
        return None
    return scorer.structure.spelled(role.canonical)


def _needs(catalog, structure: Structure | None, categories: Sequence[str | None]) -> list[str]:
    """The slots a look still needs: the structure's, else :func:`missing_slots`."""
    role = catalog.schema.by_role("category")
    if role is None:
        return []
    if structure is not None:
        return structure.needs(categories, order=list(role.values))
    return missing_slots(categories, role)


def complete_outfit(
    catalog,
    outfit: Sequence[OutfitItem],
    scorer: OutfitScorer,
    slots: Sequence[str] | None = None,
    k: int = 5,
    where: str | None = None,
    diversity: float = 0.3,
    min_probability: float = 0.5,
) -> dict[str, Suggestions]:
    """For each slot (default: those the look still needs), the ``k`` items that best complete the
    outfit (catalog ids and/or items of a photo: :func:`photo_outfit`), best first.

    A calibrated scorer proposes only items whose completed look has at least ``min_probability``
    of being a real outfit; a scorer with a structure none that would break one of its rules. A
    slot with no suggestion says why (``reason``).
    """
    from vestis.schema.filters import parse_filter

    schema = catalog.schema
    category = schema.require_role("category", "completing an outfit")
    by_id, given = _prepare(catalog, scorer, outfit)
    structure = catalog_structure(catalog, scorer)
    have = [it.category for it in given]
    wanted = (
        [resolve_slot(schema, s) for s in slots]
        if slots
        else [(category.name, c) for c in _needs(catalog, structure, have)]
    )
    extra = parse_filter(where, schema) if where else None
    taken = {int(i) for i in outfit if not isinstance(i, ItemFeatures)}
    for photo in {it.id.photo_hash for it in given if isinstance(it.id, PhotoGarment) and it.id.photo_hash}:
        taken.update(catalog.store.photo_ids(photo))  # the photo's own garments, if it was ingested
    out: dict[str, Suggestions] = {}
    for field_name, value in wanted:
        expr = parse_filter(f"{field_name} = {value}", schema)
        if extra is not None:
            expr = expr & extra
        matching = [
            by_id[i] for i in sorted(catalog.store.ids_matching(expr)) if i in by_id and i not in taken
        ]
        if not matching:
            where_text = " matching the filter" if extra is not None else ""
            out[value] = Suggestions(reason=f"no catalog item is {article(value)}{where_text}")
            continue
        ranked = rank_candidates(scorer, given, matching, structure, value, k, diversity, min_probability)
        out[value] = _suggestions(catalog, ranked)
    return out


@dataclass
class Ranked:
    """What :func:`rank_candidates` chose for a slot, best first, or why nothing (``reason``)."""

    items: list[ItemFeatures]
    scores: list[float]
    probabilities: list[float | None]
    reason: str | None = None


def rank_candidates(
    scorer: OutfitScorer,
    given: Sequence[ItemFeatures],
    candidates: Sequence[ItemFeatures],
    structure: Structure | None = None,
    slot: str = "item",
    k: int = 5,
    diversity: float = 0.3,
    min_probability: float = 0.5,
) -> Ranked:
    """Completing a look without a catalog: of ``candidates`` (for ``slot``), drop those that would
    break a ``structure`` rule, score the look with each of the rest, keep those whose completed
    look reaches ``min_probability`` (calibrated scorers), choose ``k`` for variety among the best
    (:func:`mmr`) and return them best first."""
    have = [it.category for it in given]
    blocked: dict[str | None, Problem | None] = {}
    if structure is not None:
        blocked = {c: structure.blocked(have, c) if c else None for c in {it.category for it in candidates}}
    fits = [it for it in candidates if blocked.get(it.category) is None]
    if not fits:
        problem = next(p for p in blocked.values() if p is not None)
        return Ranked([], [], [], f"the look cannot take {article(slot)}: {problem.message}")
    scores = scorer.score_with(given, fits)
    probs = scorer.probability([[*given, c] for c in fits], scores)
    keep = np.arange(len(fits)) if probs is None else np.flatnonzero(probs >= min_probability)
    if not len(keep):
        assert probs is not None
        return Ranked(
            [],
            [],
            [],
            f"none of the {len(fits)} candidates makes a look with probability {min_probability:.2f} of "
            f"being a real outfit (best: {probs.max():.2f})",
        )
    shortlist = keep[np.argsort(-scores[keep], kind="stable")][: max(k * 10, 50)]
    vectors = np.stack([np.asarray(fits[j].embedding) for j in shortlist])
    chosen = [int(shortlist[j]) for j in mmr(scores[shortlist], vectors, k, diversity)]
    picked = sorted(chosen, key=lambda j: (-scores[j], j))  # variety decides which, the score the order
    return Ranked(
        [fits[j] for j in picked],
        [float(scores[j]) for j in picked],
        [None if probs is None else float(probs[j]) for j in picked],
    )


def _suggestions(catalog, ranked: Ranked) -> Suggestions:
    """Catalog suggestions (paths, stored attributes, boxes) for what :func:`rank_candidates` chose."""
    stored = {it.id: it for it in catalog.store.get([c.id for c in ranked.items])}
    out = Suggestions(reason=ranked.reason)
    for candidate, score, probability in zip(ranked.items, ranked.scores, ranked.probabilities, strict=True):
        item = stored.get(candidate.id)
        out.append(
            Suggestion(
                id=int(candidate.id),
                score=score,
                probability=probability,
                path=str(item.path) if item is not None and item.path else None,
                attributes=dict(item.attributes) if item is not None else dict(candidate.attributes),
                box=item.box if item is not None else None,
                garment=item.garment if item is not None else None,
            )
        )
    return out


def complement(
    catalog,
    item_id: int,
    scorer: OutfitScorer,
    k: int = 5,
    where: str | None = None,
    diversity: float = 0.3,
    min_probability: float = 0.5,
) -> dict[str, Suggestions]:
    """Items of the other main categories that go with one item (a one-item outfit, completed)."""
    return complete_outfit(catalog, [item_id], scorer, None, k, where, diversity, min_probability)

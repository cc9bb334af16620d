"""Outfit data for training and evaluation: item tables, item-disjoint splits, negatives, FITB questions.

Outfits are lists of item indices into an :class:`OutfitData` table. Everything random takes a
seeded ``numpy`` generator, so the same seed gives the same negatives and questions.

Negatives are **type-consistent**: each item of a real outfit is replaced by a random item of
the same category from the same pool, so a negative has exactly the category composition of
its positive and no scorer can win by counting categories.

The split is **item-disjoint**: no item of a validation outfit appears in a training outfit.
Stylists reuse items heavily (on Mango one pair of shoes is in 635 of 3,487 outfits), so a
random choice of validation outfits would leave almost no training outfit free of their
items. :func:`disjoint_split` therefore grows the validation set greedily, always adding the
outfit that costs the fewest training outfits (ties broken by a hash of the outfit id, so the
split does not depend on row order); outfits sharing items with both sides are dropped.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vestis.errors import OptionsError
from vestis.outfits.base import ItemFeatures

SPLIT_SEED = "vestis-outfits-v1"


@dataclass
class OutfitData:
    """An item table (ids, embeddings, categories) and outfits as lists of row indices."""

    ids: list[str]
    embeddings: np.ndarray  # float32 [N, dim]
    categories: list[str | None]
    outfits: dict[str, list[int]]
    images: list[str] = field(default_factory=list)
    attributes: list[dict[str, Any]] = field(default_factory=list)

    def item(self, i: int) -> ItemFeatures:
        attrs = self.attributes[i] if self.attributes else {}
        return ItemFeatures(self.embeddings[i], self.categories[i], attrs, self.ids[i])

    def items(self, indices: Sequence[int]) -> list[ItemFeatures]:
        return [self.item(i) for i in indices]

    def subset(self, outfit_ids: Sequence[str]) -> OutfitData:
        """The same item table with only the given outfits."""
        return self.with_outfits({k: self.outfits[k] for k in outfit_ids})

    def with_outfits(self, outfits: dict[str, list[int]]) -> OutfitData:
        """The same item table with these outfits (lists of its rows)."""
        return OutfitData(self.ids, self.embeddings, self.categories, outfits, self.images, self.attributes)

    def extended(self, other: OutfitData, prefix: str) -> OutfitData:
        """This item table with ``other``'s rows appended (rows of this one keep their indices) and
        ``other``'s outfits, keyed ``prefix + id``, added to these."""
        shift = len(self.ids)
        attributes = [*self.attributes, *other.attributes] if self.attributes and other.attributes else []
        return OutfitData(
            [*self.ids, *(prefix + i for i in other.ids)],
            np.concatenate([self.embeddings, other.embeddings.astype(self.embeddings.dtype)]),
            [*self.categories, *other.categories],
            {**self.outfits, **{prefix + k: [i + shift for i in o] for k, o in other.outfits.items()}},
            [*self.images, *other.images] if self.images and other.images else [],
            attributes,
        )

    def pool(self, by_occurrence: bool = False) -> dict[str | None, np.ndarray]:
        """Category → the items of these outfits in that category (what negatives draw from).

        Each distinct item once, or with ``by_occurrence`` once per outfit it is in, so that
        drawing from the pool gives popular items as often as real outfits do.
        """
        by_cat: dict[str | None, list[int]] = defaultdict(list)
        for items in self.outfits.values():
            for i in items:
                by_cat[self.categories[i]].append(i)
        if not by_occurrence:
            by_cat = {c: list(set(v)) for c, v in by_cat.items()}
        # in item-id order, so a seed draws the same items however the table is ordered
        return {
            c: np.array(sorted(v, key=lambda i: (self.ids[i], i)), dtype=np.int64) for c, v in by_cat.items()
        }


def _hash(key: str) -> str:
    return hashlib.sha1(f"{SPLIT_SEED}:{key}".encode()).hexdigest()


def disjoint_split(
    outfits: Mapping[str, Sequence[Any]], val_fraction: float = 0.15
) -> tuple[list[str], list[str]]:
    """(train, val) outfit ids such that no item of a val outfit is in any train outfit.

    >>> train, val = disjoint_split({"a": [1, 2], "b": [2, 3], "c": [4, 5], "d": [6, 7]}, 0.25)
    >>> sorted(train), val
    (['a', 'b', 'd'], ['c'])
    """
    if not 0 < val_fraction < 1:
        raise OptionsError("val_fraction must be in (0, 1)")
    users: dict[Any, list[str]] = defaultdict(list)
    for k, items in outfits.items():
        for i in set(items):
            users[i].append(k)
    neighbours = {k: {n for i in set(items) for n in users[i]} for k, items in outfits.items()}
    # cost of moving an outfit to val = training outfits it would take away (itself included)
    cost = {k: len(n) for k, n in neighbours.items()}
    state = dict.fromkeys(outfits, "train")
    heap = [(c, _hash(k), k) for k, c in cost.items()]
    heapq.heapify(heap)
    target = max(1, round(val_fraction * len(outfits)))
    n_val = 0
    while heap and n_val < target:
        c, _, k = heapq.heappop(heap)
        if state[k] == "val" or c != cost[k]:
            continue  # stale entry: a cheaper one for k was pushed since
        state[k] = "val"
        n_val += 1
        for n in neighbours[k]:
            if state[n] != "train":
                continue
            state[n] = "dropped" if n != k else "val"
            for m in neighbours[n]:  # n no longer counts as a training outfit anyone could take away
                if state[m] != "val":
                    cost[m] -= 1
                    heapq.heappush(heap, (cost[m], _hash(m), m))
    train = [k for k, s in state.items() if s == "train"]
    val = [k for k, s in state.items() if s == "val"]
    return train, val


def with_partial_outfits(data: OutfitData, train_ids: list[str], val_ids: list[str]) -> OutfitData:
    """The training outfits plus every other non-validation outfit minus its validation items.

    The split stays item-disjoint (no validation item is in any training outfit); what is left
    of an outfit that shared items with validation ones is a partial look, kept if it has >= 2 items.
    """
    held_out = {i for k in val_ids for i in data.outfits[k]}
    outfits = {k: data.outfits[k] for k in train_ids}
    for k in sorted(set(data.outfits) - set(train_ids) - set(val_ids)):
        rest = [i for i in data.outfits[k] if i not in held_out]
        if len(rest) >= 2:
            outfits[k] = rest
    return data.with_outfits(outfits)


def training_split(
    data: OutfitData, val_fraction: float = 0.15, keep_partial: bool = False, train_on_shared: bool = False
) -> tuple[OutfitData, OutfitData]:
    """(train, val) of :func:`disjoint_split`, as the outfit recipes train on them.

    ``keep_partial`` adds the outfits that shared items with validation ones, minus those items
    (:func:`with_partial_outfits`); ``train_on_shared`` adds them whole instead (non-disjoint).
    """
    train_ids, val_ids = disjoint_split(data.outfits, val_fraction)
    val = data.subset(val_ids)
    if train_on_shared:
        return data.subset(sorted(set(data.outfits) - set(val_ids))), val
    if keep_partial:
        return with_partial_outfits(data, train_ids, val_ids), val
    return data.subset(train_ids), val


def align_means(data: OutfitData, reference: OutfitData) -> OutfitData:
    """``data`` with each category's mean embedding (over its outfits' items) moved onto that of
    ``reference``'s outfits' items; a category ``reference`` lacks moves with the overall means.

    Garments cropped from photos of people and product shots differ as a whole (pose, light,
    background), which is not what makes a look; the scorers centre items on their category's
    mean, so aligning the means lets looks of both kinds train one scorer.
    """

    def means(d: OutfitData) -> tuple[dict[str | None, np.ndarray], np.ndarray]:
        rows = sorted({i for o in d.outfits.values() for i in o})
        emb = d.embeddings[rows].astype(np.float64)
        cats = np.array([str(d.categories[i]) for i in rows])
        return {c: emb[cats == c].mean(0) for c in set(cats)}, emb.mean(0)

    ours, our_mean = means(data)
    theirs, their_mean = means(reference)
    shift = np.stack(
        [
            theirs[c] - ours[c] if c in theirs and c in ours else their_mean - our_mean
            for c in map(str, data.categories)
        ]
    )
    return OutfitData(
        data.ids,
        (data.embeddings + shift).astype(data.embeddings.dtype),
        data.categories,
        data.outfits,
        data.images,
        data.attributes,
    )


def calibrated_split(
    data: OutfitData,
    val_fraction: float = 0.15,
    calibration_fraction: float = 0.15,
    keep_partial: bool = False,
    train_on_shared: bool = False,
) -> tuple[OutfitData, OutfitData | None, OutfitData]:
    """(train, calibration, val): :func:`training_split`'s val (the same outfits), and a
    calibration split carved item-disjointly out of the training side the same way, so that a
    scorer's calibration is fitted on looks whose items it never trained on. ``keep_partial``
    keeps what is left of the other outfits without validation and calibration items;
    ``train_on_shared`` trains on the other outfits whole. ``calibration_fraction`` 0: no
    calibration split (None)."""
    train_ids, val_ids = disjoint_split(data.outfits, val_fraction)
    calib_ids: list[str] = []
    if calibration_fraction > 0:
        train_ids, calib_ids = disjoint_split({k: data.outfits[k] for k in train_ids}, calibration_fraction)
    held = [*val_ids, *calib_ids]
    if train_on_shared:
        train = data.subset(sorted(set(data.outfits) - set(held)))
    elif keep_partial:
        train = with_partial_outfits(data, train_ids, held)
    else:
        train = data.subset(train_ids)
    return train, (data.subset(calib_ids) if calib_ids else None), data.subset(val_ids)


def shared_items(data: OutfitData, a: Sequence[str], b: Sequence[str]) -> set[int]:
    """Items that appear in outfits of both ``a`` and ``b`` (empty for a valid split)."""
    left = {i for k in a for i in data.outfits[k]}
    return left & {i for k in b for i in data.outfits[k]}


def type_consistent_negative(
    outfit: Sequence[int],
    categories: Sequence[str | None],
    pool: Mapping[str | None, np.ndarray],
    rng: np.random.Generator,
) -> list[int]:
    """A random outfit with the same category composition: each item swapped for one of its category."""
    out = []
    for i in outfit:
        choices = pool.get(categories[i])
        out.append(int(rng.choice(choices)) if choices is not None and len(choices) else i)
    return out


def sub_outfit(outfit: Sequence[int], rng: np.random.Generator) -> list[int]:
    """A random part of an outfit of at least two items (its order kept): partial looks, pairs."""
    size = int(rng.integers(2, len(outfit) + 1))
    return [outfit[j] for j in sorted(rng.choice(len(outfit), size=size, replace=False))]


def swap_one(
    outfit: Sequence[int],
    categories: Sequence[str | None],
    pool: Mapping[str | None, np.ndarray],
    rng: np.random.Generator,
    n: int = 3,
    position: int | None = None,
) -> tuple[int, list[int]] | None:
    """(position, n distinct wrong items of that item's category not in the outfit), or None.

    The fill-in-the-blank question: which of the hidden item and the wrong ones completes the outfit.
    """
    positions = [position] if position is not None else list(rng.permutation(len(outfit)))
    for p in positions:
        choices = pool.get(categories[outfit[p]])
        if choices is None:
            continue
        others = choices[~np.isin(choices, outfit)]
        if len(np.unique(others)) >= n:
            picked: list[int] = []
            while len(picked) < n:  # distinct items, each as likely as its share of the pool
                x = int(rng.choice(others))
                if x not in picked:
                    picked.append(x)
            return int(p), picked
    return None


@dataclass
class FitbQuestion:
    """An outfit with one item hidden; ``candidates[answer]`` is the hidden item."""

    outfit_id: str
    given: list[int]
    candidates: list[int]
    answer: int


def fitb_questions(
    data: OutfitData, seed: int = 0, n_candidates: int = 4, by_occurrence: bool = False
) -> list[FitbQuestion]:
    """One question per outfit of >= 2 items (a random item hidden, wrong candidates of its category).

    Wrong candidates are distinct items, drawn uniformly or (``by_occurrence``) as often as they
    occur in the outfits.
    """
    rng = np.random.default_rng(seed)
    pool = data.pool(by_occurrence)
    out = []
    for k in sorted(data.outfits, key=_hash):
        items = data.outfits[k]
        if len(items) < 2:
            continue
        found = swap_one(items, data.categories, pool, rng, n=n_candidates - 1)
        if found is None:
            continue
        p, wrong = found
        answer = int(rng.integers(n_candidates))
        candidates = [*wrong[:answer], items[p], *wrong[answer:]]
        out.append(FitbQuestion(k, [i for j, i in enumerate(items) if j != p], candidates, answer))
    return out

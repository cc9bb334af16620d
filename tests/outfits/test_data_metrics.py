"""Splits, negatives, FITB questions and metric functions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tests.outfits.conftest import synthetic_outfits
from vestis.outfits.data import (
    disjoint_split,
    fitb_questions,
    shared_items,
    swap_one,
    type_consistent_negative,
)
from vestis.outfits.metrics import auc, fitb_accuracy, rank_of, recall_at_k


def test_negatives_keep_category_composition(outfit_data):
    rng = np.random.default_rng(0)
    for by_occurrence in (False, True):
        pool = outfit_data.pool(by_occurrence)
        for items in outfit_data.outfits.values():
            neg = type_consistent_negative(items, outfit_data.categories, pool, rng)
            assert Counter(outfit_data.categories[i] for i in neg) == Counter(
                outfit_data.categories[i] for i in items
            )
            assert len(neg) == len(items)


def test_pool_by_occurrence_counts_every_use(outfit_data):
    uses = Counter(i for items in outfit_data.outfits.values() for i in items)
    weighted = outfit_data.pool(by_occurrence=True)
    assert sum(len(v) for v in weighted.values()) == sum(uses.values())
    assert sum(len(v) for v in outfit_data.pool().values()) == len(uses)


def test_disjoint_split_shares_no_item_even_with_hub_items():
    data = synthetic_outfits(n_outfits=200, per_cell=2)  # few items, heavily reused
    hub = {k: [*v, 0] if 0 not in v else v for k, v in data.outfits.items() if int(k[1:]) % 2}
    data.outfits.update(hub)  # item 0 is in half of all outfits
    train, val = disjoint_split(data.outfits, 0.15)
    assert train and val and not set(train) & set(val)
    assert not shared_items(data, train, val)
    assert set(disjoint_split(dict(reversed(list(data.outfits.items()))), 0.15)[1]) == set(val)  # order-free
    with pytest.raises(ValueError):
        disjoint_split(data.outfits, 0.0)


def test_disjoint_split_hand_case():
    train, val = disjoint_split({"a": [1, 2], "b": [2, 3], "c": [4, 5], "d": [6, 7]}, 0.25)
    assert len(val) == 1 and val[0] in ("c", "d")  # the cheapest: sharing nothing
    assert set(train) == {"a", "b", "c", "d"} - set(val)


def test_fitb_questions_are_fair_and_seeded(outfit_data):
    qs = fitb_questions(outfit_data, seed=3)
    assert qs and qs == fitb_questions(outfit_data, seed=3)
    assert [q.answer for q in qs] != [q.answer for q in fitb_questions(outfit_data, seed=4)]
    for q in qs:
        hidden = q.candidates[q.answer]
        assert len(set(q.candidates)) == 4
        assert {outfit_data.categories[c] for c in q.candidates} == {outfit_data.categories[hidden]}
        assert sorted([*q.given, hidden]) == sorted(outfit_data.outfits[q.outfit_id])
        assert not set(q.candidates) - {hidden} & set(outfit_data.outfits[q.outfit_id])


def test_swap_one_returns_none_when_the_category_is_too_small():
    pool = {"top": np.array([0, 1]), "bag": np.array([2, 3, 4, 5, 6])}
    cats = ["top", "top", "bag", "bag", "bag", "bag", "bag"]
    rng = np.random.default_rng(0)
    assert swap_one([0, 2], cats, pool, rng, n=3, position=0) is None
    p, wrong = swap_one([0, 2], cats, pool, rng, n=3, position=1)
    assert p == 1 and len(set(wrong)) == 3 and 2 not in wrong


def test_metric_hand_cases():
    assert auc([1, 2, 3], [0, 0.5]) == 1.0
    assert auc([0], [1]) == 0.0
    assert auc([1, 1], [1, 1]) == 0.5  # ties count half
    assert auc([0.9, 0.8], [0.1, 0.8]) == 0.875
    with pytest.raises(ValueError):
        auc([], [1])
    assert fitb_accuracy([[1, 0, 0, 0], [0, 1, 0, 0]], [0, 0]) == 0.5
    assert fitb_accuracy([[1, 1, 0, 0]], [0]) == 0.5  # a two-way tie earns half
    assert fitb_accuracy([[0, 0, 0, 0]], [2]) == 0.25
    assert rank_of([0.1, 0.5, 0.5, 0.9], 1) == 1.5
    assert recall_at_k([[0.3, 0.9, 0.5], [1, 0, 0]], [2, 0], k=1) == 0.5
    assert recall_at_k([[0.3, 0.9, 0.5]], [0], k=3) == 1.0

"""Outfits: compatibility scoring, fill-in-the-blank, complete-the-look, complementary items.

>>> from vestis.outfits import list_scorers
>>> list_scorers()
['cooccurrence', 'llm', 'set-transformer', 'type-aware']
"""

from __future__ import annotations

from vestis.outfits.base import (
    SCORERS,
    ItemFeatures,
    OutfitScorer,
    create_scorer,
    list_scorers,
    load_scorer,
    scorer_class,
)

__all__ = [
    "SCORERS",
    "ItemFeatures",
    "OutfitScorer",
    "create_scorer",
    "list_scorers",
    "load_scorer",
    "scorer_class",
]

"""Hybrid agreement for many queries and items at once equals the searcher's one-by-one rule."""

from __future__ import annotations

import numpy as np

from vestis.schema import load_schema
from vestis.search.query import agreement, agreement_matrix, attribute_mentions


def test_the_matrix_is_the_searchers_agreement_pair_by_pair():
    schema = load_schema("vestis")
    queries = ["black leather jacket", "red floral midi dress", "Carmen blouse", "striped shirt in navy", "x"]
    mentions = [attribute_mentions(q, schema) for q in queries]
    assert mentions[0] and not mentions[-1]
    items = [
        {"colour": "black", "material": ["leather"], "type": "jacket"},
        {"colour": "black", "material": ["cotton"], "type": "jacket"},
        {"colour": "red", "pattern": "floral", "type": "dress", "category": "dress"},
        {"colour": None, "type": "blouse"},
        {"colour": "navy", "pattern": "striped", "type": "shirt"},
        {},
    ]
    m = agreement_matrix(mentions, items)
    expected = np.array([[agreement(item, wanted) for item in items] for wanted in mentions])
    np.testing.assert_allclose(m, expected, atol=1e-6)
    assert m[0, 0] == 1 and 0 < m[0, 1] < 1 and not m[-1].any()  # a query naming nothing agrees with nothing
    assert agreement_matrix([], items).shape == (0, 6) and agreement_matrix(mentions, []).shape == (5, 0)

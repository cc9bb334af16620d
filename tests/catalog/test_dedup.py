"""Near-duplicate groups of a catalog, through the library call the CLI uses."""

from __future__ import annotations

import numpy as np
import pytest

from vestis.catalog.dedup import catalog_duplicates, clusters, neighbour_pairs
from vestis.errors import OptionsError


def test_clusters_join_pairs_transitively():
    assert clusters(5, [(0, 1, 0.99), (1, 3, 0.98)]) == [[0, 1, 3]]


def test_neighbour_pairs_threshold():
    v = np.array([[1, 0], [0.999, 0.045], [0, 1]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert [(i, j) for i, j, _ in neighbour_pairs(v, 0.99)] == [(0, 1)]


def test_catalog_duplicates_on_an_empty_catalog(tmp_path):
    from vestis.catalog.catalog import Catalog, CatalogConfig

    cat = Catalog.create(tmp_path / "cat", CatalogConfig(extractor="pixel-colour", embedder="test-random"))
    found = catalog_duplicates(cat)
    assert found.groups == [] and found.items == 0
    with pytest.raises(OptionsError):
        catalog_duplicates(cat, min_similarity=1.5)

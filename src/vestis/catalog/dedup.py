"""Near-duplicate detection: pairs of items whose embeddings are almost identical.

Used by ``vestis catalog dedup`` and by the benchmark hygiene check (the same photo, or a
resized / recompressed / lightly cropped copy, on both sides of a train/test split). Exact
duplicates never reach a catalog (ingest dedups by content hash); this finds the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_THRESHOLD = 0.96


def neighbour_pairs(
    vectors: np.ndarray,
    threshold: float = DEFAULT_THRESHOLD,
    k: int = 10,
    queries: np.ndarray | None = None,
    block: int = 2048,
) -> list[tuple[int, int, float]]:
    """(i, j, cosine) for rows with similarity ≥ threshold; i indexes ``queries`` (default: ``vectors``).

    Exact blocked matrix products: fine to a few hundred thousand items on a CPU; for more,
    query the catalog's ANN index instead.
    """
    same = queries is None
    queries = vectors if queries is None else queries
    pairs: list[tuple[int, int, float]] = []
    for start in range(0, len(queries), block):
        sims = queries[start : start + block] @ vectors.T
        if same:
            rows = np.arange(start, min(start + block, len(queries)))
            sims[rows - start, rows] = -1.0
        kk = min(k, sims.shape[1])
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        for r, cols in enumerate(top):
            for c in cols:
                s = float(sims[r, c])
                i = start + r
                if s >= threshold and (not same or i < c):
                    pairs.append((i, int(c), s))
    return sorted(pairs, key=lambda p: -p[2])


def clusters(n: int, pairs: Sequence[tuple[int, int, float]]) -> list[list[int]]:
    """Groups of 2+ items connected by near-duplicate pairs (union-find)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, _ in pairs:
        parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=len, reverse=True)

"""Near-duplicate detection: pairs of items whose embeddings are almost identical.

Used by ``vestis catalog dedup`` (:func:`catalog_duplicates`) and by the benchmark hygiene
check (the same photo, or a resized / recompressed / lightly cropped copy, on both sides of a
train/test split). Exact duplicates never reach a catalog (ingest dedups by content hash);
this finds the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vestis.errors import OptionsError

if TYPE_CHECKING:
    from vestis.catalog.catalog import Catalog

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


@dataclass
class Duplicates:
    """Groups of near-duplicate catalog items (largest first), each a list of ``{"id", "path"}``
    (and ``"box"``, ``"garment"`` for a garment of a photo of a person)."""

    groups: list[list[dict[str, Any]]] = field(default_factory=list)
    items: int = 0  # items compared (those with an embedding)
    min_similarity: float = DEFAULT_THRESHOLD

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.items, "min_similarity": self.min_similarity, "groups": self.groups}


def _entry(item) -> dict[str, Any]:
    if item.garment is None:
        return {"id": item.id, "path": item.path}
    return {"id": item.id, "path": item.path, "box": list(item.box or ()), "garment": item.garment}


def catalog_duplicates(catalog: Catalog, min_similarity: float = DEFAULT_THRESHOLD) -> Duplicates:
    """Near-duplicate groups among a catalog's items: cosine of their embeddings ≥ ``min_similarity``.

    >>> dups = catalog_duplicates(Catalog.open("shop"))  # doctest: +SKIP
    >>> [[x["id"] for x in g] for g in dups.groups]  # doctest: +SKIP
    [[12, 40], [7, 9]]
    """
    if not -1.0 <= min_similarity <= 1.0:
        raise OptionsError(f"min_similarity is a cosine similarity in [-1, 1], not {min_similarity}")
    ids: list[int] = []
    vectors = []
    for batch_ids, batch_vectors, _ in catalog.store.iter_embeddings(batch=4096, payloads=False):
        ids.extend(int(i) for i in batch_ids)
        vectors.append(batch_vectors)
    if not ids:
        return Duplicates([], 0, min_similarity)
    groups = clusters(len(ids), neighbour_pairs(np.concatenate(vectors), min_similarity))
    items = {item.id: item for item in catalog.store.get([ids[i] for g in groups for i in g])}
    found = [[_entry(items[ids[i]]) for i in g] for g in groups]
    return Duplicates(found, len(ids), min_similarity)

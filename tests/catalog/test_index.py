"""Every registered vector index honours the contract: adding a backend adds its tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vestis.catalog.index import (
    INDEXES,
    Condition,
    Filter,
    VectorIndex,
    create_index,
    load_index,
)
from vestis.registry import UnknownNameError

DIM = 16
N = 120

# Options per contract case, and the options that make it saveable (used by the save test).
# faiss runs twice: exact (flat) and HNSW (a tiny threshold; a tiny exact_threshold so that
# filters also take the graph path with a bitmap selector). qdrant runs in memory, and on
# disk only to be saved: local mode commits every point to SQLite (~15 ms each).
CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "exact": ("exact", {}, {}),
    "faiss-flat": ("faiss", {}, {}),
    "faiss-hnsw": ("faiss", {"hnsw_threshold": 40, "exact_threshold": 8, "m": 16, "ef_search": 128}, {}),
    "qdrant": ("qdrant", {"location": ":memory:"}, {"path": "{tmp}/qdrant-{n}"}),  # a folder per client
}
# a backend registered elsewhere (entry point) runs with its default options
CASES.update({n: (n, {}, {}) for n in INDEXES.names() if n not in {c[0] for c in CASES.values()}})

COLOURS = ["red", "blue", "green", "black"]


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def payload(i: int) -> dict[str, Any]:
    p: dict[str, Any] = {"category": ["top", "bottom", "shoes"][i % 3], "colours": COLOURS[i % 4 : i % 4 + 2]}
    if i % 5 == 0:
        del p["category"]  # a missing field never matches a condition
    return p


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    rng = np.random.default_rng(0)
    ids = rng.choice(10_000, size=N, replace=False).astype(np.int64)
    return ids, unit(rng.standard_normal((N, DIM))), [payload(i) for i in range(N)]


@pytest.fixture(params=sorted(CASES))
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., VectorIndex]:
    name, options, saveable = CASES[request.param]
    opened: list[VectorIndex] = []

    def factory(dim: int = DIM, save: bool = False) -> VectorIndex:
        fill = {"tmp": tmp_path, "n": len(opened)}
        chosen = saveable if save else options
        index = create_index(
            name, dim, **{k: v.format(**fill) if isinstance(v, str) else v for k, v in chosen.items()}
        )
        opened.append(index)
        return index

    yield factory
    for index in opened:
        index.close()


@pytest.fixture
def full(make, data) -> VectorIndex:
    index = make()
    ids, vectors, payloads = data
    index.add(ids, vectors, payloads)
    return index


def brute(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int, keep=None) -> list[int]:
    scores = vectors @ query
    order = [i for i in np.argsort(-scores) if keep is None or keep[i]]
    return ids[order[:k]].tolist()


def test_top1_of_a_stored_vector_is_itself(full, data) -> None:
    ids, vectors, _ = data
    hits = full.search(vectors, k=5)
    assert len(full) == N and len(hits) == N
    for i, row in enumerate(hits):
        assert row[0][0] == ids[i] and row[0][1] == pytest.approx(1.0, abs=1e-4)
        scores = [s for _, s in row]
        assert scores == sorted(scores, reverse=True)
    query = unit(np.ones(DIM))
    assert [i for i, _ in full.search(query, k=10)[0]] == brute(ids, vectors, query, 10)


def test_upsert_replaces(full, data) -> None:
    ids, vectors, _ = data
    target = int(ids[3])
    full.add([target], vectors[7:8], [{"category": "new"}])
    assert len(full) == N
    hits = full.search(vectors[7], k=2)[0]
    assert {i for i, _ in hits} == {target, int(ids[7])}
    assert all(s == pytest.approx(1.0, abs=1e-4) for _, s in hits)
    assert full.search(vectors[3], k=1)[0][0][0] != target
    # a repeated id within one call: the last one wins
    full.add([20_000, 20_000], vectors[10:12])
    assert len(full) == N + 1
    assert 20_000 in {i for i, _ in full.search(vectors[11], k=2)[0]}
    assert 20_000 not in {i for i, _ in full.search(vectors[10], k=2)[0]}


def test_remove(full, data) -> None:
    ids, vectors, _ = data
    gone = ids[:30]
    full.remove([*gone.tolist(), 99_999])  # an unknown id is ignored
    assert len(full) == N - 30
    found = {i for row in full.search(vectors[:30], k=N) for i, _ in row}
    assert not found & set(gone.tolist())
    assert found == set(ids[30:].tolist())
    assert full.search(vectors[40], k=1)[0][0][0] == ids[40]
    full.add(gone[:2], vectors[:2])  # removed ids can come back
    assert full.search(vectors[0], k=1)[0][0][0] == gone[0]


@pytest.mark.parametrize("as_array", [False, True])
def test_allowed_ids(full, data, as_array: bool) -> None:
    ids, vectors, _ = data
    keep = np.zeros(N, dtype=bool)
    keep[::3] = True
    allowed = ids[keep]
    flt = Filter(allowed_ids=allowed if as_array else frozenset([*allowed.tolist(), 123_456]))
    for i in (0, 1, 2, 50):
        hits = full.search(vectors[i], k=5, filter=flt)[0]
        assert [h for h, _ in hits] == brute(ids, vectors, vectors[i], 5, keep)
    few = Filter(allowed_ids=frozenset(ids[[4, 9]].tolist()))
    hits = full.search(vectors[0], k=10, filter=few)[0]
    assert {i for i, _ in hits} == set(ids[[4, 9]].tolist())
    want = {int(ids[j]): float(vectors[j] @ vectors[0]) for j in (4, 9)}
    assert all(s == pytest.approx(want[i], abs=1e-4) for i, s in hits)  # scores are inner products


@pytest.mark.parametrize(
    "conditions",
    [
        (Condition("category", ("top",)),),
        (Condition("colours", ("red", "green")),),  # a list payload matches on any element
        (Condition("category", ("top", "shoes")), Condition("colours", ("blue",), negate=True)),
        (Condition("category", ("bottom",), negate=True),),  # a missing field passes a negation
    ],
)
def test_payload_conditions(full, data, conditions) -> None:
    ids, vectors, payloads = data
    flt = Filter(conditions=conditions)
    keep = np.array([flt.passes(p) for p in payloads])
    assert 0 < keep.sum() < N
    if not full.supports_payload_filters:  # the catalog supplies allowed_ids instead
        flt = Filter(allowed_ids=frozenset(ids[keep].tolist()), conditions=conditions)
    hits = full.search(vectors[:6], k=N, filter=flt)
    for i, row in enumerate(hits):
        assert {h for h, _ in row} == set(ids[keep].tolist())
        assert [h for h, _ in row[:5]] == brute(ids, vectors, vectors[i], 5, keep)
    keep[40:] = False
    allowed = ids[:40] if full.supports_payload_filters else ids[keep]
    both = Filter(allowed_ids=frozenset(allowed.tolist()), conditions=conditions)
    assert {h for h, _ in full.search(vectors[0], k=N, filter=both)[0]} == set(ids[keep].tolist())


def test_empty_index_and_empty_filter(make, full, data) -> None:
    _, vectors, _ = data
    empty = make()
    assert len(empty) == 0
    assert empty.search(vectors[0], k=3) == [[]]
    assert empty.search(vectors[:2], k=3) == [[], []]
    assert full.search(vectors[:2], k=3, filter=Filter(allowed_ids=frozenset())) == [[], []]
    assert full.search(vectors[0], k=3, filter=Filter(allowed_ids=frozenset({987_654}))) == [[]]


def test_k_larger_than_size(make, data) -> None:
    ids, vectors, _ = data
    index = make()
    index.add(ids[:7], vectors[:7])
    hits = index.search(vectors[0], k=50)[0]
    assert sorted(i for i, _ in hits) == sorted(ids[:7].tolist())


def test_save_load_round_trip(make, data, tmp_path: Path) -> None:
    ids, vectors, payloads = data
    full = make(save=True)
    full.add(ids, vectors, payloads)
    full.remove(ids[:5])
    full.add([ids[6]], unit(vectors[8] + 0.3 * vectors[9])[None])
    flt = Filter(allowed_ids=frozenset(ids[::2].tolist()))
    before = (full.search(vectors[:20], k=7), full.search(vectors[:20], k=7, filter=flt), len(full))
    full.save(tmp_path / "saved")
    meta = json.loads((tmp_path / "saved" / "index.json").read_text())
    assert meta["backend"] == full.name and meta["dim"] == DIM
    full.close()
    with load_index(tmp_path / "saved") as loaded:
        assert type(loaded) is type(full)
        after = (loaded.search(vectors[:20], k=7), loaded.search(vectors[:20], k=7, filter=flt), len(loaded))
        for got, want in zip(after[:2], before[:2], strict=True):
            assert [[i for i, _ in row] for row in got] == [[i for i, _ in row] for row in want]
            np.testing.assert_allclose(
                [[s for _, s in r] for r in got], [[s for _, s in r] for r in want], atol=1e-5
            )
        assert after[2] == before[2] == N - 5
        loaded.add([ids[0]], vectors[:1])  # still writable
        assert loaded.search(vectors[0], k=1)[0][0][0] == ids[0]


def test_wrong_dimension_and_bad_input(full, data) -> None:
    _, vectors, _ = data
    with pytest.raises(ValueError, match="dimension 16, got vectors of dimension 8"):
        full.add([1], np.ones((1, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="dimension 16, got queries of dimension 3"):
        full.search(np.ones(3, dtype=np.float32), k=1)
    with pytest.raises(ValueError, match="non-negative"):
        full.add([-1], vectors[:1])
    with pytest.raises(ValueError, match="2 ids but 1 vectors"):
        full.add([1, 2], vectors[:1])
    with pytest.raises(ValueError, match="k must be"):
        full.search(vectors[0], k=0)


def test_large_sparse_ids(make, data) -> None:
    """Ids far apart (hashes rather than row ids) work too."""
    _, vectors, _ = data
    index = make()
    big = np.arange(60, dtype=np.int64) * 1_000_003 + 2**40
    index.add(big, vectors[:60])
    index.remove(big[:3])
    assert len(index) == 57
    assert index.search(vectors[10], k=1)[0][0][0] == big[10]
    allowed = Filter(allowed_ids=big[[20, 30]])
    assert {i for i, _ in index.search(vectors[10], k=5, filter=allowed)[0]} == {big[20], big[30]}


def test_faiss_switches_to_hnsw_and_compacts_on_save(data, tmp_path: Path) -> None:
    ids, vectors, _ = data
    index = create_index("faiss", DIM, hnsw_threshold=50)
    index.add(ids[:49], vectors[:49])
    assert not index.is_hnsw
    index.add(ids[49:], vectors[49:])
    assert index.is_hnsw and len(index) == N
    index.remove(ids[:20])
    assert index._dead == 20  # tombstones until the save
    index.save(tmp_path / "f")
    loaded = load_index(tmp_path / "f")
    assert loaded.is_hnsw and loaded._dead == 0 and len(loaded) == N - 20
    assert loaded.search(vectors[30], k=1)[0][0][0] == ids[30]


def test_registry_and_missing_index(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'faiss'"):
        create_index("fais", DIM)
    with pytest.raises(FileNotFoundError, match=r"index\.json is missing"):
        load_index(tmp_path)


def test_qdrant_in_memory_cannot_be_saved_and_path_is_relative(data, tmp_path: Path) -> None:
    ids, vectors, payloads = data
    with create_index("qdrant", DIM) as memory, pytest.raises(ValueError, match="in-memory"):
        memory.save(tmp_path / "m")
    with create_index("qdrant", DIM, path=str(tmp_path / "cat" / "points")) as index:
        index.add(ids[:5], vectors[:5], payloads[:5])
        index.save(tmp_path / "cat")
    options = json.loads((tmp_path / "cat" / "index.json").read_text())["options"]
    assert options["path"] == "points" and "api_key" not in options
    moved = tmp_path / "moved"
    (tmp_path / "cat").rename(moved)
    with load_index(moved) as loaded:
        assert len(loaded) == 5


def test_stored_ids_and_vectors_read_back_what_was_added(full, data) -> None:
    """What ``vestis catalog check`` compares with the database: a backend either reads back exactly
    what it holds, or says it cannot (None)."""
    ids, vectors, _ = data
    stored = full.stored_ids()
    if stored is None:
        assert full.stored_vectors(ids[:3]) is None
        return
    assert stored.dtype == np.int64 and stored.tolist() == sorted(ids.tolist())
    full.remove(ids[:5])
    assert full.stored_ids().tolist() == sorted(ids[5:].tolist())
    wanted = np.array([ids[7], 99_999, ids[3], ids[7]])  # a repeat, an unknown id and a removed one
    rows = full.stored_vectors(wanted)
    assert rows.shape == (4, DIM) and rows.dtype == np.float32
    np.testing.assert_allclose(rows[0], vectors[7], atol=1e-5)
    np.testing.assert_allclose(rows[3], vectors[7], atol=1e-5)
    assert np.isnan(rows[1]).all() and np.isnan(rows[2]).all()
    assert full.stored_vectors([]).shape == (0, DIM)

"""Vector index at catalog scale (a benchmark, not a test): build time, memory, filtered latency, recall.

Builds ``--n`` synthetic L2-normalised float32 vectors around 2,000 gaussian clusters
(noise with a 1/i variance spectrum: intrinsic dimension ≈ 20, as image embeddings have,
rather than isotropic noise no real embedding shows), with a payload per item (category
among 10 values, colour among 16) kept as numpy arrays. The faiss index is built through
the vestis contract (``create_index("faiss", ...)``, ids 1..n as SQLite row ids), then
``--queries`` single queries (2 threads) are timed per filter and beam setting:

- ``none``, timed per ``ef_search`` (``--ef``)
- ``category`` = the query's drawn value (≈10% of items), ``colour`` (≈6%), ``category``
  AND ``colour`` (≈0.6%), timed per ``filtered_ef`` (``--filtered-ef``); the table's
  ``path`` says whether the index walked the graph (and its beam) or scored exactly;
  each filter is also run once down the path the index did not choose (``forced``)

``allowed_ids`` come from the payload arrays as the catalog's SQL gives them (sorted ids).
Recall@10 is measured against exact search on the first 100 queries. Prints a table and
writes ``benchmarks/results/index_scale.json``.

    nice -n 10 .venv/bin/python benchmarks/index_scale.py                 # 1M × 256
    .venv/bin/python benchmarks/index_scale.py --n 100000 --queries 200  # a quick look

``--qdrant URL`` (or ``:memory:`` for local mode) repeats the queries against a qdrant
collection holding the first ``--qdrant-n`` items, the filters pushed down as payload
conditions. Local mode is qdrant-client's pure-Python engine (~0.2 s a query unfiltered,
~1.2 s filtered, at 100k items): take qdrant's numbers on a server.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from vestis.catalog.index import Condition, Filter, VectorIndex, create_index
from vestis.progress import progress_bar

logger = logging.getLogger("index_scale")

# The scenario, declared as data: payload vocabularies and the filters (fields that must equal
# the query's drawn values).
VOCAB = {"category": 10, "colour": 16}
FILTERS: dict[str, tuple[str, ...]] = {
    "none": (),
    "category": ("category",),
    "colour": ("colour",),
    "category+colour": ("category", "colour"),
}
NOISE = 1.0  # norm of a point's offset from its cluster centre (centres have norm 1)
K = 10
CHUNK = 50_000  # rows generated / added / scored at a time
TARGET_P50_MS, TARGET_P99_MS = 5.0, 20.0


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def sample(rng: np.random.Generator, centres: np.ndarray, n: int) -> np.ndarray:
    """n points: a random centre plus noise whose variance falls as 1/i over the dimensions."""
    dim = centres.shape[1]
    scale = 1.0 / np.sqrt(np.arange(1, dim + 1, dtype=np.float32))
    scale *= NOISE / np.linalg.norm(scale)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        noise = rng.standard_normal((m, dim), dtype=np.float32) * scale
        out[start : start + m] = unit(centres[rng.integers(len(centres), size=m)] + noise)
    return out


def rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def allowed_sets(payload: dict[str, np.ndarray]) -> dict[str, dict[tuple[int, ...], np.ndarray]]:
    """Per filter: drawn values → the sorted ids (1-based) whose payload matches, as SQL returns them."""
    out: dict[str, dict[tuple[int, ...], np.ndarray]] = {}
    for name, fields in FILTERS.items():
        if not fields:
            continue
        code = np.zeros(len(payload[fields[0]]), dtype=np.int64)
        for f in fields:
            code = code * VOCAB[f] + payload[f]
        order = np.argsort(code, kind="stable")
        bounds = np.searchsorted(code[order], np.arange(code.max() + 2))
        groups = {}
        for c in range(code.max() + 1):
            values, rest = [], c
            for f in reversed(fields):
                values.append(rest % VOCAB[f])
                rest //= VOCAB[f]
            groups[tuple(reversed(values))] = order[bounds[c] : bounds[c + 1]] + 1
        out[name] = groups
    return out


def exact_scores(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """[n, q] inner products, computed in chunks."""
    out = np.empty((len(vectors), len(queries)), dtype=np.float32)
    for start in range(0, len(vectors), CHUNK):
        out[start : start + CHUNK] = vectors[start : start + CHUNK] @ queries.T
    return out


def truths(
    scores: np.ndarray, draws: np.ndarray, fields: tuple[str, ...], sets, limit: int
) -> list[set[int]]:
    """Exact top-K ids (1-based) per recall query, among the allowed ids below ``limit``."""
    names = list(VOCAB)
    out = []
    for j in range(scores.shape[1]):
        column = scores[:limit, j]
        if fields:
            allowed = sets[tuple(int(draws[j, names.index(f)]) for f in fields)]
            rows = allowed[allowed <= limit] - 1
        else:
            rows = np.arange(limit)
        kept = column[rows]
        best = rows[np.argpartition(-kept, min(K, kept.size - 1))[:K]]
        out.append(set((best + 1).tolist()))
    return out


def run_queries(
    index: VectorIndex,
    queries: np.ndarray,
    draws: np.ndarray,
    fields: tuple[str, ...],
    sets: dict[tuple[int, ...], np.ndarray] | None,
    pushdown: bool,
) -> tuple[np.ndarray, list[set[int]]]:
    """Latency (ms) of each single-query search and the ids it returned."""
    latency = np.empty(len(queries))
    found: list[set[int]] = []
    names = list(VOCAB)
    for i, q in enumerate(queries):
        values = tuple(int(draws[i, names.index(f)]) for f in fields)
        t0 = time.perf_counter()
        if not fields:
            flt = None
        elif pushdown:
            flt = Filter(
                conditions=tuple(Condition(f, (f"{f}{v}",)) for f, v in zip(fields, values, strict=True))
            )
        else:
            flt = Filter(allowed_ids=sets[values])
        hits = index.search(q, K, flt)[0]
        latency[i] = (time.perf_counter() - t0) * 1e3
        found.append({h for h, _ in hits})
    return latency, found


def summarise(latency: np.ndarray, found: list[set[int]], expected: list[set[int]]) -> dict[str, Any]:
    recall = np.mean([len(f & e) / max(len(e), 1) for f, e in zip(found, expected, strict=False)])
    p50, p95, p99 = np.percentile(latency, [50, 95, 99])
    return {
        "p50_ms": round(float(p50), 3),
        "p95_ms": round(float(p95), 3),
        "p99_ms": round(float(p99), 3),
        "mean_ms": round(float(latency.mean()), 3),
        "recall@10": round(float(recall), 4),
        "meets_target": bool(p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS),
    }


def bench_qdrant(args, vectors, payload, queries, draws, scores, sets) -> dict[str, Any]:
    n = min(args.qdrant_n, len(vectors))
    where = {"url": args.qdrant} if "://" in args.qdrant else {"location": args.qdrant}
    index = create_index("qdrant", vectors.shape[1], collection="vestis-bench", **where)
    t0 = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task("qdrant upsert", total=n)
        for start in range(0, n, 10_000):
            end = min(start + 10_000, n)
            rows = [{f: f"{f}{payload[f][i]}" for f in VOCAB} for i in range(start, end)]
            index.add(np.arange(start + 1, end + 1), vectors[start:end], rows)
            bar.advance(task, end - start)
    result: dict[str, Any] = {"n": n, "where": args.qdrant, "upsert_s": round(time.perf_counter() - t0, 1)}
    count = min(args.qdrant_queries, len(queries))
    for name, fields in FILTERS.items():
        latency, found = run_queries(index, queries[:count], draws, fields, sets.get(name), pushdown=True)
        result[name] = summarise(latency, found, truths(scores, draws, fields, sets.get(name), n))
        logger.info("qdrant %s: %s", name, result[name])
    index.close()
    return result


COLUMNS = [  # (header, key, format)
    ("filter", "filter", "{:<16}"),
    ("select.", "selectivity", "{:>7.4f}"),
    ("ef", "ef", "{:>4}"),
    ("path", "path", "{:<20}"),
    ("p50 ms", "p50_ms", "{:>7.2f}"),
    ("p95 ms", "p95_ms", "{:>7.2f}"),
    ("p99 ms", "p99_ms", "{:>7.2f}"),
    ("recall@10", "recall@10", "{:>9.3f}"),
]


def print_table(rows: list[dict[str, Any]]) -> None:
    widths = [len(fmt.format(rows[0][key])) for _, key, fmt in COLUMNS]
    heads = [h.ljust(w) if "<" in fmt else h.rjust(w) for (h, _, fmt), w in zip(COLUMNS, widths, strict=True)]
    print(" ".join(heads), " target")
    for r in rows:
        cells = " ".join(fmt.format(r[key]) for _, key, fmt in COLUMNS)
        print(cells, " ok" if r["meets_target"] else " MISS")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="items in the index")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--clusters", type=int, default=2_000)
    ap.add_argument("--queries", type=int, default=1_000, help="timed queries per (ef, filter)")
    ap.add_argument("--recall-queries", type=int, default=100)
    ap.add_argument("--m", type=int, default=32, help="HNSW degree")
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", type=int, nargs="+", default=[32, 64, 128], help="ef_search values (no filter)")
    ap.add_argument(
        "--filtered-ef", type=int, nargs="+", default=[16, 32, 64], help="filtered_ef values (filters)"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--qdrant", default=None, help="qdrant URL, or :memory: for local mode")
    ap.add_argument("--qdrant-n", type=int, default=100_000)
    ap.add_argument("--qdrant-queries", type=int, default=100)
    ap.add_argument("--out", default="benchmarks/results/index_scale.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    import faiss

    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    centres = unit(rng.standard_normal((args.clusters, args.dim), dtype=np.float32))
    t0 = time.perf_counter()
    vectors = sample(rng, centres, args.n)
    payload = {f: rng.integers(size, size=args.n).astype(np.int64) for f, size in VOCAB.items()}
    queries = sample(rng, centres, args.queries)
    draws = np.stack([rng.integers(size, size=args.queries) for size in VOCAB.values()], axis=1)
    sets = allowed_sets(payload)
    logger.info("generated %d × %d in %.1f s", args.n, args.dim, time.perf_counter() - t0)

    options = {"m": args.m, "ef_construction": args.ef_construction, "ef_search": args.ef[0]}
    index = create_index("faiss", args.dim, **options)
    rss0 = rss_gib()
    t0 = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task("faiss add", total=args.n)
        for start in range(0, args.n, CHUNK):
            end = min(start + CHUNK, args.n)
            index.add(np.arange(start + 1, end + 1), vectors[start:end])
            bar.advance(task, end - start)
            if (end // CHUNK) % 4 == 0:
                logger.info("added %d / %d (%.0f s)", end, args.n, time.perf_counter() - t0)
    build_s = time.perf_counter() - t0
    build = {
        "seconds": round(build_s, 1),
        "index_rss_gib": round(rss_gib() - rss0, 2),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "kind": repr(index),
    }
    logger.info("built in %.1f s: %s", build_s, build)

    scores = exact_scores(vectors, queries[: args.recall_queries])
    brute = []
    for q in queries[:20]:
        t1 = time.perf_counter()
        np.argpartition(-(vectors @ q), K)[:K]
        brute.append((time.perf_counter() - t1) * 1e3)

    expected = {
        name: truths(scores, draws, fields, sets.get(name), args.n) for name, fields in FILTERS.items()
    }
    # Each filter at each beam setting, then once down the path the index did not choose
    # (exact_threshold forced), which checks the cost model that picks the path.
    settings = [(name, ef, None) for name in FILTERS if not FILTERS[name] for ef in args.ef]
    for name in [f for f in FILTERS if FILTERS[f]]:
        settings += [(name, ef, None) for ef in args.filtered_ef] + [(name, args.filtered_ef[0], "forced")]
    rows: list[dict[str, Any]] = []
    for name, ef, forced in settings:
        fields, group = FILTERS[name], sets.get(name)
        size = round(np.mean([len(v) for v in group.values()])) if group else args.n
        index.ef_search = ef if not fields else args.ef[0]
        index.filtered_ef = ef if fields else args.filtered_ef[0]
        index.exact_threshold = None
        if forced:
            index.exact_threshold = args.n if index.filtered_beam(K, size) else 0
        beam = index.filtered_beam(K, size) if fields else max(ef, K)
        index.search(queries[:20], K)  # warm up
        latency, found = run_queries(index, queries, draws, fields, group, pushdown=False)
        row = {
            "filter": name,
            "selectivity": round(size / args.n, 5),
            "ef": ef,
            "path": ("exact" if beam is None else f"beam {beam}") + (" (forced)" if forced else ""),
        }
        row.update(summarise(latency, found, expected[name]))
        rows.append(row)
        logger.info("%s", row)

    result: dict[str, Any] = {
        "config": {k: v for k, v in vars(args).items() if k != "out"} | {"k": K, "noise": NOISE},
        "index_options": index.options | {"ef_search": args.ef, "filtered_ef": args.filtered_ef},
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "faiss": faiss.__version__,
            "numpy": np.__version__,
            "load_average": os.getloadavg(),
        },
        "build": build,
        "brute_force_numpy_ms_p50": round(float(np.median(brute)), 2),
        "target": {"p50_ms": TARGET_P50_MS, "p99_ms": TARGET_P99_MS},
        "rows": rows,
        "qdrant": (
            bench_qdrant(args, vectors, payload, queries, draws, scores, sets)
            if args.qdrant
            else {"note": "not run: local mode is pure Python (~0.2-1.2 s a query at 100k); use --qdrant URL"}
        ),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nfaiss HNSW, n={args.n:,} dim={args.dim} m={args.m} ef_construction={args.ef_construction}: ")
    print(f"build {build['seconds']} s, index RSS {build['index_rss_gib']} GiB, ", end="")
    print(f"peak RSS {build['peak_rss_gib']} GiB")
    print(f"brute force (numpy, one query): {result['brute_force_numpy_ms_p50']} ms\n")
    print_table(rows)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Probe: how hybrid scoring should weigh the attributes a text query names (issue 13).

The searcher re-ranks a text query's nearest candidates by ``similarity + weight × agreement``, where
agreement is the share of the fields the query names (``attribute_mentions``) whose extracted value
matches. A mismatch and an unknown (null) value score the same there, and the extractor's confidence
is not used. This probe scores, on the catalog and queries of ``vestis eval retrieve``, other rules:

* ``hard``: today's rule (match 1, otherwise 0);
* ``signed``: match +1, a different extracted value −``s``, null 0;
* ``conf``: as ``signed``, each term scaled by the extractor's confidence in its value.

Weights and ``s`` are chosen on one half of the validation products and reported on the other (both
ways), so no number is tuned on the queries it reports. Candidates: the 200 nearest, as the searcher.

    export OMP_NUM_THREADS=1 VESTIS_DATA=../shared/data PYTHONPATH=src
    vestis eval retrieve --dataset hm --out runs/retrieve-hm-bank           # makes the catalog
    .venv/bin/python benchmarks/hybrid_probe.py --dataset hm --catalog runs/retrieve-hm-bank/catalog
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rerank_probe import cross_fit

from vestis.catalog.catalog import Catalog
from vestis.data import open_dataset
from vestis.eval.retrieve import _file_hash, text_queries
from vestis.search.query import attribute_mentions
from vestis.train.text_bank_trainer import ranked_hits

REPO = Path(__file__).resolve().parents[1]
CANDIDATES = 200


def agreement_terms(items, mentions: list[dict[str, set[str]]], cand: np.ndarray) -> np.ndarray:
    """[Q, G, 6]: per query and candidate item, the mean over mentioned fields of (match, mismatch,
    null), then the same scaled by the extractor's confidence; zero outside the candidates."""
    out = np.zeros((len(mentions), len(items), 6), dtype=np.float32)
    for qi, m in enumerate(mentions):
        if not m:
            continue
        for gi in cand[qi]:
            item = items[gi]
            for name, wanted in m.items():
                value = item.attributes.get(name)
                conf = float(item.confidence.get(name) or 0.0)
                if value is None or value == []:
                    out[qi, gi, 2] += 1
                    continue
                values = set(value) if isinstance(value, list) else {value}
                hit = 0 if values & wanted else 1
                out[qi, gi, hit] += 1
                out[qi, gi, 3 + hit] += conf
            out[qi, gi] /= len(m)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="hm")
    p.add_argument("--catalog", required=True)
    p.add_argument("--weights", default="0,0.05,0.1,0.15,0.2,0.3,0.5")
    p.add_argument("--penalties", default="0,0.25,0.5,1")
    p.add_argument("--results", default=None)
    args = p.parse_args()
    t0 = time.perf_counter()
    catalog = Catalog.open(args.catalog)
    items = catalog.store.get(catalog.store.ids())
    key_col = {item.content_hash: j for j, item in enumerate(items)}
    gal = np.stack([item.embedding for item in items]).astype(np.float32)
    schema = catalog.schema
    val = open_dataset(args.dataset, schema=schema).split("val")
    keys = [_file_hash(ex.image) for ex in val]
    members: dict[str, set[int]] = {}
    for i, ex in enumerate(val):
        if keys[i] in key_col:
            members.setdefault(ex.group or ex.id, set()).add(key_col[keys[i]])
    embedder = catalog.embedder
    weights = [float(x) for x in args.weights.split(",")]
    penalties = [float(x) for x in args.penalties.split(",")]
    results: dict = {"dataset": args.dataset, "catalog": args.catalog, "tasks": {}}
    for task, queries in text_queries(val).items():
        qs = [(i, t) for i, t in queries if keys[i] in key_col]
        if not qs:
            continue
        texts = [t for _, t in qs]
        q = embedder.embed_queries(texts)
        sim = q @ gal.T
        # only the searcher's candidates can move: the rest keep their similarity
        cand = np.argpartition(-sim, CANDIDATES - 1, axis=1)[:, :CANDIDATES]
        mentions = [attribute_mentions(t, schema) for t in texts]
        terms = agreement_terms(items, mentions, cand)
        rel = np.zeros_like(sim, dtype=bool)
        groups = []
        for r, (i, _) in enumerate(qs):
            g = val[i].group or val[i].id
            rel[r, list(members[g])] = True
            groups.append(g)
        folds = np.array([int(hashlib.sha1(g.encode()).hexdigest(), 16) % 2 for g in groups])
        grid = {}
        for w in weights:
            grid[("hard", w, 0.0)] = ranked_hits(sim + w * terms[..., 0], rel)
            for s in penalties:
                grid[("signed", w, s)] = ranked_hits(sim + w * (terms[..., 0] - s * terms[..., 1]), rel)
                grid[("conf", w, s)] = ranked_hits(sim + w * (terms[..., 3] - s * terms[..., 4]), rel)
        both, chosen = cross_fit(grid, folds)
        today = grid[("hard", 0.1, 0.0)]
        cell = {
            "queries": len(qs),
            "with_mentions": int(sum(bool(m) for m in mentions)),
            "embedding_R@10": float(grid[("hard", 0.0, 0.0)][:, 0].mean()),
            "hybrid_today_R@10": float(today[:, 0].mean()),
            "hybrid_today_MRR": float(today[:, 1].mean()),
            "cross_fitted_R@10": float(both.mean()),
            "chosen": chosen,
            "grid": {
                " ".join(map(str, c)): [float(v[:, 0].mean()), float(v[:, 1].mean())] for c, v in grid.items()
            },
        }
        results["tasks"][task] = cell
        top = sorted(cell["grid"].items(), key=lambda kv: -kv[1][0])[:5]
        print(
            f"{args.dataset}/{task} ({len(qs)}, {cell['with_mentions']} naming attributes): embedding "
            f"{cell['embedding_R@10']:.3f}, hybrid today {cell['hybrid_today_R@10']:.3f}, cross-fitted "
            f"{both.mean():.3f} {chosen}; best {top}  [{time.perf_counter() - t0:.0f}s]",
            flush=True,
        )
    out = args.results or str(REPO / f"benchmarks/results/hybrid_probe_{args.dataset}.json")
    Path(out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

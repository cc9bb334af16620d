"""Outfit compatibility, fill-in-the-blank and complete-the-look for every registered scorer.

On the item-disjoint validation split of a dataset with outfits (default Mango, read from
``$VESTIS_DATA`` or ``../shared/data``). Learned scorers are trained first with the
``vestis train outfits`` recipe (its defaults) on the training split, unless ``--trained NAME=DIR``
points at a trained model. Two protocols:

* ``uniform``: negatives and wrong FITB candidates are random items of the same category (the
  standard protocol; the one the targets and the published anchors use);
* ``occurrence``: they are drawn as often as items occur in outfits, so an item's popularity
  with stylists is no cue (on Mango, popularity alone gives a validation AUC of 0.87 under the
  uniform protocol and 0.48 under this one).

Prints a table and writes ``benchmarks/results/outfits.json``::

    .venv/bin/python benchmarks/outfits.py --model runs/dev-lite --threads 1
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from vestis.data import open_dataset
from vestis.data.base import DatasetError
from vestis.embed import load_embedder
from vestis.extract.base import load_extractor
from vestis.outfits import create_scorer, list_scorers, load_scorer, scorer_class
from vestis.outfits.evaluation import outfit_metrics, split_outfits
from vestis.outfits.features import outfit_data
from vestis.schema import load_schema
from vestis.train.outfits_config import OutfitsTrainConfig
from vestis.train.outfits_trainer import train_outfits

# Extra rows besides one per registered scorer: (row name, scorer, options).
VARIANTS = [("cooccurrence (plain cosine)", "cooccurrence", {"centre": False})]
PROTOCOLS = {"uniform": False, "occurrence": True}
# Scorers with a benchmark of their own: the LLM needs one forward pass per candidate outfit, so
# complete-the-look recall over every catalog item is out of reach here (benchmarks/outfits_llm.py).
SEPARATE = {"llm"}
ANCHORS = {
    "OutfitTransformer (Polyvore non-disjoint)": {"auc": 0.93, "fitb": 0.671},
    "fashion-CLIP + logistic regression (Polyvore disjoint)": {"auc": 0.877, "fitb": 0.620},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mango", help="dataset spec with outfits")
    ap.add_argument("--model", default=None, help="vestis-lite directory (default: shipped)")
    ap.add_argument("--trained", nargs="*", default=[], metavar="NAME=DIR", help="use these trained models")
    ap.add_argument("--runs", default="runs/bench/outfits", help="where learned scorers are trained")
    ap.add_argument("--cache", default=".vestis-cache", help="cache of item embeddings")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument(
        "--train-on-shared",
        action="store_true",
        help="train on every non-validation outfit, also those sharing items with validation ones "
        "(non-disjoint, like the OutfitTransformer anchor; same validation outfits)",
    )
    ap.add_argument("--out", default=None, help="default benchmarks/results/outfits[_shared].json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    schema = load_schema("vestis")
    try:
        dataset = open_dataset(args.dataset, schema=schema)
    except DatasetError as exc:
        raise SystemExit(
            f"{exc}\nThis benchmark reads the shared development data (../shared/data)."
        ) from None
    options = {"model": args.model} if args.model else {}
    embedder = load_embedder("lite", **options)
    model_id = embedder.model_id
    data = outfit_data(dataset, load_extractor("lite", schema, **options), embedder, args.cache)
    val = split_outfits(data, "val")
    trained = dict(pair.split("=", 1) for pair in args.trained)
    rows = [(name, name, {}) for name in list_scorers() if name not in SEPARATE] + VARIANTS
    results: dict[str, dict] = {}
    for row, name, options in rows:
        t0 = time.perf_counter()
        if not scorer_class(name).learned:
            scorer = create_scorer(name, **options)
        elif row in trained:
            scorer = load_scorer(trained[row])
        else:
            cfg = OutfitsTrainConfig(
                dataset=args.dataset, model=args.model, scorer=name, seed=args.seed,
                out_dir=f"{args.runs}/{name}{'-shared' if args.train_on_shared else ''}",
                cache_dir=args.cache, train_on_shared=args.train_on_shared,
            )  # fmt: skip
            scorer = load_scorer(train_outfits(cfg, data=data, model_id=model_id))
        scorer.check_embeddings(model_id)
        results[row] = {}
        for protocol, by_occurrence in PROTOCOLS.items():
            m, _ = outfit_metrics(scorer, val, seed=args.seed, by_occurrence=by_occurrence)
            results[row][protocol] = {k: m[k] for k in ("auc", "fitb", "recall@10", "median_rank")}
            results[row][protocol]["chance_recall@10"] = m["chance"]["recall@10"]
        results[row]["seconds"] = round(time.perf_counter() - t0, 1)
    header = (
        f"{'scorer':<30}{'AUC':>8}{'FITB':>8}{'R@10':>8}   │{'AUC occ':>9}{'FITB occ':>10}{'R@10 occ':>10}"
    )
    items = len({i for o in val.outfits.values() for i in o})
    split = "non-disjoint (train on shared items)" if args.train_on_shared else "item-disjoint"
    print(
        f"\n{dataset.name}, {split} val split: {len(val.outfits)} outfits, {items} items, "
        f"embeddings {model_id}\n{header}\n{'─' * len(header)}"
    )
    for row, r in results.items():
        u, o = r["uniform"], r["occurrence"]
        print(
            f"{row:<30}{u['auc']:>8.3f}{u['fitb']:>8.3f}{u['recall@10']:>8.3f}   │"
            f"{o['auc']:>9.3f}{o['fitb']:>10.3f}{o['recall@10']:>10.3f}"
        )
    print(f"{'chance':<30}{0.5:>8.3f}{0.25:>8.3f}{u['chance_recall@10']:>8.3f}")
    for name, a in ANCHORS.items():
        print(f"anchor: {name}: AUC {a['auc']:.3f}, FITB {a['fitb']:.3f}")
    out = {
        "dataset": dataset.name,
        "split": f"val ({split})",
        "val_outfits": len(val.outfits),
        "embedding_model": model_id,
        "seed": args.seed,
        "results": results,
        "anchors": ANCHORS,
    }
    path = Path(args.out or f"benchmarks/results/outfits{'_shared' if args.train_on_shared else ''}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

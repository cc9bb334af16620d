"""Why outfit compatibility is hard on Mango's item-disjoint split: popularity, and richer item inputs.

1. **Popularity.** Scores each validation outfit by the mean log count of its items, counted in
   the validation outfits themselves (an oracle no scorer has) and predicted from item features
   (ridge regression from embedding + category to the log count in the training outfits).
2. **Item inputs** (``--inputs``): trains the type-aware scorer with the shipped recipe on other
   per-item vectors than the 256-d embedding: the 1,280-d pooled backbone features, or the
   embedding plus vestis-lite's head probabilities.

Same split, seed and protocol as benchmarks/outfits.py. Prints a table and writes
``benchmarks/results/outfits_analysis.json``::

    .venv/bin/python benchmarks/outfits_analysis.py --threads 2 [--inputs]
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np

from vestis.data import open_dataset
from vestis.embed import load_embedder
from vestis.extract.base import load_extractor
from vestis.outfits.base import OutfitScorer
from vestis.outfits.data import OutfitData, disjoint_split
from vestis.outfits.evaluation import outfit_metrics
from vestis.outfits.features import outfit_data
from vestis.schema import load_schema

HEADS = ("type", "colour", "pattern", "material", "fit", "style", "occasion", "neckline", "sleeve_length")


class ItemValue(OutfitScorer):
    """An outfit's score is the mean of a fixed per-item value (by item id)."""

    name = "item-value"

    def __init__(self, values: dict) -> None:
        self.values = values

    def score(self, outfits):
        return np.array([np.mean([self.values.get(it.id, 0.0) for it in o]) for o in outfits])


def ridge_fit_predict(x: np.ndarray, y: np.ndarray, x_all: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Ridge regression with an unpenalised intercept (scikit-learn's ``Ridge``), in closed form."""
    x64, y64 = x.astype(np.float64), np.asarray(y, dtype=np.float64)
    x_mean, y_mean = x64.mean(axis=0), y64.mean()
    xc = x64 - x_mean
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y64 - y_mean))
    return (x_all - x_mean) @ w + y_mean


def popularity(data: OutfitData, train: OutfitData, val: OutfitData, seed: int) -> dict:
    train_count = Counter(i for o in train.outfits.values() for i in o)
    val_count = Counter(i for o in val.outfits.values() for i in o)
    cats = sorted({c for c in data.categories if c})
    onehot = np.array([[c == k for k in cats] for c in data.categories], dtype=np.float32)
    x = np.hstack([data.embeddings, onehot])
    seen = sorted(train_count)
    predicted = ridge_fit_predict(x[seen], np.log1p([train_count[i] for i in seen]), x)
    val_items = sorted(val_count)
    oracle = {data.ids[i]: float(np.log1p(val_count[i])) for i in val_items}
    rows = {}
    for name, values in (
        ("validation popularity (oracle)", oracle),
        ("popularity predicted from features", {data.ids[i]: float(predicted[i]) for i in val_items}),
    ):
        m, _ = outfit_metrics(ItemValue(values), val, seed=seed, recall=False)
        rows[name] = {"auc": m["auc"], "fitb": m["fitb"]}
    truth = np.log1p([val_count[i] for i in val_items])
    rows["popularity predicted from features"]["correlation"] = float(
        np.corrcoef(predicted[val_items], truth)[0, 1]
    )
    return rows


def item_vectors(data: OutfitData, model: str | None, threads: int | None) -> dict[str, np.ndarray]:
    """Per-item inputs: the embedding, pooled backbone features, embedding + head probabilities."""
    import torch
    from PIL import Image

    from vestis.colour import colour_features
    from vestis.models.lite import VestisLite
    from vestis.models.preprocess import letterbox_batch, normalise
    from vestis.models.registry import resolve_lite

    if threads:
        torch.set_num_threads(threads)
    lite = VestisLite.load(resolve_lite(model)).eval()
    pooled, probs, size = [], [], lite.config.image_size
    for start in range(0, len(data.images), 64):
        u8 = letterbox_batch([Image.open(p).convert("RGB") for p in data.images[start : start + 64]], size)
        colour = torch.from_numpy(colour_features(u8)) if lite.config.colour_dim else None
        with torch.inference_mode():
            p = lite.backbone(torch.from_numpy(normalise(u8)))
            _, logits = lite.outputs(p, colour)
        pooled.append(p.numpy())
        probs.append(np.hstack([torch.softmax(logits[h], -1).numpy() for h in HEADS if h in logits]))

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-6)

    emb = data.embeddings
    return {
        "embedding (256-d, shipped)": emb,
        "pooled backbone features (1,280-d)": unit(np.concatenate(pooled)),
        "embedding + head probabilities": np.hstack([emb, unit(np.concatenate(probs))]) / np.sqrt(2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mango")
    ap.add_argument("--model", default=None, help="vestis-lite directory (default: shipped)")
    ap.add_argument("--inputs", action="store_true", help="also train type-aware on other item inputs")
    ap.add_argument("--cache", default=".vestis-cache")
    ap.add_argument("--runs", default="runs/bench/outfits-analysis")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="benchmarks/results/outfits_analysis.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    schema = load_schema("vestis")
    dataset = open_dataset(args.dataset, schema=schema)
    options = {"model": args.model} if args.model else {}
    extractor = load_extractor("lite", schema, **options)
    data = outfit_data(dataset, extractor, load_embedder("lite", **options), args.cache)
    train_ids, val_ids = disjoint_split(data.outfits)
    train, val = data.subset(train_ids), data.subset(val_ids)
    result = {"popularity": popularity(data, train, val, args.seed)}
    print(f"{'popularity scorer':<40}{'AUC':>8}{'FITB':>8}")
    for name, r in result["popularity"].items():
        extra = f"   correlation with validation counts {r['correlation']:.2f}" if "correlation" in r else ""
        print(f"{name:<40}{r['auc']:>8.3f}{r['fitb']:>8.3f}{extra}")
    if args.inputs:
        from vestis.train.outfits_config import OutfitsTrainConfig
        from vestis.train.outfits_trainer import train_outfits

        result["inputs"] = {}
        for k, (name, vectors) in enumerate(item_vectors(data, args.model, args.threads).items()):
            variant = copy.copy(data)
            variant.embeddings = np.ascontiguousarray(vectors, dtype=np.float32)
            cfg = OutfitsTrainConfig(
                dataset=args.dataset, seed=args.seed, threads=args.threads, out_dir=f"{args.runs}/{k}"
            )
            train_outfits(cfg, data=variant, model_id="analysis")
            val_metrics = json.loads((Path(cfg.out_dir) / "report.json").read_text())["val"]
            result["inputs"][name] = {m: val_metrics[m] for m in ("auc", "fitb", "recall@10")}
        print(f"\n{'type-aware on item input':<40}{'AUC':>8}{'FITB':>8}{'R@10':>8}")
        for name, r in result["inputs"].items():
            print(f"{name:<40}{r['auc']:>8.3f}{r['fitb']:>8.3f}{r['recall@10']:>8.3f}")
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""The outfits task: compatibility AUC, fill-in-the-blank accuracy, complete-the-look recall@k.

On the outfits of a dataset's item-disjoint validation split (:func:`vestis.outfits.data.disjoint_split`,
or every outfit with ``split="all"``):

* **compatibility AUC**: each real outfit against one type-consistent random outfit (each item
  replaced by a random item of its category from the split's items; fixed seed);
* **FITB accuracy**: one random item hidden, four candidates of its category (the hidden one
  and three others; fixed seed), the scorer picks the one whose outfit scores highest;
* **complete-the-look recall@k**: the same hidden item must rank in the top k of *all* the
  split's items of its category (those not already in the outfit).

Chance levels are reported beside each metric. The scorer first sees the split's items
(:meth:`~vestis.outfits.base.OutfitScorer.adapt`), never its outfits.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from vestis.outfits.base import OutfitScorer
from vestis.outfits.data import OutfitData, disjoint_split
from vestis.outfits.evaluation import outfit_metrics

log = logging.getLogger(__name__)


def split_outfits(data: OutfitData, split: str = "val", val_fraction: float = 0.15) -> OutfitData:
    """The outfits of one split (``train``, ``val`` or ``all``) of :func:`disjoint_split`."""
    if split == "all":
        return data
    if split not in ("train", "val"):
        raise ValueError(f"split must be train, val or all, not {split!r}")
    train, val = disjoint_split(data.outfits, val_fraction)
    return data.subset(train if split == "train" else val)


def run_outfits_eval(
    data: OutfitData,
    scorer: OutfitScorer,
    out_dir: str | Path,
    split: str = "val",
    seed: int = 0,
    k: int = 10,
    val_fraction: float = 0.15,
    dataset_name: str = "",
    limit: int | None = None,
    recall: bool = True,
) -> dict[str, Any]:
    """Score a split, write ``metrics.json``, ``questions.jsonl`` and ``report.html``; return the metrics.

    ``limit`` keeps the split's first N outfits (by id): negatives, candidates and recall pools
    then come from their items only, so the task is smaller and easier, not just a sample.
    ``recall=False`` skips complete-the-look recall, which scores every item of the hidden item's
    category per question (slow for the LLM).
    """
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    subset = split_outfits(data, split, val_fraction)
    if limit is not None:
        subset = subset.subset(sorted(subset.outfits)[:limit])
    metrics, records = outfit_metrics(scorer, subset, seed=seed, k=k, recall=recall, progress=True)
    metrics = {"dataset": dataset_name, "split": split, "scorer": scorer.name, "seed": seed, **metrics}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    with open(out / "questions.jsonl", "w") as fh:
        for r in records:
            fh.write(
                json.dumps(
                    {
                        **r,
                        "given": [data.ids[i] for i in r["given"]],
                        "candidates": [data.ids[i] for i in r["candidates"]],
                    }
                )
                + "\n"
            )
    from vestis.eval.outfits_report import write_outfits_report

    write_outfits_report(metrics, records, subset, out / "report.html")
    return metrics

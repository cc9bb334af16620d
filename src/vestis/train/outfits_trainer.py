"""Train a learned outfit scorer (``type-aware`` or ``set-transformer``) on a dataset's outfits.

``train_outfits(config)`` is what ``vestis train outfits`` runs. The items of every outfit are
embedded once with vestis-lite (cached); the outfits are split item-disjointly
(:func:`vestis.outfits.data.disjoint_split`), and with ``keep_partial`` the outfits that shared
items with validation ones are trained on without those items
(:func:`vestis.outfits.data.with_partial_outfits`; ``train_on_shared`` instead keeps them whole,
a non-disjoint split for comparisons); each step scores a batch of real outfits (a
share of them as random sub-outfits, so partial looks and pairs are in-distribution) against

* one **type-consistent negative** per outfit (every item swapped for a random item of the same
  category): binary cross-entropy, real vs random;
* ``swap_negatives`` **fill-in-the-blank negatives** (one item swapped for others of its
  category): softmax cross-entropy, the real outfit must win.

Negative items come from the training outfits' own items (validation items never appear), drawn
as often as they occur in outfits: stylists reuse a few items heavily, and with items drawn
uniformly a model learns to recognise those items instead of what goes together (on Mango it
then generalises worse). ``uniform_negative_share`` mixes in uniformly drawn negatives, which
teach a prior for versatile-looking items.
The run is deterministic for a seed, draws a progress bar, evaluates AUC and FITB on the
validation split every epoch, and writes ``out_dir/model`` (``config.json`` + ``model.safetensors``
+ model card) and ``out_dir/report.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vestis.data import DatasetError
from vestis.errors import OptionsError
from vestis.outfits.base import create_scorer, scorer_class
from vestis.outfits.data import (
    OutfitData,
    sub_outfit,
    swap_one,
    training_split,
    type_consistent_negative,
)
from vestis.outfits.evaluation import outfit_metrics
from vestis.outfits.learned import LearnedScorer
from vestis.progress import progress_bar
from vestis.train.config import seed_everything
from vestis.train.outfits_config import OutfitsTrainConfig

log = logging.getLogger(__name__)


def load_training_data(cfg: OutfitsTrainConfig) -> tuple[OutfitData, str]:
    """Embed the items of ``cfg.dataset``'s outfits with ``cfg.model``: (data, the model's id)."""
    from vestis.data import open_dataset
    from vestis.embed import load_embedder
    from vestis.extract.base import load_extractor
    from vestis.outfits.features import outfit_data
    from vestis.schema import load_schema

    schema = load_schema("vestis")
    dataset = open_dataset(cfg.dataset, schema=schema)
    options = {"model": cfg.model} if cfg.model else {}
    extractor = load_extractor("lite", schema, **options)
    embedder = load_embedder("lite", **options)
    return outfit_data(dataset, extractor, embedder, cfg.cache_dir), embedder.model_id


class Batcher:
    """Index tensors for outfits given as lists of rows of the item table."""

    def __init__(self, data: OutfitData, scorer: LearnedScorer) -> None:
        self.emb = torch.from_numpy(np.ascontiguousarray(data.embeddings, dtype=np.float32))
        index = {c: i + 1 for i, c in enumerate(scorer.config.categories)}
        self.cat = torch.tensor([index.get(c, 0) for c in data.categories], dtype=torch.long)

    def __call__(self, outfits: list[list[int]]):
        length = max(len(o) for o in outfits)
        idx = torch.full((len(outfits), length), -1, dtype=torch.long)
        for b, o in enumerate(outfits):
            idx[b, : len(o)] = torch.tensor(o)
        mask = idx >= 0
        safe = idx.clamp(min=0)
        return self.emb[safe], self.cat[safe] * mask, mask


def outfit_loss(
    net, batcher: Batcher, outfits: list[list[int]], data: OutfitData, pools, cfg, rng
) -> tuple[torch.Tensor, dict[str, float]]:
    """BCE of real vs type-consistent random outfits + FITB softmax over one-item swaps.

    ``pools`` = (items by occurrence, distinct items) per category, to draw negatives from.
    """
    by_occurrence, uniform = pools
    negatives = [
        type_consistent_negative(
            o, data.categories, uniform if rng.random() < cfg.uniform_negative_share else by_occurrence, rng
        )
        for o in outfits
    ]
    logits = net(*batcher(outfits + negatives))
    pos, neg = logits[: len(outfits)], logits[len(outfits) :]
    bce = F.softplus(-pos).mean() + F.softplus(neg).mean()
    parts = {"bce": float(bce.detach())}
    loss = bce
    if cfg.swap_negatives > 0 and cfg.fitb_weight > 0:
        rows, swapped = [], []
        for b, o in enumerate(outfits):
            pool = uniform if rng.random() < cfg.uniform_negative_share else by_occurrence
            found = swap_one(o, data.categories, pool, rng, n=cfg.swap_negatives)
            if found is None:
                continue
            p, wrong = found
            rows.append(b)
            swapped += [[*o[:p], w, *o[p + 1 :]] for w in wrong]
        if rows:
            s = net(*batcher(swapped)).view(len(rows), cfg.swap_negatives)
            table = torch.cat([pos[torch.tensor(rows)][:, None], s], dim=1)
            fitb = F.cross_entropy(table, torch.zeros(len(rows), dtype=torch.long))
            loss = loss + cfg.fitb_weight * fitb
            parts["fitb"] = float(fitb.detach())
    parts["total"] = float(loss.detach())
    return loss, parts


def train_outfits(
    cfg: OutfitsTrainConfig, data: OutfitData | None = None, model_id: str | None = None
) -> Path:
    """Train, evaluate and save a scorer; returns the model directory. ``data`` skips the embedding pass."""
    seed_everything(cfg.seed, cfg.threads)
    if cfg.train_on_shared and cfg.keep_partial:  # whole shared outfits make partial looks moot
        cfg = dataclasses.replace(cfg, keep_partial=False)
    if not scorer_class(cfg.scorer).learned:
        raise OptionsError(f"{cfg.scorer!r} is not a learned scorer; nothing to train")
    if data is None:
        data, model_id = load_training_data(cfg)
    train, val = training_split(data, cfg.val_fraction, cfg.keep_partial, cfg.train_on_shared)
    if not train.outfits or not val.outfits:
        raise DatasetError("training needs outfits in both the train and the validation split")
    log.info(
        "%d training outfits, %d validation outfits (%s)",
        len(train.outfits),
        len(val.outfits),
        "sharing items" if cfg.train_on_shared else "item-disjoint",
    )
    # the categories the net indexes: the category-role values the training items carry
    options = {"categories": sorted({c for c in data.categories if c}), **cfg.scorer_options}
    scorer = create_scorer(
        cfg.scorer, embed_dim=int(data.embeddings.shape[1]), embedding_model=model_id, **options
    )
    assert isinstance(scorer, LearnedScorer)
    items = sorted({i for o in train.outfits.values() for i in o})
    scorer.fit_centring(data.embeddings[items], [data.categories[i] for i in items])
    net, batcher, pools = scorer.net, Batcher(data, scorer), (train.pool(True), train.pool())
    optim = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    outfits = [train.outfits[k] for k in sorted(train.outfits)]
    steps_per_epoch = (len(outfits) + cfg.batch_size - 1) // cfg.batch_size
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=steps_per_epoch * cfg.epochs)
    history: list[dict[str, Any]] = []
    with progress_bar() as bar:
        task = bar.add_task(f"training {cfg.scorer}", total=steps_per_epoch * cfg.epochs)
        for epoch in range(cfg.epochs):
            rng = np.random.default_rng(cfg.seed * 1000 + epoch)
            order = rng.permutation(len(outfits))
            net.train()
            t0, sums = time.perf_counter(), {}
            for step in range(steps_per_epoch):
                batch = [outfits[j] for j in order[step * cfg.batch_size : (step + 1) * cfg.batch_size]]
                batch = [sub_outfit(o, rng) if rng.random() < cfg.subset_prob else o for o in batch]
                loss, parts = outfit_loss(net, batcher, batch, train, pools, cfg, rng)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                sched.step()
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + v / steps_per_epoch
                bar.advance(task)
            net.eval()
            metrics, _ = outfit_metrics(scorer, val, seed=cfg.seed, recall=False)
            record = {
                "epoch": epoch + 1,
                "seconds": round(time.perf_counter() - t0, 2),
                "train_loss": sums,
                "val": {"auc": metrics["auc"], "fitb": metrics["fitb"]},
            }
            history.append(record)
            fitb = "—" if metrics["fitb"] is None else f"{metrics['fitb']:.3f}"
            bar.console.print(
                f"epoch {epoch + 1}/{cfg.epochs}: loss {sums['total']:.3f} · "
                f"val AUC {metrics['auc']:.3f} · FITB {fitb}"
            )
    final, _ = outfit_metrics(scorer, val, seed=cfg.seed, progress=True)
    summary = {
        "config": cfg.to_dict(),
        "train_outfits": len(train.outfits),
        "partial_outfits": sum(o != data.outfits[k] for k, o in train.outfits.items()),
        "val_outfits": len(val.outfits),
        "dropped_outfits": len(data.outfits) - len(train.outfits) - len(val.outfits),
        "embedding_model": model_id,
        "val": final,
        "history": history,
    }
    out = Path(cfg.out_dir)
    model_dir = scorer.save(out / "model", extra={"trained": _trained_note(summary)})
    (model_dir / "README.md").write_text(model_card(summary))
    (out / "report.json").write_text(json.dumps(summary, indent=1))
    return model_dir


def _trained_note(summary: dict[str, Any]) -> dict[str, Any]:
    val = summary["val"]
    return {
        "dataset": summary["config"]["dataset"],
        "train_outfits": summary["train_outfits"],
        "val_outfits": summary["val_outfits"],
        "val": {k: val[k] for k in ("auc", "fitb", "recall@10") if k in val},
    }


def model_card(summary: dict[str, Any]) -> str:
    cfg, val = summary["config"], summary["val"]
    val_part = f"{summary['val_outfits']} validation outfits"
    if cfg.get("train_on_shared"):
        split = f"{val_part}, some sharing items with them (non-disjoint: `train_on_shared`)"
    elif summary.get("partial_outfits"):
        split = (
            f"{val_part} sharing no item with them. {summary['partial_outfits']} of the training outfits "
            "are partial looks (outfits that shared items with validation ones, those items removed); "
            f"{summary['dropped_outfits']} outfits had fewer than two items left and were left out"
        )
    else:
        split = (
            f"{val_part} sharing no item with them ({summary['dropped_outfits']} outfits that shared "
            "items with both sides left out)"
        )
    return f"""# vestis outfit scorer: {cfg["scorer"]}

Scores how well a set of catalog items goes together (higher = more compatible), from the items'
vestis-lite embeddings ({summary["embedding_model"]}) and coarse categories. Load it with
`vestis.outfits.load_scorer(DIR)`; use it with `vestis outfits score|complete|complement`.

Trained with `vestis train outfits` on `{cfg["dataset"]}`: {summary["train_outfits"]} training outfits,
{split}. Negatives keep each outfit's category composition.

| validation metric | value | chance |
|---|---|---|
| compatibility AUC | {_f(val["auc"])} | 0.500 |
| fill-in-the-blank accuracy (4 candidates) | {_f(val["fitb"])} | 0.250 |
| complete-the-look recall@10 | {_f(val.get("recall@10"))} | {_f(val["chance"].get("recall@10"))} |

Only meaningful on embeddings of the same vestis-lite model: scoring vectors of another model
raises an error. Config: {json.dumps(cfg)}
"""


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"

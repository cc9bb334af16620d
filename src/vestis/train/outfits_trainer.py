"""Fit an outfit scorer on a dataset's outfits: train it (``type-aware``, ``set-transformer``),
calibrate it, and give it the structure of real looks.

``train_outfits(config)`` is what ``vestis train outfits`` runs. The items of every outfit are
embedded once with vestis-lite (cached); the outfits are split item-disjointly into train,
calibration and validation looks (:func:`vestis.outfits.data.calibrated_split`: validation as
:func:`~vestis.outfits.data.disjoint_split` gives it, calibration carved the same way out of the
training side), and with ``keep_partial`` the outfits that shared items with held-out ones are
trained on without those items (:func:`vestis.outfits.data.with_partial_outfits`;
``train_on_shared`` instead keeps them whole, a non-disjoint split for comparisons). With
``photo_looks`` the garments of photos of people (train split only) are further training looks
(:func:`vestis.outfits.features.photo_looks`), their negatives drawn from their own items. Each
step scores a batch of real outfits (a
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
After training, the scorer's calibration is fitted on the calibration looks
(:func:`vestis.outfits.evaluation.fit_scorer_calibration`) and its structure on the categories of
every non-validation outfit of the dataset (:class:`vestis.outfits.structure.Structure`). A
non-learned scorer (``cooccurrence``) gets only those two.

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
from vestis.outfits.base import create_scorer, scorer_class
from vestis.outfits.data import (
    OutfitData,
    align_means,
    calibrated_split,
    sub_outfit,
    swap_one,
    type_consistent_negative,
)
from vestis.outfits.evaluation import fit_scorer_calibration, outfit_metrics
from vestis.outfits.learned import LearnedScorer
from vestis.outfits.structure import Structure
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


PHOTO_PREFIX = "photo:"  # outfit and item ids of the photo looks in the combined table


def load_photo_looks(cfg: OutfitsTrainConfig) -> OutfitData:
    """The looks of the train-split photos of ``cfg.photo_looks`` (street format), parsed with
    ``cfg.photo_parser`` and described with ``cfg.model``."""
    from vestis.data.street import load_street
    from vestis.embed import load_embedder
    from vestis.extract.base import load_extractor
    from vestis.outfits.features import photo_looks
    from vestis.schema import load_schema

    assert cfg.photo_looks is not None
    photos = [p for p in load_street(cfg.photo_looks) if p.split() == "train"]
    options = {"model": cfg.model} if cfg.model else {}
    extractor = load_extractor("lite", load_schema("vestis"), **options)
    embedder = load_embedder("lite", **options)
    return photo_looks(
        [(p.id, p.image, p.tags) for p in photos], extractor, embedder, cfg.photo_parser, cfg.cache_dir
    )


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
    net, batcher: Batcher, outfits: list[list[int]], data: OutfitData, pools, cfg, rng, sources=None
) -> tuple[torch.Tensor, dict[str, float]]:
    """BCE of real vs type-consistent random outfits + FITB softmax over one-item swaps.

    ``pools`` = (items by occurrence, distinct items) per category, to draw negatives from; or,
    with ``sources`` (each item's source, an int array), a dict source → such a pair, and each
    outfit's negatives come from its own source's items.
    """
    by_source = pools if isinstance(pools, dict) else {0: pools}

    def pool(o: list[int]):
        by_occurrence, uniform = by_source[0 if sources is None else int(sources[o[0]])]
        return uniform if rng.random() < cfg.uniform_negative_share else by_occurrence

    negatives = [type_consistent_negative(o, data.categories, pool(o), rng) for o in outfits]
    logits = net(*batcher(outfits + negatives))
    pos, neg = logits[: len(outfits)], logits[len(outfits) :]
    bce = F.softplus(-pos).mean() + F.softplus(neg).mean()
    parts = {"bce": float(bce.detach())}
    loss = bce
    if cfg.swap_negatives > 0 and cfg.fitb_weight > 0:
        rows, swapped = [], []
        for b, o in enumerate(outfits):
            found = swap_one(o, data.categories, pool(o), rng, n=cfg.swap_negatives)
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
    cfg: OutfitsTrainConfig,
    data: OutfitData | None = None,
    model_id: str | None = None,
    photos: OutfitData | None = None,
) -> Path:
    """Train, calibrate, evaluate and save a scorer; returns the model directory. ``data`` skips the
    embedding pass, ``photos`` the photo-looks pass (used only with ``cfg.photo_looks``)."""
    seed_everything(cfg.seed, cfg.threads)
    if cfg.train_on_shared and cfg.keep_partial:  # whole shared outfits make partial looks moot
        cfg = dataclasses.replace(cfg, keep_partial=False)
    learned = scorer_class(cfg.scorer).learned
    if data is None:
        data, model_id = load_training_data(cfg)
    fraction = 0.0 if cfg.calibration == "none" else cfg.calibration_fraction
    split = (cfg.val_fraction, fraction, cfg.keep_partial, cfg.train_on_shared)
    train, calib, val = calibrated_split(data, *split)
    if not train.outfits or not val.outfits:
        raise DatasetError("training needs outfits in both the train and the validation split")
    structure = Structure.fit(
        ([data.categories[i] for i in o] for k, o in sorted(data.outfits.items()) if k not in val.outfits),
        cfg.structure_min_share,
        cfg.structure_exclusive_share,
    )
    refit = learned and calib is not None and cfg.calibration_refit
    final = calibrated_split(data, cfg.val_fraction, 0.0, *split[2:])[0] if refit else train
    n_calib = 0 if calib is None else len(calib.outfits)
    counts = {
        "partial_outfits": sum(o != data.outfits[k] for k, o in final.outfits.items()),
        "calibration_outfits": n_calib,
        "calibration_refit": refit,
        "val_outfits": len(val.outfits),
        "dropped_outfits": len(data.outfits)
        - len(final.outfits)
        - len(val.outfits)
        - (0 if refit else n_calib),
    }
    sources = None
    if cfg.photo_looks:
        data, sources, (train, final), (calib, val) = _with_photo_looks(
            cfg, data, photos, (train, final), (calib, val)
        )
    log.info(
        "%d training outfits, %d calibration outfits, %d validation outfits (%s)",
        len(train.outfits),
        n_calib,
        len(val.outfits),
        "sharing items" if cfg.train_on_shared else "item-disjoint",
    )
    history: list[dict[str, Any]] = []
    if learned:
        scorer, history = _trained(cfg, data, train, val, model_id, sources)
    else:
        scorer = create_scorer(cfg.scorer, **cfg.scorer_options)
        scorer.embedding_model = model_id
    if calib is not None:
        calibration = fit_scorer_calibration(scorer, calib, cfg.calibration, seed=cfg.seed)
        if (
            refit
        ):  # the calibration of the recipe trained without the calibration looks, on the recipe with them
            log.info("retraining on all %d training outfits (calibration looks included)", len(final.outfits))
            seed_everything(cfg.seed, cfg.threads)
            scorer, history = _trained(cfg, data, final, val, model_id, sources)
            scorer.calibration = calibration
    scorer.structure = structure
    metrics, _ = outfit_metrics(scorer, val, seed=cfg.seed, progress=True)
    summary = {
        "config": cfg.to_dict(),
        "train_outfits": len(final.outfits),
        "photo_outfits": sum(k.startswith(PHOTO_PREFIX) for k in final.outfits),
        **counts,
        "embedding_model": model_id,
        "structure_rules": structure.rules(),
        "val": metrics,
        "history": history,
    }
    out = Path(cfg.out_dir)
    model_dir = scorer.save(out / "model", extra={"trained": _trained_note(summary)})
    (model_dir / "README.md").write_text(model_card(summary))
    (out / "report.json").write_text(json.dumps(summary, indent=1))
    return model_dir


def _with_photo_looks(cfg, data: OutfitData, photos: OutfitData | None, trains, others):
    """(one item table: the dataset's rows then the photos', each row's source (0 dataset, 1
    photos), the training sets with the photo looks, the other sets on the new table)."""
    photo_data = photos if photos is not None else load_photo_looks(cfg)
    if cfg.align_photo_looks:
        photo_data = align_means(photo_data, trains[0])
    data = data.extended(photo_data, PHOTO_PREFIX)
    looks = {k: o for k, o in data.outfits.items() if k.startswith(PHOTO_PREFIX)}
    sources = np.r_[np.zeros(len(data.ids) - len(photo_data.ids), int), np.ones(len(photo_data.ids), int)]
    trains = [data.with_outfits({**(t.outfits if cfg.dataset_looks else {}), **looks}) for t in trains]
    others = [None if o is None else data.with_outfits(o.outfits) for o in others]
    return data, sources, trains, others


def _trained(cfg, data: OutfitData, train: OutfitData, val: OutfitData, model_id, sources):
    """(a new learned scorer trained on ``train``, its per-epoch history)."""
    # the categories the net indexes: the category-role values the training items carry
    options = {"categories": sorted({c for c in data.categories if c}), **cfg.scorer_options}
    scorer = create_scorer(
        cfg.scorer, embed_dim=int(data.embeddings.shape[1]), embedding_model=model_id, **options
    )
    assert isinstance(scorer, LearnedScorer)
    return scorer, _fit_net(scorer, data, train, val, cfg, sources)


def _fit_net(
    scorer: LearnedScorer, data: OutfitData, train: OutfitData, val: OutfitData, cfg, sources
) -> list[dict[str, Any]]:
    """The training loop; returns the per-epoch history (loss, validation AUC and FITB)."""
    items = sorted({i for o in train.outfits.values() for i in o})
    scorer.fit_centring(data.embeddings[items], [data.categories[i] for i in items])
    net, batcher = scorer.net, Batcher(data, scorer)
    if sources is None:
        pools: Any = (train.pool(True), train.pool())
    else:
        pools = {}
        for source in np.unique(sources):
            part = train.subset([k for k, o in train.outfits.items() if sources[o[0]] == source])
            pools[int(source)] = (part.pool(True), part.pool())
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
                loss, parts = outfit_loss(net, batcher, batch, train, pools, cfg, rng, sources)
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
    return history


def _trained_note(summary: dict[str, Any]) -> dict[str, Any]:
    val = summary["val"]
    return {
        "dataset": summary["config"]["dataset"],
        "train_outfits": summary["train_outfits"],
        "val_outfits": summary["val_outfits"],
        "calibration_outfits": summary["calibration_outfits"],
        "photo_outfits": summary["photo_outfits"],
        "val": {k: val[k] for k in ("auc", "fitb", "recall@10", "ece", "accuracy", "f1") if k in val},
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
    photos = (
        f" {summary['photo_outfits']} of the training looks are garments of photos of people "
        f"(`{cfg['photo_looks']}`, train split, parsed by `{cfg['photo_parser']}`)."
        if summary.get("photo_outfits")
        else ""
    )
    if scorer_class(cfg["scorer"]).learned:
        trained = (
            f"Fitted with `vestis train outfits` on `{cfg['dataset']}`: {summary['train_outfits']} training "
            f"outfits, {split}. Negatives keep each outfit's category composition.{photos}"
        )
        embeddings = "scoring vectors of another model raises an error"
    else:
        trained = (
            f"Not trained (nothing to learn): `vestis train outfits --set scorer={cfg['scorer']}` on "
            f"`{cfg['dataset']}` calibrated it and counted its structure; {val_part} held out."
        )
        embeddings = "on vectors of another model it scores without a calibration (no probability)"
    refit = (
        " The calibration looks were scored by the recipe trained without them; the model was then "
        "retrained with the same recipe and seed on every training look, them included (as "
        "scikit-learn's CalibratedClassifierCV(ensemble=False) does)."
        if summary.get("calibration_refit")
        else ""
    )
    calibration = (
        f"Probabilities: {cfg['calibration']} calibration fitted on {summary['calibration_outfits']} "
        "held-out looks against type-consistent random ones, both classes weighted equally, times the "
        f"share of real looks that break a structure rule the same way, for each rule a look breaks.{refit}"
        if summary.get("calibration_outfits")
        else "Not calibrated: the score has no stated range and `probability` is null."
    )
    rules = "\n".join(f"- {r}" for r in summary.get("structure_rules", []))
    return f"""# vestis outfit scorer: {cfg["scorer"]}

Scores how well a set of catalog items goes together (a raw score, higher = more compatible, and
the probability that the look is a real outfit), from the items' vestis-lite embeddings
({summary["embedding_model"]}) and coarse categories. Load it with
`vestis.outfits.load_scorer(DIR)`; use it with `vestis outfits score|complete|complement`.

{trained}

{calibration}

| validation metric | value | chance |
|---|---|---|
| compatibility AUC | {_f(val["auc"])} | 0.500 |
| fill-in-the-blank accuracy (4 candidates) | {_f(val["fitb"])} | 0.250 |
| complete-the-look recall@10 | {_f(val.get("recall@10"))} | {_f(val["chance"].get("recall@10"))} |
| expected calibration error | {_f(val.get("ece"))} | |
| accuracy at probability 0.5 (classes weighted equally) | {_f(val.get("accuracy"))} | 0.500 |
| F1 at probability 0.5 (classes weighted equally) | {_f(val.get("f1"))} | |

Structure (learned from the real looks; a look that breaks a rule is named and its probability
lowered, `complete` never proposes an item that would break one):

{rules}

The calibration holds only for embeddings of the same vestis-lite model: {embeddings}.
Config: {json.dumps(cfg)}
"""


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"

"""Train vestis-lite: multi-task heads + image–text contrastive loss on cached lower features.

``train_lite(config)`` is what ``vestis train lite --config FILE`` runs. It is
deterministic for a seed, draws progress bars, checkpoints every epoch to
``out_dir/checkpoint.pt`` and resumes from it, calibrates per-field temperatures on
the validation split, and writes ``out_dir/model`` (a loadable model directory with
a model card) and ``out_dir/report.html``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vestis.colour import COLOUR_FEATURE_DIM
from vestis.data import Dataset, DatasetError, Example, open_dataset
from vestis.data.text import captions_for
from vestis.models.backbones import encode_texts, load_text_encoder
from vestis.models.lite import LiteModelConfig, VestisLite
from vestis.progress import progress_bar
from vestis.schema import Schema, load_schema
from vestis.train.config import load_checkpoint, save_checkpoint, seed_everything
from vestis.train.features import colour_feature_cache, lower_features
from vestis.train.lite_config import LiteTrainConfig

log = logging.getLogger(__name__)
AUGMENT_VERSION = "v1"  # bump when vestis.train.augment changes what a variant looks like


@dataclass
class Split:
    examples: list[Example]
    features: np.ndarray  # [N, C, H, W] fp16
    flipped: np.ndarray | None
    bad: np.ndarray
    colour: np.ndarray | None  # [N, COLOUR_FEATURE_DIM] pixel colour statistics, or None
    labels: dict[str, np.ndarray]  # single: [N] int (-1 = unknown); multi: [N, V] float, NaN row = unknown
    captions: list[list[int]]  # caption indices per example
    worn: WornVariants | None = None  # worn-look variants of the product shots (train split only)


@dataclass
class WornVariants:
    """Features of each product shot made to look worn (vestis.train.augment), cached once per image."""

    row: np.ndarray  # [N] index into features/colour, -1 where the example has no variant (worn already)
    features: np.ndarray  # [M, C, H, W] fp16
    colour: np.ndarray | None  # [M, COLOUR_FEATURE_DIM]
    probability: float  # chance that a step sees the variant instead of the image


def encode_labels(examples: list[Example], config: LiteModelConfig) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, vocab in config.heads.items():
        index = {v: i for i, v in enumerate(vocab)}
        if name in config.multi:
            arr = np.full((len(examples), len(vocab)), np.nan, dtype=np.float32)
            for i, ex in enumerate(examples):
                values = ex.labels.get(name) or []
                if values:
                    arr[i] = 0.0
                    arr[i, [index[v] for v in values]] = 1.0
        else:
            arr = np.full(len(examples), -1, dtype=np.int64)
            for i, ex in enumerate(examples):
                value = ex.labels.get(name)
                if value in index:
                    arr[i] = index[value]
        out[name] = arr
    return out


class CaptionIndex:
    """Every distinct caption of the examples seen so far (:attr:`texts`), and each example's indices
    into them (:meth:`ids`), so each caption is encoded once however many examples share it."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.texts: list[str] = []
        self._index: dict[str, int] = {}

    def ids(self, ex: Example) -> list[int]:
        out = []
        for caption in captions_for(ex, self.schema):
            if caption not in self._index:
                self._index[caption] = len(self.texts)
                self.texts.append(caption)
            out.append(self._index[caption])
        return out


def text_features(texts: list[str], cache_dir: Path) -> torch.Tensor:
    key = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"text-{key}.npy"
    if path.is_file():
        return torch.from_numpy(np.load(path))
    log.info("encoding %d captions with MiniLM", len(texts))
    encoder = load_text_encoder()
    chunks = []
    with progress_bar() as bar:
        task = bar.add_task("captions", total=len(texts))
        for start in range(0, len(texts), 512):
            chunks.append(encode_texts(texts[start : start + 512], encoder))
            bar.advance(task, len(chunks[-1]))
    feats = torch.cat(chunks)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, feats.numpy())
    return feats


def lite_loss(
    model: VestisLite,
    pooled: torch.Tensor,
    labels: dict[str, torch.Tensor],
    text: torch.Tensor,
    caption_ids: torch.Tensor,
    cfg: LiteTrainConfig,
    weights: dict[str, float],
    colour: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted masked head losses + symmetric InfoNCE; rows with caption id -1 sit out the latter.

    Identical captions in a batch (two plain black t-shirts) are both positives, not negatives.
    """
    emb, logits = model.outputs(pooled, colour)
    parts: dict[str, float] = {}
    total = pooled.new_zeros(())
    for name, out in logits.items():
        y = labels[name]
        if name in model.config.multi:
            mask = ~torch.isnan(y[:, 0])
            if mask.any():
                loss = F.binary_cross_entropy_with_logits(out[mask], y[mask])
            else:
                continue
        else:
            mask = y >= 0
            if not mask.any():
                continue
            loss = F.cross_entropy(out[mask], y[mask], label_smoothing=cfg.label_smoothing)
        total = total + weights.get(name, 1.0) * loss
        parts[name] = float(loss.detach())
    has_caption = caption_ids >= 0
    if cfg.contrastive_weight > 0 and has_caption.sum() > 1:
        emb, text, caption_ids = emb[has_caption], text[has_caption], caption_ids[has_caption]
        t = model.embed_text_features(text)
        scale = model.logit_scale.clamp(max=math.log(100)).exp()
        sim = scale * emb @ t.T
        same = (caption_ids[:, None] == caption_ids[None, :]).float()
        target = same / same.sum(dim=1, keepdim=True)
        clip = 0.5 * (
            torch.sum(-target * F.log_softmax(sim, 1), 1).mean()
            + torch.sum(-target * F.log_softmax(sim.T, 1), 1).mean()
        )
        total = total + cfg.contrastive_weight * clip
        parts["contrastive"] = float(clip.detach())
    parts["total"] = float(total.detach())
    return total, parts


def _batch(split: Split, idx: np.ndarray, rng: np.random.Generator, train: bool):
    feats = split.features[idx]
    if train and split.flipped is not None:
        flip = rng.random(len(idx)) < 0.5
        feats = np.where(flip[:, None, None, None], split.flipped[idx], feats)
    colour = split.colour[idx] if split.colour is not None else None
    if train and split.worn is not None:
        rows = split.worn.row[idx]
        use = (rows >= 0) & (rng.random(len(idx)) < split.worn.probability)
        if use.any():
            feats = feats.copy()
            feats[use] = split.worn.features[rows[use]]
            if colour is not None and split.worn.colour is not None:
                colour = colour.copy()
                colour[use] = split.worn.colour[rows[use]]
    x = torch.from_numpy(feats.astype(np.float32))
    labels = {k: torch.from_numpy(v[idx]) for k, v in split.labels.items()}
    caps = np.array([rng.choice(split.captions[i]) if split.captions[i] else -1 for i in idx])
    return x, labels, caps, torch.from_numpy(colour) if colour is not None else None


@torch.no_grad()
def predict_split(model: VestisLite, split: Split, batch_size: int = 256):
    model.eval()
    embs, logits = [], {k: [] for k in model.config.heads}
    for start in range(0, len(split.examples), batch_size):
        x = torch.from_numpy(split.features[start : start + batch_size].astype(np.float32))
        colour = None if split.colour is None else torch.from_numpy(split.colour[start : start + batch_size])
        emb, out = model.outputs(model.pooled_from_lower(x), colour)
        embs.append(emb)
        for k, v in out.items():
            logits[k].append(v)
    return torch.cat(embs), {k: torch.cat(v) for k, v in logits.items()}


def evaluate(model: VestisLite, split: Split, text: torch.Tensor) -> dict[str, Any]:
    emb, logits = predict_split(model, split)
    metrics: dict[str, Any] = {"fields": {}}
    for name, out in logits.items():
        y = torch.from_numpy(split.labels[name])
        if name in model.config.multi:
            mask = ~torch.isnan(y[:, 0])
            if not mask.any():
                continue
            pred = torch.sigmoid(out[mask]) > 0.5
            gold = y[mask] > 0.5
            tp = (pred & gold).sum().item()
            f1 = 2 * tp / max(1, pred.sum().item() + gold.sum().item())
            metrics["fields"][name] = {"micro_f1": f1, "support": int(mask.sum())}
        else:
            mask = y >= 0
            if not mask.any():
                continue
            acc = (out[mask].argmax(1) == y[mask]).float().mean().item()
            metrics["fields"][name] = {"accuracy": acc, "support": int(mask.sum())}
    metrics["retrieval"] = text_to_image_recall(model, split, emb, text)
    return metrics


def text_to_image_recall(
    model: VestisLite, split: Split, emb: torch.Tensor, text: torch.Tensor, ks: tuple[int, ...] = (1, 10)
) -> dict[str, float]:
    """Each example's first caption (its title, or attribute phrase) queries all split images:
    recall at each k and the mean reciprocal rank of the example's own image."""
    rows = [(i, caps[0]) for i, caps in enumerate(split.captions) if caps]
    if not rows:
        return {}
    img_idx = torch.tensor([r[0] for r in rows])
    with torch.no_grad():
        q = model.embed_text_features(text[torch.tensor([r[1] for r in rows])])
    ranks = (q @ emb.T).argsort(dim=1, descending=True)
    hit_pos = (ranks == img_idx[:, None]).float().argmax(dim=1)
    recall = {f"R@{k}": float((hit_pos < k).float().mean()) for k in ks}
    return recall | {"MRR": float((1.0 / (hit_pos + 1).float()).mean()), "queries": len(rows)}


def calibrate(model: VestisLite, split: Split) -> dict[str, float]:
    """Per-field temperature minimising validation NLL
    (:func:`vestis.train.lite_reliability.fit_temperatures`)."""
    from vestis.train.lite_reliability import fit_temperatures

    _, logits = predict_split(model, split)
    truth = {k: (v if k in model.config.multi else v.astype(np.int64)) for k, v in split.labels.items()}
    return fit_temperatures({k: v.numpy() for k, v in logits.items()}, truth, model.config.multi)


def gate_unreliable(model: VestisLite, train_ex: list[Example], val: Split) -> dict[str, Any]:
    """Disable heads and gate values with no reliable held-out signal (vestis.train.lite_reliability);
    sets them on the model's config and returns the per-field reliability table."""
    from vestis.train.lite_reliability import fit_reliability, truth_arrays

    config = model.config
    _, logits = predict_split(model, val)
    probs = {}
    for name, out in logits.items():
        z = out / config.temperatures.get(name, 1.0)
        probs[name] = (torch.sigmoid(z) if name in config.multi else torch.softmax(z, dim=1)).numpy()
    truth = truth_arrays(
        [ex.labels for ex in val.examples], [ex.source for ex in val.examples], config.heads, config.multi
    )
    counts = {name: sum(1 for ex in train_ex if ex.labels.get(name)) for name in config.heads}
    config.disabled, config.value_thresholds, table = fit_reliability(
        probs, truth, counts, config.heads, config.multi
    )
    return table


def build_splits(
    cfg: LiteTrainConfig, schema: Schema, datasets: list[Dataset] | None
) -> tuple[list[Example], list[Example], list[bool]]:
    """Train and val examples of every dataset, and for each train example whether its dataset holds
    worn garments (:attr:`Dataset.worn`)."""
    dsets = datasets if datasets is not None else [open_dataset(s, schema=schema) for s in cfg.datasets]
    train, val, worn = [], [], []
    for ds in dsets:
        tr, va = ds.split("train", cfg.val_fraction), ds.split("val", cfg.val_fraction)
        if cfg.limit:
            tr, va = tr[: cfg.limit], va[: max(1, cfg.limit // 4)]
        train += tr
        val += va
        worn += [ds.worn] * len(tr)
        log.info("%s: %d train, %d val", ds.name, len(tr), len(va))
    return train, val, worn


def worn_variants(
    cfg: LiteTrainConfig, examples: list[Example], worn: list[bool], backbone: Any
) -> WornVariants:
    """Cached features (and colour statistics) of the worn-look variant of each example not ``worn``."""
    from vestis.train.augment import seed_for, worn_look

    rows = np.full(len(examples), -1, dtype=np.int64)
    todo = [i for i, is_worn in enumerate(worn) if not is_worn]
    rows[todo] = np.arange(len(todo))
    paths = [examples[i].image for i in todo]
    variant = f"worn-{AUGMENT_VERSION}-{cfg.seed}"

    def transform(image, path: str):
        return worn_look(image, seed_for(cfg.seed, path))

    cache = Path(cfg.cache_dir)
    feats, _ = lower_features(
        paths,
        backbone,
        cfg.image_size,
        cache,
        description="worn-look features",
        transform=transform,
        variant=variant,
    )
    colour = (
        colour_feature_cache(
            paths,
            cfg.image_size,
            cache,
            description="worn-look colours",
            transform=transform,
            variant=variant,
        )
        if cfg.colour_features
        else None
    )
    return WornVariants(rows, feats, colour, cfg.worn_augment)


def train_lite(cfg: LiteTrainConfig, datasets: list[Dataset] | None = None, fresh: bool = False) -> Path:
    seed_everything(cfg.seed, cfg.threads)
    schema = load_schema(cfg.schema)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_ex, val_ex, train_worn = build_splits(cfg, schema, datasets)
    if not train_ex or not val_ex:
        raise DatasetError("training needs examples in both the train and the validation split")

    heads = {
        n: f.vocabulary
        for n, f in schema.fields.items()
        if f.closed and any(ex.labels.get(n) for ex in train_ex)
    }
    model_cfg = LiteModelConfig(
        image_size=cfg.image_size,
        split=cfg.split,
        embed_dim=cfg.embed_dim,
        heads=heads,
        multi=[n for n in heads if schema.fields[n].kind == "multi"],
        schema=schema.name,
        default_threshold=cfg.default_threshold,
        colour_dim=COLOUR_FEATURE_DIM if cfg.colour_features else 0,
        colour_heads=[n for n in heads if schema.fields[n].role in ("primary_colour", "secondary_colour")]
        if cfg.colour_features
        else [],
    )
    model = VestisLite(model_cfg)

    captions = CaptionIndex(schema)
    splits: dict[str, Split] = {}
    for name, exs in (("train", train_ex), ("val", val_ex)):
        paths = [ex.image for ex in exs]
        feats, bad = lower_features(
            paths, model.backbone, cfg.image_size, Path(cfg.cache_dir), description=f"{name} features"
        )
        flipped = None
        if name == "train" and cfg.hflip:
            flipped, _ = lower_features(
                paths,
                model.backbone,
                cfg.image_size,
                Path(cfg.cache_dir),
                hflip=True,
                description="flipped features",
            )
        colour = (
            colour_feature_cache(paths, cfg.image_size, Path(cfg.cache_dir), description=f"{name} colours")
            if cfg.colour_features
            else None
        )
        worn = (
            worn_variants(cfg, exs, train_worn, model.backbone)
            if name == "train" and cfg.worn_augment > 0
            else None
        )
        splits[name] = Split(
            exs,
            feats,
            flipped,
            bad,
            colour,
            encode_labels(exs, model_cfg),
            [captions.ids(e) for e in exs],
            worn,
        )
    texts = captions.texts
    tfeats = text_features(texts, Path(cfg.cache_dir))
    model_cfg.caption_vocabulary = sorted({w for t in texts for w in _words(t)})

    train, val = splits["train"], splits["val"]
    weights = {n: f.weight for n, f in schema.fields.items()}
    keep = np.flatnonzero(~train.bad)
    if cfg.freeze_backbone:
        for p in model.backbone.upper_parameters():
            p.requires_grad_(False)
    backbone_params = [p for p in model.backbone.upper_parameters() if p.requires_grad]
    other = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("backbone.")]
    optim = torch.optim.AdamW(
        [{"params": backbone_params, "lr": cfg.backbone_lr}, {"params": other, "lr": cfg.lr}],
        weight_decay=cfg.weight_decay,
    )
    steps_per_epoch = max(1, len(keep) // cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optim, max_lr=[cfg.backbone_lr, cfg.lr], total_steps=total_steps, pct_start=0.1
    )
    history: list[dict[str, Any]] = []
    start_epoch = 0
    ckpt_path = out_dir / "checkpoint.pt"
    ckpt = load_checkpoint(ckpt_path, cfg, fresh)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optim.load_state_dict(ckpt["optim"])
        sched.load_state_dict(ckpt["sched"])
        history, start_epoch = ckpt["history"], ckpt["epoch"]
        log.info("resuming from epoch %d", start_epoch)

    with progress_bar() as bar:
        task = bar.add_task("training", total=total_steps, completed=start_epoch * steps_per_epoch)
        for epoch in range(start_epoch, cfg.epochs):
            rng = np.random.default_rng(cfg.seed * 1000 + epoch)
            order = rng.permutation(keep)
            model.train()
            if cfg.freeze_backbone:
                model.backbone.eval()
            t0, sums = time.perf_counter(), {}
            for step in range(steps_per_epoch):
                idx = np.sort(order[step * cfg.batch_size : (step + 1) * cfg.batch_size])
                x, labels, caps, colour = _batch(train, idx, rng, train=True)
                pooled = model.pooled_from_lower(x)
                loss, parts = lite_loss(
                    model,
                    pooled,
                    labels,
                    tfeats[torch.from_numpy(np.maximum(caps, 0))],
                    torch.from_numpy(caps),
                    cfg,
                    weights,
                    colour,
                )
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                sched.step()
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.advance(task)
            val_metrics = evaluate(model, val, tfeats)
            record = {
                "epoch": epoch + 1,
                "seconds": time.perf_counter() - t0,
                "train_loss": {k: v / steps_per_epoch for k, v in sums.items()},
                "val": val_metrics,
            }
            history.append(record)
            log.info("epoch %d: %s", epoch + 1, _summary(record))
            bar.console.print(f"epoch {epoch + 1}/{cfg.epochs}: {_summary(record)}")
            save_checkpoint(
                ckpt_path,
                {
                    "model": model.state_dict(),
                    "optim": optim.state_dict(),
                    "sched": sched.state_dict(),
                    "history": history,
                    "epoch": epoch + 1,
                    "config": cfg.to_dict(),
                },
            )

    model_cfg.temperatures = calibrate(model, val)
    reliability = gate_unreliable(model, train_ex, val)
    final = evaluate(model, val, tfeats)
    summary = {
        "config": cfg.to_dict(),
        "val": final,
        "reliability": reliability,
        "history": history,
        "train_examples": len(train_ex),
        "val_examples": len(val_ex),
        "datasets": cfg.datasets,
    }
    from vestis.train.lite_report import model_card, write_report

    model_dir = model.save(out_dir / "model", card=model_card(summary), extra=summary)
    write_report(summary, out_dir)
    return model_dir


def _words(text: str) -> set[str]:
    return {w for w in "".join(c.lower() if c.isalnum() else " " for c in text).split() if len(w) > 1}


def _summary(record: dict[str, Any]) -> str:
    fields = record["val"]["fields"]
    accs = " ".join(f"{k}={v.get('accuracy', v.get('micro_f1')):.3f}" for k, v in list(fields.items())[:6])
    r = record["val"].get("retrieval", {})
    return f"loss {record['train_loss'].get('total', 0):.3f} · {accs} · R@10 {r.get('R@10', 0):.3f}"

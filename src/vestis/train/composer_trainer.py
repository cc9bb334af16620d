"""Train the composed-retrieval combiner on triplets mined from catalog metadata.

Triplets (reference, modification text, target):

* **variants**: two items of one group (an H&M product in two colours) whose labels differ:
  "the same, in navy";
* **edits**: two items of the same type that differ in exactly one attribute (colour or
  pattern): "in red", "with a striped pattern".

The text comes from the label difference, so any dataset with a group id and labels works.
Validation uses variant triplets of the held-out split, searching all validation images of
the same dataset minus the reference; baselines (image only, text only, image + text) are
scored the same way.
"""

from __future__ import annotations

import json
import logging
import random
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from vestis.data import DatasetError, Example, open_dataset
from vestis.data.text import EDIT_FIELDS, modification
from vestis.models.composer import Composer, ComposerConfig
from vestis.schema import Schema, load_schema
from vestis.train.config import RecipeConfig

log = logging.getLogger(__name__)


@dataclass
class ComposerTrainConfig(RecipeConfig):
    datasets: list[str] = field(default_factory=lambda: ["hm", "mango"], metadata={"help": "dataset specs"})
    model: str | None = field(default=None, metadata={"help": "vestis-lite directory (default: shipped)"})
    epochs: int = field(default=40, metadata={"help": "passes over the training triplets", "min": 1})
    batch_size: int = field(default=256, metadata={"help": "triplets per step", "min": 1})
    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate", "min": 0})
    hidden: int = field(default=512, metadata={"help": "combiner hidden size", "min": 1})
    max_edits: int = field(
        default=30000, metadata={"help": "attribute-edit triplets sampled per split", "min": 0}
    )
    val_fraction: float = field(default=0.2, metadata={"help": "held-out fraction of groups"})
    seed: int = field(default=0, metadata={"help": "random seed", "min": 0})
    out_dir: str = field(default="runs/composer", metadata={"help": "output directory"})


def mine_triplets(examples: list[Example], schema: Schema, max_edits: int, rng: random.Random):
    """(ref index, text, target index, kind) for variants and sampled single-attribute edits."""
    triplets: list[tuple[int, str, int, str]] = []
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        if ex.group:
            by_group[ex.group].append(i)
    for members in by_group.values():
        for a in members:
            for b in members:
                if a != b and (text := modification(examples[a].labels, examples[b].labels, schema)):
                    triplets.append((a, text, b, "variant"))
    by_type: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        if ex.labels.get("type"):
            by_type[ex.labels["type"]].append(i)
    edits = 0
    pools = [m for m in by_type.values() if len(m) > 1]
    attempts = 0
    while pools and edits < max_edits and attempts < max_edits * 20:
        attempts += 1
        members = rng.choice(pools)
        a, b = rng.sample(members, 2)
        la, lb = examples[a].labels, examples[b].labels
        if examples[a].group == examples[b].group:
            continue
        differing = [f for f in EDIT_FIELDS if la.get(f) and lb.get(f) and la.get(f) != lb.get(f)]
        same_rest = all(la.get(f) == lb.get(f) for f in EDIT_FIELDS if f not in differing)
        if len(differing) == 1 and same_rest and (text := modification(la, lb, schema)):
            triplets.append((a, text, b, "edit"))
            edits += 1
    return triplets


def recall_at(scores: torch.Tensor, targets: torch.Tensor, ks=(1, 5, 10, 50)) -> dict[str, float]:
    rank = (scores > scores.gather(1, targets[:, None])).sum(1)
    return {f"R@{k}": float((rank < k).float().mean()) for k in ks}


def evaluate_composed(
    composer: Composer | None,
    image: torch.Tensor,
    text: torch.Tensor,
    triplets: list[tuple[int, int, int]],
    mode: str = "composer",
) -> dict[str, float]:
    """R@k of targets among all images except each query's reference. ``mode`` picks a baseline."""
    if not triplets:
        return {}
    ref = torch.tensor([t[0] for t in triplets])
    txt = text[torch.tensor([t[1] for t in triplets])]
    tgt = torch.tensor([t[2] for t in triplets])
    with torch.no_grad():
        if mode == "composer":
            q = composer(image[ref], txt)
        elif mode == "image":
            q = image[ref]
        elif mode == "text":
            q = txt
        else:
            q = F.normalize(image[ref] + txt, dim=-1)
        scores = q @ image.T
    scores[torch.arange(len(ref)), ref] = -1e9  # the reference itself is not an answer
    return recall_at(scores, tgt) | {"queries": len(triplets)}


def train_composer(cfg: ComposerTrainConfig, datasets: list | None = None, embedder=None) -> Path:
    from vestis.embed import load_embedder

    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    schema = load_schema("vestis")
    if embedder is None:
        embedder = load_embedder("lite", **({"model": cfg.model} if cfg.model else {}))
    splits: dict[str, dict[str, Any]] = {"train": {"ex": [], "trip": []}, "val": {"ex": [], "trip": []}}
    opened = datasets if datasets is not None else [open_dataset(s, schema=schema) for s in cfg.datasets]
    names = [ds.name for ds in opened]
    for spec, ds in zip(names, opened, strict=True):
        for name in ("train", "val"):
            exs = ds.split(name, cfg.val_fraction)
            offset = len(splits[name]["ex"])
            trips = mine_triplets(exs, schema, cfg.max_edits if name == "train" else 0, rng)
            splits[name]["trip"] += [(a + offset, t, b + offset, k) for a, t, b, k in trips]
            splits[name]["ex"] += exs
            splits[name].setdefault("dataset_of", []).extend([spec] * len(exs))
    texts = sorted({t for s in splits.values() for _, t, _, _ in s["trip"]})
    tindex = {t: i for i, t in enumerate(texts)}
    text_emb = torch.from_numpy(embedder.embed_texts(texts))
    emb = {n: torch.from_numpy(embedder.embed_many([e.image for e in s["ex"]])[0]) for n, s in splits.items()}
    train = [(a, tindex[t], b) for a, t, b, _ in splits["train"]["trip"]]
    log.info(
        "%d training triplets, %d validation variant triplets, %d phrases",
        len(train),
        len(splits["val"]["trip"]),
        len(texts),
    )
    if not train:
        raise DatasetError("no triplets could be mined: the datasets need group ids and labels")
    composer = Composer(ComposerConfig(dim=emb["train"].shape[1], hidden=cfg.hidden))
    optim = torch.optim.AdamW(composer.parameters(), lr=cfg.lr, weight_decay=1e-4)
    triples = torch.tensor(train)
    history = []
    for epoch in range(cfg.epochs):
        composer.train()
        perm = triples[torch.randperm(len(triples))]
        total = 0.0
        for start in range(0, len(perm), cfg.batch_size):
            batch = perm[start : start + cfg.batch_size]
            ref, tgt = emb["train"][batch[:, 0]], emb["train"][batch[:, 2]]
            q = composer(ref, text_emb[batch[:, 1]])
            scale = composer.logit_scale.clamp(max=4.6).exp()
            logits = scale * torch.cat(
                [q @ tgt.T, (q * ref).sum(1, keepdim=True)], dim=1
            )  # ref as hard negative
            same = (batch[:, 2][:, None] == batch[:, 2][None, :]).float()
            target = torch.cat([same / same.sum(1, keepdim=True), torch.zeros(len(batch), 1)], dim=1)
            loss = torch.sum(-target * F.log_softmax(logits, 1), 1).mean()
            optim.zero_grad()
            loss.backward()
            optim.step()
            total += float(loss.detach()) * len(batch)
        history.append({"epoch": epoch + 1, "loss": total / len(perm)})
        log.info("composer epoch %d/%d: loss %.4f", epoch + 1, cfg.epochs, history[-1]["loss"])
    composer.eval()
    report = {"config": asdict(cfg), "train_triplets": len(train), "history": history, "val": {}}
    val = splits["val"]
    for spec in names:
        idx = [i for i, d in enumerate(val["dataset_of"]) if d == spec]
        if not idx:
            continue
        local = {g: j for j, g in enumerate(idx)}
        trips = [
            (local[a], tindex[t], local[b]) for a, t, b, k in val["trip"] if k == "variant" and a in local
        ]
        gallery = emb["val"][torch.tensor(idx)]
        report["val"][spec] = {
            mode: evaluate_composed(composer, gallery, text_emb, trips, mode)
            for mode in ("composer", "image", "text", "sum")
        }
    out = Path(cfg.out_dir)
    composer.save(out / "composer")
    (out / "composer_report.json").write_text(json.dumps(report, indent=1))
    for spec, modes in report["val"].items():
        log.info("%s: %s", spec, {m: r.get("R@10") for m, r in modes.items()})
    return out / "composer"

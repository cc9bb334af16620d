"""Fine-tune both towers of vestis-lite for retrieval: contrastive loss, distillation, hard negatives.

``train_contrastive(config)`` is what ``vestis train contrastive`` runs. From a base vestis-lite
(also the frozen teacher, with the packaged MiniLM) it trains the image tower's upper blocks on
cached lower features (:func:`vestis.train.features.lower_features`, as ``vestis train lite``
does), the image and text projections and MiniLM itself, on image–text pairs of the development
sets (titles, descriptions, attribute phrases: :func:`vestis.data.text.captions_for`). The loss
is CLIP's or SigLIP's, plus a distillation term keeping the in-batch similarity structure near
the teacher's; batches hold near neighbours under the teacher's image embeddings.

It checkpoints every epoch to ``out_dir/checkpoint.pt`` and resumes from it, and writes
``out_dir/model`` (loads wherever vestis-lite does; its fine-tuned MiniLM in ``text_encoder/``,
:mod:`vestis.models.text_tower`) and ``out_dir/report.json`` (validation text→image R@1, R@10
and MRR, and extraction accuracy, before and after).

>>> from vestis.train.contrastive_config import ContrastiveTrainConfig
>>> train_contrastive(ContrastiveTrainConfig(datasets=["hm"], limit=64, epochs=1))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vestis.data import Dataset, DatasetError, Example
from vestis.models.backbones import TEXT_FEATURE_DIM
from vestis.models.lite import VestisLite
from vestis.models.registry import lite_model_id, resolve_lite
from vestis.models.text_tower import text_encoder_dir
from vestis.progress import progress_bar
from vestis.schema import load_schema
from vestis.train.config import load_checkpoint, save_checkpoint, seed_everything
from vestis.train.contrastive_config import ContrastiveTrainConfig
from vestis.train.contrastive_loss import (
    MAX_LOG_SCALE,
    clip_loss,
    distill_loss,
    hard_negative_batches,
    mine_neighbours,
    siglip_loss,
)
from vestis.train.features import colour_feature_cache, lower_features
from vestis.train.lite_trainer import (
    CaptionIndex,
    Split,
    build_splits,
    encode_labels,
    evaluate,
    lite_loss,
    text_features,
)

log = logging.getLogger(__name__)
# Settings that do not change what is trained: a run may resume with other values of these.
NOT_TRAINING = ("stop_after", "threads", "out_dir", "cache_dir")
HEAD_LOSS = SimpleNamespace(label_smoothing=0.1, contrastive_weight=0.0)  # lite_loss: heads only


class TextTower(nn.Module):
    """MiniLM (sentence-transformers) as a trainable module: texts → unit 384-d features, truncated
    to ``max_tokens`` tokens in training (to the encoder's own limit in eval mode)."""

    def __init__(self, encoder: Any, max_tokens: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.max_tokens = max_tokens

    @property
    def bert(self) -> nn.Module:
        return self.encoder[0].auto_model

    def freeze(self, layers: int | None) -> None:
        """Freeze the token embeddings and the lowest ``layers`` layers (None: everything)."""
        if layers is None:
            self.requires_grad_(False)
            return
        if layers > 0:
            self.bert.embeddings.requires_grad_(False)
            for layer in self.bert.encoder.layer[:layers]:
                layer.requires_grad_(False)

    def forward(self, texts: list[str]) -> torch.Tensor:
        saved = self.encoder.max_seq_length
        self.encoder.max_seq_length = min(self.max_tokens, saved) if self.training else saved
        try:
            prepare = getattr(self.encoder, "preprocess", None) or self.encoder.tokenize
            features = prepare(texts)
        finally:
            self.encoder.max_seq_length = saved
        return F.normalize(self.encoder(features)["sentence_embedding"], dim=-1)

    @torch.no_grad()
    def features(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """Unit features for ``texts`` as inference computes them (eval mode, full length)."""
        was = self.training
        self.eval()
        out = [self(texts[s : s + batch_size]) for s in range(0, len(texts), batch_size)]
        self.train(was)
        return torch.cat(out) if out else torch.zeros(0, TEXT_FEATURE_DIM)


@dataclass
class Teacher:
    """The frozen base model's view of the training data, computed once."""

    features: torch.Tensor  # [T, 384] MiniLM features of every caption
    image: torch.Tensor  # [N, D] unit image embeddings of the training split
    text: torch.Tensor  # [T, D] unit text embeddings of every caption
    temperature: float  # of the distillation term's similarity rows


class LossParameters(nn.Module):
    """SigLIP's own temperature and bias (CLIP's temperature is the model's ``logit_scale``)."""

    def __init__(self) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(float(np.log(10.0))))
        self.bias = nn.Parameter(torch.tensor(-10.0))


def loss_scalars(student: nn.Module, extra: LossParameters | None) -> dict[str, float]:
    """The loss's learned temperature (and SigLIP's bias) at the end of an epoch, for the report."""
    with torch.no_grad():
        if extra is None:
            return {"scale": float(student.logit_scale.clamp(max=MAX_LOG_SCALE).exp())}
        return {"scale": float(extra.log_scale.clamp(max=MAX_LOG_SCALE).exp()), "bias": float(extra.bias)}


def pairs(
    cfg: ContrastiveTrainConfig, datasets: list[Dataset] | None
) -> tuple[list[Example], list[Example], list[str], list[list[int]], list[list[int]]]:
    """Train and val examples, every distinct caption, and each example's caption indices."""
    schema = load_schema(cfg.schema)
    train_ex, val_ex, _ = build_splits(cfg, schema, datasets)  # type: ignore[arg-type]
    if not train_ex or not val_ex:
        raise DatasetError("training needs examples in both the train and the validation split")
    captions = CaptionIndex(schema)
    train_caps, val_caps = [captions.ids(e) for e in train_ex], [captions.ids(e) for e in val_ex]
    return train_ex, val_ex, captions.texts, train_caps, val_caps


def make_split(
    cfg: ContrastiveTrainConfig, model: VestisLite, exs: list[Example], captions, name: str
) -> Split:
    paths = [ex.image for ex in exs]
    cache = Path(cfg.cache_dir)
    feats, bad = lower_features(
        paths, model.backbone, model.config.image_size, cache, description=f"{name} features"
    )
    colour = (
        colour_feature_cache(paths, model.config.image_size, cache, description=f"{name} colours")
        if model.config.colour_dim and (name == "val" or cfg.head_weight > 0)
        else None
    )
    return Split(exs, feats, None, bad, colour, encode_labels(exs, model.config), captions)


@torch.no_grad()
def pooled_features(model: VestisLite, split: Split, batch_size: int = 256) -> torch.Tensor:
    """The frozen image tower's pooled features of every row of ``split`` (eval mode), computed once
    when the upper blocks do not train: each step then reads them instead of rerunning the blocks."""
    model.backbone.eval()
    out = []
    for start in range(0, len(split.examples), batch_size):
        x = torch.from_numpy(split.features[start : start + batch_size].astype(np.float32))
        out.append(model.pooled_from_lower(x))
    return torch.cat(out) if out else torch.zeros(0)


@torch.no_grad()
def image_embeddings(model: VestisLite, split: Split, batch_size: int = 256) -> torch.Tensor:
    model.eval()
    return F.normalize(model.image_proj(pooled_features(model, split, batch_size)), dim=-1)


def teacher_images(
    cfg: ContrastiveTrainConfig, teacher: VestisLite, base_dir: Path, split: Split
) -> tuple[torch.Tensor, np.ndarray]:
    """The teacher's image embeddings of the training split and each image's nearest neighbours
    under them, computed once and cached under the base model's id and the image list."""
    h = hashlib.sha1(f"teacher-v1|{lite_model_id(base_dir)}|{cfg.hard_negative_k}".encode())
    for ex in split.examples:
        h.update(ex.image.encode() + b"\0")
    path = Path(cfg.cache_dir) / f"teacher-{h.hexdigest()[:16]}.npz"
    if path.is_file():
        data = np.load(path)
        return torch.from_numpy(data["embeddings"]), data["neighbours"]
    emb = image_embeddings(teacher, split)
    neighbours = mine_neighbours(emb, cfg.hard_negative_k)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, embeddings=emb.numpy(), neighbours=neighbours)
    tmp.replace(path)
    return emb, neighbours


def warmup_cosine(total_steps: int, warmup: float = 0.1):
    """Learning-rate factor per step: linear warm-up over ``warmup`` of the steps (one at least),
    then cosine decay towards zero (any number of steps, one included)."""
    ramp = max(1, round(warmup * total_steps))

    def factor(step: int) -> float:
        if step < ramp:
            return (step + 1) / ramp
        return 0.5 * (1 + math.cos(math.pi * (step - ramp) / max(1, total_steps - ramp)))

    return factor


def teacher_text_features(cfg: ContrastiveTrainConfig, base_dir: Path, texts: list[str]) -> torch.Tensor:
    """MiniLM features of every caption from the base model's text encoder: the packaged MiniLM
    (cached, as ``vestis train lite`` caches them) or the base model's own fine-tuned one."""
    from vestis.models.backbones import load_text_encoder

    own = text_encoder_dir(base_dir)
    if own is None:
        return text_features(texts, Path(cfg.cache_dir))
    return TextTower(load_text_encoder(directory=own), cfg.max_text_tokens).features(texts)


def val_text(tower: TextTower, texts: list[str], split: Split) -> torch.Tensor:
    """Student MiniLM features at the rows evaluation reads (each val example's first caption)."""
    rows = sorted({caps[0] for caps in split.captions if caps})
    out = torch.zeros(len(texts), TEXT_FEATURE_DIM)
    if rows:
        out[rows] = tower.features([texts[i] for i in rows])
    return out


def train_contrastive(
    cfg: ContrastiveTrainConfig, datasets: list[Dataset] | None = None, fresh: bool = False
) -> Path:
    """Train; returns the model directory (``out_dir/model``)."""
    from vestis.models.backbones import load_text_encoder

    seed_everything(cfg.seed, cfg.threads)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base_dir = resolve_lite(cfg.base)
    teacher_model = VestisLite.load(base_dir).eval().requires_grad_(False)
    student = VestisLite.load(base_dir)
    train_ex, val_ex, texts, train_caps, val_caps = pairs(cfg, datasets)
    train = make_split(cfg, student, train_ex, train_caps, "train")
    val = make_split(cfg, student, val_ex, val_caps, "val")

    teacher_feats = teacher_text_features(cfg, base_dir, texts)
    teacher_img, neighbours = teacher_images(cfg, teacher_model, base_dir, train)
    with torch.no_grad():
        teacher = Teacher(
            teacher_feats,
            teacher_img,
            teacher_model.embed_text_features(teacher_feats),
            cfg.distill_temperature or float(1 / teacher_model.logit_scale.clamp(max=MAX_LOG_SCALE).exp()),
        )

    tower = None  # frozen MiniLM: its features are the teacher's, computed once
    if not cfg.freeze_text:
        tower = TextTower(load_text_encoder(directory=text_encoder_dir(base_dir)), cfg.max_text_tokens)
        tower.freeze(cfg.text_frozen_layers)
    pooled = None  # the frozen tower's pooled features, when the upper blocks do not train
    if not cfg.train_image:
        for p in student.backbone.upper_parameters():
            p.requires_grad_(False)
        pooled = pooled_features(student, train)
    if cfg.head_weight == 0:
        student.heads.requires_grad_(False)
        if student.colour_mlp is not None:
            student.colour_mlp.requires_grad_(False)
    extra = LossParameters() if cfg.loss == "siglip" else None
    groups = [
        {"params": [p for p in student.backbone.upper_parameters() if p.requires_grad], "lr": cfg.image_lr},
        {"params": [p for p in tower.parameters() if p.requires_grad] if tower else [], "lr": cfg.text_lr},
        {
            "params": [
                p
                for n, p in student.named_parameters()
                if p.requires_grad and not n.startswith("backbone.") and n != "logit_scale"
            ],
            "lr": cfg.lr,
        },
        {  # the loss's scalars: CLIP's temperature is the model's, SigLIP's its own with a bias
            "params": list(extra.parameters()) if extra is not None else [student.logit_scale],
            "lr": cfg.lr if cfg.scale_lr is None else cfg.scale_lr,
        },
    ]
    groups = [g for g in groups if g["params"]]
    optim = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)

    keep = np.flatnonzero(~train.bad & np.array([bool(c) for c in train.captions]))
    if len(keep) < 2:
        raise DatasetError("training needs at least two images with captions")
    batch_size = min(cfg.batch_size, len(keep))
    share = cfg.hard_negative_share

    def epoch_batches(epoch: int) -> tuple[list[np.ndarray], np.random.Generator]:
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)
        return hard_negative_batches(keep, neighbours if share else None, batch_size, share, rng), rng

    steps_per_epoch = len(epoch_batches(0)[0])
    sched = torch.optim.lr_scheduler.LambdaLR(optim, warmup_cosine(steps_per_epoch * cfg.epochs))

    history: list[dict[str, Any]] = []
    start_epoch = 0
    ckpt_path = out_dir / "checkpoint.pt"
    ckpt = load_checkpoint(ckpt_path, cfg, fresh, ignore=NOT_TRAINING)
    if ckpt is not None:
        student.load_state_dict(ckpt["model"])
        if tower is not None:
            tower.load_state_dict(ckpt["text"])
        if extra is not None:
            extra.load_state_dict(ckpt["loss"])
        optim.load_state_dict(ckpt["optim"])
        sched.load_state_dict(ckpt["sched"])
        history, start_epoch = ckpt["history"], ckpt["epoch"]
        log.info("resuming from epoch %d", start_epoch)

    before = history[0]["before"] if history else evaluate(teacher_model, val, teacher_feats)
    head_weights = {n: f.weight for n, f in load_schema(cfg.schema).fields.items()}
    with progress_bar() as bar:
        task = bar.add_task(
            "training", total=steps_per_epoch * cfg.epochs, completed=start_epoch * steps_per_epoch
        )
        for epoch in range(start_epoch, min(cfg.epochs, cfg.stop_after or cfg.epochs)):
            batches, rng = epoch_batches(epoch)
            torch.manual_seed(cfg.seed * 1000 + epoch)  # dropout: a resumed epoch draws the same masks
            student.train()
            if not cfg.train_image:
                student.backbone.eval()
            elif not cfg.update_batchnorm:
                for module in student.backbone.modules():
                    if isinstance(module, nn.BatchNorm2d):
                        module.eval()
            if tower is not None:
                tower.train()
            t0, sums = time.perf_counter(), {}
            for idx in batches:
                caps = np.array([rng.choice(train.captions[i]) for i in idx])
                parts = step_loss(
                    cfg, student, tower, extra, teacher, train, idx, caps, texts, head_weights, pooled
                )
                optim.zero_grad(set_to_none=True)
                parts["total"].backward()
                optim.step()
                sched.step()
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
                bar.advance(task)
            seconds = time.perf_counter() - t0
            after = evaluate(student, val, teacher_feats if tower is None else val_text(tower, texts, val))
            record = {
                "epoch": epoch + 1,
                "seconds": seconds,
                "seconds_per_step": seconds / max(1, len(batches)),
                "train_loss": {k: v / max(1, len(batches)) for k, v in sums.items()},
                "loss_scalars": loss_scalars(student, extra),
                "val": after,
            }
            if not history:
                record["before"] = before
            history.append(record)
            bar.console.print(f"epoch {epoch + 1}/{cfg.epochs}: {_summary(record)}")
            save_checkpoint(
                ckpt_path,
                {
                    "model": student.state_dict(),
                    "text": tower.state_dict() if tower is not None else None,
                    "loss": extra.state_dict() if extra is not None else None,
                    "optim": optim.state_dict(),
                    "sched": sched.state_dict(),
                    "history": history,
                    "epoch": epoch + 1,
                    "config": cfg.to_dict(),
                },
            )

    report = {
        "config": cfg.to_dict(),
        "base": {"path": str(base_dir), "id": lite_model_id(base_dir)},
        "before": _brief(before),
        "after": _brief(history[-1]["val"]),
        "history": history,
        "epochs_done": len(history),
        "train_examples": len(train_ex),
        "val_examples": len(val_ex),
        "captions": len(texts),
    }
    model_dir = write_model(cfg, student, tower, out_dir / "model", report)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1))
    return model_dir


def step_loss(
    cfg: ContrastiveTrainConfig,
    student: VestisLite,
    tower: TextTower | None,
    extra: LossParameters | None,
    teacher: Teacher,
    train: Split,
    idx: np.ndarray,
    caps: np.ndarray,
    texts: list[str],
    head_weights: dict[str, float],
    cached_pooled: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The loss terms of one batch of training rows ``idx`` with captions ``caps`` (``total`` is
    their weighted sum). ``cached_pooled``: every training row's pooled features from a frozen image
    tower (:func:`pooled_features`), read instead of running the upper blocks."""
    if cached_pooled is not None:
        pooled = cached_pooled[torch.from_numpy(idx)]
    else:
        pooled = student.pooled_from_lower(torch.from_numpy(train.features[idx].astype(np.float32)))
    image = F.normalize(student.image_proj(pooled), dim=-1)
    unique, inverse = np.unique(caps, return_inverse=True)
    # each distinct caption once; a frozen MiniLM's features are the teacher's
    feats = teacher.features[torch.from_numpy(unique)] if tower is None else tower([texts[i] for i in unique])
    text = student.embed_text_features(feats)[torch.from_numpy(inverse)]
    ids = torch.from_numpy(caps)
    if extra is not None:
        contrastive = siglip_loss(image, text, ids, extra.log_scale, extra.bias)
    else:
        contrastive = clip_loss(image, text, ids, student.logit_scale)
    parts = {"contrastive": contrastive}
    total = contrastive
    if cfg.distill_weight > 0:
        t_idx = torch.from_numpy(idx)
        parts["distill"] = distill_loss(
            image, text, teacher.image[t_idx], teacher.text[ids], teacher.temperature
        )
        total = total + cfg.distill_weight * parts["distill"]
    if cfg.head_weight > 0:
        labels = {k: torch.from_numpy(v[idx]) for k, v in train.labels.items()}
        colour = torch.from_numpy(train.colour[idx]) if train.colour is not None else None
        heads, _ = lite_loss(student, pooled, labels, text, ids, HEAD_LOSS, head_weights, colour)
        parts["heads"] = heads
        total = total + cfg.head_weight * heads
    parts["total"] = total
    return parts


def write_model(
    cfg: ContrastiveTrainConfig, student: VestisLite, tower: TextTower | None, directory: Path, report: dict
) -> Path:
    """The model directory: vestis-lite's files (config and calibration of the base model) and,
    when MiniLM was trained, ``text_encoder/`` in fp16."""
    import shutil

    from vestis.models.text_tower import TEXT_ENCODER_DIR, add_checksum, save_text_encoder

    if directory.exists():
        shutil.rmtree(directory)
    base_dir = resolve_lite(cfg.base)
    card = model_card(report)
    student.save(directory, card=card, extra={k: v for k, v in report.items() if k != "history"})
    source = base_dir / TEXT_ENCODER_DIR
    if tower is not None:
        save_text_encoder(
            tower.bert.state_dict(), directory / TEXT_ENCODER_DIR, source if source.is_dir() else None
        )
        add_checksum(directory)
    elif source.is_dir():  # a frozen fine-tuned MiniLM of the base model goes along unchanged
        shutil.copytree(source, directory / TEXT_ENCODER_DIR)
        add_checksum(directory)
    return directory


def model_card(report: dict[str, Any]) -> str:
    cfg, b, a = report["config"], report["before"], report["after"]
    rows = "\n".join(
        f"| {k} | {b.get(k, float('nan')):.4f} | {a.get(k, float('nan')):.4f} |"
        for k in ("R@1", "R@10", "MRR")
    )
    return (
        "# vestis-lite, contrastive fine-tune\n\n"
        f"Both towers fine-tuned from `{report['base']['id']}` with `vestis train contrastive` "
        f"({cfg['loss']} loss, distillation weight {cfg['distill_weight']}, hard-negative share "
        f"{cfg['hard_negative_share']}, text tower {'frozen' if cfg['freeze_text'] else 'trained'}) "
        f"on {', '.join(cfg['datasets'])} ({report['train_examples']} training images).\n\n"
        f"Validation text→image retrieval ({a.get('queries', 0)} queries, first caption of each image):\n\n"
        f"| metric | base | fine-tuned |\n|---|---|---|\n{rows}\n"
    )


def _brief(metrics: dict[str, Any]) -> dict[str, Any]:
    """Retrieval metrics and the mean extraction score of a validation evaluation."""
    fields = metrics.get("fields", {})
    scores = [v.get("accuracy", v.get("micro_f1")) for v in fields.values()]
    return {
        **metrics.get("retrieval", {}),
        "extraction_mean": float(np.mean(scores)) if scores else None,
        "fields": fields,
    }


def _summary(record: dict[str, Any]) -> str:
    r = record["val"].get("retrieval", {})
    loss = " ".join(f"{k} {v:.3f}" for k, v in record["train_loss"].items())
    return f"{loss} · val R@1 {r.get('R@1', 0):.3f} R@10 {r.get('R@10', 0):.3f} MRR {r.get('MRR', 0):.3f}"

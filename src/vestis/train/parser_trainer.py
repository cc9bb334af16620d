"""Train the garment parser: a segmentation head on cached, frozen Lite0 features of street/ photos.

``train_parser(config)`` is what ``vestis train parser`` runs. Backbone features of every
photo with a label map are computed once (and their flips, with ``hflip``) and cached, so an
epoch trains only the head. It checkpoints every epoch to ``out_dir/checkpoint.pt`` and resumes
from it, calibrates the product-shot/person threshold on train photos of people and train
product shots, and writes ``out_dir/model`` (config.json, model.safetensors, model card,
metrics, checksums) and ``out_dir/report.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vestis.data.base import default_data_root, open_dataset
from vestis.data.street import ClassMaps, StreetPhoto, load_street
from vestis.errors import OptionsError
from vestis.images import load_image
from vestis.models.parser import ParserConfig, ParserModel, content_box, taps_runner
from vestis.models.preprocess import to_array
from vestis.parse.labels import CLASSES, load_label_map
from vestis.progress import progress_bar
from vestis.train.config import load_checkpoint, save_checkpoint, seed_everything
from vestis.train.parser_config import ParserTrainConfig

log = logging.getLogger(__name__)
SKIN_HAIR = (CLASSES.index("skin"), CLASSES.index("hair"))


def letterbox_classmap(classmap: np.ndarray, size: int, out: int) -> np.ndarray:
    """A class map letterboxed like its image (padding = background), sampled to ``out`` × ``out``."""
    h, w = classmap.shape
    x0, y0, nw, nh = content_box(w, h, size)
    canvas = np.zeros((size, size), dtype=np.uint8)
    canvas[y0 : y0 + nh, x0 : x0 + nw] = np.asarray(Image.fromarray(classmap).resize((nw, nh), Image.NEAREST))
    step = size // out
    return np.ascontiguousarray(canvas[step // 2 :: step, step // 2 :: step])


def cached_taps(
    paths: list[str], model: ParserModel, size: int, cache_dir: Path, hflip: bool
) -> list[np.ndarray]:
    """fp16 tapped features [N, C, h, w] per scale of the images at ``paths`` (flipped with ``hflip``)."""
    key = hashlib.sha1(f"parser-v1|{size}|{hflip}|{'|'.join(paths)}".encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"parser-taps-{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            return [z[f"t{i}"] for i in range(len(z.files))]
    run = taps_runner(model.backbone, size)
    chunks: list[list[np.ndarray]] = []
    with progress_bar() as bar:
        task = bar.add_task("features" + (" (flipped)" if hflip else ""), total=len(paths))
        for start in range(0, len(paths), 16):
            images = [load_image(p) for p in paths[start : start + 16]]
            chunks.append([t.astype(np.float16) for t in run(to_array(images, size, hflip=hflip))])
            bar.advance(task, len(images))
    taps = [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path.with_suffix(".tmp.npz"), **{f"t{i}": t for i, t in enumerate(taps)})
    path.with_suffix(".tmp.npz").replace(path)
    return taps


def predict(model: ParserModel, taps: list[np.ndarray], idx: np.ndarray) -> torch.Tensor:
    with torch.inference_mode():
        return model.head([torch.from_numpy(t[idx]).float() for t in taps])


def segmentation_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Pixel accuracy, per-class IoU and recall, their means over the classes present in ``truth``."""
    n = len(CLASSES)
    conf = np.bincount(truth.ravel().astype(np.int64) * n + pred.ravel(), minlength=n * n).reshape(n, n)
    tp = np.diag(conf).astype(float)
    iou = tp / np.maximum(conf.sum(0) + conf.sum(1) - tp, 1)
    recall = tp / np.maximum(conf.sum(1), 1)
    present = conf.sum(1) > 0
    garments = present & np.isin(np.arange(n), [CLASSES.index(c) for c in CLASSES[3:]])
    return {
        "pixel_accuracy": float(tp.sum() / conf.sum()),
        "mean_iou": float(iou[present].mean()),
        "garment_mean_iou": float(iou[garments].mean()),
        "garment_mean_recall": float(recall[garments].mean()),
        "iou": {c: float(iou[i]) for i, c in enumerate(CLASSES) if present[i]},
        "recall": {c: float(recall[i]) for i, c in enumerate(CLASSES) if present[i]},
    }


def person_share(logits: torch.Tensor) -> np.ndarray:
    """Share of skin + hair pixels in each predicted map (the product-shot/person score)."""
    pred = logits.argmax(1)
    return ((pred == SKIN_HAIR[0]) | (pred == SKIN_HAIR[1])).float().mean((1, 2)).numpy()


def calibrate_threshold(person: np.ndarray, product: np.ndarray) -> float:
    """The threshold on the person score with the best balanced accuracy (midpoint between scores)."""
    scores = np.unique(np.concatenate([person, product]))
    cuts = np.concatenate([[0.0], (scores[1:] + scores[:-1]) / 2])
    acc = [((person > t).mean() + (product <= t).mean()) / 2 for t in cuts]
    return float(cuts[int(np.argmax(acc))])


def train_parser(cfg: ParserTrainConfig, fresh: bool = False) -> Path:
    """Train the head; returns the model directory (``out_dir/model``)."""
    seed_everything(cfg.seed, cfg.threads)
    root = Path(cfg.data) if cfg.data else default_data_root() / "street"
    label_map = load_label_map(cfg.label_map)
    photos = [p for p in load_street(root) if p.mask is not None]
    train_ph = [p for p in photos if p.split(cfg.val_fraction) == "train"]
    val_ph = [p for p in photos if p.split(cfg.val_fraction) == "val"]
    if not train_ph or not val_ph:
        raise OptionsError(
            f"need photos with label maps in both splits; have {len(train_ph)} / {len(val_ph)}"
        )
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_cfg = ParserConfig(
        image_size=cfg.image_size,
        width=cfg.width,
        min_area=cfg.min_area,
        label_map=cfg.label_map,
        classes=list(label_map.classes),
    )
    model = ParserModel(model_cfg)
    size, out = cfg.image_size, cfg.image_size // 4
    maps = ClassMaps(root, label_map)

    def split_data(ph: list[StreetPhoto], flip: bool):
        taps = cached_taps([str(p.image) for p in ph], model, size, Path(cfg.cache_dir), flip)
        target = np.stack([letterbox_classmap(maps(p), size, out) for p in ph])
        return taps, (target[:, :, ::-1].copy() if flip else target)

    train = [split_data(train_ph, False)] + ([split_data(train_ph, True)] if cfg.hflip else [])
    val_taps, val_target = split_data(val_ph, False)
    freq = np.bincount(train[0][1].ravel(), minlength=len(CLASSES)).astype(float)
    freq /= freq.sum()
    weights = (np.median(freq) / np.maximum(freq, 1e-6)) ** cfg.class_balance
    class_weights = torch.tensor(weights / weights.mean(), dtype=torch.float32)

    n = len(train_ph)
    steps_per_epoch = max(1, n // cfg.batch_size)
    optim = torch.optim.AdamW(model.head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optim, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.1
    )
    history: list[dict[str, Any]] = []
    start_epoch = 0
    ckpt_path = out_dir / "checkpoint.pt"
    ckpt = load_checkpoint(ckpt_path, cfg, fresh)
    if ckpt is not None:
        model.head.load_state_dict(ckpt["head"])
        optim.load_state_dict(ckpt["optim"])
        sched.load_state_dict(ckpt["sched"])
        history, start_epoch = ckpt["history"], ckpt["epoch"]
        log.info("resuming from epoch %d", start_epoch)

    with progress_bar() as bar:
        task = bar.add_task(
            "training", total=cfg.epochs * steps_per_epoch, completed=start_epoch * steps_per_epoch
        )
        for epoch in range(start_epoch, cfg.epochs):
            rng = np.random.default_rng(cfg.seed * 1000 + epoch)
            order, flips = rng.permutation(n), rng.integers(0, len(train), n)
            model.head.train()
            t0, total = time.perf_counter(), 0.0
            for step in range(steps_per_epoch):
                idx = np.sort(order[step * cfg.batch_size : (step + 1) * cfg.batch_size])
                feats = [
                    torch.from_numpy(np.stack([train[flips[i]][0][s][i] for i in idx])).float()
                    for s in range(len(train[0][0]))
                ]
                y = torch.from_numpy(np.stack([train[flips[i]][1][i] for i in idx])).long()
                logits = F.interpolate(
                    model.head(feats), size=(out, out), mode="bilinear", align_corners=False
                )
                loss = F.cross_entropy(logits, y, weight=class_weights)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                sched.step()
                total += loss.item()
                bar.advance(task)
            model.head.eval()
            record = {
                "epoch": epoch + 1,
                "seconds": time.perf_counter() - t0,
                "train_loss": total / steps_per_epoch,
                "val": _evaluate(model, val_taps, val_target),
            }
            history.append(record)
            bar.console.print(
                f"epoch {epoch + 1}/{cfg.epochs}: loss {record['train_loss']:.4f}, val pixel acc "
                f"{record['val']['pixel_accuracy']:.4f}, garment mIoU {record['val']['garment_mean_iou']:.4f}"
            )
            save_checkpoint(
                ckpt_path,
                {
                    "head": model.head.state_dict(),
                    "optim": optim.state_dict(),
                    "sched": sched.state_dict(),
                    "history": history,
                    "epoch": epoch + 1,
                    "config": cfg.to_dict(),
                },
            )

    model.head.eval()
    calibration = _calibrate(model, cfg, train[0][0])
    if calibration:
        model_cfg.person_threshold = calibration["threshold"]
    summary = {
        "config": cfg.to_dict(),
        "val": _evaluate(model, val_taps, val_target),
        "history": history,
        "train_photos": len(train_ph),
        "val_photos": len(val_ph),
        "calibration": calibration,
    }
    model_dir = model.save(out_dir / "model", card=model_card(summary), metrics=summary)
    (out_dir / "report.json").write_text(json.dumps(summary, indent=1))
    return model_dir


def _evaluate(model: ParserModel, taps: list[np.ndarray], target: np.ndarray) -> dict[str, Any]:
    preds = [predict(model, taps, np.arange(s, min(s + 64, len(target)))) for s in range(0, len(target), 64)]
    logits = F.interpolate(torch.cat(preds), size=target.shape[-2:], mode="bilinear", align_corners=False)
    return segmentation_metrics(logits.argmax(1).numpy().astype(np.int64), target)


def _calibrate(model: ParserModel, cfg: ParserTrainConfig, street_taps: list[np.ndarray]) -> dict[str, Any]:
    """Person scores of the street train photos vs train product shots → the threshold between them."""
    paths: list[str] = []
    for spec in cfg.product_datasets:
        paths += [
            ex.image for ex in open_dataset(spec).split("train", cfg.val_fraction)[: cfg.calibration_limit]
        ]
    if not paths:
        return {}
    product_taps = cached_taps(paths, model, cfg.image_size, Path(cfg.cache_dir), False)
    score = {}
    for name, taps in (("person", street_taps), ("product", product_taps)):
        n = len(taps[0])
        score[name] = np.concatenate(
            [person_share(predict(model, taps, np.arange(s, min(s + 64, n)))) for s in range(0, n, 64)]
        )
    t = calibrate_threshold(score["person"], score["product"])
    return {
        "threshold": t,
        "person_photos": len(score["person"]),
        "product_photos": len(score["product"]),
        "person_rate_train": float((score["person"] > t).mean()),
        "product_rate_train": float((score["product"] <= t).mean()),
    }


def model_card(summary: dict[str, Any]) -> str:
    val = summary["val"]
    rows = "\n".join(f"| {c} | {val['iou'][c]:.3f} | {val['recall'][c]:.3f} |" for c in val["iou"])
    cal = summary.get("calibration") or {}
    cal_text = (
        f"Product shot vs person: a photo shows a person when more than {cal['threshold']:.4f} of its "
        f"pixels are predicted skin or hair (calibrated on {cal['person_photos']} street train photos and "
        f"{cal['product_photos']} train product shots: {cal['person_rate_train']:.3f} / "
        f"{cal['product_rate_train']:.3f} right on train).\n"
        if cal
        else ""
    )
    return f"""# vestis-parser

A garment parser for photos of people: a light segmentation head (multi-scale 1x1 laterals, two 3x3
convolutions, 1/8 resolution) on frozen EfficientNet-Lite0 ImageNet features, trained on the
{summary["train_photos"]} train photos of street/ (Clothing Co-Parsing) with label maps, its 59 labels
mapped to 11 classes by the `{summary["config"]["label_map"]}` label map. Only the head is stored.

Validation ({summary["val_photos"]} photos, split by photo, labels letterboxed at 1/4 of
{summary["config"]["image_size"]} px): pixel accuracy {val["pixel_accuracy"]:.4f}, mean IoU
{val["mean_iou"]:.4f}, garment mean IoU {val["garment_mean_iou"]:.4f}. `benchmarks/parser.py` measures
at full resolution.

| class | IoU | recall |
|---|---|---|
{rows}

{cal_text}
Reproduce: `vestis train parser` (defaults).
"""

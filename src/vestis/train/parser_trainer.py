"""Train the garment parser: a segmentation head on cached, frozen Lite0 features of street/ photos.

``train_parser(config)`` is what ``vestis train parser`` runs. Backbone features of every
photo with a label map are computed once (and their flips, with ``hflip``) and cached, so an
epoch trains only the head. It checkpoints every epoch to ``out_dir/checkpoint.pt`` and resumes
from it, calibrates the decisions (garment presence, product shot vs person) on tag-only photos
of people it never trains on (:func:`calibration_photo`) and train product shots, and writes
``out_dir/model`` (config.json, model.safetensors, model card, metrics, checksums) and
``out_dir/report.json``. With ``calibrate`` it only recalibrates a trained model, keeping its weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vestis.data.base import default_data_root, open_dataset, split_of
from vestis.data.street import ClassMaps, StreetPhoto, load_street
from vestis.errors import OptionsError
from vestis.images import load_image
from vestis.models.lite_config import update_checksums
from vestis.models.parser import ParserConfig, ParserModel, content_box, content_probs, taps_runner
from vestis.models.preprocess import to_array
from vestis.models.registry import resolve_parser
from vestis.parse.decisions import MapStatistics, largest_region_areas, map_statistics, person_features
from vestis.parse.labels import CLASSES, LabelMap, load_label_map
from vestis.parse.regions import regions_from_classmap
from vestis.progress import progress_bar
from vestis.train.config import load_checkpoint, save_checkpoint, seed_everything
from vestis.train.parser_calibration import calibrate_person, calibrate_presence, presence_scores
from vestis.train.parser_config import ParserTrainConfig

log = logging.getLogger(__name__)
# Bands of a photo of a person (fractions of its height) that calibrate the person rule beside the
# whole photo, so that it does not learn "a person is seen head to shoes": head and torso, waist
# down, torso alone.
PERSON_BANDS = {"upper": (0.0, 0.55), "lower": (0.45, 1.0), "middle": (0.2, 0.75)}
CALIBRATION_FRACTION = 0.5  # share of the tag-only street photos that calibrate the decisions


def letterbox_classmap(classmap: np.ndarray, size: int, out: int) -> np.ndarray:
    """A class map letterboxed like its image (padding = background), sampled to ``out`` × ``out``."""
    h, w = classmap.shape
    x0, y0, nw, nh = content_box(w, h, size)
    canvas = np.zeros((size, size), dtype=np.uint8)
    canvas[y0 : y0 + nh, x0 : x0 + nw] = np.asarray(Image.fromarray(classmap).resize((nw, nh), Image.NEAREST))
    step = size // out
    return np.ascontiguousarray(canvas[step // 2 :: step, step // 2 :: step])


def crop_band(image: Image.Image, band: tuple[float, float]) -> Image.Image:
    """The horizontal band of ``image`` between fractions ``band`` of its height."""
    return image.crop((0, int(band[0] * image.height), image.width, int(band[1] * image.height)))


def cached_taps(
    paths: list[str],
    model: ParserModel,
    size: int,
    cache_dir: Path,
    hflip: bool,
    band: tuple[float, float] | None = None,
) -> list[np.ndarray]:
    """fp16 tapped features [N, C, h, w] per scale of the images at ``paths`` (flipped with ``hflip``;
    only the :func:`crop_band` ``band`` of each, when given)."""
    crop = "" if band is None else f"|{band}"
    key = hashlib.sha1(f"parser-v1|{size}|{hflip}{crop}|{'|'.join(paths)}".encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"parser-taps-{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            return [z[f"t{i}"] for i in range(len(z.files))]
    run = taps_runner(model.backbone, size)
    chunks: list[list[np.ndarray]] = []
    with progress_bar() as bar:
        task = bar.add_task("features" + (" (flipped)" if hflip else "") + crop, total=len(paths))
        for start in range(0, len(paths), 16):
            images = [load_image(p) for p in paths[start : start + 16]]
            if band is not None:
                images = [crop_band(im, band) for im in images]
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


def train_parser(cfg: ParserTrainConfig, fresh: bool = False) -> Path:
    """Train the head and calibrate its decisions (with ``cfg.calibrate``: only calibrate that trained
    model); returns the model directory (``out_dir/model``)."""
    seed_everything(cfg.seed, cfg.threads)
    root = Path(cfg.data) if cfg.data else default_data_root() / "street"
    label_map = load_label_map(cfg.label_map)
    if cfg.calibrate:
        return calibrate_parser(cfg, root, label_map)
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
    calibration = _calibrate(model, cfg, [p for p in load_street(root) if calibration_photo(p)], label_map)
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


def calibrate_parser(cfg: ParserTrainConfig, root: Path, label_map: LabelMap) -> Path:
    """Calibrate the decisions of the trained model ``cfg.calibrate`` and write it to ``out_dir/model``
    with its weights file copied byte for byte: config.json, metrics.json (its training summary with
    this calibration) and model card change."""
    source = resolve_parser(cfg.calibrate)
    model = ParserModel.load(source)
    if model.config.label_map != cfg.label_map:
        raise OptionsError(
            f"{source} was trained with label map {model.config.label_map}, not {cfg.label_map}"
        )
    model.config.version = ParserConfig.version
    summary = json.loads((source / "metrics.json").read_text()) if (source / "metrics.json").is_file() else {}
    summary["calibration"] = _calibrate(
        model, cfg, [p for p in load_street(root) if calibration_photo(p)], label_map
    )
    summary["calibration_config"] = cfg.to_dict()
    out = Path(cfg.out_dir) / "model"
    model_dir = model.save(out, card=model_card(summary), metrics=summary)
    shutil.copyfile(source / "model.safetensors", model_dir / "model.safetensors")
    update_checksums(model_dir, ["model.safetensors"])
    (Path(cfg.out_dir) / "report.json").write_text(json.dumps(summary, indent=1))
    return model_dir


def _evaluate(model: ParserModel, taps: list[np.ndarray], target: np.ndarray) -> dict[str, Any]:
    preds = [predict(model, taps, np.arange(s, min(s + 64, len(target)))) for s in range(0, len(target), 64)]
    logits = F.interpolate(torch.cat(preds), size=target.shape[-2:], mode="bilinear", align_corners=False)
    return segmentation_metrics(logits.argmax(1).numpy().astype(np.int64), target)


def image_sizes(paths: list[str], band: tuple[float, float] | None = None) -> list[tuple[int, int]]:
    """(width, height) of each image (of its :func:`crop_band` ``band``, when given), from the header."""
    out = []
    for p in paths:
        with Image.open(p) as im:
            w, h = im.size
        out.append((w, h) if band is None else (w, int(band[1] * h) - int(band[0] * h)))
    return out


def map_summaries(
    model: ParserModel, taps: list[np.ndarray], sizes: list[tuple[int, int]], merge: frozenset[str]
) -> list[tuple[MapStatistics, dict[str, float]]]:
    """Per photo, as the lite parser sees it: statistics of its predicted map and the share of its
    largest region of each garment class."""
    out = []
    for s in range(0, len(sizes), 64):
        logits = predict(model, taps, np.arange(s, min(s + 64, len(sizes))))
        for lg, (w, h) in zip(logits, sizes[s : s + 64], strict=True):
            probs = content_probs(lg, w, h, model.config.image_size)
            cmap = probs.argmax(0).astype(np.uint8)
            regions = regions_from_classmap(cmap, (w, h), merge=merge, min_area=model.config.min_area)
            out.append((map_statistics(probs, regions, cmap), largest_region_areas(regions)))
    return out


def calibration_photo(photo: StreetPhoto) -> bool:
    """Whether a street photo calibrates the parser's decisions: half of the tag-only photos, by a
    hash of the id (:data:`CALIBRATION_FRACTION`). The head never trains on them, so its maps of them
    are as good as on new photos; ``benchmarks/parser.py`` reports on the other tag-only photos."""
    return photo.mask is None and split_of(f"street-calibration:{photo.id}", CALIBRATION_FRACTION) == "val"


def _calibrate(
    model: ParserModel, cfg: ParserTrainConfig, photos: list[StreetPhoto], label_map: LabelMap
) -> dict[str, Any]:
    """Calibrate on the calibration photos of people (:func:`calibration_photo`; and bands of them)
    and train product shots: the per-class region shares of presence, and the person rule with its
    threshold (set on ``model.config``)."""
    mc, cache = model.config, Path(cfg.cache_dir)
    mc.min_area = cfg.min_area
    if not photos:
        raise OptionsError("no tag-only street photos to calibrate the parser on")
    paths = [str(p.image) for p in photos]
    taps = cached_taps(paths, model, mc.image_size, cache, False)
    street = map_summaries(model, taps, image_sizes(paths), label_map.merge)
    truth = [label_map.garments(list(p.tags)) for p in photos]
    mc.class_min_area = calibrate_presence([a for _, a in street], truth, mc.min_area)
    found = [{c for c, a in areas.items() if a > 0 and a >= mc.class_min_area[c]} for _, areas in street]
    report: dict[str, Any] = {
        "people_photos": len(photos),
        "class_min_area": mc.class_min_area,
        "presence_calibration": presence_scores(truth, found)["micro"],
    }
    products = {}
    for spec in cfg.product_datasets:
        shots = [str(ex.image) for ex in open_dataset(spec).split("train", cfg.val_fraction)]
        shots = shots[:: max(1, len(shots) // cfg.calibration_limit)][: cfg.calibration_limit]  # spread out
        summaries = map_summaries(
            model, cached_taps(shots, model, mc.image_size, cache, False), image_sizes(shots), label_map.merge
        )
        products[spec] = summaries
    if not products:
        return report

    def rows(summaries: list[tuple[MapStatistics, dict[str, float]]]) -> np.ndarray:
        return np.array([list(person_features(st, mc.classes).values()) for st, _ in summaries])

    people = {"photos": (rows(street), 1.0)}
    for name, band in PERSON_BANDS.items() if cfg.crops else ():
        crops = cached_taps(paths, model, mc.image_size, cache, False, band)
        people[name] = (rows(map_summaries(model, crops, image_sizes(paths, band), label_map.merge)), 1 / 3)
    names = list(person_features(street[0][0], mc.classes))
    rule, mc.person_threshold, report["person"] = calibrate_person(
        names, people, {k: rows(v) for k, v in products.items()}, cfg.product_rate
    )
    mc.person_rule = rule.to_dict()
    return report


def model_card(summary: dict[str, Any]) -> str:
    val = summary["val"]
    rows = "\n".join(f"| {c} | {val['iou'][c]:.3f} | {val['recall'][c]:.3f} |" for c in val["iou"])
    cal = summary.get("calibration") or {}
    setup = summary.get("calibration_config") or summary["config"]
    cal_text = ""
    if cal.get("class_min_area"):
        shares = ", ".join(f"{c} {v:.4f}" for c, v in cal["class_min_area"].items())
        cal_text += (
            f"Garment presence: a region counts when it covers at least this share of the image: {shares} "
            f"(chosen per class for presence F1 against the tags of the {cal['people_photos']} calibration "
            f"photos: half of street/'s tag-only photos, by a hash of the id; micro F1 "
            f"{cal['presence_calibration']['f1']:.3f} on them).\n"
        )
    person = cal.get("person")
    if person:
        rates = ", ".join(f"{k} {v:.3f}" for k, v in person["rate_train"].items())
        cal_text += (
            f"\nProduct shot vs person: a logistic regression on statistics of the predicted map (each "
            f"class's pixel share, mean and peak probability, entropy, garment classes found; "
            f"`person_rule` in config.json), fitted on the calibration photos and bands of them (head to "
            f"waist, waist down, torso) against train product shots of "
            f"{', '.join(setup['product_datasets'])}, says a person is in the photo above "
            f"{person['threshold']:.4f}: the lowest threshold that keeps {setup['product_rate']:.0%} of "
            f"every source's train product shots a product shot. Right on those (held-out folds): {rates}.\n"
        )
        if person.get("left_out_source"):
            loo = ", ".join(f"{k} {v:.3f}" for k, v in person["left_out_source"].items())
            cal_text += (
                f"Fitted without one source and judged on that source's train shots (a retailer it never "
                f"saw), product shots called product: {loo}.\n"
            )
    how = (
        "`vestis train parser --calibrate vestis-parser` recalibrates these weights (unchanged) "
        "with the same defaults; `vestis train parser` (defaults) trains and calibrates."
        if summary.get("calibration_config")
        else "`vestis train parser` (defaults)."
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
Reproduce: {how}
"""

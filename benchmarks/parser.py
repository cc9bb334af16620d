"""Garment parser (issue 11) on street/ and product shots: segmentation, presence, product vs person, speed.

* Segmentation: pixel accuracy and per-class IoU on the street val photos with label maps (split by
  photo), at the photos' own resolution.
* Presence: per coarse class, "the parser found a region of this class" against the image-level
  tags (mapped by the label map), on the val photos with label maps and the tag-only photos that do
  not calibrate the parser's decisions (:func:`vestis.train.parser_trainer.calibration_photo`: half
  of them, by a hash of the id); none of them was trained on or calibrated on.
* Product vs person: share of the same street photos called "person", and share of the val
  product shots of hm, mango and clothing called "product" (all of them, or the first
  ``--product-limit`` of each). Robustness: share of bands of the same street photos (head to
  waist, waist down, torso: as half-body photos of people) called "person".
* Speed: milliseconds per street photo through ``parse()`` (decode included), on ``--threads``.

Prints a table and writes benchmarks/results/parser.json.

    PYTHONPATH=src .venv/bin/python benchmarks/parser.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from vestis.data.base import default_data_root, open_dataset
from vestis.data.street import ClassMaps, load_street
from vestis.images import load_image
from vestis.parse.base import load_parser
from vestis.parse.labels import load_label_map
from vestis.train.parser_calibration import presence_scores
from vestis.train.parser_trainer import PERSON_BANDS, calibration_photo, crop_band, segmentation_metrics

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="parser model directory (default: the shipped one)")
    ap.add_argument("--data", default=None, help="data root (default: $VESTIS_DATA)")
    ap.add_argument("--products", nargs="*", default=["hm", "mango", "clothing"])
    ap.add_argument("--product-limit", type=int, default=None, help="val product shots per dataset (all)")
    ap.add_argument("--min-area", type=float, default=None, help="override the model's min_area")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/parser.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = Path(args.data) if args.data else default_data_root()
    parser = load_parser("lite-parser", model=args.model, min_area=args.min_area)
    label_map = load_label_map(parser.config.label_map)
    street = load_street(root / "street")
    photos = [p for p in street if not calibration_photo(p) and (p.mask is None or p.split() == "val")]
    masked = [p for p in photos if p.mask is not None]

    maps = ClassMaps(root / "street", label_map)
    preds, truths = [], []
    for start in range(0, len(masked), 16):
        chunk = masked[start : start + 16]
        for p, (cmap, _) in zip(chunk, parser.class_maps([load_image(p.image) for p in chunk]), strict=True):
            truth = maps(p)
            assert cmap.shape == truth.shape, (p.id, cmap.shape, truth.shape)
            preds.append(cmap.ravel())
            truths.append(truth.ravel())
    seg = segmentation_metrics(np.concatenate(preds).astype(np.int64), np.concatenate(truths))

    t0 = time.perf_counter()
    parsed = parser.parse([p.image for p in photos])
    ms = (time.perf_counter() - t0) * 1000 / len(photos)
    found = [{r.category for r in x.regions} if x.kind == "person" else set() for x in parsed]
    pres = presence_scores([label_map.garments(list(p.tags)) for p in photos], found)
    person_rate = float(np.mean([x.kind == "person" for x in parsed]))
    product = {}
    for spec in args.products:
        examples = open_dataset(str(root / spec) if args.data else spec).split("val")[: args.product_limit]
        kinds = [x.kind for x in parser.parse([ex.image for ex in examples])]
        product[spec] = {"n": len(kinds), "product_rate": float(np.mean([k == "product" for k in kinds]))}
    images = [load_image(p.image) for p in photos]
    bands = {
        name: float(
            np.mean([x.kind == "person" for x in parser.parse([crop_band(im, band) for im in images])])
        )
        for name, band in PERSON_BANDS.items()
    }

    result = {
        "street_val_masked": len(masked),
        "street_presence_photos": len(photos),
        "street_calibration_photos_left_out": sum(calibration_photo(p) for p in street),
        "segmentation": seg,
        "presence": pres,
        "person_rate_street": person_rate,
        "person_rate_bands": bands,
        "product_rate": product,
        "ms_per_photo": ms,
        "threads": args.threads,
        "machine": platform.machine(),
        "person_threshold": parser.threshold,
        "min_area": parser.min_area,
        "class_min_area": parser.config.class_min_area,
        "person_rule": parser.rule is not None,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(
        f"street val ({len(masked)} photos): pixel accuracy {seg['pixel_accuracy']:.4f}, mean IoU "
        f"{seg['mean_iou']:.4f}, garment mean IoU {seg['garment_mean_iou']:.4f}, garment mean recall "
        f"{seg['garment_mean_recall']:.4f}\n"
    )
    print(
        "| class | IoU | pixel recall | presence P | presence R | presence F1 | tagged |\n"
        "|---|---|---|---|---|---|---|"
    )
    for c in seg["iou"]:
        pr = pres.get(c)
        cells = (
            f"{pr['precision']:.3f} | {pr['recall']:.3f} | {pr['f1']:.3f} | {pr['support']}"
            if pr
            else "| | |"
        )
        print(f"| {c} | {seg['iou'][c]:.3f} | {seg['recall'][c]:.3f} | {cells} |")
    m = pres["micro"]
    print(
        f"| all garments (micro) | | | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} "
        f"| {m['support']} |\n"
    )
    print(
        f"person rate on {len(photos)} street photos: {person_rate:.3f}; product rate: "
        + ", ".join(f"{k} {v['product_rate']:.3f} (n={v['n']})" for k, v in product.items())
    )
    print(
        "person rate on bands of those photos (half-body views): "
        + ", ".join(f"{k} {v:.3f}" for k, v in bands.items())
    )
    print(f"{ms:.1f} ms per street photo through parse() on {args.threads} threads")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

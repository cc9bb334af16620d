"""Attributes of worn garments (issue 11): vestis-lite on garments cut from street/ val photos.

The garments are the ``street-garments`` dataset's validation split (photos held out by name, as
the parser's): each true garment region cropped as the item extractor crops a parser region, with
category and type from the label map and colour from the garment's own pixels where one colour
dominates (``vestis.data.adapters.street``). For each model it measures, with the extractor's
default null threshold (a null answer counts as wrong; coverage is the share answered):

* **crops**: category and type accuracy, colour agreement with the garment's pixels;
* **main upper-body garment**: per photo, the largest top/outerwear/dress region's category
  (the issue's target: ≥ 85%);
* **end to end**: the same question through ``lite-parser`` + the item extractor on the whole
  photo (the parser's largest top/outerwear/dress region; its coarse class overrides the model's
  category where they disagree), so the figure a user gets.

Prints a table and writes benchmarks/results/worn.json.

    PYTHONPATH=src .venv/bin/python benchmarks/worn.py --models vestis-lite runs/lite-worn --threads 2
"""

from __future__ import annotations

import argparse
import json
import platform
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from vestis.data import open_dataset
from vestis.data.base import default_data_root
from vestis.extract.base import load_extractor
from vestis.extract.items import ItemExtractor
from vestis.parse.base import load_parser
from vestis.schema import load_schema

REPO = Path(__file__).resolve().parents[1]
UPPER = ("top", "outerwear", "dress")  # coarse classes of the main upper-body garment


def accuracy(pairs: list[tuple[Any, Any]]) -> dict[str, float | int]:
    """Accuracy (null prediction = wrong), coverage and support of (truth, prediction) pairs."""
    n = len(pairs)
    return {
        "accuracy": sum(t == p for t, p in pairs) / n if n else float("nan"),
        "coverage": sum(p is not None for _, p in pairs) / n if n else float("nan"),
        "support": n,
    }


def main_upper(items: list[tuple[str | None, float, Any]]) -> Any:
    """The payload of the largest item whose coarse class is an upper-body one, or None."""
    upper = [(area, payload) for cls, area, payload in items if cls in UPPER]
    return max(upper, key=lambda x: x[0])[1] if upper else None


def evaluate(model: str, garments: list, photos: dict[str, str], threads: int) -> dict[str, Any]:
    schema = load_schema("vestis")
    extractor = load_extractor(
        "lite", schema, model=None if model == "vestis-lite" else model, threads=threads
    )
    results = extractor.extract([g.image for g in garments])
    pred = [r.attributes for r in results]
    out: dict[str, Any] = {"model": model}
    for field in ("category", "type", "colour"):
        pairs = [
            (g.labels[field], p.get(field))
            for g, p in zip(garments, pred, strict=True)
            if g.labels.get(field)
        ]
        out[field] = accuracy(pairs)
        out[field]["errors"] = Counter(f"{t}→{p}" for t, p in pairs if t != p).most_common(8)
    by_class: dict[str, list] = {}
    for g, p in zip(garments, pred, strict=True):
        if g.labels.get("category"):
            by_class.setdefault(g.meta["class"], []).append((g.labels["category"], p.get("category")))
    out["category_by_region_class"] = {c: accuracy(v) for c, v in sorted(by_class.items())}

    per_photo: dict[str, list] = {}
    for g, p in zip(garments, pred, strict=True):
        per_photo.setdefault(g.meta["photo"], []).append((g.meta["class"], g.meta["area"], (g, p)))
    truth_main = {ph: main_upper(items) for ph, items in per_photo.items()}
    pairs = [
        (g.labels["category"], p.get("category"))
        for g, p in filter(None, truth_main.values())
        if g.labels.get("category")
    ]
    out["main_upper_category"] = accuracy(pairs)

    # end to end: the parser on the whole photo, the item extractor on its regions
    items = ItemExtractor(extractor, load_parser("lite-parser")).extract([photos[ph] for ph in truth_main])
    e2e = []
    for main, res in zip(truth_main.values(), items, strict=True):
        if main is None or not main[0].labels.get("category"):
            continue
        found = main_upper([(it.category, it.area, it) for it in (res.items or [])])
        e2e.append((main[0].labels["category"], found.attributes.get("category") if found else None))
    out["main_upper_category_end_to_end"] = accuracy(e2e)
    out["main_upper_category_end_to_end"]["no_upper_region_found"] = sum(p is None for _, p in e2e)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--models", nargs="+", default=["vestis-lite"], help="vestis-lite dirs; vestis-lite = shipped"
    )
    ap.add_argument("--data", default=None, help="data root (default: $VESTIS_DATA)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/worn.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = Path(args.data) if args.data else default_data_root()
    garments = open_dataset(f"street-garments:{root / 'street'}").split("val")
    photos = {g.meta["photo"]: g.meta["photo_image"] for g in garments}
    runs = [evaluate(m, garments, photos, args.threads) for m in args.models]

    rows = [
        ("category (crops)", lambda r: r["category"]),
        ("type (crops)", lambda r: r["type"]),
        ("colour vs garment pixels (crops)", lambda r: r["colour"]),
        ("main upper-body category (true regions)", lambda r: r["main_upper_category"]),
        ("main upper-body category (lite-parser end to end)", lambda r: r["main_upper_category_end_to_end"]),
    ]
    width = max(len(label) for label, _ in rows) + 2
    print(f"{len(garments)} val garments of {len(photos)} street photos; accuracy (coverage) [support]")
    print(f"{'':<{width}}" + "".join(f"{Path(r['model']).name:>28}" for r in runs))
    for label, get in rows:
        cells = [f"{get(r)['accuracy']:.3f} ({get(r)['coverage']:.2f}) [{get(r)['support']}]" for r in runs]
        print(f"{label:<{width}}" + "".join(f"{c:>28}" for c in cells))
    result = {
        "garments": len(garments),
        "photos": len(photos),
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "runs": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Photos of people (issue 11): the main upper-body garment's category, sleeve length and neckline.

The system as users run it: ``ItemExtractor(lite extractor, parser)`` on street/ val photos (split
by photo, as the parser is trained), against the same extractor on the whole photo (no parser,
what vestis did before photos of people were handled).

* Category: on every val photo with a label map, the main upper-body garment is the top, outerwear
  or dress class covering most pixels of the label map (classes by the parser's label map); the
  prediction is the largest item whose category is one of those (no such item: wrong).
* Sleeve length, neckline and gender: against ``benchmarks/data/street_upper_labels.csv`` (90 val
  photos labelled by eye; the outermost upper garment). Null answers count as wrong in ``accuracy``
  and are left out of ``accuracy when answered``.
* Worn gates: a head whose answers on these garments (before the gates) remove less than a third
  of the errors of always guessing the most common label is unreliable on worn garments
  (:func:`vestis.train.lite_reliability.worn_reason`); ``--write-gates`` records that in the lite
  model's config (``worn_disabled``), and ``ItemExtractor`` then nulls its fields on the garments of
  photos of people. The gates are decided on the same 90 labelled photos they are reported on:
  there are no others.
* Cost: milliseconds per photo of a person (parser + one extraction per garment) against a product
  shot through the same ``ItemExtractor`` (the parser says "product": one extraction).

Prints a table and writes benchmarks/results/people.json.

    PYTHONPATH=src .venv/bin/python benchmarks/people.py --threads 2
    PYTHONPATH=src .venv/bin/python benchmarks/people.py --threads 2 --write-gates   # → model config
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from vestis.data.base import default_data_root, open_dataset
from vestis.data.street import ClassMaps, load_street
from vestis.extract.base import load_extractor
from vestis.extract.items import ItemExtractor
from vestis.images import load_image
from vestis.models.lite_config import write_config
from vestis.models.registry import resolve_lite
from vestis.parse.base import category_value, load_parser
from vestis.parse.labels import load_label_map
from vestis.train.lite_reliability import worn_reason

REPO = Path(__file__).resolve().parents[1]
LABELS = REPO / "benchmarks/data/street_upper_labels.csv"
PARSER_OPTIONS: dict = {}
UPPER = ("top", "outerwear", "dress")


def read_labels(path: Path = LABELS) -> dict[str, dict[str, str | None]]:
    """photo id → {field: value or None (not decidable)}."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    rows = csv.DictReader(lines)
    return {row["photo"]: {k: (v or None) for k, v in row.items() if k != "photo"} for row in rows}


def main_upper(result, schema) -> tuple[dict, dict]:
    """The attributes and confidences of the largest item whose category is an upper-body one."""
    category = schema.by_role("category").name
    wanted = {category_value(schema, c) for c in UPPER}
    items = result.items or []
    upper = [it for it in items if it.attributes.get(category) in wanted]
    if not upper and result.items is None and result.attributes.get(category) in wanted:
        return result.attributes, result.confidence  # the whole photo read as one garment
    if not upper:
        return {}, {}
    best = max(upper, key=lambda it: it.area)
    return best.attributes, best.confidence


def score(truth: list, pred: list) -> dict[str, float]:
    pairs = [(t, p) for t, p in zip(truth, pred, strict=True) if t is not None]
    answered = [(t, p) for t, p in pairs if p is not None]
    return {
        "n": len(pairs),
        "accuracy": sum(t == p for t, p in pairs) / max(len(pairs), 1),
        "answered": len(answered) / max(len(pairs), 1),
        "accuracy_when_answered": sum(t == p for t, p in answered) / max(len(answered), 1),
        "predicted": dict(Counter(str(p) for _, p in pairs).most_common()),
        "truth": dict(Counter(str(t) for t, _ in pairs).most_common()),
    }


def timed(fn, *args) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="data root (default: $VESTIS_DATA)")
    ap.add_argument("--model", default=None, help="vestis-lite model directory (default: the shipped one)")
    ap.add_argument("--parser-model", default=None, help="parser model directory (default: the shipped one)")
    ap.add_argument("--products", type=int, default=100, help="H&M val product shots for the cost ratio")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/people.json"))
    ap.add_argument(
        "--write-gates",
        action="store_true",
        help="write the worn-garment gates measured here into the lite model's config.json",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = Path(args.data) if args.data else default_data_root()

    extractor = load_extractor("lite", "vestis", **({"model": args.model} if args.model else {}))
    schema = extractor.schema
    parser = load_parser("lite-parser", model=args.parser_model, **PARSER_OPTIONS)
    ungated = ItemExtractor(extractor, parser)
    ungated.worn_unreliable = {}
    systems = {
        "parser": ItemExtractor(extractor, parser),
        "parser, no worn gate": ungated,
        "whole photo": extractor,
    }
    label_map = load_label_map(parser.config.label_map)
    maps = ClassMaps(root / "street", label_map)
    upper_ids = [label_map.classes.index(c) for c in UPPER]
    photos = sorted(
        (p for p in load_street(root / "street") if p.mask is not None and p.split() == "val"),
        key=lambda p: p.id,
    )
    hand = read_labels()
    truth_cat: list = []
    truth_hand: dict[str, list] = {f: [] for f in next(iter(hand.values()))}
    fields = ("category", *truth_hand)
    preds: dict[str, dict[str, list]] = {s: {f: [] for f in fields} for s in systems}
    seconds: dict[str, float] = dict.fromkeys(systems, 0.0)
    rows: list[dict] = []  # per photo and system, for analysis
    for p in photos:
        counts = np.bincount(maps(p).ravel(), minlength=len(label_map.classes))[upper_ids]
        truth_cat.append(category_value(schema, UPPER[int(counts.argmax())]) if counts.max() > 0 else None)
        for field in truth_hand:
            truth_hand[field].append(hand.get(p.id, {}).get(field))
        image = load_image(p.image)
        for name, system in systems.items():
            result, s = timed(system.extract, image)
            seconds[name] += s
            attrs, conf = main_upper(result, schema)
            for field in preds[name]:
                preds[name][field].append(attrs.get(field))
            rows.append(
                {"photo": p.id, "system": name, "category": truth_cat[-1]}
                | {f"truth_{f}": truth_hand[f][-1] for f in truth_hand}
                | {f"pred_{f}": attrs.get(f) for f in fields}
                | {f"conf_{f}": round(conf.get(f, 0.0), 4) for f in fields}
            )

    spec = f"hm:{root / 'hm'}"
    product_images = [load_image(ex.image) for ex in open_dataset(spec).split("val")[: args.products]]
    _, product_s = timed(lambda: [systems["parser"].extract(im) for im in product_images])
    person_ms = 1000 * seconds["parser"] / len(photos)
    product_ms = 1000 * product_s / len(product_images)

    report: dict = {
        "photos": len(photos),
        "hand_labelled": sum(t is not None for t in truth_hand["sleeve_length"]),
        "threads": args.threads,
        "machine": platform.processor() or platform.machine(),
        "systems": {},
        "cost": {
            "person_ms": person_ms,
            "product_ms": product_ms,
            "ratio": person_ms / product_ms,
            "whole_photo_ms": 1000 * seconds["whole photo"] / len(photos),
        },
        "photos_detail": rows,
    }
    for name in systems:
        report["systems"][name] = {
            "category": score(truth_cat, preds[name]["category"]),
            **{f: score(truth_hand[f], preds[name][f]) for f in truth_hand},
        }
    print(f"street val: {len(photos)} photos with label maps; {report['hand_labelled']} hand-labelled")
    print(f"{'system':<21} {'field':<14} {'n':>4} {'accuracy':>9} {'answered':>9} {'acc|answered':>12}")
    for name, fields in report["systems"].items():
        for field, m in fields.items():
            print(
                f"{name:<21} {field:<14} {m['n']:>4} {m['accuracy']:>9.3f} {m['answered']:>9.3f} "
                f"{m['accuracy_when_answered']:>12.3f}"
            )
    c = report["cost"]
    print(
        f"cost: person photo {c['person_ms']:.0f} ms, product shot {c['product_ms']:.0f} ms, "
        f"ratio {c['ratio']:.2f}"
    )
    gates = {
        extractor.plans[f].head: reason
        for f in truth_hand
        if extractor.plans[f].kind == "head"
        and (reason := worn_reason(truth_hand[f], preds["parser, no worn gate"][f]))
    }
    report["worn_gates"] = gates
    print("worn gates measured here:", json.dumps(gates, indent=1) if gates else "none")
    if args.write_gates:
        model_dir = Path(args.model) if args.model else resolve_lite(None)
        extractor.config.worn_disabled = gates
        write_config(model_dir, extractor.config)
        print(f"written to {model_dir / 'config.json'}; re-run to measure with them")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

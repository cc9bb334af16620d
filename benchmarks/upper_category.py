"""Who should decide the main upper-body garment's category on a photo of a person (issue 11)?

On the street val photos with label maps (the split of ``benchmarks/parser.py``), the truth is the
top / outerwear / dress class covering most pixels of the label map (as ``benchmarks/people.py``).
``lite-parser`` finds the regions (with masks); for each top/outerwear/dress region the rules below
pick a category, and the answer is the category of the largest such region (no region: wrong):

* ``parser``: the region's class (what ``ItemExtractor`` ships);
* ``head``: vestis-lite's category head on the region's crop, restricted to the three classes;
* ``product a``: ``a·log p_parser + (1 − a)·log p_head``, with p_parser the parser's mean class
  probabilities over the region's mask;
* ``soft mass``: over all upper-body regions, the class with the most area-weighted parser
  probability (no "largest region" choice).

It also counts, for the ``parser`` rule's errors, how often the right class was among the regions
(the largest region was the wrong one). Prints a table and writes benchmarks/results/upper_category.json.

    PYTHONPATH=src .venv/bin/python benchmarks/upper_category.py --threads 2
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vestis.data.base import default_data_root
from vestis.data.street import ClassMaps, load_street
from vestis.images import load_image
from vestis.models.lite_config import LiteModelConfig
from vestis.models.lite_runtime import lite_runtime
from vestis.models.registry import resolve_lite
from vestis.parse.base import load_parser
from vestis.parse.labels import CLASSES, load_label_map

REPO = Path(__file__).resolve().parents[1]
UPPER = ("top", "outerwear", "dress")


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def regions_of(photo, parser, runtime, config: LiteModelConfig) -> list[dict]:
    """Each upper-body region: its class, area, parser and head probabilities over UPPER."""
    image = load_image(photo.image)
    parsed = parser.parse(image)
    upper = [r for r in parsed.regions if r.category in UPPER] if parsed.kind == "person" else []
    if not upper:
        return []
    cmap, probs = parser.class_maps([image])[0]
    _, logits = runtime.forward([r.crop(image) for r in upper])
    vocab = config.heads["category"]
    head = softmax(logits["category"] / config.temperatures.get("category", 1.0))
    head = head[:, [vocab.index(c) for c in UPPER]]
    head /= head.sum(axis=1, keepdims=True)
    rows = []
    for r, ph in zip(upper, head, strict=True):
        small = np.asarray(Image.fromarray(r.mask).resize((cmap.shape[1], cmap.shape[0]), Image.NEAREST))
        pp = probs[[CLASSES.index(c) for c in UPPER]][:, small].mean(axis=1) if small.any() else np.ones(3)
        rows.append(
            {"class": r.category, "area": r.area, "parser": (pp / pp.sum()).tolist(), "head": ph.tolist()}
        )
    return rows


def accuracy(photos: list[dict], rule: Callable[[list[dict]], str]) -> float:
    labelled = [p for p in photos if p["truth"] is not None]
    return sum(bool(p["regions"]) and rule(p["regions"]) == p["truth"] for p in labelled) / len(labelled)


def largest(rule: Callable[[dict], str]) -> Callable[[list[dict]], str]:
    return lambda regions: rule(max(regions, key=lambda r: r["area"]))


def product(a: float) -> Callable[[dict], str]:
    def pick(r: dict) -> str:
        score = a * np.log(np.array(r["parser"]) + 1e-6) + (1 - a) * np.log(np.array(r["head"]) + 1e-6)
        return UPPER[int(np.argmax(score))]

    return pick


def soft_mass(regions: list[dict]) -> str:
    return UPPER[int(np.argmax(sum(np.array(r["parser"]) * r["area"] for r in regions)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="data root (default: $VESTIS_DATA)")
    ap.add_argument("--model", default=None, help="vestis-lite model directory (default: the shipped one)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/upper_category.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = Path(args.data) if args.data else default_data_root()
    parser = load_parser("lite-parser", masks=True)
    label_map = load_label_map(parser.config.label_map)
    maps = ClassMaps(root / "street", label_map)
    model_dir = resolve_lite(args.model)
    runtime = lite_runtime(model_dir, "auto", args.threads)
    config = LiteModelConfig.read(model_dir)
    upper_ids = [label_map.classes.index(c) for c in UPPER]
    photos = []
    for p in sorted(load_street(root / "street"), key=lambda p: p.id):
        if p.mask is None or p.split() != "val":
            continue
        counts = np.bincount(maps(p).ravel(), minlength=len(label_map.classes))[upper_ids]
        truth = UPPER[int(counts.argmax())] if counts.max() > 0 else None
        photos.append({"photo": p.id, "truth": truth, "regions": regions_of(p, parser, runtime, config)})

    rules: dict[str, Callable[[list[dict]], str]] = {
        "parser": largest(lambda r: r["class"]),
        "head": largest(lambda r: UPPER[int(np.argmax(r["head"]))]),
        **{f"product a={a}": largest(product(a)) for a in (0.25, 0.5, 0.75)},
        "soft mass": soft_mass,
    }
    table = {name: accuracy(photos, rule) for name, rule in rules.items()}
    wrong = [p for p in photos if p["truth"] and p["regions"] and rules["parser"](p["regions"]) != p["truth"]]
    among = sum(p["truth"] in {r["class"] for r in p["regions"]} for p in wrong)
    labelled = sum(p["truth"] is not None for p in photos)
    print(f"{labelled} street val photos with an upper-body garment")
    for name, acc in table.items():
        print(f"{name:<16} {acc:.3f}")
    missing = sum(not p["regions"] for p in photos if p["truth"])
    print(
        f"parser errors: {len(wrong)} wrong region class, {among} of them with the right class "
        "among the regions;"
    )
    print(f"{missing} photos with no upper-body region")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "photos": labelled,
                "accuracy": table,
                "parser_errors": len(wrong),
                "right_class_among_regions": among,
                "no_region": missing,
                "model": str(model_dir),
                "detail": photos,
            },
            indent=1,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

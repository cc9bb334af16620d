"""Label reading benchmark: brand and size accuracy of OCR + rules on rendered label photos.

    .venv/bin/python benchmarks/labels.py --n 200

Labels come from :mod:`vestis.data.synthetic_labels` (real fonts, fabric backgrounds, rotation,
perspective, blur, occlusion; 70% of brands in the lexicon, 30% invented). Prints a table and
writes benchmarks/results/labels.json. Real label photos are still to be measured.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from vestis.data.synthetic_labels import render_label
from vestis.extract.labels import LabelReader, read_brand, read_size

HERE = Path(__file__).parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--threshold", type=float, default=0.5, help="confidence below which an answer is null")
    ap.add_argument("--out", default=str(HERE / "results" / "labels.json"))
    args = ap.parse_args()
    reader = LabelReader()
    reader.read(render_label(0).image)  # load the OCR models outside the timing
    rows = []
    seconds = 0.0
    for seed in range(args.n):
        label = render_label(seed)
        t0 = time.perf_counter()
        lines = reader.read(label.image)
        seconds += time.perf_counter() - t0
        brand, bconf = read_brand(lines)
        size, sconf = read_size(lines)
        brand = brand if bconf >= args.threshold else None
        size = size if sconf >= args.threshold else None
        rows.append(
            {
                "seed": seed,
                "in_lexicon": label.in_lexicon,
                "hard": label.hard,
                "brand": label.brand,
                "brand_pred": brand,
                "size": label.size,
                "size_pred": size,
                "brand_ok": brand is not None and _same(brand, label.brand),
                "size_ok": size == label.size,
            }
        )
    groups = {
        "all": rows,
        "clean": [r for r in rows if not r["hard"]],
        "hard": [r for r in rows if r["hard"]],
        "brand in lexicon": [r for r in rows if r["in_lexicon"]],
        "brand not in lexicon": [r for r in rows if not r["in_lexicon"]],
    }
    table = {}
    for name, rs in groups.items():
        answered = [r for r in rs if r["brand_pred"] is not None]
        table[name] = {
            "labels": len(rs),
            "brand_accuracy": _mean(r["brand_ok"] for r in rs),
            "brand_precision": _mean(r["brand_ok"] for r in answered),
            "brand_answered": _mean(r["brand_pred"] is not None for r in rs),
            "size_accuracy": _mean(r["size_ok"] for r in rs),
            "size_answered": _mean(r["size_pred"] is not None for r in rs),
        }
    result = {
        "n": args.n,
        "threshold": args.threshold,
        "ocr_ms_per_label": round(1000 * seconds / args.n, 1),
        "groups": table,
        "errors": [r for r in rows if not (r["brand_ok"] and r["size_ok"])][:40],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False))
    header = f"{'group':<22}{'n':>5}{'brand acc':>11}{'brand prec':>12}{'answered':>10}{'size acc':>10}"
    print(header + "\n" + "─" * len(header))
    for name, m in table.items():
        print(
            f"{name:<22}{m['labels']:>5}{m['brand_accuracy']:>11.3f}{m['brand_precision']:>12.3f}"
            f"{m['brand_answered']:>10.3f}{m['size_accuracy']:>10.3f}"
        )
    print(f"OCR {result['ocr_ms_per_label']} ms/label; wrote {args.out}")


def _same(a: str, b: str) -> bool:
    from vestis.extract.labels import _key

    return _key(a) == _key(b)


def _mean(values) -> float:
    values = list(values)
    return round(sum(values) / len(values), 3) if values else 0.0


if __name__ == "__main__":
    main()

"""Material accuracy on Mango by article-code prefix (a season proxy), validation against training.

The issue reports material accuracy falling well below the validation figure on Mango items of a
later season. No later season is in the data here; the first two digits of Mango's article codes
group the items into cohorts (41, 43, 44, 51, 53, 57), used here as the nearest proxy. Training
rows are subsampled (every 8th) to show how far the heads fit what they saw.

Prints a table and writes benchmarks/results/season_shift.json.

    PYTHONPATH=src .venv/bin/python benchmarks/season_shift.py --threads 2
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from vestis.data.base import default_data_root, open_dataset
from vestis.extract.base import load_extractor
from vestis.schema import load_schema

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="data root (default: $VESTIS_DATA)")
    ap.add_argument("--field", default="material")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/season_shift.json"))
    args = ap.parse_args(argv)
    root = Path(args.data) if args.data else default_data_root()
    schema = load_schema("vestis")
    ds = open_dataset(f"mango:{root / 'mango'}", schema=schema)
    lite = load_extractor("lite", schema, threads=args.threads)
    report: dict = {"field": args.field, "splits": {}}
    for split, step in (("val", 1), ("train", 8)):
        examples = [e for e in ds.split(split) if e.labels.get(args.field)][::step]
        results = lite.extract([e.image for e in examples])
        cohorts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        confusions: Counter = Counter()
        for e, r in zip(examples, results, strict=True):
            truth, pred = e.labels[args.field], r.attributes.get(args.field)
            cohort = cohorts[str(e.meta.get("cod_modelo_color", e.id))[:2]]
            cohort[0] += 1
            cohort[1] += pred == truth
            if pred != truth:
                confusions[f"{truth} → {pred}"] += 1
        report["splits"][split] = {
            "n": len(examples),
            "accuracy": sum(c[1] for c in cohorts.values()) / max(len(examples), 1),
            "by_code_prefix": {k: {"n": n, "accuracy": ok / n} for k, (n, ok) in sorted(cohorts.items())},
            "confusions": dict(confusions.most_common(8)),
        }
    print(f"{args.field} accuracy on Mango by article-code prefix")
    print(f"{'split':<6} {'prefix':<7} {'n':>5} {'accuracy':>9}")
    for split, r in report["splits"].items():
        for prefix, m in r["by_code_prefix"].items():
            print(f"{split:<6} {prefix:<7} {m['n']:>5} {m['accuracy']:>9.3f}")
        print(f"{split:<6} {'all':<7} {r['n']:>5} {r['accuracy']:>9.3f}   errors: {r['confusions']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Extraction benchmark: every task of extract_tasks.yaml, a per-field table, targets checked.

    .venv/bin/python benchmarks/extract.py                 # all tasks, whole validation splits
    .venv/bin/python benchmarks/extract.py --only hm-lite --limit 500
    .venv/bin/python benchmarks/extract.py --only hm-lite --model runs/lite/model --runs runs/bench-new

Each task writes runs/bench/<task>/{metrics.json,predictions.jsonl,report.html} (resumable);
the summary goes to benchmarks/results/extract.json.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import yaml

from vestis.data import open_dataset
from vestis.eval.extract import ExtractEvaluator
from vestis.extract.base import create_extractor
from vestis.schema import load_schema

HERE = Path(__file__).parent
KEY_FIELDS = load_schema("vestis").roles.mentionable  # the fields the shipped table reports


def metric_of(metrics: dict, field: str, metric: str):
    if field == "$valid_json":
        return metrics.get("valid_json", {}).get(metric)
    return metrics["fields"].get(field, {}).get(metric)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=str(HERE / "extract_tasks.yaml"))
    ap.add_argument("--only", nargs="*", help="task names to run (default: all)")
    ap.add_argument("--limit", type=int, default=None, help="at most N validation examples per task")
    ap.add_argument("--runs", default="runs/bench")
    ap.add_argument("--out", default=str(HERE / "results" / "extract.json"))
    ap.add_argument("--fresh", action="store_true", help="recompute predictions instead of resuming")
    ap.add_argument("--model", default=None, help="vestis-lite dir for the lite tasks (default: shipped)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    spec = yaml.safe_load(Path(args.tasks).read_text())
    tasks = [t for t in spec["tasks"] if not args.only or t["name"] in args.only]
    results: dict[str, dict] = {}
    for task in tasks:
        schema = load_schema(task.get("schema", "vestis"))
        ds = open_dataset(task["dataset"], schema=schema)
        options = dict(task.get("options", {}))
        if args.model and task["backend"] == "lite":
            options["model"] = args.model
        extractor = create_extractor(task["backend"], schema, **options)
        evaluator = ExtractEvaluator(
            ds, limit=args.limit, out_dir=Path(args.runs) / task["name"], resume=not args.fresh
        )
        evaluator(extractor)
        results[task["name"]] = evaluator.result

    names = list(results)
    print(f"\n{'field (accuracy; pattern: macro-F1)':<36}" + "".join(f"{n:>20}" for n in names))
    for field in KEY_FIELDS:
        metric = "macro_f1" if field == "pattern" else "accuracy"
        cells = [metric_of(results[n], field, metric) for n in names]
        print(f"{field:<36}" + "".join(f"{'—' if c is None else f'{c:.3f}':>20}" for c in cells))
    for label, getter in (
        ("weighted field score", lambda m: m.get("weighted_score")),
        ("valid JSON (strict)", lambda m: m.get("valid_json", {}).get("strict")),
        ("images/s", lambda m: m.get("throughput", {}).get("images_per_s")),
        ("examples", lambda m: m.get("n")),
    ):
        cells = [getter(results[n]) for n in names]
        print(
            f"{label:<36}"
            + "".join(f"{'—' if c is None else f'{c:.3f}' if isinstance(c, float) else c:>20}" for c in cells)
        )
    checks = []
    for t in spec.get("targets", []):
        if t["task"] not in results:
            continue
        value = metric_of(results[t["task"]], t["field"], t["metric"])
        ok = value is not None and value >= t["min"]
        checks.append({**t, "value": value, "pass": ok})
        print(
            f"{'PASS' if ok else 'MISS'}  {t['task']} {t['field']} {t['metric']} = "
            f"{'—' if value is None else f'{value:.3f}'} (target ≥ {t['min']})"
        )
    summary = {
        "limit": args.limit,
        "tasks": {
            n: {
                "dataset": r["dataset"],
                "backend": r["backend"],
                "n": r.get("n"),
                "weighted_score": r.get("weighted_score"),
                "valid_json": r.get("valid_json"),
                "throughput": r.get("throughput"),
                "fields": {
                    f: {
                        k: v
                        for k, v in m.items()
                        if k in ("accuracy", "macro_f1", "support", "coverage", "micro_f1", "samples_f1")
                    }
                    for f, m in r["fields"].items()
                },
            }
            for n, r in results.items()
        },
        "targets": checks,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""vestis-vlm-tiny's stages on one validation subset: field accuracy and valid JSON, constrained and free.

Every model runs through the extraction harness every backend goes through
(:class:`~vestis.eval.extract.ExtractEvaluator`: the first ``--limit`` shots of the dataset's
validation split, batched, greedy), once with the schema's grammar and once decoding freely;
``--lite`` adds vestis-lite on the same shots. Predictions go to ``RUNS/<label>-<mode>/``
(resumable); the summary to benchmarks/results/vlm_tiny_eval.json.

    .venv/bin/python benchmarks/vlm_tiny_eval.py --limit 48 --threads 2 --lite \\
        untrained=runs/vlm-tiny-untrained aligned=runs/vlm-tiny-align-400/model sft=runs/vlm-tiny-sft/model
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import torch

from vestis.data import open_dataset
from vestis.eval.extract import ExtractEvaluator, read_predictions, score_records
from vestis.extract.base import create_extractor
from vestis.schema import load_schema

MODES = {"constrained": True, "free": False}


def row(result: dict) -> dict:
    """What the table reports of one run."""
    return {
        "n": result["n"],
        "weighted_score": result["weighted_score"],
        "denali_weighted_score": result["denali"]["weighted_score"],
        "valid_json": result["valid_json"]["strict"],
        "valid_json_after_repair": result["valid_json"]["after_repair"],
        "json_parses": result["valid_json"].get("parses"),
        "samples_per_s": result["throughput"]["images_per_s"],
        "accuracy": {f: m["accuracy"] for f, m in result["fields"].items() if m.get("support")},
    }


def rescore(ds, schema, args, name: str) -> dict:
    """One earlier run's row, scored again from its predictions on the first ``--limit`` shots."""
    out = Path(args.runs) / name
    wanted = [ex.id for ex in ds.split("val")[: args.limit]]
    by_id = {r["id"]: r for r in read_predictions(out / "predictions.jsonl")}
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise SystemExit(f"{out}: {len(missing)} of the first {args.limit} shots were not predicted")
    result = score_records(schema, [by_id[i] for i in wanted], embeddings=not args.no_embeddings)
    result["throughput"] = json.loads((out / "metrics.json").read_text())["throughput"]
    return row(result)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "models", nargs="*", help="LABEL=DIR pairs (DIR: a VLM directory; 'shipped' for the default)"
    )
    ap.add_argument("--dataset", default="hm")
    ap.add_argument("--limit", type=int, default=48, help="the first N validation shots")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (on a GPU the vlm backend loads bf16)")
    ap.add_argument("--max-new-tokens", type=int, default=200)
    ap.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    ap.add_argument("--lite", action="store_true", help="also vestis-lite on the same shots")
    ap.add_argument(
        "--no-embeddings",
        action="store_true",
        help="score free text by string match only (no MiniLM; rescore later from the runs' predictions)",
    )
    ap.add_argument(
        "--int8", action="store_true", help="also each model with quantization=int8 (labelled LABEL-int8)"
    )
    ap.add_argument(
        "--int8-float",
        nargs="+",
        metavar="NAME",
        help="also each model with quantization=int8 and these layers left in float (int8_float; "
        "labelled LABEL-int8f)",
    )
    ap.add_argument(
        "--rescore",
        action="store_true",
        help="load no model: score the predictions already in --runs (e.g. a GPU run's, with MiniLM here), "
        "keeping each run's measured samples/s",
    )
    ap.add_argument("--runs", default="runs/vlm-tiny-eval")
    ap.add_argument("--out", default="benchmarks/results/vlm_tiny_eval.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    schema = load_schema("vestis")
    ds = open_dataset(args.dataset, schema=schema)
    jobs = []
    for pair in args.models:
        label, _, directory = pair.partition("=")
        variants = [("", {})]
        if args.int8:
            variants.append(("-int8", {"quantization": "int8"}))
        if args.int8_float:
            variants.append(("-int8f", {"quantization": "int8", "int8_float": args.int8_float}))
        for suffix, precision in variants:
            for mode in args.modes:
                options = {
                    "model": None if directory in ("", "shipped") else directory,
                    "constrained": MODES[mode],
                    "max_new_tokens": args.max_new_tokens,
                    "batch_size": args.batch,
                    "device": args.device,
                    **precision,
                }
                jobs.append((f"{label}{suffix}-{mode}", "vlm", options))
    if args.lite:
        jobs.append(("lite", "lite", {}))
    results = {}
    load_before = os.getloadavg()
    for name, backend, options in jobs:
        if args.rescore:
            results[name] = {"backend": backend, "options": options, **rescore(ds, schema, args, name)}
            continue
        evaluator = ExtractEvaluator(
            ds, limit=args.limit, out_dir=Path(args.runs) / name, embeddings=not args.no_embeddings
        )
        evaluator(create_extractor(backend, schema, **options))
        results[name] = {"backend": backend, "options": options, **row(evaluator.result)}
        r = results[name]
        print(
            f"{name:>22}: weighted {r['weighted_score']:.3f}, valid JSON {r['valid_json']:.3f}, "
            f"{r['samples_per_s']:.2f} samples/s",
            flush=True,
        )
    summary = {
        "dataset": args.dataset,
        "split": "val",
        "limit": args.limit,
        "batch": args.batch,
        "threads": args.threads,
        "max_new_tokens": args.max_new_tokens,
        "device": torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu",
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "runs": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    fields = list(schema.fields)
    names = list(results)
    print(f"\n{'':<22}" + "".join(f"{n:>18}" for n in names))
    for label, get in (
        *((f, lambda r, f=f: r["accuracy"].get(f)) for f in fields),
        ("weighted score", lambda r: r["weighted_score"]),
        ("Denali weighted", lambda r: r["denali_weighted_score"]),
        ("valid JSON", lambda r: r["valid_json"]),
        ("valid after repair", lambda r: r["valid_json_after_repair"]),
        ("parses as JSON", lambda r: r.get("json_parses")),
        ("samples/s", lambda r: r["samples_per_s"]),
    ):
        cells = [get(results[n]) for n in names]
        print(f"{label:<22}" + "".join(f"{'—' if c is None else f'{c:.3f}':>18}" for c in cells))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

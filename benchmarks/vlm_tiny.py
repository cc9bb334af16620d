"""vestis-vlm-tiny through the vlm backend on CPU: load time and samples/s, constrained and free.

Real H&M product photos (``../shared/data/hm/images``), the vestis schema, greedy decoding, one
batch of warm-up (grammar compiled, prompt prefix computed) before timing. Prints a table and
writes benchmarks/results/vlm_tiny.json with the machine's load average (the CPU is shared).

    .venv/bin/python benchmarks/vlm_tiny.py --n 32 --batch 8 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from vestis.extract.base import create_extractor
from vestis.images import is_image_path
from vestis.schema import load_schema

SHORT_PROMPT = "Describe the garment in the image as a JSON object (vestis schema)."
# mode → backend options: constrained with fast-forward (the default), constrained one step per
# token, free decoding
MODES = {
    "constrained": {"constrained": True},
    "stepwise": {"constrained": True, "fast_forward": False},
    "free": {"constrained": False},
}


def measure(extractor, schema, paths: list[str], batch: int) -> dict:
    extractor.extract(paths[:batch])  # warm-up: grammar compiled, shared prompt prefix computed
    steps = generate = mask = 0.0
    results = []
    t0 = time.perf_counter()
    for start in range(0, len(paths), batch):
        results += extractor.extract(paths[start : start + batch])
        steps += extractor.last_stats["steps"]
        generate += extractor.last_stats["generate_seconds"]
        mask += extractor.last_stats["mask_seconds"]
    seconds = time.perf_counter() - t0
    n = len(results)
    return {
        "samples_per_s": n / seconds,
        "seconds": seconds,
        "generate_seconds": generate,
        "mask_seconds": mask,
        "steps": steps,
        "completion_tokens_mean": sum(r.usage["completion_tokens"] for r in results) / n,
        "prompt_tokens": results[0].usage["prompt_tokens"],
        "valid_json": sum(r.valid_raw for r in results) / n,
        "strict": sum(isinstance(r.raw, str) and schema.validate(r.raw).strict for r in results) / n,
        "example": results[0].raw,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data = os.environ.get("VESTIS_DATA", "../shared/data")
    ap.add_argument("--images", default=os.path.join(data, "hm/images"))
    ap.add_argument("--model", default=None, help="VLM directory or id (default: vestis-vlm-tiny)")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=200)
    ap.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    ap.add_argument("--prompts", nargs="*", default=["schema", "short"], choices=["schema", "short"])
    ap.add_argument("--out", default="benchmarks/results/vlm_tiny.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths = sorted(str(p) for p in Path(args.images).iterdir() if is_image_path(p))[: args.n]
    if not paths:
        raise SystemExit(f"no images in {args.images} (the H&M set of ../shared/data, see its README)")
    schema = load_schema("vestis")
    load_before = os.getloadavg()
    rows = []
    load_seconds = None
    for prompt in args.prompts:
        for mode in args.modes:
            t0 = time.perf_counter()
            extractor = create_extractor(
                "vlm",
                schema,
                model=args.model,
                device="cpu",
                batch_size=args.batch,
                **MODES[mode],
                max_new_tokens=args.max_new_tokens,
                prompt=SHORT_PROMPT if prompt == "short" else None,
            )
            load_seconds = load_seconds or time.perf_counter() - t0
            row = {"prompt": prompt, "mode": mode, **measure(extractor, schema, paths, args.batch)}
            rows.append(row)
            print(
                f"{prompt:>7} {mode:>12}: {row['samples_per_s']:.2f} samples/s, "
                f"prompt {row['prompt_tokens']} tokens, {row['completion_tokens_mean']:.0f} generated, "
                f"{row['steps'] / row['generate_seconds']:.1f} steps/s, mask {row['mask_seconds']:.1f}s, "
                f"valid {row['valid_json']:.0%}, strict {row['strict']:.0%}"
            )
    result = {
        "model": args.model or "vestis-vlm-tiny",
        "n": len(paths),
        "batch": args.batch,
        "threads": args.threads,
        "load_seconds_first_in_process": load_seconds,
        "cpu": platform.processor() or platform.machine(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    after = os.getloadavg()[0]
    print(f"load {load_seconds:.1f}s; load average {load_before[0]:.1f} → {after:.1f}; {args.out}")


if __name__ == "__main__":
    main()

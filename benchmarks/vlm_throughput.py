"""Constrained-decoding throughput of a vlm backend model (CPU or GPU), one speed-up at a time.

Each row adds one change to the row before it, on the same validation shots, batched and greedy,
so its gain is its own; every row's answers are compared with the row before's at the same batch
size (the prompt and the int8 rows may change them, the attention and width rows must not); ``--rows`` runs
some of them:

1. ``full``: the schema's full prompt, float32 weights, transformers' ``sdpa`` attention;
2. ``+compact``: the compact prompt (``prompt_style=compact``);
3. ``+sdpa_gqa``: grouped key/value heads read by torch itself (:mod:`vestis.models.attention`);
4. ``+median``: each step feeds at most the batch's median backlog of tokens (``chunk_width=median``;
   the rows before feed the longest, as a GPU does);
5. ``+int8``: the language model's linear layers in int8 (``quantization=int8``);
6. ``int8_float``: instead of row 5, int8 but the MLPs' output layers (``int8_float=[down_proj]``).

Every row has the in-place cache and drops finished rows (:mod:`vestis.extract.backends.vlm_decode`).

Timing starts after one warm-up batch; images are decoded beforehand. Writes
benchmarks/results/vlm_throughput.json. On a GPU (``--device cuda``) the weights are bf16 and the
int8 row does not apply.

    .venv/bin/python benchmarks/vlm_throughput.py --limit 32 --batch 8 16 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from PIL import Image

from vestis.data import open_dataset
from vestis.extract.base import create_extractor
from vestis.models.attention import NAME as GROUPED
from vestis.schema import load_schema

INT8 = {"prompt_style": "compact", "chunk_width": "median", "quantization": "int8"}
ROWS = (
    ("full", {"prompt_style": "full", "chunk_width": "longest"}, "sdpa"),
    ("+compact", {"prompt_style": "compact", "chunk_width": "longest"}, "sdpa"),
    ("+sdpa_gqa", {"prompt_style": "compact", "chunk_width": "longest"}, GROUPED),
    ("+median", {"prompt_style": "compact", "chunk_width": "median"}, GROUPED),
    ("+int8", INT8, GROUPED),
    ("int8_float", {**INT8, "int8_float": ["down_proj"]}, GROUPED),
)


def measure(extractor, photos: list[Image.Image], batch: int) -> tuple[float, list[str], dict]:
    """Seconds for all ``photos`` in batches of ``batch``, the raw answers and the decoding counts."""
    answers, steps, tokens = [], 0, 0
    start = time.perf_counter()
    for at in range(0, len(photos), batch):
        results = extractor._generate([[im] for im in photos[at : at + batch]])
        answers += [r.raw for r in results]
        steps += extractor.last_stats["steps"]
        tokens += sum(r.usage["completion_tokens"] for r in results)
    return time.perf_counter() - start, answers, {"steps": steps, "answer_tokens": tokens}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="VLM directory (default: the shipped vestis-vlm-tiny)")
    ap.add_argument("--dataset", default="hm")
    ap.add_argument("--limit", type=int, default=32, help="the first N validation shots")
    ap.add_argument("--batch", type=int, nargs="+", default=[8, 16])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (on a GPU the vlm backend loads bf16)")
    ap.add_argument("--max-new-tokens", type=int, default=200)
    ap.add_argument("--rows", nargs="+", default=[r[0] for r in ROWS], choices=[r[0] for r in ROWS])
    ap.add_argument("--out", default="benchmarks/results/vlm_throughput.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    schema = load_schema("vestis")
    shots = open_dataset(args.dataset, schema=schema).split("val")[: args.limit]
    photos = [Image.open(ex.image).convert("RGB") for ex in shots]
    rows, previous = [], {}
    load_before = os.getloadavg()
    for label, options, attention in (r for r in ROWS if r[0] in args.rows):
        ex = create_extractor(
            "vlm", schema, model=args.model, device=args.device, max_new_tokens=args.max_new_tokens, **options
        )
        ex.model.set_attn_implementation({"text_config": attention})
        ex._generate([[photos[0]]])  # warm-up
        for batch in args.batch:
            seconds, answers, counts = measure(ex, photos, batch)
            row = {
                "row": label,
                "batch": batch,
                "samples_per_s": round(len(photos) / seconds, 3),
                "seconds": round(seconds, 2),
                "same_answers_as_row_before": (
                    sum(a == b for a, b in zip(answers, previous[batch], strict=True))
                    if batch in previous
                    else None
                ),
                "prompt_tokens": len(ex.tokenizer(ex.prompt_text(1))["input_ids"]),
                **counts,
            }
            rows.append(row)
            previous[batch] = answers
            print(
                f"{label:>10} batch {batch:>3}: {row['samples_per_s']:.3f} samples/s, "
                f"{row['same_answers_as_row_before']}/{len(photos)} answers as the row before, "
                f"{row['prompt_tokens']} prompt tokens, {counts['steps']} steps",
                flush=True,
            )
    summary = {
        "model": args.model or "shipped vestis-vlm-tiny",
        "dataset": args.dataset,
        "shots": len(photos),
        "threads": args.threads,
        "max_new_tokens": args.max_new_tokens,
        "device": torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu",
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

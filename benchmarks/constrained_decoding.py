"""Constrained decoding: grammar compile time, per-token overhead and valid-JSON rate, per schema and engine.

A benchmark, not a test. For each schema (the vestis, florence and denali presets and a user YAML)
and each grammar engine (llguidance, xgrammar) it measures

- the engine's one-off tokenizer set-up and the grammar compile time of the schema (uncached);
- generation time per token, constrained and unconstrained (the same number of steps, so the
  prompt's prefill weighs the same), and the masking time per token (the logits processor
  alone), on a tiny random Qwen2-VL built in-process (weights are random: these are overhead
  measurements, not model quality);
- the rate of answers that are strictly valid JSON for the schema, and that parse as JSON at all,
  with and without the grammar;
- what the engine cannot enforce for the schema.

Prints a table and writes benchmarks/results/constrained_decoding.json.

    .venv/bin/python benchmarks/constrained_decoding.py                 # CPU, tiny model
    .venv/bin/python benchmarks/constrained_decoding.py --device cuda --hidden 1024 --layers 8
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tiny checkpoint builders live with the tests

from tests.tiny_vlm import tiny_vlm  # noqa: E402

from vestis.extract.base import load_extractor  # noqa: E402
from vestis.extract.grammar import _ENGINE_CLASSES, ENGINES  # noqa: E402
from vestis.schema import Schema, load_schema  # noqa: E402

log = logging.getLogger("constrained_decoding")
USER_SCHEMA = """
name: user-shop
fields:
  kind: {kind: single, nullable: false, values: [tee, {name: hoodie, synonyms: [hooded top]}, coat, dress]}
  colour: {kind: single, values: [black, white, red, blue, green]}
  tags: {kind: multi, values: [cotton, recycled, vintage, organic, handmade]}
  sku: {kind: text, max_length: 12, pattern: "^[A-Z0-9-]+$"}
  notes: {kind: text, max_length: 40}
"""


def schemas(tmp: Path) -> list[Schema]:
    path = tmp / "user-shop.yaml"
    path.write_text(USER_SCHEMA)
    return [load_schema("vestis"), load_schema("florence"), load_schema("denali"), load_schema(str(path))]


def photos(n: int) -> list[Image.Image]:
    colours = [(200, 20, 30), (20, 30, 90), (240, 240, 240), (30, 150, 60)]
    return [Image.new("RGB", (64 + 16 * (i % 3), 80), colours[i % 4]) for i in range(n)]


def run(extractor, images, schema: Schema) -> dict:
    t0 = time.perf_counter()
    results = extractor.extract(images)
    seconds = time.perf_counter() - t0
    stats = extractor.last_stats
    steps = max(stats["steps"], 1)
    parsed = 0
    for r in results:
        with contextlib.suppress(ValueError):
            parsed += isinstance(json.loads(r.raw), dict)
    return {
        "seconds": round(seconds, 3),
        "steps": stats["steps"],
        "ms_per_step": round(1000 * stats["generate_seconds"] / steps, 3),
        "mask_ms_per_step": round(1000 * stats["mask_seconds"] / steps, 3),
        "strict_valid_rate": sum(schema.validate(r.raw).strict for r in results) / len(results),
        "json_parse_rate": parsed / len(results),
        "valid_after_repair_rate": sum(r.error is None for r in results) / len(results),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--engines", nargs="+", default=list(ENGINES))
    parser.add_argument("--images", type=int, default=4, help="photos per run (one batch)")
    parser.add_argument("--hidden", type=int, default=256, help="language-model width of the tiny model")
    parser.add_argument("--layers", type=int, default=4, help="language-model depth of the tiny model")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/constrained_decoding.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        model_dir = tiny_vlm("qwen2_vl", tmp_path / "qwen2_vl", hidden=args.hidden, layers=args.layers)
        images = photos(args.images)
        rows, vocab = [], 0
        for schema in schemas(tmp_path):
            for engine_name in args.engines:
                ex = load_extractor(
                    "vlm",
                    schema,
                    model=str(model_dir),
                    device=args.device,
                    engine=engine_name,
                    max_new_tokens=args.max_new_tokens,
                    batch_size=args.images,
                )
                vocab = ex.vocab_size
                t0 = time.perf_counter()
                engine = _ENGINE_CLASSES[engine_name](ex.tokenizer, ex.vocab_size, ex.eos_ids)
                setup = time.perf_counter() - t0
                t0 = time.perf_counter()
                engine._compile(schema)
                compile_s = time.perf_counter() - t0
                run(ex, images[:1], schema)  # warm-up (and the cached compile)
                constrained = run(ex, images, schema)
                # The same number of steps without the grammar, so the per-token times compare.
                ex.constrained, ex.max_new_tokens = False, max(constrained["steps"], 1)
                free = run(ex, images, schema)
                row = {
                    "schema": schema.name,
                    "fields": len(schema.fields),
                    "engine": engine_name,
                    "tokenizer_setup_s": round(setup, 4),
                    "compile_s": round(compile_s, 4),
                    "constrained": constrained,
                    "unconstrained": free,
                    "overhead_ms_per_token": round(constrained["ms_per_step"] - free["ms_per_step"], 3),
                    "unsupported": engine.unsupported(schema),
                }
                rows.append(row)
                log.info("%s %s done", schema.name, engine_name)
    header = (
        f"{'schema':<10} {'engine':<11} {'setup s':>8} {'compile s':>9} {'ms/tok free':>11} "
        f"{'ms/tok constr':>13} {'mask ms/tok':>11} {'strict free':>11} {'strict constr':>13} unsupported"
    )
    print(header)
    for r in rows:
        c, f = r["constrained"], r["unconstrained"]
        print(
            f"{r['schema']:<10} {r['engine']:<11} {r['tokenizer_setup_s']:>8.3f} {r['compile_s']:>9.4f} "
            f"{f['ms_per_step']:>11.2f} {c['ms_per_step']:>13.2f} {c['mask_ms_per_step']:>11.3f} "
            f"{f['strict_valid_rate']:>11.0%} {c['strict_valid_rate']:>13.0%} {len(r['unsupported'])}"
        )
    report = {
        "machine": {
            "device": args.device,
            "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
        },
        "model": {
            "family": "qwen2_vl (tiny, random weights)",
            "hidden": args.hidden,
            "layers": args.layers,
            "vocab": vocab,
        },
        "images_per_batch": args.images,
        "max_new_tokens": args.max_new_tokens,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Throughput of vestis-lite extract + embed on this machine's CPU (a benchmark, not a test).

Measures, on real product photos, images/s for: decode + preprocess alone, the model
alone (torch eager, ONNX Runtime), and the whole ``extract`` path (one forward pass gives
attributes and the embedding). Prints a table and writes benchmarks/results/throughput.json.

    .venv/bin/python benchmarks/throughput.py --images ../shared/data/hm/images --n 512
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from vestis.colour import colour_features
from vestis.extract.base import create_extractor
from vestis.images import is_image_path, load_image
from vestis.models.preprocess import letterbox_batch, normalise, to_array
from vestis.models.registry import resolve_lite
from vestis.schema import load_schema


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("nan")


def timed(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--images", default=os.path.join(os.environ.get("VESTIS_DATA", "../shared/data"), "hm/images")
    )
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--model", default=None, help="vestis-lite directory (default: shipped)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", default="benchmarks/results/throughput.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths = sorted(str(p) for p in Path(args.images).iterdir() if is_image_path(p))[: args.n]
    if not paths:
        raise SystemExit(f"no images in {args.images}")
    model_dir = resolve_lite(args.model)
    schema = load_schema("vestis")
    extractor = create_extractor("lite", schema, model=str(model_dir), threads=args.threads, runtime="torch")
    onnx_ex = create_extractor("lite", schema, model=str(model_dir), threads=args.threads, runtime="onnx")
    size = extractor.config.image_size
    images = [load_image(p) for p in paths]
    batches = [images[i : i + args.batch] for i in range(0, len(images), args.batch)]
    boxed = [letterbox_batch(b, size) for b in batches]
    pixels = [normalise(b) for b in boxed]
    colours = [colour_features(b) if extractor.config.colour_dim else None for b in boxed]

    rows: dict[str, float] = {}
    rows["decode (JPEG → RGB)"] = rate(len(paths), timed(lambda: [load_image(p) for p in paths], 1))
    rows["preprocess (letterbox + normalise)"] = rate(
        len(paths), timed(lambda: [to_array(b, size) for b in batches], 1)
    )
    rows["colour statistics"] = rate(len(paths), timed(lambda: [colour_features(b) for b in boxed], 1))
    model = extractor.model

    def torch_forward():
        with torch.inference_mode():
            for x, c in zip(pixels, colours, strict=True):
                model(
                    torch.from_numpy(x).contiguous(memory_format=torch.channels_last),
                    None if c is None else torch.from_numpy(c),
                )

    torch_forward()
    rows["model, torch eager"] = rate(len(paths), timed(torch_forward))
    runner = onnx_ex.runtime.onnx

    def onnx_forward():
        for x, c in zip(pixels, colours, strict=True):
            runner(x, c)

    onnx_forward()
    rows["model, ONNX Runtime"] = rate(len(paths), timed(onnx_forward))
    rows["extract + embed from files, torch"] = rate(len(paths), timed(lambda: extractor.extract(paths), 1))
    rows["extract + embed from files, ONNX Runtime (default)"] = rate(
        len(paths), timed(lambda: onnx_ex.extract(paths), 1)
    )

    width = max(map(len, rows))
    print(
        f"{'stage':<{width}}  images/s   ({len(paths)} images, {size}px, batch {args.batch}, "
        f"{args.threads} threads)"
    )
    for k, v in rows.items():
        print(f"{k:<{width}}  {v:8.1f}")
    result = {
        "images": len(paths),
        "image_size": size,
        "batch": args.batch,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "images_per_s": {k: round(v, 1) for k, v in rows.items()},
        "model_only_ms_per_image": round(1000 / max(rows["model, torch eager"], 1e-9), 2),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

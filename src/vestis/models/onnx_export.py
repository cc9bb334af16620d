"""ONNX export of vestis-lite's image path and an ONNX Runtime runner with the same outputs.

``vestis export onnx`` writes ``model.onnx`` next to the weights; the ``lite`` backend
uses it with ``runtime="onnx"``. Outputs: the normalised embedding, then one logits
tensor per head in ``config.heads`` order.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vestis.models.lite import VestisLite

ONNX_NAME = "model.onnx"


class _ImagePath:
    """Wraps the model so ONNX sees a flat tuple of outputs."""

    @staticmethod
    def build(model: VestisLite):
        import torch

        class Flat(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, x, colour=None):
                emb, logits = self.model(x, colour)
                return (emb, *[logits[k] for k in model.config.heads])

        return Flat().eval()


def export_onnx(model: VestisLite, path: str | Path, opset: int = 17) -> Path:
    import torch

    path = Path(path)
    size = model.config.image_size
    names = ["embedding", *[f"logits_{k}" for k in model.config.heads]]
    inputs = (torch.zeros(2, 3, size, size),)
    input_names = ["pixels"]
    if model.config.colour_dim:
        inputs += (torch.zeros(2, model.config.colour_dim),)
        input_names.append("colour")
    torch.onnx.export(
        _ImagePath.build(model.eval()),
        inputs,
        str(path),
        input_names=input_names,
        output_names=names,
        opset_version=opset,
        dynamo=False,
        dynamic_axes={**{n: {0: "batch"} for n in input_names}, **{n: {0: "batch"} for n in names}},
    )
    return path


def cached_onnx(model: VestisLite, model_dir: Path) -> Path:
    """``model.onnx`` beside the weights if present, else an export cached by the weights' checksum."""
    beside = Path(model_dir) / ONNX_NAME
    if beside.is_file():
        return beside
    from vestis.cache import cache_dir
    from vestis.models.lite import sha256

    key = sha256(Path(model_dir) / "model.safetensors")[:16] + sha256(Path(model_dir) / "config.json")[:8]
    path = cache_dir("onnx") / f"vestis-lite-{key}.onnx"
    if not path.is_file():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        export_onnx(model, tmp)
        tmp.replace(path)  # atomic: concurrent processes never read a half-written file
    return path


class OnnxLite:
    """Runs an exported vestis-lite with ONNX Runtime on the CPU."""

    def __init__(self, path: str | Path, heads: list[str], threads: int | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or os.cpu_count() or 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.heads = heads

    def __call__(
        self, pixels: np.ndarray, colour: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        feed = {"pixels": pixels.astype(np.float32)}
        if colour is not None:
            feed["colour"] = colour.astype(np.float32)
        outputs = self.session.run(None, feed)
        return outputs[0], dict(zip(self.heads, outputs[1:], strict=False))

"""ONNX exports of vestis-lite's two towers and ONNX Runtime runners with the same outputs.

* Image tower: ``vestis export onnx`` writes ``model.onnx`` next to the weights; otherwise
  :func:`cached_onnx` exports it once into the vestis cache. Outputs: the normalised embedding,
  then one logits tensor per head in ``config.heads`` order.
* Text tower: MiniLM-L6 + mean pooling + normalisation (``encode_texts``), exported once by
  :func:`cached_text_onnx`. :class:`OnnxText` tokenizes with the ``tokenizers`` library from the
  MiniLM package's ``tokenizer.json``, so a text query imports neither torch nor transformers.
  vestis-lite's small ``text_proj`` is applied after it (:class:`vestis.models.lite_runtime.TextProjection`):
  one export of the packaged MiniLM serves every vestis-lite model that has no fine-tuned
  ``text_encoder/`` of its own (:mod:`vestis.models.text_tower`); one that has gets its own export.

Exports are cached under the weights' checksums and written atomically; only the export itself
needs torch (and, for the text tower, sentence-transformers).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
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


def export_text_onnx(path: str | Path, encoder=None, opset: int = 17) -> Path:
    """Export MiniLM-L6 sentence embeddings: ``(input_ids, attention_mask)`` → unit 384-d features."""
    import torch
    import torch.nn.functional as F

    from vestis.models.backbones import load_text_encoder

    encoder = encoder or load_text_encoder()
    bert = encoder[0].auto_model.eval()

    class Sentence(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # sentence-transformers' mean
            return F.normalize(pooled, dim=-1)

    path = Path(path)
    ids = torch.tensor([[101, 2417, 4377, 102], [101, 2417, 102, 0]])
    mask = (ids != 0).long()
    dynamic = {0: "batch", 1: "tokens"}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on transformers' mask code: shapes stay dynamic
        torch.onnx.export(
            Sentence().eval(),
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["features"],
            opset_version=opset,
            dynamo=False,
            dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, "features": {0: "batch"}},
        )
    return path


def cached_onnx(model_dir: Path, load: Callable[[], VestisLite]) -> Path:
    """``model.onnx`` beside the weights if present, else an export cached by the weights' checksum.

    ``load`` returns the torch model; it is called only when the export has to be made.
    """
    beside = Path(model_dir) / ONNX_NAME
    if beside.is_file():
        return beside
    key = _digest(Path(model_dir) / "model.safetensors")[:16] + _digest(Path(model_dir) / "config.json")[:8]
    return _cached(f"vestis-lite-{key}.onnx", lambda tmp: export_onnx(load(), tmp))


def cached_text_onnx(encoder: Callable[[], object], directory: Path | None = None) -> Path:
    """MiniLM-L6's export, cached by the checksum of its weights (one export serves every vestis-lite
    using the packaged MiniLM; ``directory``: a fine-tuned copy's).

    ``encoder`` returns the sentence-transformers model; it is called only when the export has to
    be made.
    """
    from vestis.models.pretrained import minilm_path

    key = _digest((directory or minilm_path()) / "model.safetensors")[:24]
    return _cached(f"minilm-l6-{key}.onnx", lambda tmp: export_text_onnx(tmp, encoder()))


def _digest(path: Path) -> str:
    from vestis.cache import file_digest

    return file_digest(path)


def _cached(name: str, export: Callable[[Path], Path]) -> Path:
    from vestis.cache import cache_dir

    path = cache_dir("onnx") / name
    if not path.is_file():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            export(tmp)
            tmp.replace(path)  # atomic: concurrent processes never read a half-written file
        finally:
            tmp.unlink(missing_ok=True)
    return path


def _session(path: str | Path, threads: int | None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or os.cpu_count() or 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxLite:
    """Runs an exported vestis-lite image tower with ONNX Runtime on the CPU."""

    def __init__(self, path: str | Path, heads: list[str], threads: int | None = None) -> None:
        self.session = _session(path, threads)
        self.heads = heads

    def __call__(
        self, pixels: np.ndarray, colour: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        feed = {"pixels": pixels.astype(np.float32)}
        if colour is not None:
            feed["colour"] = colour.astype(np.float32)
        outputs = self.session.run(None, feed)
        return outputs[0], dict(zip(self.heads, outputs[1:], strict=False))


class OnnxText:
    """MiniLM-L6 in ONNX Runtime: texts → unit 384-d features, the same as ``encode_texts``.

    Tokenized as sentence-transformers does: MiniLM's WordPiece from ``tokenizer.json``, truncated
    to ``max_seq_length`` tokens, padded to the longest text of the batch.
    """

    def __init__(self, path: str | Path, threads: int | None = None, directory: Path | None = None) -> None:
        from tokenizers import Tokenizer

        from vestis.models.pretrained import minilm_max_seq_length, minilm_path

        directory = directory or minilm_path()
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=minilm_max_seq_length(directory))
        pad_id = self.tokenizer.token_to_id("[PAD]")
        self.tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
        self.session = _session(path, threads)

    def __call__(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

"""One loaded vestis-lite per process, shared by the ``lite`` extractor and the ``lite`` embedder.

The runtime holds the model, its ONNX Runtime session (3-5x faster than eager torch on CPU,
benchmarks/throughput.py), the text encoder and the composer, each loaded on first use: a text
query never loads the image tower's session, an extraction never loads the composer.
:func:`lite_runtime` returns the same object for the same model and settings, so extracting and
embedding a photo in one process costs one model load (and, through ``forward``, one pass).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vestis.errors import OptionsError

log = logging.getLogger(__name__)
RUNTIMES = ("auto", "onnx", "torch")
_CACHE: dict[tuple[Any, ...], LiteRuntime] = {}


def lite_runtime(model: Any = None, runtime: str = "auto", threads: int | None = None) -> LiteRuntime:
    """The shared runtime for ``model`` (None: the shipped one; a directory; or a VestisLite object)."""
    if runtime not in RUNTIMES:
        raise OptionsError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    from vestis.models.registry import resolve_lite

    key_model = (
        id(model) if not isinstance(model, (str, os.PathLike, type(None))) else str(resolve_lite(model))
    )
    key = (key_model, runtime, threads)
    if key not in _CACHE:
        _CACHE[key] = LiteRuntime(model, runtime, threads)
    return _CACHE[key]


class LiteRuntime:
    def __init__(self, model: Any = None, runtime: str = "auto", threads: int | None = None) -> None:
        import torch

        from vestis.models.lite import VestisLite
        from vestis.models.registry import resolve_lite

        if threads or not torch.get_num_threads():
            torch.set_num_threads(threads or os.cpu_count() or 1)
        is_object = isinstance(model, VestisLite)
        if runtime == "onnx" and is_object:
            raise OptionsError("runtime='onnx' needs a model directory, not a model object")
        self.model_dir: Path | None = None if is_object else resolve_lite(model)
        self.model = model if is_object else VestisLite.load(self.model_dir)
        self.model.eval()
        self.config = self.model.config
        self.onnx = None
        if runtime != "torch" and self.model_dir is not None:
            self.onnx = self._onnx_runner(threads, required=runtime == "onnx")
        self._encoder = None
        self._composer: Any = False  # False: not looked for yet; None: the sum is used

    def _onnx_runner(self, threads: int | None, required: bool):
        try:
            from vestis.models.onnx_export import OnnxLite, cached_onnx

            return OnnxLite(cached_onnx(self.model, self.model_dir), list(self.config.heads), threads)
        except Exception as exc:
            if required:
                raise
            log.info("ONNX Runtime unavailable (%s); using torch", exc)
            return None

    @property
    def model_id(self) -> str:
        from vestis.models.registry import lite_model_id

        if self.model_dir is not None:
            return lite_model_id(self.model_dir)
        return "vestis-lite@unsaved-" + sha256_state(self.model)[:12]

    def forward(self, images: list[Image.Image]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(unit image embeddings, head logits) for RGB images."""
        import torch

        from vestis.colour import colour_features
        from vestis.models.preprocess import letterbox_batch, normalise

        boxed = letterbox_batch(images, self.config.image_size)
        pixels = normalise(boxed)
        colour = colour_features(boxed) if self.config.colour_dim else None
        if self.onnx is not None:
            return self.onnx(pixels, colour)
        x = torch.from_numpy(pixels).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            emb, logits = self.model(x, None if colour is None else torch.from_numpy(colour))
        return emb.numpy(), {k: v.numpy() for k, v in logits.items()}

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Unit text embeddings in the shared space."""
        import torch

        from vestis.models.backbones import encode_texts, load_text_encoder

        if self._encoder is None:
            self._encoder = load_text_encoder()
        with torch.inference_mode():
            return self.model.embed_text_features(encode_texts(texts, self._encoder)).numpy()

    @property
    def composer(self):
        """The composer shipped with the model, if its validation report shows it beating the sum."""
        if self._composer is False:
            from vestis.models.composer import Composer, composer_beats_sum

            path = (self.model_dir / "composer") if self.model_dir is not None else None
            self._composer = None
            if path is not None and (path / "composer.json").is_file():
                if composer_beats_sum(path / "composer_report.json"):
                    self._composer = Composer.load(path)
                else:
                    log.info("composed queries use the normalised sum of image and text embeddings")
        return self._composer


def sha256_state(model) -> str:
    """Digest of a model object's trained weights (for catalogs built from an unsaved model)."""
    import hashlib

    h = hashlib.sha256()
    for name, tensor in sorted(model.trained_state().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().numpy().tobytes())
    return h.hexdigest()

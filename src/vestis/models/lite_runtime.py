"""One loaded vestis-lite per process, shared by the ``lite`` extractor and the ``lite`` embedder.

Each part loads on first use, so a one-shot query pays only for what it needs:

* ``config``: read from ``config.json`` at construction (no torch);
* the image tower: an ONNX Runtime session (3-5x faster than eager torch on CPU,
  benchmarks/throughput.py) over an export cached under the weights' checksums;
* the text tower: an ONNX Runtime session over the exported MiniLM (the model's own fine-tuned
  ``text_encoder/`` when it has one, else the packaged one), tokenized with ``tokenizers``, then
  vestis-lite's text projection in numpy (no torch, no transformers);
* the composer: numpy (no torch), only for composed queries;
* the torch model (``model``): only for ``runtime="torch"``, for making an export the first time,
  for the extractor, or when ONNX Runtime is missing (then it is the fallback).

:func:`lite_runtime` returns the same object for the same model and settings, so extracting and
embedding a photo in one process costs one model load (and, through ``forward``, one pass).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vestis.errors import OptionsError

log = logging.getLogger(__name__)
RUNTIMES = ("auto", "onnx", "torch")
_CACHE: dict[tuple[Any, ...], LiteRuntime] = {}
_UNSET: Any = object()  # a part not looked for yet (None: looked for, and absent)


def lite_runtime(model: Any = None, runtime: str = "auto", threads: int | None = None) -> LiteRuntime:
    """The shared runtime for ``model`` (None: the shipped one; a directory); a fresh one for an object."""
    if runtime not in RUNTIMES:
        raise OptionsError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    from vestis.models.registry import resolve_lite

    if not _is_location(model):  # an in-memory model: not cached (the cache would keep it alive)
        return LiteRuntime(model, runtime, threads)
    key = (str(resolve_lite(model)), runtime, threads)
    if key not in _CACHE:
        _CACHE[key] = LiteRuntime(model, runtime, threads)
    return _CACHE[key]


def release_runtime(model: Any) -> int:
    """Drop the shared runtimes of a model directory (one about to be deleted or rewritten, such as
    a temporary blend); returns how many were dropped. Objects already holding one keep it."""
    from vestis.models.registry import resolve_lite

    path = str(resolve_lite(model))
    stale = [key for key in _CACHE if key[0] == path]
    for key in stale:
        del _CACHE[key]
    return len(stale)


def _is_location(model: Any) -> bool:
    return isinstance(model, (str, os.PathLike, type(None)))


class LiteRuntime:
    """vestis-lite's parts, each loaded on first use (see the module docstring)."""

    def __init__(self, model: Any = None, runtime: str = "auto", threads: int | None = None) -> None:
        from vestis.models.lite_config import LiteModelConfig
        from vestis.models.registry import resolve_lite

        if runtime not in RUNTIMES:
            raise OptionsError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
        if runtime == "onnx" and not _is_location(model):
            raise OptionsError("runtime='onnx' needs a model directory, not a model object")
        self.runtime = runtime
        self.threads = threads
        self.model_dir: Path | None = resolve_lite(model) if _is_location(model) else None
        self._model = None if _is_location(model) else model.eval()
        self.config = self._model.config if self._model is not None else LiteModelConfig.read(self.model_dir)
        self._image: Any = _UNSET
        self._text: Any = _UNSET
        self._encoder = None
        self._composer: Any = _UNSET

    # ---- parts -------------------------------------------------------------------------------
    @property
    def model(self):
        """The torch model (loaded on first use; checksums verified)."""
        if self._model is None:
            import torch

            from vestis.models.lite import VestisLite

            if self.threads or not torch.get_num_threads():
                torch.set_num_threads(self.threads or os.cpu_count() or 1)
            self._model = VestisLite.load(self.model_dir).eval()
        return self._model

    @property
    def onnx(self):
        """The image tower's ONNX Runtime runner, or None where torch runs it."""
        if self._image is _UNSET:
            self._image = self._onnx_part("image tower", self._image_runner)
        return self._image

    @property
    def text_onnx(self):
        """The text tower's ONNX Runtime runner, or None where torch runs it."""
        if self._text is _UNSET:
            self._text = self._onnx_part("text tower", self._text_runner)
        return self._text

    def _onnx_part(self, what: str, make: Callable[[], Any]):
        if self.runtime == "torch" or self.model_dir is None:
            return None
        try:
            return make()
        except Exception as exc:
            if self.runtime == "onnx":
                raise
            log.info("ONNX Runtime unavailable for the %s (%s); using torch", what, exc)
            return None

    def _image_runner(self):
        from vestis.models.onnx_export import OnnxLite, cached_onnx

        self._verify()
        path = cached_onnx(self.model_dir, lambda: self.model)
        return OnnxLite(path, list(self.config.heads), self.threads)

    def _text_runner(self):
        import onnxruntime  # noqa: F401  (fail before a first-run export when it is missing)
        import tokenizers  # noqa: F401

        from vestis.models.onnx_export import OnnxText, cached_text_onnx

        self._verify()
        projection = TextProjection.load(self.model_dir / "model.safetensors")
        own = self._text_encoder_dir()
        features = OnnxText(cached_text_onnx(self._text_encoder, own), self.threads, own)
        return lambda texts: projection(features(texts))

    def _verify(self) -> None:
        """The ONNX parts never load the torch model, so they check the weights' checksums here."""
        from vestis.cache import file_digest
        from vestis.models.lite_config import verify_checksums

        verify_checksums(self.model_dir, file_digest)

    def _text_encoder_dir(self) -> Path | None:
        """The model's own fine-tuned MiniLM (checksum verified), or None for the packaged one."""
        if self.model_dir is None:
            return None
        from vestis.cache import file_digest
        from vestis.models.lite_config import verify_checksums
        from vestis.models.text_tower import TEXT_ENCODER_DIR, WEIGHTS, text_encoder_dir

        own = text_encoder_dir(self.model_dir)
        if own is not None:
            verify_checksums(self.model_dir, file_digest, names=(f"{TEXT_ENCODER_DIR}/{WEIGHTS}",))
        return own

    def _text_encoder(self):
        if self._encoder is None:
            from vestis.models.backbones import load_text_encoder

            self._encoder = load_text_encoder(directory=self._text_encoder_dir())
        return self._encoder

    def loaded(self) -> list[str]:
        """The parts loaded so far, of "model" (torch), "image", "text" and "composer"."""
        parts = {"model": self._model, "image": self._image, "text": self._text, "composer": self._composer}
        return [name for name, part in parts.items() if part is not None and part is not _UNSET]

    @property
    def model_id(self) -> str:
        from vestis.models.registry import lite_model_id

        if self.model_dir is not None:
            return lite_model_id(self.model_dir)
        return "vestis-lite@unsaved-" + sha256_state(self.model)[:12]

    # ---- computations ------------------------------------------------------------------------
    def forward(self, images: list[Image.Image]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(unit image embeddings, head logits) for RGB images."""
        from vestis.colour import colour_features
        from vestis.models.preprocess import letterbox_batch, normalise

        boxed = letterbox_batch(images, self.config.image_size)
        pixels = normalise(boxed)
        colour = colour_features(boxed) if self.config.colour_dim else None
        if self.onnx is not None:
            return self.onnx(pixels, colour)
        import torch

        x = torch.from_numpy(pixels).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            emb, logits = self.model(x, None if colour is None else torch.from_numpy(colour))
        return emb.numpy(), {k: v.numpy() for k, v in logits.items()}

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Unit text embeddings in the shared space."""
        if self.text_onnx is not None:
            return self.text_onnx(texts)
        import torch

        from vestis.models.backbones import encode_texts

        with torch.inference_mode():
            return self.model.embed_text_features(encode_texts(texts, self._text_encoder())).numpy()

    @property
    def composer(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
        """The composer shipped with the model, if its validation report shows it beating the sum."""
        if self._composer is _UNSET:
            from vestis.models.composer_runtime import ComposerArrays, composer_beats_sum

            path = (self.model_dir / "composer") if self.model_dir is not None else None
            self._composer = None
            if path is not None and (path / "composer.json").is_file():
                if (path / "text_encoder").is_dir():
                    # its text vectors come from its own MiniLM, not the ones compose() receives
                    log.warning("the composer needs its own text encoder; composed queries use the sum")
                elif composer_beats_sum(path / "composer_report.json"):
                    self._composer = ComposerArrays.load(path)
                else:
                    log.info("composed queries use the normalised sum of image and text embeddings")
        return self._composer


class TextProjection:
    """vestis-lite's ``text_proj`` in numpy: unit MiniLM features → unit vectors in the shared space
    (``VestisLite.embed_text_features``), read from ``model.safetensors`` without torch."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        self.weight = np.asarray(weight, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)

    @classmethod
    def load(cls, weights: Path) -> TextProjection:
        from safetensors import safe_open

        with safe_open(str(weights), framework="numpy") as f:
            return cls(f.get_tensor("text_proj.weight"), f.get_tensor("text_proj.bias"))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        out = features @ self.weight.T + self.bias
        return (out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


def sha256_state(model) -> str:
    """Digest of a model object's trained weights (for catalogs built from an unsaved model)."""
    import hashlib

    h = hashlib.sha256()
    for name, tensor in sorted(model.trained_state().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().numpy().tobytes())
    return h.hexdigest()

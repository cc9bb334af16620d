"""``lite``: the embedded vestis-lite towers (EfficientNet-Lite0 image tower, MiniLM-L6 text tower).

Shares one loaded model with the ``lite`` extractor (:mod:`vestis.models.lite_runtime`); composed
queries use the composer shipped with the model when its validation report beats the plain sum,
and text search queries the text bank shipped with it (``text_bank/``) when its report beats the
direct vectors (``text_bank``: false turns it off, a directory names another bank).
A text query runs the text tower through ONNX Runtime and an image query the image tower, each
loading only its own part (no torch once the exports are cached).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PIL import Image

from vestis.embed.base import EMBEDDERS, Embedder
from vestis.errors import OptionsError

log = logging.getLogger(__name__)


@EMBEDDERS.register("lite")
class LiteEmbedder(Embedder):
    """vestis-lite image and text towers in one 256-d space (the default; offline, CPU)."""

    name = "lite"

    def __init__(
        self,
        model: Any = None,
        runtime: str = "auto",
        threads: int | None = None,
        batch_size: int = 32,
        text_bank: bool | str = True,
    ) -> None:
        from vestis.models.lite_runtime import lite_runtime

        if batch_size < 1:
            raise OptionsError("batch_size must be at least 1")
        self.runtime = lite_runtime(model, runtime, threads)
        self.batch_size = batch_size
        self.use_text_bank(self._own_bank(text_bank))

    def _own_bank(self, choice: bool | str):
        from vestis.embed.text_bank import TextBank

        if choice is False:
            return None
        if choice is not True:
            return TextBank.load(choice)  # asked for by name: used whatever its report says
        own = self.runtime.model_dir / "text_bank" if self.runtime.model_dir is not None else None
        if own is None or not own.is_dir():
            return None
        bank = TextBank.load(own)
        if bank.model_id != self.model_id:  # a directory derived from another model (a blend) kept it
            log.warning(
                "%s was built for %s, not %s: text queries go direct", own, bank.model_id, self.model_id
            )
            return None
        return bank if bank.beats_direct else None

    @property
    def dim(self) -> int:
        return int(self.runtime.config.embed_dim)

    @property
    def model_id(self) -> str:
        return self.runtime.model_id

    def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
        return self.runtime.forward(images)[0]

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        return self.runtime.embed_texts(texts)

    def compose(self, image_vector: np.ndarray, text_vector: np.ndarray) -> np.ndarray:
        composer = self.runtime.composer
        if composer is None:
            return super().compose(image_vector, text_vector)
        return composer(np.asarray(image_vector)[None], np.asarray(text_vector)[None])[0]

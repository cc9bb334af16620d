"""``test-random``: a deterministic embedder with no weights, for tests of every layer above embedding.

Images: an 8×8 RGB thumbnail projected by a fixed random matrix; texts: hashed words projected
the same way. Similar photos get similar vectors and texts sharing words get similar vectors, so
search results depend on the input; the two spaces are not aligned (a text does not find its photo).
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
from PIL import Image

from vestis.embed.base import EMBEDDERS, Embedder, unit_rows
from vestis.errors import OptionsError

_BUCKETS = 512


@EMBEDDERS.register("test-random")
class RandomEmbedder(Embedder):
    """Weightless fake embedder for tests (pixel thumbnails and hashed words, fixed projections)."""

    name = "test-random"

    def __init__(self, dim: int = 32, seed: int = 0) -> None:
        if dim < 1:
            raise OptionsError("dim must be positive")
        rng = np.random.default_rng(seed)
        self._dim = dim
        self._seed = seed
        self._image_proj = rng.standard_normal((8 * 8 * 3, dim)).astype(np.float32)
        self._text_proj = rng.standard_normal((_BUCKETS, dim)).astype(np.float32)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def model_id(self) -> str:
        return f"test-random@{self._dim}-{self._seed}"

    def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
        x = np.stack([np.asarray(im.resize((8, 8)), dtype=np.float32).reshape(-1) / 255.0 for im in images])
        return unit_rows((x - 0.5) @ self._image_proj)

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        bags = np.zeros((len(texts), _BUCKETS), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                bags[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % _BUCKETS] += 1.0
        return unit_rows(bags @ self._text_proj)

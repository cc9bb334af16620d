"""Attributes and vectors of the same images in one pass where the backends allow it."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image


def extract_and_embed(extractor, embedder, images: list[Image.Image]) -> tuple[list[Any], np.ndarray]:
    """``(extractions, vectors [N, dim])`` for RGB images.

    When the extractor embeds in the embedder's space (lite + lite), its vectors are reused and
    each image goes through the model once; otherwise the embedder embeds the images.
    """
    if not images:
        return [], np.zeros((0, embedder.dim), dtype=np.float32)
    results = extractor.extract(images)
    if extractor.embedding_model_id == embedder.model_id and all(r.embedding is not None for r in results):
        return results, np.stack([r.embedding for r in results]).astype(np.float32)
    return results, embedder.embed_images(images)

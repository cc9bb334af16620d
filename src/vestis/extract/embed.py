"""Batch image embedding with any backend that embeds (``embed_images``), with a progress bar.

Unreadable images get a zero vector and ``ok = False``, so one corrupt file never stops a run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from vestis.images import ImageLoadError, load_image
from vestis.progress import progress_bar

log = logging.getLogger(__name__)


def embed_paths(
    extractor,
    paths: Sequence[str],
    batch: int = 64,
    progress: bool = True,
    description: str = "embedding images",
) -> tuple[np.ndarray, np.ndarray]:
    """(vectors [N, dim] float32, ok [N] bool) for image paths."""
    dim = extractor.config.embed_dim
    out = np.zeros((len(paths), dim), dtype=np.float32)
    ok = np.zeros(len(paths), dtype=bool)
    with progress_bar(disable=not progress) as bar:
        task = bar.add_task(description, total=len(paths))
        for start in range(0, len(paths), batch):
            images, keep = [], []
            for j, path in enumerate(paths[start : start + batch]):
                try:
                    images.append(load_image(path))
                    keep.append(start + j)
                except ImageLoadError as exc:
                    log.warning("skipping %s", exc)
            if images:
                out[keep] = extractor.embed_images(images)
                ok[keep] = True
            bar.advance(task, min(batch, len(paths) - start))
    return out, ok

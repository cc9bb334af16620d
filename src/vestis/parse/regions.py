"""From a per-pixel class map to garment regions: connected components, small blobs dropped.

The class map may be at any resolution (a parser's working resolution); boxes come back in
pixels of the original image, ``area`` as the share of the map's pixels, masks (if asked) at
the original size.

>>> cmap = np.zeros((10, 10), dtype=np.uint8)
>>> cmap[1:4, 2:8] = CLASSES.index("top")
>>> [(r.category, r.box) for r in regions_from_classmap(cmap, (20, 20))]
[('top', (4, 2, 16, 8))]
"""

from __future__ import annotations

import math
from collections.abc import Collection

import numpy as np
from PIL import Image

from vestis.parse.base import COARSE, Region
from vestis.parse.labels import CLASSES

_EIGHT = np.ones((3, 3), dtype=bool)


def regions_from_classmap(
    classmap: np.ndarray,
    size: tuple[int, int],
    probs: np.ndarray | None = None,
    *,
    classes: tuple[str, ...] = CLASSES,
    merge: Collection[str] = COARSE,
    min_area: float = 0.002,
    masks: bool = False,
) -> list[Region]:
    """One :class:`Region` per garment in ``classmap`` ([h, w] class indices into ``classes``).

    Components (8-connected) smaller than ``min_area`` of the map are dropped. For classes in
    ``merge`` the remaining components are one garment (an open jacket's halves, two shoes);
    for the others each component is its own item. ``size`` is the original (width, height).
    ``probs`` ([C, h, w] class probabilities) gives each region's score, its mean probability.
    """
    from scipy import ndimage  # with the lite extra, like the parser that makes class maps

    h, w = classmap.shape
    width, height = size
    total = float(h * w)
    out: list[Region] = []
    for category in COARSE:
        if category not in classes:
            continue
        k = classes.index(category)
        present = classmap == k
        if not present.any():
            continue
        labelled, n = ndimage.label(present, structure=_EIGHT)
        sizes = np.bincount(labelled.ravel(), minlength=n + 1)
        keep = [i for i in range(1, n + 1) if sizes[i] / total >= min_area]
        if not keep:
            continue
        groups = [np.isin(labelled, keep)] if category in merge else [labelled == i for i in keep]
        for mask in groups:
            ys, xs = np.nonzero(mask)
            box = (
                max(0, math.floor(xs.min() * width / w)),
                max(0, math.floor(ys.min() * height / h)),
                min(width, math.ceil((xs.max() + 1) * width / w)),
                min(height, math.ceil((ys.max() + 1) * height / h)),
            )
            score = float(probs[k][mask].mean()) if probs is not None else 1.0
            full = None
            if masks:
                full = np.asarray(Image.fromarray(mask).resize((width, height), Image.NEAREST))
            out.append(Region(box, float(mask.sum()) / total, category, score, full))
    return out

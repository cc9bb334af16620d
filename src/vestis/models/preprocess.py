"""Image preprocessing with PIL and numpy only (no torchvision).

Garments are letterboxed, not cropped: the whole item stays in view, padded to a
square with the image's own border colour (the studio background of a product
shot, the floor or bed of a user photo), so padding looks like more background.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

# EfficientNet-Lite expects inputs in [-1, 1]: mean = std = 0.5 (its first batch-norm statistics match this).
MEAN = 0.5
STD = 0.5


def border_colour(img: Image.Image) -> tuple[int, int, int]:
    """Median colour of a 1-pixel frame around the image."""
    a = np.asarray(img)
    frame = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]], axis=0)
    return tuple(int(v) for v in np.median(frame, axis=0))  # type: ignore[return-value]


def letterbox(img: Image.Image, size: int) -> Image.Image:
    """Resize the longer side to ``size`` and pad to a square with the border colour."""
    w, h = img.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = img.resize((nw, nh), Image.BILINEAR, reducing_gap=2.0 if scale < 0.5 else None)
    if nw == nh == size:
        return resized
    canvas = Image.new("RGB", (size, size), border_colour(resized))
    canvas.paste(resized, ((size - nw) // 2, (size - nh) // 2))
    return canvas


def letterbox_batch(images: Sequence[Image.Image], size: int, hflip: bool = False) -> np.ndarray:
    """uint8 NHWC batch of letterboxed squares."""
    batch = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, img in enumerate(images):
        boxed = letterbox(img, size)
        if hflip:
            boxed = boxed.transpose(Image.FLIP_LEFT_RIGHT)
        batch[i] = np.asarray(boxed)
    return batch


def normalise(batch: np.ndarray) -> np.ndarray:
    """uint8 NHWC → float32 NCHW in [-1, 1]."""
    x = batch.astype(np.float32).transpose(0, 3, 1, 2)
    x /= 255.0
    x -= MEAN
    x /= STD
    return np.ascontiguousarray(x)


def to_array(images: Sequence[Image.Image], size: int, hflip: bool = False) -> np.ndarray:
    """A float32 NCHW batch in [-1, 1]."""
    return normalise(letterbox_batch(images, size, hflip))

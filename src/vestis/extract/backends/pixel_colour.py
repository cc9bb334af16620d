"""The ``pixel-colour`` baseline: garment colours from pixels alone, no model, numpy only.

1. Downscale to ~96 px and convert to CIE Lab.
2. Estimate the background from the image border and keep the pixels far from it;
   a busy border or a tiny mask falls back to a centre crop.
3. k-means (k=4) on the kept pixels; each cluster maps to the nearest palette colour
   (several RGB anchors per name: navy, dark and light variants).
4. The colour with the largest pixel share fills the schema field whose role is
   ``primary_colour``; a different colour with a large enough share fills
   ``secondary_colour``. Every other field is null with confidence 0.

Anchors are keyed by the vestis palette and reach other vocabularies through
:meth:`Field.canonical` (denali's ``metallic`` catches gold and silver by synonym).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from vestis.extract.base import EXTRACTORS, Extraction, Extractor
from vestis.schema import Field, Schema

# sRGB anchors per canonical vestis colour name.
PALETTE: dict[str, tuple[tuple[int, int, int], ...]] = {
    "black": ((0, 0, 0), (28, 28, 30), (40, 38, 42)),
    "white": ((255, 255, 255), (244, 244, 240), (250, 246, 232), (236, 232, 220)),
    "grey": ((128, 128, 128), (90, 90, 92), (170, 170, 170), (205, 205, 205)),
    "beige": ((225, 205, 175), (210, 185, 150), (195, 160, 115), (235, 220, 200), (180, 160, 135)),
    "brown": ((110, 70, 40), (80, 52, 35), (150, 95, 55), (60, 40, 30), (165, 110, 75)),
    "red": ((200, 25, 35), (230, 45, 45), (150, 20, 30), (110, 20, 35), (175, 40, 50)),
    "pink": ((255, 182, 193), (240, 130, 170), (220, 60, 140), (250, 210, 215), (200, 110, 130)),
    "orange": ((255, 140, 0), (240, 110, 40), (250, 128, 114), (255, 175, 125), (205, 95, 55)),
    "yellow": ((255, 220, 0), (250, 235, 110), (225, 180, 40), (255, 245, 170)),
    "green": ((30, 140, 60), (0, 95, 50), (120, 200, 120), (60, 180, 115), (150, 200, 160), (20, 70, 45)),
    "khaki": ((128, 128, 0), (110, 110, 60), (150, 140, 90), (85, 90, 50), (175, 165, 115)),
    "blue": ((30, 90, 200), (70, 130, 220), (135, 180, 230), (0, 150, 170), (60, 95, 150), (0, 60, 255)),
    "navy": ((20, 30, 70), (25, 35, 95), (0, 0, 128), (35, 45, 75), (30, 40, 60)),
    "purple": ((120, 50, 150), (180, 140, 210), (85, 40, 110), (205, 165, 225), (150, 80, 160)),
    "gold": ((212, 175, 55), (195, 155, 70)),
    "silver": ((192, 192, 192),),  # a narrow band of light grey: rare, so kept small
}
THUMB_PX = 96
CLUSTERS = 4
SECONDARY_MIN_SHARE = 0.2
TEMPERATURE = 6.0  # Lab units: softness of the colour-name probabilities
LIGHTNESS_WEIGHT = 0.5  # names depend more on hue and chroma than on lightness (shading, folds)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (D65) of sRGB values in [0, 1], any leading shape."""
    rgb = np.asarray(rgb, dtype=np.float64)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = linear @ m.T / np.array([0.95047, 1.0, 1.08883])
    eps = (6 / 29) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def garment_pixels(lab: np.ndarray) -> np.ndarray:
    """Lab pixels (n, 3) of the garment: those far from a uniform border, else a centre crop."""
    h, w, _ = lab.shape
    ring = max(2, round(0.04 * min(h, w)))
    border = np.concatenate(
        [
            lab[:ring].reshape(-1, 3),
            lab[-ring:].reshape(-1, 3),
            lab[:, :ring].reshape(-1, 3),
            lab[:, -ring:].reshape(-1, 3),
        ]
    )
    background = np.median(border, axis=0)
    spread = float(np.median(np.linalg.norm(border - background, axis=1)))
    if spread < 15:
        distance = np.linalg.norm(lab - background, axis=-1)
        mask = _erode(distance > max(12.0, 2.5 * spread))
        if mask.mean() >= 0.03:
            return lab[mask]
    return lab[h // 4 : h - h // 4 or h, w // 4 : w - w // 4 or w].reshape(-1, 3)


def _erode(mask: np.ndarray) -> np.ndarray:
    """Drop the mask's edge pixels, which blend garment and background into false greys."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return inner if inner.mean() >= 0.03 else mask


def kmeans(points: np.ndarray, k: int, iterations: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Centres (k', 3) and pixel shares (k',) by k-means++ then Lloyd steps; empty clusters dropped."""
    rng = np.random.default_rng(seed)
    if len(points) > 6000:
        points = points[rng.choice(len(points), 6000, replace=False)]
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, min(k, len(points))):
        d2 = np.min([((points - c) ** 2).sum(1) for c in centres], axis=0)
        if d2.sum() == 0:
            break
        centres.append(points[rng.choice(len(points), p=d2 / d2.sum())])
    c = np.array(centres)
    for _ in range(iterations):
        assign = ((points[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
        c = np.array([points[assign == j].mean(0) if (assign == j).any() else c[j] for j in range(len(c))])
    assign = ((points[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
    counts = np.bincount(assign, minlength=len(c))
    keep = counts > 0
    return c[keep], counts[keep] / counts.sum()


@lru_cache(maxsize=1)
def _palette_lab() -> dict[str, np.ndarray]:
    return {name: srgb_to_lab(np.array(anchors) / 255.0) for name, anchors in PALETTE.items()}


class _ColourField:
    """A schema colour field's anchors in Lab, each tagged with the field value it stands for."""

    def __init__(self, f: Field) -> None:
        self.name = f.name
        lab = _palette_lab()
        values, anchors = [], []
        for colour in PALETTE:
            value = colour if colour in f.values else f.canonical(colour)
            if value is not None:
                values.extend([value] * len(lab[colour]))
                anchors.append(lab[colour])
        self.vocabulary = sorted(set(values), key=values.index)
        index = {v: i for i, v in enumerate(self.vocabulary)}
        self.anchor_value = np.array([index[v] for v in values], dtype=np.int64)
        self.anchors = np.concatenate(anchors) if anchors else np.zeros((0, 3))

    def shares(self, centres: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hard and soft pixel share per vocabulary value for the given cluster centres."""
        scale = np.array([LIGHTNESS_WEIGHT, 1.0, 1.0])
        d = np.linalg.norm((centres[:, None, :] - self.anchors[None]) * scale, axis=-1)
        per_value = np.full((len(centres), len(self.vocabulary)), np.inf)
        for j in range(len(self.vocabulary)):
            per_value[:, j] = d[:, self.anchor_value == j].min(1)
        logits = -(per_value - per_value.min(1, keepdims=True)) / TEMPERATURE
        prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        hard = np.zeros(len(self.vocabulary))
        np.add.at(hard, per_value.argmin(1), weights)
        return hard, (prob * weights[:, None]).sum(0)


@EXTRACTORS.register("pixel-colour")
class PixelColourExtractor(Extractor):
    """Primary and secondary colour from clustered garment pixels; no training, no model."""

    name: ClassVar[str] = "pixel-colour"
    batch_size = 64

    def __init__(self, schema: Schema, **options: Any) -> None:
        super().__init__(schema, **options)
        primary, secondary = schema.by_role("primary_colour"), schema.by_role("secondary_colour")
        self.primary = _ColourField(primary) if primary and primary.kind == "single" else None
        self.secondary = _ColourField(secondary) if secondary and secondary.kind == "single" else None

    def _extract_batch(self, images: list[Image.Image]) -> list[Extraction]:
        return [self._one(img) for img in images]

    def _one(self, img: Image.Image) -> Extraction:
        attrs = self.schema.empty()
        conf = {name: 0.0 for name in self.schema.fields}
        if self.primary is None or not self.primary.vocabulary:
            return Extraction(attrs, conf, raw=None)
        small = img.copy()
        small.thumbnail((THUMB_PX, THUMB_PX), Image.Resampling.BILINEAR)
        lab = srgb_to_lab(np.asarray(small, dtype=np.float64) / 255.0)
        centres, weights = kmeans(garment_pixels(lab), CLUSTERS)
        hard, soft = self.primary.shares(centres, weights)
        top = int(np.lexsort((soft, hard))[-1])
        attrs[self.primary.name] = self.primary.vocabulary[top]
        conf[self.primary.name] = round(float(soft[top]), 4)
        if self.secondary is not None and self.secondary.vocabulary:
            self._fill_secondary(attrs, conf, centres, weights, attrs[self.primary.name])
        return Extraction(
            attrs, conf, raw={"centres_lab": centres.round(1).tolist(), "shares": weights.round(3).tolist()}
        )

    def _fill_secondary(
        self,
        attrs: dict[str, Any],
        conf: dict[str, float],
        centres: np.ndarray,
        weights: np.ndarray,
        primary_value: str,
    ) -> None:
        field = self.secondary
        assert field is not None
        hard, soft = field.shares(centres, weights)
        primary_here = field.vocabulary.index(primary_value) if primary_value in field.vocabulary else -1
        if primary_here >= 0:
            hard[primary_here] = -1.0
        best = int(hard.argmax())
        share = max(float(hard[best]), 0.0)
        if share >= SECONDARY_MIN_SHARE:
            attrs[field.name] = field.vocabulary[best]
            purity = float(soft[best]) / share
            conf[field.name] = round(purity * min(1.0, share / 0.3), 4)
        else:
            conf[field.name] = round(1.0 - share, 4)

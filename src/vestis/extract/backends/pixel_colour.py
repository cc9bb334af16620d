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

from typing import Any, ClassVar

import numpy as np
from PIL import Image

from vestis.colour import LIGHTNESS_WEIGHT, PALETTE, garment_pixels, kmeans, palette_lab, srgb_to_lab
from vestis.extract.base import EXTRACTORS, Extraction, Extractor
from vestis.schema import Field, Schema

THUMB_PX = 96
CLUSTERS = 4
SECONDARY_MIN_SHARE = 0.2
TEMPERATURE = 6.0  # Lab units: softness of the colour-name probabilities


class _ColourField:
    """A schema colour field's anchors in Lab, each tagged with the field value it stands for."""

    def __init__(self, f: Field) -> None:
        self.name = f.name
        lab = palette_lab()
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

    def __init__(self, schema: Schema) -> None:
        super().__init__(schema)
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

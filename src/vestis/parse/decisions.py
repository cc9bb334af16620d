"""What the lite parser decides from its class probabilities, with settings that ``vestis train
parser`` calibrates on train photos and stores in the model's ``config.json``:

* Which garments are present: a region of class ``c`` counts when it covers at least
  ``class_min_area[c]`` of the image (chosen per class to maximise presence F1 on train photos).
* Product shot or photo of a person: a logistic regression (:class:`PersonRule`) on statistics of
  the predicted map (:func:`person_features`: each class's pixel share, mean and peak
  probability, the map's entropy and how many garment classes it finds); its probability is the
  photo's person score.

>>> probs = np.zeros((11, 4, 4)); probs[0] = 1.0
>>> stats = map_statistics(probs, [])
>>> float(stats.area[0]), stats.garments
(1.0, 0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from vestis.parse.base import COARSE, Region


@dataclass
class MapStatistics:
    """Statistics of one predicted class map (over the image's content), per class in model order."""

    area: np.ndarray  # share of pixels whose most probable class it is
    soft: np.ndarray  # mean probability
    peak: np.ndarray  # highest probability anywhere
    entropy: float  # mean per-pixel entropy of the class distribution (nats)
    garments: int  # garment classes with at least one region


def map_statistics(
    probs: np.ndarray, regions: Sequence[Region], classmap: np.ndarray | None = None
) -> MapStatistics:
    """Statistics of class probabilities ``probs`` [C, h, w] and the garment ``regions`` found in them."""
    c = probs.shape[0]
    flat = probs.reshape(c, -1)
    cmap = flat.argmax(0) if classmap is None else classmap.ravel()
    entropy = float(-(flat * np.log(np.maximum(flat, 1e-12))).sum(0).mean())
    return MapStatistics(
        area=np.bincount(cmap, minlength=c)[:c] / cmap.size,
        soft=flat.mean(1),
        peak=flat.max(1),
        entropy=entropy,
        garments=len({r.category for r in regions}),
    )


def person_features(stats: MapStatistics, classes: Sequence[str]) -> dict[str, float]:
    """Named features of a map for :class:`PersonRule` (shares on a log scale)."""
    out: dict[str, float] = {}
    for i, name in enumerate(classes):
        out[f"log_area_{name}"] = math.log(float(stats.area[i]) + 1e-3)
        out[f"log_soft_{name}"] = math.log(float(stats.soft[i]) + 1e-3)
        out[f"peak_{name}"] = float(stats.peak[i])
    out["entropy"] = stats.entropy
    out["garments"] = float(stats.garments)
    return out


@dataclass
class PersonRule:
    """A logistic regression on named :func:`person_features`, standardised by ``mean``/``scale``."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PersonRule:
        rule = cls(**{k: data[k] for k in ("features", "mean", "scale", "weights", "bias")})
        if not len(rule.features) == len(rule.mean) == len(rule.scale) == len(rule.weights):
            raise ValueError("person rule: features, mean, scale and weights differ in length")
        return rule

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def vector(self, features: dict[str, float]) -> np.ndarray:
        return np.array([features[f] for f in self.features])

    def probability(self, x: np.ndarray) -> np.ndarray:
        """Person probability of feature rows ``x`` [N, F] (or one row [F]), in :attr:`features` order."""
        z = ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights) + self.bias
        return 1.0 / (1.0 + np.exp(-z))


def present_regions(regions: list[Region], class_min_area: dict[str, float]) -> list[Region]:
    """The regions that cover at least their class's calibrated share of the image."""
    return [r for r in regions if r.area >= class_min_area.get(r.category or "", 0.0)]


def largest_region_areas(regions: Sequence[Region]) -> dict[str, float]:
    """Per garment class, the area of its largest region (0 when it has none)."""
    out = dict.fromkeys(COARSE, 0.0)
    for r in regions:
        if r.category in out:
            out[r.category] = max(out[r.category], r.area)
    return out

"""Calibration: a scorer's raw score → the probability that a look is a real outfit.

A raw compatibility score has no stated range (a mean of cosines, a logit). A
:class:`Calibration` maps it to a probability, fitted on held-out looks the scorer never trained
on: real looks (label 1) against type-consistent random ones (label 0, each item swapped for a
random item of its category). The two classes are weighted equally whatever their counts, so
the probability reads "how likely this is a real look rather than a random one of the same
categories, at even odds beforehand".

Two methods: ``platt`` (a logistic curve on the raw score; smooth, two parameters) and
``isotonic`` (the best non-decreasing step curve, pool-adjacent-violators, linear between steps).
Both are non-decreasing in the raw score, so ranking by probability is ranking by score.

:func:`expected_calibration_error` and :func:`reliability` measure how well probabilities match
frequencies (equal-width bins).

>>> cal = fit_calibration([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], "isotonic")
>>> cal([0.15, 0.85]).round(3).tolist()
[0.0, 1.0]
>>> expected_calibration_error([0.2, 0.2, 0.9, 0.9], [0, 1, 1, 1], bins=2)
0.2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vestis.errors import OptionsError

METHODS = ("platt", "isotonic")


@dataclass
class Calibration:
    """A fitted map from raw score to probability (call it on an array of raw scores).

    ``params``: ``{"a", "b"}`` for platt (p = sigmoid(a·s + b), a ≥ 0); ``{"x", "y"}`` for isotonic
    (the step curve's knots, x increasing, y non-decreasing). ``fitted_on`` says on what.
    """

    method: str
    params: dict[str, Any]
    fitted_on: dict[str, Any] = field(default_factory=dict)

    def __call__(self, raw: Sequence[float] | np.ndarray) -> np.ndarray:
        s = np.asarray(raw, dtype=np.float64)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.params["a"] * s + self.params["b"])))
        x, y = np.asarray(self.params["x"]), np.asarray(self.params["y"])
        return np.interp(s, x, y)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": self.params, "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Calibration | None:
        if not data:
            return None
        if data.get("method") not in METHODS:
            raise OptionsError(
                f"unknown calibration method {data.get('method')!r}; known: {', '.join(METHODS)}"
            )
        return cls(data["method"], dict(data["params"]), dict(data.get("fitted_on", {})))


def balanced_weights(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """Weights giving the positives and the negatives equal total weight (mean weight 1)."""
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        raise ValueError("calibration needs both real and random looks")
    return np.where(y, len(y) / (2 * n_pos), len(y) / (2 * n_neg))


def fit_calibration(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    method: str = "platt",
    weights: Sequence[float] | np.ndarray | None = None,
    fitted_on: dict[str, Any] | None = None,
) -> Calibration:
    """Fit ``method`` on raw scores and 0/1 labels (default weights: :func:`balanced_weights`)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    w = balanced_weights(y) if weights is None else np.asarray(weights, dtype=np.float64)
    if not (len(s) == len(y) == len(w)):
        raise ValueError("scores, labels and weights differ in length")
    if not np.isfinite(s).all():
        raise ValueError("calibration scores must be finite")
    if method == "platt":
        params = _platt(s, y, w)
    elif method == "isotonic":
        params = _isotonic(s, y, w)
    else:
        raise OptionsError(f"unknown calibration method {method!r}; known: {', '.join(METHODS)}")
    return Calibration(method, params, dict(fitted_on or {}))


def _platt(s: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-4, steps: int = 100) -> dict:
    """Weighted logistic regression on the standardised score (Newton's method), slope kept ≥ 0."""
    mu = float(np.average(s, weights=w))
    sd = float(np.sqrt(np.average((s - mu) ** 2, weights=w))) or 1.0
    x = (s - mu) / sd
    a = b = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(a * x + b)))
        r = w * (p - y)
        g = np.array([r @ x + l2 * a, r.sum()])
        h = w * p * (1 - p)
        hess = np.array([[h @ (x * x) + l2, h @ x], [h @ x, h.sum() + 1e-12]])
        step = np.linalg.solve(hess, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    if a < 0:  # a score that falls as looks get more real: no information, one probability for all
        a, b = 0.0, float(np.log(np.average(y, weights=w) / max(1e-12, 1 - np.average(y, weights=w))))
    return {"a": a / sd, "b": b - a * mu / sd}


def _isotonic(s: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict:
    """Pool adjacent violators on the scores sorted; one knot per block at its weighted mean score."""
    order = np.argsort(s, kind="mergesort")
    blocks: list[list[float]] = []  # [sum w·y, sum w, sum w·s]
    for i in order:
        blocks.append([w[i] * y[i], w[i], w[i] * s[i]])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            last = blocks.pop()
            blocks[-1] = [a + b for a, b in zip(blocks[-1], last, strict=True)]
    x = [b[2] / b[1] for b in blocks]
    p = [b[0] / b[1] for b in blocks]
    return {"x": x, "y": p}


def _bins(probs, labels, bins: int, weights):
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=np.float64)
    if not len(p) or len(p) != len(y) or len(p) != len(w):
        raise ValueError("probabilities, labels and weights must be non-empty and of one length")
    index = np.minimum((p * bins).astype(int), bins - 1)
    return p, y, w, index


def expected_calibration_error(
    probs: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    bins: int = 10,
    weights: Sequence[float] | np.ndarray | None = None,
) -> float:
    """Σ over equal-width probability bins of (bin weight share) × |share of positives − mean probability|."""
    p, y, w, index = _bins(probs, labels, bins, weights)
    total = 0.0
    for b in range(bins):
        m = index == b
        if w[m].sum() > 0:
            total += w[m].sum() * abs(np.average(y[m], weights=w[m]) - np.average(p[m], weights=w[m]))
    return round(float(total / w.sum()), 12)


def reliability(
    probs: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    bins: int = 10,
    weights: Sequence[float] | np.ndarray | None = None,
) -> list[dict[str, float]]:
    """The reliability diagram as rows: each non-empty bin's range, looks, mean probability, share real."""
    p, y, w, index = _bins(probs, labels, bins, weights)
    rows = []
    for b in range(bins):
        m = index == b
        if m.any():
            rows.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "looks": int(m.sum()),
                    "weight": float(w[m].sum() / w.sum()),
                    "mean_probability": float(np.average(p[m], weights=w[m])),
                    "share_real": float(np.average(y[m], weights=w[m])),
                }
            )
    return rows


def classification_metrics(
    probs: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    weights: Sequence[float] | np.ndarray | None = None,
    threshold: float = 0.5,
) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of "real when probability ≥ threshold" (weighted counts)."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=np.float64)
    said = p >= threshold
    tp, fp, fn = w[said & y].sum(), w[said & ~y].sum(), w[~said & y].sum()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": float(w[said == y].sum() / w.sum()),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }

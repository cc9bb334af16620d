"""Calibrate the garment parser's decisions on train photos (stored in its config.json).

* :func:`presence_scores`: garment presence precision, recall and F1 against tags.
* :func:`calibrate_presence`: per garment class, the smallest region share that counts, chosen to
  maximise presence F1 against the photos' tags (never below the model's ``min_area``).
* :func:`calibrate_person`: a logistic regression on :func:`vestis.parse.decisions.person_features`
  of photos of people (weighted) against product shots, and the lowest threshold on its
  probability that keeps ``product_rate`` of every product source's shots "product" (judged on
  cross-validated probabilities, so the threshold is not set on shots the rule was fitted to).

>>> calibrate_presence([{"hat": 0.0}, {"hat": 0.01}, {"hat": 0.05}], [set(), set(), {"hat"}], 0.002)
{'hat': 0.05}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vestis.parse.base import COARSE
from vestis.parse.decisions import PersonRule


def presence_scores(truth: Sequence[set[str]], pred: Sequence[set[str]]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of garment presence per coarse class, and micro-averaged."""
    out = {}
    for c in [*COARSE, "micro"]:
        classes = set(COARSE) if c == "micro" else {c}
        tp = sum(len(t & p & classes) for t, p in zip(truth, pred, strict=True))
        fp = sum(len((p - t) & classes) for t, p in zip(truth, pred, strict=True))
        fn = sum(len((t - p) & classes) for t, p in zip(truth, pred, strict=True))
        prec, rec = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        out[c] = {
            "precision": prec,
            "recall": rec,
            "f1": 2 * prec * rec / max(prec + rec, 1e-9),
            "support": tp + fn,
        }
    return out


def calibrate_presence(
    areas: Sequence[dict[str, float]], truth: Sequence[set[str]], floor: float
) -> dict[str, float]:
    """Per class in ``areas`` (largest region share per photo), the share ≥ ``floor`` that maximises
    F1 of "a region this large is there" against ``truth`` (the classes each photo shows); 1.0 (no
    region counts) for a class never shown."""
    out = {}
    for c in areas[0]:
        share = np.array([a[c] for a in areas])
        y = np.array([c in t for t in truth])
        cands = np.unique(np.concatenate([[floor, 1.0], share[share >= floor]]))  # 1.0: never
        f1 = np.array([2 * (y & (share >= t)).sum() / max((share >= t).sum() + y.sum(), 1) for t in cands])
        out[c] = float(cands[np.flatnonzero(f1 == f1.max())[-1]])  # of equals, the fewest regions
    return out


def fit_logistic(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float = 1.0, iters: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Weighted L2-regularised logistic regression by Newton's method on standardised ``x``:
    (mean, scale, weights, bias)."""
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[-1] = 0.0  # the bias is not shrunk
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        grad = z.T @ (weight * (p - y)) + reg * w
        hess = (z * (weight * p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return mean, scale, w[:-1], float(w[-1])


def _rule(names: list[str], x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float) -> PersonRule:
    mean, scale, w, b = fit_logistic(x, y, weight, l2)
    return PersonRule(names, mean.tolist(), scale.tolist(), w.tolist(), b)


def calibrate_person(
    names: list[str],
    people: dict[str, tuple[np.ndarray, float]],
    products: dict[str, np.ndarray],
    product_rate: float,
    folds: int = 5,
    l2: float = 1.0,
) -> tuple[PersonRule, float, dict[str, Any]]:
    """The person rule fitted on feature rows of photos of people (``people``: group → (rows, weight
    of each row)) against each source's product shots (together as heavy as the people), and its
    threshold; with the rates it reaches on train (held-out folds) and, for each product source, the
    share of its shots called product by a rule fitted and thresholded without that source
    (``left_out_source``: how it may do on a retailer it never saw)."""
    rule, threshold, scores = _fit_person(names, people, products, product_rate, folds, l2)
    report = {
        "threshold": threshold,
        "photos": {k: len(v) for k, v in scores.items()},
        "rate_train": {
            k: float((s > threshold).mean() if k.startswith("person:") else (s <= threshold).mean())
            for k, s in scores.items()
        },
    }
    if len(products) > 1:
        report["left_out_source"] = {}
        for name, rows in products.items():
            others = {k: v for k, v in products.items() if k != name}
            r, t, _ = _fit_person(names, people, others, product_rate, folds, l2)
            report["left_out_source"][name] = float((r.probability(rows) <= t).mean())
    return rule, threshold, report


def _fit_person(
    names: list[str],
    people: dict[str, tuple[np.ndarray, float]],
    products: dict[str, np.ndarray],
    product_rate: float,
    folds: int,
    l2: float,
) -> tuple[PersonRule, float, dict[str, np.ndarray]]:
    groups = {**{f"person:{k}": v[0] for k, v in people.items()}, **products}
    x = np.concatenate(list(groups.values()))
    y = np.concatenate([np.full(len(v), k.startswith("person:"), dtype=float) for k, v in groups.items()])
    weight = np.concatenate([np.full(len(rows), w) for rows, w in people.values()])
    n_shots = len(x) - len(weight)
    weight = np.r_[weight, np.full(n_shots, weight.sum() / n_shots)]
    fold = np.arange(len(x)) % folds
    held_out = np.empty(len(x))
    for k in range(folds):
        rule = _rule(names, x[fold != k], y[fold != k], weight[fold != k], l2)
        held_out[fold == k] = rule.probability(x[fold == k])
    scores, start = {}, 0
    for name, rows in groups.items():
        scores[name] = held_out[start : start + len(rows)]
        start += len(rows)
    # The lowest threshold that keeps product_rate of every source's held-out shots "product".
    threshold = max(float(np.quantile(scores[k], product_rate, method="higher")) for k in products)
    return _rule(names, x, y, weight, l2), threshold, scores

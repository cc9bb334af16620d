"""Per-field reliability of vestis-lite's heads on held-out data, and the gates it sets.

A head answers only where it has a signal. From calibrated validation probabilities this module
measures each head (support, accuracy against the majority-class guess, ECE and a reliability
table of confidence bins) and decides what the shipped config records:

* ``disabled[head] = reason``: too few training labels, no better than guessing the most common
  value, or (multi-label) no value with both positive and negative examples: the fields it
  would answer come back null with confidence 0.
* ``value_thresholds[head][value]``: a multi-label head's over-predicted values (said far more
  often than true on validation rows where the value's truth is known) get their own threshold,
  fitted so an asserted value is at least ``MIN_PRECISION`` precise, or None (never asserted)
  where no threshold reaches it; other values keep the field threshold.
  Single-label heads that remove less than a third of the majority guess's errors ("weak") get
  per-value thresholds too: a value is said only where it is at least twice as reliable as
  always guessing the most common value (and ``MIN_PRECISION`` precise).

>>> import numpy as np
>>> table = single_reliability(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 1]))
>>> table["accuracy"], table["majority"]
(1.0, 0.5)
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

MIN_TRAIN_LABELS = 200  # fewer labelled training examples: the head is not trusted
MIN_SUPPORT = 10  # fewest validation answers a threshold is fitted on
MIN_PRECISION = 0.8
WEAK_ERROR_REDUCTION = 1 / 3  # a single head removing less than this share of the majority guess errors
BINS = 10
TEMPERATURE_GRID = np.exp(np.linspace(np.log(0.3), np.log(5.0), 60))


def fit_temperatures(
    logits: dict[str, np.ndarray], truth: dict[str, np.ndarray], multi: list[str]
) -> dict[str, float]:
    """Per-head temperature minimising held-out NLL over :data:`TEMPERATURE_GRID` (robust and
    deterministic). ``truth`` as :func:`truth_arrays` gives it: single heads [N] (-1 unknown), multi
    [N, V] (NaN unknown); heads without a known answer get no temperature.

    >>> z = np.array([[4.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])  # confident, one in four wrong
    >>> fit_temperatures({"h": z}, {"h": np.array([0, 0, 1, 1])}, [])["h"] > 1.0
    True
    """
    temps: dict[str, float] = {}
    for head, z in logits.items():
        y = truth.get(head)
        if y is None:
            continue
        z = z.astype(np.float64)
        if head in multi:
            known = ~np.isnan(y)
            if not known.any():
                continue
            zk, yk = z[known], y[known]
            nll = [float(np.mean(np.logaddexp(0.0, zk / t) - yk * zk / t)) for t in TEMPERATURE_GRID]
        else:
            known = y >= 0
            if not known.any():
                continue
            zk, yk = z[known], y[known]
            nll = []
            for t in TEMPERATURE_GRID:
                s = zk / t
                top = s.max(axis=1, keepdims=True)
                logz = top[:, 0] + np.log(np.exp(s - top).sum(axis=1))
                nll.append(float(np.mean(logz - s[np.arange(len(yk)), yk])))
        temps[head] = round(float(TEMPERATURE_GRID[int(np.argmin(nll))]), 4)
    return temps


def _ece(confidence: np.ndarray, correct: np.ndarray) -> tuple[float, list[dict[str, float]]]:
    """Expected calibration error over equal-width confidence bins, and the bins themselves."""
    edges = np.linspace(0.0, 1.0, BINS + 1)
    rows, ece = [], 0.0
    for lo, hi in pairwise(edges):
        sel = (confidence >= lo) & ((confidence < hi) if hi < 1 else (confidence <= hi))
        if not sel.any():
            continue
        conf, acc = float(confidence[sel].mean()), float(correct[sel].mean())
        ece += sel.mean() * abs(conf - acc)
        rows.append(
            {
                "lo": round(float(lo), 2),
                "hi": round(float(hi), 2),
                "n": int(sel.sum()),
                "confidence": round(conf, 4),
                "accuracy": round(acc, 4),
            }
        )
    return round(float(ece), 4), rows


def single_reliability(probs: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Accuracy, majority-class accuracy, ECE and reliability bins of a softmax head (truth ≥ 0)."""
    known = truth >= 0
    p, y = probs[known], truth[known]
    if not len(y):
        return {"support": 0}
    pred = p.argmax(1)
    correct = (pred == y).astype(np.float64)
    ece, bins = _ece(p.max(1), correct)
    majority = float(np.bincount(y).max() / len(y))
    return {
        "support": len(y),
        "accuracy": round(float(correct.mean()), 4),
        "majority": round(majority, 4),
        "ece": ece,
        "bins": bins,
        "predicted_majority_share": round(float(np.bincount(pred).max() / len(pred)), 4),
    }


def _precision_threshold(score: np.ndarray, positive: np.ndarray, target: float) -> float | None:
    """Smallest score at which the answers above it are ``target`` precise (≥ MIN_SUPPORT of them)."""
    order = np.argsort(-score)
    hits = np.cumsum(positive[order])
    n = np.arange(1, len(order) + 1)
    ok = (hits / n >= target) & (n >= MIN_SUPPORT)
    if not ok.any():
        return None
    return round(float(score[order][np.flatnonzero(ok).max()]), 4)


def single_gates(probs: np.ndarray, truth: np.ndarray, vocab: list[str]) -> dict[str, float | None] | None:
    """Per-value thresholds of a weak single head (None when the head is not weak)."""
    table = single_reliability(probs, truth)
    if not table.get("support"):
        return None
    errors = 1.0 - table["majority"]
    if errors <= 0 or (table["accuracy"] - table["majority"]) / errors >= WEAK_ERROR_REDUCTION:
        return None
    known = truth >= 0
    p, y = probs[known], truth[known]
    pred, conf = p.argmax(1), p.max(1)
    out: dict[str, float | None] = {}
    for j, value in enumerate(vocab):
        said = pred == j
        if not said.any():
            continue
        base = float((y == j).mean())
        target = max(MIN_PRECISION, 1.0 - (1.0 - base) / 2)
        out[value] = _precision_threshold(conf[said], (y[said] == j).astype(np.float64), target)
    return out


def multi_gates(probs: np.ndarray, truth: np.ndarray, vocab: list[str]) -> dict[str, float | None]:
    """Thresholds of a multi-label head's over-predicted values; truth is [N, V], NaN where unknown.

    A value is over-predicted when the head asserts it (p ≥ 0.5) on at least twice as many rows
    as have it (and 5 points more): it then gets the threshold at which its answers are
    ``MIN_PRECISION`` precise, or None (never asserted) where none is. Other values keep 0.5.
    """
    out: dict[str, float | None] = {}
    for j, value in enumerate(vocab):
        known = ~np.isnan(truth[:, j])
        y, p = truth[known, j], probs[known, j]
        if (1 - y).sum() < MIN_SUPPORT:
            continue  # no negatives: nothing tells over-prediction apart
        said, true = float((p >= 0.5).mean()), float(y.mean())
        if said < 2 * true or said - true < 0.05:
            continue
        out[value] = _precision_threshold(p, y, MIN_PRECISION) if y.sum() >= MIN_SUPPORT else None
    return out


def disable_reason(
    train_labels: int, table: dict[str, Any], multi: bool, gates: dict[str, float]
) -> str | None:
    """Why a head must not answer, or None."""
    if train_labels < MIN_TRAIN_LABELS:
        return f"{train_labels} training labels (< {MIN_TRAIN_LABELS})"
    if multi and gates and all(t is None for t in gates.values()):
        return f"every value it was checked on is over-predicted below precision {MIN_PRECISION}"
    if not multi and table.get("support", 0) and table["accuracy"] <= table["majority"]:
        return f"accuracy {table['accuracy']:.3f} no better than the majority guess {table['majority']:.3f}"
    return None


def worn_reason(truth: list[Any], predicted: list[Any]) -> str | None:
    """Why a head must not answer on garments worn in photos of people, or None, from its answers
    on labelled worn garments (``truth`` None: not labelled; ``predicted`` None: no answer).

    Worn labels are few, too few to fit per-value thresholds, so a head that is weak there —
    removing less than ``WEAK_ERROR_REDUCTION`` of the errors of always guessing the labels' most
    common value, on the garments it answers — is switched off on them.

    >>> worn_reason(["a"] * 8 + ["b"] * 4, ["a"] * 12)
    'on 12 worn garments: 8 of 12 answers right, guessing "a" always: 8 (needs 10)'
    >>> worn_reason(["a"] * 8 + ["b"] * 4, ["a"] * 8 + ["b"] * 4) is None
    True
    """
    labelled = [(t, p) for t, p in zip(truth, predicted, strict=True) if t is not None]
    answered = [(t, p) for t, p in labelled if p is not None]
    if len(answered) < MIN_SUPPORT:
        return None  # not enough evidence either way: the product-shot gates stand
    values = [t for t, _ in labelled]
    majority = max(set(values), key=values.count)
    right = sum(t == p for t, p in answered)
    guess = sum(t == majority for t, _ in answered)
    needed = guess + WEAK_ERROR_REDUCTION * (len(answered) - guess)
    if right >= needed:
        return None
    return (
        f"on {len(labelled)} worn garments: {right} of {len(answered)} answers right, "
        f'guessing "{majority}" always: {guess} (needs {int(np.ceil(needed))})'
    )


def truth_arrays(
    labels: list[dict[str, Any]], sources: list[str], heads: dict[str, list[str]], multi: list[str]
):
    """Validation truth per head: single → [N] index (-1 unknown); multi → [N, V] with NaN unknown.

    Multi-label truth is closed-world within a dataset: a dataset that gives a field to some of its
    examples declares, by its mapping, that its other examples have none of the values it ever
    gives (an H&M article outside the Sport index group is not ``sport``). Without these negatives a
    head trained only on positives looks perfect and answers its one value for everything.
    """
    out: dict[str, np.ndarray] = {}
    for head, vocab in heads.items():
        index = {v: i for i, v in enumerate(vocab)}
        if head not in multi:
            out[head] = np.array([index.get(lab.get(head), -1) for lab in labels], dtype=np.int64)
            continue
        given: dict[str, set[int]] = {}
        for lab, src in zip(labels, sources, strict=True):
            given.setdefault(src, set()).update(index[v] for v in lab.get(head) or [] if v in index)
        arr = np.full((len(labels), len(vocab)), np.nan)
        for i, (lab, src) in enumerate(zip(labels, sources, strict=True)):
            cols = sorted(given[src])
            arr[i, cols] = 0.0
            for v in lab.get(head) or []:
                if v in index:
                    arr[i, index[v]] = 1.0
        out[head] = arr
    return out


def fit_reliability(
    probs: dict[str, np.ndarray],
    truth: dict[str, np.ndarray],
    train_labels: dict[str, int],
    heads: dict[str, list[str]],
    multi: list[str],
) -> tuple[dict[str, str], dict[str, dict[str, float]], dict[str, Any]]:
    """(disabled heads with reasons, per-value thresholds, reliability table) from calibrated
    validation probabilities."""
    disabled: dict[str, str] = {}
    gates: dict[str, dict[str, float]] = {}
    table: dict[str, Any] = {}
    for head, vocab in heads.items():
        p, y = probs[head], truth[head]
        if head in multi:
            g = multi_gates(p, y, vocab)
            known = ~np.isnan(y)
            row: dict[str, Any] = {
                "support": int(known.any(axis=1).sum()),
                "values": {
                    v: {
                        "positives": int(np.nansum(y[:, j])),
                        "negatives": int((y[known[:, j], j] == 0).sum()),
                        "threshold": g.get(v, "field") if v in g else "field",
                    }
                    for j, v in enumerate(vocab)
                    if known[:, j].any()
                },
            }
            if g:
                gates[head] = g
        else:
            row = single_reliability(p, y)
            g = single_gates(p, y, vocab) or {}
            if g:
                gates[head] = g
                row["value_thresholds"] = g
        row["train_labels"] = int(train_labels.get(head, 0))
        reason = disable_reason(row["train_labels"], row, head in multi, g)
        if reason:
            disabled[head] = reason
            gates.pop(head, None)
            row["disabled"] = reason
        table[head] = row
    return disabled, gates, table


__all__ = [
    "disable_reason",
    "fit_reliability",
    "multi_gates",
    "single_gates",
    "single_reliability",
    "truth_arrays",
]

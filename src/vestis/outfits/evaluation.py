"""A scorer's outfit metrics on a set of outfits: what the outfits eval task reports and what
the outfit recipes validate with (so both import it from here, below ``train`` and ``eval``).

* **compatibility AUC**: each real outfit against type-consistent random outfits (each item
  replaced by a random item of its category from the outfits' items; fixed seed);
* **FITB accuracy**: one random item hidden, four candidates of its category (the hidden one
  and three others; fixed seed), the scorer picks the one whose outfit scores highest;
* **complete-the-look recall@k**: the same hidden item must rank in the top k of *all* the
  items of its category (those not already in the outfit).

Chance levels are reported beside each metric. The scorer first sees the items
(:meth:`~vestis.outfits.base.OutfitScorer.adapt`), never the outfits.

A calibrated scorer's probabilities are measured on the same real and random outfits, the two
classes weighted equally (as the calibration was fitted): expected calibration error (ECE, 10
equal-width bins), the reliability table, Brier score, and accuracy / precision / recall / F1
of "real when the probability is at least 0.5", as the complementary-item literature reports
them. These are of the calibrated score, which is the probability
(:meth:`~vestis.outfits.base.OutfitScorer.probability`) of every look without a structural
problem. A look with one is multiplied down on purpose, and this protocol cannot judge that
part (a random outfit has its real one's categories, so the same problems): ``ece_with_structure``
is the ECE of the probability itself, ``real_with_problems`` the share of the real outfits with
a structural problem (on Mango: a stylist listing a second pair of shoes as an alternative).
:func:`fit_scorer_calibration` fits a scorer's calibration the same way on looks it was not
trained on.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

from vestis.errors import OptionsError
from vestis.outfits.calibration import (
    Calibration,
    balanced_weights,
    classification_metrics,
    expected_calibration_error,
    fit_calibration,
    reliability,
)
from vestis.outfits.data import OutfitData, disjoint_split, fitb_questions, type_consistent_negative
from vestis.outfits.metrics import auc, fitb_accuracy, rank_of
from vestis.progress import progress_bar

if TYPE_CHECKING:
    from vestis.outfits.base import OutfitScorer


def outfit_metrics(
    scorer: OutfitScorer,
    data: OutfitData,
    seed: int = 0,
    k: int = 10,
    recall: bool = True,
    progress: bool = False,
    by_occurrence: bool = False,
    negatives: int = 5,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(metrics, one record per FITB question) of ``scorer`` on every outfit of ``data``.

    ``negatives`` random outfits per real one for the AUC (more only lower its variance).
    ``by_occurrence`` draws negative items as often as they occur in the outfits instead of
    uniformly: items popular with stylists are then no cue (see benchmarks/outfits.py).
    """
    pool = data.pool()
    draw = data.pool(by_occurrence)
    pool_items = sorted({i for items in data.outfits.values() for i in items})
    scorer.adapt(data.items(pool_items))
    keys = sorted(data.outfits, key=lambda x: hashlib.sha1(x.encode()).hexdigest())
    rng = np.random.default_rng(seed)
    fakes = [
        type_consistent_negative(data.outfits[key], data.categories, draw, rng)
        for key in keys
        for _ in range(negatives)
    ]
    real_looks = [data.items(data.outfits[key]) for key in keys]
    fake_looks = [data.items(o) for o in fakes]
    pos, neg = scorer.score(real_looks), scorer.score(fake_looks)
    questions = fitb_questions(data, seed=seed, by_occurrence=by_occurrence)
    records: list[dict[str, Any]] = []
    with progress_bar(disable=not progress) as bar:
        task = bar.add_task("outfit questions", total=len(questions))
        for q in questions:
            given = data.items(q.given)
            cand_scores = scorer.score_with(given, data.items(q.candidates))
            hidden = q.candidates[q.answer]
            record: dict[str, Any] = {
                "outfit": q.outfit_id,
                "given": q.given,
                "candidates": q.candidates,
                "answer": q.answer,
                "scores": [float(s) for s in cand_scores],
                "category": data.categories[hidden],
            }
            if recall:
                everyone = np.setdiff1d(pool[data.categories[hidden]], q.given)
                scores = scorer.score_with(given, data.items(everyone))
                record["rank"] = rank_of(scores, int(np.flatnonzero(everyone == hidden)[0]))
                record["pool"] = len(everyone)
            records.append(record)
            bar.advance(task)
    metrics: dict[str, Any] = {
        "outfits": len(keys),
        "items": len(pool_items),
        "auc": auc(pos, neg),
        "auc_negatives": len(fakes),
        "fitb": fitb_accuracy([r["scores"] for r in records], [r["answer"] for r in records])
        if records
        else None,
        "fitb_questions": len(records),
        "chance": {"auc": 0.5, "fitb": 0.25},
    }
    if scorer.calibration is not None:
        metrics.update(
            probability_metrics(scorer, real_looks + fake_looks, np.concatenate([pos, neg]), len(pos))
        )
    if metrics["fitb"] is not None:  # the noise between two scorers' accuracies
        metrics["fitb_stderr"] = float(np.sqrt(metrics["fitb"] * (1 - metrics["fitb"]) / len(records)))
    by_cat: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_cat[str(r["category"])].append(r)
    metrics["fitb_by_category"] = {
        c: {
            "accuracy": fitb_accuracy([r["scores"] for r in rs], [r["answer"] for r in rs]),
            "questions": len(rs),
        }
        for c, rs in sorted(by_cat.items())
    }
    if recall and records:
        metrics[f"recall@{k}"] = float(np.mean([r["rank"] < k for r in records]))
        metrics["median_rank"] = float(np.median([r["rank"] for r in records]))
        metrics["chance"][f"recall@{k}"] = float(np.mean([min(1.0, k / r["pool"]) for r in records]))
    return metrics, records


def probability_metrics(scorer: OutfitScorer, looks: list, raw: np.ndarray, n_real: int) -> dict[str, Any]:
    """ECE, reliability, Brier, accuracy and F1 of ``scorer``'s probabilities on ``looks`` (the first
    ``n_real`` real, the rest random; ``raw``: their scores), both classes weighted equally."""
    labels = np.arange(len(looks)) < n_real
    weights = balanced_weights(labels)
    p = scorer.probability(looks, raw)
    assert p is not None and scorer.calibration is not None
    calibrated = scorer.calibration(raw)
    out = {
        "ece": expected_calibration_error(calibrated, labels, weights=weights),
        "ece_with_structure": expected_calibration_error(p, labels, weights=weights),
        "brier": float(np.average((calibrated - labels) ** 2, weights=weights)),
        **classification_metrics(calibrated, labels, weights),
        "reliability": reliability(calibrated, labels, weights=weights),
        "calibration": scorer.calibration.method,
    }
    if scorer.structure is not None:
        flawed = [bool(scorer.structure.problems([it.category for it in look])) for look in looks[:n_real]]
        out["real_with_problems"] = float(np.mean(flawed))
    return out


def calibration_looks(
    data: OutfitData, seed: int = 0, negatives: int = 5
) -> tuple[list[list[int]], np.ndarray]:
    """(looks, labels): every outfit of ``data`` (1) and ``negatives`` type-consistent random
    outfits per outfit (0), their items drawn uniformly from the outfits' items."""
    rng = np.random.default_rng(seed)
    pool = data.pool()
    real = [data.outfits[k] for k in sorted(data.outfits)]
    fake = [type_consistent_negative(o, data.categories, pool, rng) for o in real for _ in range(negatives)]
    return real + fake, np.r_[np.ones(len(real)), np.zeros(len(fake))]


def fit_scorer_calibration(
    scorer: OutfitScorer, data: OutfitData, method: str = "platt", seed: int = 0, negatives: int = 5
) -> Calibration:
    """Fit ``scorer``'s calibration on the outfits of ``data`` (looks it never trained on) against
    type-consistent random ones (:func:`calibration_looks`); sets and returns it."""
    looks, labels = calibration_looks(data, seed, negatives)
    scorer.adapt(data.items(sorted({i for o in data.outfits.values() for i in o})))
    raw = scorer.score([data.items(o) for o in looks])
    fitted_on = {"outfits": len(data.outfits), "negatives_per_outfit": negatives, "seed": seed}
    scorer.calibration = fit_calibration(raw, labels, method, fitted_on=fitted_on)
    return scorer.calibration


__all__ = ["fit_scorer_calibration", "outfit_metrics", "probability_metrics"]


def split_outfits(data: OutfitData, split: str = "val", val_fraction: float = 0.15) -> OutfitData:
    """The outfits of one split (``train``, ``val`` or ``all``) of :func:`disjoint_split`."""
    if split == "all":
        return data
    if split not in ("train", "val"):
        raise OptionsError(f"split must be train, val or all, not {split!r}")
    train, val = disjoint_split(data.outfits, val_fraction)
    return data.subset(train if split == "train" else val)

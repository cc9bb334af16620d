"""Outfit metrics: compatibility AUC, fill-in-the-blank accuracy, recall@k. Ties count half.

>>> auc([0.9, 0.8], [0.1, 0.8])
0.875
>>> fitb_accuracy([[0.1, 0.7, 0.2, 0.0], [0.5, 0.5, 0.1, 0.1]], [1, 0])
0.75
>>> recall_at_k([[0.3, 0.9, 0.5]], [2], k=1), recall_at_k([[0.3, 0.9, 0.5]], [2], k=2)
(0.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Probability that a random positive scores above a random negative (ROC AUC; ties count half)."""
    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    if not len(pos) or not len(neg):
        raise ValueError("AUC needs at least one positive and one negative score")
    scores = np.concatenate([pos, neg])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks of tied groups (1-based)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(scores)]
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + e + 1) / 2
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def fitb_accuracy(candidate_scores: Sequence[Sequence[float]], answers: Sequence[int]) -> float:
    """Share of questions whose answer scores highest among its candidates (a t-way tie earns 1/t)."""
    if not len(answers):
        raise ValueError("no fill-in-the-blank questions")
    total = 0.0
    for scores, answer in zip(candidate_scores, answers, strict=True):
        s = np.asarray(scores, dtype=np.float64)
        best = s.max()
        if s[answer] == best:
            total += 1.0 / int((s == best).sum())
    return total / len(answers)


def rank_of(scores: Sequence[float], target: int) -> float:
    """0-based rank of ``target`` in descending order, with ties to it counted half."""
    s = np.asarray(scores, dtype=np.float64)
    higher = int((s > s[target]).sum())
    tied = int((s == s[target]).sum()) - 1
    return higher + tied / 2


def recall_at_k(score_lists: Sequence[Sequence[float]], targets: Sequence[int], k: int = 10) -> float:
    """Share of queries whose target ranks in the top ``k`` of its candidate list."""
    if not len(targets):
        raise ValueError("no queries")
    hits = [rank_of(s, t) < k for s, t in zip(score_lists, targets, strict=True)]
    return float(np.mean(hits))

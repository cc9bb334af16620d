"""Reliability gates fitted from held-out probabilities (vestis.train.lite_reliability)."""

from __future__ import annotations

import numpy as np

from vestis.train.lite_reliability import fit_reliability, truth_arrays


def test_a_head_trained_on_positives_only_is_gated_off():
    rng = np.random.default_rng(0)
    n = 400
    sources = ["a"] * n
    labels = [{"occasion": ["sport"]} if i < 20 else {} for i in range(n)]
    truth = truth_arrays(labels, sources, {"occasion": ["sport", "beach"]}, ["occasion"])
    assert truth["occasion"][0, 0] == 1 and truth["occasion"][50, 0] == 0  # closed world within "a"
    assert np.isnan(truth["occasion"][50, 1])  # "a" never gives beach: unknown
    probs = {"occasion": np.c_[rng.uniform(0.6, 1.0, n), rng.uniform(0, 1, n)]}  # sport said for all
    disabled, gates, table = fit_reliability(
        probs, truth, {"occasion": 500}, {"occasion": ["sport", "beach"]}, ["occasion"]
    )
    assert gates == {} and "occasion" in disabled
    assert table["occasion"]["values"]["sport"]["positives"] == 20


def test_few_training_labels_disable_and_weak_single_heads_get_value_thresholds():
    rng = np.random.default_rng(1)
    n = 1000
    y = (rng.random(n) < 0.1).astype(int)  # 90% majority
    logits = np.c_[np.full(n, 2.0), np.where(y == 1, rng.normal(2.2, 1, n), 0.0)]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    heads = {"age_group": ["adult", "kids"], "style": ["sporty"]}
    truth = {"age_group": y, "style": np.full((n, 1), np.nan)}
    probs = {"age_group": p, "style": np.full((n, 1), 0.99)}
    disabled, gates, table = fit_reliability(probs, truth, {"age_group": 5000, "style": 40}, heads, ["style"])
    assert disabled["style"].startswith("40 training labels")
    assert table["age_group"]["majority"] == round(float((y == 0).mean()), 4)
    assert 0 <= table["age_group"]["ece"] <= 1 and table["age_group"]["bins"]
    if "age_group" in gates:  # weak: a value is said only where it beats the majority guess
        assert set(gates["age_group"]) <= {"adult", "kids"}

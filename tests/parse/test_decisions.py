"""The lite parser's calibrated decisions: map statistics, the person rule, per-class presence."""

from __future__ import annotations

import numpy as np
import pytest

from vestis.parse.base import Region
from vestis.parse.decisions import (
    PersonRule,
    largest_region_areas,
    map_statistics,
    person_features,
    present_regions,
)
from vestis.parse.labels import CLASSES


def test_map_statistics_and_features():
    probs = np.zeros((len(CLASSES), 4, 4))
    probs[0] = 1.0
    probs[0, :2, :2], probs[1, :2, :2] = 0.25, 0.75  # a quarter of the map is skin at 0.75
    regions = [
        Region((0, 0, 2, 2), 0.1, "top"),
        Region((2, 2, 4, 4), 0.2, "top"),
        Region((0, 0, 1, 1), 0.01, "hat"),
    ]
    stats = map_statistics(probs, regions)
    assert stats.area[:2].tolist() == [0.75, 0.25] and stats.garments == 2
    assert stats.soft[1] == pytest.approx(0.75 / 4) and stats.peak[1] == 0.75
    assert stats.entropy == pytest.approx(-(0.25 * np.log(0.25) + 0.75 * np.log(0.75)) / 4)
    features = person_features(stats, CLASSES)
    assert len(features) == 3 * len(CLASSES) + 2
    assert features["log_area_skin"] == pytest.approx(np.log(0.25 + 1e-3)) and features["garments"] == 2
    assert largest_region_areas(regions)["top"] == 0.2 and largest_region_areas(regions)["bag"] == 0.0


def test_person_rule_scores_named_features_and_round_trips():
    rule = PersonRule(["b", "a"], mean=[0.0, 1.0], scale=[1.0, 2.0], weights=[2.0, -1.0], bias=0.5)
    x = rule.vector({"a": 3.0, "b": 1.0, "unused": 9.0})
    assert x.tolist() == [1.0, 3.0]
    assert rule.probability(x) == pytest.approx(1 / (1 + np.exp(-(2.0 * 1.0 - 1.0 * 1.0 + 0.5))))
    assert PersonRule.from_dict(rule.to_dict()) == rule
    with pytest.raises(ValueError, match="differ in length"):
        PersonRule.from_dict({**rule.to_dict(), "weights": [1.0]})


def test_present_regions_apply_each_class_share():
    regions = [Region((0, 0, 1, 1), 0.05, "dress"), Region((0, 0, 1, 1), 0.002, "accessory")]
    kept = present_regions(regions, {"dress": 0.06, "accessory": 0.001})
    assert [r.category for r in kept] == ["accessory"]
    assert present_regions(regions, {}) == regions  # classes without a share keep every region

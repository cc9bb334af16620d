"""Calibration of the garment parser's decisions: presence shares, the person rule and threshold."""

from __future__ import annotations

import numpy as np

from vestis.train.parser_calibration import calibrate_person, calibrate_presence, presence_scores


def test_presence_share_maximises_f1_and_never_for_a_class_never_shown():
    areas = [{"hat": 0.0, "bag": 0.01}, {"hat": 0.01, "bag": 0.02}, {"hat": 0.05, "bag": 0.0}]
    truth = [set(), set(), {"hat"}]
    assert calibrate_presence(areas, truth, floor=0.002) == {"hat": 0.05, "bag": 1.0}


def test_presence_scores_micro_and_per_class():
    scores = presence_scores([{"top", "bottom"}, {"dress"}], [{"top"}, {"dress", "bag"}])
    assert scores["top"]["f1"] == 1.0 and scores["bottom"]["recall"] == 0.0
    assert scores["micro"]["precision"] == 2 / 3 and scores["micro"]["recall"] == 2 / 3
    assert scores["micro"]["support"] == 3


def test_person_rule_keeps_the_product_rate_of_every_source():
    rng = np.random.default_rng(0)
    people = rng.normal(2.0, 1.0, (300, 2))
    products = {"studio": rng.normal(-2.0, 1.0, (200, 2)), "phone": rng.normal(0.0, 1.0, (200, 2))}
    rule, threshold, report = calibrate_person(["x", "y"], {"photos": (people, 1.0)}, products, 0.95)
    assert report["threshold"] == threshold and set(report["rate_train"]) == {
        "person:photos",
        "studio",
        "phone",
    }
    assert all(report["rate_train"][k] >= 0.95 for k in products)
    assert 0.5 < report["rate_train"]["person:photos"] < 1.0  # the phone shots overlap the people
    assert rule.probability(np.array([3.0, 3.0])) > threshold > rule.probability(np.array([-3.0, -3.0]))


def test_person_rule_reports_each_product_source_left_out():
    rng = np.random.default_rng(1)
    people = rng.normal(2.0, 1.0, (300, 2))
    near = {"a": rng.normal(-2.0, 1.0, (200, 2)), "b": rng.normal(-2.0, 1.0, (200, 2))}
    _, _, report = calibrate_person(["x", "y"], {"photos": (people, 1.0)}, near, 0.95)
    assert set(report["left_out_source"]) == {"a", "b"}
    assert all(v > 0.85 for v in report["left_out_source"].values())  # like the others: mostly right
    # A source unlike the others (shots that look like people) is missed when left out.
    far = {**near, "c": rng.normal(1.5, 0.5, (200, 2))}
    _, _, report = calibrate_person(["x", "y"], {"photos": (people, 1.0)}, far, 0.95)
    assert report["left_out_source"]["c"] < 0.5 < report["rate_train"]["c"]

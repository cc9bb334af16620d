"""Metrics on tiny cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from vestis.eval import metrics as M
from vestis.schema import Schema

SCHEMA = Schema.from_dict(
    {
        "name": "tiny",
        "fields": {
            "colour": {"kind": "single", "weight": 2.0, "values": ["red", "blue", "green"]},
            "closure": {"kind": "multi", "weight": 1.0, "values": ["zip", "buttons", "laces"]},
            "brand": {"kind": "text", "weight": 1.0},
            "size": {"kind": "text", "weight": 3.0},
        },
    }
)


def test_accuracy_and_macro_f1_single() -> None:
    gold, pred = ["a", "a", "b", "c"], ["a", "b", "b", None]
    assert M.accuracy(gold, pred) == 0.5
    # a: 2/3, b: 2/3, c: 0 (None is not a class)
    assert M.macro_f1(gold, pred) == pytest.approx(4 / 9)
    assert M.macro_f1(["a"], ["a"]) == 1.0
    assert M.accuracy([], []) == 0.0


def test_set_f1_micro_macro_samples() -> None:
    gold = [["x", "y"], ["x"], []]
    pred = [["x"], ["x", "z"], []]
    f1 = M.set_f1(gold, pred)
    assert f1["micro_f1"] == pytest.approx(2 / 3)  # tp 2, fp 1, fn 1
    assert f1["macro_f1"] == pytest.approx(1 / 3)  # x 1, y 0, z 0
    assert f1["samples_f1"] == pytest.approx(7 / 9)  # 2/3, 2/3, 1
    assert M.set_f1([[]], [[]]) == {"micro_f1": 1.0, "macro_f1": 1.0, "samples_f1": 1.0}


def test_confusion_matrix() -> None:
    matrix, labels = M.confusion_matrix(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    assert labels == ["a", "b"]
    assert matrix.tolist() == [[1, 1], [0, 1]]
    matrix, labels = M.confusion_matrix(["b", "b", "a"], ["b", "c", "a"])
    assert labels == ["b", "a", "c"]  # by gold frequency, unseen-in-gold last
    assert matrix.sum() == 3 and matrix[0, 2] == 1


def test_text_metrics() -> None:
    # LCS("the red wool coat", "red coat wool") = 2 → P 2/3, R 1/2, F 4/7
    assert M.rouge_l("the red wool coat", "Red coat wool") == pytest.approx(4 / 7)
    assert M.rouge_l("navy coat", "navy coat") == 1.0
    assert M.rouge_l("navy coat", None) == 0.0
    assert M.token_set_ratio("Blue Denim", "denim  blue") == 1.0
    assert M.token_set_ratio("Blue Denim", None) == 0.0
    assert 0.0 < M.token_set_ratio("Levi's", "Levis") < 1.0


def test_null_aware_match() -> None:
    out = M.null_aware_match([None, "a", "b", None, []], [None, "a", "c", "d", None])
    assert out["presence_agreement"] == pytest.approx(4 / 5)
    assert out["value_accuracy"] == 0.5
    assert M.null_aware_match([], []) == {"presence_agreement": None, "value_accuracy": None}


def test_weighted_score_uses_only_labelled_fields() -> None:
    per_field = {
        "a": {"weight": 2.0, "support": 3, "accuracy": 1.0},
        "b": {"weight": 1.0, "support": 2, "accuracy": 0.4},
        "c": {"weight": 5.0, "support": 0},
    }
    assert M.weighted_score(per_field) == pytest.approx(0.8)
    assert M.weighted_score({"c": {"weight": 1.0, "support": 0}}) is None


def test_valid_json_rates_leave_out_image_errors() -> None:
    records = [
        {"valid_raw": True, "error_kind": None},
        {"valid_raw": False, "error_kind": None},
        {"valid_raw": False, "error_kind": "output"},
        {"valid_raw": False, "error_kind": "image"},
    ]
    rates = M.valid_json_rates(records)
    assert rates["strict"] == pytest.approx(1 / 3)
    assert rates["after_repair"] == pytest.approx(2 / 3)
    assert rates["text_outputs"] == 0
    assert M.valid_json_rates([{"valid_raw": True, "raw": '{"a": 1}'}])["text_outputs"] == 1
    assert rates["parses"] is None  # no text: a closed-set backend


def test_parses_counts_syntax_whatever_the_schema_says() -> None:
    records = [
        {"valid_raw": True, "raw": '{"colour": "red"}'},
        {"valid_raw": False, "raw": '{"colour": ["red"]}'},  # valid JSON, not the schema's
        {"valid_raw": False, "raw": '{"colour": "re'},  # cut off
        {"valid_raw": False, "raw": '["red"]'},  # JSON, not an object
    ]
    rates = M.valid_json_rates(records)
    assert rates["parses"] == pytest.approx(2 / 4) and rates["strict"] == pytest.approx(1 / 4)


def test_evaluate_per_field() -> None:
    golds = [
        {"colour": "red", "closure": ["zip"], "brand": "Levi's"},
        {"colour": "blue", "closure": [], "brand": None},
        {"colour": None, "closure": ["zip", "buttons"]},
        {},
    ]
    preds = [
        {"colour": "red", "closure": ["zip"], "brand": "levi's"},
        {"colour": "red", "closure": None, "brand": "Gap"},
        {"colour": "green", "closure": ["buttons"], "brand": None},
        {"colour": "red", "closure": [], "brand": None},
    ]
    out = M.evaluate(SCHEMA, golds, preds)
    colour, closure, brand, size = (out["fields"][k] for k in ("colour", "closure", "brand", "size"))
    assert colour["support"] == 2 and colour["accuracy"] == 0.5 and colour["coverage"] == 1.0
    assert colour["label_rate"] == 0.5
    assert colour["presence_agreement"] == pytest.approx(2 / 3)  # the null gold got a colour
    assert closure["support"] == 2 and closure["accuracy"] == 0.5  # an empty gold set is "unknown"
    assert closure["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 0 + 1))
    assert closure["presence_agreement"] == 1.0  # ... but still counts for presence (4th has no key)
    assert brand["support"] == 1 and brand["accuracy"] == 1.0 and brand["rouge_l"] == 1.0
    assert size["support"] == 0 and "accuracy" not in size
    # (2 * 0.5 + 1 * 0.5 + 1 * 1.0) / 4; size has no labels and does not count
    assert out["weighted_score"] == pytest.approx((1.0 + 0.5 + 1.0) / 4)


@pytest.mark.slow
def test_embedding_cosine_minilm() -> None:
    sims = M.embedding_cosine(
        ["a red summer dress", "a red summer dress", "black leather boots"],
        ["a crimson dress for summer", "a laptop computer", None],
    )
    assert sims[0] > sims[1] + 0.2
    assert sims[2] == 0.0
    assert np.isfinite(sims).all()
    brand = SCHEMA.fields["brand"]
    out = M.field_metrics(brand, [{"brand": "Levi's"}], [{"brand": "Levis"}], embeddings=True)
    assert 0.5 < out["embedding_cosine"] <= 1.0

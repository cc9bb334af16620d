"""The Denali measures on tiny cases worked out by hand."""

from __future__ import annotations

import pytest

from vestis.eval import denali as D
from vestis.eval import metrics as M
from vestis.schema import Schema, load_schema

SCHEMA = Schema.from_dict(
    {
        "name": "tiny",
        "fields": {
            "colour": {"kind": "single", "weight": 2.0, "values": ["red", "navy", "blue", "light_grey"]},
            "closure": {"kind": "multi", "values": ["zip", "buttons"]},
            "brand": {"kind": "text"},
        },
    }
)
COLOUR = SCHEMA.fields["colour"]

# gold → prediction, one example each; the sixth has no colour key (not annotated)
GOLDS = [
    {"colour": "red"},
    {"colour": None},
    {"colour": "not visible"},
    {"colour": "navy"},
    {"colour": "blue"},
    {},
]
PREDS = [
    {"colour": "Red"},
    {"colour": "N/A"},
    {"colour": "navy"},
    {"colour": "none"},
    {"colour": "navy"},
    {"colour": "red"},
]


def _fake_similarity(gold, pred):
    return [1.0 if g == p else 0.5 for g, p in zip(gold, pred, strict=True)]


@pytest.mark.parametrize(
    "spelling", [None, [], "", "N/A", "n/a", "none", "None", "not visible", "unknown", "-"]
)
def test_null_spellings_are_null(spelling) -> None:
    assert M.is_null(spelling)
    assert D.normalised(COLOUR, spelling) is None


def test_values_compare_through_the_schema_normalisation() -> None:
    assert D.normalised(COLOUR, "Light-Grey") == D.normalised(COLOUR, "light_grey") == "light_grey"
    assert D.normalised(SCHEMA.fields["closure"], ["Zip", "buttons", "none"]) == frozenset({"zip", "buttons"})
    assert D.normalised(SCHEMA.fields["closure"], ["n/a"]) is None
    assert D.value_text(COLOUR, "light_grey") == "light grey"
    assert D.value_text(SCHEMA.fields["closure"], ["zip", "buttons"]) == "buttons, zip"
    assert D.value_text(SCHEMA.fields["brand"], "  Levi's  ") == "Levi's"


def test_structured_match_is_null_aware() -> None:
    out = D.structured_match(COLOUR, GOLDS, PREDS)
    assert out["annotated"] == 5
    assert out["presence_rate"] == pytest.approx(2 / 3)  # red, navy, blue labelled; navy got "none"
    assert out["null_rate"] == pytest.approx(1 / 2)  # None → "N/A" says null; "not visible" → navy does not
    assert out["value_accuracy"] == pytest.approx(2 / 5)  # red = Red, null = N/A
    assert D.structured_match(COLOUR, [{}], [{"colour": "red"}]) == {
        "annotated": 0,
        "presence_rate": None,
        "null_rate": None,
        "value_accuracy": None,
    }


def test_composite_of_one_field_by_hand() -> None:
    sims = D.similarities(COLOUR, GOLDS, PREDS, _fake_similarity)
    # pairs: (red, red) (null, null) (null, navy) (navy, null) (blue, navy); both null 1, one null 0
    assert sims["embedding_similarity"] == pytest.approx((1 + 1 + 0 + 0 + 0.5) / 5)
    blue_navy = M.token_set_ratio("blue", "navy")
    assert sims["token_set_ratio"] == pytest.approx((1 + 1 + blue_navy) / 5)
    assert sims["rouge_l"] == pytest.approx(2 / 5)
    measures = {**D.structured_match(COLOUR, GOLDS, PREDS), **sims}
    expected = 0.60 * 0.4 + 0.25 * 0.5 + 0.10 * (2 + blue_navy) / 5 + 0.05 * 0.4
    assert D.composite(measures) == pytest.approx(expected)
    assert D.composite({**measures, "embedding_similarity": None}) is None
    assert sum(D.COMPOSITE_WEIGHTS.values()) == pytest.approx(1.0)
    assert D.COMPOSITE_WEIGHTS == {
        "value_accuracy": 0.60,
        "embedding_similarity": 0.25,
        "token_set_ratio": 0.10,
        "rouge_l": 0.05,
    }


def test_similarity_cosines_are_clipped_to_unit_range() -> None:
    sims = D.similarities(COLOUR, [{"colour": "red"}], [{"colour": "blue"}], lambda g, p: [-0.2])
    assert sims["embedding_similarity"] == 0.0
    assert (
        D.similarities(COLOUR, [{"colour": "red"}], [{"colour": "red"}], None)["embedding_similarity"] is None
    )


def test_denali_preset_carries_the_benchmark_weights() -> None:
    denali = load_schema("denali")
    weights = {name: f.weight for name, f in denali.fields.items()}
    assert weights == {
        "type": 2.5,
        "color": 1.0,
        "pattern": 1.0,
        "neckline": 1.0,
        "sleeve_length": 1.0,
        "closure": 1.0,
        "brand": 1.5,
        "size": 1.5,
        "defect_type": 2.0,
    }


def test_weighted_score_with_denali_weights() -> None:
    denali = load_schema("denali")
    per_field = {
        "type": {"support": 10, "composite": 0.8},
        "defect_type": {"support": 3, "composite": 0.5},
        "brand": {"support": 2, "composite": 1.0},
        "color": {"support": 10, "composite": 0.6},
        "size": {"support": 0, "composite": 0.9},  # unlabelled: does not count
        "pattern": {"support": 4, "composite": None},  # not computed: does not count
    }
    expected = (2.5 * 0.8 + 2.0 * 0.5 + 1.5 * 1.0 + 1.0 * 0.6) / (2.5 + 2.0 + 1.5 + 1.0)
    assert D.weighted_score(denali, per_field) == pytest.approx(expected)
    assert D.weighted_score(denali, {"size": {"support": 0, "composite": 1.0}}) is None

    run = D.run_measures(
        denali, {name: {"support": m["support"], "denali": m} for name, m in per_field.items()}
    )
    assert run["weighted_score"] == pytest.approx(expected)
    assert run["composite"] == pytest.approx((0.8 + 0.5 + 1.0 + 0.6) / 4)


def test_field_measures_without_embeddings_leave_the_composite_out() -> None:
    out = D.field_measures(COLOUR, GOLDS, PREDS)
    assert out["embedding_similarity"] is None and out["composite"] is None
    assert out["value_accuracy"] == pytest.approx(2 / 5)


def test_consistency_by_hand() -> None:
    runs = [
        [{"colour": "red", "brand": "Acme"}, {"colour": "navy", "brand": None}, {"colour": None}],
        [{"colour": "Red", "brand": "acme"}, {"colour": "blue", "brand": "N/A"}, {"colour": "none"}],
        [{"colour": "red", "brand": "Acme"}, {"colour": "navy", "brand": None}, {"colour": None}],
    ]
    out = D.consistency(SCHEMA, runs)
    assert out["repeats"] == 3 and out["n"] == 3
    assert out["fields"] == {"colour": pytest.approx(2 / 3), "closure": 1.0, "brand": 1.0}
    assert out["all_fields"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        D.consistency(SCHEMA, runs[:1])


@pytest.mark.slow
def test_composite_with_minilm() -> None:
    brand = SCHEMA.fields["brand"]
    out = D.field_measures(
        brand, [{"brand": "Levi's"}, {"brand": None}], [{"brand": "Levis"}, {"brand": "-"}], True
    )
    assert 0.5 < out["embedding_similarity"] <= 1.0
    assert out["value_accuracy"] == 0.5 and 0.5 < out["composite"] < 1.0

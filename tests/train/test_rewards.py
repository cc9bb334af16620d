"""The GRPO rewards score hand-made answers exactly as vestis.train.rewards specifies."""

from __future__ import annotations

import json

import pytest

from vestis.schema import Schema
from vestis.train.rewards import (
    content_rewards,
    content_score,
    field_credit,
    reward_functions,
    schema_reward,
    schema_rewards,
    structure_rewards,
    structure_score,
)

SCHEMA = Schema.from_dict(
    {
        "name": "shop",
        "fields": {
            "category": {"weight": 2, "values": ["top", "bottom"]},
            "type": {
                "parent": "category",
                "values": [
                    {"name": "shirt", "parent": "top"},
                    {"name": "blouse", "parent": "top"},
                    {"name": "jeans", "parent": "bottom", "synonyms": ["denim pants"]},
                ],
            },
            "colour": {"values": [{"name": "navy", "synonyms": ["navy blue"]}, "red"]},
            "tags": {
                "kind": "multi",
                "values": ["cotton", "recycled", {"name": "vintage", "synonyms": ["retro"]}],
            },
            "brand": {"kind": "text", "max_length": 20},
            "size": {"nullable": False, "weight": 0, "values": ["s", "m", "l"]},
        },
    }
)
PERFECT = {
    "category": "top",
    "type": "shirt",
    "colour": "navy",
    "tags": ["cotton", "recycled"],
    "brand": "Levi's",
    "size": "m",
}


def answer(**changes) -> str:
    return json.dumps({**PERFECT, **changes})


def without(*keys: str) -> str:
    return json.dumps({k: v for k, v in PERFECT.items() if k not in keys})


def credit(name: str, said, target) -> float:
    return field_credit(SCHEMA.fields[name], said, target)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        '{"category": "top",}',
        "```json\n" + answer() + "\n```",
        answer() + " That is the garment.",
        "Here it is: " + answer(),
        "[1, 2]",
        '"top"',
        "null",
    ],
)
def test_anything_but_one_json_object_scores_zero(text):
    assert schema_reward(SCHEMA, text, PERFECT) == 0.0
    assert structure_score(SCHEMA, text) == 0.0
    assert content_score(SCHEMA, text, PERFECT) == 0.0


def test_the_perfect_answer_scores_one_whitespace_allowed():
    assert schema_reward(SCHEMA, answer(), PERFECT) == 1.0
    assert schema_reward(SCHEMA, "\n  " + json.dumps(PERFECT, indent=2) + "\n", PERFECT) == 1.0


def test_missing_fields_cost_structure_and_the_content_of_known_fields():
    target = {"category": "top", "colour": "navy"}  # type, tags, brand, size unknown: skipped
    said = '{"category": "top"}'
    assert structure_score(SCHEMA, said) == 1 / 6
    assert content_score(SCHEMA, said, target) == 2 / 3  # category (weight 2) right, colour (1) missing
    assert schema_reward(SCHEMA, said, target) == pytest.approx(0.2 / 6 + 0.8 * 2 / 3)
    assert content_score(SCHEMA, without("type", "brand"), target) == 1.0  # unknown fields: no cost


def test_structure_counts_keys_types_nulls_and_extra_keys():
    assert structure_score(SCHEMA, answer()) == 1.0
    assert structure_score(SCHEMA, answer(colour=None, type=None, brand=None, tags=None)) == 1.0
    assert structure_score(SCHEMA, answer(extra="x")) == 6 / 7
    assert structure_score(SCHEMA, answer(size=None)) == 5 / 6  # size is not nullable
    assert structure_score(SCHEMA, answer(category=3, tags="cotton")) == 4 / 6
    assert structure_score(SCHEMA, answer(tags=["cotton", 1])) == 5 / 6
    assert structure_score(SCHEMA, answer(colour="green")) == 1.0  # a wrong value is content's business
    renamed = json.dumps({("Colour" if k == "colour" else k): v for k, v in PERFECT.items()})
    assert structure_score(SCHEMA, renamed) == 5 / 7  # "Colour" is no key of the schema
    assert content_score(SCHEMA, renamed, {"colour": "navy"}) == 1.0  # but it still says the colour


def test_null_targets_reward_null_and_nothing_else():
    assert credit("colour", None, None) == 1.0
    assert credit("colour", "red", None) == 0.0
    assert credit("colour", "N/A", None) == 0.75  # a null word the validator has to repair
    assert credit("tags", [], []) == 1.0 and credit("tags", None, []) == 1.0
    assert credit("tags", ["cotton"], []) == 0.0
    assert credit("brand", "none", None) == 0.75 and credit("brand", "Zara", None) == 0.0
    target = {"colour": None, "category": "top"}
    assert content_score(SCHEMA, answer(colour=None), target) == 1.0
    assert content_score(SCHEMA, answer(colour="red"), target) == 2 / 3
    assert content_score(SCHEMA, without("colour"), target) == 1.0  # missing key: the answer is null


def test_a_value_where_the_target_has_one_versus_null():
    assert credit("colour", None, "navy") == 0.0
    assert credit("colour", "unknown", "navy") == 0.0
    assert credit("tags", [], ["cotton"]) == 0.0 and credit("tags", None, ["cotton"]) == 0.0


def test_synonyms_and_other_spellings_earn_partial_credit():
    assert credit("colour", "navy", "navy") == 1.0
    assert credit("colour", "Navy Blue", "navy") == 0.75
    assert credit("colour", "NAVY", "navy") == 0.75
    assert credit("type", "denim pants", "jeans") == 0.75
    assert credit("tags", ["retro", "cotton"], ["vintage", "cotton"]) == 2 * 1.75 / 4


def test_siblings_under_one_parent_earn_a_little_and_wrong_values_nothing():
    assert credit("type", "blouse", "shirt") == 0.25
    assert credit("type", "jeans", "shirt") == 0.0
    assert credit("category", "bottom", "top") == 0.0  # no parent field: no sibling credit
    assert credit("colour", "green", "navy") == 0.0  # not a value at all
    assert credit("colour", 3, "navy") == 0.0 and credit("colour", ["navy"], "navy") == 0.0


def test_multi_fields_score_a_soft_f1():
    target = ["cotton", "recycled"]
    assert credit("tags", ["recycled", "cotton"], target) == 1.0  # order is free
    assert credit("tags", ["cotton", "vintage"], target) == 0.5
    assert credit("tags", ["cotton"], target) == 2 / 3
    assert credit("tags", ["cotton", "cotton"], target) == 0.5  # a duplicate is a wrong item
    assert credit("tags", ["cotton", "wool"], target) == 0.5  # an unknown value too
    assert credit("tags", "cotton", target) == 0.0  # not a list


def test_text_fields_compare_case_blind_then_by_similarity():
    assert credit("brand", "LEVI'S ", "Levi's") == 1.0
    assert credit("brand", "Levis", "Levi's") == pytest.approx(0.75 * 10 / 11)  # ratio of 5 and 6 chars
    assert credit("brand", "Zara", "Levi's") == 0.0


def test_field_weights_weight_the_content():
    target = {"category": "top", "colour": "navy", "size": "s"}  # size has weight 0
    assert content_score(SCHEMA, answer(category="bottom"), target) == 1 / 3
    assert content_score(SCHEMA, answer(colour="red"), target) == 2 / 3
    assert content_score(SCHEMA, answer(), {"size": "s"}) is None  # only weight-0 fields known


def test_a_target_that_knows_nothing_leaves_the_structure_score():
    assert content_score(SCHEMA, answer(), {}) is None
    assert schema_reward(SCHEMA, without("brand"), {}) == pytest.approx(5 / 6)
    assert schema_reward(SCHEMA, "nope", {}) == 0.0


def test_targets_as_json_text_and_with_keys_outside_the_schema():
    assert schema_reward(SCHEMA, answer(), json.dumps(PERFECT)) == 1.0
    assert content_score(SCHEMA, answer(), {"Colour": "navy"}) == 1.0  # a spelling of the field
    with pytest.raises(ValueError, match="'fabric' is not in schema 'shop'"):
        schema_reward(SCHEMA, answer(), {"fabric": "denim"})


def test_trl_forms_read_columns_and_conversational_completions():
    said = [answer(), [{"role": "assistant", "content": answer(colour="red")}], "oops"]
    targets = [PERFECT, json.dumps(PERFECT), PERFECT]
    expected = [
        schema_reward(SCHEMA, answer(), PERFECT),
        schema_reward(SCHEMA, answer(colour="red"), PERFECT),
        0.0,
    ]
    assert schema_rewards(said, target=targets, schema=[SCHEMA] * 3, prompts=["p"] * 3) == expected
    assert expected[1] == pytest.approx(0.2 + 0.8 * 5 / 6)
    assert structure_rewards(said, schema=SCHEMA) == [1.0, 1.0, 0.0]
    assert content_rewards(said, target=[{}, {"colour": "navy"}, {}], schema=SCHEMA) == [1.0, 0.0, 0.0]
    funcs, weights = reward_functions(SCHEMA)
    assert [f.__name__ for f in funcs] == ["json_structure", "field_content"] and weights == [0.2, 0.8]
    combined = [
        sum(w * r for w, r in zip(weights, rs, strict=True))
        for rs in zip(*(f(said, target=targets, completion_ids=None) for f in funcs), strict=True)
    ]
    assert combined == pytest.approx(expected)
    parts = [[{"role": "assistant", "content": [{"type": "text", "text": answer()}]}]]
    assert schema_rewards(parts, target=[PERFECT], schema=[SCHEMA]) == [1.0]
    with pytest.raises(ValueError, match="2 schemas for 3 completions"):
        schema_rewards(said, target=targets, schema=[SCHEMA] * 2)

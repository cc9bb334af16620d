from __future__ import annotations

import json

import pytest

from vestis.schema import Schema, SchemaError, list_schemas, load_schema


@pytest.mark.parametrize("name", list_schemas())
def test_every_preset_loads_and_derives_models(name):
    s = load_schema(name)
    model = s.pydantic_model()
    empty = model(**s.empty())
    assert set(empty.model_dump()) == set(s.fields)
    js = s.json_schema()
    assert set(js["properties"]) == set(s.fields)
    assert js["additionalProperties"] is False
    json.dumps(js)
    assert all(f.name in s.prompt() for f in s.fields.values())


def test_presets_are_the_documented_ones():
    assert {"vestis", "florence", "denali"} <= set(list_schemas())
    denali = load_schema("denali")
    weights = {n: f.weight for n, f in denali.fields.items()}
    assert weights["type"] == 2.5 and weights["defect_type"] == 2.0
    assert weights["brand"] == 1.5 and weights["size"] == 1.5 and weights["color"] == 1.0
    florence = load_schema("florence")
    assert len(florence.fields["category"].values) == 6
    assert len(florence.fields["color"].values) == 16
    assert len(florence.fields["style"].values) == 19
    vestis = load_schema("vestis")
    assert len(vestis.fields["colour"].values) == 16
    assert vestis.fields["closure"].kind == "multi"


def test_type_parents_are_categories_and_complete_fills_them():
    s = load_schema("vestis")
    assert all(v.parent in s.fields["category"].values for v in s.fields["type"].values.values())
    assert s.complete({"type": "jeans", "category": None})["category"] == "bottom"
    assert s.complete({"type": "jeans", "category": "dress"})["category"] == "dress"  # explicit wins


def test_pydantic_model_rejects_values_outside_the_vocabulary():
    from pydantic import ValidationError

    model = load_schema("vestis").pydantic_model()
    with pytest.raises(ValidationError):
        model(colour="chartreuse")
    with pytest.raises(ValidationError):
        model(unknown_field=1)
    assert model(colour="navy", closure=["zip"]).colour == "navy"


def test_user_schema_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nfields:\n  era:\n    kind: single\n"
        "    values: [{name: y2k, synonyms: [2000s]}, nineties]\n"
        "  note:\n    kind: text\n    max_length: 10\n    nullable: false\n"
    )
    s = load_schema(path)
    assert s.canonical("era", "2000S") == "y2k"
    assert not s.validate({"era": "y2k"}).ok  # note is required
    assert s.validate({"era": "y2k", "note": "ok"}).value == {"era": "y2k", "note": "ok"}


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("fields: {}", "non-empty"),
        ("fields:\n  a: {kind: single}", "needs a non-empty 'values'"),
        ("fields:\n  a: {kind: weird, values: [x]}", "kind 'weird'"),
        ("fields:\n  a: {values: [x, x]}", "twice"),
        ("fields:\n  a: {values: [{name: x, synonyms: [y]}, y]}", "maps to both"),
        ("fields:\n  a: {kind: text, pattern: '('}", "bad pattern"),
        ("fields:\n  a: {values: [x], colour: red}", "unknown keys"),
        (
            "fields:\n  t: {values: [{name: x, parent: nope}], parent: c}\n  c: {values: [a]}",
            "not a value of",
        ),
    ],
)
def test_bad_schema_files_fail_with_a_precise_message(tmp_path, yaml_text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(SchemaError, match=message):
        load_schema(path)


def test_unknown_preset_and_missing_file():
    with pytest.raises(SchemaError, match="unknown schema 'nope'"):
        load_schema("nope")
    with pytest.raises(SchemaError, match="not found"):
        load_schema("missing.yaml")


def test_round_trip_through_to_dict():
    s = load_schema("vestis")
    again = Schema.from_dict(s.to_dict())
    assert again.fields["type"].values["jeans"].parent == "bottom"
    assert again.canonical("colour", "Navy Blue") == "navy"

from __future__ import annotations

import pytest

from vestis.schema import ValidationError, load_schema
from vestis.schema.validate import validate_or_raise


@pytest.fixture(scope="module")
def vestis():
    return load_schema("vestis")


@pytest.fixture(scope="module")
def denali():
    return load_schema("denali")


def test_clean_json_is_strict(vestis):
    r = vestis.validate('{"category": "dress", "colour": "red", "closure": ["zip"]}')
    assert r.ok and r.strict and r.repairs == []
    assert r.value["category"] == "dress" and r.value["type"] is None and r.value["style"] == []


def test_noisy_model_text_is_repaired_and_each_repair_reported(vestis):
    text = (
        "Here is the JSON:\n```json\n{'Category': 'Dresses', \"colour\": \"Navy Blue\", "
        '"style": "casual, boho", "fit": "N/A", "Sleeve Length": "3/4 sleeves", extra: 1,}\n```'
    )
    r = vestis.validate(text)
    assert r.ok and not r.strict
    assert r.value["category"] == "dress"
    assert r.value["colour"] == "navy"
    assert r.value["style"] == ["casual", "bohemian"]
    assert r.value["fit"] is None
    assert r.value["sleeve_length"] == "three_quarter"
    joined = " | ".join(r.repairs)
    for needle in ("code fence", "'Navy Blue' → 'navy'", "'N/A' → null", "dropped unknown key 'extra'"):
        assert needle in joined


@pytest.mark.parametrize("null", ["N/A", "none", "not visible", "Unknown", "", None, "NA"])
def test_null_spellings_mean_null(vestis, null):
    assert vestis.validate({"pattern": null}).value["pattern"] is None


def test_bad_fields_are_listed_precisely(denali):
    r = denali.validate({"type": "jeanz", "color": "red", "size": "x" * 30, "defect_type": ["stain", "hole"]})
    assert not r.ok and r.value is None
    by_field = {e.field: e.message for e in r.errors}
    assert set(by_field) == {"type", "size", "defect_type"}
    assert "closest: jeans" in by_field["type"]
    assert "exceeds max_length 20" in by_field["size"]
    assert "one value" in by_field["defect_type"]
    assert r.partial["color"] == "red" and r.partial["type"] is None


def test_text_pattern_and_number_coercion(denali):
    assert denali.validate({"size": 38}).value["size"] == "38"
    assert not denali.validate({"size": "38 <script>"}).ok


def test_unparseable_text_reports_no_object(vestis):
    r = vestis.validate("I cannot see a garment in this image.")
    assert not r.ok and not r.parsed and r.errors[0].field == "$"
    assert r.partial == vestis.empty()


def test_truncated_json_is_closed(vestis):
    r = vestis.validate('{"category": "top", "colour": "black"')
    assert r.ok and r.value["colour"] == "black"


def test_multi_field_drops_duplicates_and_rejects_unknown(vestis):
    assert vestis.validate({"closure": ["zip", "Zipper", "buttons"]}).value["closure"] == ["zip", "buttons"]
    assert not vestis.validate({"closure": ["zip", "magnets"]}).ok


def test_validate_or_raise(vestis):
    assert validate_or_raise(vestis, {"colour": "red"})["colour"] == "red"
    with pytest.raises(ValidationError, match="colour"):
        validate_or_raise(vestis, {"colour": "chartreuse"})

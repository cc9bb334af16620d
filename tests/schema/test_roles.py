"""Schema roles (category, mentionable, plurals, listing): parsing, defaults, validation; corrupt files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vestis.schema import Schema, SchemaError, load_schema

WARDROBE = Path(__file__).resolve().parents[1] / "fixtures" / "schemas" / "wardrobe.yaml"


def test_presets_declare_the_roles_vestis_used_to_hard_code():
    vestis = load_schema("vestis")
    assert vestis.by_role("category").name == "category"
    assert vestis.by_role("primary_colour").name == "colour"
    assert vestis.by_role("secondary_colour").name == "secondary_colour"
    assert vestis.roles.mentionable == (
        "category",
        "type",
        "colour",
        "pattern",
        "material",
        "neckline",
        "sleeve_length",
        "fit",
        "gender",
    )
    assert vestis.roles.plurals == ("category", "type")
    assert vestis.roles.listing == ("category", "type", "colour", "pattern", "material")
    assert vestis.fields["colour"].role == "primary_colour"  # the field-level view backends read
    florence, denali = load_schema("florence"), load_schema("denali")
    assert (
        florence.by_role("category").name == "category" and florence.by_role("primary_colour").name == "color"
    )
    assert denali.by_role("category").name == "type" and "color" in denali.roles.mentionable


def test_renamed_fixture_schema():
    s = load_schema(WARDROBE)
    assert s.by_role("category").name == "kind_of_garment" and s.by_role("primary_colour").name == "shade"
    assert s.roles.listing == ("kind_of_garment", "shade", "print", "label")  # a text field may be listed
    assert s.roles.of("kind_of_garment") == ["category", "mentionable", "plurals", "listing"]
    assert s.roles.of("label") == ["listing"]


def test_defaults_are_derived_from_the_fields_and_never_from_names():
    fields = {
        "category": {"values": ["top", "bottom"]},  # named like vestis's, but no role: not the category
        "b": {"values": ["x"]},
        "note": {"kind": "text"},
        **{f"f{i}": {"kind": "multi", "values": ["v"]} for i in range(5)},
    }
    s = Schema.from_dict({"name": "plain", "fields": fields})
    assert s.by_role("category") is None and s.roles.fields == {}
    assert s.roles.mentionable == ("category", "b", "f0", "f1", "f2", "f3", "f4")  # every closed field
    assert s.roles.plurals == ()
    assert s.roles.listing == ("category", "b", "f0", "f1", "f2")  # the first five closed fields
    with pytest.raises(SchemaError, match=r"declares no 'category' role, which completing an outfit needs"):
        s.require_role("category", "completing an outfit")
    kinds = Schema.from_dict(
        {
            "fields": {
                "colour": {"values": ["red"]},
                "kind": {"values": [{"name": "top"}]},
                "sub": {"parent": "kind", "values": [{"name": "tee", "parent": "top"}]},
            },
            "roles": {"category": "kind"},
        }
    )
    assert kinds.roles.plurals == ("kind", "sub")  # the category and the fields it is parent of
    assert kinds.roles.listing == ("kind", "colour", "sub")  # the category first


def test_field_role_shorthand_and_round_trip():
    s = Schema.from_dict(
        {
            "fields": {
                "kind": {"role": "category", "values": ["top"]},
                "hue": {"role": "primary_colour", "values": ["red"]},
            }
        }
    )
    assert s.by_role("category").name == "kind" and s.by_role("primary_colour").name == "hue"
    exported = load_schema(WARDROBE).to_dict()
    assert exported["roles"]["category"] == "kind_of_garment" and exported["roles"]["plurals"] == [
        "kind_of_garment",
        "cut",
    ]
    again = Schema.from_dict(json.loads(json.dumps(exported)))
    assert again.roles == load_schema(WARDROBE).roles


FIELDS = "fields:\n  kind: {values: [top, bottom]}\n  hue: {values: [red]}\n  note: {kind: text}\n"


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ("roles: 5", "'roles' must be a mapping"),
        ("roles: {category: nope}", r"roles.category names 'nope', which is not a field"),
        ("roles: {category: [kind]}", r"roles.category must name one field"),
        ("roles: {category: note}", r"roles.category names 'note', a text field"),
        ("roles: {primary_colour: note}", r"roles.primary_colour names 'note', a text field"),
        ("roles: {mentionable: kind}", r"roles.mentionable must be a list of field names"),
        ("roles: {mentionable: [kind, 3]}", r"roles.mentionable must be a list of field names"),
        ("roles: {mentionable: [note]}", r"roles.mentionable names 'note', a text field"),
        ("roles: {listing: [kind, kind]}", r"roles.listing names a field twice"),
        ("roles: {listing: [colour]}", r"roles.listing names 'colour', which is not a field"),
        (
            "roles: {mentionable: [hue], plurals: [kind]}",
            r"roles.plurals names \['kind'\], which roles.mentionable",
        ),
        ("roles: {category: kind, primary_colour: kind}", r"field 'kind' has two roles"),
        ("roles: {3: kind}", r"'roles' keys must be role names"),
    ],
)
def test_malformed_roles_name_the_file_and_key(tmp_path, roles, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"{roles}\n{FIELDS}")
    with pytest.raises(SchemaError, match=message) as info:
        load_schema(path)
    assert str(path) in str(info.value)


def test_field_role_and_roles_mapping_must_agree(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "roles: {category: kind}\nfields:\n  kind: {values: [a]}\n  other: {role: category, values: [b]}\n"
    )
    with pytest.raises(SchemaError, match=r"roles.category is 'kind', but field 'other' has role 'category'"):
        load_schema(path)
    path.write_text("fields:\n  a: {role: category, values: [x]}\n  b: {role: category, values: [y]}\n")
    with pytest.raises(SchemaError, match=r"role 'category' is given to both 'a' and 'b'"):
        load_schema(path)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("fields:\n  a: {values: [x], applies_to: 5}", "'applies_to' must map field names to lists"),
        ("fields:\n  a: {values: [x], applies_to: {b: x}}\n  b: {values: [x]}", "'applies_to' must map"),
        ("fields:\n  a: {values: [{name: x, synonyms: 5}]}", "'synonyms' must be a list of strings"),
        ("fields:\n  a: {values: [{name: x, synonyms: [[1]]}]}", "'synonyms' must be a list of strings"),
        ("fields:\n  a: {values: [x], parent: [1, 2]}", "'parent' must be a string"),
        ("fields:\n  a: {values: [{name: x, parent: [1, 2]}]}", "value 'x': 'parent' must be a string"),
        ("fields:\n  a: {values: 5}", "'values' must be a list"),
        ("fields:\n  a: {values: abc}", "'values' must be a list"),
        ("fields:\n  a: {values: [{name: [1]}]}", "'name' must be a non-empty string"),
        ("fields:\n  a: {values: [5]}", "each value is a string or a mapping"),
        ("fields:\n  a: {values: [x], nullable: 'no'}", "'nullable' must be true or false"),
        ("fields:\n  a: {values: [x], weight: heavy}", "'weight' must be a number"),
        ("fields:\n  a: {values: [x], weight: true}", "'weight' must be a number"),
        ("fields:\n  a: {kind: text, max_length: 0}", "'max_length' must be a whole number"),
        ("fields:\n  a: {kind: text, max_length: 2.5}", "'max_length' must be a whole number"),
        ("fields:\n  a: {values: [x], description: [1]}", "'description' must be a string"),
        ("fields:\n  a: {values: [x], role: {r: 1}}", "'role' must be a string"),
        ("fields:\n  a: {kind: text, pattern: 5}", "'pattern' must be a string"),
        ("fields:\n  a: {kind: [single], values: [x]}", "kind \\['single'\\]"),
        ("fields:\n  1: {values: [x]}", "field names must be non-empty strings"),
        ("name: {a: 1}\nfields:\n  a: {values: [x]}", "'name' must be a string"),
        ("fields:\n  a: {values: [x]}\nrole: {category: a}", r"unknown top-level keys \['role'\]"),
    ],
)
def test_corrupt_schema_files_fail_with_a_schema_error_naming_the_key(tmp_path, yaml_text, message):
    path = tmp_path / "corrupt.yaml"
    path.write_text(yaml_text)
    with pytest.raises(SchemaError, match=message) as info:
        load_schema(path)
    assert str(path) in str(info.value)

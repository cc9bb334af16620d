"""Mapping audits on generated rows, plus the shipped mappings against the shared data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from rich.console import Console

from vestis.schema.audit import audit_mapping
from vestis.schema.mapping import MAPPINGS_DIR, Mapping, list_mappings


@pytest.fixture
def mapping() -> Mapping:
    return Mapping.from_dict(
        {
            "source": "demo",
            "schema": "vestis",
            "fields": {
                "type": [
                    {"column": "kind", "map": {"Jeans": "jeans", "Tee": "t_shirt"}, "ignore": ["Gift card"]}
                ],
                "colour": [{"column": "colour", "map": {"Black": "black", "Dark Blue": "navy"}}],
                "neckline": [{"column": "text", "keywords": {"hooded": ["hood"], "v_neck": ["v-neck"]}}],
                "occasion": [{"column": "group", "map": {"Swim": "beach"}, "ignore": ["Tops"]}],
            },
        }
    )


ROWS = [
    {"kind": "Jeans", "colour": "Black", "text": "Jeans with a zip fly", "group": "Tops"},
    {"kind": "Tee", "colour": "Dark Blue", "text": "Top with a hood", "group": "Swim"},
    {"kind": "Gift card", "colour": "Unknown", "text": "", "group": "Tops"},
    {"kind": "Kilt", "colour": "Mauve", "text": "V-neck kilt", "group": "Kilts"},
]


def test_coverage_counts_and_unused_values(mapping):
    report = audit_mapping(mapping, ROWS)
    assert report.rows == 4
    assert report.fields["type"].coverage == 0.5
    assert report.fields["type"].counts == {"jeans": 1, "t_shirt": 1}
    assert report.fields["colour"].counts == {"black": 1, "navy": 1}
    assert "navy" not in report.fields["colour"].unused_values
    assert "purple" in report.fields["colour"].unused_values
    assert report.fields["occasion"].counts == {"beach": 1}


def test_unmapped_ignored_and_null_labels_are_told_apart(mapping):
    src = audit_mapping(mapping, ROWS).fields["type"].sources[0]
    assert src.unmapped == {"Kilt": 1}
    assert src.ignored == {"Gift card": 1}
    assert src.nulls == 0
    colour = audit_mapping(mapping, ROWS).fields["colour"].sources[0]
    assert (colour.unmapped, colour.nulls) == ({"Mauve": 1}, 1)


def test_keyword_sources_count_rows_without_a_match(mapping):
    src = audit_mapping(mapping, ROWS).fields["neckline"].sources[0]
    assert src.kind == "keywords"
    assert src.nulls == 1  # the empty text
    assert src.no_keyword == 1  # "Jeans with a zip fly"
    assert audit_mapping(mapping, ROWS).fields["neckline"].counts == {"hooded": 1, "v_neck": 1}


def test_a_label_another_source_covers_is_not_unmapped():
    m = Mapping.from_dict(
        {
            "source": "demo",
            "schema": "vestis",
            "fields": {
                "type": [
                    {"column": "group", "when": {"kind": "Trousers"}, "map": {"Denim": "jeans"}},
                    {"column": "kind", "map": {"Trousers": "trousers"}},
                ]
            },
        }
    )
    rows = [{"kind": "Trousers", "group": "Chinos"}, {"kind": "Trousers", "group": "Denim"}]
    report = audit_mapping(m, rows)
    assert report.fields["type"].sources[0].unmapped == {}
    assert report.ok


def test_problems_name_missing_columns_and_forgotten_labels(mapping):
    rows = [{k: v for k, v in row.items() if k != "group"} for row in ROWS]
    report = audit_mapping(mapping, rows)
    assert report.missing_columns == ["group"]
    assert not report.ok
    assert any("'group'" in p and "not in the rows" in p for p in report.problems)
    assert any("'kind=Kilt'" in p for p in report.problems)


def test_when_columns_count_as_columns():
    m = Mapping.from_dict(
        {
            "source": "demo",
            "schema": "vestis",
            "fields": {
                "type": [{"column": "kind", "when": {"group": "Garments"}, "map": {"Jeans": "jeans"}}]
            },
        }
    )
    assert audit_mapping(m, [{"kind": "Jeans"}]).missing_columns == ["group"]


def test_no_rows_is_a_problem(mapping):
    report = audit_mapping(mapping, [])
    assert report.rows == 0
    assert report.fields["type"].coverage == 0.0
    assert "no rows to audit" in report.problems


def test_fields_without_a_source_are_listed(mapping):
    report = audit_mapping(mapping, ROWS)
    assert "material" in report.fields_without_source
    assert "type" not in report.fields_without_source


def test_to_dict_is_json_and_write_makes_both_files(mapping, tmp_path):
    report = audit_mapping(mapping, ROWS)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["fields"]["type"]["sources"][0]["unmapped"] == {"Kilt": 1}
    assert data["problems"] == report.problems
    out = report.write(tmp_path / "audit")
    assert json.loads((out / "audit.json").read_text())["rows"] == 4
    md = (out / "audit.md").read_text()
    assert "| type | 50.0% | 50.0% |" in md and "Kilt 1" in md


def test_markdown_escapes_pipes_in_labels():
    m = Mapping.from_dict(
        {
            "source": "demo",
            "schema": "vestis",
            "fields": {"type": [{"column": "kind", "map": {"Jeans": "jeans"}}]},
        }
    )
    md = audit_mapping(m, [{"kind": "A|B"}]).markdown()
    assert "A\\|B 1" in md


def test_render_prints_rich_tables(mapping):
    console = Console(record=True, width=200)
    audit_mapping(mapping, [*ROWS, {"kind": "[bold]Cape"}]).render(console)
    text = console.export_text()
    assert "coverage" in text and "neckline" in text and "Kilt" in text
    assert "[bold]Cape" in text  # raw labels are shown literally, not read as markup


def test_audit_accepts_a_mapping_file(tmp_path):
    path = tmp_path / "demo__denali.yaml"
    path.write_text(
        "source: demo\nschema: denali\nfields:\n  type:\n    - column: kind\n      map: {Jeans: jeans}\n"
    )
    report = audit_mapping(path, [{"kind": "Jeans"}])
    assert (report.mapping, report.schema, report.fields["type"].coverage) == ("demo__denali", "denali", 1.0)


def test_values_the_schema_rules_out_are_a_problem():
    m = Mapping.from_dict(
        {
            "source": "demo",
            "schema": "vestis",
            "fields": {
                "type": [{"column": "kind", "map": {"Boots": "boots", "Tee": "t_shirt"}}],
                "neckline": [{"column": "text", "keywords": {"round": ["round neck"]}}],
            },
        }
    )
    rows = [{"kind": "Boots", "text": "Boots with a round neck"}, {"kind": "Tee", "text": "Tee, round neck"}]
    report = audit_mapping(m, rows)
    assert report.fields["neckline"].inapplicable == 1  # footwear has no neckline
    assert report.fields["neckline"].coverage == 1.0
    assert report.fields["neckline"].coverage_applicable == 1.0  # the one row it applies to
    assert any("neckline: 1 rows" in p for p in report.problems)


# ---- the shipped mappings on the real data ----------------------------------------------------
@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.parametrize("name", list_mappings())
def test_shipped_mapping_on_shared_data(name, shared_data: Path):
    source = name.split("__")[0]
    table = shared_data / source / "items.csv"
    if not table.is_file():
        pytest.skip(f"{table} not found (set VESTIS_DATA)")
    with open(table, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    report = audit_mapping(MAPPINGS_DIR / f"{name}.yaml", rows)
    assert report.problems == []
    if source in ("hm", "mango") and "category" in report.fields:
        assert report.fields["category"].coverage >= 0.95

"""``hm``, ``mango`` and ``clothing`` on tiny folders in the shared-data format."""

from __future__ import annotations

import pytest

from vestis.data import open_dataset
from vestis.schema import Schema
from vestis.schema.mapping import MAPPINGS_DIR

OTHER_SCHEMA = Schema.from_dict({"name": "no-mapping-here", "fields": {"category": {"values": ["top"]}}})


def test_hm_ids_groups_text_and_missing_images(build) -> None:
    ds = open_dataset(f"hm:{build('hm')}")
    assert [ex.id for ex in ds] == ["0100000001", "0100000002", "0200000001"]
    first = ds.examples()[0]
    assert first.group == "100000"
    assert first.text == "Slim trousers. Trousers in woven fabric."
    assert first.meta["product_type_name"] == "Trousers"
    assert len(ds.problems) == 1 and "0300000001" in ds.problems[0]


def test_mango_groups_colour_variants_and_loads_outfits(build) -> None:
    ds = open_dataset(f"mango:{build('mango')}")
    groups = {ex.id: ex.group for ex in ds}
    assert groups == {"41085800-02": "41085800", "41085800-TO": "41085800", "53000586-01": "53000586"}
    assert all(ex.text and ex.text.endswith(("trousers", "dress")) for ex in ds)
    assert ds.outfits() == {"1": ["41085800-02", "53000586-01"], "2": ["41085800-TO"]}


def test_mango_without_outfits_file(build) -> None:
    root = build("mango")
    (root / "outfits.csv").unlink()
    assert open_dataset(f"mango:{root}").outfits() == {}


def test_clothing_ids_are_stems(build) -> None:
    ds = open_dataset(f"clothing:{build('clothing')}")
    first = ds.examples()[0]
    assert (first.id, first.group, first.text) == ("aaa-1", "aaa-1", None)
    assert ds.examples()[1].meta["label"] == "Pants"


@pytest.mark.parametrize("kind", ["hm", "mango", "clothing"])
def test_schema_without_shipped_mapping_gives_raw_meta_only(build, kind: str) -> None:
    ds = open_dataset(f"{kind}:{build(kind)}", schema=OTHER_SCHEMA)
    assert all(ex.labels == {} and ex.meta for ex in ds)


@pytest.mark.parametrize("kind", ["hm", "mango", "clothing"])
def test_shipped_mapping_labels_the_obvious_rows(build, kind: str) -> None:
    if not (MAPPINGS_DIR / f"{kind}__vestis.yaml").is_file():
        pytest.skip(f"no shipped {kind}__vestis.yaml yet")
    examples = open_dataset(f"{kind}:{build(kind)}").examples()
    expected = {"hm": "bottom", "mango": "bottom", "clothing": "top"}[kind]
    assert examples[0].labels.get("category") == expected


def test_shared_adapter_accepts_a_mapping_option(build, tmp_path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "source: hm\nschema: vestis\nfields:\n  type:\n"
        "    - column: product_type_name\n      map: {T-shirt: t_shirt}\n"
    )
    ds = open_dataset(f"hm:{build('hm')}?mapping={mapping}")
    assert ds.examples()[2].labels == {"type": "t_shirt", "category": "top"}


def test_missing_items_csv_is_a_clear_error(tmp_path) -> None:
    from vestis.data import DatasetError

    with pytest.raises(DatasetError, match=r"items\.csv"):
        open_dataset(f"hm:{tmp_path}").examples()

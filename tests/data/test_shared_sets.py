"""The adapters on the real shared development sets (skipped when ../shared/data is absent)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from vestis.data import Dataset, open_dataset
from vestis.schema.mapping import MAPPINGS_DIR

pytestmark = pytest.mark.shared_data

ROWS = {"hm": 7023, "mango": 4258, "clothing": 5391}


@pytest.fixture(scope="module")
def opened(shared_data: Path) -> dict[str, Dataset]:
    """Each set loaded once for the module (mapping thousands of rows takes a moment)."""
    sets = {kind: open_dataset(f"{kind}:{shared_data / kind}") for kind in ROWS}
    for ds in sets.values():
        ds.examples()
    return sets


def _rows_with_images(items: Path) -> int:
    with open(items, newline="", encoding="utf-8") as fh:
        return sum((items.parent / row["image"]).is_file() for row in csv.DictReader(fh))


@pytest.mark.parametrize("kind", list(ROWS))
def test_counts_and_labels(shared_data: Path, opened: dict[str, Dataset], kind: str) -> None:
    ds = opened[kind]
    items = shared_data / kind / "items.csv"
    assert len(ds) == _rows_with_images(items) <= ROWS[kind]
    assert len(ds) + len(ds.problems) == ROWS[kind]
    assert len({ex.id for ex in ds}) == len(ds)
    if (MAPPINGS_DIR / f"{kind}__vestis.yaml").is_file():
        labelled = sum(bool(ex.labels.get("category")) for ex in ds) / len(ds)
        assert labelled > 0.5, f"only {labelled:.0%} of {kind} rows get a category from the shipped mapping"


@pytest.mark.parametrize(
    ("kind", "group_of"),
    [
        ("hm", lambda ex: ex.meta["product_code"]),
        ("mango", lambda ex: ex.id.split("-")[0]),
    ],
)
def test_products_never_straddle_the_split(opened: dict[str, Dataset], kind: str, group_of) -> None:
    ds = opened[kind]
    train = {group_of(ex) for ex in ds.split("train")}
    val = {group_of(ex) for ex in ds.split("val")}
    assert train and val and not train & val
    assert 0.15 < len(ds.split("val")) / len(ds) < 0.25


def test_mango_outfits_load(opened: dict[str, Dataset]) -> None:
    ds = opened["mango"]
    outfits = ds.outfits()
    assert len(outfits) == 3487
    assert all(2 <= len(items) <= 15 for items in outfits.values())
    ids = {ex.id for ex in ds}
    assert all(item in ids for items in outfits.values() for item in items)

"""Dataset spec parsing and the deterministic, group-aware split."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from vestis.data import Dataset, DatasetError, Example, open_dataset, split_of
from vestis.data.base import parse_spec


def test_bare_directory_is_a_folder(build) -> None:
    root = build("folder")
    assert parse_spec(str(root)) == ("folder", root, {})
    assert open_dataset(str(root)).kind == "folder"


def test_table_file_is_a_table_with_options(build) -> None:
    path = build("table")
    expected = ("table", path, {"group": "product", "text": "title"})
    assert parse_spec(f"{path}?group=product&text=title") == expected


def test_shared_name_resolves_under_vestis_data(build, tmp_path: Path, monkeypatch) -> None:
    root = build("hm")
    monkeypatch.setenv("VESTIS_DATA", str(root.parent))
    monkeypatch.chdir(tmp_path / "hm")  # no ./hm here, so the name is the shared set
    assert parse_spec("hm") == ("hm", root, {})
    assert parse_spec("hm:") == ("hm", root, {})
    assert len(open_dataset("hm")) == 3


def test_missing_shared_set_says_how_to_point_at_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VESTIS_DATA", str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match="VESTIS_DATA"):
        open_dataset("mango")


def test_unknown_kind_and_missing_path(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset kind 'nope'"):
        parse_spec("nope:somewhere")
    with pytest.raises(DatasetError, match="not found"):
        parse_spec("no_such_dir")


class Synthetic(Dataset):
    """In-memory examples, for split tests."""

    kind = "synthetic"

    def __init__(self, examples: list[Example]) -> None:
        super().__init__(".")
        self._given = examples

    def _load(self) -> list[Example]:
        return list(self._given)


def _examples(n: int) -> list[Example]:
    return [Example(id=f"item-{i}", image=f"{i}.jpg", group=f"product-{i // 3}") for i in range(n)]


def test_split_is_order_free_and_keeps_groups_together() -> None:
    examples = _examples(2000)
    shuffled = examples[:]
    random.Random(0).shuffle(shuffled)
    val_a = {ex.id for ex in Synthetic(examples).split("val")}
    val_b = {ex.id for ex in Synthetic(shuffled).split("val")}
    assert val_a == val_b
    train_groups = {ex.group for ex in Synthetic(examples).split("train")}
    val_groups = {ex.group for ex in Synthetic(examples).split("val")}
    assert not train_groups & val_groups
    assert len(Synthetic(examples).split("all")) == 2000


def test_val_fraction_is_about_right() -> None:
    ids = [f"sku-{i}" for i in range(2000)]
    fraction = sum(split_of(i) == "val" for i in ids) / len(ids)
    assert 0.17 < fraction < 0.23
    assert sum(split_of(i, 0.5) == "val" for i in ids) / len(ids) == pytest.approx(0.5, abs=0.04)


def test_adding_rows_never_moves_existing_ones() -> None:
    small, large = Synthetic(_examples(300)), Synthetic(_examples(900))
    large_val = {ex.id for ex in large.split("val")}
    assert {ex.id for ex in small.split("val")} <= large_val

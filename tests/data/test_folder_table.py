"""The ``folder`` and ``table`` adapters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vestis.data import DatasetError, open_dataset
from vestis.data.adapters.folder import FolderDataset
from vestis.data.adapters.table import TableDataset


def test_folder_is_recursive_sorted_and_skips_non_images(build) -> None:
    root = build("folder")
    ds = FolderDataset(root)
    assert [ex.id for ex in ds] == ["a/c.png", "b.jpg"]
    assert all(ex.labels == {} and ex.group is None for ex in ds)


def test_folder_on_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a directory"):
        FolderDataset(tmp_path / "x.txt").examples()


def test_table_csv_ids_groups_text(build) -> None:
    ds = open_dataset(f"table:{build('table')}?group=product&text=title,desc")
    a, b = ds.examples()
    assert (a.id, a.group, a.text) == ("a", "p1", "Red tee. Cotton")
    assert b.text == "Blue tee"
    assert a.meta["title"] == "Red tee" and Path(a.image).is_file()


def test_table_default_id_is_image_path(tmp_path: Path, write_image, write_csv) -> None:
    write_image(tmp_path / "x.jpg")
    ds = TableDataset(write_csv(tmp_path / "t.csv", [{"image": "x.jpg", "note": "n"}]))
    assert [ex.id for ex in ds] == ["x.jpg"]


def test_table_absolute_paths_and_missing_images(tmp_path: Path, write_image, write_csv) -> None:
    absolute = write_image(tmp_path / "elsewhere" / "x.jpg").resolve()
    path = write_csv(
        tmp_path / "t" / "items.csv",
        [
            {"image": str(absolute), "id": "1"},
            {"image": "gone.jpg", "id": "2"},
            {"image": "", "id": "3"},
        ],
    )
    ds = TableDataset(path)
    assert [ex.id for ex in ds] == ["1"]
    assert len(ds.problems) == 2 and "gone.jpg" in ds.problems[0] and "no image" in ds.problems[1]


def test_table_directory_finds_items_file(build) -> None:
    assert len(TableDataset(build("table").parent)) == 2


def test_table_rejects_urls(tmp_path: Path, write_csv) -> None:
    path = write_csv(tmp_path / "t.csv", [{"image": "https://example.com/a.jpg"}])
    with pytest.raises(DatasetError, match="URL"):
        TableDataset(path).examples()


def test_table_missing_image_column_names_columns(tmp_path: Path, write_csv) -> None:
    path = write_csv(tmp_path / "t.csv", [{"path": "a.jpg", "sku": "1"}])
    with pytest.raises(DatasetError, match="path, sku"):
        TableDataset(path).examples()
    with pytest.raises(DatasetError, match="no image column 'file'"):
        open_dataset(f"{path}?image=file").examples()


def test_table_duplicate_ids_are_reported(tmp_path: Path, write_image, write_csv) -> None:
    write_image(tmp_path / "a.jpg")
    path = write_csv(tmp_path / "t.csv", [{"image": "a.jpg", "id": "1"}, {"image": "a.jpg", "id": "1"}])
    ds = TableDataset(path)
    assert len(ds) == 1 and "duplicate" in ds.problems[0]


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl", ".json", ".json-items"])
def test_table_formats(tmp_path: Path, write_image, write_csv, suffix: str) -> None:
    write_image(tmp_path / "a.jpg")
    rows = [{"image": "a.jpg", "id": "1", "title": "tee"}]
    if suffix == ".tsv":
        path = write_csv(tmp_path / "t.tsv", rows, delimiter="\t")
    elif suffix == ".jsonl":
        path = tmp_path / "t.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    else:
        path = tmp_path / "t.json"
        path.write_text(json.dumps(rows if suffix == ".json" else {"items": rows}))
    (ex,) = open_dataset(f"{path}?text=title").examples()
    assert (ex.id, ex.text) == ("1", "tee")


def test_table_bad_json_is_a_dataset_error(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text('{"not": "rows"}')
    with pytest.raises(DatasetError, match="list of objects"):
        TableDataset(tmp_path / "t.json").examples()


def test_table_parquet(tmp_path: Path, write_image) -> None:
    write_image(tmp_path / "a.jpg")
    path = tmp_path / "t.parquet"
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        path.write_bytes(b"PAR1")
        with pytest.raises(DatasetError, match="pyarrow"):
            TableDataset(path).examples()
        return
    pq.write_table(pa.table({"image": ["a.jpg"], "id": [7]}), path)
    assert [ex.id for ex in TableDataset(path)] == ["7"]


def test_table_label_columns_are_validated(tmp_path: Path, write_image, write_csv) -> None:
    write_image(tmp_path / "a.jpg")
    path = write_csv(
        tmp_path / "t.csv",
        [
            {"image": "a.jpg", "id": "1", "Category": "Tops", "colour": "black", "note": "x"},
            {"image": "a.jpg", "id": "2", "Category": "bottom", "colour": "blurple", "note": "y"},
        ],
    )
    first, second = TableDataset(path, schema="vestis").examples()
    assert first.labels == {"category": "top", "colour": "black"}
    assert second.labels == {"category": "bottom", "colour": None}
    ds = TableDataset(path, schema="vestis")
    ds.examples()
    assert len(ds.problems) == 1 and "row 2 (2)" in ds.problems[0] and "blurple" in ds.problems[0]
    assert TableDataset(path).examples()[0].labels == {}  # no schema, no labels


def test_table_mapping_option(tmp_path: Path, write_image, write_csv) -> None:
    write_image(tmp_path / "a.jpg")
    (tmp_path / "my_map.yaml").write_text(
        "source: shop\nschema: vestis\nfields:\n  type:\n    - column: kind\n      map: {Jeans: jeans}\n"
    )
    path = write_csv(tmp_path / "t.csv", [{"image": "a.jpg", "kind": "Jeans"}])
    (ex,) = open_dataset(f"table:{path}?mapping=my_map.yaml").examples()
    assert ex.labels == {"type": "jeans", "category": "bottom"}

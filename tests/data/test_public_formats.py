"""Adapters for public formats users bring: Polyvore, Fashion IQ, DeepFashion, COCO."""

from __future__ import annotations

import pytest

from vestis.data import DatasetError, open_dataset
from vestis.data.adapters.polyvore import PolyvoreDataset


@pytest.mark.parametrize("nested", [True, False])
def test_polyvore_items_groups_and_outfits(tmp_path, builders, nested: bool) -> None:
    ds = PolyvoreDataset(builders["polyvore"](tmp_path, nested=nested))
    by_id = {ex.id: ex for ex in ds}
    assert sorted(by_id) == ["10", "11", "12"]
    assert ds.problems and "13" in ds.problems[0]
    assert by_id["10"].group == "s1" and by_id["12"].group == "s2"
    assert by_id["10"].labels == {"category": "top"} and by_id["11"].labels == {"category": "footwear"}
    assert by_id["12"].labels == {}
    assert by_id["11"].text == "leather boots" and by_id["10"].meta["polyvore_split"] == "train"
    assert ds.outfits()["s1"] == ["10", "11"]


def test_polyvore_split_option(build) -> None:
    ds = open_dataset(f"polyvore:{build('polyvore')}?split=valid")
    assert [ex.id for ex in ds] == ["10", "12"] and list(ds.outfits()) == ["s2"]
    with pytest.raises(DatasetError, match="disjoint"):
        open_dataset(f"polyvore:{build('polyvore')}?version=disjoint").examples()


def test_fashioniq_images_and_triplets(build) -> None:
    ds = open_dataset(f"fashioniq:{build('fashioniq')}")
    by_id = {ex.id: ex for ex in ds}
    assert sorted(by_id) == ["B001", "B002", "S001", "S002", "T001"]
    assert by_id["B002"].image.endswith(".png")
    assert by_id["B001"].labels == {"category": "dress"} and by_id["T001"].labels == {"category": "top"}
    assert by_id["S001"].meta["fashioniq_split"] == "val"
    assert ds.triplets() == [
        ("B001", ["is red", "has no sleeves"], "B002"),
        ("S001", ["has a collar", "is darker"], "S002"),
    ]
    assert any("B009" in p for p in ds.problems)


def test_fashioniq_filters(build) -> None:
    ds = open_dataset(f"fashioniq:{build('fashioniq')}?category=dress&split=train")
    assert sorted(ex.id for ex in ds) == ["B001", "B002"]


def test_deepfashion_categories_attributes_partition(build) -> None:
    ds = open_dataset(f"deepfashion:{build('deepfashion')}")
    examples = ds.examples()
    assert [ex.id for ex in examples] == [
        "img/Sheer_Blouse/img_00000001.jpg",
        "img/Sheer_Blouse/img_00000002.jpg",
        "img/Skinny_Jeans/img_00000001.jpg",
    ]
    blouse, blouse2, jeans = examples
    assert blouse.group == blouse2.group == "img/Sheer_Blouse" and blouse.text == "Sheer Blouse"
    assert blouse.labels == {"category": "top"} and jeans.labels == {"category": "bottom"}
    assert blouse.meta == {
        "category_name": "Blouse",
        "category_type": "upper-body",
        "attributes": ["floral"],
        "partition": "train",
    }
    assert blouse2.meta["attributes"] == ["abstract print", "a-line"]
    assert len(ds.problems) == 1 and "Wool_Blazer" in ds.problems[0]


def test_deepfashion_type_fallback_and_name_first(tmp_path, write_image) -> None:
    anno = tmp_path / "Anno"
    anno.mkdir()
    (anno / "list_category_cloth.txt").write_text("2\ncategory_name  category_type\nAnorak  1\nBlazer  1\n")
    (anno / "list_category_img.txt").write_text(
        "2\nimage_name  category_label\nimg/A/1.jpg 1\nimg/B/1.jpg 2\n"
    )
    write_image(tmp_path / "Img" / "img" / "A" / "1.jpg")
    write_image(tmp_path / "Img" / "img" / "B" / "1.jpg")
    anorak, blazer = open_dataset(f"deepfashion:{tmp_path}").examples()
    assert anorak.labels == {"category": "top"}  # unknown name: the category type decides
    assert blazer.labels == {"category": "outerwear"}  # known name wins over "upper body"
    assert anorak.meta["attributes"] == []


def test_deepfashion_needs_annotations(tmp_path) -> None:
    with pytest.raises(DatasetError, match="list_category_cloth"):
        open_dataset(f"deepfashion:{tmp_path}").examples()


def test_coco_images_with_category_and_attribute_names(build) -> None:
    root = build("coco")
    ds = open_dataset(f"coco:{root}")
    one, two = ds.examples()
    assert (one.id, two.id) == ("1", "2")
    assert one.meta["categories"] == ["shirt, blouse", "pocket"]
    assert one.meta["attributes"] == ["floral", "short (length)"]
    assert one.labels == {"category": "top"}  # the pocket is a garment part
    assert two.labels == {}  # shirt and pants: no single category
    assert any("missing.jpg" in p for p in ds.problems)
    assert len(open_dataset(f"coco:{root / 'instances_attributes_val2020.json'}")) == 2


def test_coco_ambiguous_annotation_files(build) -> None:
    root = build("coco")
    (root / "other.json").write_text("{}")
    with pytest.raises(DatasetError, match="annotations="):
        open_dataset(f"coco:{root}").examples()
    assert len(open_dataset(f"coco:{root}?annotations=instances_attributes_val2020.json")) == 2

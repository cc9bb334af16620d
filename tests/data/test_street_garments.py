"""street-garments: worn garments cut from label maps as the item extractor cuts parser regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vestis.data import open_dataset
from vestis.data.adapters.street import region_labels, schema_mapping_path
from vestis.data.street import load_street, read_labels
from vestis.parse.labels import list_label_maps, load_label_map
from vestis.parse.regions import regions_from_classmap
from vestis.schema import load_schema
from vestis.schema.mapping import Mapping


@pytest.fixture
def garments(build, tmp_path):
    root = build("street-garments")
    ds = open_dataset(f"street-garments:{root}?cache={tmp_path / 'crops'}")
    return root, {ex.id: ex for ex in ds.examples()}


def test_each_garment_is_cut_as_the_item_extractor_cuts_a_region(garments):
    root, by_id = garments
    assert sorted(by_id) == ["a-0", "a-1", "a-2", "b-0", "b-1"]  # tag-only photo c has no garments
    photo = Image.open(root / "images" / "a.png").convert("RGB")
    cmap = load_label_map("street").lookup(read_labels(root))[
        np.asarray(Image.open(root / "masks" / "a.png"))
    ]
    regions = regions_from_classmap(cmap, photo.size, merge=load_label_map("street").merge)
    for k, region in enumerate(regions):
        ex = by_id[f"a-{k}"]
        assert ex.meta["class"] == region.category and tuple(ex.meta["box"]) == region.box
        assert Image.open(ex.image).tobytes() == region.crop(photo).tobytes()


def test_labels_come_from_the_label_map_and_the_garments_pixels(garments):
    _, by_id = garments
    by_class = {ex.meta["class"]: ex.labels for ex in by_id.values() if ex.meta["photo"] == "a"}
    assert by_class["top"] == {"category": "top", "type": "t_shirt", "colour": "red"}
    assert by_class["bottom"] == {"category": "bottom", "type": "jeans", "colour": "blue"}
    assert by_class["footwear"] == {"category": "footwear", "colour": "black"}  # shoes: no type
    top_b = next(ex for ex in by_id.values() if ex.meta["photo"] == "b" and ex.meta["class"] == "top")
    # half blouse, half t-shirt: the category is certain, the type is not; stripes: no dominant colour
    assert top_b.labels == {"category": "top"}
    assert top_b.meta["labels_raw"] == {"blouse": 170, "t-shirt": 170}
    vest = next(ex for ex in by_id.values() if ex.meta["photo"] == "b" and ex.meta["class"] == "outerwear")
    assert "category" not in vest.labels and "type" not in vest.labels  # vest: ambiguous, unlabelled


def test_split_is_by_photo_as_the_parsers(garments):
    root, by_id = garments
    split = {p.id: p.split() for p in load_street(root)}
    ds = open_dataset(f"street-garments:{root}")
    for which in ("train", "val"):
        assert all(split[ex.meta["photo"]] == which for ex in ds.split(which))
    assert {ex.group for ex in by_id.values()} == {"street:a", "street:b"}


def test_crops_are_cut_once_and_reused(build, tmp_path):
    root = build("street-garments")
    spec = f"street-garments:{root}?cache={tmp_path / 'crops'}"
    first = open_dataset(spec).examples()
    (root / "masks" / "a.png").unlink()  # a second open reads the index, not the label maps
    second = open_dataset(spec).examples()
    assert [(e.id, e.labels, e.image) for e in first] == [(e.id, e.labels, e.image) for e in second]


def test_a_bare_spec_opens_the_street_folder(build, tmp_path, monkeypatch):
    build("street-garments")
    (tmp_path / "street").symlink_to(tmp_path / "street-garments")
    monkeypatch.setenv("VESTIS_DATA", str(tmp_path))
    assert open_dataset("street-garments").root == tmp_path / "street"


def test_region_labels_need_ninety_percent_agreement():
    mapping = Mapping.load(schema_mapping_path(load_label_map("street")), load_schema("vestis"))
    assert region_labels({"jeans": 95, "pants": 5}, mapping) == {"category": "bottom", "type": "jeans"}
    assert region_labels({"jeans": 80, "pants": 20}, mapping) == {"category": "bottom"}
    assert region_labels({"suit": 100}, mapping) == {}
    assert region_labels({"jeans": 10}, None) == {}


def test_schema_mapping_sits_beside_the_label_map_and_is_not_one():
    path = schema_mapping_path(load_label_map("street"))
    assert path.parent == Path(load_label_map("street").path).parent and path.is_file()
    assert list_label_maps() == ["street"]
    mapping = Mapping.load(path, load_schema("vestis"))
    schema = mapping.schema
    for raw in mapping.fields["type"][0].map:
        labels = mapping.apply({"label": raw})
        assert labels["category"] == schema.fields["type"].values[labels["type"]].parent


@pytest.mark.shared_data
def test_mapping_decides_every_street_label(shared_data):
    """Each of the 59 labels is mapped or deliberately ignored, for category and for type."""
    mapping = Mapping.load(schema_mapping_path(load_label_map("street")), load_schema("vestis"))
    names = read_labels(shared_data / "street")
    assert len(names) == 59
    for field in ("category", "type"):
        src = mapping.fields[field][0]
        decided = set(src.map) | src.ignore
        if field == "category":  # a mapped type decides the category through its parent
            decided |= set(mapping.fields["type"][0].map)
        assert set(names) <= decided, f"{field}: undecided {sorted(set(names) - decided)}"

"""Extraction per item: product shots unchanged, one record per garment for a photo of a person."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from vestis.extract.base import load_extractor
from vestis.extract.items import ItemExtractor
from vestis.parse.base import Parsed, Parser, Region


def figure() -> Image.Image:
    """A grey background with a red "top" over a navy "bottom"."""
    img = np.full((200, 100, 3), 235, dtype=np.uint8)
    img[30:100, 20:80] = (200, 25, 30)
    img[100:190, 30:70] = (20, 30, 90)
    return Image.fromarray(img)


class TwoGarments(Parser):
    """A stand-in parser that finds the figure's two garments where they were painted."""

    name = "two-garments"

    def _parse_batch(self, images):
        out = []
        for im in images:
            top = Region((20, 30, 80, 100), 60 * 70 / 20000, "top", 0.9)
            bottom = Region((30, 100, 70, 190), 40 * 90 / 20000, "bottom", 0.8)
            out.append(Parsed("person", [top, bottom], im.size, 0.95))
        return out


def test_a_product_shot_is_one_item_and_unchanged():
    extractor = load_extractor("pixel-colour")
    photo = Image.new("RGB", (64, 80), (30, 150, 60))
    plain = extractor.extract(photo)
    result = ItemExtractor(extractor, "whole").extract(photo)
    assert result.kind == "product" and len(result.items) == 1
    assert result.attributes == plain.attributes and result.confidence == plain.confidence
    assert result.items[0].box == (0, 0, 64, 80) and result.items[0].area == 1.0


def test_a_person_gives_one_record_per_garment_with_boxes_in_image_pixels():
    extractor = load_extractor("pixel-colour")
    result = ItemExtractor(extractor, TwoGarments()).extract(figure())
    assert result.kind == "person" and [i.box for i in result.items] == [
        (20, 30, 80, 100),
        (30, 100, 70, 190),
    ]
    assert [i.attributes["colour"] for i in result.items] == ["red", "navy"]
    assert [i.attributes["category"] for i in result.items] == ["top", "bottom"]  # the parser's class
    assert result.attributes == result.items[0].attributes  # the primary item covers most of the photo
    record = json.loads(json.dumps(result.to_dict()))
    assert record["kind"] == "person" and record["items"][1]["box"] == [30, 100, 70, 190]


def test_unreadable_photos_keep_their_place():
    ex = ItemExtractor(load_extractor("pixel-colour"), TwoGarments())
    results = ex.extract([figure(), b"not an image", figure()])
    assert [r.error is None for r in results] == [True, False, True]
    assert results[1].items is None and "not_image" in results[1].error


def test_the_parser_category_overrides_a_contradicting_type():
    class Says(Parser):
        name = "says-bottom"

        def _parse_batch(self, images):
            return [Parsed("person", [Region((0, 0, 10, 10), 0.5, "bottom", 0.7)], im.size) for im in images]

    class TopTee(load_extractor("majority").__class__):
        def _extract_batch(self, images):
            return [self.from_raw({"category": "top", "type": "t_shirt"}, {"category": 0.6}) for _ in images]

    from vestis.schema import load_schema

    result = ItemExtractor(TopTee(load_schema("vestis")), Says()).extract(Image.new("RGB", (20, 20)))
    assert result.attributes["category"] == "bottom" and result.attributes["type"] is None
    assert result.confidence["category"] == 0.7


def test_the_shipped_garment_parser_gives_a_street_photo_its_garments(tmp_path):
    import pytest

    pytest.importorskip("scipy")
    from tests.conftest import shared_data_root

    photo = shared_data_root() / "street" / "images" / "0002.jpg"
    if not photo.is_file():
        pytest.skip("street photos not found")
    result = ItemExtractor(load_extractor("pixel-colour"), "lite-parser").extract(str(photo))
    assert result.kind == "person" and len(result.items) >= 2
    w, h = Image.open(photo).size
    assert all(0 <= i.box[0] < i.box[2] <= w and 0 <= i.box[1] < i.box[3] <= h for i in result.items)
    assert {"dress", "footwear"} <= {i.category for i in result.items}  # tagged: dress, jacket, pumps, socks


class ColourUnreliableWhenWorn(type(load_extractor("pixel-colour"))):
    """pixel-colour declaring that it cannot read colour on worn garments."""

    def unreliable_on_worn(self):
        return {"colour": "test: no signal on worn garments"}


def test_fields_unreliable_on_worn_garments_are_null_on_a_person_and_kept_on_a_product_shot():
    from vestis.schema import load_schema

    extractor = ColourUnreliableWhenWorn(load_schema("vestis"))
    person = ItemExtractor(extractor, TwoGarments()).extract(figure())
    assert [i.attributes["colour"] for i in person.items] == [None, None]
    assert all(i.confidence["colour"] == 0.0 for i in person.items) and person.attributes["colour"] is None
    assert [i.attributes["category"] for i in person.items] == ["top", "bottom"]  # other fields stay
    product = ItemExtractor(extractor, "whole").extract(Image.new("RGB", (64, 80), (30, 150, 60)))
    assert product.attributes["colour"] == "green" and product.items[0].attributes["colour"] == "green"


def test_lite_maps_its_worn_gates_onto_the_fields_of_any_schema(tiny_lite, tmp_path):
    import shutil

    from vestis.models.lite_config import LiteModelConfig, write_config

    assert not load_extractor("lite", "vestis", model=str(tiny_lite)).unreliable_on_worn()
    model = shutil.copytree(tiny_lite, tmp_path / "model")
    config = LiteModelConfig.read(model)
    head = next(iter(config.heads))
    config.worn_disabled = {head: "measured: no better than the majority guess"}
    write_config(model, config)  # checksums follow: the model still loads verified
    gated = load_extractor("lite", "vestis", model=str(model)).unreliable_on_worn()
    assert list(gated) == [head] and "majority guess" in gated[head]

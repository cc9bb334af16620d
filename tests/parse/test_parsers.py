"""Contract of every registered parser, the label map, and the shipped parser weights."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from vestis.models.registry import ModelNotFound
from vestis.parse.base import COARSE, list_parsers, load_parser
from vestis.parse.labels import CLASSES, load_label_map


def product_shot() -> Image.Image:
    """A flat-lay shirt on a studio background."""
    im = Image.new("RGB", (120, 160), (236, 236, 236))
    ImageDraw.Draw(im).rectangle((25, 30, 95, 130), fill=(30, 60, 160))
    return im


def _parser(name: str):
    try:
        return load_parser(name)
    except (ModelNotFound, ImportError) as exc:  # a backend whose weights or extra are absent
        pytest.skip(f"{name}: {exc}")


@pytest.mark.parametrize("name", list_parsers())
def test_parser_contract(name):
    parser = _parser(name)
    rng = np.random.default_rng(0)
    images = [product_shot(), Image.fromarray(rng.integers(0, 255, (97, 61, 3), dtype=np.uint8))]
    parsed = parser.parse(images)
    assert len(parsed) == len(images)
    for image, p in zip(images, parsed, strict=True):
        assert p.size == image.size and p.kind in ("product", "person")
        for r in p.regions:
            x0, y0, x1, y1 = r.box
            assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height
            assert 0 <= r.area <= 1 and 0 <= r.score <= 1
            assert r.category is None or r.category in COARSE
        if p.kind == "product":
            assert [(r.box, r.area, r.category) for r in p.regions] == [((0, 0, *image.size), 1.0, None)]
    assert parsed[0].kind == "product"
    assert parser.parse(images[0]).kind == "product"  # a single image in, one Parsed out


def test_label_map_covers_street_labels(shared_data):
    from vestis.data.street import ClassMaps, load_street, read_labels

    lm = load_label_map("street")
    assert lm.classes == CLASSES and len(read_labels(shared_data / "street")) == 59
    photos = load_street(shared_data / "street")
    masked = [p for p in photos if p.mask is not None]
    assert len(photos) == 2098 and len(masked) == 1004
    assert 0.15 < sum(p.split() == "val" for p in masked) / len(masked) < 0.25
    cmap = ClassMaps(shared_data / "street")(masked[0])
    assert cmap.max() < len(CLASSES)
    assert lm.garments(["blazer", "jeans", "heels", "tights"]) == {
        "outerwear",
        "bottom",
        "footwear",
        "accessory",
    }


def test_shipped_parser_finds_garments_on_a_street_photo(shared_data):
    from vestis.data.street import load_street

    parser = _parser("lite-parser")
    photo = next(p for p in load_street(shared_data / "street") if p.split() == "val" and p.mask is not None)
    parsed = parser.parse(photo.image)
    assert parsed.kind == "person" and parsed.person_score > parser.threshold
    assert {r.category for r in parsed.regions} & {"top", "outerwear", "dress", "bottom"}


def test_shipped_parser_masks_have_the_image_size():
    parser = _parser("lite-parser")
    parser.masks, parser.threshold = True, -1.0  # force the person path
    image = product_shot()
    for r in parser.parse(image).regions:
        assert r.mask is not None and r.mask.shape == (image.height, image.width)
        assert r.mask.mean() == pytest.approx(r.area, abs=0.05)


def test_the_test_figure_parser_reads_its_figures_and_rescales():
    from vestis.parse.backends.test_figure import figure

    parsed = load_parser("test-figure").parse(figure(shoes=(15, 15, 15)))
    assert parsed.garments and parsed.listing() == (
        "0 top (20,30,80,100), 1 bottom (30,100,70,190), 2 footwear (30,190,70,200)"
    )
    assert [r.box for r in parsed.rescaled((50, 100)).regions] == [
        (10, 15, 40, 50),
        (15, 50, 35, 95),
        (15, 95, 35, 100),
    ]
    assert [c.size for c in parsed.crops(figure())] == [(66, 76), (44, 98), (44, 10)]
    product = load_parser("test-figure").parse(product_shot())
    assert not product.garments and product.listing() == "0 (the whole photo: a product shot)"

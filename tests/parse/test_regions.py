"""Garment regions from a class map: two garments on a figure, merged and separate components."""

from __future__ import annotations

import numpy as np

from vestis.parse.labels import CLASSES, load_label_map
from vestis.parse.regions import regions_from_classmap


def figure() -> np.ndarray:
    """A 40×20 figure: head (skin, hair), a top, a skirt, two shoes, a belt and a bracelet; 1/4 scale."""
    c = np.zeros((40, 20), dtype=np.uint8)
    c[1:3, 8:12] = CLASSES.index("hair")
    c[3:6, 8:12] = CLASSES.index("skin")
    c[6:16, 5:15] = CLASSES.index("top")
    c[17:30, 6:14] = CLASSES.index("bottom")
    c[36:39, 6:9] = c[36:39, 11:14] = CLASSES.index("footwear")
    c[16, 6:14] = CLASSES.index("accessory")  # a belt
    c[14:16, 2:4] = CLASSES.index("accessory")  # a bracelet, apart from the belt
    c[0, 0] = CLASSES.index("hat")  # one stray pixel: dropped
    return c


def test_two_garments_on_a_figure_give_two_regions_with_their_boxes():
    c = np.zeros((40, 20), dtype=np.uint8)
    c[6:16, 5:15] = CLASSES.index("top")
    c[17:30, 6:14] = CLASSES.index("bottom")
    regions = regions_from_classmap(c, (80, 160))  # the photo is 4× the map
    assert [(r.category, r.box) for r in regions] == [
        ("top", (20, 24, 60, 64)),
        ("bottom", (24, 68, 56, 120)),
    ]
    assert [r.area for r in regions] == [100 / 800, 104 / 800]


def test_merged_and_separate_components_and_small_blobs():
    probs = np.full((len(CLASSES), 40, 20), 0.5, dtype=np.float32)
    regions = regions_from_classmap(
        figure(), (20, 40), probs, merge=load_label_map("street").merge, min_area=0.002, masks=True
    )
    cats = [r.category for r in regions]
    assert cats == ["top", "bottom", "footwear", "accessory", "accessory"]  # no skin, hair or stray hat
    shoes = regions[2]
    assert shoes.box == (6, 36, 14, 39) and shoes.area == 18 / 800  # two shoes, one pair
    assert sorted(r.box for r in regions[3:]) == [(2, 14, 4, 16), (6, 16, 14, 17)]
    assert all(r.score == 0.5 and r.mask.shape == (40, 20) for r in regions)
    assert regions[0].mask.sum() == 100


def test_nothing_found_gives_no_regions():
    assert regions_from_classmap(np.zeros((8, 8), dtype=np.uint8), (8, 8)) == []

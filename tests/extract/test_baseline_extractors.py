"""The majority and pixel-colour baselines."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vestis.colour import garment_pixels, kmeans, srgb_to_lab
from vestis.data.example import Example
from vestis.extract.base import create_extractor
from vestis.schema import load_schema

VESTIS = load_schema("vestis")


def garment(colour, background=(255, 255, 255), second=None, size=(200, 260)) -> Image.Image:
    """A rectangular 'garment' on a plain background; ``second`` paints its top third."""
    pixels = np.full((size[1], size[0], 3), background, np.uint8)
    pixels[40:220, 50:150] = colour
    if second is not None:
        pixels[40:100, 50:150] = second
    return Image.fromarray(pixels)


# ---- majority ---------------------------------------------------------------------------------
def test_majority_predicts_training_majority_with_frequency_confidence() -> None:
    train = [
        Example("1", "a", {"category": "top", "colour": "red", "closure": ["zip"]}),
        Example("2", "b", {"category": "top", "colour": None, "closure": ["zip"]}),
        Example("3", "c", {"category": "bottom", "colour": "blue", "closure": []}),
        Example("4", "d", {"category": "top", "colour": "blue", "closure": ["zip", "buttons"]}),
    ]
    ex = create_extractor("majority", VESTIS).fit(train)
    res = ex.extract([garment((0, 0, 0)), garment((255, 0, 0))])
    assert len(res) == 2
    attrs, conf = res[0].attributes, res[0].confidence
    assert attrs["category"] == "top" and conf["category"] == 0.75
    assert attrs["colour"] == "blue" and conf["colour"] == pytest.approx(2 / 3)  # null labels not counted
    assert attrs["closure"] == ["zip"] and conf["closure"] == pytest.approx(2 / 3)  # empty sets skipped
    assert attrs["pattern"] is None and conf["pattern"] == 0.0  # never labelled
    assert res[1].attributes == attrs and VESTIS.validate(attrs).strict


def test_majority_multi_fields_skip_empty_sets_and_unknown_labels_are_dropped() -> None:
    train = [
        Example(str(i), "x", {"closure": [] if i < 3 else ["zip"], "style": [], "colour": "not-a-colour"})
        for i in range(5)
    ]
    res = create_extractor("majority", VESTIS).fit(train).extract([garment((0, 0, 0))])[0]
    assert res.attributes["closure"] == ["zip"] and res.confidence["closure"] == 1.0
    assert res.attributes["style"] == [] and res.confidence["style"] == 0.0
    assert res.attributes["colour"] is None and res.confidence["colour"] == 0.0


def test_majority_unfitted_is_all_null() -> None:
    res = create_extractor("majority", VESTIS).extract([garment((0, 0, 0))])[0]
    assert res.attributes == VESTIS.empty() and set(res.confidence.values()) == {0.0}


# ---- pixel-colour -----------------------------------------------------------------------------
def test_lab_conversion_reference_values() -> None:
    lab = srgb_to_lab(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(lab[0], [100, 0, 0], atol=0.05)
    np.testing.assert_allclose(lab[1], [0, 0, 0], atol=0.05)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.1)


def test_kmeans_finds_two_colours_with_their_shares() -> None:
    points = np.concatenate([np.zeros((300, 3)), np.full((100, 3), 50.0)])
    centres, shares = kmeans(points, 4)
    order = np.argsort(-shares)
    np.testing.assert_allclose(centres[order[0]], [0, 0, 0])
    assert shares[order[0]] == pytest.approx(0.75)


def test_mask_drops_the_background_and_falls_back_to_the_centre() -> None:
    lab = srgb_to_lab(np.asarray(garment((200, 25, 35)), dtype=float) / 255)
    kept = garment_pixels(lab)
    assert len(kept) == 178 * 98 and np.all(kept[:, 1] > 40)  # only the red pixels, less the eroded edge
    white = srgb_to_lab(np.ones((40, 40, 3)))
    assert len(garment_pixels(white)) == 20 * 20  # nothing differs from the border: centre crop


def test_pixel_colour_solid_red_on_white() -> None:
    res = create_extractor("pixel-colour", VESTIS).extract([garment((200, 25, 35))])[0]
    assert res.attributes["colour"] == "red" and res.confidence["colour"] > 0.5
    assert res.attributes["secondary_colour"] is None
    assert res.attributes["category"] is None and res.confidence["category"] == 0.0
    assert res.error is None and VESTIS.validate(res.attributes).strict


def test_pixel_colour_tells_navy_from_blue() -> None:
    ex = create_extractor("pixel-colour", VESTIS)
    navy, blue = ex.extract([garment((20, 30, 80)), garment((40, 90, 200))])
    assert navy.attributes["colour"] == "navy"
    assert blue.attributes["colour"] == "blue"


@pytest.mark.parametrize(
    ("rgb", "expected"),
    [
        ((12, 12, 12), "black"),
        ((250, 250, 250), "white"),
        ((128, 128, 128), "grey"),
        ((215, 190, 160), "beige"),
        ((250, 220, 20), "yellow"),
        ((30, 140, 60), "green"),
        ((120, 50, 150), "purple"),
        ((240, 130, 170), "pink"),
        ((110, 70, 40), "brown"),
        ((250, 130, 30), "orange"),
    ],
)
def test_pixel_colour_palette(rgb, expected) -> None:
    res = create_extractor("pixel-colour", VESTIS).extract([garment(rgb)])[0]
    assert res.attributes["colour"] == expected


def test_pixel_colour_secondary_colour() -> None:
    res = create_extractor("pixel-colour", VESTIS).extract([garment((20, 30, 80), second=(200, 25, 35))])[0]
    assert (res.attributes["colour"], res.attributes["secondary_colour"]) == ("navy", "red")
    assert res.confidence["secondary_colour"] > 0.5


def test_pixel_colour_maps_onto_other_vocabularies() -> None:
    denali, florence = load_schema("denali"), load_schema("florence")
    gold = garment((210, 175, 60))
    assert create_extractor("pixel-colour", denali).extract([gold])[0].attributes["color"] == "metallic"
    assert (
        create_extractor("pixel-colour", florence).extract([garment((128, 128, 128))])[0].attributes["color"]
        == "gray"
    )


def test_pixel_colour_busy_background_uses_the_centre() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (200, 160, 3)).astype(np.uint8)
    pixels[40:160, 30:130] = (200, 25, 35)
    res = create_extractor("pixel-colour", VESTIS).extract([Image.fromarray(pixels)])[0]
    assert res.attributes["colour"] == "red"

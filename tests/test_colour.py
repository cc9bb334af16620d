from __future__ import annotations

import numpy as np
import pytest

from vestis.colour import COLOUR_FEATURE_DIM, PALETTE, colour_features

NAMES = list(PALETTE)


@pytest.mark.parametrize(
    ("rgb", "name"), [((20, 30, 80), "navy"), ((15, 15, 15), "black"), ((200, 25, 35), "red")]
)
def test_colour_features_name_the_garment_not_the_background(rgb, name):
    img = np.full((1, 160, 160, 3), 248, np.uint8)
    img[0, 30:130, 40:120] = rgb
    f = colour_features(img)
    assert f.shape == (1, COLOUR_FEATURE_DIM)
    hard = f[0, len(NAMES) : 2 * len(NAMES)]
    soft = f[0, : len(NAMES)]
    assert NAMES[int(hard.argmax())] == name
    assert NAMES[int(soft.argmax())] == name
    assert hard.sum() == pytest.approx(1.0) and soft.sum() == pytest.approx(1.0, abs=1e-5)


def test_navy_and_black_differ_in_lab_moments():
    navy = np.full((1, 96, 96, 3), 250, np.uint8)
    navy[0, 20:80, 20:80] = (25, 35, 95)
    black = navy.copy()
    black[0, 20:80, 20:80] = (20, 20, 20)
    fn, fb = colour_features(navy)[0], colour_features(black)[0]
    assert fn[-4] < fb[-4]  # Lab b (blue–yellow) mean: navy is bluer


def _lab(rgb, n):
    from vestis.colour import srgb_to_lab

    return srgb_to_lab(np.full((n, 3), np.array(rgb) / 255.0))


def test_dominant_colour_names_a_clear_majority_only():
    from vestis.colour import dominant_colour

    assert dominant_colour(np.concatenate([_lab((200, 25, 35), 80), _lab((250, 250, 250), 20)]))[0] == "red"
    stripes = np.concatenate([_lab((200, 25, 35), 50), _lab((250, 250, 250), 50)])
    assert dominant_colour(stripes) == (None, pytest.approx(0.5))
    # halfway between navy and black: no colour is clearly nearest
    assert dominant_colour(_lab((20, 20, 30), 100))[0] is None
    assert dominant_colour(np.zeros((0, 3))) == (None, 0.0)

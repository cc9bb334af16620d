"""The worn-look augmentation: deterministic, photographed, and the garment keeps its colour."""

from __future__ import annotations

import numpy as np
from PIL import Image

from vestis.colour import dominant_colour, srgb_to_lab
from vestis.train.augment import foreground, seed_for, worn_look


def product_shot(colour=(200, 25, 35)) -> Image.Image:
    shot = Image.new("RGB", (200, 260), (250, 250, 250))
    shot.paste(colour, (50, 40, 150, 220))
    return shot


def test_same_seed_same_variant_other_seed_other_variant():
    shot = product_shot()
    assert worn_look(shot, 5).tobytes() == worn_look(shot, 5).tobytes()
    assert worn_look(shot, 5).tobytes() != worn_look(shot, 6).tobytes()
    assert seed_for(0, "a.jpg") == seed_for(0, "a.jpg") != seed_for(1, "a.jpg")


def test_backdrop_is_replaced_and_the_garment_keeps_its_colour():
    for seed in range(8):
        out = np.asarray(worn_look(product_shot(), seed)).astype(float)
        assert max(out.shape[:2]) <= 200
        h, w = out.shape[:2]
        centre = out[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3].reshape(-1, 3)
        assert dominant_colour(srgb_to_lab(centre / 255.0))[0] == "red"
        # the studio white is gone from the frame (the crop keeps up to 15% margin around the garment)
        border = np.concatenate([out[0], out[-1], out[:, 0], out[:, -1]])
        assert (np.abs(border - 250).max(axis=1) < 8).mean() < 0.5


def test_a_busy_background_is_left_alone():
    rng = np.random.default_rng(0)
    busy = rng.integers(0, 255, (120, 100, 3)).astype(np.float32)
    assert foreground(busy) is None
    assert foreground(np.asarray(product_shot(), np.float32)) is not None

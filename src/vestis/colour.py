"""Colour science shared by backends and models: the palette, sRGB → CIE Lab, garment pixels.

``colour_features`` summarises a garment's colours as a fixed-length vector (soft and hard
palette shares of the garment pixels, Lab mean and spread); vestis-lite feeds it to its colour
heads next to the deep features, which keep shape well but blur shade (navy vs black).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# sRGB anchors per canonical vestis colour name.
PALETTE: dict[str, tuple[tuple[int, int, int], ...]] = {
    "black": ((0, 0, 0), (28, 28, 30), (40, 38, 42)),
    "white": ((255, 255, 255), (244, 244, 240), (250, 246, 232), (236, 232, 220)),
    "grey": ((128, 128, 128), (90, 90, 92), (170, 170, 170), (205, 205, 205)),
    "beige": ((225, 205, 175), (210, 185, 150), (195, 160, 115), (235, 220, 200), (180, 160, 135)),
    "brown": ((110, 70, 40), (80, 52, 35), (150, 95, 55), (60, 40, 30), (165, 110, 75)),
    "red": ((200, 25, 35), (230, 45, 45), (150, 20, 30), (110, 20, 35), (175, 40, 50)),
    "pink": ((255, 182, 193), (240, 130, 170), (220, 60, 140), (250, 210, 215), (200, 110, 130)),
    "orange": ((255, 140, 0), (240, 110, 40), (250, 128, 114), (255, 175, 125), (205, 95, 55)),
    "yellow": ((255, 220, 0), (250, 235, 110), (225, 180, 40), (255, 245, 170)),
    "green": ((30, 140, 60), (0, 95, 50), (120, 200, 120), (60, 180, 115), (150, 200, 160), (20, 70, 45)),
    "khaki": ((128, 128, 0), (110, 110, 60), (150, 140, 90), (85, 90, 50), (175, 165, 115)),
    "blue": ((30, 90, 200), (70, 130, 220), (135, 180, 230), (0, 150, 170), (60, 95, 150), (0, 60, 255)),
    "navy": ((20, 30, 70), (25, 35, 95), (0, 0, 128), (35, 45, 75), (30, 40, 60)),
    "purple": ((120, 50, 150), (180, 140, 210), (85, 40, 110), (205, 165, 225), (150, 80, 160)),
    "gold": ((212, 175, 55), (195, 155, 70)),
    "silver": ((192, 192, 192),),  # a narrow band of light grey: rare, so kept small
}
LIGHTNESS_WEIGHT = 0.5  # names depend more on hue and chroma than on lightness (shading, folds)
FEATURE_GRID = 32
FEATURE_TEMPERATURE = 8.0


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (D65) of sRGB values in [0, 1], any leading shape."""
    rgb = np.asarray(rgb, dtype=np.float64)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = linear @ m.T / np.array([0.95047, 1.0, 1.08883])
    eps = (6 / 29) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


UNIFORM_BORDER = 15.0  # Lab spread of the border below which it is a studio backdrop


def border_background(lab: np.ndarray) -> tuple[np.ndarray, float]:
    """The median Lab colour of an image's border ring and the border's median distance from it
    (small: a plain backdrop)."""
    h, w, _ = lab.shape
    ring = max(2, round(0.04 * min(h, w)))
    border = np.concatenate(
        [
            lab[:ring].reshape(-1, 3),
            lab[-ring:].reshape(-1, 3),
            lab[:, :ring].reshape(-1, 3),
            lab[:, -ring:].reshape(-1, 3),
        ]
    )
    background = np.median(border, axis=0)
    return background, float(np.median(np.linalg.norm(border - background, axis=1)))


def garment_pixels(lab: np.ndarray) -> np.ndarray:
    """Lab pixels (n, 3) of the garment: those far from a uniform border, else a centre crop."""
    h, w, _ = lab.shape
    background, spread = border_background(lab)
    if spread < UNIFORM_BORDER:
        distance = np.linalg.norm(lab - background, axis=-1)
        mask = _erode(distance > max(12.0, 2.5 * spread))
        if mask.mean() >= 0.03:
            return lab[mask]
    return lab[h // 4 : h - h // 4 or h, w // 4 : w - w // 4 or w].reshape(-1, 3)


def _erode(mask: np.ndarray) -> np.ndarray:
    """Drop the mask's edge pixels, which blend garment and background into false greys."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return inner if inner.mean() >= 0.03 else mask


def kmeans(points: np.ndarray, k: int, iterations: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Centres (k', 3) and pixel shares (k',) by k-means++ then Lloyd steps; empty clusters dropped."""
    rng = np.random.default_rng(seed)
    if len(points) > 6000:
        points = points[rng.choice(len(points), 6000, replace=False)]
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, min(k, len(points))):
        d2 = np.min([((points - c) ** 2).sum(1) for c in centres], axis=0)
        if d2.sum() == 0:
            break
        centres.append(points[rng.choice(len(points), p=d2 / d2.sum())])
    c = np.array(centres)
    for _ in range(iterations):
        assign = ((points[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
        c = np.array([points[assign == j].mean(0) if (assign == j).any() else c[j] for j in range(len(c))])
    assign = ((points[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
    counts = np.bincount(assign, minlength=len(c))
    keep = counts > 0
    return c[keep], counts[keep] / counts.sum()


@lru_cache(maxsize=1)
def palette_lab() -> dict[str, np.ndarray]:
    return {name: srgb_to_lab(np.array(anchors) / 255.0) for name, anchors in PALETTE.items()}


@lru_cache(maxsize=1)
def _anchor_table() -> tuple[np.ndarray, np.ndarray]:
    """Anchors in Lab (scaled for distance), grouped by colour, and each group's start index."""
    lab = palette_lab()
    scale = np.array([LIGHTNESS_WEIGHT, 1.0, 1.0])
    anchors = (np.concatenate(list(lab.values())) * scale).astype(np.float32)
    starts = np.cumsum([0] + [len(v) for v in lab.values()])[:-1]
    return anchors, starts


def palette_distance(lab: np.ndarray) -> np.ndarray:
    """[n, len(PALETTE)] distance of each Lab point (float32 [n, 3]) to each colour's nearest anchor,
    lightness down-weighted by :data:`LIGHTNESS_WEIGHT`."""
    anchors, starts = _anchor_table()
    q = lab * np.array([LIGHTNESS_WEIGHT, 1.0, 1.0], dtype=np.float32)
    d2 = np.maximum((q**2).sum(1)[:, None] + (anchors**2).sum(1)[None] - 2 * q @ anchors.T, 0)
    return np.sqrt(np.minimum.reduceat(d2, starts, axis=1))


def dominant_colour(
    lab: np.ndarray, min_share: float = 0.6, min_margin: float = 5.0, clusters: int = 4
) -> tuple[str | None, float]:
    """The palette colour of a garment's Lab pixels ([n, 3]) when one colour dominates, else None;
    with the share of pixels that are clearly that colour.

    The pixels are clustered (k-means) and each cluster takes its nearest palette colour; it is
    *clearly* that colour when the second-nearest colour is ``min_margin`` Lab units further
    (:func:`palette_distance`). A colour dominates when clusters clearly of it hold at least
    ``min_share`` of the pixels, so a cluster halfway between navy and black, or a print of three
    colours, gives no answer.

    >>> white = srgb_to_lab(np.full((50, 3), 0.98))
    >>> dominant_colour(np.concatenate([white, srgb_to_lab(np.full((10, 3), 0.05))]))
    ('white', 0.8333...)
    """
    if len(lab) == 0:
        return None, 0.0
    centres, weights = kmeans(np.asarray(lab, dtype=np.float64), clusters)
    dist = palette_distance(centres.astype(np.float32))
    nearest, ordered = dist.argmin(1), np.sort(dist, axis=1)
    clear = ordered[:, 1] - ordered[:, 0] >= min_margin
    share = np.bincount(nearest[clear], weights=weights[clear], minlength=len(PALETTE))
    top = int(share.argmax())
    if share[top] < min_share:
        return None, float(share[top])
    return list(PALETTE)[top], float(share[top])


COLOUR_FEATURE_DIM = 2 * len(PALETTE) + 6


def colour_features(batch: np.ndarray) -> np.ndarray:
    """[N, COLOUR_FEATURE_DIM] float32 features of uint8 RGB images [N, S, S, 3] (letterboxed squares)."""
    n_colours = len(PALETTE)
    out = np.zeros((len(batch), COLOUR_FEATURE_DIM), dtype=np.float32)
    for i, img in enumerate(batch):
        step = max(1, img.shape[0] // FEATURE_GRID)
        lab = srgb_to_lab(img[::step, ::step] / np.float32(255.0)).astype(np.float32)
        pixels = garment_pixels(lab)
        per_colour = palette_distance(pixels)
        logits = -(per_colour - per_colour.min(1, keepdims=True)) / FEATURE_TEMPERATURE
        soft = np.exp(logits)
        soft /= soft.sum(1, keepdims=True)
        hard = np.bincount(per_colour.argmin(1), minlength=n_colours) / len(pixels)
        out[i, :n_colours] = soft.mean(0)
        out[i, n_colours : 2 * n_colours] = hard
        out[i, 2 * n_colours : 2 * n_colours + 3] = pixels.mean(0) / np.array([100.0, 50.0, 50.0])
        out[i, 2 * n_colours + 3 :] = pixels.std(0) / np.array([50.0, 25.0, 25.0])
    return out

"""Make a product shot look like a garment cut from a photo of a person (training augmentation).

What the garment parser hands the extractor differs from a studio shot in four ways, and
:func:`worn_look` imitates each, deterministically for a seed:

1. **Background**: a plain studio backdrop (estimated from the image border, as
   :func:`vestis.colour.garment_pixels` does) is replaced by a random smooth, textured scene; a busy
   border (already a photo), or a garment too close to its backdrop to cut out, is left alone.
2. **Framing**: a tight crop around the garment (its box with a margin from -8% to +15% per side,
   so an edge may be cut off), sometimes with a skin-toned or dark patch over one edge (an arm,
   hair, a bag strap).
3. **Resolution**: downscaled so the longest side is 56–200 px (a garment in a 320 px street photo).
4. **Lighting and camera**: brightness and contrast within ±12%, white balance within ±3% per
   channel, slight blur, sensor noise and JPEG re-encoding. These are kept small on purpose: they
   must not turn white into grey or navy into black, so the colour label stays true.

>>> from PIL import Image
>>> shot = Image.new("RGB", (200, 260), (250, 250, 250))
>>> shot.paste((200, 20, 30), (50, 40, 150, 220))
>>> worn = worn_look(shot, seed=3)
>>> max(worn.size) <= 200, worn_look(shot, seed=3).tobytes() == worn.tobytes()
(True, True)
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image, ImageFilter

from vestis.colour import UNIFORM_BORDER, border_background, srgb_to_lab

MIN_FOREGROUND = 0.1  # a smaller garment mask is a pale garment on a pale backdrop: left alone
SKIN_TONES = ((241, 194, 167), (224, 172, 138), (198, 134, 99), (141, 85, 54), (92, 58, 40))


def seed_for(seed: int, key: str) -> int:
    """A per-image seed from the run's seed and the image's path (stable across runs)."""
    return int.from_bytes(hashlib.sha1(f"{seed}|{key}".encode()).digest()[:8], "big")


def foreground(rgb: np.ndarray) -> np.ndarray | None:
    """Bool mask of the garment on a plain backdrop, or None when the border is not uniform."""
    lab = srgb_to_lab(rgb / 255.0)
    background, spread = border_background(lab)
    if spread >= UNIFORM_BORDER:
        return None
    from scipy import ndimage

    mask = ndimage.binary_fill_holes(np.linalg.norm(lab - background, axis=-1) > max(12.0, 2.5 * spread))
    return mask if mask.mean() >= MIN_FOREGROUND else None


def scene(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A random background: smooth, muted blobs of light and shade (streets, walls) with texture."""
    grid = rng.integers(2, 6)
    base = rng.uniform(40, 220) + rng.normal(0, 25, size=3)
    shade = rng.normal(0, 35, size=(grid, grid, 1)) + rng.normal(0, 10, size=(grid, grid, 3))
    blobs = np.clip(base + shade, 0, 255).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(blobs).resize((width, height), Image.Resampling.BICUBIC), np.float32)
    texture = rng.normal(0, rng.uniform(2, 12), size=(height, width, 1))
    return np.clip(smooth + texture, 0, 255)


def worn_look(image: Image.Image, seed: int) -> Image.Image:
    """A product shot as a worn garment crop might look (see the module docstring)."""
    rng = np.random.default_rng(seed)
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    h, w = rgb.shape[:2]
    small = foreground(np.asarray(image.convert("RGB").reduce(2), dtype=np.float32))  # 4x cheaper
    mask = None
    if small is not None:
        matte = Image.fromarray(small.astype(np.uint8) * 255).resize((w, h), Image.Resampling.BILINEAR)
        soft = np.asarray(matte.filter(ImageFilter.GaussianBlur(1.0)))
        mask = soft >= 128
        alpha = (soft.astype(np.float32) / 255.0)[..., None]
        rgb = alpha * rgb + (1 - alpha) * scene(rng, w, h)
        ys, xs = np.nonzero(mask)
        box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    else:
        box = (0, 0, w, h)
    bw, bh = box[2] - box[0], box[3] - box[1]
    margin = rng.uniform(-0.08, 0.15, size=4)
    crop = (
        int(np.clip(box[0] - margin[0] * bw, 0, w - 1)),
        int(np.clip(box[1] - margin[1] * bh, 0, h - 1)),
        int(np.clip(box[2] + margin[2] * bw, 1, w)),
        int(np.clip(box[3] + margin[3] * bh, 1, h)),
    )
    if crop[2] - crop[0] < 8 or crop[3] - crop[1] < 8:
        crop = (0, 0, w, h)
    rgb = rgb[crop[1] : crop[3], crop[0] : crop[2]]
    if rng.random() < 0.3:
        rgb = _occlude(rgb, rng)
    rgb = rgb * rng.uniform(0.88, 1.12) * rng.uniform(0.97, 1.03, size=3)
    mean = rgb.mean()
    rgb = np.clip((rgb - mean) * rng.uniform(0.88, 1.12) + mean, 0, 255)
    out = Image.fromarray(rgb.astype(np.uint8))
    if rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    side = rng.uniform(56, 200)
    scale = min(1.0, side / max(out.size))
    out = out.resize(
        (max(8, round(out.width * scale)), max(8, round(out.height * scale))), Image.Resampling.BILINEAR
    )
    if rng.random() < 0.3:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    noisy = np.asarray(out, np.float32) + rng.normal(0, rng.uniform(0, 5), size=(out.height, out.width, 3))
    out = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=int(rng.integers(45, 92)))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _occlude(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A skin-toned or dark band over one edge (at most 15% of the crop)."""
    h, w = rgb.shape[:2]
    colour = (
        np.array(SKIN_TONES[rng.integers(len(SKIN_TONES))], np.float32)
        if rng.random() < 0.7
        else np.full(3, rng.uniform(10, 60), np.float32)
    )
    out = rgb.copy()
    depth = rng.uniform(0.05, 0.15)
    edge = rng.integers(4)
    if edge == 0:
        out[:, : max(1, int(w * depth))] = colour
    elif edge == 1:
        out[:, w - max(1, int(w * depth)) :] = colour
    elif edge == 2:
        out[: max(1, int(h * depth))] = colour
    else:
        out[h - max(1, int(h * depth)) :] = colour
    return out

"""Rendered garment-label photos with known brand and size, to measure label reading offline.

Each label has a brand (from the brand lexicon, or an invented one the lexicon does not know),
a size in one of the systems labels use (letters, EU/UK/US numbers, jeans W/L, one size), a
composition line and a care or origin line, drawn in real fonts (DejaVu, from the system) on a
label sewn into fabric-like texture, then rotated, put in perspective, blurred and partly
occluded. These are not real photos: numbers measured on them are an upper bound to check
against real label photos.

>>> label = render_label(0)
>>> label.image.size, bool(label.brand), bool(label.size)
((320, 320), True, True)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts"), Path("/Library/Fonts"))
_SYLLABLES = (
    "nor",
    "dvik",
    "al",
    "ma",
    "ro",
    "sa",
    "kes",
    "trel",
    "vi",
    "lo",
    "ta",
    "ber",
    "mon",
    "cla",
    "ra",
    "fen",
)
_SIZES = (
    ("M", "M"), ("SIZE S", "S"), ("TALLA L", "L"), ("XS", "XS"), ("XL", "XL"), ("TAILLE M", "M"),
    ("EU 38", "EU 38"), ("EU 42", "EU 42"), ("UK 10", "UK 10"), ("US 8", "US 8"), ("W32 L34", "W32 L34"),
    ("W30 L32", "W30 L32"), ("ONE SIZE", "one size"), ("SIZE XXL", "XXL"),
)  # fmt: skip
_MATERIALS = ("100% COTTON", "65% POLYESTER 35% COTTON", "100% WOOL", "95% VISCOSE 5% ELASTANE", "100% LINEN")
_CARE = ("MADE IN PORTUGAL", "MADE IN BANGLADESH", "WASH AT 30°C", "DO NOT TUMBLE DRY", "HECHO EN MARRUECOS")


@dataclass
class RenderedLabel:
    image: Image.Image
    brand: str
    size: str
    in_lexicon: bool
    hard: bool  # strong rotation, blur, perspective or occlusion


def fonts() -> list[Path]:
    """TrueType fonts available on this machine (DejaVu on Debian)."""
    found = sorted({p for d in FONT_DIRS if d.is_dir() for p in d.rglob("*.ttf")})
    if not found:
        raise FileNotFoundError("no TrueType fonts found (apt-get install fonts-dejavu-core)")
    return found


def render_label(seed: int, lexicon: list[str] | None = None) -> RenderedLabel:
    """One label photo, deterministic for ``seed``."""
    from vestis.extract.labels import BRANDS_FILE

    rng = random.Random(seed)
    if lexicon is None:
        lexicon = [
            s for s in BRANDS_FILE.read_text(encoding="utf-8").splitlines() if s and not s.startswith("#")
        ]
    in_lexicon = rng.random() < 0.7
    brand = rng.choice(lexicon) if in_lexicon else _invented(rng)
    size_text, size = rng.choice(_SIZES)
    hard = rng.random() < 0.5
    font_files = fonts()
    label_w, label_h = rng.randint(200, 260), rng.randint(150, 200)
    dark = rng.random() < 0.3
    paper = (25, 25, 30) if dark else rng.choice([(250, 250, 248), (238, 230, 210), (225, 225, 225)])
    ink = (240, 240, 240) if dark else (20, 20, 25)
    label = Image.new("RGB", (label_w, label_h), paper)
    draw = ImageDraw.Draw(label)
    brand_font = ImageFont.truetype(str(rng.choice(font_files)), rng.randint(24, 34))
    small = ImageFont.truetype(str(rng.choice(font_files)), rng.randint(13, 17))
    brand_text = brand.upper() if rng.random() < 0.6 else brand
    y = 10
    for text, font in (
        (brand_text, brand_font),
        (size_text, small),
        (rng.choice(_MATERIALS), small),
        (rng.choice(_CARE), small),
    ):
        w = draw.textlength(text, font=font)
        while w > label_w - 12 and font.size > 10:
            font = font.font_variant(size=font.size - 2)
            w = draw.textlength(text, font=font)
        draw.text(((label_w - w) / 2, y), text, font=font, fill=ink)
        y += int(font.size * 1.45)
    if hard and rng.random() < 0.5:  # a thumb or a fold over part of the label
        ox, oy = rng.randint(0, label_w - 40), rng.randint(label_h // 3, label_h - 20)
        draw.rectangle((ox, oy, ox + rng.randint(30, 80), oy + rng.randint(15, 40)), fill=(200, 160, 140))
    canvas = _fabric(rng, 320)
    angle = rng.uniform(-25, 25) if hard else rng.uniform(-6, 6)
    rotated = label.convert("RGBA").rotate(angle, expand=True, resample=Image.BICUBIC)
    if hard:
        rotated = _perspective(rotated, rng)
    x, y0 = (
        (320 - rotated.width) // 2 + rng.randint(-15, 15),
        (320 - rotated.height) // 2 + rng.randint(-15, 15),
    )
    canvas.paste(rotated, (x, y0), rotated)
    if hard:
        canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.4)))
    return RenderedLabel(canvas, brand, size, in_lexicon, hard)


def _invented(rng: random.Random) -> str:
    name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    return name if rng.random() < 0.7 else f"{name} & Co"


def _fabric(rng: random.Random, side: int) -> Image.Image:
    base = np.array(rng.choice([(60, 70, 110), (150, 40, 50), (90, 90, 90), (200, 190, 170), (30, 60, 40)]))
    yy, xx = np.mgrid[0:side, 0:side]
    period = rng.uniform(2.5, 5.0)
    weave = 12 * np.sin(xx / period) * np.sin(yy / period)
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 8, (side, side))
    pixels = np.clip(base[None, None, :] + (weave + noise)[..., None], 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def _perspective(img: Image.Image, rng: random.Random) -> Image.Image:
    w, h = img.size
    d = 0.12
    u = rng.uniform
    quad = [
        u(0, d) * w, u(0, d) * h, u(0, d) * w, h - u(0, d) * h,
        w - u(0, d) * w, h - u(0, d) * h, w - u(0, d) * w, u(0, d) * h,
    ]  # fmt: skip
    return img.transform((w, h), Image.QUAD, quad, resample=Image.BICUBIC)

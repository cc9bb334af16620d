"""``test-figure``: a weightless parser for tests, that reads the flat-colour figures of :func:`figure`.

A photo is one of a person when at least 1% of its pixels have the figure's skin tone
(:data:`SKIN`); its garments are then the other flat colours covering at least 2% of it (the
background, the commonest colour of the border, left out), each one region whose box holds all
its pixels. Read from top to bottom they are called top, bottom, footwear, then accessory.
Anything else is a product shot. Lossless images only (JPEG noise splits flat colours).

>>> parsed = FigureParser().parse(figure())
>>> parsed.kind, [(r.category, r.box) for r in parsed.regions]
('person', [('top', (20, 30, 80, 100)), ('bottom', (30, 100, 70, 190))])
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from vestis.parse.base import PARSERS, Parsed, Parser, Region, whole_image

SKIN = (224, 176, 144)
BACKGROUND = (235, 235, 235)
ORDER = ("top", "bottom", "footwear", "accessory")


def figure(
    top: tuple[int, int, int] = (200, 25, 30),
    bottom: tuple[int, int, int] = (20, 30, 90),
    shoes: tuple[int, int, int] | None = None,
) -> Image.Image:
    """A 100 × 200 figure: a skin-toned head, a top at (20, 30, 80, 100), a bottom at
    (30, 100, 70, 190) and, if given, shoes at (30, 190, 70, 200)."""
    img = np.full((200, 100, 3), BACKGROUND, dtype=np.uint8)
    img[5:30, 38:62] = SKIN
    img[30:100, 20:80] = top
    img[100:190, 30:70] = bottom
    if shoes is not None:
        img[190:200, 30:70] = shoes
    return Image.fromarray(img)


def _key(pixels: np.ndarray) -> np.ndarray:
    q = pixels.astype(np.int32) // 16
    return q[..., 0] * 256 + q[..., 1] * 16 + q[..., 2]


@PARSERS.register("test-figure")
class FigureParser(Parser):
    """Weightless test parser: flat-colour figures (a skin-toned head) give one region per colour."""

    name = "test-figure"

    def _parse_batch(self, images: list[Image.Image]) -> list[Parsed]:
        skin = int(_key(np.array(SKIN)))
        out = []
        for image in images:
            key = _key(np.asarray(image))
            person = float((key == skin).mean())
            if person < 0.01:
                out.append(whole_image(image, person))
                continue
            border = np.concatenate([key[0], key[-1], key[:, 0], key[:, -1]])
            background = int(np.bincount(border).argmax())
            values, counts = np.unique(key, return_counts=True)
            regions = []
            for value, count in zip(values, counts, strict=True):
                if value in (skin, background) or count / key.size < 0.02:
                    continue
                ys, xs = np.nonzero(key == value)
                box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
                regions.append(Region(box, float(count / key.size), None, 1.0))
            regions.sort(key=lambda r: (r.box[1], r.box[0]))
            for n, r in enumerate(regions):
                r.category = ORDER[min(n, len(ORDER) - 1)]
            out.append(Parsed("person", regions, image.size, min(1.0, person * 10)))
        return out

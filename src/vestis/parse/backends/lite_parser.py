"""``lite-parser``: the vestis-parser head on EfficientNet-Lite0 finds each worn garment.

A photo whose predicted skin + hair share is at most the model's calibrated
``person_threshold`` is a product shot and comes back exactly as the ``whole`` parser gives it;
otherwise each garment is a region (:func:`vestis.parse.regions.regions_from_classmap`).

>>> parser = load_parser("lite-parser")  # doctest: +SKIP
>>> [r.category for r in parser.parse("street.jpg").regions]  # doctest: +SKIP
['top', 'bottom', 'footwear']
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from vestis.parse.base import PARSERS, Parsed, Parser, whole_image


@PARSERS.register("lite-parser")
class LiteParser(Parser):
    """Garment regions from the vestis-parser segmentation head; product shots as one whole region.

    Options: ``model`` (a model directory; default the shipped one), ``person_threshold``
    (override the calibrated one), ``min_area`` (drop garment components below this share of the
    image; default the model's), ``masks`` (attach each region's mask at the image's size).
    """

    name = "lite-parser"

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        person_threshold: float | None = None,
        min_area: float | None = None,
        masks: bool = False,
    ) -> None:
        import torch

        from vestis.models.parser import ParserModel, taps_runner
        from vestis.models.registry import resolve_parser
        from vestis.parse.labels import load_label_map

        self.model = ParserModel.load(resolve_parser(model))
        self.config = self.model.config
        self.threshold = self.config.person_threshold if person_threshold is None else person_threshold
        self.min_area = self.config.min_area if min_area is None else min_area
        self.masks = masks
        self.merge = load_label_map(self.config.label_map).merge
        self._taps = taps_runner(self.model.backbone, self.config.image_size)
        self._torch = torch

    def class_maps(self, images: list[Image.Image]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per image: (class map [h, w] uint8, probabilities [C, h, w]) over the image's letterboxed
        content, at most ``image_size`` on its longer side (the image's own size for smaller photos)."""
        import torch.nn.functional as F

        from vestis.models.parser import content_box
        from vestis.models.preprocess import to_array

        torch, size = self._torch, self.config.image_size
        with torch.inference_mode():
            taps = [torch.from_numpy(t) for t in self._taps(to_array(images, size))]
            logits = F.interpolate(
                self.model.head(taps), size=(size, size), mode="bilinear", align_corners=False
            )
            out = []
            for image, lg in zip(images, logits, strict=True):
                x0, y0, nw, nh = content_box(image.width, image.height, size)
                probs = lg[:, y0 : y0 + nh, x0 : x0 + nw].softmax(0).numpy()
                out.append((probs.argmax(0).astype(np.uint8), probs))
        return out

    def _parse_batch(self, images: list[Image.Image]) -> list[Parsed]:
        from vestis.parse.labels import CLASSES
        from vestis.parse.regions import regions_from_classmap

        skin, hair = CLASSES.index("skin"), CLASSES.index("hair")
        out: list[Parsed] = []
        for image, (classmap, probs) in zip(images, self.class_maps(images), strict=True):
            person = float(((classmap == skin) | (classmap == hair)).mean())
            if person <= self.threshold:
                out.append(whole_image(image, person))
                continue
            regions = regions_from_classmap(
                classmap, image.size, probs, merge=self.merge, min_area=self.min_area, masks=self.masks
            )
            out.append(Parsed("person", regions, image.size, person))
        return out

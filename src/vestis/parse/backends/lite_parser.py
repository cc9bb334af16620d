"""``lite-parser``: the vestis-parser head on EfficientNet-Lite0 finds each worn garment.

A photo whose person score is at most the model's calibrated ``person_threshold`` is a product
shot and comes back exactly as the ``whole`` parser gives it; otherwise each garment is a region
(:func:`vestis.parse.regions.regions_from_classmap`) that covers at least its class's calibrated
share of the image. The person score is the probability of the model's calibrated
:class:`~vestis.parse.decisions.PersonRule` (models of version 1: the share of skin + hair pixels).

>>> parser = load_parser("lite-parser")  # doctest: +SKIP
>>> [r.category for r in parser.parse("street.jpg").regions]  # doctest: +SKIP
['top', 'bottom', 'footwear']
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from vestis.parse.base import PARSERS, Parsed, Parser, Region, whole_image


@PARSERS.register("lite-parser")
class LiteParser(Parser):
    """Garment regions from the vestis-parser segmentation head; product shots as one whole region.

    Options: ``model`` (a model directory; default the shipped one), ``person_threshold``
    (override the calibrated one), ``min_area`` (drop garment components below this share of the
    image; default the model's; the per-class shares the model calibrated still apply), ``masks``
    (attach each region's mask at the image's size).
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
        from vestis.models.registry import ModelError, resolve_parser
        from vestis.parse.decisions import PersonRule
        from vestis.parse.labels import load_label_map

        directory = resolve_parser(model)
        self.model = ParserModel.load(directory)
        self.config = self.model.config
        self.threshold = self.config.person_threshold if person_threshold is None else person_threshold
        self.min_area = self.config.min_area if min_area is None else min_area
        self.masks = masks
        self.merge = load_label_map(self.config.label_map).merge
        try:
            rule = self.config.person_rule
            self.rule = PersonRule.from_dict(rule) if rule else None
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{directory}: person_rule in config.json is malformed ({exc})") from None
        self._taps = taps_runner(self.model.backbone, self.config.image_size)
        self._torch = torch

    def class_maps(self, images: list[Image.Image]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per image: (class map [h, w] uint8, probabilities [C, h, w]) over the image's letterboxed
        content, at most ``image_size`` on its longer side (the image's own size for smaller photos)."""
        from vestis.models.parser import content_probs
        from vestis.models.preprocess import to_array

        torch, size = self._torch, self.config.image_size
        with torch.inference_mode():
            taps = [torch.from_numpy(t) for t in self._taps(to_array(images, size))]
            logits = self.model.head(taps)
            out = []
            for image, lg in zip(images, logits, strict=True):
                probs = content_probs(lg, image.width, image.height, size)
                out.append((probs.argmax(0).astype(np.uint8), probs))
        return out

    def person_score(self, probs: np.ndarray, classmap: np.ndarray, regions: list[Region]) -> float:
        """The photo's person score: the calibrated rule's probability, or (version 1 models) the
        share of skin + hair pixels."""
        from vestis.parse.decisions import map_statistics, person_features

        classes = self.config.classes
        if self.rule is None:
            return float(np.isin(classmap, [classes.index("skin"), classes.index("hair")]).mean())
        stats = map_statistics(probs, regions, classmap)
        return float(self.rule.probability(self.rule.vector(person_features(stats, classes))))

    def _parse_batch(self, images: list[Image.Image]) -> list[Parsed]:
        from vestis.parse.decisions import present_regions
        from vestis.parse.regions import regions_from_classmap

        out: list[Parsed] = []
        for image, (classmap, probs) in zip(images, self.class_maps(images), strict=True):
            # The person rule was calibrated on regions at the model's own min_area.
            regions = regions_from_classmap(
                classmap, image.size, probs, merge=self.merge, min_area=self.config.min_area
            )
            person = self.person_score(probs, classmap, regions)
            if person <= self.threshold:
                out.append(whole_image(image, person))
                continue
            if self.masks or self.min_area != self.config.min_area:
                regions = regions_from_classmap(
                    classmap, image.size, probs, merge=self.merge, min_area=self.min_area, masks=self.masks
                )
            regions = present_regions(regions, self.config.class_min_area)
            out.append(Parsed("person", regions, image.size, person))
        return out

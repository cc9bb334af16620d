"""``whole``: every photo is a product shot of one item (the behaviour without a parser)."""

from __future__ import annotations

from PIL import Image

from vestis.parse.base import PARSERS, Parsed, Parser, whole_image


@PARSERS.register("whole")
class WholeImageParser(Parser):
    """Every photo is one item, the whole image (product shots; extraction as without a parser)."""

    name = "whole"

    def _parse_batch(self, images: list[Image.Image]) -> list[Parsed]:
        return [whole_image(im) for im in images]

"""Built-in extractor backends; importing this package registers them."""

from vestis.extract.backends import lite, majority, openai_api, pixel_colour, vlm

__all__ = ["lite", "majority", "openai_api", "pixel_colour", "vlm"]

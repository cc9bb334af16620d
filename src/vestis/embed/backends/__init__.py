"""Built-in embedder backends; importing this package registers them."""

from vestis.embed.backends import hf_clip, lite, test_random

__all__ = ["hf_clip", "lite", "test_random"]

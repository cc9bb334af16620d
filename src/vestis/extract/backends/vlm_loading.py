"""Loading a transformers vision-language checkpoint: processor, model class, family quirks."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def without_video(processor_cls: type) -> type:
    """``processor_cls`` without its video processor, for image-only use where torchvision is absent.

    transformers 5 builds the video processors of Qwen2-VL, Qwen2.5-VL, Qwen3-VL and SmolVLM on
    torchvision only, and their processors refuse to exist without one; vestis sends images only.
    """

    class ImageOnly(processor_cls):  # type: ignore[misc, valid-type]
        @classmethod
        def get_attributes(cls) -> list[str]:
            return [a for a in super().get_attributes() if a != "video_processor"]

        def __getattr__(self, name: str) -> Any:
            if name == "video_processor":
                return None
            return super().__getattr__(name)  # type: ignore[misc]

    ImageOnly.__name__ = ImageOnly.__qualname__ = processor_cls.__name__
    return ImageOnly


def register_architectures() -> None:
    """vestis's own VLM architecture (vestis-vlm-tiny) becomes loadable through the Auto classes."""
    from vestis.models.vlm_tiny import register

    register()


def load_processor(path: str) -> Any:
    """``AutoProcessor`` for ``path``; without torchvision, the image-only form of its processor class.

    vestis's own architectures are registered first, so ``AutoModelForImageTextToText`` loads
    them afterwards too.
    """
    import importlib.util

    import transformers
    from transformers import AutoProcessor

    register_architectures()

    try:
        return AutoProcessor.from_pretrained(path)
    except (OSError, ValueError, AttributeError, TypeError):
        if importlib.util.find_spec("torchvision") is not None:
            raise
        name = _processor_class_name(path)
        cls = getattr(transformers, name, None) if name else None
        if cls is None:
            raise
        return without_video(cls).from_pretrained(path)


def _processor_class_name(path: str) -> str | None:
    import json
    from pathlib import Path

    for file in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        f = Path(path) / file
        if f.is_file():
            name = json.loads(f.read_text()).get("processor_class")
            if name:
                return name
    return None

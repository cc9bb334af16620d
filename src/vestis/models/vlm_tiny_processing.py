"""vestis-vlm-tiny's processor: letterboxed photos → ``pixel_values``, ``<image>`` → a grid of placeholders.

The image side is vestis-lite's preprocessing (:mod:`vestis.models.preprocess`: letterboxed on
the photo's own border colour, scaled to [-1, 1]); the text side is the language model's
tokenizer. Each ``<image>`` in a prompt stands for one photo and becomes ``image_seq_length``
placeholder tokens, which the model replaces with the projected feature grid (LLaVA-style).

The chat template writes the instruction *before* the photos: every prompt of a run then starts
with the same tokens, whose keys and values the model computes once
(:meth:`~vestis.models.vlm_tiny.VestisVLMForConditionalGeneration.generate`). Assistant turns are
wrapped in ``{% generation %}`` so training can mask everything else
(``return_assistant_tokens_mask``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor
from transformers.processing_utils import ProcessorMixin

from vestis.models.preprocess import to_array

IMAGE_TOKEN = "<image>"
# SmolLM2's own format (its default system prompt included); text parts first, then one <image> per photo.
CHAT_TEMPLATE = (
    "{% macro render(content) %}"
    "{% if content is string %}{{ content }}{% else %}"
    "{% for part in content if part['type'] == 'text' %}{{ part['text'] }}{% endfor %}"
    "{% for part in content if part['type'] == 'image' %}"
    "{% if loop.first %}{{ '\\n' }}{% endif %}{{ '" + IMAGE_TOKEN + "' }}{% endfor %}"
    "{% endif %}"
    "{% endmacro %}"
    "{% if messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face'"
    " + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ render(message['content']) + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}{{ render(message['content']) + '<|im_end|>\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class VestisVLMImageProcessor(BaseImageProcessor):
    """Photos → float32 ``pixel_values`` (N, 3, image_size, image_size), letterboxed, in [-1, 1]."""

    model_input_names = ["pixel_values"]  # noqa: RUF012 (transformers' class attribute)

    def __init__(self, image_size: int = 160, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_size = image_size

    def preprocess(self, images: Any, return_tensors: str | None = "pt", **kwargs: Any) -> BatchFeature:
        flat = _flatten(images)
        if not flat:
            raise ValueError("no images to preprocess")
        array = to_array([im.convert("RGB") for im in flat], self.image_size)
        data = {"pixel_values": torch.from_numpy(array) if return_tensors == "pt" else array}
        return BatchFeature(data=data)

    def to_dict(self) -> dict[str, Any]:
        return {"image_processor_type": type(self).__name__, "image_size": self.image_size}


class VestisVLMProcessor(ProcessorMixin):
    """The image processor and tokenizer of vestis-vlm-tiny behind transformers' processor interface."""

    def __init__(
        self,
        image_processor: VestisVLMImageProcessor | None = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        image_seq_length: int = 25,
        **kwargs: Any,
    ) -> None:
        self.image_seq_length = image_seq_length
        self.image_token = IMAGE_TOKEN
        super().__init__(image_processor, tokenizer, chat_template=chat_template or CHAT_TEMPLATE)
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) if tokenizer is not None else None

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Any, *args: Any, **kwargs: Any) -> Any:
        """From a full checkpoint, or a compact directory assembled once (as the model is)."""
        from vestis.models.vlm_tiny_build import is_compact, materialise

        if is_compact(pretrained_model_name_or_path):
            pretrained_model_name_or_path = materialise(pretrained_model_name_or_path)
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    def replace_image_token(self, image_inputs: dict, image_idx: int, **kwargs: Any) -> str:
        """What one ``<image>`` becomes: a placeholder per cell of the feature grid."""
        return self.image_token * self.image_seq_length

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "pixel_values"]


def _flatten(images: Any) -> list[Image.Image]:
    """None, a photo, a list of photos or a list of lists of photos → a flat list, in order."""
    if images is None:
        return []
    if isinstance(images, (Image.Image, np.ndarray)):
        images = [images]
    flat: list[Any] = []
    for item in images:
        flat.extend(_flatten(item) if isinstance(item, (list, tuple)) else [item])
    return [im if isinstance(im, Image.Image) else Image.fromarray(np.asarray(im)) for im in flat]


__all__ = ["CHAT_TEMPLATE", "IMAGE_TOKEN", "VestisVLMImageProcessor", "VestisVLMProcessor"]

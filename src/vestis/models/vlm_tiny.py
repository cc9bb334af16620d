"""vestis-vlm-tiny: vestis-lite's image tower, a projector, and SmolLM2-135M-Instruct, LLaVA-style.

The image tower is EfficientNet-Lite0 as vestis-lite fine-tuned it (the VLM keeps its own copy
of the weights); its last feature map, a ``grid × grid`` of 1280-d vectors (5 × 5 at 160 px, the
resolution vestis-lite was fine-tuned at), is projected (MLP, plus a learned position per cell)
into the language model's embedding space, and the projected grid replaces the ``<image>``
placeholders of the prompt. The language model is any transformers causal LM (``text_config``);
the shipped one is SmolLM2-135M-Instruct.

The classes are transformers' own kinds (config, ``PreTrainedModel`` with ``generate``, processor)
registered with the Auto classes by :func:`register`, so everything that loads a transformers VLM
(``AutoModelForImageTextToText`` + ``AutoProcessor``) loads this one: the ``vlm`` extractor, the
training recipes, peft. A *compact* directory (what vestis ships: the language model named by
package, not stored) is assembled into a full checkpoint on first load
(:mod:`vestis.models.vlm_tiny_build`).

>>> register()
>>> from transformers import AutoConfig
>>> AutoConfig.for_model("vestis_vlm").image_seq_length
25
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoProcessor,
    GenerationMixin,
    PretrainedConfig,
    PreTrainedModel,
)

from vestis.models.backbones import IMAGE_FEATURE_DIM, EfficientNetLite0
from vestis.models.kv_cache import grow_in_place

MODEL_TYPE = "vestis_vlm"
# A shared prompt prefix shorter than this is not worth a separate pass.
MIN_SHARED_PREFIX = 16
# positions allocated past the shared prefix for a generation to write into (more are added as needed)
PREFIX_CACHE_ROOM = 256


class VestisVLMConfig(PretrainedConfig):
    """Architecture of a vestis VLM; ``text_config`` is the language model's own config.

    ``language_model_source``: the package the language model's weights came from
    (``{"package": ..., "file": ..., "sha256": ...}``); ``vision_lower_source`` likewise for the
    frozen lower blocks of the image tower. ``compact``: the directory holds neither (they are
    read from the sources when it is assembled).
    """

    model_type = MODEL_TYPE
    sub_configs = {"text_config": AutoConfig}  # noqa: RUF012 (transformers' class attribute)

    def __init__(
        self,
        text_config: dict | PretrainedConfig | None = None,
        image_size: int = 160,
        vision_split: int = 11,
        image_token_id: int | None = None,
        projector_hidden_act: str = "gelu",
        language_model_source: dict | None = None,
        vision_lower_source: dict | None = None,
        compact: bool = False,
        **kwargs: Any,
    ) -> None:
        from transformers import CONFIG_MAPPING

        if isinstance(text_config, dict):
            text_config = CONFIG_MAPPING[text_config.get("model_type", "llama")](**text_config)
        self.text_config = text_config if text_config is not None else CONFIG_MAPPING["llama"]()
        self.image_size = image_size
        self.vision_split = vision_split
        self.image_token_id = image_token_id
        self.projector_hidden_act = projector_hidden_act
        self.language_model_source = language_model_source
        self.vision_lower_source = vision_lower_source
        self.compact = compact
        kwargs.setdefault("tie_word_embeddings", getattr(self.text_config, "tie_word_embeddings", False))
        super().__init__(**kwargs)

    @property
    def grid(self) -> int:
        """Side of the feature grid: EfficientNet's output stride is 32."""
        return self.image_size // 32

    @property
    def image_seq_length(self) -> int:
        """Placeholder tokens per photo."""
        return self.grid**2


class VestisVLMPreTrainedModel(PreTrainedModel):
    config_class = VestisVLMConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True
    _no_split_modules = ["LlamaDecoderLayer"]  # noqa: RUF012 (transformers' class attribute)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, VestisVLMForConditionalGeneration):
            nn.init.zeros_(module.image_positions)
        elif isinstance(module, nn.Linear) and module.out_features == self.config.text_config.hidden_size:
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif not isinstance(module, nn.BatchNorm2d | nn.Conv2d):
            super()._init_weights(module)


class VestisVLMForConditionalGeneration(VestisVLMPreTrainedModel, GenerationMixin):
    """Image tower → grid of features → projector → placeholder embeddings of the language model."""

    def __init__(self, config: VestisVLMConfig) -> None:
        super().__init__(config)
        from transformers.activations import ACT2FN

        hidden = config.text_config.hidden_size
        self.vision_tower = EfficientNetLite0(pretrained=False, split=config.vision_split)
        self.projector = nn.Sequential(
            nn.Linear(IMAGE_FEATURE_DIM, hidden),
            ACT2FN[config.projector_hidden_act],
            nn.Linear(hidden, hidden),
        )
        self.image_positions = nn.Parameter(torch.zeros(config.image_seq_length, hidden))
        self.language_model = AutoModelForCausalLM.from_config(config.text_config)
        self._prefix_memo: tuple[Any, Any] | None = None
        self.post_init()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Any, *args: Any, **kwargs: Any) -> Any:
        """A full checkpoint, or a compact directory assembled once (:mod:`vestis.models.vlm_tiny_build`)."""
        from vestis.models.vlm_tiny_build import is_compact, materialise

        if is_compact(pretrained_model_name_or_path):
            pretrained_model_name_or_path = materialise(pretrained_model_name_or_path)
            kwargs.pop("config", None)  # the compact directory's: read the full one's
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    # ---- plumbing the generic code relies on ---------------------------------------------------
    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.language_model.get_output_embeddings()

    def set_output_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_output_embeddings(value)

    def get_decoder(self) -> nn.Module:
        return self.language_model.get_decoder()

    @property
    def base_model(self) -> VestisVLMBackbone:
        """The model without its LM head, as transformers' own VLMs expose it (``LlavaModel``).

        trl's fused LM-head loss runs ``base_model`` for the last hidden states, then projects them
        through ``get_output_embeddings()`` itself; the checkpoint keeps its layout.
        """
        return VestisVLMBackbone(self)

    def train(self, mode: bool = True) -> VestisVLMForConditionalGeneration:
        super().train(mode)
        self.vision_tower.eval()  # batch-norm statistics stay those of vestis-lite
        return self

    # ---- the model ------------------------------------------------------------------------------
    def get_image_features(self, pixel_values: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """(photos, 3, H, W) in [-1, 1] → (photos, grid², hidden): one embedding per feature-map cell."""
        tower = self.vision_tower
        # the grid positions' dtype is the projector's (peft may wrap the projector: modules_to_save)
        grid = tower.feature_map(pixel_values.to(self.image_positions.dtype))
        cells = grid.flatten(2).transpose(1, 2)  # (photos, grid², 1280), row-major
        return self.projector(cells) + self.image_positions

    def embed(self, input_ids: torch.Tensor, pixel_values: torch.Tensor | None) -> torch.Tensor:
        """Token embeddings with each photo's projected grid in place of its ``<image>`` placeholders."""
        embeds = self.get_input_embeddings()(input_ids)
        slots = input_ids == self.config.image_token_id
        n_slots = int(slots.sum())
        if pixel_values is None:
            if n_slots:
                raise ValueError(f"{n_slots} image placeholders but no pixel_values")
            return embeds
        features = self.get_image_features(pixel_values).to(embeds.dtype)
        if n_slots != features.shape[0] * features.shape[1]:
            raise ValueError(
                f"{n_slots} image placeholders for {features.shape[0]} photos of "
                f"{features.shape[1]} tokens each"
            )
        return embeds.masked_scatter(slots.unsqueeze(-1), features.reshape(-1, features.shape[-1]))

    def hidden_states(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        """The decoder's output (``last_hidden_state``, no logits) for a prompt with its photos."""
        if inputs_embeds is None:
            if input_ids is None:
                raise ValueError("pass input_ids or inputs_embeds")
            inputs_embeds = self.embed(input_ids, pixel_values)
        return self.get_decoder()(inputs_embeds=inputs_embeds, attention_mask=attention_mask, **kwargs)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs: Any,
    ) -> Any:
        """The language model's output (``loss`` from ``labels``, shifted inside, -100 ignored;
        logits for the last ``logits_to_keep`` positions only, 0: all, as transformers' models:
        named here so that ``generate`` asks for the last position's only at the prompt).

        A batch scored with ``labels`` whose rows share a prompt prefix that carries no label (a
        training batch: one instruction, then each item's photos and answer) runs that prefix
        once, its keys and values copied to every row with their gradients: the same loss, at a
        fraction of the cost when the instruction is long (the vestis schema's is ~740 tokens of
        ~860). The logits then cover the positions after the prefix only.
        """
        kwargs["logits_to_keep"] = logits_to_keep
        if inputs_embeds is None:
            if input_ids is None:
                raise ValueError("pass input_ids or inputs_embeds")
            prefix = self._labelled_prefix(input_ids, attention_mask, labels, kwargs)
            if prefix:
                return self._forward_after_prefix(
                    prefix, input_ids, pixel_values, attention_mask, labels, kwargs
                )
            inputs_embeds = self.embed(input_ids, pixel_values)
        return self.language_model(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, labels=labels, **kwargs
        )

    def _labelled_prefix(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor | None,
        kwargs: dict[str, Any],
    ) -> int:
        """Length of the prefix a labelled batch's rows share (0: run the batch as it is)."""
        if labels is None or input_ids.ndim != 2 or input_ids.shape[0] < 2:
            return 0
        if kwargs.get("past_key_values") is not None or kwargs.get("cache") is not None:
            return 0
        n = self._common_prefix(input_ids, attention_mask)
        # the token after the prefix is predicted from the prefix's last logits, which are not computed
        if n < MIN_SHARED_PREFIX or not bool((labels[:, : n + 1] == -100).all()):
            return 0
        return n

    def _forward_after_prefix(
        self,
        n: int,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor,
        kwargs: dict[str, Any],
    ) -> Any:
        out = self.get_decoder()(input_ids=input_ids[:1, :n], use_cache=True)
        cache = getattr(out, "cache", None) or out.past_key_values
        cache.batch_repeat_interleave(input_ids.shape[0])  # differentiable: every row's gradient flows back
        return self.language_model(
            inputs_embeds=self.embed(input_ids[:, n:], pixel_values),
            attention_mask=attention_mask,
            labels=labels[:, n:],
            **{**kwargs, _cache_kwarg(): cache},
        )

    # ---- generation: the prompt prefix every row shares is computed once -----------------------
    def generate(self, input_ids: torch.Tensor | None = None, **kwargs: Any) -> Any:
        """transformers' ``generate``; the prompt prefix that every row shares is run once.

        Prompts of one run share the system prompt and instruction up to the first photo; with no
        padding (every row the same length), their keys and values are computed for one row and
        copied to all, and kept for the next call while the weights and the prefix stay the same
        (only under ``torch.inference_mode``: training loops change weights between calls).
        """
        cache_name = _cache_kwarg()
        prefix = self._shared_prefix(input_ids, kwargs.get("attention_mask"))
        if prefix and kwargs.get(cache_name) is None and kwargs.get("use_cache", True):
            kwargs[cache_name] = self._prefix_cache(input_ids[:1, :prefix], input_ids.shape[0])
        return super().generate(input_ids=input_ids, **kwargs)

    def _shared_prefix(self, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None) -> int:
        if input_ids is None or input_ids.ndim != 2:
            return 0
        if attention_mask is not None and not bool(attention_mask.all()):
            return 0  # left padding: the shared text sits at different positions
        n = self._common_prefix(input_ids, attention_mask)
        return n if n >= MIN_SHARED_PREFIX else 0

    def _common_prefix(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> int:
        """Leading tokens every row has in common (unpadded, no photo), less the last token."""
        same = (input_ids == input_ids[:1]).all(dim=0)
        same &= input_ids[0] != self.config.image_token_id
        if attention_mask is not None:
            same &= attention_mask.bool().all(dim=0)
        n = int(same.long().cumprod(0).sum())
        return min(n, input_ids.shape[1] - 1)  # the last token must run in the second pass (its logits)

    def _prefix_cache(self, prefix_ids: torch.Tensor, batch: int) -> Any:
        import copy

        key = (
            tuple(prefix_ids[0].tolist()),
            tuple((p.data_ptr(), p._version) for p in self.language_model.parameters()),
        )
        memo = self._prefix_memo if torch.is_inference_mode_enabled() else None
        if memo is not None and memo[0] == key:
            cache = memo[1]
        else:
            with torch.no_grad():
                out = self.language_model(input_ids=prefix_ids, use_cache=True)
            cache = getattr(out, "cache", None) or out.past_key_values
            self._prefix_memo = (key, cache) if torch.is_inference_mode_enabled() else None
        cache = copy.deepcopy(cache)
        if batch > 1:
            cache.batch_repeat_interleave(batch)
        grow_in_place(cache, PREFIX_CACHE_ROOM)  # generation writes into it in place
        return cache


class VestisVLMBackbone:
    """``base_model`` of a vestis VLM: called like the model, returns the decoder's hidden states.

    A view, not a module: it holds no weights and looks the owner's modules up on each call (peft
    replaces them), so ``language_model.*``, ``vision_tower.*`` and ``projector.*`` stay where the
    checkpoints have them.
    """

    def __init__(self, owner: VestisVLMForConditionalGeneration) -> None:
        self.owner = owner

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.owner.hidden_states(*args, **kwargs)


def _cache_kwarg() -> str:
    """What ``generate`` calls the key-value cache in this transformers version."""
    params = inspect.signature(GenerationMixin.prepare_inputs_for_generation).parameters
    return "cache" if "cache" in params else "past_key_values"


def register() -> None:
    """Make the Auto classes load vestis VLM directories (idempotent)."""
    from vestis.models.vlm_tiny_processing import VestisVLMImageProcessor, VestisVLMProcessor

    AutoConfig.register(MODEL_TYPE, VestisVLMConfig, exist_ok=True)
    AutoModelForImageTextToText.register(VestisVLMConfig, VestisVLMForConditionalGeneration, exist_ok=True)
    AutoImageProcessor.register(
        VestisVLMConfig, image_processor_classes={"pil": VestisVLMImageProcessor}, exist_ok=True
    )
    AutoProcessor.register(VestisVLMConfig, VestisVLMProcessor, exist_ok=True)


__all__ = ["MODEL_TYPE", "VestisVLMConfig", "VestisVLMForConditionalGeneration", "register"]

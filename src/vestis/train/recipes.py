"""The training recipes by name: a config dataclass and the function that trains from it.

``vestis train NAME`` and ``vestis list recipes`` read this registry; its flags come from the
config's fields. Nothing here imports torch: the config and the trainer are imported when a
recipe is used.

>>> from vestis.train.recipes import RECIPES
>>> RECIPES.names()  # doctest: +NORMALIZE_WHITESPACE
['composer', 'contrastive', 'grpo', 'lite', 'lora-sft', 'outfits', 'outfits-llm', 'parser',
 'text-bank', 'wiseft']
>>> cfg = RECIPES.get("lite").load_config(overrides={"epochs": 2})
>>> cfg.epochs
2
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vestis.registry import Registry
from vestis.train.config import RecipeConfig


@dataclass(frozen=True)
class Recipe:
    """A training recipe: its config dataclass and trainer, named ``module:attribute``."""

    name: str
    description: str
    config: str
    trainer: str
    report: str = "report.json"  # the report file the trainer writes in ``out_dir``
    resumable: bool = False  # the trainer resumes from a checkpoint in ``out_dir`` (and takes ``fresh``)
    summary: str | None = None  # ``module:function(cfg)`` → what the CLI prints when training is done

    def config_class(self) -> type[RecipeConfig]:
        return _resolve(self.config)

    def load_config(self, path: str | Path | None = None, overrides: dict[str, Any] | None = None):
        """The config from a YAML file (optional) and overrides; unknown keys and bad values refused."""
        cls = self.config_class()
        overrides = overrides or {}
        return cls.from_file(path, **overrides) if path else cls.from_dict(overrides)

    def train(self, cfg: RecipeConfig, fresh: bool = False) -> Path:
        """Run the trainer; returns the model directory it wrote."""
        trainer = _resolve(self.trainer)
        return trainer(cfg, fresh=fresh) if self.resumable else trainer(cfg)

    def summarise(self, cfg: RecipeConfig) -> Any:
        """What the CLI prints after :meth:`train` (a rich renderable), or None."""
        return _resolve(self.summary)(cfg) if self.summary else None


def _resolve(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


RECIPES: Registry[Recipe] = Registry("recipe", "vestis.recipes")

for _recipe in (
    Recipe(
        "lite",
        "Train vestis-lite (defaults reproduce the shipped model). Resumes from out_dir/checkpoint.pt.",
        "vestis.train.lite_config:LiteTrainConfig",
        "vestis.train.lite_trainer:train_lite",
        report="report.html",
        resumable=True,
    ),
    Recipe(
        "contrastive",
        "Fine-tune both towers of vestis-lite (upper image blocks, MiniLM, projections) for retrieval: "
        "CLIP or SigLIP loss, distillation from the base model, hard negatives. Resumes from "
        "out_dir/checkpoint.pt.",
        "vestis.train.contrastive_config:ContrastiveTrainConfig",
        "vestis.train.contrastive_trainer:train_contrastive",
        resumable=True,
    ),
    Recipe(
        "composer",
        'Train the composed-retrieval combiner ("this, but in red") on triplets mined from metadata: '
        "stage 1 on cached embeddings, stage 2 with MiniLM's upper layers. Resumes from out_dir.",
        "vestis.train.composer_config:ComposerTrainConfig",
        "vestis.train.composer_trainer:train_composer",
        report="composer_report.json",
        resumable=True,
    ),
    Recipe(
        "outfits",
        "Fit an outfit scorer on a dataset's outfits: train it (type-aware, set-transformer), calibrate it, "
        "learn the structure of real looks.",
        "vestis.train.outfits_config:OutfitsTrainConfig",
        "vestis.train.outfits_trainer:train_outfits",
    ),
    Recipe(
        "outfits-llm",
        "LoRA-fine-tune the LLM outfit scorer (SmolLM2) on a dataset's outfits. Resumes from out_dir.",
        "vestis.train.outfits_llm:OutfitsLLMTrainConfig",
        "vestis.train.outfits_llm:train_outfits_llm",
        resumable=True,
    ),
    Recipe(
        "lora-sft",
        "LoRA-fine-tune a vision-language model to write a schema's JSON (loss on the answer only); "
        "exports a merged model the vlm backend loads. Resumes from out_dir/checkpoint.pt.",
        "vestis.train.vlm_config:LoraSFTConfig",
        "vestis.train.lora_sft_trainer:train_lora_sft",
        report="report.md",
        resumable=True,
    ),
    Recipe(
        "grpo",
        "GRPO (trl) on a vision-language model with the schema rewards (JSON gate, structure 20%, "
        "field content 80%), from a lora-sft out_dir. Resumes from out_dir/checkpoints.",
        "vestis.train.vlm_config:GRPOTrainConfig",
        "vestis.train.grpo_trainer:train_grpo",
        report="report.md",
        resumable=True,
    ),
    Recipe(
        "parser",
        "Train the garment parser (segmentation head on frozen Lite0 features) on street/ label maps. "
        "Resumes from out_dir/checkpoint.pt.",
        "vestis.train.parser_config:ParserTrainConfig",
        "vestis.train.parser_trainer:train_parser",
        resumable=True,
    ),
    Recipe(
        "text-bank",
        "Build a reference bank for text search queries from a dataset's captioned photos (no training): "
        "each query is carried towards the photos of its nearest captions; settings chosen on validation.",
        "vestis.train.text_bank_config:TextBankConfig",
        "vestis.train.text_bank_trainer:train_text_bank",
        summary="vestis.train.text_bank_trainer:summary",
    ),
    Recipe(
        "wiseft",
        "WiseFT: blend a base and a fine-tuned model (same architecture) over an α sweep, evaluate each α "
        "in-domain and out of domain, write the chosen blend, the α curve and a report.",
        "vestis.train.wiseft_config:WiseFTConfig",
        "vestis.train.wiseft_trainer:train_wiseft",
        summary="vestis.train.wiseft_trainer:summary",
    ),
):
    RECIPES.register(_recipe.name)(_recipe)

__all__ = ["RECIPES", "Recipe"]

"""Configs of the vision-language recipes: ``lora-sft`` (supervised LoRA) and ``grpo`` (reinforcement
with the schema rewards). Both start from a transformers VLM the ``vlm`` backend loads and end with
a merged model directory that backend loads (``--set model=OUT_DIR/model``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vestis.errors import OptionsError
from vestis.train.config import RecipeConfig


@dataclass
class VLMTuneConfig(RecipeConfig):
    """What both recipes share: the model, the data, the LoRA adapter, validation and the run."""

    model: str | None = field(
        default=None,
        metadata={
            "help": "the VLM to fine-tune: a checkpoint directory or hub id (grpo: also a lora-sft out_dir)"
        },
    )
    datasets: list[str] = field(
        default_factory=lambda: ["hm"],
        metadata={
            "help": "dataset specs (train splits), e.g. hm, clothing, teacher:labels.jsonl?min_confidence=0.6"
        },
    )
    schema: str = field(default="vestis", metadata={"help": "schema the model learns to write"})
    prompt: str | None = field(
        default=None,
        metadata={"help": "instructions instead of the schema's prompt (the trained model records them)"},
    )
    prompt_style: Literal["full", "compact"] | None = field(
        default=None,
        metadata={
            "help": "the schema's prompt: full (values and descriptions) or compact (field names only: "
            "a tenth of the tokens, faster to train and to run); default: the one the starting model "
            "records, else full. The trained model records it"
        },
    )
    null_labels: Literal["unknown", "null"] = field(
        default="unknown",
        metadata={
            "help": "what a null label means: unknown (mapped datasets write null where their columns say "
            "nothing) or null (the attribute is absent). Fields the category rules out are null either way"
        },
    )
    limit: int | None = field(default=None, metadata={"help": "use at most N examples per dataset", "min": 1})
    val_fraction: float = field(default=0.2, metadata={"help": "fraction of groups held out"})
    val_limit: int = field(
        default=64, metadata={"help": "validation examples scored per dataset (0 = no validation)", "min": 0}
    )
    max_new_tokens: int = field(
        default=512,
        metadata={"help": "answer length limit when generating (validation, grpo samples)", "min": 1},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank", "min": 1})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator", "min": 1})
    lora_dropout: float = field(default=0.05, metadata={"help": "dropout on the LoRA input", "min": 0})
    train_vision: bool = field(
        default=False,
        metadata={"help": "also adapt the vision tower and projector (default: the language model only)"},
    )
    full_train: list[str] = field(
        default_factory=list,
        metadata={"help": "modules trained in full beside the adapter, by name (e.g. multi_modal_projector)"},
    )
    lr: float = field(default=2e-4, metadata={"help": "AdamW learning rate", "min": 0})
    batch_size: int = field(default=4, metadata={"help": "examples (grpo: prompts) per step", "min": 1})
    checkpoint_every: int = field(default=50, metadata={"help": "steps between checkpoints", "min": 1})
    seed: int = field(default=0, metadata={"help": "random seed (LoRA init, order, sampling)", "min": 0})
    threads: int | None = field(
        default=None, metadata={"help": "torch threads (default: torch's choice)", "min": 1}
    )
    silent_lists: bool = field(
        default=True,
        metadata={
            "help": "a multi field a dataset labels on some of its items is trained as [] on its others "
            "(positive-only labels, such as a 'sporty' style only on sportswear, otherwise teach the model "
            "to write the one value everywhere)"
        },
    )
    silent_lists_fields: list[str] = field(
        default_factory=list,
        metadata={
            "help": "only these multi fields for silent_lists (default: every one). Name the fields whose "
            "silence means 'none' (a style), not those a source leaves unsaid (a closure its text omits)"
        },
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda[:N]"})
    dtype: Literal["float32", "bfloat16", "auto"] = field(
        default="float32",
        metadata={
            "help": "weights' precision while training (float32: full-precision masters on any device; "
            "auto: the backend's choice, bfloat16 on a GPU)"
        },
    )
    max_minutes: float | None = field(
        default=None,
        metadata={
            "help": "stop after the first step past N minutes of training in this run: checkpointed and "
            "exported as at the end, and a resume goes on (for leased or time-limited machines)",
            "min": 0,
        },
    )
    out_dir: str = field(default="runs/vlm", metadata={"help": "checkpoints, metrics, report and model/"})

    def validate(self) -> None:
        if not 0 < self.val_fraction < 1:
            raise OptionsError("val_fraction must be in (0, 1)")
        if not 0 <= self.lora_dropout < 1:
            raise OptionsError("lora_dropout must be in [0, 1)")
        if not self.datasets:
            raise OptionsError("datasets must name at least one dataset")
        if self.prompt and self.prompt_style is not None:
            raise OptionsError("give prompt (your own text) or prompt_style (the schema's), not both")


@dataclass
class LoraSFTConfig(VLMTuneConfig):
    """``vestis train lora-sft``: supervised LoRA on the target JSON, loss on the answer tokens only."""

    epochs: int = field(default=3, metadata={"help": "passes over the training examples", "min": 1})
    max_steps: int | None = field(
        default=None,
        metadata={
            "help": "stop after N steps (the schedule still spans the epochs: resume to go on)",
            "min": 1,
        },
    )
    grad_accum: int = field(default=1, metadata={"help": "batches whose gradients make one step", "min": 1})
    warmup_steps: int = field(default=0, metadata={"help": "linear warmup before the cosine decay", "min": 0})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay", "min": 0})
    train_unknown: bool = field(
        default=False,
        metadata={
            "help": "also train the nulls the answer writes for unknown fields (default: those values carry "
            "no loss, so the model is not taught to abstain wherever the data is silent)"
        },
    )
    train_unlabelled: bool = field(
        default=True,
        metadata={
            "help": "train the nulls the answer writes for fields no training example labels (the model "
            "learns to write null where the data never answers, rather than anything at all)"
        },
    )
    eval_every: int = field(
        default=0, metadata={"help": "steps between validations (0 = each epoch's end)", "min": 0}
    )
    out_dir: str = field(
        default="runs/lora-sft", metadata={"help": "checkpoints, metrics, report and model/"}
    )


@dataclass
class GRPOTrainConfig(VLMTuneConfig):
    """``vestis train grpo``: trl's GRPOTrainer with the vestis schema rewards."""

    lr: float = field(default=1e-5, metadata={"help": "AdamW learning rate", "min": 0})
    batch_size: int = field(
        default=2, metadata={"help": "prompts per step (each sampled group_size times)", "min": 1}
    )
    group_size: int = field(
        default=8, metadata={"help": "answers sampled per prompt (the GRPO group)", "min": 2}
    )
    beta: float = field(default=0.04, metadata={"help": "KL penalty to the starting model", "min": 0})
    epsilon: float = field(default=0.2, metadata={"help": "clipping range of the policy ratio", "min": 0})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature", "min": 0})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass", "min": 0, "max": 1})
    steps: int = field(default=200, metadata={"help": "optimiser steps", "min": 1})
    out_dir: str = field(default="runs/grpo", metadata={"help": "checkpoints, metrics, report and model/"})

    def validate(self) -> None:
        super().validate()
        if self.temperature <= 0:
            raise OptionsError("temperature must be positive")
